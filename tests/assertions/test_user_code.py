"""User code cannot end promptctl or pick its verdict (issue 12, class 1), and every
check has a time limit (class 5).

The attack tests run the real CLI in a subprocess on a project whose python check
(or provider plugin) calls sys.exit(0), os._exit(0), raises KeyboardInterrupt or
loops forever, and assert on what promptctl wrote: the exit code, summary.json, every
-o file, the baselines, and that no worker process is left running."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from helpers import provider_plugin_site, run_subprocess, write_files

from promptctl.assertions import AssertionContext, evaluate, register, validate_spec
from promptctl.assertions import pool as worker_pool
from promptctl.schema import AssertionSpec

WORKTREE = str(Path(__file__).resolve().parents[2])

ATTACKS = {
    "exit-at-import": ("import sys\nsys.exit(0)\n\ndef check(output, ctx):\n    return True\n",
                       "called sys.exit(0)"),
    "exit-in-call": ("import sys\n\ndef check(output, ctx):\n    sys.exit(0)\n",
                     "called sys.exit(0)"),
    "os-exit": ("import os\n\ndef check(output, ctx):\n    os._exit(0)\n",
                "process exited with code 0"),
    "keyboard-interrupt": ("def check(output, ctx):\n    raise KeyboardInterrupt\n",
                           "raised KeyboardInterrupt"),
    "infinite-loop": ("def check(output, ctx):\n    while True:\n        pass\n",
                      "timed out after 1 s"),
}
BENIGN = "def check(output, ctx):\n    return True\n"
OUTPUTS = ("out.json", "out.md", "junit.xml")
OUTPUT_ARGS = [arg for name in OUTPUTS for arg in ("-o", name)]


def project(root: Path, checks: str) -> Path:
    return write_files(root, {
        "promptctl.yaml": "models:\n  echo: {provider: echo}\nlimits: {check_timeout: 1}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "checks.py": checks,
        "suites/s.yaml": """
            prompts: [p.ask]
            models: [echo]
            cases:
              - id: plain
                vars: {n: 1}
                assert: [{type: icontains, value: say}]
              - id: attacked
                vars: {n: 2}
                assert: [{type: python, value: "checks:check"}]
            """,
    })


def run_cli(root: Path, *args: str) -> Any:
    """The CLI in a subprocess, tagged so that its worker processes can be found."""
    tag = uuid.uuid4().hex
    result = run_subprocess(*args, cwd=root, env={"PROMPTCTL_TEST_TAG": tag}, timeout=120)
    assert_nothing_left_running(tag)
    return result


def assert_nothing_left_running(tag: str) -> None:
    needle = f"PROMPTCTL_TEST_TAG={tag}".encode()
    deadline = time.monotonic() + 3
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    left.append(proc.name)
            except OSError:
                continue
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"processes left running after promptctl returned: {left}"


def summary(root: Path) -> dict[str, Any]:
    """The summary.json of the latest run (two runs can start in the same second)."""
    path = max((root / ".promptctl" / "runs").glob("*/summary.json"),
               key=lambda p: p.stat().st_mtime_ns)
    data: dict[str, Any] = json.loads(path.read_text())["summary"]
    return data


def assert_reports_say_attacked_failed(root: Path, reason: str) -> None:
    for name in OUTPUTS:
        assert (root / name).is_file(), name
    text = (root / "out.json").read_text()
    assert reason in text
    md = (root / "out.md").read_text()
    assert "attacked" in md and reason in md and "❌" in md
    suite = ET.parse(root / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    attacked = next(c for name, c in cases.items() if "attacked" in str(name))
    assert attacked.find("failure") is not None, ET.tostring(attacked)
    plain = next(c for name, c in cases.items() if "plain" in str(name))
    assert plain.find("failure") is None


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_run_records_the_attack_as_a_failed_case(tmp_path: Path, attack: str):
    checks, reason = ATTACKS[attack]
    root = project(tmp_path, checks)
    result = run_cli(root, "run", "--no-cache", *OUTPUT_ARGS)
    assert result.exit_code == 1, result.output
    got = summary(root)
    assert (got["passed"], got["failed"], got["errors"]) == (1, 1, 0)
    assert_reports_say_attacked_failed(root, reason)
    record = json.loads((root / "out.json").read_text())
    (attacked,) = [r for r in record["results"] if r["case"] == "attacked"]
    assert attacked["passed"] is False and reason in attacked["assertions"][0]["reason"]
    assert not (root / "baselines").exists()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_check_against_a_baseline_reports_the_regression(tmp_path: Path, attack: str):
    root = project(tmp_path, BENIGN)
    made = run_cli(root, "baseline", "update", "--no-cache")
    assert made.exit_code == 0, made.output
    baseline = root / "baselines" / "s.json"
    before = baseline.read_bytes()
    checks, reason = ATTACKS[attack]
    (root / "checks.py").write_text(checks)  # the pull request
    result = run_cli(root, "check", "--no-cache", *OUTPUT_ARGS)
    assert result.exit_code == 1, result.output
    got = summary(root)
    assert (got["passed"], got["failed"]) == (1, 1)
    assert_reports_say_attacked_failed(root, reason)
    diff = json.loads((root / "out.json").read_text())
    assert "attacked" in json.dumps(diff) and "regress" in json.dumps(diff).lower()
    assert baseline.read_bytes() == before  # check never writes a baseline
    assert [p.name for p in (root / "baselines").iterdir()] == ["s.json"]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_check_without_a_baseline_is_still_exit_2(tmp_path: Path, attack: str):
    root = project(tmp_path, ATTACKS[attack][0])
    result = run_cli(root, "check", "--no-cache", "-o", "out.md")
    assert result.exit_code == 2, result.output
    assert "baseline" in result.stderr
    assert not (root / "baselines").exists()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_baseline_update_records_the_attacked_case_as_failing(tmp_path: Path, attack: str):
    checks, reason = ATTACKS[attack]  # the baseline keeps verdicts; the run, reasons
    root = project(tmp_path, checks)
    result = run_cli(root, "baseline", "update", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "wrote baselines/s.json" in result.stdout
    got = summary(root)
    assert (got["passed"], got["failed"]) == (1, 1)
    cases = json.loads((root / "baselines" / "s.json").read_text())["cases"]
    assert cases["attacked"]["p.ask"]["echo"]["passed"] is False
    assert cases["plain"]["p.ask"]["echo"]["passed"] is True
    (records,) = (root / ".promptctl" / "runs").glob("*/records.jsonl")  # the one run
    assert reason in records.read_text()


def test_what_a_check_started_does_not_outlive_the_run(tmp_path: Path):
    root = project(tmp_path, "import subprocess\n\ndef check(output, ctx):\n"
                             "    subprocess.Popen(['sleep', '60'])\n"
                             "    while True:\n        pass\n")
    start = time.monotonic()
    result = run_cli(root, "run", "--no-cache", "-o", "out.json")  # finds the sleep too
    # the sleep holds promptctl's stderr: had it lived on, the run would end with it
    assert time.monotonic() - start < 30
    assert result.exit_code == 1, result.output
    assert "python assertion timed out after 1 s" in (root / "out.json").read_text()


def test_a_real_ctrl_c_during_a_python_check_is_exit_130(tmp_path: Path):
    import signal
    import subprocess

    root = project(tmp_path, "import time\n\ndef check(output, ctx):\n"
                             "    open('started', 'w').close()\n    time.sleep(30)\n"
                             "    return True\n")
    (root / "promptctl.yaml").write_text("models:\n  echo: {provider: echo}\n")
    tag = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "promptctl", "run", "--no-cache"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PROMPTCTL_TEST_TAG": tag})
    deadline = time.monotonic() + 30
    while not (root / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (root / "started").exists()
    interrupted = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - interrupted < 5  # not the 30 s the check sleeps
    assert "Traceback" not in err
    assert_nothing_left_running(tag)


def test_lint_does_not_run_the_check_module(tmp_path: Path):
    root = project(tmp_path, "open('ran.txt', 'w').write('lint ran me')\nimport sys\n"
                             "sys.exit(0)\n\ndef check(output, ctx):\n    return True\n")
    # one warning (an unused variable), so a clean exit 0 would be the attack's
    (root / "suites" / "s.yaml").write_text(
        (root / "suites" / "s.yaml").read_text().replace("vars: {n: 2}",
                                                          "vars: {n: 2, unused: 1}"))
    result = run_cli(root, "lint")
    assert result.exit_code == 1, result.output
    assert "variable 'unused' is not used" in result.stderr
    assert not (root / "ran.txt").exists()


def test_lint_reports_a_check_file_syntax_error_at_its_line(tmp_path: Path):
    root = project(tmp_path, BENIGN)
    write_files(root, {"checks/broken.py": "def fine(output, ctx):\n    return True\n"
                                           "def check(output ctx):\n    return True\n"})
    suite = root / "suites" / "s.yaml"
    suite.write_text(suite.read_text().replace('"checks:check"', '"checks/broken.py:check"'))
    for command in (["lint"], ["run", "--no-cache"]):
        result = run_cli(root, *command)
        assert result.exit_code == 2, result.output
        assert "checks/broken.py:3: " in result.stderr, result.stderr  # file:line first
        assert "syntax error" in result.stderr and "suites/s.yaml:" in result.stderr


def test_lint_resolves_functions_statically(tmp_path: Path):
    root = project(tmp_path, "from os.path import isabs as imported\n"
                             "def check(output, ctx):\n    return True\n"
                             "LIMIT = 3\n")
    suite = root / "suites" / "s.yaml"
    text = suite.read_text()
    assert run_cli(root, "lint").exit_code == 0
    suite.write_text(text.replace('"checks:check"', '"checks:imported"'))
    assert run_cli(root, "lint").exit_code == 0  # an imported name counts
    suite.write_text(text.replace('"checks:check"', '"checks:chek"'))
    result = run_cli(root, "lint")
    assert result.exit_code == 2 and "has no function 'chek'" in result.stderr
    assert "did you mean 'check'?" in result.stderr
    assert "suites/s.yaml:" in result.stderr
    suite.write_text(text.replace('"checks:check"', '"checks:LIMIT"'))
    result = run_cli(root, "lint")
    assert result.exit_code == 2 and "'LIMIT' is not a function" in result.stderr


def test_a_project_module_cannot_shadow_promptctl_s_own_imports(tmp_path: Path):
    # `python -m promptctl` puts the working directory on the import path: a yaml.py
    # (PyYAML's name) in the project must not be what promptctl imports
    root = project(tmp_path, BENIGN)
    (root / "yaml.py").write_text("import sys\nsys.exit(0)\n")
    suite = root / "suites" / "s.yaml"
    suite.write_text(suite.read_text().replace("value: say", "value: not-in-the-output"))
    result = run_cli(root, "run", "--no-cache")
    assert result.exit_code == 1, result.output
    assert summary(root)["failed"] == 1


def test_a_per_assertion_timeout_overrides_the_limit_and_must_be_positive(tmp_path: Path):
    root = project(tmp_path, ATTACKS["infinite-loop"][0])
    suite = root / "suites" / "s.yaml"
    text = suite.read_text()
    suite.write_text(text.replace('value: "checks:check"}',
                                  'value: "checks:check", timeout: 0.5}'))
    result = run_cli(root, "run", "--no-cache", "-o", "out.json")
    assert result.exit_code == 1, result.output
    assert "python assertion timed out after 0.5 s" in (root / "out.json").read_text()
    suite.write_text(text.replace('value: "checks:check"}',
                                  'value: "checks:check", timeout: 0}'))
    result = run_cli(root, "lint")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:" in result.stderr and "timeout" in result.stderr


# ----------------------------------------------------------------- provider plugins

SYNC_PROVIDER = """
import sys
from promptctl.providers.base import Provider

