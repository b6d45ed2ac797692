"""Only what changed: --changed-since REF, run --watch, render --diff, in a real git
repository, counting the model calls of the scripted provider. --watch is told of saves
by the real watchfiles: the tests save real files in tmp_path."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import watchfiles

from promptctl.errors import PromptctlError
from promptctl.integrations.watch import WatchFilter, WatchResult, watch, watched_dirs
from promptctl.load import deps
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions

pytestmark = pytest.mark.usefixtures("scripted")

FILES = {
    "promptctl.yaml": """
        models:
          m: {provider: scripted, model: m}
        """,
    "prompts/p.yaml": """
        prompts:
          a: {template: "A {{ q }} {% include 'footer.j2' %}"}
          b: {template: "B {{ q }}"}
        """,
    "prompts/q.yaml": """
        prompts:
          c: {template: "C {{ q }}"}
        """,
    "prompts/footer.j2": "(footer)\n",
    "suites/s1.yaml": """
        prompts: [p.a]
        models: [m]
        defaults: {assert: [{type: contains, value: echo}]}
        cases:
          - {id: x, vars: {q: "1"}}
          - {id: y, vars: {q: "2"}}
        """,
    "suites/s2.yaml": """
        prompts: [p.b]
        models: [m]
        defaults: {assert: [{type: contains, value: echo}]}
        cases:
          - {id: x, vars: {q: "1"}}
        """,
    "suites/s3.yaml": """
        prompts: [q.c]
        models: [m]
        defaults: {assert: [{type: contains, value: echo}]}
        cases:
          - {from: ../data/rows.csv}
          - {id: z, vars: {q: "3"}}
        """,
    "data/rows.csv": "id,q\nr1,one\nr2,two\n",
}
TOTAL = 6  # s1: 2, s2: 1, s3: 2 rows + 1


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(make_project) -> Path:
    root = make_project(FILES)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1))


def prompts_called(scripted) -> list[str]:
    return sorted(p for p, _ in scripted.calls)


def run_changed(cli, *extra: str):
    return cli("run", "--no-cache", "--changed-since", "HEAD", *extra)


def test_nothing_changed_runs_nothing_and_exits_0(repo, cli, scripted):
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert f"0 of {TOTAL} cases changed since HEAD" in res.output
    assert scripted.calls == []


def test_editing_one_prompt_runs_only_its_cases(repo, cli, scripted):
    edit(repo, "prompts/p.yaml", 'b: {template: "B {{ q }}"}', 'b: {template: "B2 {{ q }}"}')
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert f"1 of {TOTAL} cases changed since HEAD" in res.output
    # p.a lives in the same file but did not change: its cases do not run
    assert prompts_called(scripted) == ["B2 1"]


def test_editing_a_python_check_runs_the_cases_that_use_it(repo, cli, scripted):
    (repo / "checks.py").write_text("def ok(output, ctx):\n    return True\n")
    edit(repo, "suites/s2.yaml", "defaults: {assert: [{type: contains, value: echo}]}",
         "defaults: {assert: [{type: python, value: 'checks.py:ok'}]}")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a python check")
    edit(repo, "checks.py", "return True", "return len(output) > 0")
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert f"1 of {TOTAL} cases changed since HEAD" in res.output
    assert prompts_called(scripted) == ["B 1"]


def test_a_killed_changed_since_run_resumes_with_its_own_selection(repo, cli, scripted):
    edit(repo, "prompts/p.yaml", 'b: {template: "B {{ q }}"}', 'b: {template: "B2 {{ q }}"}')
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    runs = repo / ".promptctl" / "runs"
    (run_dir,) = [d for d in runs.iterdir() if d.is_dir()]
    # as if killed before its one record was written, and the edit committed since:
    # resuming must not re-select against git (now nothing changed since HEAD)
    (run_dir / "records.jsonl").write_text("")
    git(repo, "commit", "-qam", "edit b")
    scripted.calls = []
    res = cli("run", "--resume", run_dir.name)
    assert res.exit_code == 0, res.output
    assert prompts_called(scripted) == ["B2 1"]  # the run's cell, and only it
    summary = json.loads((run_dir / "summary.json").read_text())["summary"]
    assert (summary["cases"], summary["passed"]) == (1, 1)


def test_an_include_change_reaches_the_prompts_that_include_it(repo, cli, scripted):
    edit(repo, "prompts/footer.j2", "(footer)", "(new footer)")
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert f"2 of {TOTAL} cases changed" in res.output
    assert prompts_called(scripted) == ["A 1 (new footer)", "A 2 (new footer)"]


def test_a_data_row_change_selects_its_case_and_a_header_change_all_rows(repo, cli,
                                                                         scripted):
    edit(repo, "data/rows.csv", "r2,two", "r2,deux")
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert prompts_called(scripted) == ["C deux"]
    scripted.reset()
    (repo / "data/rows.csv").write_text("id,q,extra\nr1,one,\nr2,two,\n")
    res = run_changed(cli)
    assert prompts_called(scripted) == ["C one", "C two"]


def test_a_case_edit_selects_that_case_and_a_suite_default_all_its_cases(repo, cli,
                                                                         scripted):
    edit(repo, "suites/s1.yaml", '{id: y, vars: {q: "2"}}', '{id: y, vars: {q: "22"}}')
    res = run_changed(cli)
    assert prompts_called(scripted) == ["A 22 (footer)"]
    scripted.reset()
    edit(repo, "suites/s1.yaml", "value: echo", "value: ech")
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert prompts_called(scripted) == ["A 1 (footer)", "A 22 (footer)"]


def test_a_config_change_selects_everything(repo, cli, scripted):
    edit(repo, "promptctl.yaml", "models:", "# tuned\nmodels:")
    res = run_changed(cli)
    assert res.exit_code == 0, res.output
    assert f"{TOTAL} of {TOTAL} cases changed" in res.output
    assert len(scripted.calls) == TOTAL


def test_a_new_file_counts_as_changed_and_filter_narrows(repo, cli, scripted):
    (repo / "suites/s4.yaml").write_text(
        "prompts: [p.b]\nmodels: [m]\ncases:\n  - {id: w, vars: {q: '9'}}\n")
    res = run_changed(cli, "-k", "w")
    assert res.exit_code == 0, res.output
    assert "1 of 1 case changed since HEAD" in res.output
    assert prompts_called(scripted) == ["B 9"]


def test_bad_ref_and_no_repository_exit_2(repo, cli, tmp_path_factory, monkeypatch,
                                          scripted):
    res = cli("run", "--changed-since", "no-such-ref")
    assert res.exit_code == 2
    assert "unknown git ref 'no-such-ref'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    outside = tmp_path_factory.mktemp("nogit")
    for name in ("promptctl.yaml", "prompts/p.yaml", "prompts/footer.j2", "suites/s2.yaml"):
        (outside / name).parent.mkdir(parents=True, exist_ok=True)
        (outside / name).write_text((repo / name).read_text())
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(outside.parent))
    res = cli("check", "--changed-since", "HEAD")
    assert res.exit_code == 2
    assert "not a git repository" in res.stderr
    assert scripted.calls == []


def test_check_runs_only_changed_cases_against_baselines(repo, cli, scripted):
    assert cli("baseline", "update", "--no-cache").exit_code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "baselines")
    scripted.reset()
    res = cli("check", "--no-cache", "--changed-since", "HEAD")
    assert res.exit_code == 0 and "0 of 6 cases changed" in res.output, res.output
    edit(repo, "prompts/q.yaml", "C {{ q }}", "C! {{ q }}")
    res = cli("check", "--no-cache", "--changed-since", "HEAD")
    assert res.exit_code == 0, res.output
    assert "3 of 6 cases changed" in res.output
    assert len(scripted.calls) == 3


def test_the_pre_commit_hooks_run_only_affected_cases():
    from promptctl.load.scaffold import PRE_COMMIT

    hooks = (Path(__file__).parents[2] / ".pre-commit-hooks.yaml").read_text()
    assert "entry: promptctl check --changed-since HEAD" in hooks
    assert "entry: promptctl check --changed-since HEAD" in PRE_COMMIT


def test_cell_inputs_name_every_file(repo):
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    cells = deps.cell_inputs(project, suites)
    files = {p.relative_to(repo.resolve()).as_posix() for p, _ in cells[("s1", "x", "p.a", "m")]}
    assert files == {"promptctl.yaml", "suites/s1.yaml", "prompts/p.yaml",
                     "prompts/footer.j2"}
    files = {p.relative_to(repo.resolve()).as_posix() for p, _ in cells[("s3", "r1", "q.c", "m")]}
    assert files == {"promptctl.yaml", "suites/s3.yaml", "prompts/q.yaml", "data/rows.csv"}


# -- render --diff -------------------------------------------------------------------


def test_render_diff_shows_the_changed_line(repo, cli):
    res = cli("render", "p.a", "--var", "q=7", "--diff", "HEAD")
    assert res.exit_code == 0, res.output
    assert "no change" in res.stdout
    edit(repo, "prompts/footer.j2", "(footer)", "(new footer)")
    res = cli("render", "p.a", "--case", "s1:x", "--diff", "HEAD")
    assert res.exit_code == 0, res.output
    assert "-A 1 (footer)" in res.stdout
    assert "+A 1 (new footer)" in res.stdout
    assert "[user]" in res.stdout


def test_render_diff_errors_exit_2(repo, cli):
    assert cli("render", "p.a", "--var", "q=1", "--diff", "nope").exit_code == 2
    edit(repo, "prompts/q.yaml", "prompts:", "prompts:\n  d: {template: 'D'}")
    res = cli("render", "q.d", "--diff", "HEAD")
    assert res.exit_code == 2
    assert "does not exist at HEAD" in res.stderr


# -- watch ---------------------------------------------------------------------------


class Watcher:
    def __init__(self, root: Path, options: RunOptions) -> None:
        self.results: queue.Queue[WatchResult] = queue.Queue()
        self.errors: queue.Queue[PromptctlError] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch, args=(root, options, self.results.put, self.stop),
            kwargs={"on_error": self.errors.put}, daemon=True)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def next(self, timeout: float = 1.0) -> WatchResult:
        return self.results.get(timeout=timeout)


def test_watch_reruns_only_what_a_save_changed(repo, scripted):
    with Watcher(repo, RunOptions(use_cache=False)) as w:
        first = w.next(5)
        assert first.first and len(first.ran) == TOTAL == len(first.records)
        assert len(scripted.calls) == TOTAL
        saved = time.monotonic()
        edit(repo, "prompts/p.yaml", 'b: {template: "B {{ q }}"}',
             'b: {template: "B {{ q }}", params: {seed: 1}}')
        second = w.next(1.0)
        assert time.monotonic() - saved < 1.0
        assert second.ran == {("s2", "x", "p.b", "m")}
        assert len(scripted.calls) == TOTAL + 1
        assert len(second.records) == TOTAL and second.summary.passed == TOTAL
        assert second.changed == {}  # same status, same output
        assert [p.name for p in second.files] == ["p.yaml"]

        scripted.answers["A 1 (new footer)"] = "nothing"  # x of s1 will now fail
        edit(repo, "prompts/footer.j2", "(footer)", "(new footer)")
        third = w.next(1.0)
        assert third.ran == {("s1", "x", "p.a", "m"), ("s1", "y", "p.a", "m")}
        assert third.changed == {("s1", "x", "p.a", "m"): "worse",
                                 ("s1", "y", "p.a", "m"): "output"}
        assert third.summary.failed == 1 and len(third.records) == TOTAL
        assert len(scripted.calls) == TOTAL + 3


def test_watch_survives_bad_input_and_picks_up_the_fix(repo, scripted):
    with Watcher(repo, RunOptions(use_cache=False)) as w:
        w.next(5)
        good = (repo / "prompts/q.yaml").read_text()
        (repo / "prompts/q.yaml").write_text("prompts:\n  c: {template: 'C {{ q '}\n")
        err = w.errors.get(timeout=1.0)
        assert "q.yaml" in str(err)
        assert w.results.empty()
        (repo / "prompts/q.yaml").write_text(good.replace("C {{ q }}", "C? {{ q }}"))
        fixed = w.next(1.0)
        assert {k[0] for k in fixed.ran} == {"s3"} and len(fixed.ran) == 3
        assert {k: v for k, v in fixed.changed.items()} == {
            k: "output" for k in fixed.ran}


def test_watch_is_told_of_a_save_by_the_os(repo, scripted):
    """A save that keeps the file's size and mtime: no comparison of stamps can see it,
    only the OS's notification through watchfiles."""
    path = repo / "prompts/p.yaml"
    text = path.read_text().replace('"B {{ q }}"', '"b {{ q }}"')
    with Watcher(repo, RunOptions(use_cache=False)) as w:
        w.next(5)
        before = path.stat()
        for _ in range(20):  # a save in the instant before the watcher is armed is missed
            path.write_text(text)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
            stat = path.stat()
            assert (stat.st_mtime_ns, stat.st_size) == (before.st_mtime_ns, before.st_size)
            try:
                res = w.next(0.5)
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("no save was reported")
        assert res.ran == {("s2", "x", "p.b", "m")}
        assert scripted.calls[-1][0] == "b 1"


