"""Jinja rendering: sandboxed, strict about undefined variables, includes and macros
resolved inside the project's prompts/ directory; an include that is a link must
resolve inside the project's boundary (BoundedLoader, boundary.py). Rendering is
bounded in time and size (render_bounds.py: past a bound, `render` raises RenderLimit
for the caller to name).

The sandbox is the immutable one: a template reads its vars and cannot change them
(`teams.append(...)`, `opts.update(...)` are refused), so a case renders the same
whatever rendered before it and a shared default stays as written.

Every render error names the template's own file and line (the prompt collection's
YAML line, the prompt's template_file or messages_file and its line, or the included
file and its line; `layout` says how a text lies in its file), found from the
traceback jinja2 rewrites onto template lines. `analyse` finds statically what a
render would refuse, for `lint`. Besides Jinja's filters: `json`, and promptfoo's
`dump` and `load` (jsjson.py)."""

from __future__ import annotations

import functools
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.parser
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from .. import render_bounds
from ..boundary import safe_path
from ..errors import UserError, quote
from ..schema import Limits
from . import jsjson


class _BoundedSandbox(render_bounds.BoundedSandbox, ImmutableSandboxedEnvironment):
    """The sandbox, with the render bounds of promptctl.yaml's `limits:`."""


class BoundedLoader(jinja2.FileSystemLoader):
    """Templates under prompts/, each checked before it is opened: it must resolve
    (links followed) inside the project's boundary and be a regular file. Anything else
    is a UserError naming the include as written and where it resolves; the caller
    (`render`, `check_includes`) adds the file:line that included it."""

    def __init__(self, searchpath: str, boundary: str) -> None:
        super().__init__(searchpath)
        self.boundary = Path(boundary)

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Any]:
        pieces = jinja2.loaders.split_template_path(template)
        for searchpath in self.searchpath:
            filename = posixpath.join(searchpath, *pieces)
            if os.path.lexists(filename):
                safe_path(Path(filename), self.boundary, what="included template",
                          written=template, file=template)
        return super().get_source(environment, template)


@functools.lru_cache(maxsize=8)
def environment(prompts_dir: str, boundary: str | None = None,
                max_prompt_chars: int = render_bounds.DEFAULTS.max_prompt_chars,
                render_timeout: float = render_bounds.DEFAULTS.render_timeout
                ) -> SandboxedEnvironment:
    env = _BoundedSandbox(
        max_prompt_chars=max_prompt_chars, render_timeout=render_timeout,
        loader=jinja2.FileSystemLoader(prompts_dir) if boundary is None
        else BoundedLoader(prompts_dir, boundary),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = _to_json
    # promptfoo's Nunjucks filters: JSON.stringify and JSON.parse (jsjson.py)
    env.filters["dump"] = jsjson.dump
    env.filters["load"] = jsjson.load
    return env


def _to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=indent is not None)


# How a template's text lies in its file, for mapping a line of the text to the file's:
YAML = "yaml"  # a YAML value: a block scalar (`|`, `>`) starts on the line after its key
WHOLE = "whole"  # the whole file (a template_file): line N of the text is line N
ONE_LINE = "one-line"  # written on one line (a JSON string): every line of it is there


def _line_in_file(src: str, yaml_line: int | None, lineno: int | None,
                  layout: str = YAML) -> int | None:
    """Map a line inside a template string back to the file that holds it (`layout`
    says how the text lies there; `yaml_line` is the line the text is written at)."""
    if layout == WHOLE:
        return lineno or 1
    if yaml_line is None:
        return None
    if layout == ONE_LINE:
        return yaml_line
    offset = (lineno or 1) - 1
    # text of several lines, or ending in a newline, is a block scalar (`|`, `>`): its
    # first line is the one after the indicator's (a one-line `|-` is not told apart)
    block = "\n" in src.rstrip("\n") or src.endswith("\n") or offset
    return yaml_line + offset + (1 if block else 0)


def compile_template(
    env: SandboxedEnvironment, src: str, *, file: str, line: int | None, what: str,
    layout: str = YAML,
) -> jinja2.Template:
    try:
        return env.from_string(src)
    except jinja2.TemplateSyntaxError as exc:
        if exc.filename:  # the error is inside an included file
            raise UserError(f"template syntax error in included file: {exc.message}",
                            file=exc.filename, line=exc.lineno,
                            hint="fix the Jinja syntax there") from None
        raise UserError(f"template syntax error in {what}: {exc.message}", file=file,
                        line=_line_in_file(src, line, exc.lineno, layout),
                        hint="fix the Jinja syntax") from None