class Bad(Provider):
    name = "bad"

    def complete(self, messages, params):
        {body}
"""
ASYNC_PROVIDER = """
import sys
from promptctl.providers.base import Provider

class Bad(Provider):
    name = "bad"
    is_async = True
    max_concurrency = 4

    async def acomplete(self, messages, params):
        {body}
"""


@pytest.mark.parametrize(("template", "body", "said"), [
    (SYNC_PROVIDER, "sys.exit(0)", "called sys.exit(0)"),
    (SYNC_PROVIDER, "raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    (ASYNC_PROVIDER, "sys.exit(0)", "called sys.exit(0)"),
    (ASYNC_PROVIDER, "raise GeneratorExit", "raised GeneratorExit"),
], ids=["sync-exit", "sync-interrupt", "async-exit", "async-generator-exit"])
def test_a_provider_plugin_that_exits_is_a_recorded_error(tmp_path: Path, template: str,
                                                          body: str, said: str):
    site = provider_plugin_site(tmp_path / "site", "promptctl-bad", "bad = badprov:Bad",
                                {"badprov.py": template.format(body=body)})
    root = write_files(tmp_path / "project", {
        "promptctl.yaml": "models:\n  m: {provider: bad}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "suites/s.yaml": "prompts: [p.ask]\nmodels: [m]\ncases:\n"
                         + "".join(f"  - {{id: c{i}, vars: {{n: {i}}}, assert: "
                                   f"[{{type: icontains, value: say}}]}}\n" for i in range(3)),
    })
    tag = uuid.uuid4().hex
    result = run_subprocess("run", "--no-cache", "-o", "out.json", cwd=root,
                            env={"PYTHONPATH": f"{site}{os.pathsep}{WORKTREE}",
                                 "PROMPTCTL_TEST_TAG": tag}, timeout=120)
    assert_nothing_left_running(tag)
    assert result.exit_code == 3, result.output
    got = summary(root)
    assert (got["errors"], got["passed"], got["failed"]) == (3, 0, 0)
    records = json.loads((root / "out.json").read_text())["results"]
    assert all(said in r["error"] for r in records), records


def test_a_judge_whose_provider_exits_fails_its_assertion(tmp_path: Path):
    site = provider_plugin_site(tmp_path / "site", "promptctl-bad", "bad = badprov:Bad",
                                {"badprov.py": SYNC_PROVIDER.format(body="sys.exit(0)")})
    root = write_files(tmp_path / "project", {
        "promptctl.yaml": "models:\n  echo: {provider: echo}\n  judge: {provider: bad}\n"
                          "judge: judge\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "suites/s.yaml": "prompts: [p.ask]\nmodels: [echo]\ncases:\n"
                         "  - {id: c, vars: {n: 1}, assert: [{type: llm-rubric, "
                         "value: polite}]}\n",
    })
    result = run_subprocess("run", "--no-cache", "-o", "out.json", cwd=root,
                            env={"PYTHONPATH": f"{site}{os.pathsep}{WORKTREE}"}, timeout=120)
    assert result.exit_code == 1, result.output
    assert summary(root)["failed"] == 1
    assert "llm-rubric check called sys.exit(0)" in (root / "out.json").read_text()


def test_a_provider_plugin_that_exits_at_import_is_exit_3(tmp_path: Path):
    site = provider_plugin_site(tmp_path / "site", "promptctl-bad", "bad = badprov:Bad",
                                {"badprov.py": "import sys\nsys.exit(0)\n"})
    root = write_files(tmp_path / "project", {
        "promptctl.yaml": "models:\n  m: {provider: bad}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "suites/s.yaml": "prompts: [p.ask]\nmodels: [m]\ncases:\n  - {id: c, vars: {n: 1}}\n",
    })
    result = run_subprocess("run", "--no-cache", cwd=root,
                            env={"PYTHONPATH": f"{site}{os.pathsep}{WORKTREE}"}, timeout=120)
    assert result.exit_code == 3, result.output
    assert "provider 'bad'" in result.stderr and "called sys.exit(0)" in result.stderr


@pytest.mark.parametrize(("module", "said"), [
    ("class Other:\n    pass\n", "badprov has no class 'Bad'"),
    ("raise ImportError('line one\\nline two')\n", "raised ImportError: line one line two"),
], ids=["no-such-class", "multi-line-error"])
def test_a_provider_plugin_that_cannot_load_is_one_line_exit_3(tmp_path: Path, module: str,
                                                               said: str):
    site = provider_plugin_site(tmp_path / "site", "promptctl-bad", "bad = badprov:Bad",
                                {"badprov.py": module})
    root = write_files(tmp_path / "project", {
        "promptctl.yaml": "models:\n  m: {provider: bad}\n",
        "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
        "suites/s.yaml": "prompts: [p.ask]\nmodels: [m]\ncases:\n  - {id: c, vars: {n: 1}}\n",
    })
    result = run_subprocess("run", "--no-cache", cwd=root,
                            env={"PYTHONPATH": f"{site}{os.pathsep}{WORKTREE}"}, timeout=120)
    assert result.exit_code == 3, result.output
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1, \
        result.stderr


# ------------------------------------------------- in process: types, pool, limits


def check(data: dict[str, Any], output: str, **ctx: Any) -> Any:
    s = AssertionSpec.model_validate(data)
    validate_spec(s, root=ctx.get("root"))
    return evaluate(s, output, AssertionContext(**ctx))


@pytest.mark.parametrize(("raise_", "said"), [
    (SystemExit(0), "called sys.exit(0)"),
    (KeyboardInterrupt(), "raised KeyboardInterrupt"),
    (GeneratorExit(), "raised GeneratorExit"),
])
def test_a_plugin_type_raising_a_base_exception_is_a_failed_assertion(raise_: BaseException,
                                                                      said: str):
    name = f"raises-{type(raise_).__name__.lower()}"

    def bad(output: str, arg: Any, ctx: Any) -> Any:
        raise raise_

    register(name, needs_value=False)(bad)
    result: list[Any] = []
    # in a worker thread, as the engine scores: a KeyboardInterrupt there is never
    # the user's Ctrl-C
    thread = threading.Thread(target=lambda: result.append(check({"type": name}, "x")))
    thread.start()
    thread.join()
    (r,) = result
    assert not r.passed and r.reason == f"{name} check {said}"


def test_an_in_process_check_past_its_time_limit_fails_and_leaves_nothing_pending():
    def spin(output: str, arg: Any, ctx: Any) -> Any:
        try:
            while True:
                pass
        except BaseException:
            pass
        while True:
            pass

    register("spins-test", needs_value=False)(spin)
    start = time.monotonic()
    r = check({"type": "spins-test", "timeout": 0.3}, "x")
    assert time.monotonic() - start < 3
    assert not r.passed and r.reason == "spins-test check timed out after 0.3 s"
    r = check({"type": "spins-test"}, "x", check_timeout=0.2)  # limits.check_timeout
    assert r.reason == "spins-test check timed out after 0.2 s"
    # nothing is raised later into the thread that ran the check
    for _ in range(20):
        time.sleep(0.05)
        assert check({"type": "contains", "value": "x"}, "x").passed


def test_python_checks_reuse_a_worker_and_get_a_fresh_one_after_a_crash(tmp_path: Path):
    name = "checks_" + uuid.uuid4().hex[:8]
    (tmp_path / f"{name}.py").write_text(
        "import os\n"
        "def pid(output, ctx):\n    return {'pass': True, 'reason': str(os.getpid())}\n"
        "def crash(output, ctx):\n    os._exit(3)\n"
        "def sees(output, ctx):\n"
        "    print('a print to stdout'); os.write(1, b'raw bytes on fd 1')\n"
        "    return {'pass': True, 'reason': repr((ctx.vars, ctx.prompt, ctx.model,\n"
        "            ctx.latency_ms, ctx.prompt_tokens, ctx.completion_tokens, ctx.cost,\n"
        "            ctx.messages, ctx.token_logprobs, ctx.root.name, ctx.services))}\n")
    pids = {check({"type": "python", "value": f"{name}:pid"}, "x", root=tmp_path).reason
            for _ in range(20)}
    assert len(pids) == 1 and str(os.getpid()) not in pids  # one worker, not this process
    r = check({"type": "python", "value": f"{name}:crash"}, "x", root=tmp_path)
    assert r.reason == "python assertion's process exited with code 3 before answering"
    after = check({"type": "python", "value": f"{name}:pid"}, "x", root=tmp_path)
    assert after.passed and after.reason not in pids
    import datetime

    r = check({"type": "python", "value": f"{name}:sees"}, "x", root=tmp_path,
              vars={"d": datetime.date(2024, 1, 2), "xs": (1, 2)}, prompt="p.ask",
              model="m", latency_ms=1.5, prompt_tokens=3, completion_tokens=4, cost=0.5,
              messages=[{"role": "user", "content": "hi"}], token_logprobs=[-0.1])
    assert r.passed, r.reason
    assert r.reason == repr(({"d": datetime.date(2024, 1, 2), "xs": [1, 2]}, "p.ask", "m",
                             1.5, 3, 4, 0.5, [{"role": "user", "content": "hi"}], [-0.1],
                             tmp_path.name, None))
    worker_pool.shutdown()
    assert worker_pool.POOL.size() == 0


def test_a_python_check_is_never_imported_into_promptctl(tmp_path: Path):
    name = "checks_" + uuid.uuid4().hex[:8]
    (tmp_path / f"{name}.py").write_text("def ok(output, ctx):\n    return True\n")
    assert check({"type": "python", "value": f"{name}:ok"}, "x", root=tmp_path).passed
    assert name not in sys.modules
    assert str(tmp_path) not in sys.path and str(tmp_path.resolve()) not in sys.path
