"""`echo`: returns the rendered prompt. For template work and for measuring overhead."""

from __future__ import annotations

from typing import Any

from ..results import Completion
from .base import Provider


class EchoProvider(Provider):
    name = "echo"
    max_concurrency = 1

    def identity(self) -> dict[str, Any]:
        return {"provider": "echo"}

    @classmethod
    def identity_of(cls, entry: Any) -> dict[str, Any]:
        return {"provider": "echo"}

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        text = "\n".join(m["content"] for m in messages)
        words = len(text.split())
        return Completion(text=text, prompt_tokens=words, completion_tokens=words,
                          finish_reason="stop")
