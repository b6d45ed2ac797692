"""Perturbed variants: `perturb:` (schema.PerturbSpec) turned into the vars of extra cases.

A suite's `perturb:` applies to every case, `defaults.perturb` replaces it, a case's
own (or a full data row's) replaces what it inherits; `perturb: []` opts out. For each
clean case and each perturbation in effect, suites.py makes one variant case with the
id `CASE~ID` (ID the perturbation's id: `~` is in no clean case id), right after the
clean case. Its vars are the clean ones with the chosen vars perturbed:

- which vars: the perturbation's `vars:`, else every var the suite's prompts read
  (templates.analyse); only text vars change, any other value is left as it is; a
  prompt's own default vars (prompts/*.yaml `vars:`) are not the case's and never change;
- how: `promptctl.perturb.apply(type, text, params, rng)` with one rng per var,
  `perturb.seeded_rng(seed, SUITE, CASE, ID, VAR)`: the same suite gives byte-identical
  variants on every machine, and adding a case or a var changes no other's text;
- `custom`: `function: path.py:fn` (or module:fn), a file of the project (as a python
  check's, assertions/custom.py); fn(text, rng) runs in the worker pool
  (assertions/pool.py, pyworker.py), never in promptctl's process, within `timeout:`
  (default limits.check_timeout). It runs when the suite loads, so a raise, a hang, a
  crash or a result that is not text is a UserError naming the case, the var and the
  function, at the perturbation's file:line.

Everything else of a variant (assertions, threshold, params, metadata, tags) is the
clean case's: its assertions were rendered with the clean vars and score with them
(`Case.assert_vars`), so the same expectation is checked on the perturbed input.

Every list (at most MAX_PERTURBATIONS items) is validated once, where it is written:
an unknown family (did-you-mean), an unknown key or a bad value (perturb.check_params),
a duplicate id in one list, and one id with two different settings in one suite are
each a UserError at the item's file:line. The suite's perturbations (each once, by id,
in first use order) are `Suite.perturbations`, each with its family params validated,
defaults filled in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import perturb
from ..assertions.base import AssertionSpecError
from ..assertions.inline import split_target
from ..boundary import display_path, read_bytes
from ..errors import UserError, quote
from ..schema import PerturbSpec, SuiteSpec
from . import templates
from .project import Project, PromptRef
from .yamlsrc import Loc, Source

SEP = "~"  # CASE~PERTURBATION: never in a clean case's id
MAX_PERTURBATIONS = 100  # per list: each one is another copy of every case it applies to
_HINT = ("a perturbation is a family name (typos, case, whitespace, ...) or a mapping "
         "{type, id, vars, seed, max_drop, ...the family's params}; see docs/perturb.md")
_CUSTOM_HINT = "fn(text, rng) must return the perturbed text as a str"

Place = tuple[str, int | None]  # file, line


def variant_id(clean_id: str, pid: str) -> str:
    return f"{clean_id}{SEP}{pid}"


def check_clean_id(case_id: str, file: str, line: int | None) -> None:
    """A user's case id holds no `~`: it marks a perturbed variant."""
    if SEP in case_id:
        raise UserError(f"case id '{case_id}' holds '{SEP}', which marks a perturbed "
                        f"variant (CASE{SEP}PERTURBATION)", file=file, line=line,
                        hint=f"rename the case: write '-' or '_' instead of '{SEP}'")


def same_settings(a: PerturbSpec, b: PerturbSpec) -> bool:
    keys = ("type", "vars", "seed", "max_drop", "function", "timeout", "params")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


