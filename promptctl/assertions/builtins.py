"""Every built-in assertion type and the module of this package that defines it: the
one list, as pre-commit's all_languages.py lists its languages.

A module is imported when one of its types is first used, and its `TYPES` (base.Types)
must define exactly the types listed here for it (tests/assertions/test_registry.py).
Third-party types come through the entry-point group `promptctl.assertions`
(registry.py); a plugin cannot replace a built-in.
"""

from __future__ import annotations

BUILTINS: dict[str, str] = {
    "equals": "text",
    "contains": "text",
    "icontains": "text",
    "contains-any": "text",
    "icontains-any": "text",
    "contains-all": "text",
    "icontains-all": "text",
    "starts-with": "text",
    "regex": "text",
    "length": "text",
    "levenshtein": "text",
    "is-json": "structured",
    "json-schema": "structured",
    "is-refusal": "safety",
    "pii": "safety",
    "rouge-n": "metrics",
    "rouge-l": "metrics",
    "bleu": "metrics",
    "exact-match": "metrics",
    "f1": "metrics",
    "similar": "models",
    "choice": "models",
    "perplexity": "models",
    "llm-rubric": "judges",
    "factuality": "judges",
    "answer-relevance": "judges",
    "latency": "usage",
    "cost": "usage",
    "tokens": "usage",
    "python": "custom",
    "tool-call": "tools",
    "tool-calls": "tools",
    "no-tool-call": "tools",
    "tool-args-schema": "tools",
}
