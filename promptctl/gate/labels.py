"""A run's records joined to the human labels of reviews/ (issue 17 items 2 and 3).

Owns two answers: what a reviewer said about each record's output, beside what the
suite's assertions said (`label_views`, shown by every report), and which outputs are
left to review (`review_items`, what `promptctl review` and its page go through).

A record's *view* is labelled (a label names this exact output), stale (the cell has
labels, none for this output: the output changed since it was reviewed; the view
carries the newest of them) or unlabelled. A disagreement is only ever between a label
on this exact output and the record's verdict:

- "gap": the reviewer failed an output the suite passed (its assertions miss something);
- "strict": the reviewer passed an output the suite failed (an assertion is too strict).

Invariants: a record without an output (an error, a call that never answered) has no
view and is never an item: there is nothing to label. Repeats of a cell with the same
output text are one item (a label names the text, not the sample). Items come in a
stable order: suite, case, prompt, model, then the first repeat that produced the
text. Reading labels never writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..assertions.judges import is_model_graded
from ..errors import UserError
from ..load.project import Project
from ..load.reviews import Label, Reviews, load_reviews, output_sha256
from ..results import CallRecord, CellKey, RecordKey

ONLY = ("failing", "judged", "unlabelled", "disagreements")
# what each disagreement says about the suite, as the reports word it
DISAGREEMENTS = {
    "gap": "the reviewer failed an output the suite passed: its assertions miss something",
    "strict": "the reviewer passed an output the suite failed: an assertion is too strict",
}


@dataclass(frozen=True)
class LabelView:
    state: str  # "labelled" | "stale" | "unlabelled"
    label: Label | None  # labelled: this output's; stale: the cell's newest
    suite: str  # the record's status: "pass" | "fail" | "error"

    @property
    def disagreement(self) -> str | None:
        if self.state != "labelled" or self.label is None or self.suite == "error":
            return None
        if self.label.passed == (self.suite == "pass"):
            return None
        return "strict" if self.label.passed else "gap"

    def words(self) -> str:
        """What a report prints beside the output: empty when there is no label."""
        if self.label is None:
            return ""
        if self.state == "stale":
            return f"label stale (output changed; was {self.label.verdict})"
        if self.disagreement is not None:
            return f"reviewer: {self.label.verdict}, suite: {self.suite}"
        return f"reviewer: {self.label.verdict}"

    def to_dict(self) -> dict[str, Any]:
        """The label as the JSON reports carry it (only views with a label have one)."""
        assert self.label is not None
        lab = self.label
        return {"state": self.state, "verdict": lab.verdict, "score": lab.score,
                "note": lab.note, "by": lab.by, "at": lab.at,
                "disagreement": self.disagreement}

    @property
    def rank(self) -> int:
        """Which of a cell's views a report shows: a disagreement, then a label on
        this output, then a stale one."""
        return (self.disagreement is not None) * 4 + (self.state == "labelled") * 2 \
            + (self.label is not None)


def reviews_of(project: Project, suites: Iterable[str]) -> dict[str, Reviews]:
    """Each named suite's reviews/ file, loaded once (a missing file is an empty one)."""
    return {name: load_reviews(project, name) for name in sorted(set(suites))}


def view_of(book: Reviews | None, record: CallRecord) -> LabelView | None:
    if record.output is None:
        return None
    if book is None:
        return LabelView("unlabelled", None, record.status)
    label = book.get(record.case, record.prompt, record.model, record.output)
    if label is not None:
        return LabelView("labelled", label, record.status)
    earlier = book.of_cell(record.case, record.prompt, record.model)
    if earlier:
        return LabelView("stale", earlier[0], record.status)
    return LabelView("unlabelled", None, record.status)


def label_views(project: Project, records: Sequence[CallRecord], *,
                reviews: dict[str, Reviews] | None = None) -> dict[RecordKey, LabelView]:
    """Every record with an output, keyed by its RecordKey."""
    books = reviews if reviews is not None else reviews_of(project, (r.suite for r in records))
    views: dict[RecordKey, LabelView] = {}
    for rec in records:
        view = view_of(books.get(rec.suite), rec)
        if view is not None:
            views[rec.key] = view
    return views


def cell_views(views: Mapping[RecordKey, LabelView]) -> dict[CellKey, LabelView]:
    """One view per cell, for the reports that show cells (repeats in one row): the
    highest-ranked of its samples' (LabelView.rank); cells without a label have none."""
    out: dict[CellKey, LabelView] = {}
    for key, view in views.items():
        if view.label is None:
            continue
        cell = (key[0], key[1], key[2], key[3])
        if cell not in out or view.rank > out[cell].rank:
            out[cell] = view
    return out


@dataclass
class ReviewItem:
    """One distinct output of one cell, to review."""

    suite: str
    case: str
    prompt: str
    model: str
    output: str
    sha: str
    view: LabelView
    records: list[CallRecord] = field(default_factory=list)

    @property
    def record(self) -> CallRecord:
        return self.records[0]

    @property
    def judged(self) -> bool:
        return any(is_model_graded(a.type) for r in self.records for a in r.assertions)

    @property
    def failing(self) -> bool:
        return any(r.status != "pass" for r in self.records)

    def judge_reasons(self) -> list[tuple[str, bool, str]]:
        """(type, passed, reason) of the first sample's model-graded results."""
        return [(a.type, a.passed, a.reason) for a in self.record.assertions
                if is_model_graded(a.type)]


def check_only(only: Sequence[str]) -> list[str]:
    """The `--only` filters, each one of ONLY (comma-separated values are split)."""
    names = [part.strip() for value in only for part in value.split(",") if part.strip()]
    for name in names:
        if name not in ONLY:
            raise UserError(f"--only {name!r} is not a filter",
                            hint=f"use one of: {', '.join(ONLY)}")
    return names


def _keeps(item: ReviewItem, name: str) -> bool:
    if name == "failing":
        return item.failing
    if name == "judged":
        return item.judged
    if name == "unlabelled":
        return item.view.state != "labelled"
    return item.view.disagreement is not None  # "disagreements"


def review_items(project: Project, records: Sequence[CallRecord], *,
                 only: Sequence[str] = (),
                 reviews: dict[str, Reviews] | None = None) -> list[ReviewItem]:
    """The distinct outputs of `records`, in a stable order, each kept only when every
    filter of `only` holds ("unlabelled" keeps stale ones too: their output is new)."""
    filters = check_only(only)
    books = reviews if reviews is not None else reviews_of(project, (r.suite for r in records))
    by_output: dict[tuple[str, str, str, str, str], ReviewItem] = {}
    for rec in sorted(records, key=lambda r: r.key):
        view = view_of(books.get(rec.suite), rec)
        if view is None or rec.output is None:
            continue
        sha = output_sha256(rec.output)
        key = (*rec.cell, sha)
        item = by_output.get(key)
        if item is None:
            item = by_output[key] = ReviewItem(rec.suite, rec.case, rec.prompt, rec.model,
                                               rec.output, sha, view)
        item.records.append(rec)
    return [item for item in by_output.values() if all(_keeps(item, f) for f in filters)]
