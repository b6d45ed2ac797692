"""Distribution drift of a production log, window by window (`promptctl score`): what
the inputs and outputs look like, beside whether they pass.

Per window: the mean input length (characters of the line's input text, below), the
mean output length, the refusal rate (the is-refusal check's detector,
assertions/safety.find_refusal; an empty output counts as a refusal, as there), and two
embedding distances through the project's embedder (the embedder the suite's first
`similar` check names, else the project's; run/services.embed, cached):
`centroid_distance`, the cosine distance between the centroid of the window's inputs
and the centroid of the suite's own cases' inputs (are users asking what the suite
tests?), and `output_shift`, the cosine distance between the centroid of the window's
outputs and that of the first window's (do the answers read differently now?).

A line's input text has the shape of the log's first line: its vars (each value, text
as it is and anything else as JSON, one per line, in key order; a line naming a case
without vars: the case's), or, for a log of messages, the content of its user messages.
The suite's cases are taken in the same shape (their vars, or their prompts rendered).

Invariants: memory per window is bounded: sums for the lengths and the refusals, and a
seeded reservoir sample (Algorithm R) of at most `sample` inputs and outputs, each cut
to EMBED_CHARS, which are all that is embedded: a 1 GB log embeds at most
windows x sample x 2 texts (plus at most `sample` of the suite's cases). The sample of a
window depends only on its lines' order and the window's id (reproducible). No
embedder reachable: the distances are null and a note says why.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from ..assertions.models import cosine
from ..assertions.safety import find_refusal
from ..errors import PromptctlError
from ..load.rendering import render_messages
from ..load.suites import Case, Suite
from ..results import CallRecord, canonical
from ..run.logs import LogLine

EMBED_CHARS = 2000  # of each sampled text: embedders truncate long inputs anyway


class Reservoir:
    """A uniform sample of at most `size` items of a stream (Algorithm R), seeded."""

    __slots__ = ("items", "rng", "seed", "seen", "size")

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.items: list[Any] = []
        self.seen = 0
        self.seed = seed
        # made when the sample is full (~5 KB of state: not for each of many windows)
        self.rng: random.Random | None = None

    def add(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        if self.rng is None:
            self.rng = random.Random(self.seed)
        j = self.rng.randrange(self.seen)
        if j < self.size:
            self.items[j] = item


def seed_of(text: str, seed: int = 0) -> int:
    """A stable seed from a window's id (str hashes change between processes)."""
    return zlib.crc32(text.encode("utf-8")) ^ seed


def vars_text(vars_: dict[str, Any]) -> str:
    return "\n".join(v if isinstance(v, str) else canonical(v) for v in vars_.values())


