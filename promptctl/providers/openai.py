"""`openai`: the official SDK, for OpenAI and every OpenAI-compatible server
(vLLM, Ollama, LM Studio, llama.cpp server, Together, Groq...).

A base_url's credentials (userinfo, query string) are used for the requests only: the
identity, every message and every error name the endpoint by promptctl.redact.

Every completion carries what the endpoint says it ran: the response's `model` (the
dated snapshot behind the alias asked for) and `system_fingerprint`, None when the
server leaves them out (`Completion.served_model`, `.system_fingerprint`).

The request body (`body`) and the reading of a reply (`reply_completion`) are shared
with batch mode (providers/openai_batch.py, run/batch.py): a batch line asks exactly
what the online call would, and its answer becomes the same Completion."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from .. import aio
from ..errors import UserError
from ..redact import is_http_url, redact_url, scrub, split_url
from ..results import Completion, tool_call_of
from . import retry
from .base import Provider, ProviderError
from .registry import missing_extra

T = TypeVar("T")

DEFAULT_CONCURRENCY = 8
NO_KEY = "sk-no-key-required"  # local servers ignore the key but the SDK wants one
DEFAULT_BASE_URL = "https://api.openai.com/v1"
SERVED_LIMIT = 200  # characters kept of a reported model name or system_fingerprint

# How a JSON schema is sent. OpenAI, vLLM, Ollama and llama.cpp's own server take
# OpenAI's `json_schema` form; llama-cpp-python's server only knows `json_object`
# with a `schema` beside it. A server that rejects the first gets the second.
OPENAI_DIALECT = "json_schema"
SCHEMA_IN_JSON_OBJECT = "json_object+schema"


def _sdk() -> Any:
    loaded = sys.modules.get("openai")
    if loaded is not None:
        return loaded
    with _collector_paused():
        try:
            import openai  # deferred: ~0.4 s, paid by the first hosted call only
        except ImportError:
            raise missing_extra("openai", "openai") from None
    return openai


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Importing the SDK (and, on its first client, the HTTP stack) makes hundreds of
    thousands of long-lived objects and no garbage: with the cyclic collector paused
    it takes 0.29 s instead of 0.35 s here."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _identity(name: str, model: str | None, base_url: str | None) -> dict[str, Any]:
    # never the key: the identity goes into fingerprints, the cache and reports
    # nor the base_url's credentials: it names the endpoint, not who calls it
    return {"provider": name, "model": model,
            "base_url": redact_url(base_url or DEFAULT_BASE_URL).rstrip("/")}


class OpenAIProvider(Provider):
    """Asynchronous: every request is a coroutine on the engine loop (promptctl.aio)
    through `openai.AsyncOpenAI`; the synchronous methods wait for those coroutines."""

    name = "openai"
    is_async = True

    def __init__(self, entry: Any, alias: str) -> None:
        super().__init__(entry, alias)
        if not entry.model:
            raise UserError(f"model '{alias}' (openai) needs a 'model' name",
                            hint="e.g. model: gpt-4o-mini")
        self.base_url = entry.base_url or os.environ.get("OPENAI_BASE_URL") or None
        if self.base_url:
            self._check_base_url(self.base_url)
        self.max_concurrency = entry.concurrency or DEFAULT_CONCURRENCY
        # resolved now, so a missing key is a config error before any call is made
        self._key = self._api_key()
        self._client: Any = None  # made on the engine loop, used only there
        self._closer = 0  # its aio.on_shutdown handle
        self._schema_dialect: str | None = None  # learnt from the first schema call
        # retries are promptctl's, not the SDK's: see promptctl/providers/retry.py
        self._cancel = asyncio.Event()
        self.limiter = retry.AdaptiveLimiter(self.max_concurrency)
        self.budget = retry.RetryBudget(retry.BUDGET_RATIO, retry.BUDGET_MIN)
        self.retrier = retry.Retrier(retry.RetryPolicy.defaults(entry.max_retries),
                                     budget=self.budget, limiter=self.limiter,
                                     cancel=self._cancel)

    def _check_base_url(self, url: str) -> None:
        """An http(s) URL with a host and a valid port, or exit 2 naming it redacted
        (the parser's own message may quote a password: it is not shown)."""
        if not is_http_url(url):
            where = "base_url" if self.entry.base_url else "OPENAI_BASE_URL"
            raise UserError(f"model '{self.alias}': {where} {redact_url(url)!r} is not a "
                            "valid http(s) URL",
                            hint="e.g. http://127.0.0.1:8080/v1; percent-encode any of "
                                 ":/?#@ in a user name or password")

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

    def allow_concurrency(self, calls: int) -> None:
        super().allow_concurrency(calls)
        self.limiter.resize(self.max_concurrency)

    def identity(self) -> dict[str, Any]:
        return _identity(self.name, self.entry.model, self.base_url)

    @classmethod
    def identity_of(cls, entry: Any) -> dict[str, Any]:
        return _identity(cls.name, entry.model,
                         entry.base_url or os.environ.get("OPENAI_BASE_URL"))

    def client(self) -> Any:
        """The SDK's async client (on the engine loop only; closed when it stops)."""
        if self._client is None:
            # one attempt per request: the retries are the Retrier's
            sdk = _sdk()
            base_url, query = split_url(self.base_url) if self.base_url else (None, [])
            with _collector_paused():
                self._client = sdk.AsyncOpenAI(api_key=self._key, base_url=base_url,
                                               default_query=dict(query) or None,
                                               timeout=self.entry.timeout, max_retries=0)
            self._closer = aio.on_shutdown(self._client.close)
        return self._client

    def close(self) -> None:
        """Wake every call that waits (a backoff, a slot) and make it give up; then
        close the HTTP client (its connections)."""
        aio.call_soon(self._cancel.set)
        closer = aio.forget(self._closer) if self._closer else None
        if closer is not None:
            self._closer = 0
            aio.call_soon(lambda: _background(closer()))

    async def _request(self, attempt: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """attempt() under the retry policy: (its value, retries), or ProviderError."""
        try:
            return await self.retrier.call(attempt, self._classify)
        except retry.RetryFailed as exc:
            raise ProviderError(exc.message, retries=exc.retries) from None

    async def request(self, attempt: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Any SDK request under this model's retry policy (the batch protocol's,
        providers/openai_batch.py): (its value, retries), or ProviderError."""
        return await self._request(attempt)

    def check(self) -> str:
        return aio.run(self._check())

    async def _check(self) -> str:
        client = self.client()

        async def listed() -> list[str]:
            return _model_ids(await client.get("/models", cast_to=object))

        models, _ = await self._request(listed)
        listed_ = "listed" if self.entry.model in models else "not listed by the server"
        return f"reachable at {self.identity()['base_url']}; model {self.entry.model} {listed_}"

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Completion:
        return aio.run(self.acomplete(messages, params))

    def body(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        """The JSON body of one chat completion: the online call's and a batch line's
        (providers/openai_batch.py). A JSON schema goes in the form this server took
        (OpenAI's until another was learnt); the online call may still switch forms."""
        body: dict[str, Any] = {"model": self.entry.model, "messages": messages}
        for key in ("temperature", "top_p", "max_tokens", "seed", "stop",
                    "presence_penalty", "frequency_penalty", "top_k"):
            if params.get(key) is not None:
                body[key] = params[key]  # top_k: not OpenAI's, but most local servers'
        if params.get("logprobs"):
            body["logprobs"] = True
        if params.get("tools"):
            body["tools"] = params["tools"]
            # auto is the API's default, said out loud: llama-cpp-python's server
            # ignores the tools of a request that names no choice
            body["tool_choice"] = params.get("tool_choice") or "auto"
            if any(m.get("role") == "tool" for m in messages):
                body["messages"] = [_api_message(m) for m in messages]
        fmt = params.get("response_format")
        if fmt and fmt.get("type") != "json_schema":
            body["response_format"] = {"type": "json_object"}
        elif fmt:
            body["response_format"] = _schema_forms(fmt)[self._schema_dialect or OPENAI_DIALECT]
        return body

    async def acomplete(self, messages: list[dict[str, str]],
                        params: dict[str, Any]) -> Completion:
        body = self.body(messages, params)
        fmt = params.get("response_format")

        async def attempt() -> tuple[dict[str, Any], float]:
            start = time.perf_counter()
            if fmt and fmt.get("type") == "json_schema":
                reply = await self._create_with_schema(body, fmt)
            else:
                reply = await self._post_completion(body)
            # the latency of the attempt that answered, without the waits before it
            return reply, (time.perf_counter() - start) * 1000

        (reply, latency), retries = await self._request(attempt)
        try:
            return self.reply_completion(reply, latency, retries)
        except (LookupError, TypeError, ValueError, AttributeError):
            raise ProviderError(self._scrub(f"the server returned no completion: "
                                            f"{str(reply)[:120]!r}"), retries=retries) from None

    async def _post_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """One POST /chat/completions through the SDK's client (its URL, headers,
        timeout and errors), answered as the plain JSON document: the hot path skips
        the SDK's typed request transform and response models, half of its CPU time
        per call (bench/concurrency.py)."""
        reply = await self.client().post("/chat/completions", body=body, cast_to=object)
        if isinstance(reply, str):  # a body that is not JSON by its content type
            raise _BadBody(f"the server sent a body that is not JSON: {reply[:120]!r}")
        if not isinstance(reply, dict):
            raise _BadBody(f"the server sent JSON that is not an object: {str(reply)[:120]!r}")
        return reply

    def reply_completion(self, reply: dict[str, Any], latency: float, retries: int, *,
                         batch: bool = False) -> Completion:
        """A chat completion's JSON body (an online reply, or a batch output line's
        `response.body`) as a Completion; a batch's at the batch price. Raises
        LookupError, TypeError, ValueError or AttributeError for a body of another shape."""
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        content = (choice.get("logprobs") or {}).get("content")
        calls = [tool_call_of(str(c["function"]["name"]), c["function"].get("arguments") or "",
                              str(c.get("id") or ""))
                 for c in choice["message"].get("tool_calls") or ()]
        return Completion(
            text=choice["message"].get("content") or "",
            tool_calls=calls,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency,
            finish_reason=choice.get("finish_reason"),
            cost=self.price(prompt_tokens, completion_tokens, batch=batch),
            token_logprobs=[float(t["logprob"]) for t in content] if content else None,
            retries=retries,
            # what the endpoint says it ran: the snapshot behind the alias asked for
            served_model=self._reported(reply.get("model")),
            system_fingerprint=self._reported(reply.get("system_fingerprint")),
        )

    def _reported(self, value: Any) -> str | None:
        """A response's `model` or `system_fingerprint` as the record keeps it: a
        non-empty string, cut to SERVED_LIMIT, with no secret of the call in it;
        anything else (absent, null, a number) is None, as from a server that does
        not say."""
        if not isinstance(value, str) or not value.strip():
            return None
        return self._scrub(value.strip()[:SERVED_LIMIT])

    def embed(self, texts: list[str]) -> list[list[float]]:
        return aio.run(self._embed(texts))

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        rows = await self._embeddings(texts)
        if len(texts) > 1 and rows and rows[0] and isinstance(rows[0][0], list):
            # per-token vectors: a server without pooling. llama_cpp.server mixes up the
            # tokens of all but the first input of a batch then, so ask one at a time.
            rows = [(await self._embeddings([t]))[0] for t in texts]
        return [_pooled(row) for row in rows]

    async def _embeddings(self, texts: list[str]) -> list[Any]:
        client = self.client()
        reply, _ = await self._request(
            lambda: client.embeddings.create(model=self.entry.model, input=texts))
        rows = sorted(getattr(reply, "data", None) or [], key=lambda d: d.index)
        if len(rows) != len(texts):
            raise ProviderError(f"asked for {len(texts)} embeddings, got {len(rows)}")
        return [d.embedding for d in rows]

    def continuation_logprobs(self, messages: list[dict[str, str]],
                              continuations: list[str]) -> list[list[float]]:
        """An approximation for hosted chat models: the logprob of each continuation's
        first token among the top 20 candidates for the reply's first token (APIs do
        not score arbitrary text). A continuation outside the top 20 gets -100."""
        return aio.run(self._continuation_logprobs(messages, continuations))

    async def _continuation_logprobs(self, messages: list[dict[str, str]],
                                     continuations: list[str]) -> list[list[float]]:
        client = self.client()
        reply, _ = await self._request(lambda: client.chat.completions.create(
            model=self.entry.model, messages=messages, max_tokens=1, temperature=0,
            logprobs=True, top_logprobs=20))
        choices = getattr(reply, "choices", None)
        logprobs = choices[0].logprobs if choices else None
        if logprobs is None or not logprobs.content:
            raise ProviderError("the server returned no logprobs for the reply")
        top = [(t.token.strip().lower(), float(t.logprob))
               for t in logprobs.content[0].top_logprobs if t.token.strip()]
        out = []
        for text in continuations:
            want = text.strip().lower()
            hits = [lp for token, lp in top if want.startswith(token)]
            out.append([max(hits) if hits else -100.0])
        return out

    async def _create_with_schema(self, body: dict[str, Any],
                                  fmt: dict[str, Any]) -> dict[str, Any]:
        """One attempt at a call with a JSON schema, in the form this server understands
        (see the dialects above). Until a schema call has worked, OpenAI's form is tried
        first; a server that rejects the response_format switches this provider to the
        other form. A transient failure is left to the Retrier, which probes again."""
        openai = _sdk()
        forms = _schema_forms(fmt)
        if self._schema_dialect is not None:
            return await self._post_completion(
                {**body, "response_format": forms[self._schema_dialect]})
        try:
            reply = await self._post_completion(
                {**body, "response_format": forms[OPENAI_DIALECT]})
        except openai.APIStatusError as exc:
            if not _rejects_response_format(exc):
                raise  # an ordinary failure: the Retrier decides
            try:
                reply = await self._post_completion(
                    {**body, "response_format": forms[SCHEMA_IN_JSON_OBJECT]})
            except openai.APIStatusError as other:
                if _transient(other.status_code) and not _rejects_response_format(other):
                    raise
                raise _Final(exc) from None  # neither form works: the standard one's error
            self._schema_dialect = SCHEMA_IN_JSON_OBJECT
            return reply
        self._schema_dialect = OPENAI_DIALECT
        return reply

    def _classify(self, exc: Exception) -> retry.Failure | None:
        """What a failed attempt means: retry it or not, slow down or not."""
        openai = _sdk()
        if isinstance(exc, _Final):
            return retry.Failure(self._explain(exc.error), retryable=False)
        if isinstance(exc, _BadBody):
            return retry.Failure(self._scrub(str(exc)), retryable=True)
        if isinstance(exc, _NotModels):  # asking again will not make it a model list
            return retry.Failure(self._scrub(str(exc)), retryable=False)
        if isinstance(exc, openai.APITimeoutError):
            return retry.Failure(f"request timed out after {self.entry.timeout:g}s",
                                 retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return retry.Failure(self._explain(exc), retryable=True)
        if isinstance(exc, openai.APIStatusError):
            return self._classify_status(exc)
        if isinstance(exc, openai.APIResponseValidationError):
            return retry.Failure(self._explain(exc), retryable=True)
        if isinstance(exc, openai.OpenAIError):
            return retry.Failure(self._explain(exc), retryable=False)
        if isinstance(exc, ValueError):  # a 200 whose JSON body does not parse
            return retry.Failure(self._scrub(
                _one_line(f"the server sent a body that is not JSON: {exc}")), retryable=True)
        if _transport_error(exc):  # one the SDK did not wrap: still the connection's fault
            return retry.Failure(self._scrub(_one_line(
                f"connection error: {type(exc).__name__}: {exc}")), retryable=True)
        return None

    def _classify_status(self, exc: Any) -> retry.Failure:
        status = int(exc.status_code)
        headers = exc.response.headers
        message = self._explain(exc)
        delay, explicit = retry.server_delay(headers)
        if status == 429:
            if getattr(exc, "code", None) == "insufficient_quota":
                return retry.Failure(message, retryable=False)  # billing: waiting won't help
            return retry.Failure(message, retryable=True, throttled=True, delay=delay,
                                 explicit=explicit)
        retryable = _transient(status)
        should = (headers.get("x-should-retry") or "").lower()
        if should in ("true", "false"):  # the server says, as OpenAI's does
            retryable = should == "true"
        return retry.Failure(message, retryable=retryable, delay=delay, explicit=explicit)

    def _explain(self, exc: Exception) -> str:
        """A one-line cause for the record; never includes the API key nor the
        base_url's credentials."""
        text = self._scrub(_explain(exc))
        if isinstance(exc, _sdk().NotFoundError) and _request_path(exc).endswith("/models"):
            text += " (the server does not list its models at /models)"
        return text

    def _scrub(self, text: str) -> str:
        if self._key and self._key != NO_KEY:
            text = text.replace(self._key, "***")
        return scrub(text, self.base_url)


def _schema_forms(fmt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A JSON schema's response_format in each dialect (see the dialects above)."""
    schema = fmt["schema"]
    return {
        OPENAI_DIALECT: {"type": "json_schema",
                         "json_schema": {"name": "output", "schema": schema,
                                         "strict": bool(fmt.get("strict", False))}},
        SCHEMA_IN_JSON_OBJECT: {"type": "json_object", "schema": schema},
    }


_TRANSPORTS = ("httpcore2", "httpx2", "httpcore", "httpx", "anyio", "h11")


def _transport_error(exc: Exception) -> bool:
    """An error of the HTTP stack under the SDK (a dropped connection, a read timeout)
    that reached us unwrapped: the SDK normally wraps these as APIConnectionError, but
    httpx2 passes an httpcore2 error through when its exception map misses it."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _TRANSPORTS


_closing: set[asyncio.Future[Any]] = set()


def _background(awaitable: Any) -> None:
    """Run a coroutine to its end on the loop without waiting for it here."""
    task = asyncio.ensure_future(awaitable)
    _closing.add(task)  # held until done: the loop keeps only weak references
    task.add_done_callback(_closing.discard)


class _BadBody(Exception):
    """A 200 whose body is not a completion: retried like a 5xx."""


class _NotModels(Exception):
    """A /models answer that is not a model list (an HTML page, JSON of another shape)."""


def _model_ids(reply: Any) -> list[str]:
    """The model ids of a GET /models answer, or _NotModels."""
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, list):
        shown = reply if isinstance(reply, str) else json.dumps(reply)
        raise _NotModels(_one_line(f"the server's /models answer is not a model list: "
                                   f"{shown[:120]!r}"))
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]


def _api_message(message: dict[str, Any]) -> dict[str, Any]:
    """A transcript's message as the API takes it: a tool result without the tool's
    `name` (the transcript's, for reading; the API knows it by `tool_call_id`). An
    assistant's tool calls keep their `content` of "": llama-cpp-python's server
    refuses null, and its chatml-function-calling template a missing one."""
    if message.get("role") == "tool":
        return {k: v for k, v in message.items() if k != "name"}
    return message


def _request_path(exc: Any) -> str:
    request = getattr(exc, "request", None)
    return str(getattr(getattr(request, "url", None), "path", ""))


class _Final(Exception):
    """An HTTP error that must not be retried whatever its status."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _transient(status: int) -> bool:
    """Statuses worth another attempt: timeouts, conflicts, server errors."""
    return status in (408, 409) or status >= 500


def _rejects_response_format(exc: Any) -> bool:
    """Does an HTTP error say the server does not accept this response_format?"""
    if exc.status_code not in (400, 422, 500):
        return False
    text = f"{exc.message} {exc.body}"
    return "response_format" in text or "json_schema" in text


def _pooled(embedding: Any) -> list[float]:
    """One vector; a server without pooling (llama_cpp.server on a chat model) sends
    one vector per token, which are mean-pooled here."""
    if embedding and isinstance(embedding[0], list):
        n = len(embedding)
        return [sum(col) / n for col in zip(*embedding, strict=True)]
    return [float(x) for x in embedding]


def _explain(exc: Exception) -> str:
    openai = _sdk()

    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return _one_line(f"cannot connect: {cause}")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = body["message"]  # OpenAI's error object
        else:  # the SDK's "Error code: 503 - {...}" without the repeated status
            text = exc.message if isinstance(exc.message, str) else str(body)
            text = re.sub(r"^Error code: \d+( - )?", "", text)
        return _one_line(f"HTTP {exc.status_code}: {text}" if text.strip()
                         else f"HTTP {exc.status_code}")
    return _one_line(f"{type(exc).__name__}: {exc}")


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
