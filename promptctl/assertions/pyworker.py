"""The worker process that runs `python` checks, out of promptctl's process.

Started by promptctl/assertions/pool.py as `python pyworker.py PACKAGE_PARENT` (this
file run as a script: it imports nothing of promptctl, so a check's import cannot
reach promptctl's own modules, and no promptctl state is in here). It serves one call
at a time, for as long as the pool keeps it.

Protocol: frames of a big-endian header (a request: its length and sequence number;
an answer: its length) and a body, on two private file descriptors (copies of the
stdin and stdout it was started with). A request is a pickle (written by promptctl,
trusted); an answer is JSON (read by promptctl, which trusts nothing a worker sends:
no pickle in that direction). The descriptors 0 and 1
themselves are /dev/null and a copy of stderr, so whatever a check reads or prints
cannot touch the protocol.

A check gets (output, ctx): ctx (`Context`) is an object with the same data as
promptctl's AssertionContext (vars, messages, prompt, model, latency_ms,
prompt_tokens, completion_tokens, cost, root, token_logprobs, check_timeout), except
model access: `ctx.services` is None here (a model provider cannot cross a process
boundary; a check that needs a model calls it itself). It is also the read-only
mapping promptfoo passes as `context`: context["vars"] (a view of ctx.vars),
context["prompt"] (the rendered prompt, where ctx.prompt is the prompt's id) and
context["test"] ({vars, description, metadata}).

A request with `kind: perturb` is a custom perturbation's call instead: fn(text, rng)
(rng a pickled random.Random), answered with the text it returns.

Inline code (promptctl/assertions/inline.py) comes compiled, marshalled (this is the
interpreter that compiled it); an expression is evaluated with `output`, `context`,
the builtins and `json`, a body defines `check(output, context)`, called as a file's
check is.

Whatever the check raises (SystemExit, KeyboardInterrupt, ... included) is answered
as a failure. A crash, an `os._exit` or a hang ends this process, not promptctl's:
the pool sees it and restarts a worker.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # our own folder is not the user's to import from
    del sys.path[0]

import builtins  # (after the path fix above)
import importlib
import importlib.util
import inspect
import json
import marshal
import os
import pickle
import signal
import struct
import threading
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")  # an answer's length
_REQUEST = struct.Struct(">II")  # a request's length and sequence number
_REASON_LIMIT = 2000


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _short(text: str) -> str:
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else _short(repr(exc.code))
        return f"called sys.exit({code})"
    text = _short(str(exc))
    return f"raised {type(exc).__name__}: {text}" if text else \
        f"raised {type(exc).__name__}"


class Failed(Exception):
    """The check could not be called: the reason goes back as the answer."""


_FUNCTIONS: dict[tuple[str, str | None, str, str], Any] = {}


def _what(req: dict[str, Any]) -> str:
    """What the user's function is, in a reason: a python check, or (`kind: perturb`) a
    custom perturbation."""
    return "custom perturbation" if req.get("kind") == "perturb" else "python assertion"


def _module(req: dict[str, Any]) -> Any:
    root, file, name = req["root"], req["file"], req["module"]
    target = req["target"]
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        if file is not None:
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, file)
                if spec is None or spec.loader is None:
                    raise Failed(f"{_what(req)} {target!r}: cannot load {file}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
            return module
        return importlib.import_module(name)
    except Failed:
        raise
    except ModuleNotFoundError as exc:
        raise Failed(f"{_what(req)} {target!r}: cannot import module {name!r}: "
                     f"{_short(str(exc))}") from None
    except BaseException as exc:  # user code: every way out is an answer
        what = os.path.basename(file) if file else name
        raise Failed(f"{_what(req)} {target!r}: importing {what!r} "
                     f"{_describe(exc)}") from None


def _function(req: dict[str, Any]) -> Any:
    key = (req["root"], req["file"], req["module"], req["function"])
    fn = _FUNCTIONS.get(key)
    if fn is not None:
        return fn
    module = _module(req)
    obj = getattr(module, req["function"], None)
    if obj is None or not callable(obj):
        raise Failed(f"{_what(req)} {req['target']!r}: "
                     f"{req['function']!r} is not a function of its module")
    fn = _adapt(obj)
    _FUNCTIONS[key] = fn
    return fn


def _adapt(obj: Any) -> Any:
    """fn(output) when the function takes a single argument, else fn(output, ctx)."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return obj
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == 1 and not any(p.kind == p.VAR_POSITIONAL for p in params):
        return lambda output, ctx: obj(output)
    return obj


_INLINE: dict[bytes, Any] = {}


def _inline(req: dict[str, Any]) -> Any:
    """The function that runs inline code: compiled by promptctl, run only here."""
    if req["root"] not in sys.path:  # the project's modules, as for a file's check
        sys.path.insert(0, req["root"])
    fn = _INLINE.get(req["code"])
    if fn is not None:
        return fn
    try:
        code = marshal.loads(req["code"])
    except (ValueError, EOFError, TypeError) as exc:
        raise Failed(f"python assertion {req['target']}: cannot load its code: {exc}") \
            from None
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "__promptctl_inline__",
                             "json": json}
    if req["mode"] == "eval":
        def fn(output: Any, ctx: Any) -> Any:
            return eval(code, {**scope, "output": output, "context": ctx})
    else:
        try:
            exec(code, scope)  # only the `def check(output, context)` around the body
        except BaseException as exc:  # cannot happen for a def; answered all the same
            raise Failed(f"python assertion {req['target']} {_describe(exc)}") from None
        fn = scope["check"]
    if len(_INLINE) > 1000:
        _INLINE.clear()
    _INLINE[req["code"]] = fn
    return fn