@functools.lru_cache(maxsize=2048)
def parsed(env: jinja2.Environment, text: str) -> nodes.Template:
    """The AST of a template text, for analysis only (read, never compiled): parsed by
    Jinja's own parser without the render bounds' rewriting, once per distinct text
    (lint asks for the same prompt's AST per suite that uses it). Keyed by the text, so
    an edited file is parsed anew. Raises TemplateSyntaxError."""
    return jinja2.parser.Parser(env, text).parse()


_REFERENCES = re.compile(r"\{%[-+]?\s*(?:include|import|from|extends)\b")


@dataclass
class TemplateFacts:
    """What static analysis finds in a template and everything it includes or imports.

    A place is (file, line): file None is the analysed text itself (its line counts
    from 1 inside the text), else an included file as `error_location` names it."""

    required: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)  # guarded: `is defined`, `| default`
    problems: list[tuple[str | None, int, str, str]] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """Every variable read, required or optional."""
        return set(self.required) | self.optional


_DEFINED_TESTS = ("defined", "undefined")
_DEFAULT_FILTERS = ("default", "d")
_CONDITIONAL = (nodes.If, nodes.For, nodes.Macro, nodes.CondExpr, nodes.CallBlock)


def analyse(env: jinja2.Environment, src: str) -> TemplateFacts:
    """Variables a template reads (first use of each required one), and what `render`
    would refuse: a missing or unconditionally recursive include, a syntax error in an
    included file, an import of a macro the file does not define, and attribute access
    the sandbox blocks (`x.__class__`, `x['__class__']`, `x | attr('__class__')`).
    A syntax error in `src` itself yields nothing: the loader reports it.
    Globals (range, dict, namespace...) are not variables."""
    facts = TemplateFacts()
    seen: set[str] = set()
    assigned: set[str] = set()  # set, loop and macro names, in every file visited
    edges: dict[str | None, list[tuple[str, str | None, int]]] = {}

    def source_of(name: str) -> tuple[str, str] | None:
        if env.loader is None:
            return None
        try:
            text, filename, _ = env.loader.get_source(env, name)
        except jinja2.TemplateNotFound:
            return None
        return text, _shown(filename or name)

    def visit(text: str, file: str | None, name: str | None) -> None:
        try:
            ast = parsed(env, text)
        except jinja2.TemplateSyntaxError as exc:
            if file is not None:
                facts.problems.append((file, exc.lineno, f"template syntax error in "
                                       f"included file: {exc.message}",
                                       "fix the Jinja syntax there"))
            return
        undeclared = jinja2.meta.find_undeclared_variables(ast) - set(env.globals)
        for test in ast.find_all(nodes.Test):
            if test.name in _DEFINED_TESTS and isinstance(test.node, nodes.Name):
                facts.optional.add(test.node.name)
        for filt in ast.find_all(nodes.Filter):
            if filt.name in _DEFAULT_FILTERS and isinstance(filt.node, nodes.Name):
                facts.optional.add(filt.node.name)
        for node in ast.find_all(nodes.Name):
            if node.ctx == "store":
                assigned.add(node.name)
            elif node.ctx == "load" and node.name in undeclared \
                    and node.name not in facts.optional:
                facts.required.setdefault(node.name, (file, node.lineno))
        assigned.update(m.name for m in ast.find_all(nodes.Macro))
        _unsafe_access(ast, file, facts)
        _walk_refs(ast, False, lambda node, conditional: ref(node, conditional, file, name))

    def ref(node: nodes.Node, conditional: bool, file: str | None, parent: str | None
            ) -> None:
        template = getattr(node, "template", None)
        if not isinstance(template, nodes.Const) or not isinstance(template.value, str):
            return  # a computed name: known only when rendered
        target = template.value
        try:
            found = source_of(target)
        except UserError as exc:  # the loader refused it: outside the project, a FIFO...
            facts.problems.append((file, node.lineno, exc.message, exc.hint or ""))
            return
        if found is None:
            if not (isinstance(node, nodes.Include) and node.ignore_missing):
                facts.problems.append((file, node.lineno, f"included template '{target}' "
                                       "not found", "includes are resolved inside prompts/"))
            return
        text, shown = found
        if isinstance(node, nodes.FromImport):
            exported = _exported_names(env, text)
            for entry in node.names:
                macro = entry[0] if isinstance(entry, tuple) else entry
                if exported is not None and macro not in exported:
                    facts.problems.append((file, node.lineno, f"'{target}' does not define "
                                           f"'{macro}'", "define that macro there, or fix "
                                           "the name"))
        if isinstance(node, nodes.Include) and not conditional:
            edges.setdefault(parent, []).append((target, file, node.lineno))
        if target not in seen:
            seen.add(target)
            visit(text, shown, target)

    visit(src, None, None)
    # an included file sees the includer's variables: what any of them sets is defined
    facts.required = {name: place for name, place in facts.required.items()
                      if place[0] is None or name not in assigned}
    _recursive_includes(edges, facts)
    return facts


