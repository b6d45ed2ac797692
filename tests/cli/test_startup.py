"""--help imports only the parser's needs: typer, the stdlib and promptctl.cli.

A structural test, not a timing one (bench/startup.py prints the times): it fails when
a command module gains a module-level import of a loader, the runner, the gate or a
heavy library, which would make every --help (and every command's start) pay for it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# What --help must not import: each costs tens of milliseconds to import (pydantic's
# models, jinja2, yaml, rich) or much more (openai ~0.4 s, llama_cpp), and the layers
# below the CLI pull those in.
HEAVY = ("pydantic", "pydantic_core", "jinja2", "yaml", "ruamel", "openai", "llama_cpp",
         "deepdiff", "rich", "promptctl.load", "promptctl.run", "promptctl.gate",
         "promptctl.schema", "promptctl.providers", "promptctl.assertions",
         "promptctl.reports", "promptctl.integrations", "watchfiles", "stdnum", "jsonschema")


def imported_by(args: list[str], cwd: str) -> list[str]:
    """The modules `python -X importtime -m promptctl ARGS` imports, in order."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptctl", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Usage:" in proc.stdout
    names = []
    for line in proc.stderr.splitlines():  # "import time: self | cumulative | name"
        if line.startswith("import time:") and "[us]" not in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


# typer (0.29) coerces every parameter value of the commands on the command line
# through a pydantic TypeAdapter, the group's own unset --help flag included, so
# `promptctl CMD --help` imports pydantic inside typer; `promptctl --help` does not.
BY_TYPER = ("pydantic", "pydantic_core")


def heavy_imports(names: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted({n for n in names for h in HEAVY
                   if h not in allowed and (n == h or n.startswith(h + "."))})


def test_help_imports_no_loader_runner_or_heavy_library(tmp_path):
    names = imported_by(["--help"], str(tmp_path))
    # the report is read right: the parser's own modules are in it
    assert "typer" in names and "promptctl.cli.main" in names
    assert "promptctl.cli.run_cmd" in names and "promptctl.cli.compare_cmd" in names
    heavy = heavy_imports(names)
    assert heavy == [], f"--help imports {heavy}: import them inside the command function"


@pytest.mark.parametrize("command", [["run"], ["lint"], ["check"], ["render"], ["compare"],
                                     ["robust"],
                                     ["baseline", "update"], ["cache", "stats"],
                                     ["import", "promptfoo"]])
def test_command_help_imports_no_loader_or_runner(tmp_path, command):
    names = imported_by([*command, "--help"], str(tmp_path))
    assert "promptctl.cli.run_cmd" in names
    heavy = heavy_imports(names, allowed=BY_TYPER)
    assert heavy == [], f"{command[0]} --help imports {heavy}: import them inside the " \
                        "command function"
