"""A scripted provider for unit tests of runner logic (never for claims about models).

The answer is looked up by the last user message (a list of answers is indexed by the
call's seed, so repeats can differ); "FAIL-INFRA" in it raises a ProviderError; every
call is counted."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from promptctl.providers.base import Provider, ProviderError
from promptctl.results import Completion


class ScriptedProvider(Provider):
    name = "scripted"
    answers: ClassVar[dict[str, str | list[str]]] = {}
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    in_flight: ClassVar[int] = 0
    max_in_flight: ClassVar[int] = 0
    spans: ClassVar[list[tuple[float, float]]] = []  # (start, end) of each call
    delay: ClassVar[float] = 0.0
    default: ClassVar[str | None] = None  # the answer to any unscripted prompt
    _lock = threading.Lock()

    def __init__(self, entry: Any, alias: str) -> None:
        super().__init__(entry, alias)
        self.max_concurrency = entry.concurrency or 4

    @classmethod
    def reset(cls, answers: dict[str, str | list[str]] | None = None,
              delay: float = 0.0) -> None:
        cls.answers = dict(answers or {})
        cls.calls = []
        cls.in_flight = cls.max_in_flight = 0
        cls.spans = []
        cls.delay = delay
        cls.default = None

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        prompt = messages[-1]["content"]
        with self._lock:
            type(self).calls.append((prompt, params))
            type(self).in_flight += 1
            type(self).max_in_flight = max(self.max_in_flight, self.in_flight)
        start = time.monotonic()
        try:
            if self.delay:
                time.sleep(self.delay)
            if "FAIL-INFRA" in prompt:
                raise ProviderError("scripted outage")
            answer = self.answers.get(prompt, self.default or f"echo: {prompt}")
            if isinstance(answer, list):
                answer = answer[int(params.get("seed") or 0) % len(answer)]
            text = answer
            return Completion(text=text, prompt_tokens=len(prompt.split()),
                              completion_tokens=len(text.split()), latency_ms=1.0)
        finally:
            with self._lock:
                type(self).in_flight -= 1
                type(self).spans.append((start, time.monotonic()))