def test_watch_data_file_config_and_a_new_folder(repo, scripted):
    with Watcher(repo, RunOptions(use_cache=False)) as w:
        w.next(5)
        # data/ is neither prompts/ nor suites/: watched as the folder of an input
        edit(repo, "data/rows.csv", "r2,two", "r2,deux")
        res = w.next(2.0)
        assert res.ran == {("s3", "r2", "q.c", "m")}
        assert [p.name for p in res.files] == ["rows.csv"]
        # an include in a folder that did not exist when the watcher was armed
        (repo / "prompts/parts").mkdir()
        (repo / "prompts/parts/sig.j2").write_text("(sig)")
        edit(repo, "prompts/footer.j2", "(footer)", "(footer) {% include 'parts/sig.j2' %}")
        s1 = {("s1", "x", "p.a", "m"), ("s1", "y", "p.a", "m")}
        res = w.next(3.0)
        assert res.ran == s1
        edit(repo, "prompts/parts/sig.j2", "(sig)", "(sig 2)")
        res = w.next(3.0)
        assert res.ran == s1 and [p.name for p in res.files] == ["sig.j2"]
        assert sorted(p for p, _ in scripted.calls[-2:]) == ["A 1 (footer) (sig 2)",
                                                              "A 2 (footer) (sig 2)"]
        edit(repo, "promptctl.yaml", "models:", "# tuned\nmodels:")
        res = w.next(3.0)
        assert len(res.ran) == TOTAL
        assert w.errors.empty()


