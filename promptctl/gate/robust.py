"""`promptctl robust`: how much does a suite's pass rate move when its inputs are
perturbed, and is that more than noise?

Where the cells come from: a perturbed variant of a clean case is a case of its own
(load/variants.py) whose id is `CLEAN~PERTURBATION`. Records carry nothing else, so the
pairs are read from the case ids alone (a saved run analyses without its suites); the
suites, as they are now, only add what a perturbation declares: its family (`type`)
and its `max_drop`.

The unit of evidence is the case, its own control. A *row* is one (suite, perturbation,
prompt, model); its pairs are each clean cell (case, prompt, model) with the matching
variant cell. Per pair, d = the variant's pass rate - the clean cell's (over its
repeats): the paired sign-flip test of `compare` (exact McNemar on pass/fail cases,
stats.signflip_two_sided) and the interval that inverts it (stats.paired_interval),
through compare.paired_differences, so an interval never contradicts its verdict.

Families (Holm's adjustment): the pass-rate tests of one suite's rows (its every
perturbation x prompt x model) are one family at alpha. So a suite with ten
perturbations fails on pure noise no more often than a suite with one, and a suite's
verdict does not depend on which other suites ran beside it (`robust triage` says what
`robust` says about triage); with S suites the command as a whole can fail on noise
with a chance up to S x alpha. The named metrics of a suite's rows are a second family:
reported with intervals and p-values, never gated, so adding a metric never weakens the
gate.

Numbers: each side's pass rate is over its samples with the clustered interval `run`
reports (stats.rate_interval, at 1 - alpha); the drop is the paired mean over cases of
clean - perturbed; PDR = 1 - perturbed / clean (PromptBench), undefined (None) when the
clean pass rate is 0. `max_drop` on a perturbation is a gate on the drop in pass rate
(0.1 = ten points, as a suite's `max_drop` in `check`): the row fails when its drop is
significant and larger than max_drop.

Nothing here calls a model: robust_run.py makes (or loads) the run, this module reads
its records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import stats
from ..errors import ExitCode
from ..load.suites import Suite
from ..results import CallRecord, CellKey
from ..schema import PerturbSpec
from .compare import Difference, Pair, paired_differences
from .diff import word_diff

SEP = "~"  # CLEAN~PERTURBATION: the one separator of a variant's case id
COUNTERFACTUAL = "counterfactual"
LIMIT = 20  # counterfactual contrasts kept per row (the count is always whole)
EPS = 1e-9


def split_id(case: str) -> tuple[str, str] | None:
    """(clean id, perturbation id) of a variant's case id; None for a clean case."""
    clean, sep, pid = case.partition(SEP)
    return (clean, pid) if sep and clean and pid else None


def perturbations_of(suite: Suite) -> list[PerturbSpec]:
    """The suite's PerturbSpecs (Suite.perturbations: every one its cases use, once)."""
    return list(suite.perturbations)


# -- the numbers of a row ------------------------------------------------------------
@dataclass
class Estimate:
    """A pass rate (or a metric's mean) over cases and their samples, with its interval."""

    value: float
    lo: float
    hi: float
    cases: int
    samples: int


def _rate(groups: Sequence[Sequence[CallRecord]], alpha: float) -> Estimate:
    clusters = [[1.0 if r.passed else 0.0 for r in g if r.error is None] for g in groups]
    value, lo, hi = stats.rate_interval(clusters, alpha)
    return Estimate(value, lo, hi, len(clusters), sum(len(c) for c in clusters))


def _mean(clusters: list[list[float]], alpha: float) -> Estimate:
    value, lo, hi = stats.mean_interval(clusters, alpha)
    return Estimate(value, lo, hi, len(clusters), sum(len(c) for c in clusters))


def pdr(clean: float, perturbed: float) -> float | None:
    """PromptBench's performance drop rate, 1 - perturbed / clean; None when clean is 0
    (a drop from nothing has no rate)."""
    return None if clean <= 0 else 1 - perturbed / clean


def _scores(recs: Sequence[CallRecord], metric: str) -> list[float]:
    return [float(a.score) for r in recs if r.error is None for a in r.assertions
            if a.metric == metric]


@dataclass
class MetricChange:
    name: str
    clean: Estimate
    perturbed: Estimate
    test: Difference

    @property
    def pdr(self) -> float | None:
        return pdr(self.clean.value, self.perturbed.value)


