"""Where users meet promptctl, each exercised by its real tool: pre-commit, a GitHub
Actions schema validator, `promptctl init`, and the Markdown run report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import run_subprocess, write_files

ROOT = Path(__file__).resolve().parents[2]

GOOD_PROMPTS = "prompts:\n  q: {template: 'Q: {{ question }}'}\n"
GOOD_SUITE = ("prompts: [p.q]\nmodels: [echo]\ncases:\n  - id: one\n"
              "    vars: {question: hi}\n    assert: [{type: contains, value: hi}]\n")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.mark.slow
def test_pre_commit_installs_the_hook_lints_good_and_rejects_broken(tmp_path):
    """The real pre-commit tool installs this repo's hook into its own virtualenv, from
    a user's config that names this repository at a commit."""
    # the hook repository as pre-commit sees it: committed files only
    hooks_repo = tmp_path / "promptctl"
    shutil.copytree(ROOT / "promptctl", hooks_repo / "promptctl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, hooks_repo / name)
    git(hooks_repo, "init", "-q")
    git(hooks_repo, "add", ".")
    git(hooks_repo, "commit", "-q", "-m", "hooks")
    user = tmp_path / "user"
    write_files(user, {"prompts/p.yaml": GOOD_PROMPTS, "suites/s.yaml": GOOD_SUITE})
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks_repo, check=True,
                         capture_output=True, text=True).stdout.strip()
    # a user's config naming the hook repository at that commit, as a user's would; one
    # store for both runs, so the hook's virtualenv is built once (try-repo builds it
    # in a fresh store on every call: 20 s each)
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo.as_uri()}\n    rev: {rev}\n"
        "    hooks:\n      - id: promptctl-lint\n")
    git(user, "init", "-q")
    git(user, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "store")}

    def run_hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "promptctl-lint", "--all-files",
             "--color", "never"], cwd=user, capture_output=True, text=True, timeout=600,
            env=env)

    good = run_hook()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "promptctl lint" in good.stdout and "Passed" in good.stdout

    (user / "prompts/p.yaml").write_text("prompts:\n  q: {template: 'Q: {{ question }'}\n")
    git(user, "add", ".")
    bad = run_hook()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
    assert "prompts/p.yaml:2: error: template syntax error" in bad.stdout


def test_hooks_file_is_valid_for_pre_commit():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    ids = {h["id"]: h for h in hooks}
    assert set(ids) == {"promptctl-lint", "promptctl-check"}
    assert ids["promptctl-check"]["stages"] == ["manual"]
    for hook in hooks:  # pre-commit's own schema for manifests
        from pre_commit.clientlib import MANIFEST_HOOK_DICT, cfgv

        cfgv.validate(hook, MANIFEST_HOOK_DICT)
    from pre_commit.clientlib import CONFIG_SCHEMA

    own = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    cfgv.validate(own, CONFIG_SCHEMA)  # the repo runs its own lint hook
    assert {h["id"] for r in own["repos"] for h in r["hooks"]} >= {"promptctl-lint"}


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.yml")),
                         ids=lambda p: p.name)
def test_workflows_validate_against_the_github_actions_schema(workflow):
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(workflow)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_init_scaffold_validates_and_refuses_to_overwrite(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("init", "proj", "--no-baseline")
    assert result.exit_code == 0, result.output
    proj = tmp_path / "proj"
    for name in ("promptctl.yaml", "prompts/geo.yaml", "suites/geo.yaml",
                 ".pre-commit-config.yaml", ".github/workflows/promptctl.yml"):
        assert (proj / name).is_file(), name
    assert ".promptctl/" in (proj / ".gitignore").read_text()
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows",
                           str(proj / ".github/workflows/promptctl.yml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    from pre_commit.clientlib import CONFIG_SCHEMA, cfgv

    cfgv.validate(yaml.safe_load((proj / ".pre-commit-config.yaml").read_text()),
                  CONFIG_SCHEMA)
    monkeypatch.chdir(proj)
    assert cli("lint").exit_code == 0
    again = cli("init", ".")
    assert again.exit_code == 2 and "refusing to overwrite promptctl.yaml" in again.stderr
    (proj / ".gitignore").write_text("node_modules/\n")
    assert cli("init", ".", "--force", "--no-baseline").exit_code == 0
    assert (proj / ".gitignore").read_text() == \
        "node_modules/\n# promptctl's local state: response cache, run history\n.promptctl/\n"


@pytest.mark.slow
def test_init_then_check_passes_at_once_on_the_embedded_model(tmp_path):
    assert run_subprocess("init", "fresh", cwd=tmp_path).exit_code == 0
    result = run_subprocess("check", cwd=tmp_path / "fresh")
    assert result.exit_code == 0, result.output
    assert "OK: no regressions (3 unchanged)" in result.stdout
    # the scaffolded workflow's next step, on the project committed to git: one baseline
    # commit is not enough history for a verdict, so the drift gate passes
    proj = tmp_path / "fresh"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=proj, env=env, check=True, capture_output=True)
    workflow = yaml.safe_load((proj / ".github/workflows/promptctl.yml").read_text())
    step = next(s["run"] for s in workflow["jobs"]["check"]["steps"]
                if "promptctl history" in s.get("run", ""))
    history = run_subprocess(*step.split()[1:], cwd=proj)
    assert history.exit_code == 0, history.output
    assert "not enough history" in history.stdout and (proj / "history.html").is_file()


def test_markdown_run_report(make_project, cli, tmp_path):
    make_project({"prompts/p.yaml": GOOD_PROMPTS, "suites/s.yaml": GOOD_SUITE.replace(
        "  - id: one", "  - id: two\n    vars: {question: yo}\n"
        "    assert: [{type: contains, value: hi, metric: m}]\n  - id: one")})
    assert cli("run", "-o", "run.md").exit_code == 1
    md = (tmp_path / "run.md").read_text()
    assert md.startswith("## promptctl run ❌ 1/2 cases passed")
    assert "| m | 0.000 |" in md
    assert "| fail | s | `two` | p.q | echo | 0 | Q: yo | contains: expected to contain 'hi'" \
        in md


def test_the_repo_ci_workflow_runs_the_gate_and_uploads_reports():
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    steps = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert any("promptctl check" in s and "diff.md" in s for s in steps)
    assert any("GITHUB_STEP_SUMMARY" in s for s in steps)
    # the drift gate over the baselines' commits needs the whole history checked out
    assert any("promptctl history --git --gate" in s for s in steps)
    checkout = ci["jobs"]["test"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout") and \
        checkout["with"]["fetch-depth"] == 0
    uploads = [s for job in ci["jobs"].values() for s in job["steps"]
               if "upload-artifact" in s.get("uses", "")]
    assert any("report.html" in s["with"]["path"] and "junit.xml" in s["with"]["path"]
               and "history.html" in s["with"]["path"] for s in uploads)
    reusable = yaml.safe_load((ROOT / ".github/workflows/promptctl.yml").read_text())
    assert "workflow_call" in reusable[True]  # `on:` parses as True in YAML 1.1
