"""The plan of a run: every (case x prompt x model x repeat) call the suites and the
options ask for, in the suites' order.

Every cell is rendered while the plan is made, so a template error stops the run
before its first model call. A Call keeps references to its suite, case and prompt,
not a rendered copy of its messages: a plan of many thousands of calls stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..load import tools as tooling
from ..load.project import Project, PromptRef
from ..load.rendering import render_messages
from ..load.suites import Case, Suite, case_matches
from ..results import CellKey, RecordKey
from .options import RunOptions
from .sharding import shard_calls


class Call:
    """One planned model call. Its messages are rendered when asked for, not kept: a
    plan of many thousands of calls holds references to the suite, not a rendered copy
    of every prompt (often the larger of the two: system prompts, few-shot examples)."""

    __slots__ = ("case", "model", "params", "prompt", "repeat", "suite")

    def __init__(self, suite: Suite, case: Case, prompt: PromptRef, model: str,
                 repeat: int, params: dict[str, Any]) -> None:
        self.suite = suite
        self.case = case
        self.prompt = prompt
        self.model = model
        self.repeat = repeat
        self.params = params

    @property
    def key(self) -> RecordKey:
        return (self.suite.name, self.case.id, self.prompt.id, self.model, self.repeat)

    @property
    def cell(self) -> CellKey:
        return (self.suite.name, self.case.id, self.prompt.id, self.model)

    @property
    def messages(self) -> list[dict[str, str]]:
        return render_messages(self.prompt, self.case.vars, file=self.case.file,
                               line=self.case.line, case=self.case.id)

    @property
    def is_conversation(self) -> bool:
        """Played turn by turn (run/turns.py): the case gives `turns:`, or canned
        tool results that answer the model's calls before it answers in words."""
        return self.case.turns is not None or bool(self.case.tool_results)


def call_params(project: Project, call: Call) -> dict[str, Any]:
    """What the call is sent with: its params, and the prompt's tools rendered with
    its case's vars (and its tool_choice). Also the params of its cache key."""
    spec = call.prompt.spec
    if not spec.tools:
        return call.params
    params = {**call.params, "tools": tooling.render_tools(
        project, call.prompt, call.case.vars, case=call.case.id)}
    choice = tooling.tool_choice(call.prompt)
    if choice is not None:
        params["tool_choice"] = choice
    return params


def plan(project: Project, suites: Sequence[Suite], options: RunOptions) -> list[Call]:
    calls: list[Call] = []
    for suite in suites:
        repeat = 1 if adaptive(suite, options) else int(options.repeat or suite.repeat)
        # model < prompt < suite < case < --param: the first three once per suite
        levels: dict[tuple[int, str], dict[str, Any]] = {}
        suite_params = suite.spec.params.set_values()
        for case in suite.cases:
            if case.variant_of is not None and not options.perturb:
                continue  # --no-perturb
            if not case_matches(case.id, options.filter, case.metadata, case.tags):
                continue
            for p, prompt in enumerate(suite.prompts):
                models = suite.models if options.only is None else [
                    m for m in suite.models if (suite.name, case.id, prompt.id, m) in options.only]
                if not models:
                    continue
                # rendered now so that a template error stops the run before its first
                # call; rendered again when the call is made (Call.messages)
                messages = render_messages(prompt, case.vars, file=case.file,
                                           line=case.line, case=case.id)
                if prompt.spec.tools or case.turns is not None or case.tool_results:
                    _check_tools(project, prompt, case, messages)
                for model in models:
                    fixed = levels.get((p, model))
                    if fixed is None:
                        fixed = levels[p, model] = {
                            **project.model(model).params.set_values(),
                            **prompt.spec.params.set_values(), **suite_params}
                    first = Call(suite, case, prompt, model, 0,
                                 {**fixed, **case.params, **options.params})
                    if repeat == 1 and not options.seed_offset:
                        calls.append(first)
                    else:
                        calls.extend(repeat_call(first, i, options.seed_offset)
                                     for i in range(repeat))
    if options.shard is not None:
        calls = shard_calls(calls, *options.shard)
    return calls


def _check_tools(project: Project, prompt: PromptRef, case: Case,
                 messages: list[dict[str, str]]) -> None:
    """The tools render, the case's tool results name them, its assertions' turns
    exist, and every turn and canned result renders: all before the first call."""
    tooling.render_tools(project, prompt, case.vars, case=case.id)
    tooling.check_case(prompt, case, messages)
    for n, text in enumerate(case.turns or (), start=2):
        tooling.render_turn(project, prompt, text, case.vars, n, file=case.file,
                            line=case.line, case=case.id)


def adaptive(suite: Suite, options: RunOptions) -> bool:
    """--repeat auto, or `repeat: auto` in the suite when no --repeat N overrides it."""
    return options.auto_repeat or (options.repeat is None and suite.repeat == "auto")


def repeat_call(first: Call, i: int, offset: int = 0) -> Call:
    """Repeat i of a cell: with a seed, it uses seed + i (+ the --resample offset), so
    repeats differ from each other and each one is reproducible."""
    params = first.params  # shared by the repeats unless their seeds differ
    if params.get("seed") is not None or offset:
        params = {**params, "seed": int(params.get("seed") or 0) + i + offset}
    return Call(first.suite, first.case, first.prompt, first.model, i, params)
