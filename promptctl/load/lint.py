"""Static checks over a project: schema, template syntax, undefined and unused
variables, includes, imported macros, sandbox-blocked attributes, references, model
files. No model and no provider module is ever loaded.

A variable guarded by `is defined` or given a `| default(...)` is optional; a variable
read only by an assertion (a data row's too) is used."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..assertions.inline import split_target, vars_read
from ..boundary import display_path
from ..errors import UserError
from . import templates
from .expand import AssertSets
from .project import YAML_SUFFIXES, Project, PromptRef, PromptText, missing_model_file
from .rendering import render_messages
from .suites import RENDERED_OPTIONS, Suite, _row_case, load_rows, load_suite
from .validate import validate
from .yamlsrc import load_yaml


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


_FACTS: dict[tuple[int, str], templates.TemplateFacts] = {}


def _analyse(env: Any, text: str) -> templates.TemplateFacts:
    """templates.analyse, once per template text and lint run: a prompt is analysed for
    itself and again for every suite that uses it."""
    key = (id(env), text)
    facts = _FACTS.get(key)
    if facts is None:
        facts = _FACTS[key] = templates.analyse(env, text)
    return facts


def lint_project(project: Project, paths: Sequence[str] = ()) -> list[Finding]:
    _FACTS.clear()  # files may have changed since the last run (watch, the pytest plugin)
    findings: list[Finding] = lint_config(project) if not paths else []
    prompt_files, suite_files = _classify(project, paths)
    prompt_files = _split_bodies(project, prompt_files)

    prompts = _load_prompts(project, prompt_files, findings, every=not paths or
                            bool(suite_files))
    for ref in prompts.values():
        findings.extend(_lint_prompt(project, ref))

    unused_sets = set(project.config.assert_sets)  # promptctl.yaml's, by no suite yet
    cases: dict[str, set[str] | None] = {}  # suite -> its case ids (None: did not load)
    for path in suite_files:
        try:
            suite = load_suite(project, path)
        except UserError as exc:
            findings.append(Finding.from_error(exc))
            unused_sets.clear()  # what that suite uses is not known
            cases[Path(path).stem] = None
            continue
        cases[suite.name] = {c.id for c in suite.cases}
        findings.extend(_lint_suite(project, suite, unused_sets))
    if not paths:
        findings.extend(_unused_config_sets(project, unused_sets))
        findings.extend(_lint_reviews(project, cases))
    return sorted(set(findings), key=lambda f: (f.file or "", f.line or 0, f.message))


def _lint_reviews(project: Project, cases: dict[str, set[str] | None]) -> list[Finding]:
    """reviews/*.yaml: each file valid (an error, as every reader of it would refuse
    it), for a suite that exists, its labels for cases the suite still has (warnings:
    a label of a removed case is dead weight, not wrong)."""
    # deferred: the reviews reader only for a project that has reviews/
    from .reviews import load_reviews, reviews_dir

    where = reviews_dir(project)
    if not where.is_dir():
        return []
    findings: list[Finding] = []
    for file in sorted(where.glob("*.yaml")):
        try:
            book = load_reviews(project, file.stem)
        except UserError as exc:
            findings.append(Finding.from_error(exc))
            continue
        if file.stem not in cases:
            findings.append(Finding("warning", book.file, 1, f"no suite '{file.stem}' for "
                                    "these labels", "rename the file after its suite, or "
                                    "delete it"))
            continue
        known = cases[file.stem]
        for lab in book.labels.values():
            if known is not None and lab.case not in known:
                findings.append(Finding(
                    "warning", book.file, lab.line, f"a label for case '{lab.case}', which "
                    f"suite '{file.stem}' no longer has", "delete the entry, or restore "
                    "the case"))
    return findings


def _load_prompts(project: Project, files: list[Path], findings: list[Finding], *,
                  every: bool) -> dict[str, PromptRef]:
    """The prompts of `files`. With `every` (the suites need all of prompts/) those of
    prompts/ come from project.prompts, which the suites then use as they are: each
    collection is read, validated and compiled once. If any collection fails there,
    each file is loaded on its own instead, so that every broken file is reported, not
    only the first."""
    prompts: dict[str, PromptRef] = {}
    rest = files
    if every:
        try:
            loaded = project.prompts
        except UserError:
            pass
        else:
            shared = {p.resolve() for p in project.prompt_paths()}
            wanted = {p.resolve() for p in files} & shared
            prompts = {rid: ref for rid, ref in loaded.items()
                       if Path(ref.file).resolve() in wanted}
            rest = [p for p in files if p.resolve() not in shared]  # e.g. prompts/sub/
    for path in rest:
        try:
            prompts.update(project.load_collection(path))
        except UserError as exc:
            findings.append(Finding.from_error(exc))
    return prompts


def _split_bodies(project: Project, files: list[Path]) -> list[Path]:
    """The files named under prompts/, each template_file or messages_file replaced by
    the collections that name it: a body file is linted through its prompts."""
    top = project.prompts_dir.resolve()
    if all(f.suffix in YAML_SUFFIXES and f.resolve().parent == top for f in files):
        return files  # only collections: nothing to look up
    users: dict[Path, list[Path]] = {}
    for collection in project.prompt_paths():
        for body in _named_bodies(collection):
            users.setdefault(body, []).append(collection)
    out: dict[Path, Path] = {}
    for f in files:
        for path in users.get(f.resolve(), [f]):
            out.setdefault(path.resolve(), path)
    return list(out.values())


def _named_bodies(collection: Path) -> list[Path]:
    """The body files a collection names, resolved (none when it does not validate:
    loading it says why)."""
    from ..schema import PromptCollection  # deferred: only when a body file is linted

    try:
        data, src = load_yaml(collection, display_path(collection))
        coll = validate(PromptCollection, data, src)
    except UserError:
        return []
    return [(collection.parent / name).resolve() for spec in coll.prompts.values()
            for name in (spec.template_file, spec.messages_file) if name is not None]


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
    out = _template_problems(project, ref)
    used: set[str] = set()
    for pt in ref.texts():
        used |= _analyse(project.env, pt.text).names
    for name in ref.spec.vars:
        if name not in used:
            out.append(Finding("warning", ref.file, ref.source.line((*ref.loc, "vars", name),
                                                                    key=True),
                               f"prompt '{ref.id}': default variable '{name}' is never used",
                               "remove it or use it in the template"))
    return out


def _template_problems(project: Project, ref: PromptRef) -> list[Finding]:
    """What `render` would refuse in any case: a missing include, a blocked attribute..."""
    out = []
    for pt in ref.texts():
        for file, line, message, hint in _analyse(project.env, pt.text).problems:
            where = _template_place(pt, file, line)
            out.append(Finding("error", *where, f"prompt '{ref.id}' {pt.what}: {message}",
                               hint))
    return out


def _template_place(pt: PromptText, file: str | None, line: int) -> tuple[str, int | None]:
    """A place from TemplateFacts as file:line: an included file as is, a line of the
    prompt's own text mapped to the file it is written in (its collection, or its
    template_file / messages_file)."""
    if file is not None:
        return file, line
    return pt.file, pt.line_of(line)


def _unused_config_sets(project: Project, names: set[str]) -> list[Finding]:
    src = project.config_source
    if src is None:
        return []
    return [Finding("warning", project.config_file, src.line(("assert_sets", n), key=True),
                    f"assertion set '{n}' is not used by any suite",
                    "use it with '- use: NAME' in an assert list, or remove it")
            for n in sorted(names)]


def _raw_assert_texts(project: Project, suite: Suite, sets: AssertSets
                      ) -> tuple[list[str], set[str] | None]:
    """Every template an assertion carries as written (before the case's vars fill
    it): values, the options rendered with the vars, transforms; data-file rows' own
    assertions are read from the rows. Assertion sets are expanded (the suite loaded:
    they expand) where they are used, so `sets` learns which are unused. Also the vars
    inline python code reads by name (`context["vars"]["city"]`), None when some code
    may read any (it hands the vars on whole)."""
    texts: list[str] = []
    reads: set[str] | None = set()
    specs = [a for a, _ in sets.expand(suite.spec.defaults.assert_, ("defaults", "assert"))]
    for i, c in enumerate(suite.spec.cases):
        specs.extend(a for a, _ in sets.expand(c.assert_, ("cases", i, "assert")))
    for row_assert in _row_asserts(project, suite):
        specs.extend(a for a, _ in sets.expand(row_assert, None))
    for spec in specs:
        values: list[Any] = spec.value if isinstance(spec.value, list) else [spec.value]
        values += [spec.options.get(k) for k in RENDERED_OPTIONS]
        texts.extend(v for v in values if isinstance(v, str))
        if spec.transform:
            texts.append("{{ " + spec.transform + " }}")
        if spec.type.removeprefix("not-") == "python" and isinstance(spec.value, str) \
                and split_target(spec.value) is None:
            read = vars_read(spec.value)
            reads = None if read is None or reads is None else reads | read
    return texts, reads


def _row_asserts(project: Project, suite: Suite) -> list[Any]:
    """The assert lists data-file rows carry, unrendered (the suite loaded, so they
    read)."""
    out: list[Any] = []
    for i, cspec in enumerate(suite.spec.cases):
        if cspec.from_ is None:
            continue
        with contextlib.suppress(UserError):
            for row_file, row_line, row in load_rows(suite.path, project.root, cspec.from_,
                                                     suite.source, ("cases", i, "from")):
                if "assert" in row:
                    out.append(_row_case(row, row_file, row_line).assert_)
    return out


def _lint_suite(project: Project, suite: Suite, unused_sets: set[str]) -> list[Finding]:
    """The suite's findings; the names of promptctl.yaml's assertion sets it uses are
    taken out of `unused_sets`."""
    out: list[Finding] = []
    env = project.env
    # per prompt: each required variable and where the prompt first reads it
    needs: dict[str, dict[str, tuple[str, int | None]]] = {}
    used: set[str] = set()
    broken: set[str] = set()  # prompts with a static problem: not rendered
    for ref in suite.prompts:
        needs[ref.id] = {}
        problems = _template_problems(project, ref)  # also when only the suite is linted
        if problems:
            broken.add(ref.id)
            out.extend(problems)
        for pt in ref.texts():
            facts = _analyse(env, pt.text)
            used |= facts.names
            for name, (file, line) in facts.required.items():
                needs[ref.id].setdefault(name, _template_place(pt, file, line))
    sets = AssertSets(project, suite.spec, suite.source)
    texts, python_reads = _raw_assert_texts(project, suite, sets)
    used |= python_reads or set()
    for text in texts:
        if "{{" in text or "{%" in text:
            # a syntax error here was already reported when the suite was loaded
            with contextlib.suppress(jinja2.TemplateError):
                used |= _analyse(env, text).names
    used.discard("output")
    unused_reported: set[str] = set()
    render_failed: set[tuple[str, str | None, int | None]] = set()
    for case in suite.cases:
        if case.variant_of is not None:  # its clean case's findings are its own
            continue
        for ref in suite.prompts:
            available = set(ref.spec.vars) | set(case.vars)
            missing = sorted(set(needs[ref.id]) - available)
            for name in missing:
                tfile, tline = needs[ref.id][name]
                out.append(Finding("error", tfile, tline,
                                   f"prompt '{ref.id}' (case '{case.id}' of "
                                   f"{case.file}:{case.line}) uses undefined variable "
                                   f"'{name}'", "add it to the case's vars or to defaults.vars"))
            if not missing and ref.id not in broken:
                out.extend(_render_case(ref, case, render_failed))
        for name in case.vars:
            if name == "description" and case.vars[name] == case.description:
                continue  # a data file's description column: the row's description
            if name not in used and name != "id" and name not in unused_reported \
                    and python_reads is not None:
                unused_reported.add(name)
                out.append(Finding("warning", case.file, case.line,
                                   f"case '{case.id}': variable '{name}' is not used by any "
                                   "prompt or assertion of the suite",
                                   "remove it, or check its spelling"))
        if not case.asserts:
            out.append(Finding("warning", case.file, case.line,
                               f"case '{case.id}' has no assertions: it can never fail",
                               "add an 'assert' list or defaults.assert"))
    out.extend(_lint_model_files(project, suite))
    out.extend(_lint_sets(suite, sets, unused_sets))
    out.extend(_lint_perturb_vars(suite))
    return out


def _lint_perturb_vars(suite: Suite) -> list[Finding]:
    """A var named in a perturbation's `vars:` that a case it applies to does not have
    (nor as text): that variant perturbs nothing of it. Loading the suite has already
    validated every perturbation (family, params, ids)."""
    out: list[Finding] = []
    specs = {p.id: p for p in suite.perturbations}
    clean = {c.id: c for c in suite.cases if c.variant_of is None}
    for case in suite.cases:
        spec = specs.get(case.perturbation or "")
        of = clean.get(case.variant_of or "")
        if spec is None or of is None or spec.vars is None:
            continue
        file, line = suite.perturb_places.get(spec.id, (suite.file, None))
        for name in spec.vars:
            if name not in of.vars:
                out.append(Finding("warning", of.file, of.line,
                                   f"case '{of.id}': perturbation '{spec.id}' (at "
                                   f"{file}:{line}) names var '{name}', which the case "
                                   "does not have", "fix the name in 'vars:', or opt the "
                                   "case out with its own 'perturb:'"))
            elif not isinstance(of.vars[name], str):
                out.append(Finding("warning", of.file, of.line,
                                   f"case '{of.id}': perturbation '{spec.id}' (at "
                                   f"{file}:{line}) names var '{name}', which is not text "
                                   "in the case: it is left as it is",
                                   "perturbations change text vars only"))
    return out


def _lint_sets(suite: Suite, sets: AssertSets, unused_sets: set[str]) -> list[Finding]:
    """A suite's own assertion set that none of its cases uses is a warning."""
    out = []
    unused = sets.unused()
    unused_sets.intersection_update(n for f, _, n in unused if f != suite.file)
    for file, line, name in unused:
        if file == suite.file:
            out.append(Finding("warning", file, line,
                               f"assertion set '{name}' is not used by any case of the "
                               "suite", "use it with '- use: NAME', or remove it"))
    return out


def _render_case(ref: PromptRef, case: Any, failed: set[tuple[str, str | None, int | None]]
                 ) -> list[Finding]:
    """Render the case as `run` would (no model is involved) for what only data shows:
    a filter on the wrong type, a division by zero. One finding per template line."""
    try:
        render_messages(ref, case.vars, file=case.file, line=case.line, case=case.id)
    except UserError as exc:
        key = (ref.id, exc.file, exc.line)
        if key not in failed:
            failed.add(key)
            return [Finding.from_error(exc)]
    return []


def _lint_model_files(project: Project, suite: Suite) -> list[Finding]:
    """A `.gguf` path named in a suite's models must exist (aliases are checked with
    promptctl.yaml)."""
    out = []
    for i, name in enumerate(suite.spec.models or []):
        if name in project.config.models:
            continue
        problem = missing_model_file(project.root, project.model(name))
        if problem:
            out.append(Finding("error", suite.file, suite.source.line(("models", i)),
                               f"model '{name}': {problem}",
                               "give the path to a .gguf file, or use builtin:smollm2"))
    return out


def lint_config(project: Project) -> list[Finding]:
    """promptctl.yaml: what loading it does not check because no run needs it yet."""
    out = []
    src = project.config_source
    for alias, entry in project.config.models.items():
        problem = missing_model_file(project.root, entry)
        if problem and src is not None:
            out.append(Finding("error", project.config_file,
                               src.line(("models", alias, "model")),
                               f"model '{alias}': {problem}",
                               "give the path to a .gguf file, or use builtin:smollm2"))
    return out


def lint_summary(findings: Sequence[Finding]) -> dict[str, int]:
    return {"errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings)}


__all__ = ["Finding", "display_path", "lint_project", "lint_summary"]
