"""What each planned cell depends on, and which cells changed.

A cell (suite, case, prompt, model) depends on *inputs*: a whole file (promptctl.yaml,
a template that a prompt includes or imports) or one part of a file (one prompt of a
collection, one case of a suite, one row of a data file). An input changed when the
file's bytes differ between two versions and, for a part, when the parsed part
differs: editing one prompt of a collection selects only the cells of that prompt,
editing one row of a CSV only the case that row became.

The old version comes from a reader: `git_reader(root, REF)` reads `REF:path` through
git (`--changed-since REF`), and watch mode reads the contents of its last run.
Nothing outside the project's boundary (boundary.py) is read or hashed: a dynamic
include depends only on the files under prompts/ that resolve inside it, and
`read_now` opens only regular files, without blocking.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from ..assertions.base import AssertionSpecError
from ..assertions.custom import check_file
from ..assertions.inline import split_target
from ..boundary import is_readable_input, read_bytes
from ..errors import UserError
from ..results import CellKey
from ..schema import AssertionSpec, PromptCollection
from . import bodies, filters, variants
from .project import CONFIG_NAMES, Project, PromptRef, compile_prompt
from .suites import Case, Suite, _csv_rows, _jsonl_rows
from .validate import validate
from .yamlsrc import parse_yaml

# (file, part): part is () for the whole file, ("prompt", KEY), ("case", ID) or ("row", ID)
Input = tuple[Path, tuple[str, ...]]
Reader = Callable[[Path], bytes | None]  # a file's bytes in some version; None: missing


def config_paths(project: Project) -> list[Path]:
    """promptctl.yaml, or where it would be: creating or deleting it changes every cell."""
    if project.config_file is not None:
        return [Path(project.config_file).resolve()]
    return [(project.root / name).resolve() for name in CONFIG_NAMES]


def template_files(project: Project, ref: PromptRef) -> set[Path]:
    """Every file a prompt includes or imports, transitively, under prompts/. A
    dynamic include (a name computed at render time) depends on every non-collection
    file there."""
    env = project.env
    loader = env.loader
    found: set[Path] = set()
    seen: set[str] = set()

    def visit(text: str) -> None:
        try:
            ast = env.parse(text)
        except jinja2.TemplateSyntaxError:
            return  # reported when the template is compiled
        for name in jinja2.meta.find_referenced_templates(ast):
            if name is None:
                found.update(_all_templates(project))
                continue
            if name in seen:
                continue
            seen.add(name)
            try:
                source, filename, _ = loader.get_source(env, name)  # type: ignore[union-attr]
            except jinja2.TemplateNotFound:
                found.add((project.prompts_dir / name).resolve())
                continue
            if filename:
                found.add(Path(filename).resolve())
            visit(source)

    for pt in ref.texts():
        visit(pt.text)
    return found


def _all_templates(project: Project) -> set[Path]:
    if not project.prompts_dir.is_dir():
        return set()
    return {p.resolve() for p in project.prompts_dir.rglob("*")
            if p.suffix not in (".yaml", ".yml") and is_readable_input(p, project.boundary)}


def prompt_inputs(project: Project, ref: PromptRef) -> set[Input]:
    """The prompt's entry in its collection, its template_file or messages_file, and
    every template it includes."""
    key = str(ref.loc[-1])
    out: set[Input] = {(Path(ref.file).resolve(), ("prompt", key)),
                       *((p, ()) for p in template_files(project, ref))}
    if ref.body is not None:
        out.add((ref.body.path, ()))
    return out


def case_inputs(project: Project, suite: Suite, case: Case) -> set[Input]:
    suite_path = suite.path.resolve()
    out: set[Input] = {(p, ()) for p in config_paths(project)}
    written = case.origin or case.id  # a matrix's or a prefixed row's: as written
    out.add((suite_path, ("case", written)))
    case_file = Path(case.file).resolve()
    if case_file != suite_path:  # a row of a data file
        out.add((case_file, ("row", written)))
    for spec in case.asserts:
        judge = spec.options.get("judge_prompt")
        if isinstance(judge, str):
            out |= prompt_inputs(project, project.prompt(judge))
        source = python_check_file(project, spec)
        if source is not None:
            out.add((source, ()))
    if case.perturbation is not None:  # a variant: also what its perturbation reads
        spec_of = {p.id: p for p in suite.perturbations}
        pspec = spec_of.get(case.perturbation)
        if pspec is not None:
            out.update((path, ()) for path in variants.files(project, pspec))
    return out


def python_check_file(project: Project, spec: AssertionSpec) -> Path | None:
    """The source file of a `python` (or `not-python`) check: its verdicts change when
    that file does. None for any other type, or one that does not resolve (the suite's
    validation has already said so)."""
    if spec.type.removeprefix("not-") != "python" or not isinstance(spec.value, str):
        return None
    target = split_target(spec.value)
    if target is None:  # inline code: in the suite, whose text is an input already
        return None
    try:
        return check_file(spec.value.strip(), target[0], project.root).resolve()
    except AssertionSpecError:
        return None


def cell_inputs(project: Project, suites: Sequence[Suite]) -> dict[CellKey, set[Input]]:
    """Every cell of the suites (all cases, prompts and models) with its inputs."""
    prompts: dict[str, set[Input]] = {}
    out: dict[CellKey, set[Input]] = {}
    for suite in suites:
        for ref in suite.prompts:
            if ref.id not in prompts:
                prompts[ref.id] = prompt_inputs(project, ref)
        for case in suite.cases:
            base = case_inputs(project, suite, case)
            for ref in suite.prompts:
                for model in suite.models:
                    out[(suite.name, case.id, ref.id, model)] = base | prompts[ref.id]
    return out


# -- comparing two versions ----------------------------------------------------------


def _yaml(data: bytes | None, path: Path) -> Any:
    if data is None:
        return None
    try:
        return parse_yaml(data.decode("utf-8-sig"), str(path))[0]
    except (UserError, UnicodeDecodeError):
        return _Unparsable(data)


class _Unparsable:
    """A version that does not parse: equal only to the same bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unparsable) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