class Perturbations:
    """The perturbations of one suite file: each list validated once, the variants'
    vars made per clean case."""

    def __init__(self, project: Project, spec: SuiteSpec, src: Source,
                 prompts: Sequence[PromptRef], suite: str) -> None:
        self.project = project
        self.src = src
        self.suite = suite
        self._prompts = prompts
        self._read: frozenset[str] | None = None  # every var the prompts read
        self.by_id: dict[str, tuple[PerturbSpec, Place]] = {}
        self.used: dict[str, PerturbSpec] = {}  # in first use order
        self.places: dict[str, Place] = {}  # id -> where it is written
        self._located: dict[str, Any] = {}  # id -> custom.Located
        inherited = None
        if spec.perturb is not None:
            inherited = self.resolve(spec.perturb, ("perturb",))
        if spec.defaults.perturb is not None:
            inherited = self.resolve(spec.defaults.perturb, ("defaults", "perturb"))
        self.inherited: list[PerturbSpec] = inherited or []

    # -- validation --------------------------------------------------------------------

    def resolve(self, items: Sequence[PerturbSpec], loc: Loc | None, *,
                file: str | None = None, line: int | None = None) -> list[PerturbSpec]:
        """A written list, each item checked against its family; `loc` its place in the
        suite file, or None for a data row's own (at file:line)."""
        if len(items) > MAX_PERTURBATIONS:
            at = (self.src.file, self.src.line(loc, key=True)) if loc is not None \
                else (file, line)
            raise UserError(f"{len(items)} perturbations in one list, more than "
                            f"{MAX_PERTURBATIONS}: each is a copy of every case it applies "
                            "to", file=at[0], line=at[1],
                            hint="keep the few that matter; a suite per family also works")
        out: list[PerturbSpec] = []
        seen: dict[str, int | None] = {}
        for i, item in enumerate(items):
            if loc is not None:
                place: Place = (self.src.file, self.src.line((*loc, i)))
            else:
                place = (file or self.src.file, line)
            if item.id in seen:
                raise UserError(f"perturbation id '{item.id}' appears twice in one list "
                                f"(first at line {seen[item.id]})", file=place[0],
                                line=place[1], hint="give one of them its own 'id:'")
            seen[item.id] = place[1]
            checked = self._checked(item, place, loc, i)
            earlier = self.by_id.get(checked.id)
            if earlier is not None and not same_settings(earlier[0], checked):
                at = earlier[1]
                raise UserError(f"perturbation id '{checked.id}' is defined twice in the "
                                f"suite with different settings (the other at "
                                f"{at[0]}:{at[1]})", file=place[0], line=place[1],
                                hint="an id names one perturbation in a suite: give this "
                                     "one its own 'id:'")
            if earlier is None:
                self.by_id[checked.id] = (checked, place)
            out.append(checked)
        return out

    def _key_line(self, loc: Loc | None, i: int, key: str, place: Place) -> int | None:
        if loc is None:
            return place[1]
        return self.src.line((*loc, i, key), key=True) or place[1]

    def _checked(self, item: PerturbSpec, place: Place, loc: Loc | None, i: int
                 ) -> PerturbSpec:
        raw = dict(item.params)
        if item.type == "custom":
            if raw:
                key = next(iter(raw))
                raise UserError(f"unknown key {quote(key)} in a 'custom' perturbation",
                                file=place[0], line=self._key_line(loc, i, key, place),
                                hint="custom takes function (path.py:fn) and timeout, "
                                     "beside id, vars, seed and max_drop")
            self._locate(item, place[0], self._key_line(loc, i, "function", place))
            return item
        if item.type == "synonyms" and "file" in raw:
            raw["table"] = self._table(raw["file"], place[0],
                                       self._key_line(loc, i, "file", place))
        try:
            params = perturb.check_params(item.type, raw)
        except perturb.PerturbSpecError as exc:
            fault = "file" if exc.key == "table" and "table" not in item.params else exc.key
            at = self._key_line(loc, i, fault, place) if fault is not None else place[1]
            name = "" if item.id == item.type else f"perturbation '{item.id}': "
            raise UserError(f"{name}{exc.message}", file=place[0], line=at,
                            hint=exc.hint or _HINT) from None
        return item.model_copy(update={"params": params})

    def _table(self, name: Any, file: str, line: int | None) -> Any:
        """A synonyms `file:` (YAML or JSON, relative to the project root), read here:
        the family never opens files."""
        if not isinstance(name, str) or not name.strip():
            raise UserError("synonyms 'file' must be a path relative to the project root",
                            file=file, line=line, hint="file: synonyms.yaml")
        path = self.project.root / name
        self.project.check_input(path, what="synonyms file", file=file, line=line)
        if not path.is_file():
            raise UserError(f"synonyms file {quote(name)}: no such file under "
                            f"{self.project.root}", file=file, line=line,
                            hint="the path is relative to the project root")
        try:
            text = read_bytes(path).decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read synonyms file {quote(name)}: {exc}", file=file,
                            line=line, hint="a YAML or JSON mapping: word -> [synonyms]"
                            ) from None
        if path.suffix.lower() == ".json":
            try:
                return json.loads(text)
            except ValueError as exc:
                raise UserError(f"synonyms file {display_path(path)} is not valid JSON: "
                                f"{exc}", file=file, line=line,
                                hint="a mapping: word -> [synonyms]") from None
        from .yamlsrc import parse_yaml  # YAML 1.2 core, as every project file

        return parse_yaml(text, display_path(path))[0]

    def _locate(self, item: PerturbSpec, file: str, line: int | None) -> Any:
        """Where a custom perturbation's function is (custom.Located), found without
        running anything; as for a python check, a file of the project."""
        # deferred: the python checks' module only for a suite with a custom perturbation
        from ..assertions import custom

        found = self._located.get(item.id)
        if found is not None:
            return found
        value = (item.function or "").strip()
        target = split_target(value)
        if target is None:
            raise UserError(f"custom perturbation '{item.id}': function {quote(value)} is "
                            "not path/to/file.py:function or module:function", file=file,
                            line=line, hint="e.g. function: perturbations.py:shout")
        try:
            located = custom.locate(custom.Target(value, *target, 0.5), self.project.root)
        except AssertionSpecError as exc:
            message = exc.message.replace("python assertion", "custom perturbation")
            raise UserError(f"perturbation '{item.id}': {message}", file=file, line=line,
                            hint=exc.hint) from None
        self._located[item.id] = located
        return located

    # -- variants ----------------------------------------------------------------------

    def prompt_reads(self) -> frozenset[str]:
        """Every variable the suite's prompts read (their includes' too)."""
        if self._read is None:
            names: set[str] = set()
            for ref in self._prompts:
                for pt in ref.texts():
                    names |= templates.analyse(self.project.env, pt.text).names
            self._read = frozenset(names)
        return self._read

    def chosen(self, spec: PerturbSpec, vars_: dict[str, Any]) -> list[str]:
        """The vars a perturbation changes in a case: text only."""
        names = spec.vars if spec.vars is not None else \
            [k for k in vars_ if k in self.prompt_reads()]
        return [k for k in dict.fromkeys(names) if isinstance(vars_.get(k), str)]

    def perturbed(self, spec: PerturbSpec, case_id: str, vars_: dict[str, Any],
                  case_place: Place) -> dict[str, str]:
        """The perturbed values of the chosen vars (the others are the clean case's)."""
        self.used.setdefault(spec.id, spec)
        place = self.by_id[spec.id][1]
        self.places.setdefault(spec.id, place)
        out: dict[str, str] = {}
        for name in self.chosen(spec, vars_):
            rng = perturb.seeded_rng(spec.seed, self.suite, case_id, spec.id, name)
            if spec.type == "custom":
                out[name] = self._custom(spec, vars_[name], rng, case_id, name, place,
                                         case_place)
            else:
                out[name] = perturb.apply(spec.type, vars_[name], spec.params, rng)
        return out

    def _custom(self, spec: PerturbSpec, text: str, rng: Any, case_id: str, var: str,
                place: Place, case_place: Place) -> str:
        from ..assertions import pool  # the worker processes: started on first use

        located = self._locate(spec, *place)
        target = (spec.function or "").strip()
        request = {"kind": "perturb", "target": target, "root": located.root,
                   "file": str(located.file) if located.file is not None else None,
                   "module": located.module, "function": target.rpartition(":")[2],
                   "text": text, "rng": rng}
        timeout = spec.timeout or self.project.config.limits.check_timeout
        what = (f"case '{case_id}' ({case_place[0]}:{case_place[1]}): custom perturbation "
                f"'{spec.id}' ({target}) on var '{var}'")
        try:
            answer = pool.call(request, timeout)
        except pool.CallFailed as exc:
            reason = exc.reason.replace("python assertion", "custom perturbation")
            raise UserError(f"{what}: {reason}", file=place[0], line=place[1],
                            hint=_CUSTOM_HINT) from None
        if not answer["ok"]:
            reason = str(answer["reason"]).removeprefix("custom perturbation ")
            raise UserError(f"{what}: {reason}", file=place[0], line=place[1],
                            hint=_CUSTOM_HINT)
        value = answer.get("value")
        if not isinstance(value, dict) or value.get("kind") != "text" \
                or not isinstance(value.get("value"), str):
            got = value.get("type") if isinstance(value, dict) else None
            raise UserError(f"{what}: returned {got or 'something'}, not text",
                            file=place[0], line=place[1], hint=_CUSTOM_HINT)
        return str(value["value"])


def files(project: Project, spec: PerturbSpec) -> list[Path]:
    """The project files a perturbation reads (a custom function's, a synonyms file):
    a variant changes when they do (deps.py)."""
    if spec.type == "custom" and spec.function:
        from ..assertions import custom  # deferred: as in Perturbations._locate

        target = split_target(spec.function.strip())
        if target is not None:
            try:
                return [custom.check_file(spec.function.strip(), target[0], project.root)]
            except AssertionSpecError:
                return []
    written = (spec.model_extra or {}).get("file")  # synonyms: the file `table` came from
    if spec.type == "synonyms" and isinstance(written, str) and written.strip():
        return [(project.root / written).resolve()]
    return []
