"""What promptctl itself gives a call's record: the digest of its rendered prompt (its
fingerprint) and its verdict from the case's checks (`score_call`).

A check never sees what another call or the record will see: a plugin's check type gets
copies of the case's vars and messages; the built-ins only read them.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import orjson

from .. import assertions
from ..errors import InfraError
from ..load.project import Project
from ..results import CallRecord, Completion, digest
from .plan import Call

_TEXT = frozenset({str})  # orjson refuses keys that are not text: digest() has those


def prompt_digest(messages: list[dict[str, str]]) -> str:
    """results.digest(messages). Rendered messages hold text only, and for text orjson
    writes the bytes canonical() writes (keys sorted, no spaces, non-ASCII as it is,
    the same escapes: tests/run checks every code point), several times faster."""
    if type(messages) is not list:
        return digest(messages)
    for message in messages:
        if type(message) is not dict or not _TEXT.issuperset(map(type, message.values())):
            return digest(messages)
    try:
        return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except orjson.JSONEncodeError:  # a lone surrogate: canonical() says what it says
        return digest(messages)


def score_call(record: CallRecord, call: Call, completion: Completion,
               project: Project, services: Any = None) -> None:
    # a plugin's check type gets copies: it may change what it is given, and neither
    # the next call of this case nor the record may see that. Built-ins only read, and
    # a python check's ctx is copied into its worker process anyway.
    private = assertions.shares_inputs(call.case.asserts)
    checked = call.case.check_vars  # a perturbed variant's checks see its clean vars
    ctx = assertions.AssertionContext(
        vars=copy.deepcopy(checked) if private else checked,
        latency_ms=completion.latency_ms,
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        cost=completion.cost,
        messages=copy.deepcopy(record.messages) if private else record.messages,
        root=project.root,
        prompt=call.prompt.id, model=call.model, services=services,
        token_logprobs=completion.token_logprobs,
        check_timeout=project.config.limits.check_timeout,
        description=call.case.description, metadata=call.case.metadata)
    results = []
    for spec in call.case.asserts:
        try:
            results.append(assertions.evaluate(spec, completion.text, ctx))
        except InfraError as exc:  # a judge, embedder or scorer failed: no verdict
            record.error = f"{spec.type}: {exc.message}"
            record.assertions = results
            return
    record.assertions = results
    total = sum([r.weight for r in results])  # lists, not generators: the same sums
    record.score = (sum([r.score * r.weight for r in results]) / total) if total else 1.0
    if call.case.threshold is not None:
        record.passed = record.score >= call.case.threshold
    else:
        record.passed = all([r.passed for r in results])
