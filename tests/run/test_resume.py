"""Resume, retry-errors, sharding and merge.

The logic runs on the scripted provider (provider calls are counted); a killed run is
simulated by cutting records.jsonl at every possible point and adding a torn line.
Two end-to-end tests SIGKILL a real `python -m promptctl run` subprocess and resume
it: one on a slowed-down scripted provider installed as an entry-point plugin, one on
the embedded model (slow)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import provider_plugin_site
from helpers.scripted_provider import ScriptedProvider

from promptctl.errors import ExitCode, UserError
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.providers.base import ProviderError
from promptctl.run.meta import load_run
from promptctl.run.options import RunOptions
from promptctl.run.plan import plan
from promptctl.run.resume import Resume
from promptctl.run.runner import run_suites
from promptctl.run.sharding import shard_calls
from promptctl.run.store import RunWriter, final_records, read_records, resolve_run, runs_dir
from promptctl.schema import parse_shard

pytestmark = pytest.mark.usefixtures("scripted")

TESTS = Path(__file__).resolve().parents[1]

CONFIG = """
    models:
      one: {provider: scripted, model: one}
      two: {provider: scripted, model: two, params: {seed: 3}}
    """
PROMPTS = """
    prompts:
      a: {template: "A {{ q }}"}
      b: {template: "B {{ q }}"}
    """


def cases(n: int, fail_every: int = 3) -> str:
    """n cases; every `fail_every`-th one asserts something the echo never says."""
    return "".join(
        f"  - {{id: c{i:02d}, vars: {{q: '{i}'}}, assert: [{{type: contains, value: "
        f"'{'nope' if i % fail_every == 0 else 'echo'}'}}]}}\n" for i in range(n))


def suite(body: str = "", *, n: int = 6, prompts: str = "[p.a, p.b]",
          models: str = "[one, two]") -> str:
    return f"prompts: {prompts}\nmodels: {models}\n{body}cases:\n{cases(n)}"


@pytest.fixture
def down(monkeypatch) -> set[str]:
    """Prompts (last user message) whose calls fail with a provider error while they
    are in this set; every call is counted in ScriptedProvider.calls."""
    prompts: set[str] = set()
    original = ScriptedProvider.complete

    def complete(self: Any, messages: list[dict[str, str]], params: dict[str, Any]) -> Any:
        if messages[-1]["content"] in prompts:
            with ScriptedProvider._lock:
                ScriptedProvider.calls.append((messages[-1]["content"], params))
            raise ProviderError("scripted outage")
        return original(self, messages, params)

    monkeypatch.setattr(ScriptedProvider, "complete", complete)
    return prompts


def setup(make_project, suite_text: str, **extra: str):
    make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                  "suites/s.yaml": suite_text, **extra})
    project = load_project()
    return project, [load_suite(project, p) for p in project.suite_paths()]


def loaded_suites():
    project = load_project()
    return [load_suite(project, p) for p in project.suite_paths()]


def view(records) -> dict:
    """What must be identical between a resumed and an uninterrupted run."""
    return {r.key: (r.output, r.passed, r.score, r.error,
                    [(a.type, a.passed, a.score) for a in r.assertions], r.messages,
                    r.params) for r in records}


def summary_view(summary: dict) -> dict:
    # `cached` is left out: a call killed after its answer was cached, before its
    # record was written, is a cache hit when resumed (same output, same verdict)
    return {k: v for k, v in summary.items() if k != "cached"}


def killed_copy(run_dir: Path, keep: int, name: str, torn: bool = True) -> Path:
    """A copy of a finished run as if killed after `keep` records were written, with
    half of the next record as a torn last line."""
    dest = run_dir.parent / name
    dest.mkdir()
    shutil.copy(run_dir / "meta.json", dest / "meta.json")
    lines = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)
    tail = lines[keep][: len(lines[keep]) // 2] if torn and keep < len(lines) else ""
    (dest / "records.jsonl").write_text("".join(lines[:keep]) + tail)
    return dest


# -- resume -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["repeat: 2\n", "repeat: auto\n"],
                         ids=["repeat-2", "repeat-auto"])
def test_resume_from_every_kill_point_matches_an_uninterrupted_run(make_project, scripted,
                                                                   body):
    project, suites = setup(make_project, suite(body, n=5))
    # flaky answers for model "two" (seeded): fail, fail, pass... so --repeat auto
    # draws a varying number of samples per cell
    scripted.answers = {f"{p} {i}": ["no", "no", f"echo {i}", "no", f"echo {i}"][i % 2:]
                        for p in "AB" for i in range(5)}
    options = RunOptions(use_cache=False)
    full = run_suites(project, suites, options)
    run_dir = resolve_run(runs_dir(project), full.run_id)
    full_summary = json.loads((run_dir / "summary.json").read_text())["summary"]
    lines = len((run_dir / "records.jsonl").read_text().splitlines())
    assert lines == len(full.records) > 20
    if body == "repeat: auto\n":
        assert len({r.repeat for r in full.records}) > 2  # several adaptive rounds

    for keep in range(lines + 1):
        killed = killed_copy(run_dir, keep, f"killed-{keep:03d}")
        scripted.calls = []
        result = run_suites(project, suites, options, resume=Resume(killed))
        assert len(scripted.calls) == lines - keep, keep  # nothing run twice
        assert view(result.records) == view(full.records), keep  # nothing lost
        assert [r.key for r in result.records] == [r.key for r in full.records]  # order
        assert result.exit_code == full.exit_code
        assert result.summary.to_dict() == full.summary.to_dict()
        on_disk = list(read_records(killed))
        assert len(on_disk) == len({r.key for r in on_disk}) == lines  # torn line cut
        assert view(on_disk) == view(full.records)
        summary = json.loads((killed / "summary.json").read_text())
        assert summary_view(summary["summary"]) == summary_view(full_summary)
        assert summary["run_id"] == killed.name


def test_a_killed_check_with_repeat_auto_resumes_with_the_baseline_policy(make_project,
                                                                         scripted):
    """`check --repeat auto` samples against the baselines; `run --resume` on the
    killed check replays that policy, not the plain one."""
    from promptctl.gate.check import check, load_baselines, resume_run, update_baselines
    from promptctl.run.resume import prepare

    project, suites = setup(make_project, suite(n=4))
    update_baselines(project, suites, run_suites(project, suites, RunOptions()).records,
                     partial=False)
    scripted.answers = {f"{p} {i}": ["no", f"echo {i}", "no"] for p in "AB" for i in (1, 2)}
    options = RunOptions(auto_repeat=True, use_cache=False)
    full, _ = check(project, suites, options)
    run_dir = resolve_run(runs_dir(project), full.run_id)
    assert json.loads((run_dir / "meta.json").read_text())["command"] == "check"
    plain = run_suites(project, suites, options, record_run=False)
    assert len(plain.records) != len(full.records)  # the policies differ here
    assert load_baselines(project, suites, allow_missing=False)
    lines = len(full.records)
    for keep in range(0, lines + 1, 3):
        killed = killed_copy(run_dir, keep, f"killed-{keep:03d}")
        scripted.calls = []
        target = prepare(project, killed.name)
        result = resume_run(project, target)
        assert len(scripted.calls) == lines - keep, keep
        assert view(result.records) == view(full.records), keep
        assert result.summary.to_dict() == full.summary.to_dict()


def test_merge_has_help(cli):
    result = cli("merge", "--help")
    assert result.exit_code == 0 and "--allow-partial" in result.stdout


def test_resume_cli_continues_the_latest_run_in_place(make_project, scripted, cli):
    setup(make_project, suite("repeat: 2\n", n=4))
    assert cli("run", "--no-cache", "-q").exit_code == ExitCode.FAILED
    project = load_project()
    run_dir = resolve_run(runs_dir(project))
    path = run_dir / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5][:30])  # killed mid-write
    (run_dir / "summary.json").unlink()
    scripted.calls = []
    result = cli("run", "--resume", "-q")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert len(scripted.calls) == len(lines) - 5
    assert "resuming run" not in result.stderr  # -q
    assert path.read_text().startswith("".join(lines[:5]))  # kept as they were
    assert len(path.read_text().splitlines()) == len(lines)
    assert len({r.key for r in read_records(run_dir)}) == len(lines)
    assert (run_dir / "summary.json").is_file()
    assert sorted(p.name for p in run_dir.parent.iterdir()) == sorted(
        [run_dir.name, "latest"])  # no new run folder
    # by id, with -j and a flag equal to the run's own value: fine; nothing left to run
    scripted.calls = []
    again = cli("run", "--resume", run_dir.name[:12], "-j", "2", "--no-cache")
    assert again.exit_code == ExitCode.FAILED, again.output
    assert "had finished" in again.stderr and scripted.calls == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--repeat", "3"], "--repeat conflicts with run"),
    (["--repeat", "auto"], "--repeat conflicts with run"),
    (["-m", "one"], "--model conflicts with run"),
    (["--shard", "1/2"], "--shard conflicts with run"),
    (["-k", "c01"], "--filter conflicts with run"),
    (["--max-repeat", "3"], "--max-repeat conflicts with run"),
    (["--resample"], "--resample conflicts with run"),
    (["a", "b"], "at most one argument"),
    (["nosuchrun"], "no run 'nosuchrun'"),
])
def test_resume_rejects_flags_that_change_the_plan(make_project, cli, flags, message):
    setup(make_project, suite("repeat: 2\n", n=2))
    assert cli("run", "-q").exit_code == ExitCode.FAILED
    result = cli("run", "--resume", *flags)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_resume_refuses_a_run_whose_suite_changed(make_project, cli):
    root = Path(setup(make_project, suite(n=3))[0].root)
    assert cli("run", "-q").exit_code == ExitCode.FAILED
    text = (root / "prompts/p.yaml").read_text()
    (root / "prompts/p.yaml").write_text(text.replace("A {{ q }}", "AA {{ q }}"))
    result = cli("run", "--resume")
    assert result.exit_code == ExitCode.USAGE
    assert "renders differently than when the run started" in result.stderr
    run_dir = resolve_run(root / ".promptctl/runs")
    assert (run_dir / "summary.json").is_file()  # a refused resume leaves the run as it was
    (root / "prompts/p.yaml").write_text(text)
    (root / "suites/s.yaml").write_text(suite(n=4))  # a case added
    result = cli("run", "--resume")
    assert result.exit_code == ExitCode.USAGE
    assert "the suites plan 16 calls now, 12 when run" in result.stderr
    (root / "suites/s.yaml").write_text(suite(n=3).replace("id: c02", "id: renamed"))
    result = cli("run", "--resume")
    assert result.exit_code == ExitCode.USAGE
    assert "the run has a record for s/c02 (prompt p." in result.stderr
    assert "which the suites no longer plan" in result.stderr
    (root / "suites/s.yaml").write_text(suite(n=3))
    assert cli("run", "--resume", "-q").exit_code == ExitCode.FAILED  # as it was: fine


def test_resume_refuses_a_run_that_is_still_being_written(make_project):
    project, suites = setup(make_project, suite(n=1))
    run_suites(project, suites, RunOptions())
    run_dir = resolve_run(runs_dir(project))
    live = RunWriter.reopen(run_dir)  # the original process, still running
    try:
        with pytest.raises(UserError, match="still being written by another process"):
            run_suites(project, suites, RunOptions(), resume=Resume(run_dir))
    finally:
        live.close()
    run_suites(project, suites, RunOptions(), resume=Resume(run_dir))  # now it can


# -- retry errors -----------------------------------------------------------------------


def test_retry_errors_calls_only_the_errors_and_replaces_them(make_project, scripted, cli,
                                                              down):
    project, suites = setup(make_project, suite(n=5, prompts="[p.a]", models="[one]"))
    down.update({"A 1", "A 4"})
    first = run_suites(project, suites, RunOptions())
    assert first.exit_code == ExitCode.FAILED  # c00 and c03 fail; c01, c04 errors
    assert first.summary.errors == 2
    run_dir = resolve_run(runs_dir(project))

    down.discard("A 1")  # one endpoint is back, the other is still down
    scripted.calls = []
    result = cli("run", "--retry-errors", "-q")
    assert result.exit_code == ExitCode.FAILED, result.output
    assert sorted(p for p, _ in scripted.calls) == ["A 1", "A 4"]  # only the errors
    raw = list(read_records(run_dir))
    assert len(raw) == 7  # 5 + the 2 retried, appended
    final = {r.case: r for r in final_records(run_dir)}
    assert sorted(final) == ["c00", "c01", "c02", "c03", "c04"]  # one record per key
    assert list(final) == list(dict.fromkeys(r.case for r in raw))  # each in its place
    assert final["c01"].error is None and final["c01"].passed
    assert final["c04"].error == "scripted outage"
    assert json.loads((run_dir / "summary.json").read_text())["summary"]["errors"] == 1

    down.clear()
    scripted.calls = []
    result = cli("run", "--resume", run_dir.name, "--retry-errors", "-q")
    assert [p for p, _ in scripted.calls] == ["A 4"]
    saved = load_run(project)
    assert sorted(r.case for r in saved.records) == ["c00", "c01", "c02", "c03", "c04"]
    assert not any(r.error for r in saved.records)
    assert saved.summary().to_dict() == run_suites(project, suites,
                                                   RunOptions(use_cache=False)
                                                   ).summary.to_dict()
    # a baseline needs a verdict for every case: the retried run now has one
    update = cli("baseline", "update", "--run", run_dir.name)
    assert update.exit_code == 0, update.output
    scripted.calls = []
    nothing = cli("run", "--retry-errors", run_dir.name, "-q")
    assert nothing.exit_code == ExitCode.FAILED and scripted.calls == []


# -- sharding ---------------------------------------------------------------------------


def test_shards_partition_the_plan_into_balanced_whole_cells(make_project):
    project, suites = setup(make_project, suite("repeat: 3\n", n=7),
                            **{"suites/t.yaml": suite(n=4, models="[one]")})
    full = plan(project, suites, RunOptions())
    keys = [c.key for c in full]
    for count in range(1, 9):
        slices = [plan(project, suites, RunOptions(shard=(i, count)))
                  for i in range(1, count + 1)]
        got = [c.key for s in slices for c in s]
        assert sorted(got) == sorted(keys) and len(got) == len(set(got))  # a partition
        cells = [{k[:4] for k in (c.key for c in s)} for s in slices]
        sizes = [len(c) for c in cells]
        assert max(sizes) - min(sizes) <= 1, (count, sizes)
        for i, a in enumerate(cells):  # whole cells: every repeat in one shard
            for b in cells[i + 1:]:
                assert not a & b
        for s in slices:  # plan order kept
            assert [c.key for c in s] == [k for k in keys if k in set(c.key for c in s)]
    # deterministic: the order the suites are given in does not matter
    again = [c.key for c in shard_calls(plan(project, suites[::-1], RunOptions()), 2, 3)]
    assert sorted(again) == sorted(c.key for c in plan(
        project, suites, RunOptions(shard=(2, 3))))


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "3", "-1/3", "1/3/2", ""])
@pytest.mark.parametrize("command", [["run"], ["check"], ["baseline", "update"]])
def test_bad_shard_values_exit_2(make_project, cli, value, command):
    setup(make_project, suite(n=2))
    result = cli(*command, "--shard", value)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert f"bad --shard '{value}'" in result.stderr and "Traceback" not in result.output
    with pytest.raises(UserError):
        parse_shard(value)


def test_parse_shard():
    assert parse_shard("2/3") == (2, 3) and parse_shard(" 1 / 1 ") == (1, 1)


def test_merged_shards_equal_an_unsharded_run(make_project, cli, tmp_path):
    setup(make_project, suite("repeat: 2\n", n=5))
    assert cli("run", "--no-cache", "-q").exit_code == ExitCode.FAILED
    project = load_project()
    whole = load_run(project)
    assert cli("baseline", "update", "--run", whole.run_id).exit_code == 0
    baseline = (tmp_path / "baselines/s.json").read_text()
    shards = []
    for i in (1, 2, 3):
        result = cli("run", "--no-cache", "-q", "--shard", f"{i}/3")
        assert result.exit_code in (0, 1), result.output
        shards.append(load_run(project))
        assert shards[-1].filtered  # a shard is partial: baseline update keeps the rest
    assert sum(len(s.records) for s in shards) == len(whole.records)

    result = cli("merge", *(s.run_id for s in shards), "-o", "merged.json")
    assert result.exit_code == 0, result.output
    assert "merged 3 runs" in result.stdout
    merged = load_run(project)  # the merged run is the latest
    assert merged.run_id not in {s.run_id for s in shards}
    assert not merged.filtered
    assert view(merged.records) == view(whole.records)
    # the merged records are in plan order (the suite file's), whatever the shards did
    assert [r.key for r in merged.records] == [
        c.key for c in plan(project, merged.suites, RunOptions())]
    assert merged.summary().to_dict() == whole.summary().to_dict()
    run_dir = resolve_run(runs_dir(project), merged.run_id)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert [m["shard"] for m in meta["merged_from"]] == ["1/3", "2/3", "3/3"]
    assert [m["run_id"] for m in meta["merged_from"]] == [s.run_id for s in shards]
    assert json.loads((run_dir / "summary.json").read_text())["summary"] == \
        whole.summary().to_dict()
    doc = json.loads((tmp_path / "merged.json").read_text())
    assert len(doc["results"]) == len(whole.records)

    # diff and baseline update --run accept it; the baseline is the unsharded one
    diff = cli("diff", "-q")
    assert diff.exit_code == 0, diff.output
    (tmp_path / "baselines/s.json").unlink()
    assert cli("baseline", "update", "--run", merged.run_id).exit_code == 0
    assert (tmp_path / "baselines/s.json").read_text() == baseline


def test_merge_accepts_run_and_runs_directories_and_dedupes(make_project, cli, tmp_path):
    setup(make_project, suite(n=4))
    runs = tmp_path / ".promptctl/runs"
    ids = []
    for i in (1, 2):
        assert cli("run", "-q", "--shard", f"{i}/2").exit_code in (0, 1)
        ids.append((runs / "latest").read_text().strip())
    # CI: each shard's .promptctl/runs uploaded, downloaded into its own folder
    for n, run_id in enumerate(ids, 1):
        art = tmp_path / "artifacts" / f"runs-shard-{n}"
        shutil.copytree(runs / run_id, art / run_id)
        (art / "latest").write_text(run_id + "\n")
    result = cli("merge", "artifacts/runs-shard-1", "artifacts/runs-shard-2",
                 f"artifacts/runs-shard-1/{ids[0]}", ids[0])  # the same shard thrice
    assert result.exit_code == 0, result.output
    merged = load_run(load_project())
    assert len(merged.records) == len({r.key for r in merged.records}) == 2 * 2 * 4


def test_merge_rejects_conflicts_missing_and_unfinished_shards(make_project, cli, tmp_path):
    setup(make_project, suite(n=4))
    runs = tmp_path / ".promptctl/runs"
    ids = []
    for i in (1, 2, 3):
        assert cli("run", "-q", "--shard", f"{i}/3").exit_code in (0, 1)
        ids.append((runs / "latest").read_text().strip())

    # a copy of shard 1 with one output changed: the same key, a different result
    other = runs / "conflict"
    shutil.copytree(runs / ids[0], other)
    lines = (other / "records.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["output"] = "something else"
    (other / "records.jsonl").write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    result = cli("merge", *ids, "conflict")
    assert result.exit_code == ExitCode.USAGE
    key = f"{rec['suite']}/{rec['case']} (prompt {rec['prompt']}, model {rec['model']}, " \
          f"repeat {rec['repeat']})"
    assert f"conflicting results for {key}" in result.stderr

    result = cli("merge", ids[0], ids[2])
    assert result.exit_code == ExitCode.USAGE and "shard 2/3 missing" in result.stderr
    partial = cli("merge", ids[0], ids[2], "--allow-partial")
    assert partial.exit_code == 0 and "missing shards 2/3" in partial.stdout
    assert load_run(load_project()).filtered  # a baseline update keeps the other cases

    (runs / ids[1] / "summary.json").unlink()  # shard 2 was killed
    result = cli("merge", *ids)
    assert result.exit_code == ExitCode.USAGE and "did not finish" in result.stderr
    assert f"promptctl run --resume {ids[1]}" in result.stderr

    assert cli("run", "-q", "--shard", "1/2").exit_code in (0, 1)
    result = cli("merge", ids[0], "latest")
    assert result.exit_code == ExitCode.USAGE and "different splits" in result.stderr
    assert cli("run", "-q", "--repeat", "2", "--shard", "2/3").exit_code in (0, 1)
    result = cli("merge", ids[0], "latest")
    assert result.exit_code == ExitCode.USAGE and "different options (repeat" in result.stderr
    assert cli("merge", "nope").exit_code == ExitCode.USAGE


def test_an_empty_shard_is_an_empty_run(make_project, cli):
    setup(make_project, suite(n=2, prompts="[p.a]", models="[one]"))
    assert cli("run", "-q", "-k", "c01", "--shard", "1/2").exit_code == 0
    first = load_run(load_project()).run_id
    result = cli("run", "-q", "-k", "c01", "--shard", "2/2")
    assert result.exit_code == 0, result.output
    empty = load_run(load_project())
    assert empty.records == []
    assert cli("merge", first, empty.run_id).exit_code == 0
    assert len(load_run(load_project()).records) == 1


def test_check_on_a_shard_diffs_only_its_cells(make_project, cli):
    setup(make_project, suite(n=6))
    assert cli("baseline", "update", "-q").exit_code == 0
    result = cli("check", "--shard", "2/3", "-o", "diff.json")
    assert result.exit_code == 0, result.output
    doc = json.loads(Path("diff.json").read_text())
    (suite_doc,) = doc["suites"]
    shard = plan(load_project(), loaded_suites(), RunOptions(shard=(2, 3)))
    cells = {c.key[1:4] for c in shard}
    assert {(c["case"], c["prompt"], c["model"]) for c in suite_doc["cases"]} == cells
    assert {c["status"] for c in suite_doc["cases"]} <= {"unchanged", "failing"}  # no "removed"
    assert suite_doc["not_run"] == 6 * 2 * 2 - len(cells)
    assert load_run(load_project()).filtered


# -- SIGKILL, end to end ----------------------------------------------------------------


def _kill_when(cmd: list[str], cwd: Path, env: dict[str, str], at_least: int,
               total: int) -> tuple[int, float]:
    """Start `promptctl run`, SIGKILL it once `at_least` records are on disk (and
    before it finishes); returns (records on disk at the kill, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "promptctl", *cmd], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = cwd / ".promptctl/runs"
    try:
        while True:
            found = list(runs.glob("*/records.jsonl")) if runs.is_dir() else []
            done = found[0].read_bytes().count(b"\n") if found else 0
            if done >= at_least:
                break
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the kill: "
                                     f"{proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    on_disk = found[0].read_bytes().count(b"\n")
    assert 0 < on_disk < total, on_disk
    assert not (found[0].parent / "summary.json").exists()
    return on_disk, time.monotonic() - start


