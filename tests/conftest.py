"""Shared fixtures: real files in tmp_path, the real CLI, the real model, a real
OpenAI-compatible server (llama_cpp.server) on a free loopback port."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
import typer.testing
from helpers import CliResult, assert_no_internal_error, free_port, write_files
from typer.testing import CliRunner

from promptctl.cli.main import app


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist (-n 2 on a 2-core machine), each worker keeps to a core of its own:
    the embedded model takes as many threads as its process may use (llama_cpp.py's
    usable_cpus), and two workers each running two threads on two cores make every
    model call wait on another's thread. The model subprocesses tests start inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if len(cpus) < 2 or workers > len(cpus):
        return
    share = len(cpus) // workers
    index = int(worker[2:])
    os.sched_setaffinity(0, cpus[index * share:(index + 1) * share])


@pytest.fixture(scope="session")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user cache directory of the whole session (XDG_CACHE_HOME): the lint cache
    and the model digests go there, never into the real ~/.cache."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def _isolated_user_cache(user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a project into tmp_path and chdir there."""

    def make(files: dict[str, str]) -> Path:
        write_files(tmp_path, files)
        monkeypatch.chdir(tmp_path)
        return tmp_path

    return make


_command = functools.lru_cache(maxsize=None)(typer.main.get_command)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """Invoke the real CLI in-process with typer's CliRunner. typer rebuilds the click
    command on every call, most of a small call's time: build it once (the same app, so
    the same command)."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(typer.testing, "_get_command", _command)

    def invoke(*args: str) -> CliResult:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        assert_no_internal_error(result.stdout + result.stderr)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch):
    """The scripted provider (tests/helpers/scripted_provider.py), registered as `scripted`
    and reset: for unit tests of runner logic, never for claims about models."""
    from helpers.scripted_provider import ScriptedProvider

    from promptctl.providers import registry

    monkeypatch.setitem(registry.BUILTIN, "scripted", "helpers.scripted_provider:ScriptedProvider")
    ScriptedProvider.reset()
    return ScriptedProvider


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from promptctl.providers.llama_cpp import resolve_model_path

    return resolve_model_path("builtin:smollm2")


@contextlib.contextmanager
def serve(model: Path, log: Path, *extra: str) -> Iterator[str]:
    """A real `python -m llama_cpp.server` on a free loopback port; yields /v1 URL."""
    port = free_port()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
             "--n_threads", str(os.cpu_count() or 1), "--seed", "0", *extra],
            stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start in 60 s") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """The chat server; yields its /v1 base URL."""
    with serve(smollm2_path, tmp_path_factory.mktemp("server") / "server.log") as base:
        yield base


@pytest.fixture(scope="session")
def tools_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """The chat server with llama-cpp-python's chatml-function-calling handler (SmolLM2
    speaks ChatML), which serves `tools`; yields its /v1 base URL."""
    with serve(smollm2_path, tmp_path_factory.mktemp("tools") / "server.log",
               "--chat_format", "chatml-function-calling") as base:
        yield base


@pytest.fixture(scope="session")
def embedding_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[str]:
    """A server with /v1/embeddings turned on (it answers chat completions too)."""
    with serve(smollm2_path, tmp_path_factory.mktemp("embed") / "server.log",
               "--embedding", "true") as base:
        yield base


@pytest.fixture
def fault_proxy(request: pytest.FixtureRequest) -> Iterator[object]:
    """Factory for fault-injecting proxies (tests/helpers/fault_proxy.py):
    `fault_proxy(upstream=None, **FaultProxy options)` returns a started FaultProxy
    in front of `upstream` (a loopback URL; by default the real `llama_server`).
    Every proxy made is stopped at teardown, its threads joined."""
    from helpers.fault_proxy import FaultProxy

    proxies: list[FaultProxy] = []

    def make(upstream: str | None = None, **options: object) -> FaultProxy:
        if upstream is None:
            upstream = request.getfixturevalue("llama_server")
        proxy = FaultProxy(upstream, **options).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()
