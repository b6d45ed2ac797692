"""Reviewed outputs to reference answers (`promptctl review promote`, issue 17 item 5).

For each suite, the passing labels of reviews/<suite>.yaml that carry their output text
are the reference answers: per case, the newest passing label of one (prompt, model)
pair. The pair is `prompt`/`model` when given, else the one with the most passing
labels (ties: the first by name), and the result says which. A label whose output has
since changed still promotes: the label judged that text.

Destination `suite`: `vars.<var>` of each case entry in suites/<suite>.yaml, edited
with ruamel.yaml's round trip so the file's comments, order and formatting stay. A case
made from a data file row or a matrix cannot be edited there: it is refused, with the
hint to write a data file (`to` a .csv or .jsonl path) instead. A data file destination
is written as rows `id`, `<var>` (merged with the rows it already has).

Invariants: an existing different reference is never replaced unless `force` (it is
listed as a conflict); `dry_run` writes nothing; labels of cases no longer in the
suite are listed and skipped. Bad input is a UserError naming file:line.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..boundary import display_path
from ..errors import UserError
from ..load.project import Project
from ..load.reviews import Label, load_reviews
from ..run.store import write_text_atomic

DATA_SUFFIXES = (".csv", ".jsonl")


@dataclass
class Change:
    """One case's reference: new, the same again, or replacing another text."""

    suite: str
    case: str
    text: str
    old: str | None  # the reference it had (None: none)
    label: Label

    @property
    def kind(self) -> str:
        if self.old is None:
            return "new"
        return "same" if self.old == self.text else "conflict"


@dataclass
class PromoteResult:
    to: str
    var: str
    changes: list[Change] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # pair chosen, cases gone, refused
    forced: bool = False
    dry_run: bool = False

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "conflict"]

    def words(self) -> str:
        held = 0 if self.forced else self.count("conflict")
        done = self.count("new") + (self.count("conflict") if self.forced else 0)
        verb = "would write" if self.dry_run else "wrote"
        line = f"{verb} {done} reference(s) to {self.to}, {self.count('same')} unchanged"
        if held:
            line += f", {held} conflict(s) kept (--force replaces them)"
        return line


def _pick_pair(labels: list[Label], prompt: str | None, model: str | None,
               suite: str, notes: list[str]) -> list[Label]:
    """The labels of one (prompt, model) pair: the given one, or the most labelled."""
    kept = [lab for lab in labels if (prompt is None or lab.prompt == prompt)
            and (model is None or lab.model == model)]
    pairs = Counter((lab.prompt, lab.model) for lab in kept)
    if len(pairs) <= 1:
        return kept
    (best, n), = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:1]
    others = ", ".join(f"{p} x {m} ({c})" for (p, m), c in sorted(pairs.items())
                       if (p, m) != best)
    notes.append(f"{suite}: labels of prompt {best[0]} x model {best[1]} ({n}) used; "
                 f"also labelled: {others} (choose with --prompt/--model)")
    return [lab for lab in kept if (lab.prompt, lab.model) == best]


def references_of(project: Project, suite: str, *, prompt: str | None = None,
                  model: str | None = None, notes: list[str] | None = None
                  ) -> dict[str, Label]:
    """case id -> the newest passing label with its output, of the chosen pair."""
    book = load_reviews(project, suite)
    passing = [lab for lab in book.labels.values() if lab.passed and lab.output is not None]
    chosen = _pick_pair(passing, prompt, model, suite, notes if notes is not None else [])
    best: dict[str, Label] = {}
    for lab in chosen:
        if lab.case not in best or lab.at > best[lab.case].at:
            best[lab.case] = lab
    return dict(sorted(best.items()))


def promote(project: Project, suites: list[str], *, to: str = "suite",
            var: str = "reference", prompt: str | None = None, model: str | None = None,
            force: bool = False, dry_run: bool = False) -> PromoteResult:
    """Write each suite's reviewed passing outputs as its cases' `var` (see module doc)."""
    if not var.isidentifier():
        raise UserError(f"--var {var!r} is not a variable name (letters, digits, _)")
    result = PromoteResult(to=to, var=var, forced=force, dry_run=dry_run)
    target = None if to == "suite" else _data_target(project, to)
    rows: dict[str, str] = _read_rows(target, var) if target is not None else {}
    for path in project.suite_paths(suites):
        name, file, known, values, loaded = _cases(project, path, var)
        refs = references_of(project, name, prompt=prompt, model=model,
                             notes=result.notes)
        for case_id, lab in refs.items():
            editable = known.get(case_id)
            if editable is None:
                where = "" if loaded else (" (or it comes from a data file or matrix the "
                                           "suite cannot load yet)")
                result.notes.append(f"{name}: case '{case_id}' is no longer in "
                                    f"{file}{where}: skipped")
            elif target is not None:
                result.changes.append(Change(name, case_id, lab.output or "",
                                             rows.get(case_id), lab))
            elif not editable:
                result.notes.append(
                    f"{name}: case '{case_id}' comes from a data file row or a matrix, "
                    f"not editable in {file}: use --to data/references.jsonl")
            else:
                result.changes.append(Change(name, case_id, lab.output or "",
                                             values.get(case_id), lab))
        if target is None:
            mine = [c for c in result.changes if c.suite == name]
            if mine and not dry_run and _edit_suite(path, mine, var, force):
                result.written.append(path)
    if target is not None and not dry_run:
        for c in result.changes:
            if c.kind == "new" or (c.kind == "conflict" and force):
                rows[c.case] = c.text
        if any(c.kind == "new" or (c.kind == "conflict" and force) for c in result.changes):
            _write_rows(target, rows, var)
            result.written.append(target)
    return result


