"""promptfoo `providers:` (and `defaultTest.options.provider`) to promptctl models.

`openai:NAME`, `openai:chat:NAME`, and any provider whose config names `apiBaseUrl` or
`apiHost` (an OpenAI-compatible server) become `provider: openai` entries: `config`
to `params`, `apiBaseUrl` to `base_url`, `apiKeyEnvar` to `api_key_env`, the label to
the alias. `echo` is promptctl's echo. Anything else (anthropic:, bedrock:, http,
exec:, python:, file://...) has no promptctl provider: it becomes a placeholder entry
on `echo`, named `placeholder-...` and commented in promptctl.yaml, with a note, so
the project still lints and renders and the user sees what to replace.

An assertion's grading `provider` (llm-rubric, similar, ...) is the tested model or
judge of the same spec, or an entry of its own in promptctl.yaml (`Models.grader`),
named by the assertion's `judge:` / `embedder:`.

An API key written in the config is never copied into the project (a note says so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .notes import Where
from .prompts import PARAM_KEYS, slug, unique
from .source import Ctx, Doc, Here, is_file_ref

_OPENAI_KINDS = ("chat", "completion", "responses")
_CONNECTION = ("apiBaseUrl", "apiHost", "apiKey", "apiKeyEnvar", "organization")


@dataclass
class Model:
    alias: str
    pf_id: str
    label: str | None
    entry: dict[str, Any]
    where: Where
    placeholder: bool = False
    prompt_labels: list[str] | None = None  # the provider's own `prompts:` filter
    comment: str | None = None
    spec: Any = None  # the provider as the config wrote it


@dataclass
class Models:
    models: list[Model] = field(default_factory=list)
    judge: Model | None = None
    # the grading providers assertions name, one entry each (not models the suite runs)
    graders: dict[str, Model] = field(default_factory=dict)  # canonical spec -> entry

    def aliases(self) -> set[str]:
        out = {m.alias for m in self.models} | {m.alias for m in self.graders.values()}
        if self.judge:
            out.add(self.judge.alias)
        return out

    def entries(self) -> list[Model]:
        """Every entry promptctl.yaml lists: the tested models, the judge, the graders."""
        return [*self.models, *([self.judge] if self.judge else []), *self.graders.values()]

    def grader(self, item: str | dict[str, Any], where: Where, ctx: Ctx) -> str | None:
        """The alias of the model that grades an assertion naming `provider: item`: the
        tested model or judge of the same promptfoo id and options, else an entry of its
        own, made once per distinct provider. None when it cannot be imported (noted)."""
        key = json.dumps(item, sort_keys=True, default=str)
        for m in self.entries():
            if json.dumps(m.spec, sort_keys=True, default=str) == key:
                return m.alias
        model = one_provider(item, Here(where, item), (), ctx, self.aliases())
        if model is None:
            return None
        self.graders[key] = model
        return model.alias


def _items(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx
           ) -> list[tuple[Any, Doc, tuple[Any, ...]]]:
    if isinstance(value, str) and is_file_ref(value) and \
            value.lower().endswith((".yaml", ".yml", ".json")):
        where = doc.where(loc)
        listed = ctx.load(ctx.resolve(value, where), where)
        return _items(listed.data, listed, (), ctx)
    if isinstance(value, list):
        return [(v, doc, (*loc, i)) for i, v in enumerate(value)]
    if value is None:
        return []
    return [(value, doc, loc)]


def read_providers(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> list[Model]:
    out: list[Model] = []
    taken: set[str] = set()
    for item, idoc, iloc in _items(value, doc, loc, ctx):
        model = one_provider(item, idoc, iloc, ctx, taken)
        if model is not None:
            out.append(model)
    return out


def one_provider(item: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx, taken: set[str]
                 ) -> Model | None:
    where = doc.where(loc)
    options: dict[str, Any]
    if isinstance(item, str):
        pf_id, options, oloc = item, {}, loc
    elif isinstance(item, dict) and isinstance(item.get("id"), str):
        pf_id, options, oloc = item["id"], item, loc
    elif isinstance(item, dict) and len(item) == 1 and isinstance(
            next(iter(item.values())), dict):  # {ID: {config, label, ...}}
        key = next(iter(item))
        options, oloc = item[key], (*loc, key)
        pf_id = options.get("id", key) if isinstance(options.get("id"), str) else key
    else:
        ctx.note(where, "left out", "a provider that is neither an id nor an object with "
                 "an 'id'")
        return None
    label = options.get("label") if isinstance(options.get("label"), str) else None
    for key in options:
        if key not in ("id", "label", "config", "prompts"):
            ctx.note(doc.where((*oloc, key)), "left out", f"provider key '{key}'")
    raw_config = options.get("config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    entry, placeholder, comment = _entry(pf_id, config, doc, (*oloc, "config"), where, ctx)
    base = label or model_name(pf_id)
    if placeholder:
        alias = unique("placeholder-" + (slug(base, 40) or "model"), taken)
    else:
        alias = unique(base if _plain(base) else slug(base, 40) or "model", taken)
    prompts = options.get("prompts")
    return Model(alias, pf_id, label, entry, where, placeholder,
                 [prompts] if isinstance(prompts, str) else
                 [p for p in prompts if isinstance(p, str)] if isinstance(prompts, list)
                 else None, comment, item)


def _plain(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "-_." for c in name)


def model_name(pf_id: str) -> str:
    """The model name in an id: openai:chat:gpt-4o -> gpt-4o, openai:gpt-4o -> gpt-4o."""
    parts = pf_id.split(":")
    if parts[0] == "openai" and len(parts) >= 3 and parts[1] in _OPENAI_KINDS:
        return ":".join(parts[2:])
    if parts[0] == "openai" and len(parts) == 2:
        return parts[1]
    return pf_id


def _entry(pf_id: str, config: dict[str, Any], doc: Doc, cloc: tuple[Any, ...],
           where: Where, ctx: Ctx) -> tuple[dict[str, Any], bool, str | None]:
    """The model entry, whether it is a placeholder, and the comment it gets."""
    if pf_id == "echo":
        return {"provider": "echo"}, False, None
    parts = pf_id.split(":")
    compatible = any(k in config for k in ("apiBaseUrl", "apiHost"))
    if parts[0] == "openai" or compatible:
        if parts[0] == "openai" and len(parts) >= 3 and parts[1] not in ("chat",):
            if parts[1] in _OPENAI_KINDS:
                ctx.note(where, "approximated", f"provider '{pf_id}': promptctl calls "
                         "the chat completions API")
            else:
                return _placeholder(pf_id, where, ctx, f"the OpenAI '{parts[1]}' API is "
                                    "not a chat model")
        entry: dict[str, Any] = {"provider": "openai", "model": model_name(pf_id)}
        if parts[0] != "openai":
            ctx.note(where, "approximated", f"provider '{pf_id}' with apiBaseUrl: called "
                     "as an OpenAI-compatible server")
        if isinstance(config.get("apiBaseUrl"), str):
            entry["base_url"] = config["apiBaseUrl"]
        elif isinstance(config.get("apiHost"), str):
            entry["base_url"] = f"https://{config['apiHost']}/v1"
        if isinstance(config.get("apiKeyEnvar"), str):
            entry["api_key_env"] = config["apiKeyEnvar"]
        if "apiKey" in config:
            ctx.note(doc.where((*cloc, "apiKey")), "left out", "apiKey: a key is never "
                     "written into the project; set OPENAI_API_KEY or api_key_env")
        if "organization" in config:
            ctx.note(doc.where((*cloc, "organization")), "left out", "organization")
        params = {}
        for key, val in config.items():
            if key in _CONNECTION:
                continue
            if key in PARAM_KEYS:
                params[PARAM_KEYS[key]] = val
            else:
                ctx.note(doc.where((*cloc, key)), "left out", f"provider config '{key}' "
                         "(promptctl has no such model option)")
        if params:
            entry["params"] = params
        return entry, False, None
    return _placeholder(pf_id, where, ctx, "promptctl has no provider for it")


def _placeholder(pf_id: str, where: Where, ctx: Ctx, why: str
                 ) -> tuple[dict[str, Any], bool, str]:
    ctx.note(where, "approximated", f"provider '{pf_id}': {why}; imported as a "
             "placeholder model on echo: replace it in promptctl.yaml")
    return {"provider": "echo"}, True, (f"placeholder: promptfoo provider '{pf_id}' has "
                                        "no promptctl provider; replace this entry")
