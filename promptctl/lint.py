"""Static checks over a project: schema, template syntax, undefined and unused
variables, references. No model and no provider module is ever loaded."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from . import templates
from .errors import UserError
from .project import YAML_SUFFIXES, Project, PromptRef, Suite, display_path, iter_prompt_texts


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" (run would refuse the input) or "warning"
    file: str | None
    line: int | None
    message: str
    hint: str | None = None

    @classmethod
    def from_error(cls, exc: UserError) -> Finding:
        return cls("error", exc.file, exc.line, exc.message, exc.hint)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (
            f"{self.file}: " if self.file else "")
        return f"{where}{self.severity}: {self.message}" + (f" ({self.hint})" if self.hint
                                                            else "")


def lint_project(project: Project, paths: Sequence[str] = ()) -> list[Finding]:
    findings: list[Finding] = []
    prompt_files, suite_files = _classify(project, paths)

    prompts: dict[str, PromptRef] = {}
    for path in prompt_files:
        try:
            prompts.update(project.load_collection(path))
        except UserError as exc:
            findings.append(Finding.from_error(exc))
    for ref in prompts.values():
        findings.extend(_lint_prompt(project, ref))

    for path in suite_files:
        try:
            suite = project.load_suite(path)
        except UserError as exc:
            findings.append(Finding.from_error(exc))
            continue
        findings.extend(_lint_suite(project, suite))
    return sorted(set(findings), key=lambda f: (f.file or "", f.line or 0, f.message))


def _classify(project: Project, paths: Sequence[str]) -> tuple[list[Path], list[Path]]:
    if not paths:
        suites = project.suite_paths() if project.suites_dir.is_dir() else []
        return project.prompt_paths(), suites
    prompt_files: list[Path] = []
    suite_files: list[Path] = []
    prompts_dir = project.prompts_dir.resolve()
    for raw in paths:
        path = Path(raw)
        files = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES) \
            if path.is_dir() else [path]
        for f in files:
            if f.name in ("promptctl.yaml", "promptctl.yml"):
                continue  # already validated when the project was loaded
            if not f.exists():
                raise UserError("file not found", file=raw, hint="check the path")
            if prompts_dir in f.resolve().parents:
                prompt_files.append(f)
            elif f.suffix in YAML_SUFFIXES:
                suite_files.append(f)
    return prompt_files, suite_files


def _lint_prompt(project: Project, ref: PromptRef) -> list[Finding]:
    out = []
    used: set[str] = set()
    for _, text, _ in iter_prompt_texts(ref):
        used |= templates.undeclared_variables(project.env, text)
    for name in ref.spec.vars:
        if name not in used:
            out.append(Finding("warning", ref.file, ref.source.line((*ref.loc, "vars", name),
                                                                    key=True),
                               f"prompt '{ref.id}': default variable '{name}' is never used",
                               "remove it or use it in the template"))
    return out


def _raw_assert_texts(suite: Suite) -> list[str]:
    texts: list[str] = []
    specs = [*suite.spec.defaults.assert_]
    for c in suite.spec.cases:
        specs.extend(c.assert_)
    for case in suite.cases:  # data-file rows may carry their own assertions
        specs.extend(case.asserts)
    for spec in specs:
        values: list[Any] = spec.value if isinstance(spec.value, list) else [spec.value]
        texts.extend(v for v in values if isinstance(v, str))
        if spec.transform:
            texts.append("{{ " + spec.transform + " }}")
    return texts


def _lint_suite(project: Project, suite: Suite) -> list[Finding]:
    out: list[Finding] = []
    env = project.env
    needs: dict[str, set[str]] = {}
    for ref in suite.prompts:
        needs[ref.id] = set()
        for _, text, _ in iter_prompt_texts(ref):
            needs[ref.id] |= templates.undeclared_variables(env, text)
    used = set().union(*needs.values()) if needs else set()
    for text in _raw_assert_texts(suite):
        if "{{" in text or "{%" in text:
            # a syntax error here was already reported when the suite was loaded
            with contextlib.suppress(jinja2.TemplateError):
                used |= templates.undeclared_variables(env, text)
    used.discard("output")
    unused_reported: set[str] = set()
    for case in suite.cases:
        for ref in suite.prompts:
            available = set(ref.spec.vars) | set(case.vars)
            for name in sorted(needs[ref.id] - available):
                out.append(Finding("error", case.file, case.line,
                                   f"case '{case.id}': prompt '{ref.id}' uses undefined "
                                   f"variable '{name}'",
                                   "add it to the case's vars or to defaults.vars"))
        for name in case.vars:
            if name == "description" and case.vars[name] == case.description:
                continue  # a data file's description column: the row's description
            if name not in used and name != "id" and name not in unused_reported:
                unused_reported.add(name)
                out.append(Finding("warning", case.file, case.line,
                                   f"case '{case.id}': variable '{name}' is not used by any "
                                   "prompt or assertion of the suite",
                                   "remove it, or check its spelling"))
        if not case.asserts:
            out.append(Finding("warning", case.file, case.line,
                               f"case '{case.id}' has no assertions: it can never fail",
                               "add an 'assert' list or defaults.assert"))
    return out


def lint_summary(findings: Sequence[Finding]) -> dict[str, int]:
    return {"errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings)}


__all__ = ["Finding", "display_path", "lint_project", "lint_summary"]
