"""Provider names -> lazy `module:Class` references, plus the entry-point group
`promptctl.providers` for plugins. Nothing heavy is imported until a model is used.
A plugin that cannot be imported or built, whatever it raises (SystemExit too), is an
InfraError naming it (exit 3), never the end of the process."""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, NoReturn

from ..contain import describe, escapes
from ..errors import InfraError, PromptctlError, UserError

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
    from importlib.metadata import entry_points  # deferred: only for plugin names

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    return sorted({*BUILTIN, *_plugins()})


def is_known(name: str) -> bool:
    """A built-in provider or a plugin's. The entry points (a read of every installed
    distribution's metadata: ~15 ms) are scanned only for a name that is not built in."""
    return name in BUILTIN or name in _plugins()


def provider_class(name: str) -> type[Provider]:
    target = BUILTIN.get(name) or _plugins().get(name)
    if target is None:
        raise UserError(f"unknown provider '{name}'",
                        hint="known providers: " + ", ".join(names()))
    module_name, _, attr = target.partition(":")
    if name in BUILTIN:
        cls: type[Provider] = getattr(importlib.import_module(module_name), attr)
        return cls
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # a plugin's import: SystemExit included
        _contained(exc, f"provider '{name}' ({target}): importing it")
    found = getattr(module, attr, None)
    if not isinstance(found, type):
        raise InfraError(f"provider '{name}' ({target}): {module_name} has no class "
                         f"{attr!r}", hint="fix the plugin's entry point: module:Class")
    return found


def get_provider(entry: ModelEntry, alias: str) -> Provider:
    cls = provider_class(entry.provider)
    if entry.provider in BUILTIN:
        return cls(entry, alias)
    try:
        return cls(entry, alias)
    except BaseException as exc:  # a plugin's constructor: SystemExit included
        _contained(exc, f"provider '{entry.provider}' for model '{alias}'")


def _contained(exc: BaseException, what: str) -> NoReturn:
    """A plugin that fails to load is an error of the environment (exit 3), whatever
    it raised; only a real Ctrl-C and promptctl's own errors pass as they are."""
    if isinstance(exc, PromptctlError) or escapes(exc):
        raise exc
    raise InfraError(f"{what} {describe(exc)}",
                     hint="fix or uninstall the plugin (pip show -f the package that "
                          "provides it)") from None


def missing_extra(package: str, extra: str) -> UserError:
    return UserError(f"the '{package}' package is not installed",
                     hint=f"pip install 'promptctl[{extra}]'")