@dataclass
class Contrast:
    """A counterfactual pair whose verdict or first output differs between the sides."""

    case: str
    clean: CallRecord
    perturbed: CallRecord
    clean_rate: float
    perturbed_rate: float

    @property
    def verdict_differs(self) -> bool:
        return self.clean_rate != self.perturbed_rate

    def output_diff(self) -> list[tuple[str, str]]:
        return word_diff(self.clean.output or self.clean.error or "",
                         self.perturbed.output or self.perturbed.error or "")

    def input_diff(self) -> list[tuple[str, str]]:
        return word_diff(_input(self.clean), _input(self.perturbed))


def _input(rec: CallRecord) -> str:
    return "\n".join(str(m.get("content", "")) for m in rec.messages)


@dataclass
class Row:
    """One perturbation of one suite on one prompt and model."""

    suite: str
    perturbation: str
    family: str | None  # the perturbation's type, None when the suite no longer declares it
    prompt: str
    model: str
    max_drop: float | None
    pairs: list[Pair] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # variants whose clean cell did not run
    clean: Estimate | None = None
    perturbed: Estimate | None = None
    test: Difference | None = None  # perturbed - clean, per case
    metrics: list[MetricChange] = field(default_factory=list)
    contrasts: list[Contrast] = field(default_factory=list)  # counterfactual only
    contrast_count: int = 0

    @property
    def label(self) -> str:
        return f"{self.perturbation} [{self.prompt} / {self.model}]"

    @property
    def scored(self) -> list[Pair]:
        return [p for p in self.pairs if p.scored]

    @property
    def unscored(self) -> list[str]:
        return [p.key[1] for p in self.pairs if not p.scored]

    def _moved(self, sign: int) -> list[str]:
        return [p.key[1] for p in self.scored
                if sign * (Pair.rate(p.b) - Pair.rate(p.a)) > EPS]

    @property
    def pass_to_fail(self) -> list[str]:
        """Clean case ids that pass less often perturbed (pass -> fail on one sample)."""
        return self._moved(-1)

    @property
    def fail_to_pass(self) -> list[str]:
        return self._moved(+1)

    @property
    def drop(self) -> float | None:
        """clean - perturbed pass rate, the paired mean over cases (positive: a drop)."""
        return None if self.test is None else 0.0 - self.test.diff  # never -0.0

    @property
    def drop_ci(self) -> tuple[float, float] | None:
        return None if self.test is None else (0.0 - self.test.hi, 0.0 - self.test.lo)

    @property
    def pdr(self) -> float | None:
        if self.clean is None or self.perturbed is None:
            return None
        return pdr(self.clean.value, self.perturbed.value)

    @property
    def significant(self) -> bool:
        return self.test is not None and self.test.significant

    @property
    def gate(self) -> str | None:
        """None without max_drop; else 'fail', 'pass', or 'no verdict' (nothing scored)."""
        if self.max_drop is None:
            return None
        if self.test is None:
            return "no verdict"
        drop = self.drop or 0.0
        return "fail" if self.significant and drop > self.max_drop + EPS else "pass"

    def verdict(self) -> str:
        """In words: what the test says, then the gate's outcome."""
        if self.test is None:
            word = "no case scored on both sides"
        elif self.significant:
            word = "significant drop" if self.test.diff < 0 else "significant gain"
        else:
            word = "no detectable change"
        gate = self.gate
        if gate == "fail":
            return f"{word}: GATE FAILED (max_drop {self.max_drop:g})"
        if gate == "pass":
            return f"{word}, within the gate (max_drop {self.max_drop:g})" \
                if self.significant and (self.drop or 0) > 0 else f"{word} (gate passed)"
        return word

    @property
    def pdr_note(self) -> str:
        if self.clean is not None and self.clean.value <= 0:
            return "undefined: the clean pass rate is 0"
        return ""


@dataclass
class SuiteResult:
    name: str
    file: str | None
    rows: list[Row]

    @property
    def cases(self) -> int:
        return len({p.key[1] for r in self.rows for p in r.pairs})

    @property
    def targets(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((r.prompt, r.model) for r in self.rows))


@dataclass
class Robustness:
    suites: list[SuiteResult]
    alpha: float = 0.05
    run_id: str | None = None
    skipped: list[str] = field(default_factory=list)  # suites that declare no perturbation

    @property
    def rows(self) -> list[Row]:
        return [r for s in self.suites for r in s.rows]

    @property
    def failed_gates(self) -> list[Row]:
        return [r for r in self.rows if r.gate == "fail"]

    @property
    def exit_code(self) -> ExitCode:
        """1 when a gate failed, else 3 when errors left pairs without a verdict (or a
        gate without one), else 0."""
        if self.failed_gates:
            return ExitCode.FAILED
        if any(r.unscored or r.gate == "no verdict" for r in self.rows):
            return ExitCode.INFRA
        return ExitCode.OK