class Context(types.SimpleNamespace):
    """ctx: attributes as always (ctx.vars, ctx.prompt, ...) and, for checks ported
    from promptfoo, a read-only mapping (context["vars"], .get("test"), ...)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any], **attrs: Any) -> None:
        super().__init__(**attrs)
        object.__setattr__(self, "_mapping", types.MappingProxyType(mapping))

    def __getitem__(self, key: str) -> Any:
        return self._mapping[key]

    def __iter__(self) -> Any:
        return iter(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __contains__(self, key: object) -> bool:
        return key in self._mapping

    def get(self, key: str, default: Any = None) -> Any:
        return self._mapping.get(key, default)

    def keys(self) -> Any:
        return self._mapping.keys()

    def values(self) -> Any:
        return self._mapping.values()

    def items(self) -> Any:
        return self._mapping.items()


Mapping.register(Context)


def _context(req: dict[str, Any]) -> Context:
    data = req["ctx"]
    attrs = data["attrs"]
    view = types.MappingProxyType(attrs["vars"])
    test = {"vars": view, "description": data["description"],
            "metadata": data["metadata"]}
    return Context({"vars": view, "prompt": data["prompt"], "test": test}, **attrs,
                   root=Path(req["root"]), services=None)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except BaseException:  # a user object's __float__
        return None
    return number


def _encode(value: Any) -> dict[str, Any]:
    """A check's return value as plain JSON data for promptctl to judge."""
    cls = type(value)
    if cls.__name__ == "AssertionResult" and cls.__module__ == "promptctl.results":
        return {"kind": "result", "passed": bool(value.passed),
                "score": _number(value.score), "reason": _short(str(value.reason or ""))}
    if isinstance(value, bool):
        return {"kind": "bool", "value": value}
    if isinstance(value, (int, float)):
        return {"kind": "number", "value": _number(value)}
    if isinstance(value, dict):
        raw_pass = value.get("pass", value.get("passed"))
        raw_score = value.get("score")
        raw_reason = value.get("reason")
        return {"kind": "dict",
                "pass": None if raw_pass is None else bool(raw_pass),
                "score": None if raw_score is None else (_number(raw_score) or 0.0),
                "reason": _short(str(raw_reason)) if raw_reason else None}
    return {"kind": "other", "type": cls.__name__}


def _perturb(req: dict[str, Any]) -> dict[str, Any]:
    """A custom perturbation (promptctl/load/variants.py): fn(text, rng) -> the
    perturbed text; rng is the random.Random promptctl seeded for this case and var."""
    try:
        fn = _function(req)
    except Failed as exc:
        return {"ok": False, "reason": str(exc)}
    try:
        value = fn(req["text"], req["rng"])
    except BaseException as exc:  # user code: every way out is an answer
        return {"ok": False, "reason": f"custom perturbation {_describe(exc)}"}
    if isinstance(value, str):
        return {"ok": True, "value": {"kind": "text", "value": value}}
    return {"ok": True, "value": {"kind": "other", "type": type(value).__name__}}


def _call(req: dict[str, Any]) -> dict[str, Any]:
    if req.get("kind") == "perturb":
        return _perturb(req)
    try:
        fn = _inline(req) if "code" in req else _function(req)
    except Failed as exc:
        return {"ok": False, "reason": str(exc)}
    ctx = _context(req)
    try:
        value = fn(req["output"], ctx)
        return {"ok": True, "value": _encode(value)}
    except BaseException as exc:  # user code: every way out is an answer
        return {"ok": False, "reason": f"python assertion {_describe(exc)}"}


def _orphan_guard(parent: int) -> None:
    """End this worker when promptctl is gone, even in the middle of a check."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def main() -> None:
    if len(sys.argv) > 1:  # promptctl itself, for `from promptctl.results import ...`
        parent_dir = sys.argv[1]
        if importlib.util.find_spec("promptctl") is None and parent_dir not in sys.path:
            sys.path.append(parent_dir)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is promptctl's to handle
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a check's prints go to stderr, never into the protocol
    os.close(devnull)
    threading.Thread(target=_orphan_guard, args=(os.getppid(),), daemon=True).start()
    while True:
        header = _read_exact(proto_in, _REQUEST.size)
        if header is None:
            return
        size, seq = _REQUEST.unpack(header)
        body = _read_exact(proto_in, size)
        if body is None:
            return
        req = pickle.loads(body)
        answer = _call(req)
        answer["seq"] = seq
        try:
            data = json.dumps(answer, allow_nan=True).encode()
        except BaseException as exc:  # e.g. a reason's __str__ lied
            data = json.dumps({"seq": seq, "ok": False,
                               "reason": f"python assertion: answer not sendable: "
                                         f"{_describe(exc)}"}).encode()
        _write_all(proto_out, _HEADER.pack(len(data)) + data)


if __name__ == "__main__":
    main()
