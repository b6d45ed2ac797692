"""One point of a history and what changed between two: `Tally` is fed a point's samples
(a saved run's records, or a baseline commit's cells) and makes a `Point`; `changes`
says, in words, what moved between two consecutive points of a suite; `Gathered` holds a
source's points per suite. Shared by the two sources (history.py: saved runs;
history_git.py: baseline commits).

A point pools its cells as run/summary.py pools a run: a cell fails if any sample
failed, an error counts only when nothing failed, error samples are left out of the
pass rate, whose interval treats the repeats of one case as one cluster. Perturbed
variants (case ids CASE~ID) are counted apart and never enter a point. A model's
fingerprint in a point pools the `served` of all its cells (OpenAI rotates
system_fingerprints: a fingerprint already seen is no change).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..results import SuiteCellKey, canonical
from ..run.summary import cell_status
from .diff import pooled, served_change, served_label

SEP = "~"  # CASE~PERTURBATION: a perturbed variant's case id


# -- one point ---------------------------------------------------------------------


@dataclass
class Metric:
    mean: float
    ci: tuple[float, float]
    n: int  # samples
    scores: list[float]  # one per cell: the mean over its repeats (what mean_drift reads)


@dataclass
class Point:
    """One suite at one moment: counts, pass rate, metrics, models, what changed."""

    id: str
    label: str  # short, for axes and sentences
    title: str  # long, for tables and tooltips
    time: str
    cases: int
    passed: int
    failed: int
    errors: int
    samples: int  # scored samples (errors left out): what the drift test counts
    passed_samples: int
    pass_rate: float | None
    ci: tuple[float, float] | None
    metrics: dict[str, Metric]
    models: dict[str, dict[str, Any]]  # alias -> {"identity": text, "served": text | None}
    variants: int = 0  # perturbed variant cells left out
    changes: list[str] = field(default_factory=list)
    run_id: str | None = None
    commit: dict[str, str] | None = None
    # what `changes` compares; not in the document
    shas: dict[SuiteCellKey, str] = field(default_factory=dict, repr=False)
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    case_ids: frozenset[str] = frozenset()


class Tally:
    """A point's data, fed one sample at a time (a run's records, a baseline's cells)."""

    def __init__(self) -> None:
        self.status: dict[SuiteCellKey, str] = {}
        self.outcomes: dict[SuiteCellKey, list[float]] = {}
        self.metrics: dict[str, dict[SuiteCellKey, list[float]]] = {}
        self.shas: dict[SuiteCellKey, str] = {}
        self.fingerprints: dict[str, dict[str, Any]] = {}
        # per model, the distinct `served` its cells reported (OpenAI rotates fingerprints)
        self.served: dict[str, dict[str, dict[str, Any]]] = {}
        self.variants: set[SuiteCellKey] = set()

    def add(self, key: SuiteCellKey, *, passed: bool, error: bool,
            metrics: Iterable[tuple[str, float]], fingerprint: dict[str, Any]) -> None:
        if SEP in key[0]:
            self.variants.add(key)
            return
        status = "error" if error else "pass" if passed else "fail"
        self.status[key] = cell_status(self.status.get(key), status)
        self.fingerprints.setdefault(key[2], fingerprint)
        served = fingerprint.get("served")
        if isinstance(served, dict):
            self.served.setdefault(key[2], {}).setdefault(canonical(served), served)
        sha = fingerprint.get("prompt_sha256")
        if isinstance(sha, str):
            self.shas.setdefault(key, sha)
        if error:
            return
        self.outcomes.setdefault(key, []).append(1.0 if passed else 0.0)
        for name, score in metrics:
            self.metrics.setdefault(name, {}).setdefault(key, []).append(float(score))

    def add_record(self, rec: dict[str, Any]) -> None:
        """One records.jsonl line, validated (store.read_record_dicts)."""
        self.add((rec["case"], rec["prompt"], rec["model"]), passed=rec.get("passed", False),
                 error=rec.get("error") is not None,
                 metrics=((a["metric"], a["score"]) for a in rec.get("assertions", ())
                          if a.get("metric")),
                 fingerprint=rec.get("fingerprint") or {})

    def __bool__(self) -> bool:
        return bool(self.status)

    def point(self, id: str, label: str, title: str, time: str, alpha: float) -> Point:
        # deferred: stats only once a point is made
        from .. import stats

        counts = {"pass": 0, "fail": 0, "error": 0}
        for status in self.status.values():
            counts[status] += 1
        clusters = list(self.outcomes.values())
        samples = sum(len(c) for c in clusters)
        passed_samples = int(sum(sum(c) for c in clusters))
        rate: float | None = None
        ci: tuple[float, float] | None = None
        if samples:
            rate, lo, hi = stats.rate_interval(clusters, alpha)
            ci = (lo, hi)
        metrics = {}
        for name, by_cell in sorted(self.metrics.items()):
            groups = list(by_cell.values())
            mean, lo, hi = stats.mean_interval(groups, alpha)
            metrics[name] = Metric(mean, (lo, hi), sum(len(g) for g in groups),
                                   [sum(g) / len(g) for g in groups])
        # a model's fingerprint, with one `served` for what all its cells reported
        fingerprints = {alias: pooled([{**fp, "served": s} for s in self.served[alias].values()])
                        if alias in self.served else fp
                        for alias, fp in self.fingerprints.items()}
        return Point(id=id, label=label, title=title, time=time, cases=len(self.status),
                     passed=counts["pass"], failed=counts["fail"], errors=counts["error"],
                     samples=samples, passed_samples=passed_samples, pass_rate=rate, ci=ci,
                     metrics=metrics, variants=len(self.variants),
                     models={alias: model_entry(fp)
                             for alias, fp in sorted(fingerprints.items())},
                     shas=dict(self.shas), fingerprints=fingerprints,
                     case_ids=frozenset(key[0] for key in self.status))