# -- the analysis --------------------------------------------------------------------
def analyse(records: Iterable[CallRecord], suites: Sequence[Suite], *, alpha: float = 0.05,
            run_id: str | None = None, skipped: Sequence[str] = ()) -> Robustness:
    """Pair every variant cell with its clean cell, row by row, and test each row."""
    cells: dict[CellKey, list[CallRecord]] = {}
    for rec in records:
        cells.setdefault(rec.cell, []).append(rec)
    specs = {s.name: {p.id: p for p in perturbations_of(s)} for s in suites}
    rows: dict[tuple[str, str, str, str], Row] = {}
    for (suite, case, prompt, model), recs in cells.items():
        split = split_id(case)
        if split is None:
            continue
        clean, pid = split
        row = rows.get((suite, pid, prompt, model))
        if row is None:
            spec = specs.get(suite, {}).get(pid)
            row = rows[suite, pid, prompt, model] = Row(
                suite, pid, spec.type if spec else None, prompt, model,
                spec.max_drop if spec else None)
        base = cells.get((suite, clean, prompt, model))
        if base is None:
            row.missing.append(clean)
            continue
        row.pairs.append(Pair((suite, clean, prompt, model),
                              sorted(base, key=lambda r: r.repeat),
                              sorted(recs, key=lambda r: r.repeat)))
    suite_order = {s.name: i for i, s in enumerate(suites)}
    files = {s.name: s.file for s in suites}
    by_suite: dict[str, list[Row]] = {}
    for row in rows.values():
        by_suite.setdefault(row.suite, []).append(row)
    out = []
    for name in sorted(by_suite, key=lambda n: (suite_order.get(n, len(suite_order)), n)):
        order = {pid: i for i, pid in enumerate(specs.get(name, {}))}
        suite_rows = sorted(by_suite[name], key=lambda r: order.get(r.perturbation, len(order)))
        _test(suite_rows, alpha)
        out.append(SuiteResult(name, files.get(name), suite_rows))
    return Robustness(out, alpha, run_id, list(skipped))


def _test(rows: list[Row], alpha: float) -> None:
    """Each row's sides, paired test (Holm over the suite's rows), metrics (a second
    family) and counterfactual contrasts."""
    tested = [r for r in rows if r.scored]
    diffs = paired_differences(
        [(r.label, [(Pair.rate(p.a), Pair.rate(p.b)) for p in r.scored]) for r in tested],
        alpha)
    metric_family: list[tuple[Row, str, list[tuple[float, float]]]] = []
    for row, d in zip(tested, diffs, strict=True):
        d.name = "pass rate"  # Difference's wording: points
        row.test = d
        row.clean = _rate([p.a for p in row.scored], alpha)
        row.perturbed = _rate([p.b for p in row.scored], alpha)
        named: dict[str, list[tuple[float, float]]] = {}
        for p in row.scored:
            ma, mb = Pair.metrics(p.a), Pair.metrics(p.b)
            for metric in sorted(ma.keys() & mb.keys()):
                named.setdefault(metric, []).append((ma[metric], mb[metric]))
        metric_family += [(row, m, v) for m, v in sorted(named.items())]
        if row.family == COUNTERFACTUAL:
            _contrast(row)
    tests = paired_differences([(f"{r.label}:{m}", v) for r, m, v in metric_family], alpha)
    for (row, metric, _), d in zip(metric_family, tests, strict=True):
        d.name = metric
        pairs = [p for p in row.scored if _scores(p.a, metric) and _scores(p.b, metric)]
        row.metrics.append(MetricChange(
            metric, _mean([_scores(p.a, metric) for p in pairs], alpha),
            _mean([_scores(p.b, metric) for p in pairs], alpha), d))


def _contrast(row: Row) -> None:
    found = []
    for p in row.scored:
        a, b = p.first("a"), p.first("b")
        ra, rb = Pair.rate(p.a), Pair.rate(p.b)
        if ra != rb or (a.output or "") != (b.output or ""):
            found.append(Contrast(p.key[1], a, b, ra, rb))
    found.sort(key=lambda c: (not c.verdict_differs, c.case))  # verdicts first
    row.contrast_count = len(found)
    row.contrasts = found[:LIMIT]
