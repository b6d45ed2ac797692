"""Resolve a suite file into runnable cases: defaults merged, data files expanded (their
rows: rows.py), assertion values rendered with the case's vars, every reference checked,
each clean case followed by its perturbed variants (`perturb:`, variants.py).

Each case holds its own deep copy of its vars (defaults, entry, row): no two cases
share a list or a mapping, so nothing one case's checks do reaches another. A setting
given as 0 (a threshold) is a setting, not "unset": levels merge on None only.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import assertions, render_bounds
from ..assertions.transforms import CONTEXT_NAMES
from ..boundary import display_path
from ..errors import UserError
from ..schema import AssertionSpec, CaseSpec, PerturbSpec, SuiteSpec
from . import expand, rendering, templates, variants
from . import tools as tooling
from .filters import case_matches as case_matches  # -k: callers import it from here
from .project import Project, PromptRef

# data files' rows live in rows.py; lint and deps import these names from here
from .rows import DATA_SUFFIXES as DATA_SUFFIXES
from .rows import _csv_rows as _csv_rows
from .rows import _jsonl_rows as _jsonl_rows
from .rows import _row, load_rows
from .rows import _row_case as _row_case
from .validate import validate
from .yamlsrc import Loc, Source, load_yaml


@dataclass(slots=True)  # one per case: 100,000 of them are ~10 MB lighter with slots
class Case:
    id: str
    vars: dict[str, Any]
    asserts: list[AssertionSpec]
    assert_lines: list[int | None]
    params: dict[str, Any]
    threshold: float | None
    file: str
    line: int | None
    description: str | None = None
    # read-only, shared: cases without their own share one mapping / tuple (NO_METADATA)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # the id as written (the entry's, the data row's) when `id` is made from it (a
    # matrix, a `from:` entry's prefix): what deps.py finds the case's text by
    origin: str | None = None
    # a perturbed variant (variants.py): the clean case's id and the perturbation's id
    # (its own id is CLEAN~PERTURBATION); None for a clean case
    variant_of: str | None = None
    perturbation: str | None = None
    # the vars its assertions score with when they are not `vars`: a variant's clean
    # vars (its prompt renders with the perturbed ones)
    assert_vars: dict[str, Any] | None = None
    # a conversation (run/turns.py): the user turns after the prompt's own messages
    # (templates), and the canned tool results (tool name -> template or value)
    turns: tuple[str, ...] | None = None
    tool_results: dict[str, Any] = field(default_factory=dict)

    @property
    def check_vars(self) -> dict[str, Any]:
        """The vars the case's assertions see at scoring time."""
        return self.vars if self.assert_vars is None else self.assert_vars


NO_METADATA: dict[str, Any] = {}  # the metadata of every case that has none: never written


@dataclass
class Suite:
    name: str
    path: Path
    file: str
    spec: SuiteSpec
    source: Source
    prompts: list[PromptRef]
    models: list[str]
    cases: list[Case]
    # every perturbation the cases use, each once by id, in first use order; and where
    # each is written (file, line)
    perturbations: list[PerturbSpec] = field(default_factory=list)
    perturb_places: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    @property
    def repeat(self) -> int | str:
        return self.spec.repeat


def load_suite(project: Project, path: Path, *, models: Sequence[str] = ()) -> Suite:
    with young_collections():
        return _load_suite(project, path, models)


def _load_suite(project: Project, path: Path, models: Sequence[str]) -> Suite:
    file = display_path(path)
    project.check_input(path, what="suite file")
    data, src = load_yaml(path, file)
    spec = validate(SuiteSpec, data, src)

    prompts = [project.prompt(name, file=file, line=src.line(("prompts", i)))
               for i, name in enumerate(spec.prompts)]
    model_names = list(models) or list(spec.models or ["default"])
    for i, name in enumerate(model_names):
        project.model(name, file=file if not models else None,
                      line=src.line(("models", i)) if not models else None)

    _check_tool_results(spec, src, prompts)
    perturbs = variants.Perturbations(project, spec, src, prompts, path.stem)
    cases = _resolve_cases(project, path, spec, src, perturbs)
    return Suite(name=path.stem, path=path, file=file, spec=spec, source=src,
                 prompts=prompts, models=model_names, cases=cases,
                 perturbations=list(perturbs.used.values()),
                 perturb_places=dict(perturbs.places))