def identity_text(model: Any) -> str:
    """A fingerprint's model identity in a few words: "llama-cpp smollm2 sha256:1a2b…"."""
    if not isinstance(model, dict):
        return "unknown" if model is None else str(model)
    words = [str(model[k]) for k in ("provider", "model") if model.get(k) is not None]
    digest = model.get("sha256")
    if isinstance(digest, str) and digest:
        words.append(f"sha256:{digest[:12]}…")
    return " ".join(words) or canonical(model)


def model_entry(fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {"identity": identity_text(fingerprint.get("model")),
            "served": served_label(fingerprint)}


# -- what changed between two points -------------------------------------------------


def changes(before: Point, after: Point) -> list[str]:
    out: list[str] = []
    edited = sorted({key[1] for key, sha in after.shas.items()
                     if before.shas.get(key) not in (None, sha)})
    out += [f"prompt edited: {prompt}" for prompt in edited]
    for alias in sorted(set(before.fingerprints) | set(after.fingerprints)):
        old, new = before.fingerprints.get(alias), after.fingerprints.get(alias)
        if old is None:
            out.append(f"model added: {alias} {identity_text((new or {}).get('model'))}")
        elif new is None:
            out.append(f"model removed: {alias}")
        else:
            if canonical(old.get("model")) != canonical(new.get("model")):
                out.append(f"model swapped: {alias} {identity_text(old.get('model'))} -> "
                           f"{identity_text(new.get('model'))}")
            if canonical(old.get("params")) != canonical(new.get("params")):
                out.append(f"params changed: {alias}")
            said = served_change(old, new)
            if said:
                out.append(said)
    added = len(after.case_ids - before.case_ids)
    removed = len(before.case_ids - after.case_ids)
    if added:
        out.append(f"cases added: {added}")
    if removed:
        out.append(f"cases removed: {removed}")
    return out


def link(points: list[Point]) -> list[Point]:
    """Each point's changes since the one before it (the first has none)."""
    for before, after in itertools.pairwise(points):
        after.changes = changes(before, after)
    return points


@dataclass
class Gathered:
    """Points per suite (oldest first), and what was left out and why."""

    source: str
    points: dict[str, list[Point]]
    notes: list[str] = field(default_factory=list)
    models_seen: set[str] = field(default_factory=set)
    suites_seen: set[str] = field(default_factory=set)  # named or not
