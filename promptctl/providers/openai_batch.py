"""The OpenAI Batch API's protocol, through the official SDK: the JSONL input file, its
split at the API's limits, the SDK calls (files.create, batches.create / retrieve /
cancel / list, files.content) and the output and error files read back.

An input line is `{custom_id, method: "POST", url: "/v1/chat/completions", body}`, its
body the one the online call sends (OpenAIProvider.body); an output or error line is
`{id, custom_id, response: {status_code, body} | null, error: {code, message} | null}`.
A line answers its call only with no error, status_code 200 and a body that parses as an
online reply does (OpenAIProvider.reply_completion); anything else is that call's error
message. Every SDK call goes through the provider's Retrier (its backoff and retry
budget), on the engine loop (promptctl.aio); errors are ProviderErrors with the key and
the base_url's credentials scrubbed. Nothing here knows about runs or records
(run/batch.py does).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import ProviderError

if TYPE_CHECKING:
    from .openai import OpenAIProvider

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"  # the only completion window the API offers
# a batch in one of these states changes no more
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired",
            "cancelling", "cancelled")


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One line of an input file."""
    return (json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                        "body": body}, ensure_ascii=False, separators=(",", ":"))
            + "\n").encode("utf-8")


def split(lines: Sequence[tuple[str, bytes]], max_requests: int, max_bytes: int
          ) -> tuple[list[list[tuple[str, bytes]]], list[str]]:
    """(custom_id, line) pairs cut into input files of at most `max_requests` lines and
    `max_bytes` bytes, in order; and the ids of lines that alone are over `max_bytes`
    (no input file can carry them)."""
    files: list[list[tuple[str, bytes]]] = []
    too_big: list[str] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for cid, line in lines:
        if len(line) > max_bytes:
            too_big.append(cid)
            continue
        if current and (len(current) >= max_requests or size + len(line) > max_bytes):
            files.append(current)
            current, size = [], 0
        current.append((cid, line))
        size += len(line)
    if current:
        files.append(current)
    return files, too_big


@dataclass
class LineResult:
    """A line of an output or error file: the reply's body, or why there is none."""

    custom_id: str
    body: dict[str, Any] | None = None
    error: str | None = None


def parse_results(text: str) -> dict[str, LineResult]:
    """The lines of an output or error file by custom_id. A line that is not JSON or has
    no custom_id is skipped: it answers no call (that call ends as missing)."""
    out: dict[str, LineResult] = {}
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            continue
        out[line["custom_id"]] = _result(line)
    return out


def _result(line: dict[str, Any]) -> LineResult:
    cid = line["custom_id"]
    error = line.get("error")
    response = line.get("response") if isinstance(line.get("response"), dict) else None
    if isinstance(error, dict) and error:
        code = error.get("code")
        return LineResult(cid, error=_one_line(
            f"batch line failed: {code + ': ' if isinstance(code, str) else ''}"
            f"{error.get('message') or 'no message'}"))
    if response is None:
        return LineResult(cid, error="batch line failed: no response")
    status, body = response.get("status_code"), response.get("body")
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) and \
            isinstance(body.get("error"), dict) else None
        return LineResult(cid, error=_one_line(
            f"batch line failed: HTTP {status}" + (f": {message}" if message else "")))
    if not isinstance(body, dict):
        return LineResult(cid, error="batch line failed: a 200 without a JSON body")
    return LineResult(cid, body=body)


class BatchClient:
    """The Batch API's calls for one openai model entry, as coroutines on the engine
    loop; each returns plain JSON (the SDK object's model_dump)."""

    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider

    async def _call(self, attempt: Any) -> Any:
        value, _ = await self.provider.request(attempt)
        return value

    async def upload(self, data: bytes, name: str) -> str:
        """An input file, uploaded with purpose "batch": its file id."""
        client = self.provider.client()
        created = await self._call(lambda: client.files.create(
            file=(name, data, "application/jsonl"), purpose="batch"))
        return str(created.id)

    async def create(self, input_file_id: str) -> dict[str, Any]:
        client = self.provider.client()
        batch = await self._call(lambda: client.batches.create(
            input_file_id=input_file_id, endpoint=ENDPOINT, completion_window=WINDOW))
        return _plain(batch)

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        client = self.provider.client()
        return _plain(await self._call(lambda: client.batches.retrieve(batch_id)))

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        client = self.provider.client()
        return _plain(await self._call(lambda: client.batches.cancel(batch_id)))

    async def find(self, input_file_id: str) -> dict[str, Any] | None:
        """The batch made of this input file, if one was (a run killed between
        batches.create and writing its id down): the newest batches are listed first."""
        client = self.provider.client()

        async def listed() -> list[Any]:
            found = []
            async for batch in client.batches.list(limit=100):
                found.append(batch)
                if len(found) >= 1000:  # older than this run, surely
                    break
            return found

        for batch in await self._call(listed):
            if getattr(batch, "input_file_id", None) == input_file_id:
                return _plain(batch)
        return None

    async def content(self, file_id: str) -> str:
        client = self.provider.client()

        async def read() -> str:
            reply = await client.files.content(file_id)
            return reply.content.decode("utf-8", errors="replace")

        text: str = await self._call(read)
        return text


def _plain(batch: Any) -> dict[str, Any]:
    """A batch object as JSON; one the server sent without an id is no batch."""
    data = batch.model_dump() if hasattr(batch, "model_dump") else batch
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ProviderError(f"the server's answer is not a batch: {str(data)[:120]!r}")
    return data


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