def _kill_resume_compare(tmp_path: Path, files: dict[str, str], env: dict[str, str],
                         total: int, flags: list[str]) -> dict[str, Any]:
    from helpers import run_subprocess, write_files

    killed_dir = write_files(tmp_path / "killed", files)
    clean_dir = write_files(tmp_path / "clean", files)
    env = {**os.environ, "COLUMNS": "200", **env}

    t0 = time.monotonic()
    clean = run_subprocess("run", "-q", *flags, "-o", "out.json", cwd=clean_dir, env=env)
    clean_seconds = time.monotonic() - t0
    assert clean.exit_code in (0, 1), clean.output

    at_kill, kill_seconds = _kill_when(["run", "-q", *flags], killed_dir, env,
                                       at_least=max(2, total // 4), total=total)
    t0 = time.monotonic()
    resumed = run_subprocess("run", "--resume", "-o", "out.json", cwd=killed_dir, env=env)
    resume_seconds = time.monotonic() - t0
    assert resumed.exit_code == clean.exit_code, resumed.output
    assert f"{at_kill} of {total} planned calls recorded" in resumed.stderr

    def load(root: Path) -> tuple[dict, dict, list[dict]]:
        (run_dir,) = [p for p in (root / ".promptctl/runs").iterdir() if p.is_dir()]
        lines = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
        doc = json.loads((root / "out.json").read_text())
        summary = json.loads((run_dir / "summary.json").read_text())["summary"]
        return summary, doc, lines

    clean_summary, clean_doc, clean_lines = load(clean_dir)
    summary, doc, lines = load(killed_dir)
    keys = [(r["suite"], r["case"], r["prompt"], r["model"], r["repeat"]) for r in lines]
    assert len(keys) == len(set(keys)) == total == len(clean_lines)  # none twice, none lost

    def results(d: dict) -> dict:
        return {(r["suite"], r["case"], r["prompt"], r["model"], r["repeat"]):
                (r["output"], r["passed"], r["score"], r["error"],
                 [(a["type"], a["passed"]) for a in r["assertions"]])
                for r in d["results"]}

    assert results(doc) == results(clean_doc)
    assert [r["case"] for r in doc["results"]] == [r["case"] for r in clean_doc["results"]]
    assert summary_view(summary) == summary_view(clean_summary)
    assert summary_view(doc["summary"]) == summary_view(clean_doc["summary"])
    return {"clean_s": clean_seconds, "killed_after_s": kill_seconds, "at_kill": at_kill,
            "resume_s": resume_seconds, "total": total}


def _plugin_site(tmp_path: Path) -> Path:
    """A provider plugin installed the way pip would: a dist-info with an entry point,
    here a scripted provider slowed to 50 ms a call."""
    return provider_plugin_site(
        tmp_path / "site", "promptctl-slow", "slow-scripted = slow_scripted:Slow",
        {"slow_scripted.py": "from helpers.scripted_provider import ScriptedProvider\n\n\n"
                             "class Slow(ScriptedProvider):\n    delay = 0.05\n"})


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    """A real process killed with SIGKILL while calls are in flight (4 at a time)."""
    site = _plugin_site(tmp_path)
    files = {
        "promptctl.yaml": "models:\n  bot: {provider: slow-scripted, model: bot, "
                          "concurrency: 4, params: {seed: 1}}\n",
        "prompts/p.yaml": PROMPTS,
        "suites/s.yaml": suite("repeat: 2\n", n=15, prompts="[p.a, p.b]", models="[bot]"),
    }
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}
    timings = _kill_resume_compare(tmp_path, files, env, total=15 * 2 * 2, flags=[])
    print(f"scripted kill test: {timings}")


@pytest.mark.slow
def test_sigkill_then_resume_on_the_embedded_model(tmp_path):
    """The real local model, one call at a time: killed mid-run, resumed, compared."""
    topics = ["apples", "rivers", "music", "winter", "trains", "books", "coffee",
              "mountains", "cats", "rain", "stars", "bread", "ships", "gardens", "clocks"]
    files = {
        "prompts/p.yaml": "prompts:\n  q:\n    params: {max_tokens: 16}\n"
                          "    template: 'Name one word related to {{ topic }}.'\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: ['builtin:smollm2']\ncases:\n" + "".join(
            f"  - {{id: {t}, vars: {{topic: {t}}}, assert: [{{type: icontains, "
            f"value: '{t[:3]}'}}]}}\n" for t in topics),
    }
    timings = _kill_resume_compare(tmp_path, files, {}, total=len(topics), flags=[])
    print(f"smollm2 kill test: {timings}")