def _walk_refs(node: nodes.Node, conditional: bool, on_ref: Any) -> None:
    """Call on_ref(node, conditional) for each include/import, in document order;
    conditional when it sits inside an if, a loop, a macro or a call block."""
    if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport)):
        on_ref(node, conditional)
    inner = conditional or isinstance(node, _CONDITIONAL)
    for child in node.iter_child_nodes():
        _walk_refs(child, inner, on_ref)


def _recursive_includes(edges: dict[str | None, list[tuple[str, str | None, int]]],
                        facts: TemplateFacts) -> None:
    """An include that is reached again from itself with no condition on the way never
    ends: report the include that closes the loop."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def dfs(name: str | None) -> None:
        for target, file, line in edges.get(name, []):
            if state.get(target) == 1:
                facts.problems.append((file, line, f"'{target}' includes itself (through "
                                       "an include with no condition)", "put the include "
                                       "inside an {% if %} that ends the recursion"))
            elif target not in state:
                state[target] = 1
                dfs(target)
                state[target] = 2

    dfs(None)


def _exported_names(env: jinja2.Environment, text: str) -> set[str] | None:
    """The macros and variables a file defines (None: it does not parse)."""
    try:
        ast = parsed(env, text)
    except jinja2.TemplateSyntaxError:
        return None
    names = {m.name for m in ast.find_all(nodes.Macro)}
    for assign in ast.find_all((nodes.Assign, nodes.AssignBlock)):
        target: nodes.Node = assign.target  # type: ignore[attr-defined]
        names |= {n.name for n in target.find_all(nodes.Name)}
        if isinstance(target, nodes.Name):
            names.add(target.name)
    return names


def _unsafe_access(ast: nodes.Template, file: str | None, facts: TemplateFacts) -> None:
    """Dunder attributes: the sandbox refuses them on every object."""
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        attr: Any = None
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            attr = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], nodes.Const):
            attr = node.args[0].value
        if isinstance(attr, str) and attr.startswith("__"):
            facts.problems.append((file, node.lineno, f"unsafe attribute access '{attr}': "
                                   "the template sandbox blocks it",
                                   "templates read variables, not Python internals"))


def render(template: jinja2.Template, variables: dict[str, Any], *, what: str,
           file: str | None, line: int | None, src: str | None = None,
           layout: str = YAML) -> str:
    """Render; an error names the template's own file and line (see `error_location`):
    `file`/`line` say where the template text `src` was written, `layout` how."""
    try:
        return render_bounds.render(template, variables)
    except render_bounds.RenderLimit:
        raise  # the caller names the template and the case
    except Exception as exc:  # every render error is the input's fault
        file, line = error_location(exc, file=file, line=line, src=src, layout=layout)
        err = exc
    if isinstance(err, UserError):  # the loader refused an include (BoundedLoader)
        err.message = f"{what}: {err.message}"
        err.file, err.line = file, line
        raise err
    if isinstance(err, jinja2.UndefinedError):
        missing_macro = "does not export the requested name" in (err.message or "")
        raise UserError(f"{what}: {err.message}", file=file, line=line,
                        hint="define that macro in the imported file, or fix its name"
                        if missing_macro else "define it in the case's vars, the suite's "
                        "defaults.vars or the prompt's vars")
    if isinstance(err, jinja2.TemplateNotFound):
        raise UserError(f"{what}: included template '{err.name}' not found", file=file,
                        line=line, hint="includes are resolved inside prompts/")
    if isinstance(err, jinja2.TemplateSyntaxError):
        raise UserError(f"{what}: template syntax error in included file: {err.message}",
                        file=file, line=line, hint="fix the Jinja syntax there")
    if isinstance(err, jinja2.exceptions.SecurityError):
        raise UserError(f"{what}: blocked by the template sandbox: {err}", file=file,
                        line=line, hint="a template may not change its vars or reach "
                        "Python internals: build a new value, e.g. "
                        "{% set teams = teams + ['x'] %}")
    if isinstance(err, jinja2.TemplateError):
        raise UserError(f"{what}: template error: {err}", file=file, line=line)
    if isinstance(err, RecursionError):
        raise UserError(f"{what}: the template recurses without end", file=file, line=line,
                        hint="a template includes itself, or a macro calls itself, "
                             "with no way out")
    # a filter or method raised on the case's data
    raise UserError(f"{what}: error while rendering: {type(err).__name__}: {err}",
                    file=file, line=line)


def error_location(exc: BaseException, *, file: str | None, line: int | None,
                   src: str | None = None, layout: str = YAML
                   ) -> tuple[str | None, int | None]:
    """The template file and line a render error comes from.

    jinja2 rewrites the traceback of a render error so that each frame of template code
    names its template's file and line (jinja2.debug.fake_traceback; those frames carry
    `__jinja_exception__` in their globals). The innermost such frame is where it
    happened: an included file (named relative to the working directory), or a line of
    the template text itself (`<template>`), mapped back to the YAML file that holds it.
    A syntax error in an included file names its own file and line."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename \
            and exc.filename != "<template>":
        return _shown(exc.filename), exc.lineno
    found: tuple[str, int] | None = None
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if found is None:
        return file, line
    name, lineno = found
    if name == "<template>":
        return file, _line_in_file(src, line, lineno, layout) if src is not None else line
    return _shown(name), lineno


