"""`openai`: the official SDK, for OpenAI and every OpenAI-compatible server
(vLLM, Ollama, LM Studio, llama.cpp server, Together, Groq...)."""

from __future__ import annotations

import os
import time
from typing import Any

from ..errors import UserError
from ..results import Completion
from .base import Provider, ProviderError
from .registry import missing_extra

DEFAULT_CONCURRENCY = 8
NO_KEY = "sk-no-key-required"  # local servers ignore the key but the SDK wants one


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, entry: Any, alias: str) -> None:
        super().__init__(entry, alias)
        if not entry.model:
            raise UserError(f"model '{alias}' (openai) needs a 'model' name",
                            hint="e.g. model: gpt-4o-mini")
        self.base_url = entry.base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.max_concurrency = entry.concurrency or DEFAULT_CONCURRENCY
        self._client: Any = None

    def _api_key(self) -> str:
        if self.entry.api_key:
            return str(self.entry.api_key)
        var = self.entry.api_key_env or "OPENAI_API_KEY"
        key = os.environ.get(var)
        if key:
            return key
        if self.entry.api_key_env:
            raise UserError(f"model '{self.alias}': environment variable {var} is not set",
                            hint=f"export {var}=... or change api_key_env")
        if self.base_url:
            return NO_KEY
        raise UserError(f"model '{self.alias}': no API key for OpenAI",
                        hint="export OPENAI_API_KEY=..., or set base_url for a local server")

    def identity(self) -> dict[str, Any]:
        return {"provider": self.name, "model": self.entry.model,
                "base_url": self.base_url or "https://api.openai.com/v1"}

    def client(self) -> Any:
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise missing_extra("openai", "openai") from None
            self._client = openai.OpenAI(api_key=self._api_key(), base_url=self.base_url,
                                         timeout=self.entry.timeout,
                                         max_retries=self.entry.max_retries)
        return self._client

    def check(self) -> str:
        import openai

        try:
            models = [m.id for m in self.client().models.list()]
        except openai.OpenAIError as exc:
            raise ProviderError(_explain(exc)) from None
        listed = "listed" if self.entry.model in models else "not listed by the server"
        return f"reachable at {self.identity()['base_url']}; model {self.entry.model} {listed}"

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        import openai

        kwargs: dict[str, Any] = {"model": self.entry.model, "messages": messages}
        for key in ("temperature", "top_p", "max_tokens", "seed", "stop",
                    "presence_penalty", "frequency_penalty"):
            if params.get(key) is not None:
                kwargs[key] = params[key]
        if params.get("top_k") is not None:
            kwargs["extra_body"] = {"top_k": params["top_k"]}
        fmt = params.get("response_format")
        if fmt:
            kwargs["response_format"] = (
                {"type": "json_schema",
                 "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}
                if fmt.get("type") == "json_schema" else {"type": "json_object"})
        start = time.perf_counter()
        try:
            reply = self.client().chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise ProviderError(_explain(exc)) from None
        latency = (time.perf_counter() - start) * 1000
        if not reply.choices:
            raise ProviderError("the server returned no choices")
        choice = reply.choices[0]
        usage = reply.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency,
            finish_reason=choice.finish_reason,
            cost=self.price(prompt_tokens, completion_tokens),
        )


def _explain(exc: Exception) -> str:
    """A one-line cause for the record; never includes the API key."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"cannot connect: {cause}"
    if isinstance(exc, openai.APIStatusError):
        body = exc.message if isinstance(exc.message, str) else str(exc.body)
        return f"HTTP {exc.status_code}: {body[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
