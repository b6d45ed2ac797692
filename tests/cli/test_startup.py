"""--help imports only the parser's needs: typer, the stdlib and promptctl.cli; a lint
answered from its cache not even that.

A structural test, not a timing one (bench/startup.py prints the times): it fails when
a command module gains a module-level import of a loader, the runner, the gate or a
heavy library, which would make every --help (and every command's start) pay for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

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


# typer (0.29) coerces every parameter value through a pydantic TypeAdapter, the unset
# --help flags included; cli/params.py skips that for the values nobody gave, so
# `promptctl CMD --help` imports no pydantic either.


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
    heavy = heavy_imports(names) + [n for n in names if n == "typer._adapters"]
    assert heavy == [], f"{command[0]} --help imports {heavy}: import them inside the " \
                        "command function"


LINT_PROJECT = {
    "prompts/support.yaml": "prompts:\n  triage:\n    template: 'Ticket: {{ ticket }}'\n",
    "suites/triage.yaml": "prompts: [support.triage]\ncases:\n  - id: a\n"
                          "    vars: {ticket: lost}\n    assert: [{type: contains, value: x}]\n",
}
# how promptctl starts: `python -m promptctl` and the console script (cli.main:main)
ENTRIES = {"-m": ["-m", "promptctl"],
           "script": ["-c", "import sys; from promptctl.cli.main import main; "
                      "sys.argv[0] = 'promptctl'; main()"]}


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_lint_cache_hit_imports_no_loader_nor_pydantic(tmp_path, entry):
    """A lint answered from the cache (cli/lint_fast.py) prints what the lint it
    repeats printed and imports none of what loading a project needs; under `python -m`
    not even typer."""
    for name, text in LINT_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    past = time.time() - 60  # as committed files are: see tests/cli/test_lint_cache.py
    for path in tmp_path.rglob("*"):
        os.utime(path, (past, past))

    def lint() -> tuple[int, str, str, list[str]]:
        """exit code, stdout, stderr without the import times, the modules imported"""
        proc = subprocess.run([sys.executable, "-X", "importtime", *ENTRIES[entry], "lint"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        lines = proc.stderr.splitlines()
        names = [line.rsplit("|", 1)[1].strip() for line in lines
                 if line.startswith("import time:") and "[us]" not in line]
        shown = "\n".join(line for line in lines if not line.startswith("import time:"))
        return proc.returncode, proc.stdout, shown, names

    *cold, cold_names = lint()
    assert "jinja2" in cold_names and "pydantic" in cold_names  # the cold lint loads
    *warm, warm_names = lint()
    assert warm == cold == [0, "", "lint: 2 files checked, clean"]
    assert "promptctl.load.lintcache" in warm_names  # the report is read right
    heavy = heavy_imports(warm_names, allowed=("promptctl.load",)) + [
        n for n in warm_names
        if n.startswith("promptctl.load.") and n != "promptctl.load.lintcache"]
    if entry == "-m":
        heavy += [n for n in warm_names if n == "typer" or n.startswith("typer.")]
    assert heavy == [], f"a lint cache hit imports {heavy}"


def test_quiet_run_off_a_terminal_prints_as_rich_would_without_importing_it(tmp_path):
    """`run -q --no-cache -o FILE` in a pipe (CI, a script): the summary line and the `wrote` line
    are written as rich prints them (cli/output.py's _plain), and rich is not imported.
    FORCE_COLOR set to empty makes rich print (and, off a terminal, print plain)."""
    for name, text in {**LINT_PROJECT, "promptctl.yaml": "models:\n  e: {provider: echo}\n",
                       "suites/triage.yaml": "prompts: [support.triage]\nmodels: [e]\n"
                       "cases:\n  - id: a\n    vars: {ticket: lost}\n"
                       "    assert: [{type: contains, value: lost}]\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    def run(**env: str) -> tuple[str, str, list[str]]:
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "promptctl", "run",
                               "-q", "--no-cache", "-o", "out.json"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60,
                              env={**{k: v for k, v in os.environ.items()
                                      if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")},
                                   "COLUMNS": "200", **env})
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = proc.stderr.splitlines()
        names = [line.rsplit("|", 1)[1].strip() for line in lines
                 if line.startswith("import time:") and "[us]" not in line]
        shown = "\n".join(line for line in lines if not line.startswith("import time:"))
        # the run id and the seconds differ from run to run
        out = re.sub(r"run \d{8}T\d{6}-[0-9a-f]+", "run ID",
                     re.sub(r"\d+\.\d\ds", "Ns", proc.stdout))
        return out, shown, names

    plain = run()
    rich = run(FORCE_COLOR="")
    assert plain[:2] == rich[:2]
    narrow = run(COLUMNS="60")  # rich wraps a line wider than the console: it prints
    assert "rich" in narrow[2] and narrow[0].count("\n") > 1
    assert plain[0].startswith("1 case: 1 passed, 0 failed · pass rate 100.0%")
    assert plain[1] == "wrote out.json"
    assert "rich" in rich[2] and heavy_imports(plain[2], allowed=(
        "promptctl.load", "promptctl.run", "promptctl.schema", "promptctl.providers",
        "promptctl.assertions", "promptctl.reports", "pydantic", "pydantic_core",
        "jinja2", "yaml")) == []
