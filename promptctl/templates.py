"""Jinja rendering: sandboxed, strict about undefined variables, includes and macros
resolved inside the project's prompts/ directory.

The sandbox is the immutable one: a template reads its vars and cannot change them
(`teams.append(...)`, `opts.update(...)` are refused), so a case renders the same
whatever rendered before it and a shared default stays as written."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

from .errors import UserError


@functools.lru_cache(maxsize=8)
def environment(prompts_dir: str) -> SandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(prompts_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = _to_json
    return env


def _to_json(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=indent is not None)


def _line_in_file(src: str, yaml_line: int | None, lineno: int | None) -> int | None:
    """Map a line inside a template string back to the YAML file: block scalars
    (`|`, `>`) start on the line after their key."""
    if yaml_line is None:
        return None
    offset = (lineno or 1) - 1
    return yaml_line + offset + (1 if "\n" in src.rstrip("\n") or offset else 0)


def compile_template(
    env: SandboxedEnvironment, src: str, *, file: str, line: int | None, what: str
) -> jinja2.Template:
    try:
        return env.from_string(src)
    except jinja2.TemplateSyntaxError as exc:
        if exc.filename:  # the error is inside an included file
            raise UserError(f"template syntax error in included file: {exc.message}",
                            file=exc.filename, line=exc.lineno,
                            hint="fix the Jinja syntax there") from None
        raise UserError(f"template syntax error in {what}: {exc.message}", file=file,
                        line=_line_in_file(src, line, exc.lineno),
                        hint="fix the Jinja syntax") from None


def undeclared_variables(env: SandboxedEnvironment, src: str) -> set[str]:
    """Variables a template (and what it includes or imports) reads from its context."""
    found: set[str] = set()
    seen: set[str] = set()

    def visit(text: str) -> None:
        ast = env.parse(text)
        found.update(jinja2.meta.find_undeclared_variables(ast))
        for name in jinja2.meta.find_referenced_templates(ast):
            if name is None or name in seen:
                continue
            seen.add(name)
            try:
                source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
            except jinja2.TemplateNotFound:
                continue  # reported when the template is rendered
            visit(source)

    visit(src)
    return found


def render(template: jinja2.Template, variables: dict[str, Any], *, what: str,
           file: str | None, line: int | None) -> str:
    try:
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        raise UserError(f"{what}: {exc.message}", file=file, line=line,
                        hint="define it in the case's vars, the suite's defaults.vars or "
                             "the prompt's vars") from None
    except jinja2.TemplateNotFound as exc:
        raise UserError(f"{what}: included template '{exc.name}' not found", file=file,
                        line=line, hint="includes are resolved inside prompts/") from None
    except jinja2.exceptions.SecurityError as exc:
        raise UserError(f"{what}: blocked by the template sandbox: {exc}", file=file,
                        line=line, hint="a template may not change its vars or reach "
                        "Python internals: build a new value, e.g. "
                        "{% set teams = teams + ['x'] %}") from None
    except jinja2.TemplateError as exc:
        raise UserError(f"{what}: template error: {exc}", file=file, line=line) from None
    except Exception as exc:  # a filter or method raised on the case's data
        raise UserError(f"{what}: error while rendering: {type(exc).__name__}: {exc}",
                        file=file, line=line) from None


def compile_expression(env: SandboxedEnvironment, expr: str, *, file: str,
                       line: int | None) -> Any:
    """A Jinja expression, e.g. a `transform: output | trim | lower`."""
    try:
        return env.compile_expression(expr, undefined_to_none=False)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"invalid expression {expr!r}: {exc.message}", file=file, line=line,
                        hint="write a Jinja expression over 'output', e.g. output | lower"
                        ) from None


def prompts_env(root: Path, prompts_dir: str) -> SandboxedEnvironment:
    return environment(str((root / prompts_dir).resolve()))
