"""`promptctl review import FILE`: the labels the review page downloaded
(labels-<run>.json, shape artifacts.LabelsFile) merged into reviews/<suite>.yaml.

Invariants: the whole file is checked before anything is written (size bounded by
artifacts.LABELS_MAX_BYTES; every field; each suite a suite of the project; each
output_sha256 the sha256 of its output); a bad file is one UserError naming the file,
the line and the entry's index and field. Per suite, the labels that do not conflict
are written (load_reviews + merge + write_reviews); a label whose output already has a
different judgement is a conflict, left out and listed, unless `force` (then the
incoming one wins). A suite with nothing added or changed is not rewritten."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError, suggest
from ..load.reviews import (
    VERDICTS,
    Conflict,
    Label,
    load_reviews,
    merge,
    output_sha256,
    write_reviews,
)

if TYPE_CHECKING:
    from ..load.project import Project

HINT = "export the file again from the review page (Save labels), or fix the entry"


@dataclass
class SuiteImport:
    suite: str
    file: str  # reviews/<suite>.yaml, as displayed
    changed: int  # labels added or changed
    conflicts: list[Conflict] = field(default_factory=list)
    wrote: Path | None = None


@dataclass
class ImportResult:
    file: str
    run: str
    total: int  # labels in the file
    suites: list[SuiteImport] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.suites)

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for s in self.suites for c in s.conflicts]


def read_labels(project: Project, path: Path) -> tuple[str, dict[str, list[Label]]]:
    """The file's run id and its labels by suite; UserError for anything wrong."""
    # deferred: the pydantic shapes of artifacts.py are built on the first read
    from ..artifacts import (
        LABELS_KIND,
        LABELS_MAX_BYTES,
        LABELS_VERSION,
        LabelsFile,
        json_line,
        read_json,
    )
    from ..schema import SHA256, UTC

    shown = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UserError(f"cannot read the labels file: {exc.strerror}", file=shown,
                        hint="give the labels-<run>.json the review page saved") from None
    if not path.is_file():
        raise UserError("the labels file is not a regular file", file=shown,
                        hint="give the labels-<run>.json the review page saved")
    if size > LABELS_MAX_BYTES:
        raise UserError(f"the labels file is {size} bytes, more than the "
                        f"{LABELS_MAX_BYTES} a labels file may have", file=shown,
                        hint="save fewer labels per file")
    doc, _, text = read_json(path, LabelsFile, shown, "labels file", HINT)
    for key, want, have in (("kind", LABELS_KIND, doc.kind),
                            ("version", LABELS_VERSION, doc.version)):
        if have != want:
            raise UserError(f"{key} is {have!r}, not {want!r}: not a labels file of this "
                            "promptctl", file=shown, line=json_line(text, (key,)),
                            hint="give the labels-<run>.json the review page saved")
    known = [p.stem for p in project.suite_paths()]
    by_suite: dict[str, list[Label]] = {}
    for i, e in enumerate(doc.labels):
        def bad(what: str, key: str, hint: str, i: int = i) -> UserError:
            return UserError(f"labels[{i}].{key}: {what}", file=shown,
                             line=json_line(text, ("labels", i, key)), hint=hint)
        if e.verdict not in VERDICTS:
            raise bad(f"verdict {e.verdict!r} is not pass or fail", "verdict",
                      "write \"pass\" or \"fail\"")
        if not UTC.fullmatch(e.at):
            raise bad(f"{e.at!r} is not a UTC time to the second", "at",
                      "write it as 2026-12-02T22:40:00Z")
        if not e.by.strip():
            raise bad("is empty", "by", "name the reviewer (an email address)")
        if e.score is not None and not 0 <= e.score <= 1:
            raise bad(f"score {e.score} is not between 0 and 1", "score",
                      "give a score from 0 to 1, or leave it out")
        if e.suite not in known:
            raise bad(f"no suite '{e.suite}' in this project", "suite",
                      suggest(e.suite, known) or "import into the project the run came from")
        if not SHA256.fullmatch(e.output_sha256):
            raise bad("is not 64 lowercase hex digits", "output_sha256", HINT)
        if output_sha256(e.output) != e.output_sha256:
            raise bad("is not the sha256 of the entry's output (the output was edited?)",
                      "output_sha256", HINT)
        by_suite.setdefault(e.suite, []).append(Label(
            case=e.case, prompt=e.prompt, model=e.model, output_sha256=e.output_sha256,
            verdict=e.verdict, by=e.by, at=e.at, output=e.output, score=e.score,
            note=e.note or None))
    return doc.run, by_suite


def import_labels(project: Project, path: Path, *, force: bool) -> ImportResult:
    run, by_suite = read_labels(project, path)
    result = ImportResult(str(path), run, sum(len(v) for v in by_suite.values()))
    books = {suite: load_reviews(project, suite) for suite in sorted(by_suite)}  # all read first
    for suite, book in books.items():
        changed, conflicts = merge(book, by_suite[suite], force=force)
        one = SuiteImport(suite, book.file, changed, conflicts)
        if changed:
            one.wrote = write_reviews(project, book)
        result.suites.append(one)
    return result
