"""Model access for assertions that need a model of their own: embeddings for
`similar`, a judge for the model-graded types, logprobs for `choice` and `perplexity`.

Everything goes through the same providers and the same response cache as the calls
under test, so a second run re-uses embeddings and judgements. Failures raise
InfraError: the call under test gets an error (no verdict), never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InfraError
from ..load.rendering import render_messages
from ..providers import Provider
from ..results import digest
from .budget import Ledger, reserve_or_raise
from .cache import Cache, cache_key

if TYPE_CHECKING:
    from ..assertions.base import ModelAccess
    from ..load.project import Project

JUDGE_PARAMS = {"temperature": 0.0, "seed": 0, "max_tokens": 384}


class JudgeError(InfraError):
    """The judge answered, but not with a judgement that parses and validates."""


def _key(kind: str, identity: dict[str, Any], payload: Any) -> str:
    return digest({"kind": kind, "identity": identity, "payload": payload})


class Services:
    """The assertions' ModelAccess (assertions/base.py), checked by mypy below."""

    def __init__(self, project: Project, cache: Cache | None,
                 provider: Callable[[str], Provider]) -> None:
        self.project = project
        self.cache = cache
        self.provider = provider
        self.budget: Ledger | None = None  # the run's spend limits: a judge spends too

    # -- embeddings ------------------------------------------------------------
    def embed(self, texts: list[str], embedder: str | None = None) -> list[list[float]]:
        alias = embedder or self.project.config.embedder or "default"
        provider = self.provider(alias)
        identity = provider.identity()
        keys = [_key("embed", identity, t) for t in texts]
        found: dict[int, list[float]] = {}
        if self.cache is not None:
            for i, key in enumerate(keys):
                hit = self.cache.get_value(key, list[float])
                if hit is not None:
                    found[i] = hit
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            vectors = provider.embed([texts[i] for i in missing])
            for i, vec in zip(missing, vectors, strict=True):
                found[i] = vec
                if self.cache is not None:
                    self.cache.put_value(keys[i], identity, vec)
        return [found[i] for i in range(len(texts))]

    # -- logprobs ----------------------------------------------------------------
    def continuation_logprobs(self, model: str, messages: list[dict[str, str]],
                              continuations: list[str]) -> list[list[float]]:
        provider = self.provider(model)
        identity = provider.identity()
        key = _key("logprobs", identity, [messages, continuations])
        if self.cache is not None:
            hit = self.cache.get_value(key, list[list[float]])
            if hit is not None:
                return list(hit)
        value = provider.continuation_logprobs(messages, continuations)
        if self.cache is not None:
            self.cache.put_value(key, identity, value)
        return value

    def output_logprobs(self, model: str, messages: list[dict[str, str]], output: str
                        ) -> list[float]:
        """Token logprobs of the output under the model that produced it."""
        provider = self.provider(model)
        if not provider.scores_text:
            raise InfraError(f"model '{model}' cannot score text it did not generate: set "
                             "`logprobs: true` in its params so replies carry their logprobs")
        return self.continuation_logprobs(model, messages, [output])[0]

    # -- judges ------------------------------------------------------------------
    def judge_messages(self, prompt: str, variables: dict[str, Any]) -> list[dict[str, str]]:
        """A user's judge prompt from prompts/, rendered with the judge's variables."""
        return render_messages(self.project.prompt(prompt), variables)

    def judge(self, messages: list[dict[str, str]], schema: dict[str, Any],
              judge: str | None = None) -> dict[str, Any]:
        """The judge's reply, constrained to `schema` where the provider supports it,
        parsed strictly. A reply that is not valid JSON of that schema is an error."""
        # deferred: jsonschema only for a judge that is given a schema
        import jsonschema

        alias = judge or self.project.config.judge or "default"
        provider = self.provider(alias)
        params = {**JUDGE_PARAMS,
                  "response_format": {"type": "json_schema", "schema": schema}}
        key = cache_key(provider.identity(), messages, params, 0)
        completion = self.cache.get(key) if self.cache is not None else None
        fresh = completion is None
        if completion is None:
            ledger = self.budget
            ticket = None if ledger is None else \
                reserve_or_raise(ledger, provider, messages, params)
            try:
                completion = provider.complete(messages, params)
            finally:
                if ledger is not None and ticket is not None:
                    ledger.settle_completion(ticket, completion)
        text = completion.text.strip()
        try:
            verdict = json.loads(text)
            jsonschema.validate(verdict, schema)
        except (ValueError, jsonschema.ValidationError) as exc:
            detail = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
            shown = text if len(text) <= 120 else text[:117] + "..."
            raise JudgeError(f"judge '{alias}' returned a malformed judgement ({detail}): "
                             f"{shown!r}") from None
        if fresh and self.cache is not None:
            self.cache.put(key, provider.identity(), completion)
        return dict(verdict)


if TYPE_CHECKING:  # mypy: Services has every ModelAccess method, with its types
    _services_are_model_access: type[ModelAccess] = Services
