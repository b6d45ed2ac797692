"""promptfoo assertions as promptctl assertions: `convert_assert(item, where)` for one
`assert:` item (an `assert-set` too), `parse_expected(cell, where)` for a CSV
`__expected*` cell (promptfoo's `type(threshold):value` mini-language, expected.py).
JavaScript is read by jsexpr.py and rewritten by jsrewrite.py; file values and
promptfoo's value coercions are values.py's.

A Converted holds the promptctl assertion mappings (ready to dump to YAML), a Note for
whatever was approximated or left out (an empty list and a "left out" note when
nothing promptctl has can say it), and the files the new project needs copied
(`files`: the source file, resolved, -> its path in the new project): a python check
named by `file://`.

Invariants: nothing is run (no JavaScript, no Python, no model); an exact mapping
makes no note; a `value: file://PATH` is read only when PATH resolves (links followed)
inside the config's folder tree, and refused (UserError, exit 2) otherwise; the
mapping of each type is the table in docs/promptfoo.md, which the tests check row by
row.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .expected import assertion_from_string
from .jsexpr import Unsupported
from .jspython import python_regex
from .jsrewrite import rewrite, transform
from .notes import Note, Where
from .values import LeftOut, comma_list, file_value, inside, js_string, yaml_value

JudgeAlias = Callable[[str | dict[str, Any]], str | None]  # None: it cannot be imported


@dataclass
class Converted:
    asserts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # source (resolved) -> project path


# the same name and meaning in promptctl (promptfoo ignores a threshold on all but
# contains-all, which promptfoo grades pass/fail)
SAME = frozenset({"equals", "contains", "icontains", "contains-any", "contains-all",
                  "icontains-any", "icontains-all", "starts-with", "regex", "is-json",
                  "is-refusal"})
JUDGED = {"llm-rubric": "llm-rubric", "factuality": "factuality",
          "model-graded-factuality": "factuality", "answer-relevance": "answer-relevance",
          "model-graded-closedqa": "llm-rubric", "g-eval": "llm-rubric",
          "search-rubric": "llm-rubric"}
APPROXIMATE_JUDGES = {
    "answer-relevance": "promptfoo scores it by embedding similarity of questions a model "
                        "generates from the output; promptctl's answer-relevance asks the "
                        "judge directly",
    "model-graded-closedqa": "graded as an llm-rubric criterion (promptfoo uses OpenAI's "
                             "closed-QA prompt, pass/fail)",
    "g-eval": "graded as an llm-rubric criterion (promptfoo's G-Eval scores chain-of-"
              "thought steps)",
    "search-rubric": "graded as an llm-rubric criterion, without web search",
}
NOT_EXPRESSIBLE = {
    "select-best": "it compares the outputs of several prompts or models for one test",
    "max-score": "it compares the outputs of several prompts or models for one test",
    "webhook": "it posts the output to a web service",
    "ruby": "promptctl runs no Ruby",
    "classifier": "promptctl has no HuggingFace classifier",
    "moderation": "promptctl has no moderation API check",
    "pi": "promptctl has no Pi Labs scorer",
    "gleu": "promptctl has no GLEU metric", "meteor": "promptctl has no METEOR metric",
    "rouge-s": "promptctl has no ROUGE-S metric",
}
KNOWN_KEYS = frozenset({"type", "value", "threshold", "weight", "metric", "transform",
                        "provider", "rubricPrompt", "config", "contextTransform"})


class _Ctx:
    """One conversion: where the item is, the config's folder, the judge mapping, and
    what it reports."""

    def __init__(self, where: Where, base_dir: Path | None,
                 judge_alias: JudgeAlias | None) -> None:
        self.where = where
        self.base = Path(os.path.realpath(base_dir if base_dir is not None else Path.cwd()))
        self.judge_alias = judge_alias
        self.out = Converted()

    def note(self, kind: str, message: str) -> None:
        self.out.notes.append(Note(self.where, kind, message))  # type: ignore[arg-type]

    def left_out(self, item: dict[str, Any], why: str) -> Converted:
        self.note("left out", f"assertion {_shown(item)}: {why}")
        return self.out


def convert_assert(item: dict[str, Any], where: Where, *,
                   judge_alias: JudgeAlias | None = None,
                   base_dir: Path | None = None) -> Converted:
    """One promptfoo assertion (its `$ref` already resolved) as promptctl assertions.

    judge_alias: the promptctl model alias for a grading `provider` (an id or an
    object); without it a provider is dropped with a note and the project's judge
    grades. base_dir: the config's folder, where `file://` paths start (default: the
    working directory)."""
    ctx = _Ctx(where, base_dir, judge_alias)
    _convert(item, ctx)
    return ctx.out


def parse_expected(cell: str, where: Where, *, judge_alias: JudgeAlias | None = None,
                   base_dir: Path | None = None) -> Converted:
    """A CSV `__expected*` cell (expected.py) as promptctl assertions; none for a blank
    cell."""
    text = cell.strip()
    if not text:
        return Converted()
    return convert_assert(assertion_from_string(text), where, judge_alias=judge_alias,
                          base_dir=base_dir)


def _shown(item: Any) -> str:
    text = json.dumps(item, ensure_ascii=False, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _convert(item: Any, ctx: _Ctx) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        ctx.left_out({"item": item}, "an assertion is a mapping with a 'type'")
        return
    if "$ref" in item:
        ctx.left_out(item, "an unresolved $ref")
        return
    full = item["type"]
    if full == "assert-set":
        _assert_set(item, ctx)
        return
    negated = full.startswith("not-")
    kind = full[4:] if negated else full
    unknown = sorted(set(item) - KNOWN_KEYS)
    if unknown:
        ctx.note("left out", f"assertion {_shown(item)}: keys promptctl has no use for: "
                             + ", ".join(unknown))
    common = _common(item, ctx)
    if common is None:
        return
    if isinstance(item.get("value"), str) and item["value"].startswith("file://") \
            and kind not in ("python", "javascript"):
        try:
            loaded = file_value(item["value"], ctx.base, ctx.where)
        except LeftOut as exc:
            ctx.left_out(item, str(exc))
            return
        item = {**item, "value": loaded}
    specs = _map(kind, negated, item, ctx)
    if specs is None:
        return
    _finish(specs, common, item, ctx)


def _common(item: dict[str, Any], ctx: _Ctx) -> dict[str, Any] | None:
    """weight, metric and transform in promptctl's terms; None when the transform
    cannot be carried over (the assertion is then left out)."""
    common: dict[str, Any] = {}
    weight = item.get("weight")
    if weight is not None:
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            ctx.left_out(item, "'weight' must be a number >= 0")
            return None
        if weight == 0:
            ctx.note("approximated", f"assertion {_shown(item)}: weight 0 passes in "
                                     "promptfoo whatever the output; in promptctl it "
                                     "counts for no score but still fails the case")
        common["weight"] = weight
    if isinstance(item.get("metric"), str):
        common["metric"] = item["metric"]
    src = item.get("transform")
    if src is not None:
        if not isinstance(src, str) or src.startswith("file://"):
            ctx.left_out(item, "its transform runs a file of code")
            return None
        try:
            common["transform"] = transform(src)
        except Unsupported as exc:
            ctx.left_out(item, f"its transform {src.strip()!r} uses {exc}, which promptctl "
                               "cannot express")
            return None
    for key, why in (("rubricPrompt", "a custom grading prompt (use judge_prompt: with a "
                                      "prompt of prompts/)"),
                     ("contextTransform", "a context transform"),
                     ("config", "assertion config (python checks get no context['config'])")):
        if key in item:
            ctx.note("left out", f"assertion {_shown(item)}: {key}: {why}")
    return common


def _finish(specs: list[dict[str, Any]], common: dict[str, Any], item: dict[str, Any],
            ctx: _Ctx) -> None:
    weight = common.get("weight", 1.0)
    for spec in specs:
        if "metric" in common:
            spec["metric"] = common["metric"]
        if len(specs) > 1 or "weight" in common:
            share = weight / len(specs)
            spec["weight"] = int(share) if share == int(share) else share
        if "transform" in common:
            inner = spec.get("transform")
            spec["transform"] = common["transform"] if inner is None else \
                inner.replace("output", f"({common['transform']})", 1)
    ctx.out.asserts.extend(specs)


# --------------------------------------------------------------------------- per type


def _map(kind: str, negated: bool, item: dict[str, Any],
         ctx: _Ctx) -> list[dict[str, Any]] | None:
    t = f"not-{kind}" if negated else kind
    value = item.get("value")
    threshold = item.get("threshold")
    if kind in SAME:
        return _same(t, kind, value, item, ctx)
    if kind in JUDGED:
        return _judged(kind, negated, item, ctx)
    if kind in ("similar", "similar:cosine"):
        spec = {"type": t.replace(":cosine", ""), "value": value,
                "threshold": 0.75 if threshold is None else threshold}
        return _with_provider(spec, item, ctx, "embedder")
    if kind == "contains-json":
        ctx.note("approximated", f"assertion {_shown(item)}: contains-json finds JSON "
                                 "inside other text; promptctl's is-json requires the "
                                 "whole output to be JSON")
        return [_drop_none({"type": "not-is-json" if negated else "is-json",
                            "value": value})]
    if kind == "levenshtein":
        limit = 5 if threshold is None else threshold
        return [{"type": t, "value": value, "max_distance": max(math.floor(limit), 0)}]
    if kind in ("rouge-n", "rouge-l", "bleu"):
        return _metric(t, kind, item, ctx)
    if kind in ("latency", "cost", "perplexity", "perplexity-score", "word-count"):
        return _limits(t, kind, item, ctx)
    if kind == "python":
        return _python(t, value, item, ctx)
    if kind == "javascript":
        return _javascript(negated, item, ctx)
    why = NOT_EXPRESSIBLE.get(kind, "promptctl has no assertion like it")
    ctx.left_out(item, why)
    return None


def _drop_none(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if v is not None}


def _same(t: str, kind: str, value: Any, item: dict[str, Any],
          ctx: _Ctx) -> list[dict[str, Any]] | None:
    if kind in ("is-json", "is-refusal"):
        if kind == "is-json" and isinstance(value, str):
            try:
                value = yaml_value(value, ctx.where.file)
            except LeftOut as exc:
                ctx.left_out(item, str(exc))
                return None
        return [_drop_none({"type": t, "value": value if kind == "is-json" else None})]
    if kind == "regex":
        if not isinstance(value, str):
            ctx.left_out(item, "regex needs a pattern")
            return None
        try:
            return [{"type": t, "value": python_regex(value)}]
        except Unsupported as exc:
            ctx.left_out(item, f"the JavaScript regex uses {exc}")
            return None
    if kind.endswith(("-any", "-all")):
        if isinstance(value, str):
            value = comma_list(value)
        if not isinstance(value, list) or not value:
            ctx.left_out(item, f"{kind} needs a list of strings")
            return None
        value = [js_string(v) for v in value]
        if any(v is None for v in value):
            ctx.left_out(item, f"{kind} needs a list of strings")
            return None
        return [{"type": t, "value": value}]
    if kind == "equals" and isinstance(value, (dict, list)):
        return [{"type": t, "value": value}]
    text = js_string(value) if value is not None else None
    if text is None or (not text and kind != "equals"):
        ctx.left_out(item, f"{kind} needs a text value")
        return None
    return [{"type": t, "value": text}]


def _with_provider(spec: dict[str, Any], item: dict[str, Any], ctx: _Ctx,
                   key: str) -> list[dict[str, Any]]:
    provider = item.get("provider")
    if provider is not None:
        alias = ctx.judge_alias(provider) if ctx.judge_alias is not None and \
            isinstance(provider, (str, dict)) else None
        if alias is None:
            ctx.note("approximated", f"assertion {_shown(item)}: its provider "
                                     f"{_shown(provider)} is not carried over; the "
                                     "project's judge (or embedder) grades it")
        else:
            spec[key] = alias
    return [spec]


def _judged(kind: str, negated: bool, item: dict[str, Any],
            ctx: _Ctx) -> list[dict[str, Any]] | None:
    target = JUDGED[kind]
    value = item.get("value")
    if target != "answer-relevance":
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str) or not value.strip():
            ctx.left_out(item, f"{kind} needs its criterion as text")
            return None
    if kind in APPROXIMATE_JUDGES:
        ctx.note("approximated", f"assertion {_shown(item)}: {APPROXIMATE_JUDGES[kind]}")
    spec: dict[str, Any] = {"type": f"not-{target}" if negated else target}
    if isinstance(value, str) and target != "answer-relevance":
        spec["value"] = value.strip()
    threshold = item.get("threshold", 0.7 if kind == "g-eval" else None)
    if threshold is not None:
        spec["threshold"] = threshold
    return _with_provider(spec, item, ctx, "judge")


_METRIC_NOTES = {
    "rouge-n": "promptfoo tokenizes with the Penn Treebank rules (punctuation counts as "
               "words); promptctl's rouge-n counts a-z and 0-9 words, as rouge-score",
    "rouge-l": "promptfoo's js-rouge ROUGE-L and rouge-score's differ in tokenization",
    "bleu": "promptfoo's BLEU and sacrebleu's (promptctl) differ in tokenization and "
            "smoothing",
}


def _metric(t: str, kind: str, item: dict[str, Any], ctx: _Ctx) -> list[dict[str, Any]] | None:
    value = item.get("value")
    if not isinstance(value, (str, list)) or not value:
        ctx.left_out(item, f"{kind} needs a reference text")
        return None
    ctx.note("approximated", f"assertion {_shown(item)}: {_METRIC_NOTES[kind]}")
    spec = {"type": t, "value": value}
    if item.get("threshold") is not None:
        spec["threshold"] = item["threshold"]
    return [spec]


def _limits(t: str, kind: str, item: dict[str, Any], ctx: _Ctx) -> list[dict[str, Any]] | None:
    threshold = item.get("threshold")
    if kind == "word-count":
        value = item.get("value")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return [{"type": t.replace("word-count", "length"), "min_words": value,
                     "max_words": value}]
        if isinstance(value, dict) and set(value) <= {"min", "max"} and value:
            bounds = {f"{k}_words": v for k, v in value.items()}
            return [{"type": t.replace("word-count", "length"), **bounds}]
        ctx.left_out(item, "word-count needs a number or {min, max}")
        return None
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool):
        ctx.left_out(item, f"{kind} without a threshold sets no limit promptctl can check")
        return None
    if kind == "latency":
        return [{"type": t, "max_ms": threshold}]
    if kind == "cost":
        return [{"type": t, "max": threshold}]
    # perplexity-score is 1 / (1 + perplexity): score >= t is perplexity <= 1/t - 1
    limit = threshold if kind == "perplexity" else (1 / threshold - 1 if threshold > 0 else 0)
    if limit < 1:
        ctx.left_out(item, f"{kind} threshold {threshold} is a limit no output can meet")
        return None
    return [{"type": t.replace("perplexity-score", "perplexity"),
             "max": round(limit, 6)}]


def _python(t: str, value: Any, item: dict[str, Any], ctx: _Ctx) -> list[dict[str, Any]] | None:
    if not isinstance(value, str) or not value.strip():
        ctx.left_out(item, "python needs code or file://PATH")
        return None
    if value.startswith("file://"):
        path, _, function = value[len("file://"):].partition(":")
        if not path.endswith(".py"):
            ctx.left_out(item, "python file:// must name a .py file")
            return None
        real = inside(path, ctx.base, ctx.where)
        rel = real.relative_to(ctx.base).as_posix()
        ctx.out.files[str(real)] = rel
        ctx.note("approximated", f"assertion {_shown(item)}: {rel} is copied into the "
                                 "project; promptctl calls it as fn(output, context) with "
                                 "context['vars'], ['prompt'] and ['test'] (promptfoo's "
                                 "provider, config and logProbs are not passed)")
        value = f"{rel}:{function or 'get_assert'}"
    spec = {"type": t, "value": value}
    if item.get("threshold") is not None:
        spec["threshold"] = item["threshold"]
    return [spec]


def _javascript(negated: bool, item: dict[str, Any], ctx: _Ctx) -> list[dict[str, Any]] | None:
    value = item.get("value")
    if not isinstance(value, str) or value.startswith("file://"):
        ctx.left_out(item, "a JavaScript file is not rewritten; port it to a python check")
        return None
    try:
        done = rewrite(value, negated)
    except Unsupported as exc:
        ctx.left_out(item, f"the JavaScript uses {exc}; only simple expressions are "
                           "rewritten (see docs/promptfoo.md)")
        return None
    for message in done.approximations:
        ctx.note("approximated", f"assertion {_shown(item)}: {message}")
    return done.asserts


def _assert_set(item: dict[str, Any], ctx: _Ctx) -> None:
    children = item.get("assert")
    if not isinstance(children, list) or not children:
        ctx.left_out(item, "assert-set needs a list under 'assert'")
        return
    sub = _Ctx(ctx.where, ctx.base, ctx.judge_alias)
    sub.base = ctx.base
    for child in children:
        _convert(child, sub)
    ctx.out.notes.extend(sub.out.notes)
    ctx.out.files.update(sub.out.files)
    specs = sub.out.asserts
    if not specs:
        return
    if item.get("threshold") is not None:
        ctx.note("approximated", f"assert-set {_shown(item)}: its threshold "
                                 f"{item['threshold']} is not expressible; every one of "
                                 "its assertions must pass")
    weight = item.get("weight", 1)
    total = sum(s.get("weight", 1) for s in specs)
    for spec in specs:  # the set's weight shared as its members' weights were
        if weight != 1 or total != len(specs) or "weight" in spec:
            share = weight * spec.get("weight", 1) / total if total else 0
            spec["weight"] = int(share) if share == int(share) else round(share, 6)
        if isinstance(item.get("metric"), str):
            spec.setdefault("metric", item["metric"])
    ctx.out.asserts.extend(specs)
