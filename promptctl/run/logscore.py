"""A production log's lines scored by a suite's checks (`promptctl score`), without
calling the model under test: each LogLine (logs.py) becomes a call of the suite and a
completion holding the logged output, scored by the Runner (`Runner.score`: the record,
checks, judges, embeddings and response cache of a run), so a line gets the verdict
`promptctl run` would have given that output.

The call: the case of load/logcases.py (the named case, or the every-case assertions
rendered with the line's vars); the suite's prompt the line names (else its first);
the suite's first model as the alias checks see (a check that asks the model under test
for logprobs gets an error: the log has none); the line's own messages when it has
them, else the prompt rendered with the line's (or the case's) vars. A line whose
assertions cannot be rendered (a var it lacks) gets that as its record's error.

Invariants: no record is kept or written here (the caller aggregates and drops them);
the model under test is never called; the record's `case` is the line's id (or
`line-N`), its fingerprint's model what the log says ran ({"logged": MODEL}).
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..load.logcases import LineCases
from ..load.project import Project, PromptRef
from ..load.rendering import render_messages
from ..load.suites import Case, Suite
from ..results import CallRecord, Completion
from .logs import LogLine
from .options import RunOptions
from .plan import Call
from .runner import Runner, new_record


class LoggedCall(Call):
    """A planned call whose messages are the ones a log recorded."""

    __slots__ = ("logged",)

    def __init__(self, suite: Suite, case: Case, prompt: PromptRef, model: str,
                 logged: list[dict[str, str]]) -> None:
        super().__init__(suite, case, prompt, model, 0, {})
        self.logged = logged

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.logged


class LogScorer:
    """Scores the lines of a log against one suite. close() when done."""

    def __init__(self, project: Project, suite: Suite, *, use_cache: bool = True) -> None:
        if not suite.prompts:
            raise UserError(f"suite '{suite.name}' has no prompts", file=suite.file,
                            hint="a suite names the prompts its cases render")
        self.project = project
        self.suite = suite
        self.cases = LineCases(project, suite)
        self.runner = Runner(project, RunOptions(use_cache=use_cache))
        self.model = suite.models[0]
        self._prompts = {p.id: p for p in suite.prompts}

    @property
    def services(self) -> Any:
        """The runner's model access (embeddings for the distribution's centroids)."""
        return self.runner.services

    def score(self, line: LogLine) -> tuple[CallRecord, Case | None]:
        """The line's record, and the case it was scored as (None: it had none)."""
        label = line.id or f"line-{line.line}"
        prompt = self._prompts.get(line.prompt or "", self.suite.prompts[0])
        identity = {"logged": line.model}
        try:
            case = self.cases.named(line.case) if line.case is not None else \
                self.cases.for_vars(label, line.vars)
        except UserError as exc:
            return self._failed(line, label, prompt, identity, exc), None
        messages = line.messages
        if messages is None:
            try:
                messages = render_messages(prompt, case.vars, case=label)
            except UserError:  # the log has the inputs, not the prompt's: none to show
                messages = []
        call = LoggedCall(self.suite, case, prompt, self.model, messages)
        completion = Completion(text=line.output, latency_ms=line.latency_ms,
                                prompt_tokens=line.tokens.get("prompt", 0),
                                completion_tokens=line.tokens.get("completion", 0))
        record = self.runner.score(call, identity, completion)
        record.case = label if line.case is None else line.case
        return record, case

    def _failed(self, line: LogLine, label: str, prompt: PromptRef,
                identity: dict[str, Any], exc: UserError) -> CallRecord:
        case = Case(id=label, vars=line.vars or {}, asserts=[], assert_lines=[],
                    params={}, threshold=None, file=self.suite.file, line=None)
        record = new_record(LoggedCall(self.suite, case, prompt, self.model,
                                       line.messages or []), identity)
        record.case = label
        record.output = line.output
        hint = exc.hint
        if "is undefined" in exc.message:  # an assertion value's var the line lacks
            hint = "log that var in the line's vars, or map it with --field vars.NAME=PATH"
        record.error = exc.message if not hint else f"{exc.message} ({hint})"
        return record

    def close(self) -> None:
        self.runner.close()
