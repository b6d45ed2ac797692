"""Judge calibration: every model-graded assertion's verdicts against the human labels
of reviews/ on the same outputs (`promptctl calibrate`, issue 17 item 4).

Owns which verdicts meet which labels and how they are grouped; the numbers (kappa,
its interval, the gate, two judges compared) are promptctl/agreement.py's.

A *pair* is one model-graded result (llm-rubric, factuality, answer-relevance, or
their `not-` forms) on one labelled output: the judge's verdict and the reviewer's.
Pairs are grouped twice:

- by **judge** (the assertion's `judge:`, else promptctl.yaml's `judge`, else
  `default`), pooled over every suite given; its `min_kappa` is the judge's model
  entry's (`models: {NAME: {..., min_kappa: 0.6}}`);
- by **assertion as written** (its file and line: one in `defaults` covers every
  case), with the assertion's own `min_kappa:`.

Invariants: a label applies only to the exact output it names (a stale label is
counted, never paired); repeats of a cell with the same output are one pair; an
output without a verdict (an error) gives none; `failed` is True only when a group
with a `min_kappa` has a kappa significantly below it (agreement.kappa_below); a group
whose kappa is undefined is reported with the reason, never gated. Re-judging with
`judges=[A, B]` calls only the judges, never the models under test, through the
response cache like a run's judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..agreement import Comparison, Kappa, compare_judges, kappa, kappa_below
from ..assertions.judges import is_model_graded
from ..errors import UserError, suggest
from ..load.project import Project
from ..load.reviews import Reviews, load_reviews
from ..load.suites import Case, Suite
from ..results import CallRecord


@dataclass(frozen=True)
class Pair:
    """One judge verdict on one labelled output."""

    suite: str
    case: str
    prompt: str
    model: str
    sha: str
    index: int  # the assertion's place in the case's list
    type: str
    where: str  # the assertion as written: "suites/x.yaml:12"
    judge: str  # the judge's model alias
    judged: bool  # the judge's verdict
    human: bool  # the reviewer's verdict
    reason: str  # the judge's
    note: str | None  # the reviewer's
    output: str


@dataclass
class Group:
    kind: str  # "judge" | "assertion"
    name: str  # the judge alias, or "suites/x.yaml:12 llm-rubric"
    min_kappa: float | None
    pairs: list[Pair] = field(default_factory=list)
    alpha: float = 0.05

    @property
    def stats(self) -> Kappa:
        return kappa([(p.judged, p.human) for p in self.pairs], self.alpha)

    @property
    def below(self) -> bool:
        return self.min_kappa is not None and kappa_below(self.stats, self.min_kappa,
                                                          self.alpha)

    @property
    def disagreements(self) -> list[Pair]:
        return [p for p in self.pairs if p.judged != p.human]


@dataclass
class Calibration:
    run_id: str | None
    pairs: list[Pair]
    judges: list[Group]
    assertions: list[Group]
    stale: int  # judged outputs whose cell has labels, none for this output
    unlabelled: int  # judged outputs of cells with no label
    comparison: tuple[str, str, Comparison] | None = None

    @property
    def failed(self) -> bool:
        return any(g.below for g in (*self.judges, *self.assertions))


def judge_of(project: Project, spec: Any) -> str:
    alias = spec.options.get("judge")
    return alias if isinstance(alias, str) and alias else project.config.judge or "default"


def _model_min_kappa(project: Project, alias: str) -> float | None:
    entry = project.config.models.get(alias)
    return entry.min_kappa if entry is not None else None


def pairs_of(project: Project, suites: Sequence[Suite], records: Sequence[CallRecord],
             reviews: dict[str, Reviews], *, judge: str | None = None,
             verdicts: dict[tuple[Any, ...], tuple[bool, str]] | None = None
             ) -> tuple[list[Pair], int, int]:
    """The pairs of `records` (a saved run's) and the counts of stale and unlabelled
    judged outputs. With `verdicts` ((record key, index) -> (passed, reason)), those
    replace the run's: a re-judging by `judge`."""
    cases: dict[tuple[str, str], Case] = {(s.name, c.id): c for s in suites for c in s.cases}
    pairs: list[Pair] = []
    seen: set[tuple[Any, ...]] = set()
    stale = unlabelled = 0
    for rec in records:
        if rec.output is None or rec.error is not None or (rec.suite, rec.case) not in cases:
            continue
        case = cases[rec.suite, rec.case]
        graded = [(i, r) for i, r in enumerate(rec.assertions) if is_model_graded(r.type)
                  and i < len(case.asserts) and case.asserts[i].type == r.type]
        if not graded:
            continue
        book = reviews.get(rec.suite)
        label = book.get(rec.case, rec.prompt, rec.model, rec.output) if book else None
        if label is None:
            state = book.state(rec.case, rec.prompt, rec.model, rec.output) if book \
                else "unlabelled"
            if (rec.cell, state) not in seen:
                seen.add((rec.cell, state))
                stale += state == "stale"
                unlabelled += state == "unlabelled"
            continue
        for i, result in graded:
            key = (*rec.cell, label.output_sha256, i)
            if key in seen:
                continue
            seen.add(key)
            spec = case.asserts[i]
            passed, reason = result.passed, result.reason
            if verdicts is not None:
                got = verdicts.get((rec.key, i))
                if got is None:
                    continue
                passed, reason = got
            line = case.assert_lines[i] if i < len(case.assert_lines) else None
            where = f"{case.file}:{line}" if line else case.file
            pairs.append(Pair(rec.suite, rec.case, rec.prompt, rec.model,
                              label.output_sha256, i, result.type, where,
                              judge or judge_of(project, spec), passed, label.passed,
                              reason, label.note, rec.output))
    return pairs, stale, unlabelled


def group(project: Project, suites: Sequence[Suite], pairs: Sequence[Pair],
          alpha: float = 0.05) -> tuple[list[Group], list[Group]]:
    specs = {(s.name, c.id, i): spec for s in suites for c in s.cases
             for i, spec in enumerate(c.asserts)}
    judges: dict[str, Group] = {}
    by_assertion: dict[str, Group] = {}
    for p in pairs:
        if p.judge not in judges:
            judges[p.judge] = Group("judge", p.judge, _model_min_kappa(project, p.judge),
                                    alpha=alpha)
        judges[p.judge].pairs.append(p)
        name = f"{p.where} {p.type}"
        if name not in by_assertion:
            spec = specs.get((p.suite, p.case, p.index))
            raw = spec.options.get("min_kappa") if spec is not None else None
            by_assertion[name] = Group("assertion", name,
                                       float(raw) if raw is not None else None,
                                       alpha=alpha)
        by_assertion[name].pairs.append(p)
    return list(judges.values()), list(by_assertion.values())


def calibrate(project: Project, suites: Sequence[Suite], records: Sequence[CallRecord], *,
              run_id: str | None = None, judges: Sequence[str] = (),
              alpha: float = 0.05) -> Calibration:
    """The run's judges against reviews/; with `judges`, each named model re-judges the
    labelled outputs instead (two of them are compared, paired)."""
    if len(judges) > 2:
        raise UserError("--judge compares at most two judges", hint="give --judge once "
                        "or twice")
    for alias in judges:
        if alias not in project.config.models and alias != "default":
            raise UserError(f"no model named {alias!r} in promptctl.yaml",
                            file=project.config_file,
                            hint=suggest(alias, project.config.models) or
                            "add it under models:, or name one that is there")
    reviews = {s.name: load_reviews(project, s.name) for s in suites}
    if not judges:
        pairs, stale, unlabelled = pairs_of(project, suites, records, reviews)
        by_judge, by_assertion = group(project, suites, pairs, alpha)
        return Calibration(run_id, pairs, by_judge, by_assertion, stale, unlabelled)
    all_pairs: list[Pair] = []
    per_judge: list[list[Pair]] = []
    stale = unlabelled = 0
    for alias in judges:
        verdicts = rejudge(project, suites, records, reviews, alias)
        pairs, stale, unlabelled = pairs_of(project, suites, records, reviews,
                                            judge=alias, verdicts=verdicts)
        per_judge.append(pairs)
        all_pairs += pairs
    by_judge, by_assertion = group(project, suites, all_pairs, alpha)
    comparison = None
    if len(judges) == 2:
        keys_b = {_pair_key(p): p for p in per_judge[1]}
        both = [(p, keys_b[_pair_key(p)]) for p in per_judge[0] if _pair_key(p) in keys_b]
        comparison = (judges[0], judges[1], compare_judges(
            [(p.judged, p.human) for p, _ in both], [(q.judged, q.human) for _, q in both],
            alpha=alpha))
    return Calibration(run_id, all_pairs, by_judge, by_assertion, stale, unlabelled,
                       comparison)


def _pair_key(p: Pair) -> tuple[Any, ...]:
    return (p.suite, p.case, p.prompt, p.model, p.sha, p.index)


def rejudge(project: Project, suites: Sequence[Suite], records: Sequence[CallRecord],
            reviews: dict[str, Reviews], alias: str) -> dict[tuple[Any, ...], tuple[bool, str]]:
    """Each labelled output's model-graded assertions, judged again by `alias`."""
    # deferred: the runner (providers, cache) only when a judge is asked again
    from .. import assertions
    from ..run.options import RunOptions
    from ..run.runner import Runner

    cases = {(s.name, c.id): c for s in suites for c in s.cases}
    runner = Runner(project, RunOptions())
    out: dict[tuple[Any, ...], tuple[bool, str]] = {}
    done: dict[tuple[Any, ...], tuple[bool, str]] = {}
    try:
        for rec in records:
            case = cases.get((rec.suite, rec.case))
            book = reviews.get(rec.suite)
            if case is None or rec.output is None or rec.error is not None or book is None \
                    or book.get(rec.case, rec.prompt, rec.model, rec.output) is None:
                continue
            ctx = assertions.AssertionContext(
                vars=case.check_vars, messages=rec.messages, root=project.root,
                prompt=rec.prompt, model=rec.model, services=runner.services,
                check_timeout=project.config.limits.check_timeout,
                description=case.description, metadata=case.metadata)
            for i, spec in enumerate(case.asserts):
                if not is_model_graded(spec.type):
                    continue
                memo = (*rec.cell, rec.output, i)
                if memo not in done:
                    again = type(spec).model_validate({**spec.model_dump(), "judge": alias})
                    result = assertions.evaluate(again, rec.output, ctx)
                    done[memo] = (result.passed, result.reason)
                out[rec.key, i] = done[memo]
    finally:
        runner.close()
    return out
