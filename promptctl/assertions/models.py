"""Assertions that ask a model: `similar` (embeddings), `choice` and `perplexity`
(logprobs of the model under test). The model access comes from ctx.services, the
same providers and cache as the calls under test.

    - {type: similar, value: "Paris is the capital of France", threshold: 0.9}
    - {type: choice, value: [billing, shipping, technical], expected: "{{ team }}"}
    - {type: perplexity, max: 20}
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InfraError
from .base import (
    AssertionContext,
    AssertionSpecError,
    ModelAccess,
    Prepared,
    Types,
    fmt_num,
    kind_of,
    quote,
)

TYPES = Types()  # the types this module defines (builtins.py lists them)


def _services(ctx: AssertionContext) -> ModelAccess:
    if ctx.services is None:
        raise InfraError("this assertion needs model access: run it through promptctl")
    return ctx.services


def _alias(p: Prepared, key: str) -> str | None:
    value = p.options.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise AssertionSpecError(f"'{key}' must be a model alias, got {kind_of(value)}",
                                 key=key)
    return value


def _texts(p: Prepared, what: str) -> tuple[str, ...]:
    value = [p.value] if isinstance(p.value, str) else p.value
    if not isinstance(value, list) or not value or \
            not all(isinstance(v, str) and v.strip() for v in value):
        raise AssertionSpecError(f"'{p.name}' needs {what}", key="value")
    return tuple(value)


# --------------------------------------------------------------------------- similar


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _prep_similar(p: Prepared) -> tuple[tuple[str, ...], str | None, float]:
    refs = _texts(p, "a reference text (or a list of them) as 'value'")
    return refs, _alias(p, "embedder"), 0.8 if p.threshold is None else p.threshold


@TYPES.add("similar", options=("embedder",), prepare=_prep_similar, scored=True,
          default_threshold=0.8,
          value_hint="value: the reference text; passes at cosine similarity >= threshold "
                     "(default 0.8) between the embeddings of the output and the reference")
def _similar(output: str, arg: tuple[tuple[str, ...], str | None, float],
             ctx: AssertionContext) -> Any:
    refs, embedder, threshold = arg
    vectors = _services(ctx).embed([output, *refs], embedder)
    sims = [cosine(vectors[0], v) for v in vectors[1:]]
    best = max(range(len(sims)), key=lambda i: sims[i])
    score = max(0.0, min(1.0, sims[best]))
    what = f"cosine similarity {score:.3f} to {quote(refs[best], 40)}"
    if score >= threshold:
        return True, score, f"{what} (threshold {fmt_num(threshold)})", \
            f"{what}, must be below {fmt_num(threshold)}"
    return False, score, f"{what} < {fmt_num(threshold)}; got {quote(output)}", \
        f"{what} (below {fmt_num(threshold)})"


# ---------------------------------------------------------------------------- choice


def _prep_choice(p: Prepared) -> tuple[tuple[str, ...], str, bool]:
    labels = _texts(p, "a list of labels as 'value'")
    if len(labels) < 2:
        raise AssertionSpecError("'choice' needs at least two labels", key="value")
    expected = p.options.get("expected")
    if not isinstance(expected, str) or expected not in labels:
        raise AssertionSpecError(f"'expected' must be one of the labels, got "
                                 f"{kind_of(expected)}", key="expected",
                                 hint="labels: " + ", ".join(labels))
    normalize = p.options.get("normalize", False)
    if not isinstance(normalize, bool):
        raise AssertionSpecError("'normalize' must be true or false", key="normalize")
    return labels, expected, normalize


@TYPES.add("choice", options=("expected", "normalize"), needs_value=True,
          prepare=_prep_choice,
          value_hint="value: [label, ...] and expected: LABEL; the model under test "
                     "must find the expected label the most likely reply")
def _choice(output: str, arg: tuple[tuple[str, ...], str, bool],
            ctx: AssertionContext) -> Any:
    """Which label the model finds most likely as its reply to the rendered prompt
    (summed token logprobs; per character with normalize: true). The output itself
    is not used: this is a deterministic classifier score, as in lm-evaluation-harness."""
    labels, expected, normalize = arg
    logprobs = _services(ctx).continuation_logprobs(ctx.model, ctx.messages, list(labels))
    totals = [sum(lp) / (len(label) if normalize else 1)
              for lp, label in zip(logprobs, labels, strict=True)]
    top = max(totals)
    weights = [math.exp(t - top) for t in totals]
    probs = [w / sum(weights) for w in weights]
    best = labels[totals.index(top)]
    p_expected = probs[labels.index(expected)]
    shown = ", ".join(f"{label} {prob:.2f}" for label, prob in zip(labels, probs, strict=True))
    if best == expected:
        return True, p_expected, f"most likely {expected!r} ({shown})", \
            f"most likely {expected!r} ({shown}), must not be"
    return False, p_expected, f"most likely {best!r}, expected {expected!r} ({shown})", \
        f"most likely {best!r}, not {expected!r} ({shown})"


# ------------------------------------------------------------------------ perplexity


def _prep_perplexity(p: Prepared) -> float:
    limit = p.options.get("max")
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 1:
        raise AssertionSpecError(f"'perplexity' needs max: a number >= 1, got "
                                 f"{kind_of(limit)}", key="max",
                                 hint="e.g. max: 20 (lower is more fluent and expected)")
    return float(limit)


@TYPES.add("perplexity", options=("max",), needs_value=False, takes_value=False,
          prepare=_prep_perplexity,
          value_hint="use max: N; the perplexity of the output under the model that "
                     "wrote it must not exceed N")
def _perplexity(output: str, limit: float, ctx: AssertionContext) -> Any:
    logprobs = ctx.token_logprobs
    if logprobs is None:
        logprobs = _services(ctx).output_logprobs(ctx.model, ctx.messages, output)
    if not logprobs:
        return None, 0.0, "perplexity of an empty output is undefined", None
    ppl = math.exp(-sum(logprobs) / len(logprobs))
    score = 1.0 / ppl  # the geometric mean probability of the output's tokens
    what = f"perplexity {ppl:.2f}"
    if ppl <= limit:
        return True, score, f"{what} (max {fmt_num(limit)})", \
            f"{what}, must be over {fmt_num(limit)}"
    return False, score, f"{what}, max {fmt_num(limit)}", f"{what} (over {fmt_num(limit)})"
