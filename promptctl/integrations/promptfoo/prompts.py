"""promptfoo `prompts:` to the prompts of one promptctl collection.

promptfoo's forms, as its prompt processors read them: an inline string; `file://`
paths and globs (a `.txt` file split on lines of `---` into several prompts, a `.json`
or `.yaml` chat message list, `.jsonl` one prompt per line, `.md` / `.j2` one prompt);
`{id, label, raw, config}` objects; the legacy `{path: label}` mapping. Each becomes a
`Prompt` with promptfoo's label (what its results name the prompt by) and either a
`template` (one user message, as promptfoo sends a text prompt to a chat model) or
`messages`.

Nunjucks to Jinja: promptfoo renders with Nunjucks' defaults (no block trimming,
undefined variables empty); promptctl's environment trims blocks and refuses undefined
variables. `translate` marks every block tag `{%+ ... +%}` so Jinja keeps the
whitespace Nunjucks keeps, and turns `x.length` into `x | length`; `dump` and `load`
are filters of promptctl's environment. Undefined variables are made explicit by the
caller (prompt-level `vars:` defaults of "").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from .notes import Where
from .source import Ctx, Doc, is_file_ref

# what promptfoo's maybeFilePath takes for a path (without the file:// prefix)
_PATH_EXTS = (".cjs", ".cts", ".js", ".json", ".jsonl", ".mjs", ".mts", ".py", ".ts",
              ".txt", ".yml", ".yaml", ".md", ".j2", ".csv")
_GLOB = re.compile(r"[*?{}\[\]]")
_CODE_EXTS = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts", ".py", ".sh", ".bash", ".rb",
              ".pl", ".exe", ".bat", ".cmd", ".ps1")
_ROLES = ("system", "user", "assistant")
# the params a promptfoo prompt or provider `config` may set that promptctl has
PARAM_KEYS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
              "max_tokens": "max_tokens", "max_completion_tokens": "max_tokens",
              "seed": "seed", "stop": "stop", "presence_penalty": "presence_penalty",
              "frequency_penalty": "frequency_penalty",
              "response_format": "response_format"}


@dataclass
class Prompt:
    name: str
    label: str  # promptfoo's label of the prompt: what its results call it
    where: Where
    template: str | None = None
    messages: list[dict[str, str]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    labelled: bool = False  # the config gave it a label: its name comes from that

    def texts(self) -> list[str]:
        if self.template is not None:
            return [self.template]
        return [m["content"] for m in self.messages or []]

    def spec(self, defaults: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.label != self.name:
            out["description"] = _one_line(self.label)
        if defaults:
            out["vars"] = defaults
        if self.params:
            out["params"] = self.params
        if self.template is not None:
            out["template"] = self.template
        else:
            out["messages"] = self.messages
        return out


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def slug(text: str, limit: int = 48) -> str:
    """Lowercase words joined by '-', cut at a word boundary near `limit`."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for w in words:
        nxt = f"{out}-{w}" if out else w
        if len(nxt) > limit:
            if not out:
                out = w[:limit]
            break
        out = nxt
    return out


def unique(base: str, taken: set[str]) -> str:
    """`base`, else `base-2`, `base-3`...: the first name not in `taken`, which it joins
    (model aliases and case ids alike)."""
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


# -- Nunjucks to Jinja -------------------------------------------------------------------

_BLOCK_OPEN = re.compile(r"\{%(?![-+])")
_BLOCK_CLOSE = re.compile(r"(?<![-+])%\}")
_COMMENT_OPEN = re.compile(r"\{#(?![-+])")
_COMMENT_CLOSE = re.compile(r"(?<![-+])#\}")
_LENGTH = re.compile(r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\.length\b")


def translate(text: str) -> str:
    """A Nunjucks template as a Jinja template of promptctl that renders the same."""
    if "{%" in text:
        text = _BLOCK_CLOSE.sub("+%}", _BLOCK_OPEN.sub("{%+", text))
    if "{#" in text:
        text = _COMMENT_CLOSE.sub("+#}", _COMMENT_OPEN.sub("{#+", text))
    if ".length" in text:
        text = _expressions(text, lambda e: _LENGTH.sub(r"(\1 | length)", e))
    return text


_EXPR = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.S)


def _expressions(text: str, fn: Any) -> str:
    return _EXPR.sub(lambda m: fn(m.group(0)), text)


class _AnyName(dict[str, Any]):
    """Filters and tests for analysis only: every name exists (the names promptctl
    knows are checked by its own lint, on the imported project)."""

    def __contains__(self, key: object) -> bool:
        return True

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, _any)


