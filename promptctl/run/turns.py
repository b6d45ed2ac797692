"""A case played as a conversation: the prompt's messages, then each of the case's
`turns:` as a user message; the model answers each, and its tool calls are answered
with the case's canned `tool_results` before it answers again (run/runner.py makes the
requests; this module only says what to ask next).

`Conversation.play()` is a generator: it yields each request (messages, params) and is
sent the Completion; the runner's sync and async lanes drive the same generator, so
they cannot play a conversation differently.

Invariants:
- Tool call ids are promptctl's own (call_1, call_2... over the conversation), never
  the provider's random ones: each request's messages, and so its cache key (made of
  everything before it), are the same on every run with the same answers.
- A turn has at most MAX_TOOL_ROUNDS requests that end in tool calls; a model that keeps
  calling tools past it ends the turn with its last calls unanswered.
- The prompt's `tool_choice` applies to the first request of each turn. After tool
  results the model is asked with `auto` (a `required` or named choice would only ask
  for the same call again), unless the choice was `none`.
- A call with no canned result ends the turn: its tool message in the transcript says
  that the case gives no result (the API wants an answer to every call before the next
  user message).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ..load import tools as tooling
from ..load.project import Project
from ..results import Completion, ToolCall, Turn
from .plan import Call

MAX_TOOL_ROUNDS = 4
NO_RESULT = "error: the test case gives no result for the tool {name}"

Request = tuple[list[dict[str, Any]], dict[str, Any]]


@dataclass
class Conversation:
    project: Project
    call: Call
    params: dict[str, Any]  # the call's request params (tools included)
    opening: list[dict[str, Any]]  # the prompt's rendered messages
    messages: list[dict[str, Any]] = field(default_factory=list)  # the transcript so far
    turns: list[Turn] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)  # every answer
    # set by the runner before it sends an answer: it came from the cache or the run's
    # steps.jsonl, not from the model (a turn is `cached` when all its answers were)
    reused: bool = False
    _ids: int = 0

    def inputs(self) -> list[str | None]:
        """Each turn's user message, None for the prompt's own (see count_turns)."""
        case = self.call.case
        opening: list[str | None] = [None] if tooling.count_turns(self.opening, ()) else []
        rendered = [tooling.render_turn(self.project, self.call.prompt, text, case.vars,
                                        len(opening) + i + 1, file=case.file,
                                        line=case.line, case=case.id)
                    for i, text in enumerate(case.turns or ())]
        return [*opening, *rendered]

    def play(self) -> Generator[Request, Completion, None]:
        self.messages = list(self.opening)
        for text in self.inputs():
            if text is not None:
                self._answer_dangling()
                self.messages.append({"role": "user", "content": text})
            turn = Turn(input=text, cached=True)
            self.turns.append(turn)
            params = self.params
            for rounds in range(MAX_TOOL_ROUNDS + 1):
                completion = yield list(self.messages), params
                self._took(turn, completion)
                calls = self._numbered(completion.tool_calls)
                self.messages.append(_assistant(completion.text, calls))
                turn.output = completion.text
                turn.tool_calls.extend(c.to_dict() for c in calls)
                if not calls or rounds == MAX_TOOL_ROUNDS:
                    break
                answered = [self._result(c) for c in calls]
                self.messages.extend(m for m in answered if m is not None)
                if None in answered:
                    break  # a call without a canned result: the turn ends here
                params = self._after_results()

    def _took(self, turn: Turn, completion: Completion) -> None:
        self.completions.append(completion)
        turn.cached = turn.cached and self.reused
        turn.tokens = {"prompt": turn.tokens["prompt"] + completion.prompt_tokens,
                       "completion": turn.tokens["completion"] + completion.completion_tokens}
        turn.latency_ms = round(turn.latency_ms + completion.latency_ms, 1)

    def _numbered(self, calls: list[ToolCall]) -> list[ToolCall]:
        out = number_calls(calls, start=self._ids + 1)  # numbered over the conversation
        self._ids += len(out)
        return out

    def _result(self, call: ToolCall) -> dict[str, Any] | None:
        """The canned result's tool message, or None when the case gives none."""
        case = self.call.case
        if call.name not in case.tool_results:
            return None
        content = tooling.render_tool_result(
            self.project, self.call.prompt, case.tool_results[call.name], case.vars,
            call.arguments, name=call.name, file=case.file, line=case.line, case=case.id)
        return {"role": "tool", "tool_call_id": call.id, "name": call.name,
                "content": content}

    def _answer_dangling(self) -> None:
        """Calls of the last answer that got no result: answered with NO_RESULT, so
        the transcript is one the API takes (every call answered)."""
        if not self.messages:
            return
        last = self.messages[-1]
        answered = {m.get("tool_call_id") for m in self.messages if m.get("role") == "tool"}
        for c in last.get("tool_calls") or ():
            if c["id"] not in answered:
                name = c["function"]["name"]
                self.messages.append({"role": "tool", "tool_call_id": c["id"], "name": name,
                                      "content": NO_RESULT.format(name=name)})

    def _after_results(self) -> dict[str, Any]:
        if self.params.get("tool_choice") in (None, "auto", "none"):
            return self.params
        return {**self.params, "tool_choice": "auto"}

    def total(self) -> Completion:
        """The conversation as one completion, for scoring and the record: the last
        turn's text and tool calls, every answer's tokens, time, cost and retries."""
        done = self.completions
        last = self.turns[-1] if self.turns else Turn(input=None)
        return Completion(
            text=last.output,
            prompt_tokens=sum(c.prompt_tokens for c in done),
            completion_tokens=sum(c.completion_tokens for c in done),
            latency_ms=sum(c.latency_ms for c in done),
            finish_reason=done[-1].finish_reason if done else None,
            cost=sum(c.cost for c in done),
            retries=sum(c.retries for c in done),
            served_model=done[-1].served_model if done else None,
            system_fingerprint=done[-1].system_fingerprint if done else None,
            tool_calls=[ToolCall.from_dict(c) for c in last.tool_calls],
        )


def _assistant(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [c.message_call() for c in calls]
    return message


def number_calls(calls: list[ToolCall], start: int = 1) -> list[ToolCall]:
    """Tool calls with promptctl's ids (call_1, call_2..., from `start`)."""
    return [ToolCall(name=c.name, arguments=c.arguments, raw=c.raw, id=f"call_{i}")
            for i, c in enumerate(calls, start=start)]


def transcript(messages: list[dict[str, Any]], completion: Completion) -> list[dict[str, Any]]:
    """One call's conversation: its messages and its answer."""
    return [*messages, _assistant(completion.text, number_calls(completion.tool_calls))]