def _check_tool_results(spec: SuiteSpec, src: Source, prompts: list[PromptRef]) -> None:
    """Every canned tool result answers a tool each of the suite's prompts declares
    (the loader's check, so `lint` sees it too), at the result's own line."""
    entries = [(("defaults", "tool_results"), spec.defaults.tool_results)] + [
        (("cases", i, "tool_results"), c.tool_results) for i, c in enumerate(spec.cases)]
    for loc, results in entries:
        for name in results:
            for ref in prompts:
                tooling.check_tool_result(ref, name, file=src.file,
                                          line=src.line((*loc, name), key=True))


@contextlib.contextmanager
def young_collections() -> Iterator[None]:
    """While a suite is read and its cases built (or, runner.py, its plan made), the
    cyclic garbage collector collects young garbage (a case's temporaries, cycles
    included) but makes no full collection: each walks everything built so far (~0.8 s
    of CPU in loading 100,000 cases, ~0.3 s in planning their calls)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def _resolve_cases(project: Project, path: Path, spec: SuiteSpec, src: Source,
                   perturbs: variants.Perturbations) -> list[Case]:
    """The cases of every entry, data-file rows and matrices expanded, assertion sets
    in place (expand.py), in the file's order; each clean case followed by its
    perturbed variants (variants.py)."""
    defaults = spec.defaults
    sets = expand.AssertSets(project, spec, src)
    base_asserts = sets.expand(defaults.assert_, ("defaults", "assert"))
    resolved = _Resolved(project, src)
    if spec.references is not None:
        resolved.refs = _references(project, path, spec.references, src)
    default_params = defaults.params.set_values()
    base_meta = defaults.metadata or NO_METADATA
    base_tags = _union(tuple(spec.tags), defaults.tags)  # the suite's tags are every case's
    cases: list[Case] = []
    seen: dict[str, tuple[str, int | None]] = {}
    feeds: dict[str, list[tuple[str | None, int | None]]] = {}
    for i, cspec in enumerate(spec.cases):
        loc: Loc = ("cases", i)
        entry = _Entry(cspec, loc, [*base_asserts, *sets.expand(cspec.assert_,
                                                                (*loc, "assert"))],
                       {**default_params, **cspec.params.set_values()},
                       expand.entry_axes(defaults, cspec, src, loc),
                       _merged(base_meta, cspec.metadata), _union(base_tags, cspec.tags),
                       perturbs.inherited if cspec.perturb is None else
                       perturbs.resolve(cspec.perturb, (*loc, "perturb")))
        if cspec.from_ is not None:
            made: Iterable[tuple[Case, list[PerturbSpec]]] = _row_cases(
                resolved, sets, path, spec, entry, feeds, perturbs)
        else:
            made = ((case, entry.perturb) for case in _entry_cases(resolved, spec, entry))
        tool_results = ({**defaults.tool_results, **cspec.tool_results}
                        if defaults.tool_results or cspec.tool_results else None)
        for case, in_effect in made:
            if cspec.turns is not None:
                case.turns = tuple(cspec.turns)
            if tool_results is not None:
                case.tool_results = tool_results  # shared by the entry's cases, read-only
            variants.check_clean_id(case.id, case.file, case.line)
            _check_unique(case, seen)
            cases.append(case)
            for pspec in in_effect:
                variant = _variant(perturbs, case, pspec)
                _check_unique(variant, seen)
                cases.append(variant)
    return cases


def _variant(perturbs: variants.Perturbations, case: Case, pspec: PerturbSpec) -> Case:
    """The clean case with the perturbation's vars perturbed; the rest is the case's
    (its assertions, rendered with the clean vars, score with them: `assert_vars`)."""
    changed = perturbs.perturbed(pspec, case.id, case.vars, (case.file, case.line))
    return dataclasses.replace(
        case, id=variants.variant_id(case.id, pspec.id),
        vars=_own_copy({**case.vars, **changed}), asserts=list(case.asserts),
        assert_lines=list(case.assert_lines), params=dict(case.params),
        origin=case.origin or case.id, variant_of=case.id, perturbation=pspec.id,
        assert_vars=case.vars)


@dataclass(slots=True)
class _Entry:
    """One entry of `cases:` as its cases start from it."""

    spec: CaseSpec
    loc: Loc
    asserts: list[expand.Located]
    params: dict[str, Any]
    axes: expand.Axes | None
    metadata: dict[str, Any]
    tags: tuple[str, ...]
    perturb: list[PerturbSpec]  # in effect for its cases (a full data row may replace it)


def _entry_cases(resolved: _Resolved, spec: SuiteSpec, entry: _Entry) -> Iterator[Case]:
    """An inline case: one, or one per combination of its matrix."""
    cspec, src = entry.spec, resolved.src
    vars_ = {**spec.defaults.vars, **cspec.vars}
    threshold = _first_set(cspec.threshold, spec.defaults.threshold)
    line = src.line((*entry.loc, "id"), key=True)
    if entry.axes is None:
        yield _make_case(resolved, str(cspec.id), vars_, entry.asserts, entry.params,
                         threshold, src.file, line, cspec.description,
                         metadata=entry.metadata, tags=entry.tags)
        return
    for suffix, combo in entry.axes.combinations():
        yield _make_case(resolved, f"{cspec.id}{suffix}", {**vars_, **combo},
                         entry.asserts, dict(entry.params), threshold, src.file, line,
                         cspec.description, origin=str(cspec.id),
                         metadata=entry.metadata, tags=entry.tags)


def _row_cases(resolved: _Resolved, sets: expand.AssertSets, path: Path, spec: SuiteSpec,
               entry: _Entry, feeds: dict[str, list[tuple[str | None, int | None]]],
               perturbs: variants.Perturbations
               ) -> Iterator[tuple[Case, list[PerturbSpec]]]:
    """A `from:` entry: a case per row of its data file (per combination of a matrix),
    ids prefixed `PREFIX/` when the entry has an `id`; each with the perturbations in
    effect for it (a full row's own `perturb:` replaces the entry's)."""
    project, src, cspec = resolved.project, resolved.src, entry.spec
    floc = (*entry.loc, "from")
    rows = load_rows(path, project.root, cspec.from_ or "", src, floc, project=project)
    prefix = None if cspec.id is None else str(cspec.id)
    _check_feed(feeds, rows[0][0], prefix, src, floc)
    entry_vars = {**spec.defaults.vars, **cspec.vars}
    axes = entry.axes
    for row_file, row_line, row in rows:
        row_spec = _row(row, row_file, row_line)
        asserts = entry.asserts
        if row_spec.assert_:
            asserts = [*asserts, *sets.expand(row_spec.assert_, None, file=row_file,
                                              line=row_line)]
        if row_spec.matrix:
            raise UserError("a data row cannot have a 'matrix'", file=row_file,
                            line=row_line, hint="put the matrix on the 'from:' entry, "
                            "or write one row per combination")
        row_params = row_spec.params.set_values() if row_spec.params else None
        params = {**entry.params, **row_params} if row_params else entry.params
        threshold = _first_set(row_spec.threshold, cspec.threshold,
                               spec.defaults.threshold)
        description = _first_set(row_spec.description, cspec.description)
        row_id = str(row_spec.id)
        case_id = row_id if prefix is None else f"{prefix}/{row_id}"
        vars_ = {**entry_vars, **row_spec.vars}
        meta = _merged(entry.metadata, row_spec.metadata)
        tags = _union(entry.tags, row_spec.tags)
        in_effect = entry.perturb if row_spec.perturb is None else perturbs.resolve(
            row_spec.perturb, None, file=row_file, line=row_line)
        if axes is None:
            yield _make_case(resolved, case_id, vars_, asserts, dict(params), threshold,
                             row_file, row_line, description,
                             origin=None if prefix is None else row_id,
                             metadata=meta, tags=tags), in_effect
            continue
        axes.check_vars(row_spec.vars, f"row '{row_id}'", row_file, row_line,
                        "rename the column, or remove '{key}' from the matrix")
        for suffix, combo in axes.combinations():
            yield _make_case(resolved, case_id + suffix, {**vars_, **combo}, asserts,
                             dict(params), threshold, row_file, row_line, description,
                             origin=row_id, metadata=meta, tags=tags), in_effect


def _check_feed(feeds: dict[str, list[tuple[str | None, int | None]]], data_file: str,
                prefix: str | None, src: Source, floc: Loc) -> None:
    """One data file may feed several entries when all but at most one have an `id`
    prefix, each its own: otherwise their rows' ids would be the same."""
    line = src.line(floc)
    earlier = feeds.setdefault(os.path.realpath(data_file), [])
    for other, other_line in earlier:
        if other == prefix:
            same = "without an 'id' prefix" if prefix is None else \
                f"with the same 'id' prefix '{prefix}'"
            raise UserError(f"data file '{data_file}' feeds two entries {same} (the "
                            f"other at {src.file}:{other_line}): their case ids would "
                            "be the same", file=src.file, line=line,
                            hint="give all but one of the entries their own "
                                 "'id: PREFIX': its case ids are then PREFIX/ROW-ID")
    earlier.append((prefix, line))