def _any(*args: Any, **kwargs: Any) -> Any:
    return None


_ANALYSER = jinja2.Environment(autoescape=False)
_ANALYSER.filters = _AnyName(_ANALYSER.filters)
_ANALYSER.tests = _AnyName(_ANALYSER.tests)


def variables(template: str) -> tuple[set[str], str | None]:
    """The variables a (translated) template reads, or the Jinja syntax error."""
    try:
        ast = _ANALYSER.parse(template)
        names = jinja2.meta.find_undeclared_variables(ast)
    except jinja2.TemplateSyntaxError as exc:
        return set(), f"line {exc.lineno}: {exc.message}"
    except jinja2.TemplateError as exc:
        return set(), str(exc)
    return set(names) - {"range", "dict", "lipsum",
                                                               "cycler", "joiner",
                                                               "namespace", "loop"}, None


# -- reading promptfoo's prompts ---------------------------------------------------------

def _looks_like_path(text: str) -> bool:
    """promptfoo's maybeFilePath, for a string without the file:// prefix."""
    if "\n" in text:
        return False
    parts = text.split(":")
    return (any(p.endswith(ext) for p in parts[-2:] for ext in _PATH_EXTS)
            or "*" in text)


def read_prompts(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> list[Prompt]:
    """Every prompt of the config's `prompts:` value, in promptfoo's order."""
    where = doc.where(loc)
    if isinstance(value, str) and is_file_ref(value) and \
            value.lower().endswith((".yaml", ".yml")) and not _GLOB.search(value):
        listed = ctx.load(ctx.resolve(value, where), where)
        if isinstance(listed.data, list) and not _is_chat(listed.data):
            return read_prompts(listed.data, listed, (), ctx)
    items: list[tuple[Any, Doc, tuple[Any, ...]]]
    if isinstance(value, str):
        items = [(value, doc, loc)]
    elif isinstance(value, list):
        items = [(v, doc, (*loc, i)) for i, v in enumerate(value)]
    elif isinstance(value, dict):  # legacy {path: label}
        items = [({"raw": k, "label": v}, doc, (*loc, k)) for k, v in value.items()]
    else:
        ctx.note(where, "left out", "prompts: expected a string, a list or a mapping")
        return []
    out: list[Prompt] = []
    for item, idoc, iloc in items:
        out.extend(_one(item, idoc, iloc, ctx))
    return out


def _one(item: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> list[Prompt]:
    where = doc.where(loc)
    label: str | None = None
    params: dict[str, Any] = {}
    if isinstance(item, dict):
        raw = item.get("raw", item.get("id"))
        label = item.get("label") if isinstance(item.get("label"), str) else None
        for key in item:
            if key not in ("raw", "id", "label", "config"):
                ctx.note(doc.where((*loc, key)), "left out", f"prompt key '{key}'")
        params = prompt_params(item.get("config"), doc, (*loc, "config"), ctx)
        if not isinstance(raw, str):
            ctx.note(where, "left out", "a prompt object without a 'raw' or 'id' string")
            return []
    elif isinstance(item, str):
        raw = item
    else:
        ctx.note(where, "left out", f"a prompt that is a {type(item).__name__}")
        return []
    prompts = _from_raw(raw, label, where, ctx)
    for p in prompts:
        p.params = {**params, **p.params}
        p.labelled = label is not None
    return prompts


def prompt_params(config: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx,
                  skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A promptfoo `config` mapping's generation params; the other keys are noted."""
    out: dict[str, Any] = {}
    if not isinstance(config, dict):
        return out
    for key, val in config.items():
        if key in skip:
            continue
        if key in PARAM_KEYS:
            out[PARAM_KEYS[key]] = val
        else:
            ctx.note(doc.where((*loc, key)), "left out",
                     f"config key '{key}' (promptctl has no such generation param)")
    return out


def _from_raw(raw: str, label: str | None, where: Where, ctx: Ctx) -> list[Prompt]:
    text = raw[len("file://"):] if is_file_ref(raw) else raw
    if not is_file_ref(raw) and not _looks_like_path(raw):
        return [_text_prompt(raw, label or raw, where, ctx)]
    if _GLOB.search(text):
        paths = ctx.glob(raw, where)
        if not paths and not is_file_ref(raw):
            return [_text_prompt(raw, label or raw, where, ctx)]
        out = []
        for p in paths:
            rel = ctx.rel(p)
            out.extend(_from_file(p, f"{label}: {rel}" if label else None, where, ctx))
        return out
    path = ctx.resolve(raw, where)
    if not path.exists() and not is_file_ref(raw):
        return [_text_prompt(raw, label or raw, where, ctx)]
    return _from_file(path, label, where, ctx)


def _from_file(path: Path, label: str | None, where: Where, ctx: Ctx) -> list[Prompt]:
    rel = ctx.rel(path)
    ext = path.suffix.lower()
    if ext in _CODE_EXTS or ":" in path.name:
        ctx.note(where, "left out", f"prompt '{rel}' is code promptfoo runs to make the "
                 "prompt: promptctl prompts are templates; write it as one")
        return []
    text = ctx.read_text(path, where)
    stem = path.stem
    if ext == ".txt":
        return _split_txt(text, rel, stem, label, where, ctx)
    if ext == ".jsonl":
        lines = [ln for ln in text.split("\n") if ln]
        return [_json_prompt(ln, label or (f"{rel}: {ln}" if len(lines) > 1 else rel),
                             f"{stem}-{i + 1}" if len(lines) > 1 else stem, where, ctx)
                for i, ln in enumerate(lines)]
    if ext == ".json":
        try:  # promptfoo labels it with the JSON as JSON.stringify writes it
            shown = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            shown = text
        return [_json_prompt(text, label or f"{rel}: {shown}", stem, where, ctx)]
    if ext in (".yaml", ".yml"):
        doc = ctx.load(path, where)
        raw = json.dumps(doc.data, ensure_ascii=False, separators=(",", ":"))
        return [_json_prompt(raw, label or f"{rel}: {raw[:80]}", stem, where, ctx)]
    if ext in (".md", ".j2"):
        return [_text_prompt(text if ext == ".j2" else text.strip(), label or rel, where,
                             ctx, name=stem)]
    ctx.note(where, "left out", f"prompt file '{rel}': promptfoo reads no prompt from a "
             f"'{ext or 'extensionless'}' file")
    return []


def _split_txt(text: str, rel: str, stem: str, label: str | None, where: Where,
               ctx: Ctx) -> list[Prompt]:
    """promptfoo's .txt processor: split on lines that are `---`, each part trimmed,
    empty parts dropped; each prompt labelled `FILE: TEXT`."""
    parts: list[str] = []
    buf: list[str] = []
    for line in text.split("\n"):
        if line.strip() == "---":
            parts.append("\n".join(buf).strip())
            buf = []
        else:
            buf.append(line)
    parts.append("\n".join(buf).strip())
    parts = [p for p in parts if p]
    return [_text_prompt(p, f"{label}: {rel}: {p}" if label else f"{rel}: {p}", where, ctx,
                         name=stem if len(parts) == 1 else f"{stem}-{i + 1}")
            for i, p in enumerate(parts)]


def _is_chat(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(
        isinstance(m, dict) and "role" in m for m in data)


def _json_prompt(raw: str, label: str, name: str, where: Where, ctx: Ctx) -> Prompt:
    try:
        data = json.loads(raw)
    except ValueError:
        return _text_prompt(raw, label, where, ctx, name=name)
    if _is_chat(data):
        messages = []
        for m in data:
            role, content = m.get("role"), m.get("content")
            if role not in _ROLES or not isinstance(content, str) or set(m) - {"role",
                                                                               "content"}:
                ctx.note(where, "left out", f"chat message {json.dumps(m)[:80]}: promptctl "
                         "messages are system/user/assistant with text content")
                continue
            messages.append({"role": role, "content": translate(content)})
        if messages:
            return Prompt(name, label, where, messages=messages)
    ctx.note(where, "approximated", f"prompt '{name}' is JSON that is not a chat message "
             "list: promptfoo renders each string inside it and re-indents the JSON; "
             "promptctl renders it as one text template")
    return Prompt(name, label, where, template=translate(raw))


def _text_prompt(raw: str, label: str, where: Where, ctx: Ctx, *,
                 name: str | None = None) -> Prompt:
    stripped = raw.lstrip()
    if stripped.startswith("[") and _is_chat(_try_json(raw)):
        return _json_prompt(raw, label, name or "prompt", where, ctx)
    return Prompt(name or "", label, where, template=translate(raw))


def _try_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def name_prompts(prompts: list[Prompt]) -> None:
    """Unique names: a label's slug when the config gave one, else the file's stem,
    else prompt-N."""
    used: set[str] = set()
    for i, p in enumerate(prompts):
        base = slug(p.label, 40) if p.labelled else (p.name or f"prompt-{i + 1}")
        base = slug(base, 40) or f"prompt-{i + 1}"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        p.name = name
