"""Helpers shared by the tests (the fixtures are in tests/conftest.py): real files in a
folder, the real CLI in a subprocess, a free loopback port, a plugin (a provider or an
assertion type) laid out as pip installs one. The provider doubles and servers used by
the tests live beside this file: scripted_provider.py, stub_server.py, fault_proxy.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def plugin_site(site: Path, dist: str, group: str, entry_points: str | list[str],
                modules: dict[str, str] | None = None) -> Path:
    """A directory laid out as pip would install a plugin: a dist-info whose
    entry_points.txt registers `entry_points` ("name = module:attr", one or a list) in
    the entry-point `group`, plus any modules it needs. Put it on sys.path (or
    PYTHONPATH for a subprocess)."""
    lines = [entry_points] if isinstance(entry_points, str) else entry_points
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n" + "".join(f"{e}\n" for e in lines))
    for name, text in (modules or {}).items():
        (site / name).write_text(text)
    return site


def provider_plugin_site(site: Path, dist: str, entry_point: str,
                         modules: dict[str, str] | None = None) -> Path:
    """A provider plugin (`entry_point` = "name = module:Class") as pip installs one."""
    return plugin_site(site, dist, "promptctl.providers", entry_point, modules)


def assert_no_internal_error(output: str) -> None:
    """An 'internal error' is a bug in promptctl: no CLI call in the tests may print one,
    whatever the input (issue 12: bad input is exit 2 with file:line, never a crash)."""
    assert "internal error" not in output, output


def run_subprocess(*args: str, cwd: Path, env: dict[str, str] | None = None,
                   timeout: float = 300) -> CliResult:
    proc = subprocess.run([sys.executable, "-m", "promptctl", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})
    # whatever the outcome, never a traceback: not for bad input, not at exit
    assert "Traceback (most recent call last)" not in proc.stderr, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert_no_internal_error(proc.stdout + proc.stderr)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