def test_watch_watches_and_wants_nothing_outside_the_boundary(repo, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "inc").mkdir()
    (outside / "inc" / "x.j2").write_text("outside\n")
    (repo / "prompts" / "ext").symlink_to(outside / "inc", target_is_directory=True)
    (repo / "prompts" / "out.j2").symlink_to(outside / "inc" / "x.j2")
    (repo / "prompts" / "deep").mkdir()
    files = [(repo / "data/rows.csv").resolve()]
    dirs = watched_dirs(repo, [repo / "prompts", repo / "suites"], files)
    real = repo.resolve()
    assert set(dirs) == {real, real / "prompts", real / "prompts/deep", real / "suites",
                         real / "data"}
    wanted = WatchFilter(repo, [repo / "prompts", repo / "suites"], dict.fromkeys(files))
    modified = watchfiles.Change.modified
    for path in ("prompts/p.yaml", "prompts/deep/new.yaml", "suites/s9.yaml",
                 "data/rows.csv"):
        assert wanted(modified, str(real / path)), path
    for path in ("prompts/ext/x.j2", "prompts/out.j2",  # links to a file outside
                 "prompts/.p.yaml.swp", "prompts/p.yaml~",  # an editor's
                 "data/other.csv", ".promptctl/cache/x.json", ".git/index"):
        assert not wanted(modified, str(real / path)), path


