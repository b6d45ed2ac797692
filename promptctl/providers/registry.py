"""Provider names -> lazy `module:Class` references, plus the entry-point group
`promptctl.providers` for plugins. Nothing heavy is imported until a model is used."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from ..errors import UserError

if TYPE_CHECKING:
    from ..schema import ModelEntry
    from .base import Provider

BUILTIN = {
    "llama-cpp": "promptctl.providers.llama_cpp:LlamaCppProvider",
    "openai": "promptctl.providers.openai:OpenAIProvider",
    "echo": "promptctl.providers.echo:EchoProvider",
}

ENTRY_POINT_GROUP = "promptctl.providers"


@functools.lru_cache(maxsize=1)
def _plugins() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    return sorted({*BUILTIN, *_plugins()})


def provider_class(name: str) -> type[Provider]:
    target = BUILTIN.get(name) or _plugins().get(name)
    if target is None:
        raise UserError(f"unknown provider '{name}'",
                        hint="known providers: " + ", ".join(names()))
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    cls: type[Provider] = getattr(module, attr)
    return cls


def get_provider(entry: ModelEntry, alias: str) -> Provider:
    return provider_class(entry.provider)(entry, alias)


def missing_extra(package: str, extra: str) -> UserError:
    return UserError(f"the '{package}' package is not installed",
                     hint=f"pip install 'promptctl[{extra}]'")
