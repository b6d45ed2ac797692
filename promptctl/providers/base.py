"""The one small interface every provider implements."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import InfraError
from ..results import Completion
from ..schema import ModelEntry


class ProviderError(InfraError):
    """A call failed after the provider's own retries: recorded as the call's error."""


class Provider:
    """Subclasses set `name` and implement `complete`.

    - `identity()` names the model for fingerprints and cache keys: it must change
      whenever the same request could produce a different answer.
    - `max_concurrency` is how many calls may run at once (1 for in-process models).
    - `complete()` raises ProviderError for a call that failed; the runner records it.
    """

    name: ClassVar[str] = ""
    max_concurrency: int = 1

    def __init__(self, entry: ModelEntry, alias: str) -> None:
        self.entry = entry
        self.alias = alias

    def identity(self) -> dict[str, Any]:
        return {"provider": self.name, "model": self.entry.model}

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        raise NotImplementedError

    def check(self) -> str:
        """Reachability for `promptctl models`: a short description, or raise."""
        return "ok"

    def close(self) -> None:
        """Release what the provider holds; optional."""

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.entry.price or {}
        return (prompt_tokens * price.get("input", 0.0)
                + completion_tokens * price.get("output", 0.0))