def _read_lines(stream, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _cells(row: str) -> list[str]:
    """The cells of a row of a rich table."""
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def _wait_for(lines: queue.Queue[str], text: str, timeout: float = 30) -> list[str]:
    """The lines printed up to and including the first one holding `text`."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} in {''.join(seen)!r}")


def test_watch_on_the_command_line_reruns_a_save_and_stops_on_ctrl_c(make_project):
    root = make_project({
        "prompts/support.yaml": "prompts:\n  triage: {template: 'Ticket: {{ ticket }}'}\n",
        "suites/triage.yaml": """
            prompts: [support.triage]
            models: [echo]
            cases:
              - {id: a, vars: {ticket: charged twice}, assert: [{type: icontains, value: charged}]}
              - {id: b, vars: {ticket: parcel lost}, assert: [{type: icontains, value: billing}]}
            """,
    })
    proc = subprocess.Popen([sys.executable, "-m", "promptctl", "run", "--watch"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = _wait_for(lines, "watching for changes")
        assert "ran 2 of 2 cases" in first[-1]
        assert [_cells(ln)[:4] for ln in first if "│ triage" in ln] == [["", "FAIL", "triage", "b"]]
        edit(root, "suites/triage.yaml", "parcel lost}", "parcel lost on billing}")
        second = _wait_for(lines, "saved:", timeout=10)
        assert "suites/triage.yaml saved: ran 1 of 2 cases again, 1 changed" in second[-1]
        # the table marks the case that got better; the unchanged pass is left out
        assert [_cells(ln)[:4] for ln in second if "│ triage" in ln] == [["↑", "PASS", "triage",
                                                                         "b"]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_only_watch_imports_watchfiles(make_project):
    root = make_project({"suites/s.yaml": "prompts: [p.a]\nmodels: [echo]\ncases: [{id: x}]\n",
                         "prompts/p.yaml": "prompts:\n  a: {template: hi}\n"})
    code = ("import sys\n"
            "from promptctl.cli.main import app\n"
            "for args in (['--help'], ['lint'], ['run', '-q']):\n"
            "    try:\n"
            "        app(args)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print('IMPORTED', 'watchfiles' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60)
    assert "IMPORTED False" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.slow
def test_on_the_embedded_model_only_the_edited_prompts_cases_run(make_project, cli,
                                                                  smollm2_path):
    files = {
        "prompts/p.yaml": """
            prompts:
              a: {template: "Say hello to {{ name }}.", params: {max_tokens: 4}}
              b: {template: "Say goodbye to {{ name }}.", params: {max_tokens: 4}}
            """,
        "suites/one.yaml": """
            prompts: [p.a]
            cases:
              - {id: ann, vars: {name: Ann}, assert: [{type: length, max_words: 50}]}
              - {id: bob, vars: {name: Bob}, assert: [{type: length, max_words: 50}]}
            """,
        "suites/two.yaml": """
            prompts: [p.b]
            cases:
              - {id: cy, vars: {name: Cy}, assert: [{type: length, max_words: 50}]}
            """,
    }
    root = make_project(files)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    edit(root, "prompts/p.yaml", "Say goodbye to", "Wave goodbye to")
    res = cli("run", "--no-cache", "--changed-since", "HEAD", "-o", "out.json")
    assert res.exit_code == 0, res.output
    assert "1 of 3 cases changed since HEAD" in res.output
    records = json.loads((root / "out.json").read_text())["results"]
    assert [(r["case"], r["cached"]) for r in records] == [("cy", False)]