def _prompt_part(data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        return data
    prompts = data.get("prompts")
    rest = {k: v for k, v in data.items() if k != "prompts"}
    return rest, prompts.get(key) if isinstance(prompts, dict) else prompts


def _case_part(data: Any, case_id: str) -> Any:
    """The suite minus its cases, plus the entries that can make this case: the inline
    case with this id, and every `from:` entry (a data file's cases take its vars)."""
    if not isinstance(data, dict):
        return data
    cases = data.get("cases")
    rest = {k: v for k, v in data.items() if k != "cases"}
    if not isinstance(cases, list):
        return rest, cases
    mine = [c for c in cases if isinstance(c, dict)
            and ("from" in c or str(c.get("id")) == case_id)]
    return rest, mine


def _row_part(data: bytes | None, path: Path, case_id: str) -> Any:
    """The row that became this case, as the suite loader reads it; a header change
    changes every row."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8-sig")
        rows = _csv_rows(text, str(path)) if path.suffix.lower() == ".csv" \
            else _jsonl_rows(text, str(path))
    except (UserError, UnicodeDecodeError):
        return _Unparsable(data)
    for _, line, row in rows:
        rid = row.get("id")
        if rid in (None, ""):
            rid = f"{path.stem}-{line}"
        if str(rid) == case_id:
            return row
    return None


def part_changed(inp: Input, old: bytes | None, new: bytes | None) -> bool:
    """Whether one input differs between two versions of its file's bytes."""
    if old == new:
        return False
    path, part = inp
    if not part:
        return True
    kind, name = part
    if kind == "row":
        return _row_part(old, path, name) != _row_part(new, path, name)
    pick = _prompt_part if kind == "prompt" else _case_part
    return bool(pick(_yaml(old, path), name) != pick(_yaml(new, path), name))


def read_now(path: Path) -> bytes | None:
    """A file's bytes now; None when it is missing or not a regular file (a FIFO is
    never opened for reading in a way that blocks)."""
    try:
        return read_bytes(path)
    except OSError:
        return None


def changed_inputs(inputs: Iterable[Input], old: Reader, new: Reader = read_now
                   ) -> set[Input]:
    files = {p for p, _ in inputs}
    before = {p: old(p) for p in files}
    after = {p: new(p) for p in files}
    return {inp for inp in set(inputs) if part_changed(inp, before[inp[0]], after[inp[0]])}


def changed_cells(cells: dict[CellKey, set[Input]], old: Reader, new: Reader = read_now
                  ) -> set[CellKey]:
    every = set().union(*cells.values()) if cells else set()
    changed = changed_inputs(every, old, new)
    return {key for key, inputs in cells.items() if inputs & changed}


# -- git ---------------------------------------------------------------------------


def _git(args: Sequence[str], cwd: Path, data: bytes | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True,
                              check=False)
    except FileNotFoundError:
        raise UserError("git is not installed", hint="install git, or leave out the git "
                        "ref option") from None


def git_reader(root: Path, ref: str) -> Reader:
    """Reads files as they were at REF. Outside a git repository or with a REF that
    names no commit: a UserError."""
    top = _git(["rev-parse", "--show-toplevel"], root)
    if top.returncode != 0:
        raise UserError(f"not a git repository: {root}",
                        hint="--changed-since and --diff compare with a git ref")
    toplevel = Path(top.stdout.decode().strip()).resolve()
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if commit.returncode != 0 or not ref or ref.startswith("-"):
        raise UserError(f"unknown git ref '{ref}'",
                        hint="name a branch, tag or commit, e.g. HEAD or main")
    sha = commit.stdout.decode().strip()
    cache: dict[Path, bytes | None] = {}

    def read(path: Path) -> bytes | None:
        path = path.resolve()
        if path not in cache:
            try:
                rel = path.relative_to(toplevel).as_posix()
            except ValueError:
                cache[path] = None  # outside the repository: not at any ref
                return None
            shown = _git(["cat-file", "blob", f"{sha}:{rel}"], toplevel)
            cache[path] = shown.stdout if shown.returncode == 0 else None
        return cache[path]

    return read


def select_changed(project: Project, suites: Sequence[Suite], ref: str,
                   pattern: filters.Patterns = None) -> tuple[set[CellKey], int]:
    """The cells whose inputs differ from git REF, and how many cells there are (after
    --filter)."""
    reader = git_reader(project.root, ref)
    wanted = filters.select(((s.name, c) for s in suites for c in s.cases), pattern) \
        if pattern else None
    cells = {k: v for k, v in cell_inputs(project, suites).items()
             if wanted is None or k[:2] in wanted}
    return changed_cells(cells, reader), len(cells)


def describe_selection(selected: int, total: int, ref: str) -> str:
    noun = "case" if total == 1 else "cases"
    return f"{selected} of {total} {noun} changed since {ref}"


class _GitLoader(jinja2.BaseLoader):
    """Templates under prompts/ as they were at a git ref."""

    def __init__(self, prompts_dir: Path, read: Reader) -> None:
        self.prompts_dir = prompts_dir
        self.read = read

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = (self.prompts_dir / template).resolve()
        data = self.read(path)
        if data is None:
            raise jinja2.TemplateNotFound(template)
        return data.decode("utf-8"), str(path), lambda: True


def prompt_at(project: Project, current: PromptRef, ref: str) -> PromptRef:
    """The prompt as it was at git REF: its collection file, its template_file or
    messages_file and every template it includes read from REF. A UserError when it
    did not exist there."""
    read = git_reader(project.root, ref)
    path = Path(current.file).resolve()
    data = read(path)
    where = f"at {ref}"
    if data is None:
        raise UserError(f"{current.file} does not exist {where}",
                        hint=f"prompt '{current.id}' is new since {ref}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{current.file} {where} is not UTF-8 text") from None
    file = f"{current.file} ({ref})"
    parsed, src = parse_yaml(text, file)
    coll = validate(PromptCollection, parsed, src)
    key = str(current.loc[-1])
    name = coll.name or path.stem
    spec = coll.prompts.get(key)
    if spec is None or f"{name}.{key}" != current.id:
        raise UserError(f"prompt '{current.id}' does not exist {where}",
                        file=file, hint=f"it is new since {ref}")
    env = project.env.overlay(loader=_GitLoader(project.prompts_dir.resolve(), read))
    old = PromptRef(current.id, spec, file, src, ("prompts", key))
    old.body = bodies.load_body(spec, collection=path, prompts_dir=project.prompts_dir,
                                boundary=project.boundary, src=src, loc=old.loc, read=read,
                                label=f" ({ref})")
    compile_prompt(env, old)
    return old
