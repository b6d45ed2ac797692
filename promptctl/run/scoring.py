"""What promptctl itself gives a call's record: the digest of its rendered prompt (its
fingerprint) and its verdict from the case's checks (`score_call`).

A check never sees what another call or the record will see: a plugin's check type gets
copies of the case's vars and messages; the built-ins only read them.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any

import orjson

from .. import assertions
from ..errors import InfraError
from ..load.project import Project
from ..results import AssertionResult, CallRecord, Completion, ToolCall, digest
from .plan import Call, call_params
from .turns import transcript

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
    turns = record.turns
    spoken = record.messages if turns is not None else transcript(record.messages, completion)
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
        description=call.case.description, metadata=call.case.metadata,
        tool_calls=list(completion.tool_calls),
        tools=call_params(project, call).get("tools", []) if call.prompt.spec.tools else [],
        transcript=copy.deepcopy(spoken) if private else spoken,
        turn=len(turns) if turns else None)
    results = []
    for spec in call.case.asserts:
        try:
            if not turns or spec.turn in (None, "last"):
                results.append(assertions.evaluate(spec, completion.text, ctx))
            elif spec.turn == "each":
                results.append(_every_turn(spec, turns, ctx))
            else:
                results.append(_on_turn(spec, turns, int(spec.turn), ctx))
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


def _on_turn(spec: Any, turns: list[dict[str, Any]], n: int,
             ctx: assertions.AssertionContext) -> AssertionResult:
    """The assertion on turn n's answer: its text and its tool calls (1-based; the
    plan refused a turn the case does not have)."""
    turn = turns[n - 1] if n <= len(turns) else {}
    at = dataclasses.replace(ctx, turn=n, tool_calls=[ToolCall.from_dict(c)
                                                      for c in turn.get("tool_calls", ())])
    return assertions.evaluate(spec, str(turn.get("output") or ""), at)


def _every_turn(spec: Any, turns: list[dict[str, Any]],
                ctx: assertions.AssertionContext) -> AssertionResult:
    """`turn: each`: the assertion on every turn; it passes when each does, scores
    their mean, and its reason names the turns that failed."""
    each = [_on_turn(spec, turns, n, ctx) for n in range(1, len(turns) + 1)]
    failed = [(n, r) for n, r in enumerate(each, start=1) if not r.passed]
    if failed:
        reason = "; ".join(f"turn {n}: {r.reason}" for n, r in failed)
    else:
        reason = f"all {len(each)} turns: {each[-1].reason}"
    first = each[0]
    return AssertionResult(first.type, not failed, sum(r.score for r in each) / len(each),
                           reason, weight=first.weight, metric=first.metric)
