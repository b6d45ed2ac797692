"""The one small interface every provider implements."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import InfraError
from ..results import Completion
from ..schema import ModelEntry

# A prompt's token bound without a tokenizer (prompt_tokens_bound): byte-level BPE
# (GPT, Llama 3, SmolLM, Qwen...) never makes more tokens of a text than it has UTF-8
# bytes; SentencePiece with byte fallback at most one more. A chat template adds its
# role markers around each message and a reply primer (some a default system prompt):
# these overheads cover the common templates with room to spare.
PER_MESSAGE_TOKENS = 8
PER_CALL_TOKENS = 64


class ProviderError(InfraError):
    """A call failed after the provider's own retries: recorded as the call's error,
    with how many retries it took."""

    def __init__(self, message: str, *, retries: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retries = retries


class Provider:
    """Subclasses set `name` and implement `complete`.

    - `identity()` names the model for fingerprints and cache keys: it must change
      whenever the same request could produce a different answer.
    - `max_concurrency` is how many calls may run at once (1 for in-process models).
    - `complete()` raises ProviderError for a call that failed; the runner records it.
    - A provider whose I/O is asynchronous sets `is_async` and implements `acomplete()`
      (a coroutine on promptctl.aio's loop): the runner then keeps its calls in flight
      as coroutines on that loop, not as threads, and `complete()` waits for one.
    """

    name: ClassVar[str] = ""
    max_concurrency: int = 1
    # continuation_logprobs scores any text exactly (not just a first-token estimate)
    scores_text: ClassVar[bool] = False
    # acomplete() is the real call; the runner awaits it on the engine loop
    is_async: ClassVar[bool] = False

    def __init__(self, entry: ModelEntry, alias: str) -> None:
        self.entry = entry
        self.alias = alias

    def identity(self) -> dict[str, Any]:
        return {"provider": self.name, "model": self.entry.model}

    @classmethod
    def identity_of(cls, entry: ModelEntry) -> dict[str, Any]:
        """The identity a provider made from `entry` would have, without making it (no
        API key, no model file needed): for outputs recorded by another tool. A
        provider whose identity() reads more than the entry overrides both."""
        return {"provider": cls.name, "model": entry.model}

    def allow_concurrency(self, calls: int) -> None:
        """`-j N` on the command line: a hosted model without its own `concurrency:`
        takes N calls at once. In-process models stay at one."""
        if self.max_concurrency > 1 and self.entry.concurrency is None:
            self.max_concurrency = max(1, calls)

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        raise NotImplementedError

    async def acomplete(self, messages: list[dict[str, str]],
                        params: dict[str, Any]) -> Completion:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, for the `similar` assertion."""
        raise ProviderError(f"the {self.name} provider cannot embed text: use a "
                            "llama-cpp model or an OpenAI-compatible embeddings endpoint")

    def continuation_logprobs(self, messages: list[dict[str, str]],
                              continuations: list[str]) -> list[list[float]]:
        """Token logprobs of each continuation as the assistant's reply to messages,
        for the `choice` and `perplexity` assertions."""
        raise ProviderError(f"the {self.name} provider returns no logprobs")

    def check(self) -> str:
        """Reachability for `promptctl models`: a short description, or raise."""
        return "ok"

    def close(self) -> None:
        """Release what the provider holds; optional."""

    def prompt_tokens_bound(self, messages: list[dict[str, str]]) -> int:
        """An upper bound of the prompt tokens these messages take, for a spend limit's
        estimate (run/budget.py): by default their UTF-8 bytes plus the template
        overheads above. A provider that can count exactly may say so here."""
        return PER_CALL_TOKENS + sum(
            PER_MESSAGE_TOKENS + len(m.get("role", "").encode())
            + len(str(m.get("content") or "").encode())
            + len(str(m.get("tool_calls") or "").encode()) for m in messages)

    def price(self, prompt_tokens: int, completion_tokens: int, *,
              batch: bool = False) -> float:
        """What a call cost; a batch API's call at the entry's batch price when it
        gives one (`batch_input`, `batch_output`), else at the normal price."""
        price = self.entry.price or {}
        inp, out = price.get("input", 0.0), price.get("output", 0.0)
        if batch:
            inp, out = price.get("batch_input", inp), price.get("batch_output", out)
        return prompt_tokens * inp + completion_tokens * out