def _cases(project: Project, path: Path, var: str
           ) -> tuple[str, str, dict[str, bool], dict[str, str | None], bool]:
    """The suite's name and display file; case id -> editable in the suite file (an
    entry of its own, not a data row or a matrix combination); each editable case's
    current `var`; whether the whole suite loaded. A suite whose assertions name a var
    it does not define yet (`{{ reference }}` before the first promote) does not load:
    then its own entries, read as YAML, are the cases known."""
    # deferred: the suite loader pulls pydantic's models
    from ..load.suites import load_suite
    from ..load.yamlsrc import load_yaml

    file = display_path(path)
    data, src = load_yaml(path, file)
    entries = data.get("cases") if isinstance(data, dict) else None
    own: dict[str, str | None] = {}
    rows: list[str] = []  # ids of data-file rows, when the suite does not load
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        if "from" in entry and "matrix" not in entry and "id" not in entry:
            rows.extend(_row_ids(project, path, entry["from"], src, i))
        elif "id" in entry and "from" not in entry and "matrix" not in entry:
            vars_ = entry.get("vars")
            own[str(entry["id"])] = _as_text(vars_.get(var)) if isinstance(vars_, dict) \
                else None
    try:
        suite = load_suite(project, path)
    except UserError:
        known = dict.fromkeys(rows, False)
        known.update(dict.fromkeys(own, True))
        return path.stem, file, known, own, False
    known = {c.id: c.id in own and c.origin is None for c in suite.cases}
    return suite.name, file, known, own, True


def _row_ids(project: Project, path: Path, ref: Any, src: Any, i: int) -> list[str]:
    """The case ids of a `from:` entry's rows (no prefix, no matrix); none if unreadable."""
    from ..load.rows import load_rows

    if not isinstance(ref, str):
        return []
    try:
        found = load_rows(path, project.root, ref, src, ("cases", i, "from"), project=project)
    except UserError:
        return []
    return [str(row["id"]) if row.get("id") not in (None, "")
            else f"{Path(row_file).stem}-{line}" for row_file, line, row in found]


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _data_target(project: Project, to: str) -> Path:
    path = Path(to)
    path = path if path.is_absolute() else project.root / path
    if path.suffix not in DATA_SUFFIXES:
        raise UserError(f"--to {to}: a data file ends in .csv or .jsonl (or say --to suite)")
    try:
        path.resolve().relative_to(project.root.resolve())
    except ValueError:
        raise UserError(f"--to {to}: the data file must be inside the project",
                        hint="name a path under the project root, e.g. "
                        "data/references.jsonl") from None
    return path


def _read_rows(path: Path, var: str) -> dict[str, str]:
    """The rows a data file destination already has: id -> reference. Read as a suite
    reads a data file (load/rows.py): a bad row is an error at its line."""
    from ..load.rows import parse_rows  # deferred: only for a data file destination

    if not path.is_file():
        return {}
    file = display_path(path)
    rows: dict[str, str] = {}
    for _, line, row in parse_rows(path.read_text(encoding="utf-8-sig"), file, path.suffix):
        if "id" not in row:
            if path.suffix == ".csv":
                raise UserError("the header needs an 'id' column", file=file, line=1)
            raise UserError("a row needs an 'id'", file=file, line=line)
        rows[str(row["id"])] = _as_text(row.get(var)) or ""
    return rows


def _write_rows(path: Path, rows: dict[str, str], var: str) -> None:
    if path.suffix == ".jsonl":
        body = "".join(json.dumps({"id": k, var: v}, ensure_ascii=False) + "\n"
                       for k, v in rows.items())
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", var])
        writer.writerows([k, v] for k, v in rows.items())
        body = buf.getvalue()
    write_text_atomic(path, body)


def _edit_suite(path: Path, changes: list[Change], var: str, force: bool) -> bool:
    """Set `vars.<var>` of the changed cases' entries; the rest of the text as it was."""
    # deferred: ruamel.yaml only when a suite file is edited
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import LiteralScalarString
    from ruamel.yaml.util import load_yaml_guess_indent

    todo = {c.case: c.text for c in changes
            if c.kind == "new" or (c.kind == "conflict" and force)}
    if not todo:
        return False
    yaml = YAML()  # round trip: comments, key order, flow/block styles kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    text = path.read_text(encoding="utf-8")
    _, seq, offset = load_yaml_guess_indent(text)
    # the file's own indentation: an item's text `seq` in, its dash `offset` in
    seq, offset = seq or 2, offset or 0
    yaml.indent(mapping=max(seq - offset, 2), sequence=seq, offset=offset)
    doc = yaml.load(text)
    for entry in doc.get("cases") or []:
        if not isinstance(entry, dict) or str(entry.get("id")) not in todo:
            continue
        vars_ = entry.get("vars")
        if vars_ is None:
            vars_ = CommentedMap()
            entry["vars"] = vars_
        elif not isinstance(vars_, dict):  # the suite's own error, lint names its line
            continue
        value = todo[str(entry.get("id"))]
        # a text of several lines as a `|` block, as a person would write it
        vars_[var] = LiteralScalarString(value) if "\n" in value.strip() else value
    buf = io.StringIO()
    yaml.dump(doc, buf)
    write_text_atomic(path, buf.getvalue())
    return True
