"""A CSV `__expected` / `__expected1..N` cell: promptfoo's one-line assertion language
read as promptfoo's `assertionFromString` reads it (asserts.parse_expected then
converts the assertion like any other).

    Paris                      equals (anything without a known prefix)
    contains:Paris             TYPE:VALUE, with a not- prefix if wanted
    similar(0.9):Hello         TYPE(THRESHOLD):VALUE
    contains-any:a,b           the -any / -all types split the value on commas
    grade:... llm-rubric:...   llm-rubric
    javascript:... fn:...      javascript (eval: too)
    python:...                 python; file://x.py[:fn] names a file

Invariants: the cell is trimmed first, as promptfoo does; the types are tried in
promptfoo's order (its regex alternation), so `similar:cosine:x` is `similar` with the
value `cosine:x`, as in promptfoo; a threshold-taking type without `(N)` gets
promptfoo's default for CSV cells (0.8 for similar, else 0.75).
"""

from __future__ import annotations

import re
from typing import Any

# BaseAssertionTypesSchema, in promptfoo's order
BASE_TYPES = (
    "answer-relevance", "bleu", "classifier", "contains", "contains-all", "contains-any",
    "contains-html", "contains-json", "contains-sql", "contains-xml",
    "context-faithfulness", "context-recall", "context-relevance",
    "conversation-relevance", "cost", "equals", "factuality", "finish-reason", "g-eval",
    "gleu", "guardrails", "icontains", "icontains-all", "icontains-any", "is-html",
    "is-json", "is-refusal", "is-sql", "is-valid-function-call",
    "is-valid-openai-function-call", "is-valid-openai-tools-call", "is-xml",
    "javascript", "latency", "levenshtein", "llm-rubric", "pi", "meteor",
    "model-graded-closedqa", "model-graded-factuality", "moderation", "perplexity",
    "perplexity-score", "python", "regex", "rouge-n", "ruby", "similar", "similar:cosine",
    "similar:dot", "similar:euclidean", "starts-with", "tool-call-f1", "skill-used",
    "trajectory:goal-success", "trajectory:tool-args-match", "trajectory:step-count",
    "trajectory:tool-sequence", "trajectory:tool-used", "trace-error-spans",
    "trace-span-count", "trace-span-duration", "search-rubric", "webhook", "word-count",
)
_ASSERTION = re.compile(
    r"^(not-)?(" + "|".join(re.escape(t) for t in BASE_TYPES)
    + r")(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
ARRAY_TYPES = frozenset({"contains-all", "contains-any", "icontains-all", "icontains-any"})
RAW_TYPES = frozenset({"contains-json", "is-json"})
THRESHOLD_TYPES = frozenset({
    "answer-relevance", "classifier", "context-faithfulness", "context-recall",
    "context-relevance", "cost", "latency", "levenshtein", "perplexity-score",
    "perplexity", "rouge-n", "similar", "starts-with"})
_JS_FILE = re.compile(r"\.(?:js|cjs|mjs|ts|cts|mts)(?::[\w.]+)?$")


def assertion_from_string(expected: str) -> dict[str, Any]:
    """promptfoo's assertionFromString: the assertion a cell stands for."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if expected.startswith(prefix):
            return {"type": "javascript", "value": expected[len(prefix):].strip()}
    if expected.startswith("file://") and _JS_FILE.search(expected):
        return {"type": "javascript", "value": expected}
    for prefix in ("grade:", "llm-rubric:"):
        if expected.startswith(prefix):
            return {"type": "llm-rubric", "value": expected[len(prefix):]}
    if expected.startswith("python:"):
        return {"type": "python", "value": expected[len("python:"):].strip()}
    if expected.startswith("file://") and (expected.endswith(".py") or ".py:" in expected):
        return {"type": "python", "value": expected}
    m = _ASSERTION.match(expected)
    if m is None:
        return {"type": "equals", "value": expected}
    negated, kind, threshold, value = m.groups()
    item: dict[str, Any] = {"type": f"not-{kind}" if negated else kind}
    if kind in ARRAY_TYPES:
        if value:
            item["value"] = [v.strip() for v in value.split(",")]
    elif kind in RAW_TYPES:
        if value is not None:
            item["value"] = value
    else:
        if value is not None:
            item["value"] = value.strip()
        if kind in THRESHOLD_TYPES:
            item["threshold"] = float(threshold) if threshold else (
                0.8 if kind == "similar" else 0.75)
    return item
