"""Render a prompt with variables into chat messages.

All of one prompt's messages render within one deadline and one character budget
(limits.render_timeout, limits.max_prompt_chars); past either, a UserError names the
template's own file:line and the case.

A run renders every call's prompt twice (plan.py, then when the call is made), so two
kinds of template skip Jinja, with the same text as a result (`Shape`):
- a plain one, literal text and `{{ name }}`s only, when each name is a str, int,
  float or bool: its text is the literal text and the `str()` of the values, which is
  what Jinja prints for them;
- one that reads only its variables (no include, import, macro or block that buffers
  output, no `random` or `lipsum`): its text is a function of the values of the names
  it reads (the sandbox is immutable and deterministic), so it is remembered per
  distinct value (a system prompt that reads the prompt's own vars renders once).
Anything else, and every prompt with a template of neither kind, or whose texts
together pass limits.max_prompt_chars, renders through Jinja as before: every error
and every bound is Jinja's, from the same render.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jinja2.meta
from jinja2 import nodes

from .. import render_bounds
from ..errors import UserError
from . import templates
from .project import PromptRef


def prompt_vars(ref: PromptRef, case_vars: dict[str, Any]) -> dict[str, Any]:
    """Prompt defaults < case (which already holds suite defaults and data rows)."""
    return {**ref.spec.vars, **case_vars} if ref.spec.vars else case_vars


def render_messages(ref: PromptRef, variables: dict[str, Any], *,
                    file: str | None = None, line: int | None = None,
                    case: str | None = None) -> list[dict[str, str]]:
    """System messages first, then the few-shot examples, then the rest.

    An error names the template's own file and line (the prompt collection, or the
    included file), and the case being rendered: `case` is its id, `file`/`line` where
    it is written."""
    if not ref._compiled:
        return _render_messages(ref, variables, file, line, case, {})
    shapes = ref._shapes
    if shapes is None:
        shapes = ref._shapes = _Shapes(ref)
    values = prompt_vars(ref, variables)
    known = shapes.messages(values)
    if known is not None:
        return known
    env = next(iter(ref._compiled.values())).environment
    rendered: dict[str, str] = {}
    try:
        with render_bounds.scope(
                getattr(env, "render_timeout", render_bounds.DEFAULTS.render_timeout),
                getattr(env, "max_prompt_chars", render_bounds.DEFAULTS.max_prompt_chars)):
            out = _render_messages(ref, variables, file, line, case, rendered)
    except render_bounds.RenderLimit as exc:
        raise _limit_error(ref, exc.template_key, exc, file, line, case) from None
    shapes.remember(values, rendered)
    return out


def _limit_error(ref: PromptRef, key: str, exc: render_bounds.RenderLimit,
                 file: str | None, line: int | None, case: str | None) -> UserError:
    """A bound passed while rendering: at the template's own line, naming the case."""
    where, at = ref.file, ref.line
    for pt in ref.texts():
        if pt.what == key:
            where, at = pt.file, pt.line or at
    return UserError(f"prompt '{ref.id}' {key}{_case_text(file, line, case)}: "
                     f"{exc.message}", file=where, line=at, hint=exc.hint)


def _case_text(file: str | None, line: int | None, case: str | None) -> str:
    """' (case 'ID' of FILE:LINE)': which case was being rendered, if any."""
    if file is None:
        return ""
    at = f"{file}:{line}" if line else file
    return f" (case '{case}' of {at})" if case is not None else f" (case at {at})"


def _render_messages(ref: PromptRef, variables: dict[str, Any], file: str | None,
                     line: int | None, case: str | None,
                     rendered: dict[str, str]) -> list[dict[str, str]]:
    """Through Jinja; each template's text is also put in `rendered`."""
    values = prompt_vars(ref, variables)
    what = f"prompt '{ref.id}'{_case_text(file, line, case)}"
    compiled = ref._compiled
    texts = {pt.what: pt for pt in ref.texts()}

    def text(key: str) -> str:
        pt = texts[key]
        try:
            out = templates.render(compiled[key], values, what=what, file=pt.file,
                                   line=pt.line, src=pt.text, layout=pt.layout)
        except render_bounds.RenderLimit as exc:
            exc.template_key = key
            raise
        rendered[key] = out
        return out

    return _assemble(ref, text)


def _assemble(ref: PromptRef, text: Callable[[str], str]) -> list[dict[str, str]]:
    """The messages, each template's text asked for in order: examples first."""
    examples: list[dict[str, str]] = []
    for i in range(len(ref.spec.examples)):
        examples.append({"role": "user", "content": text(f"examples[{i}].user")})
        examples.append({"role": "assistant", "content": text(f"examples[{i}].assistant")})

    if ref.template is not None:
        return [*examples, {"role": "user", "content": text("template")}]

    out: list[dict[str, str]] = []
    body = ref.messages or []
    n_system = 0
    while n_system < len(body) and body[n_system].role == "system":
        n_system += 1
    for i, msg in enumerate(body):
        if i == n_system:
            out.extend(examples)
        out.append({"role": msg.role, "content": text(f"messages[{i}]")})
    if n_system == len(body):
        out.extend(examples)
    return out


# -------------------------------------------------------------- renders that skip Jinja

_MISSING = object()  # a name the values do not hold: Jinja says what that means
_MEMO_SIZE = 256  # remembered texts per template; past it, forgotten (or given up on)
# what output a template may build in memory (counted by render_bounds), take from
# elsewhere (includes), or make up (random): such a template always renders
_UNREMEMBERED = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends,
                 nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.FilterBlock,
                 nodes.Block)
_RANDOM_FILTERS = frozenset({"random"})
_RANDOM_GLOBALS = frozenset({"lipsum"})