def _shown(path: str) -> str:
    """A template file as the user would type it: relative to the working directory."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def compile_expression(env: SandboxedEnvironment, expr: str, *, file: str,
                       line: int | None) -> Any:
    """A Jinja expression, e.g. a `transform: output | trim | lower`."""
    try:
        return env.compile_expression(expr, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"invalid expression {quote(expr)}: {exc.message}", file=file, line=line,
                        hint="write a Jinja expression over 'output', e.g. output | lower"
                        ) from None


def prompts_env(root: Path, prompts_dir: str, boundary: Path | None = None,
                limits: Limits | None = None) -> SandboxedEnvironment:
    limits = limits or Limits()
    return environment(str((root / prompts_dir).resolve()),
                       str(boundary) if boundary is not None else None,
                       limits.max_prompt_chars, limits.render_timeout)


def check_includes(env: SandboxedEnvironment, src: str, *, file: str, line: int | None,
                   what: str, layout: str = YAML) -> None:
    """Load every template `src` includes or imports by a literal name, transitively,
    so that one that leaves the project's boundary is refused when the prompt is
    compiled (by `run` and `lint` alike), naming `file` at the line of the include in
    `src` (`line`/`layout`: where and how `src` is written there). Names computed at
    render time are checked by the loader when they are rendered."""
    seen: set[str] = set()

    def visit(text: str, at: int | None) -> None:
        if _REFERENCES.search(text) is None:
            return  # no include, import or extends tag: nothing to load
        try:
            ast = parsed(env, text)
        except jinja2.TemplateSyntaxError:
            return  # reported where the template is compiled
        for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport,
                                  nodes.Extends)):
            for name in _literal_names(node.template):  # type: ignore[attr-defined]
                if name in seen:
                    continue
                seen.add(name)
                here = at if at is not None else _line_in_file(src, line, node.lineno,
                                                               layout)
                try:
                    source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
                except jinja2.TemplateNotFound:
                    continue  # reported when the template is rendered
                except UserError as exc:
                    exc.message = f"{what}: {exc.message}"
                    exc.file, exc.line = file, here
                    raise
                visit(source, here)

    visit(src, None)


def _literal_names(node: nodes.Node) -> list[str]:
    """The template names an include/import names literally (a list: the first found)."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (nodes.Tuple, nodes.List)):
        return [i.value for i in node.items if isinstance(i, nodes.Const)
                and isinstance(i.value, str)]
    return []
