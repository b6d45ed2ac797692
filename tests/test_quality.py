"""The repo's own standards, enforced by the same command CI runs: ruff and mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool", [
    [sys.executable, "-m", "ruff", "check", "promptctl", "tests", "bench"],
    [sys.executable, "-m", "mypy"],
], ids=["ruff", "mypy"])
def test_static_checks_are_clean(tool):
    proc = subprocess.run(tool, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