_TEXT = frozenset({str})


class Unfrozen(Exception):
    """A value with no hashable form here (a date, bytes): `frozen` refuses it."""


def frozen(value: Any) -> Any:
    """A hashable stand-in for a value, equal only for values that print the same:
    the type is part of it (1, 1.0 and True differ), a float is its repr (0.0 and
    -0.0 differ), a mapping keeps its order."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or value is _MISSING:
        return kind, value
    if kind is float:
        return kind, repr(value)
    if kind is list or kind is tuple:
        if value and _TEXT.issuperset(map(type, value)):  # text only: the common list
            return kind, str, tuple(value)
        return kind, tuple([frozen(item) for item in value])
    if kind is dict:
        return kind, tuple([(frozen(k), frozen(v)) for k, v in value.items()])
    raise Unfrozen


class Shape:
    """What rendering one template may skip: `parts` when it is plain (literal text, or
    None followed by a name), `names` when its text may be remembered (`known`, `keep`).
    Made by `shape`; suites.py renders assertion values through one too."""

    __slots__ = ("hits", "memo", "names", "parts")

    def __init__(self, ast: nodes.Template) -> None:
        self.parts: list[tuple[str | None, str]] | None = None
        self.names: tuple[str, ...] | None = None
        self.memo: dict[Any, str] = {}
        self.hits = 0
        if all(isinstance(n, nodes.Output) for n in ast.body) and all(
                isinstance(c, nodes.TemplateData) or (isinstance(c, nodes.Name)
                                                      and c.name != "self")  # Jinja's own
                for n in ast.body for c in n.nodes):  # type: ignore[attr-defined]
            self.parts = [(c.data, "") if isinstance(c, nodes.TemplateData) else (None, c.name)
                          for n in ast.body for c in n.nodes]  # type: ignore[attr-defined]
        if any(True for _ in ast.find_all(_UNREMEMBERED)):
            return
        if any(f.name in _RANDOM_FILTERS for f in ast.find_all(nodes.Filter)):
            return
        if any(n.name in _RANDOM_GLOBALS for n in ast.find_all(nodes.Name)):
            return
        # jinja's own list of every name a render looks up in its context
        self.names = tuple(sorted(jinja2.meta.find_undeclared_variables(ast)))

    def known(self, values: dict[str, Any]) -> str | None:
        """The text Jinja would render from these values, if it is known without it."""
        text = self.plain(values) if self.parts is not None else None
        if text is None and self.names is not None:
            memo_key = self.key(values)
            text = self.memo.get(memo_key) if memo_key is not None else None
            if text is not None:
                self.hits += 1
        return text

    def keep(self, values: dict[str, Any], text: str) -> None:
        """Remember what Jinja rendered from these values, if it may be remembered."""
        if self.names is None or (self.parts is not None and self.plain(values) is not None):
            return
        memo_key = self.key(values)
        if memo_key is None:
            return
        with _MEMO_LOCK:
            if len(self.memo) >= _MEMO_SIZE:
                if not self.hits:  # a text per case: remembering them is waste
                    self.names = None
                    self.memo = {}
                    return
                self.memo.clear()
            self.memo[memo_key] = text

    def plain(self, values: dict[str, Any]) -> str | None:
        """The text of a plain template, or None when a value is not a plain scalar."""
        assert self.parts is not None
        out = []
        for text, name in self.parts:
            if text is not None:
                out.append(text)
                continue
            value = values.get(name, _MISSING)
            kind = type(value)
            if kind is str:
                out.append(value)
            elif kind is bool or kind is float or (kind is int and -10**18 < value < 10**18):
                out.append(str(value))
            else:  # missing, a global, a container, a huge int: Jinja's business
                return None
        return "".join(out)

    def key(self, values: dict[str, Any]) -> Any:
        names = self.names
        assert names is not None
        try:
            if len(names) == 1:  # the common case: one variable, no tuple around it
                return frozen(values.get(names[0], _MISSING))
            return tuple([frozen(values.get(name, _MISSING)) for name in names])
        except (Unfrozen, RecursionError):
            return None


_MEMO_LOCK = threading.Lock()


def shape(env: Any, text: str) -> Shape | None:
    """The Shape of a template text (None when Jinja's parser refuses it: its render
    says why)."""
    try:
        return Shape(templates.parsed(env, text))
    except Exception:  # what Jinja makes of the text is for its render to say
        return None


class _Shapes:
    """Per prompt: each template's Shape, and its messages when none needs Jinja."""

    def __init__(self, ref: PromptRef) -> None:
        env = next(iter(ref._compiled.values())).environment
        self.limit = getattr(env, "max_prompt_chars", render_bounds.DEFAULTS.max_prompt_chars)
        self.templates: dict[str, Shape] = {}
        for pt in ref.texts():
            found = shape(env, pt.text)
            if found is None:
                self.templates = {}
                break
            self.templates[pt.what] = found
        # (role, template) in the order of the messages
        self.order = [(m["role"], self.templates[m["content"]])
                      for m in _assemble(ref, str)] if self.templates else []

    def messages(self, values: dict[str, Any]) -> list[dict[str, str]] | None:
        """The messages without Jinja, or None when a template needs a render."""
        if not self.order:
            return None
        out = []
        total = 0
        for role, tpl in self.order:
            text = tpl.known(values)
            if text is None:
                return None
            total += len(text)
            out.append({"role": role, "content": text})
        return out if total <= self.limit else None  # past it: Jinja's error

    def remember(self, values: dict[str, Any], rendered: dict[str, str]) -> None:
        """Keep the texts of the templates that may be remembered, after a render."""
        for key, tpl in self.templates.items():
            if key in rendered:
                tpl.keep(values, rendered[key])