def user_text(messages: Sequence[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m.get("role") == "user"]
    return "\n".join(users if users else [m["content"] for m in messages])


class Shape:
    """Which input text the log's lines (and the suite's cases) are measured by."""

    def __init__(self, by_vars: bool) -> None:
        self.by_vars = by_vars

    @classmethod
    def of(cls, line: LogLine) -> Shape:
        return cls(line.vars is not None or line.messages is None)

    @property
    def name(self) -> str:
        return "vars" if self.by_vars else "user messages"

    def line_text(self, line: LogLine, record: CallRecord, case: Case | None) -> str:
        if self.by_vars:
            if line.vars is not None:
                return vars_text(line.vars)
            if line.messages is None and case is not None:
                return vars_text(case.vars)
        return user_text(line.messages if line.messages is not None else record.messages)

    def case_texts(self, suite: Suite, limit: int, seed: int = 0) -> list[str]:
        """The inputs of the suite's clean cases (a seeded sample of `limit`)."""
        cases = [c for c in suite.cases if c.variant_of is None]
        if len(cases) > limit:
            cases = random.Random(seed).sample(cases, limit)
        if self.by_vars:
            return [vars_text(c.vars)[:EMBED_CHARS] for c in cases]
        out = []
        for c in cases:
            try:
                out.append(user_text(render_messages(suite.prompts[0], c.vars,
                                                     case=c.id))[:EMBED_CHARS])
            except PromptctlError:
                continue  # rendered by the run too: an error there, not here
        return out


class Distribution:
    """One window's distribution: running sums and the reservoir samples."""

    __slots__ = ("input_chars", "inputs", "lines", "output_chars", "outputs", "refusals")

    def __init__(self, sample: int, seed: int) -> None:
        self.lines = 0
        self.input_chars = 0
        self.output_chars = 0
        self.refusals = 0
        self.inputs = Reservoir(sample, seed)
        self.outputs = Reservoir(sample, seed + 1)

    def add(self, input_text: str, output: str, refusal: bool | None = None) -> None:
        """`refusal`: what the line's own is-refusal check found (None: detect)."""
        self.lines += 1
        self.input_chars += len(input_text)
        self.output_chars += len(output)
        if refusal is None:
            refusal = (not output.strip()) or find_refusal(output) is not None
        self.refusals += refusal
        if self.inputs.size:
            self.inputs.add(input_text[:EMBED_CHARS])
            self.outputs.add(output[:EMBED_CHARS])

    def summary(self) -> dict[str, Any]:
        n = self.lines
        return {"input_chars": round(self.input_chars / n, 1) if n else None,
                "output_chars": round(self.output_chars / n, 1) if n else None,
                "refusal_rate": round(self.refusals / n, 4) if n else None,
                "centroid_distance": None, "output_shift": None,
                "sampled": len(self.inputs.items)}


REFUSAL_TYPES = {"is-refusal": True, "not-is-refusal": False}


def refused(case: Case | None, record: CallRecord) -> bool | None:
    """Whether the line's output is a refusal, as its own is-refusal (or
    not-is-refusal) check without a transform found it: the same detector, not run
    twice. None when the line has no such result."""
    if case is None or record.error is not None:
        return None
    for spec, result in zip(case.asserts, record.assertions, strict=False):
        plain = REFUSAL_TYPES.get(spec.type)
        if plain is not None and not spec.transform and result.type == spec.type:
            return result.passed == plain
    return None


def centroid(vectors: Sequence[Sequence[float]]) -> list[float] | None:
    if not vectors:
        return None
    dim = len(vectors[0])
    sums = [0.0] * dim
    for vec in vectors:
        for i, x in enumerate(vec):
            sums[i] += x
    return [s / len(vectors) for s in sums]


def cosine_distance(a: list[float] | None, b: list[float] | None) -> float | None:
    """1 - the cosine similarity `similar` scores by; None without two comparable
    vectors (one missing, of another length, or all zeros)."""
    if a is None or b is None or len(a) != len(b) or not any(a) or not any(b):
        return None
    return round(max(0.0, 1.0 - cosine(a, b)), 6)


Embed = Callable[[list[str]], list[list[float]]]


def add_distances(points: list[dict[str, Any]], dists: Sequence[Distribution],
                  reference: list[str], embed: Embed) -> str | None:
    """Fills each point's distribution.centroid_distance and output_shift; returns a
    note when they cannot be had (no embedder, nothing to embed)."""
    if not reference:
        return "no centroid distance: the suite has no case inputs to compare with"
    try:
        ref = centroid(_embedded(embed, reference))
        first_out: list[float] | None = None
        for point, dist in zip(points, dists, strict=True):
            if not dist.inputs.items:
                continue
            inputs = centroid(_embedded(embed, dist.inputs.items))
            outputs = centroid(_embedded(embed, dist.outputs.items))
            if first_out is None:
                first_out = outputs
            point["distribution"]["centroid_distance"] = cosine_distance(inputs, ref)
            point["distribution"]["output_shift"] = cosine_distance(outputs, first_out)
    except PromptctlError as exc:
        for point in points:
            point["distribution"]["centroid_distance"] = None
            point["distribution"]["output_shift"] = None
        return f"no centroid distance: the embedder failed: {exc.message}"
    return None


def _embedded(embed: Embed, texts: Sequence[str]) -> list[list[float]]:
    """The embeddings of the texts that hold something (an empty text has none)."""
    kept = [t for t in texts if t.strip()]
    return embed(kept) if kept else []


def embedder_of(suite: Suite) -> str | None:
    """The embedder alias the suite's first `similar` check names (None: the
    project's embedder, as `similar` itself defaults)."""
    for case in suite.cases:
        for spec in case.asserts:
            if spec.type.removeprefix("not-") == "similar":
                alias = spec.options.get("embedder")
                return alias if isinstance(alias, str) else None
    return None