def _merged(base: dict[str, Any], more: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata merged key by key, the later level winning; `base` itself (shared, not
    copied) when there is nothing to add."""
    return {**base, **more} if more else base


def _union(base: tuple[str, ...], more: Sequence[str] | None) -> tuple[str, ...]:
    """Tags unioned in order; `base` itself when `more` adds none."""
    extra = [t for t in more or () if t not in base]
    return (*base, *dict.fromkeys(extra)) if extra else base


def _first_set(*values: Any) -> Any:
    """The first value that is set (not None): 0, 0.0 and "" are values."""
    for value in values:
        if value is not None:
            return value
    return None


def _check_unique(case: Any, seen: dict[str, tuple[str, int | None]]) -> None:
    first = seen.get(case.id)
    if first is not None:
        raise UserError(f"duplicate case id '{case.id}' (first at {first[0]}:{first[1]})",
                        file=case.file, line=case.line,
                        hint="case ids must be unique in a suite: baselines key on them")
    seen[case.id] = (case.file, case.line)


_ATOMS = frozenset({str, int, float, bool, type(None)})  # deepcopy returns them as they are


def _own_copy(vars_: dict[str, Any]) -> dict[str, Any]:
    """What copy.deepcopy(vars_) gives a case, for a mapping the caller has just merged
    (its own already): every list and mapping in it copied (shared ones stay shared
    with each other, as deepcopy keeps them); plain values need no copy."""
    if _ATOMS.issuperset(map(type, vars_.values())):
        return vars_
    memo: dict[int, Any] = {}
    return {k: v if type(v) in _ATOMS else copy.deepcopy(v, memo) for k, v in vars_.items()}


class _Resolved:
    """The assertions of one suite file as they resolve for its cases. A spec written
    in the suite (its defaults, an entry) without a template in its value or options
    resolves the same for every case: it is checked once, for the first case that has
    it, and its lines are looked up once."""

    def __init__(self, project: Project, src: Source) -> None:
        self.project = project
        self.src = src
        # `references:`: case id -> the vars its row of the file adds
        self.refs: dict[str, dict[str, Any]] = {}
        # id(spec) -> (spec, its file, its line, its transform's line)
        self._static: dict[int, tuple[AssertionSpec, str, int | None, int | None]] = {}
        # assertion value templates: each text compiled once, and what it renders to
        self.texts: dict[str, tuple[Any, rendering.Shape | None]] = {}
        self.limit = getattr(project.env, "max_prompt_chars",
                             render_bounds.DEFAULTS.max_prompt_chars)
        # (a spec's id, what it rendered to) -> (the spec, held so that its id is not
        # reused, and the spec it became, checked for the first case that had it)
        self._rendered: dict[Any, tuple[AssertionSpec, AssertionSpec]] = {}
        self._rendered_hits = 0

    def rendered_as(self, spec: AssertionSpec, changed: dict[str, Any]
                    ) -> tuple[Any, AssertionSpec | None]:
        """(a key for `keep_rendered`, or None; the spec another case rendered to)."""
        try:
            key = (id(spec), rendering.frozen(changed))
        except (rendering.Unfrozen, RecursionError):
            return None, None
        hit = self._rendered.get(key)
        if hit is not None and hit[0] is spec:
            self._rendered_hits += 1
            return key, hit[1]
        return key, None

    def keep_rendered(self, key: Any, spec: AssertionSpec, out: AssertionSpec) -> None:
        """Kept while cases share them; past 256 with none shared (every case renders
        its own value), no more are kept."""
        if len(self._rendered) < 256 or self._rendered_hits:
            self._rendered[key] = (spec, out)


def _references(project: Project, path: Path, ref: str, src: Source
                ) -> dict[str, dict[str, Any]]:
    """The rows of the suite's `references:` file by their `id`: each row's other
    columns are vars of the case with that id (rows of no case are unused)."""
    refs: dict[str, dict[str, Any]] = {}
    for row_file, row_line, row in load_rows(path, project.root, ref, src,
                                             ("references",), project=project):
        case_id = row.get("id")
        if case_id is None or case_id == "" or isinstance(case_id, (dict, list)):
            raise UserError("a references row needs the 'id' of its case",
                            file=row_file, line=row_line)
        if str(case_id) in refs:
            raise UserError(f"case '{case_id}' has two references rows",
                            file=row_file, line=row_line, hint="keep one")
        refs[str(case_id)] = {k: v for k, v in row.items() if k != "id"}
    return refs


def _make_case(resolved: _Resolved, case_id: str, vars_: dict[str, Any],
               asserts: list[expand.Located], params: dict[str, Any],
               threshold: float | None, file: str, line: int | None,
               description: str | None, *, metadata: dict[str, Any] = NO_METADATA,
               tags: tuple[str, ...] = (), origin: str | None = None) -> Case:
    if resolved.refs:
        vars_ = {**resolved.refs.get(case_id, {}), **vars_}  # the case's own vars win
    vars_ = _own_copy(vars_)  # the case's own: the merge shares nested values
    project, src = resolved.project, resolved.src
    out: list[AssertionSpec] = []
    lines: list[int | None] = []
    for spec, where in asserts:
        static = resolved._static.get(id(spec)) if where is not None else None
        if static is not None and static[0] is spec:
            _, afile, aline, transform_line = static
            if spec.transform:
                _check_transform(spec, vars_, case_id, afile, transform_line)
            out.append(spec)
            lines.append(aline if afile == src.file else None)
            continue
        wsrc: Source | None = None
        aloc: Loc = ()
        if where is None:  # a data row's own: at the row's line
            afile, aline = file, line
        else:
            wsrc, aloc = where
            afile, aline = wsrc.file, wsrc.line(aloc)
        rendered = _render_value(resolved, spec, vars_, afile, aline, case_id)
        try:
            assertions.validate_spec(rendered, root=project.root)
        except assertions.AssertionSpecError as exc:
            key_line = aline
            if wsrc is not None and exc.key:
                key_line = wsrc.line((*aloc, exc.key), key=True) or aline
            if exc.file is not None:  # the fault is in another file (a python check's)
                raise UserError(f"case '{case_id}': {exc.message}", file=exc.file,
                                line=exc.line, hint=exc.hint or f"the assertion is at "
                                f"{afile}:{key_line}") from None
            raise UserError(f"case '{case_id}': {exc.message}", file=afile, line=key_line,
                            hint=exc.hint) from None
        _check_references(project, rendered, afile, aline)
        transform_line = (wsrc.line((*aloc, "transform"), key=True) if wsrc else aline)
        _check_transform(rendered, vars_, case_id, afile, transform_line)
        if wsrc is not None and _is_static(spec):  # the same for every case
            resolved._static[id(spec)] = (spec, afile, aline, transform_line)
        out.append(rendered)
        lines.append(aline if afile == src.file or wsrc is None else None)
    return Case(id=case_id, vars=vars_, asserts=out, assert_lines=lines, params=params,
                threshold=threshold, file=file, line=line, description=description,
                metadata=metadata, tags=tags, origin=origin)


RENDERED_OPTIONS = ("expected", "question")  # option texts that may use the case's vars
MODEL_OPTIONS = ("judge", "embedder")  # options that name a model alias


def _is_static(spec: AssertionSpec) -> bool:
    """No text `_render_value` renders holds a template: it resolves to itself."""
    options = spec.options
    return not any(_has_template(value) for value in (
        spec.value, *(options[k] for k in RENDERED_OPTIONS if k in options)))


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    if isinstance(value, dict):  # a tool call's arguments (`tool-call`), nested
        return any(_has_template(v) for v in value.values())
    return False


def _render_value(resolved: _Resolved, spec: AssertionSpec, vars_: dict[str, Any],
                  file: str, line: int | None, case_id: str) -> AssertionSpec:
    """`value: "{{ expected }}"` takes the case's vars (data-file rows use this), and so
    do the `expected` of a choice and the `question` of answer-relevance.

    Each distinct text is compiled once per suite file (a syntax error is still the
    first case's), rendered without Jinja where rendering.Shape knows its text, and a
    spec that renders as another case's did is that case's spec (already checked)."""
    project = resolved.project

    def render(text: str) -> str:
        if "{{" not in text and "{%" not in text:
            return text
        compiled = resolved.texts.get(text)
        if compiled is None:
            tpl = templates.compile_template(project.env, text, file=file, line=line,
                                             what="assertion value")
            compiled = resolved.texts[text] = (tpl, rendering.shape(project.env, text))
        tpl, shape = compiled
        if shape is not None:
            known = shape.known(vars_)
            if known is not None and len(known) <= resolved.limit:
                return known
        try:
            out = templates.render(tpl, vars_, what=f"case '{case_id}' assertion value",
                                   file=file, line=line, src=text)
        except render_bounds.RenderLimit as exc:
            raise UserError(f"case '{case_id}' assertion value: {exc.message}", file=file,
                            line=line, hint=exc.hint) from None
        if shape is not None:
            shape.keep(vars_, out)
        return out

    def rendered(value: Any) -> Any:
        if isinstance(value, str):
            return render(value)
        if isinstance(value, list):
            return [rendered(v) if isinstance(v, (str, dict)) else v for v in value]
        if isinstance(value, dict):  # `tool-call`'s {name, arguments}: its strings
            return {k: rendered(v) for k, v in value.items()}
        return value

    update = {"value": rendered(spec.value)}
    options = spec.options
    update.update({k: rendered(options[k]) for k in RENDERED_OPTIONS if k in options})
    changed = {k: v for k, v in update.items() if v != getattr(spec, k, options.get(k))}
    if not changed:
        return spec
    key, same = resolved.rendered_as(spec, changed)
    if same is not None:
        return same
    out = AssertionSpec.model_validate({**spec.model_dump(), **changed})
    if key is not None:
        resolved.keep_rendered(key, spec, out)
    return out


def _check_references(project: Project, spec: AssertionSpec, file: str,
                      line: int | None) -> None:
    """Model aliases and judge prompts named by an assertion must exist."""
    for key in MODEL_OPTIONS:
        alias = spec.options.get(key)
        if isinstance(alias, str):
            project.model(alias, file=file, line=line)
    prompt = spec.options.get("judge_prompt")
    if isinstance(prompt, str):
        project.prompt(prompt, file=file, line=line)


def _check_transform(spec: AssertionSpec, vars_: dict[str, Any], case_id: str, file: str,
                     line: int | None) -> None:
    """A transform sees `output`, `transcript`, `tool_calls` and the case's vars: any
    other name is undefined in every case, so it is refused here rather than failing
    each output."""
    if not spec.transform:
        return
    unknown = sorted(_transform_names(spec.transform) - CONTEXT_NAMES - set(vars_))
    if unknown:
        raise UserError(f"case '{case_id}': transform {spec.transform!r} uses undefined "
                        f"name '{unknown[0]}'", file=file, line=line,
                        hint="a transform sees 'output', 'transcript', 'tool_calls' and the "
                             "case's vars")


@functools.lru_cache(maxsize=256)
def _transform_names(transform: str) -> frozenset[str]:
    """The names a transform needs (parsed once per distinct transform)."""
    # deferred: jinja2 only for a case with a transform (start-up of lint)
    import jinja2

    text = transform.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        text = "{{ " + text + " }}"
    try:
        return frozenset(templates.analyse(jinja2.Environment(), text).required)
    except jinja2.TemplateError:  # reported by the assertion's own validation
        return frozenset()
