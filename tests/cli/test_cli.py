"""The CLI end to end on the echo provider: exit codes, outputs, help, imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROJECT = {
    "prompts/support.yaml": """
        prompts:
          triage:
            messages:
              - {role: system, content: Route the ticket.}
              - {role: user, content: "Ticket: {{ ticket }}"}
        """,
    "suites/triage.yaml": """
        prompts: [support.triage]
        models: [echo]
        cases:
          - id: double-charge
            vars: {ticket: charged twice}
            assert: [{type: icontains, value: charged}]
          - id: lost-parcel
            vars: {ticket: parcel lost}
            assert: [{type: icontains, value: billing}]
        """,
}


def test_run_prints_failures_first_and_exits_1(make_project, cli):
    make_project(PROJECT)
    result = cli("run")
    assert result.exit_code == 1
    out = result.stdout
    assert out.index("lost-parcel") < out.index("double-charge")
    assert "expected to contain 'billing'" in out
    assert "2 cases: 1 passed, 1 failed" in out


def test_run_exits_0_when_all_pass_and_writes_json(make_project, cli, tmp_path):
    make_project(PROJECT)
    result = cli("run", "-k", "double", "-o", "out.json")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["version"] == 1
    assert set(doc) >= {"run_id", "started", "finished", "summary", "results"}
    assert doc["summary"]["cases"] == 1 and doc["summary"]["pass_rate"] == 1.0
    (entry,) = doc["results"]
    expected_keys = {"suite", "case", "prompt", "model", "repeat", "output", "passed",
                     "score", "assertions", "latency_ms", "tokens", "cost", "cached", "error"}
    assert expected_keys <= set(entry)
    assert entry["output"] == "Route the ticket.\nTicket: charged twice"
    assert entry["assertions"][0]["type"] == "icontains"
    assert set(entry["tokens"]) == {"prompt", "completion"}


def test_run_jsonl_output(make_project, cli, tmp_path):
    make_project(PROJECT)
    cli("run", "-o", "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["case"] for x in lines) == ["double-charge", "lost-parcel"]


def test_quiet_prints_only_the_summary(make_project, cli):
    make_project(PROJECT)
    result = cli("run", "-q")
    assert result.stdout.strip().splitlines()[0].startswith("2 cases:")


def test_bad_flags_and_unmatched_filter_exit_2(make_project, cli):
    make_project(PROJECT)
    assert cli("run", "--repeat", "0").exit_code == 2
    result = cli("run", "-k", "nothing-like-this")
    assert result.exit_code == 2 and "no case matches" in result.stderr
    result = cli("run", "-o", "report.pdf")
    assert result.exit_code == 2 and "unsupported output format" in result.stderr
    result = cli("run", "nosuch")
    assert result.exit_code == 2 and "no suite 'nosuch'" in result.stderr


def test_model_flag_overrides_the_suite(make_project, cli):
    make_project(PROJECT)
    result = cli("run", "-m", "nonexistent-model")
    assert result.exit_code == 2
    assert "unknown model 'nonexistent-model'" in result.stderr


def test_render_with_vars_and_case(make_project, cli):
    make_project(PROJECT)
    result = cli("render", "support.triage", "--var", "ticket=hello")
    assert result.exit_code == 0
    assert "Ticket: hello" in result.stdout and "system" in result.stdout
    result = cli("render", "triage", "--case", "triage:lost-parcel", "--json")
    assert json.loads(result.stdout)[-1] == {"role": "user", "content": "Ticket: parcel lost"}
    assert cli("render", "support.triage").exit_code == 2  # ticket undefined
    assert cli("render", "support.triage", "--var", "novalue").exit_code == 2
    result = cli("render", "triage", "--case", "triage:lost")
    assert result.exit_code == 2 and "did you mean 'lost-parcel'" in result.stderr


def test_lint_clean_warning_and_error(make_project, cli):
    root = make_project(PROJECT)
    result = cli("lint")
    assert result.exit_code == 0, result.output
    (root / "suites/extra.yaml").write_text(
        "prompts: [support.triage]\ncases:\n  - id: a\n    vars: {ticket: x, unused: 1}\n")
    result = cli("lint")
    assert result.exit_code == 1
    assert "variable 'unused' is not used" in result.stderr
    assert "has no assertions" in result.stderr
    (root / "suites/extra.yaml").write_text(
        "prompts: [support.triage]\ncases:\n  - id: a\n    vars: {tickt: x}\n"
        "    assert: [{type: contains, value: x}]\n")
    result = cli("lint", "suites/extra.yaml")
    assert result.exit_code == 2
    # the template line that reads it, and the case that lacks it
    assert "prompts/support.yaml:5: error: prompt 'support.triage' (case 'a' of " \
           "suites/extra.yaml:3) uses undefined variable 'ticket'" in result.stderr


def test_cache_stats_and_clear(make_project, cli):
    make_project(PROJECT)
    cli("run")
    result = cli("cache", "stats")
    assert result.exit_code == 0 and "entries: 2" in result.stdout
    result = cli("run")
    assert "2 cached" in result.stdout
    result = cli("cache", "clear")
    assert "removed 2" in result.stdout
    assert "entries: 0" in cli("cache", "stats").stdout


def test_models_lists_the_default(make_project, cli):
    make_project({"promptctl.yaml": "models:\n  fast: {provider: echo}\n"})
    result = cli("models")
    assert result.exit_code == 0
    assert "fast" in result.stdout and "default" in result.stdout
    assert "builtin:smollm2" in result.stdout


@pytest.mark.parametrize("command", [[], ["run"], ["lint"], ["render"], ["models"],
                                     ["cache"], ["cache", "stats"], ["cache", "clear"],
                                     ["check"], ["diff"], ["baseline"],
                                     ["baseline", "update"]])
def test_every_command_has_help(cli, command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) > 3


def test_help_and_lint_import_neither_openai_nor_llama_cpp(make_project):
    root = make_project(PROJECT)
    code = (
        "import sys\n"
        "from promptctl.cli.main import app\n"
        "for args in (['--help'], ['lint']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('openai', 'llama_cpp', 'deepdiff') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_python_dash_m_entry_point(make_project):
    root = make_project(PROJECT)
    proc = subprocess.run([sys.executable, "-m", "promptctl", "run", "-q"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
