"""`promptctl history`: histories from real runs (the `echo` provider, and one slow test
on the embedded model) and from a real git repository in tmp_path whose baseline
commits are written by the library's own writer (gate/baseline.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.browser import check_charts

from promptctl.gate.baseline import Baseline, Cell, Sample, write_baseline
from promptctl.reports.history_html import render_html

PROMPTS = 'prompts:\n  echo: {template: "Ticket: {{ ticket }}"}\n'
WORDS = ["refund", "invoice", "parcel"]


def suite(words: list[str] = WORDS, want: dict[str, str] | None = None,
          models: str = "[echo]") -> str:
    """One case per word; the check wants `want[word]` (default: the word: passes)."""
    want = want or {}
    cases = "".join(f"  - {{id: {w}, vars: {{ticket: 'about {w}'}}, assert: [{{type: "
                    f"contains, value: {want.get(w, w)}, metric: found}}]}}\n" for w in words)
    return f"prompts: [p.echo]\nmodels: {models}\ncases:\n{cases}"


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(["git", *args], cwd=root, env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout


def crafted(suite_name: str, passed: int, cases: int = 40, *, model: str = "echo",
            identity: str = "echo", score: float | None = None, step: int = 0) -> Baseline:
    """A baseline of `cases` cells, the first `passed` passing (one sample each); the
    outputs name `step`, so that every commit changes the file."""
    cells = {}
    for i in range(cases):
        ok = i < passed
        value = score if score is not None else float(ok)
        cells[(f"c{i:02d}", "p.echo", model)] = Cell(
            {"prompt_sha256": f"{i:064x}", "model": {"provider": identity, "model": model},
             "params": {}},
            [Sample(output=f"out {i} at {step}", passed=ok, score=float(ok),
                    assertions=[{"type": "contains", "passed": ok, "score": value,
                                 "metric": "found"}])])
    return Baseline(suite_name, cells)


@pytest.fixture
def repo(make_project):
    """A project in a fresh git repository: commit(suite, baseline, subject)."""
    root = make_project({"prompts/p.yaml": PROMPTS, "suites/triage.yaml": suite(),
                         "suites/steady.yaml": suite()})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "project")

    def commit(name: str, baseline: Baseline | bytes, subject: str) -> str:
        path = root / "baselines" / f"{name}.json"
        if isinstance(baseline, bytes):
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(baseline)
        else:
            write_baseline(path, baseline)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", subject)
        return git(root, "rev-parse", "--short", "HEAD").strip()

    return root, commit



def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def doc_of(path: str = "h.json") -> dict:
    return json.loads(Path(path).read_text())


def suite_of(doc: dict, name: str) -> dict:
    return next(s for s in doc["suites"] if s["suite"] == name)


# -- saved runs ----------------------------------------------------------------------


@pytest.fixture
def runs(make_project, cli):
    """A tmp project on the `echo` model: five real runs that change something each."""
    root = make_project({"prompts/p.yaml": PROMPTS, "suites/s.yaml": suite()})
    edits = [
        None,                                             # 3/3
        {"suites/s.yaml": suite(want={"parcel": "box"})},  # the check of parcel fails: 2/3
        {"prompts/p.yaml": PROMPTS.replace("Ticket:", "Issue:")},  # prompt edited
        {"suites/s.yaml": suite([*WORDS, "coupon"], want={"parcel": "box"})},  # case added
        {"suites/s.yaml": suite(["refund", "coupon"])},  # two removed, all pass again
    ]
    for edit in edits:
        for name, text in (edit or {}).items():
            (root / name).write_text(text)
        assert cli("run", "-q").exit_code in (0, 1)
    return root


def test_one_point_per_run_with_counts_intervals_and_changes(runs, cli):
    result = cli("history", "-o", "h.json")
    assert result.exit_code == 0, result.output
    doc = doc_of()
    assert doc["version"] == 1 and doc["kind"] == "history" and doc["source"] == "runs"
    assert doc["alpha"] == 0.05 and doc["max_drop"] is None
    assert set(doc["gate"]) >= {"failed", "reasons"} and doc["gate"]["enforced"] is False
    s = suite_of(doc, "s")
    points = s["points"]
    contract = {"id", "label", "title", "time", "cases", "passed", "failed", "errors",
                "pass_rate", "ci", "metrics", "models", "changes", "run_id"}
    assert all(contract <= set(p) for p in points)
    assert set(s) >= {"suite", "points", "drift"} and set(s["drift"]) == {"pass_rate",
                                                                        "metrics"}
    assert [p["cases"] for p in points] == [3, 3, 3, 4, 2]
    assert [p["passed"] for p in points] == [3, 2, 2, 3, 2]
    assert [p["pass_rate"] for p in points] == [1.0, 0.6667, 0.6667, 0.75, 1.0]
    for p in points:
        lo, hi = p["ci"]
        assert lo < p["pass_rate"] <= hi <= 1.0  # never a point interval
        assert p["metrics"]["found"]["n"] == p["cases"]
        assert p["models"] == {"echo": {"identity": "echo", "served": None}}
        assert p["run_id"] == p["id"] and "commit" not in p
    assert points[0]["changes"] == [] and points[1]["changes"] == []  # a check is no input
    assert points[2]["changes"] == ["prompt edited: p.echo"]
    assert points[3]["changes"] == ["cases added: 1"]
    assert points[4]["changes"] == ["cases removed: 2"]
    rate = s["drift"]["pass_rate"]
    assert set(rate) >= {"method", "p", "declined", "significant", "drop", "before", "after",
                         "text"}
    # the cases changed at the last two points: a pass rate over other cases is no
    # trend, so the drift test has only the last point (every point is still shown)
    assert rate["p"] is None and rate["before"] is None
    assert s["note"] == (f"drift tested over the 1 point since the cases changed at "
                         f"{points[4]['label']}; not enough history: 1 point with a pass "
                         "rate, too few for the drift test")
    assert "found" in s["drift"]["metrics"]
    out = result.stdout
    assert "s: 5 points" in out and "prompt edited: p.echo" in out
    assert "100% [" in out
    assert "history: 1 suite, no significant decline (not enough history: s)" in out
    quiet = cli("history", "-q")
    assert quiet.exit_code == 0 and quiet.stdout.strip().splitlines() == [
        "history: 1 suite, no significant decline (not enough history: s)"]


def test_partial_and_unfinished_runs_are_left_out_with_a_note(runs, cli):
    assert cli("run", "-q", "-k", "refund").exit_code == 0
    assert cli("run", "-q").exit_code == 0
    latest = (runs / ".promptctl/runs/latest").read_text().strip()
    (runs / ".promptctl/runs" / latest / "summary.json").unlink()  # as if killed
    result = cli("history", "-o", "h.json")
    assert result.exit_code == 0, result.output
    doc = doc_of()
    assert len(suite_of(doc, "s")["points"]) == 5
    notes = " ".join(doc["notes"])
    assert "partial (filtered with -k)" in notes and "unfinished" in notes
    assert latest in notes and "left out" in result.stdout


def test_last_keeps_the_changes_of_the_oldest_kept_point(runs, cli):
    result = cli("history", "s", "--last", "3", "-o", "h.json")
    assert result.exit_code == 0, result.output
    points = suite_of(doc_of(), "s")["points"]
    assert len(points) == 3
    assert points[0]["changes"] == ["prompt edited: p.echo"]  # since the run before it


def test_model_narrows_and_an_unknown_one_is_refused(runs, cli):
    assert cli("history", "-m", "echo", "-q").exit_code == 0
    one_line_error(cli("history", "-m", "gpt-9"), "model 'gpt-9'", "echo")


def test_bad_input_is_one_line_exit_2(runs, cli, tmp_path):
    one_line_error(cli("history", "nosuch"), "suite 'nosuch'", "suites in it: s")
    one_line_error(cli("history", "-o", "h.txt"), "unsupported output format")
    assert cli("history", "--last", "0").exit_code == 2
    assert cli("history", "--alpha", "2").exit_code == 2
    one_line_error(cli("history", "--git"), "not a git repository", "git init")
    one_line_error(cli("history", "--rev", "--output=x"), "bad git revision range")


def test_no_saved_runs_is_exit_2(make_project, cli):
    make_project({"prompts/p.yaml": PROMPTS, "suites/s.yaml": suite()})
    one_line_error(cli("history"), "no saved runs", "promptctl run")


def test_perturbed_variants_stay_out_of_the_points(make_project, cli):
    text = suite().replace("cases:", "perturb: [{type: case, mode: upper, id: up}]\ncases:")
    make_project({"prompts/p.yaml": PROMPTS, "suites/s.yaml": text})
    assert cli("run", "-q").exit_code in (0, 1)
    assert cli("history", "-o", "h.json").exit_code == 0
    point = suite_of(doc_of(), "s")["points"][0]
    assert point["cases"] == 3 and point["variants"] == 3 and point["pass_rate"] == 1.0


def test_markdown_diff_gains_a_history_line_per_suite(runs, cli):
    assert cli("baseline", "update", "-q").exit_code == 0
    result = cli("diff", "-o", "d.md")
    assert result.exit_code == 0, result.output
    text = Path("d.md").read_text()
    line = next(x for x in text.splitlines() if "History (last" in x)
    # 5 runs, the baseline update's run and nothing else: every whole run up to the diffed one
    assert line.startswith("s: History (last 6 runs): ") and "100% → 100%" in line
    assert "History (last" not in cli("diff", "-o", "d.json").output
    assert cli("check", "-o", "c.md").exit_code == 0  # its own run is the newest point
    assert "s: History (last 7 runs): " in Path("c.md").read_text()


def test_no_history_line_with_a_single_run(make_project, cli):
    make_project({"prompts/p.yaml": PROMPTS, "suites/s.yaml": suite()})
    assert cli("baseline", "update", "-q").exit_code == 0
    assert cli("diff", "-o", "d.md").exit_code == 0
    assert "History (last" not in Path("d.md").read_text()


# -- git -----------------------------------------------------------------------------


DECLINE = [40, 40, 39, 39, 37, 35, 33, 31]


def test_git_points_are_baseline_commits_and_a_slow_decline_fails_the_gate(repo, cli):
    root, commit = repo
    shas = []
    for i, passed in enumerate(DECLINE):
        shas.append(commit("triage", crafted("triage", passed, step=i), f"triage step {i}"))
        commit("steady", crafted("steady", 38 + i % 2, step=i), f"steady step {i}")
    result = cli("history", "--git", "--gate", "-o", "h.json", "-o", "h.html")
    assert result.exit_code == 1, result.output
    doc = doc_of()
    page = (root / "h.html").read_text(encoding="utf-8")
    assert page == render_html(doc)  # the page draws exactly the document
    assert doc["source"] == "git" and doc["gate"]["failed"] and doc["gate"]["enforced"]
    reasons = doc["gate"]["reasons"]
    assert reasons and all(r.startswith("triage: ") for r in reasons)
    triage = suite_of(doc, "triage")
    points = triage["points"]
    assert [p["label"] for p in points] == shas
    assert [p["passed"] for p in points] == DECLINE
    first = points[0]
    assert first["commit"]["short"] == shas[0] and first["commit"]["subject"] == "triage step 0"
    assert first["title"].startswith(shas[0]) and "run_id" not in first
    rate = triage["drift"]["pass_rate"]
    assert rate["significant"] and rate["declined"] and rate["drop"] > 0.05
    assert rate["p"] <= 0.05 and "fell from" in rate["text"]
    steady = suite_of(doc, "steady")["drift"]["pass_rate"]
    assert not steady["significant"]
    # the stable suite alone passes the gate
    assert cli("history", "--git", "steady", "--gate", "-q").exit_code == 0
    # a generous max_drop tolerates the decline; the suite's own max_drop is the default
    assert cli("history", "--git", "--gate", "--max-drop", "0.5", "-q").exit_code == 0
    (root / "suites/triage.yaml").write_text(suite().replace("cases:", "max_drop: 0.5\ncases:"))
    assert cli("history", "--git", "--gate", "-q").exit_code == 0


@pytest.mark.slow
def test_hard_cases_added_are_no_drift_but_a_decline_after_them_is(repo, cli):
    """The repo's own summarize suite grew from 4 passing cases to 20 with bad summaries
    kept on purpose: a pass rate over other cases is no trend, so the drift test covers
    the points since the cases last changed."""
    _, commit = repo
    for i in range(4):
        commit("triage", crafted("triage", 40, step=i), f"40 cases, all pass {i}")
    for i in range(4):  # 20 hard cases added: 40 of 60 pass
        commit("triage", crafted("triage", 40, cases=60, step=10 + i), f"60 cases {i}")
    result = cli("history", "--git", "triage", "--gate", "-o", "h.json")
    assert result.exit_code == 0, result.output
    triage = suite_of(doc_of(), "triage")
    assert [p["pass_rate"] for p in triage["points"]] == [1.0] * 4 + [0.6667] * 4
    assert triage["note"].startswith("drift tested over the 4 points since the cases "
                                     f"changed at {triage['points'][4]['label']}")
    assert not triage["drift"]["pass_rate"]["significant"]
    for i in range(4):  # the same 60 cases, now declining: that is drift
        commit("triage", crafted("triage", 30 - 6 * i, cases=60, step=20 + i), f"decline {i}")
    assert cli("history", "--git", "triage", "--gate", "-q").exit_code == 1


def test_the_page_of_a_real_git_history_in_chromium(repo, cli):
    """`-o h.html` of a real history (a slow decline and a steady suite, from baseline
    commits) in headless Chromium, light and dark: every chart drawn, no request, no
    policy violation, readable; screenshots beside the page."""
    root, commit = repo
    for i, passed in enumerate(DECLINE):
        commit("triage", crafted("triage", passed, step=i), f"triage step {i}")
        commit("steady", crafted("steady", 38 + i % 2, step=i), f"steady step {i}")
    assert cli("history", "--git", "-o", "h.html").exit_code == 0
    # per suite: the sparkline by its name, the pass-rate chart, the `found` metric's
    probes = check_charts(root / "h.html", 2 * 3)
    for probe in probes.values():
        lines = [c for c in probe["charts"] if "line-chart" in c["kind"]]
        assert lines and all(c["parts"][".ch-line"]["w"] > 300 for c in lines)


def test_git_range_and_too_few_points(repo, cli):
    _, commit = repo
    for i, passed in enumerate(DECLINE):
        commit("triage", crafted("triage", passed, step=i), f"step {i}")
    result = cli("history", "--git", "HEAD~2..HEAD", "--gate", "-o", "h.json")
    assert result.exit_code == 0, result.output  # a decline, but 2 points: no verdict
    triage = suite_of(doc_of(), "triage")
    # the same range three ways: `--git RANGE`, `--git=RANGE`, `--rev RANGE`
    for how in (["--git=HEAD~2..HEAD"], ["--rev", "HEAD~2..HEAD"]):
        assert cli("history", *how, "-o", "again.json").exit_code == 0
        again = suite_of(doc_of("again.json"), "triage")["points"]
        assert [p["id"] for p in again] == [p["id"] for p in triage["points"]]
    # `--git` before a suite name is the flag alone
    assert len(suite_of(doc_of(), "triage")["points"]) == 2
    assert cli("history", "--git", "triage", "-o", "all.json").exit_code == 0
    assert len(suite_of(doc_of("all.json"), "triage")["points"]) == len(DECLINE)
    assert len(triage["points"]) == 2 and triage["note"].startswith("not enough history")
    assert triage["drift"]["pass_rate"]["p"] is None
    assert "not enough history" in result.stdout
    one_line_error(cli("history", "--rev", "nosuch..HEAD"), "revision range")


def test_git_changes_name_models_and_the_endpoint(repo, cli):
    _, commit = repo
    base = crafted("triage", 40)
    commit("triage", base, "first")
    swapped = crafted("triage", 40, identity="llama-cpp", step=1)
    commit("triage", swapped, "swap the model")
    served = crafted("triage", 40, identity="llama-cpp", step=2)
    for cell in served.cells.values():
        cell.fingerprint["served"] = {"model": "gpt-x-2024", "system_fingerprint": "fp_a"}
    commit("triage", served, "served a")
    later = crafted("triage", 39, cases=39, identity="llama-cpp", step=3)
    for cell in later.cells.values():
        cell.fingerprint["served"] = {"model": "gpt-x-2025", "system_fingerprint": "fp_b"}
    commit("triage", later, "served b")
    rotating = crafted("triage", 39, cases=39, identity="llama-cpp", step=4)
    for i, cell in enumerate(rotating.cells.values()):  # OpenAI rotates fingerprints
        cell.fingerprint["served"] = {"model": "gpt-x-2025",
                                      "system_fingerprint": ("fp_b", "fp_c")[i % 2]}
    commit("triage", rotating, "served b and c")
    assert cli("history", "--git", "-o", "h.json").exit_code == 0
    points = suite_of(doc_of(), "triage")["points"]
    # fp_b still among what the cells report: rotation, not a change of the endpoint
    assert points[4]["changes"] == [] and points[4]["models"]["echo"]["served"] == \
        "gpt-x-2025 fp_b fp_c"
    assert points[1]["changes"] == ["model swapped: echo echo echo -> llama-cpp echo"]
    assert points[2]["changes"] == []  # the first "served" is no change
    assert points[2]["models"]["echo"]["served"] == "gpt-x-2024 fp_a"
    endpoint = [c for c in points[3]["changes"] if c.startswith("the endpoint changed")]
    assert endpoint and "gpt-x-2024 -> gpt-x-2025" in endpoint[0] and "fp_a -> fp_b" in endpoint[0]
    assert "cases removed: 1" in points[3]["changes"]


def test_hostile_baselines_are_skipped_with_a_note(repo, cli, monkeypatch, tmp_path):
    root, commit = repo
    commit("triage", crafted("triage", 40), "good")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    write_baseline(outside, crafted("triage", 0))
    path = root / "baselines/triage.json"
    path.unlink()
    path.symlink_to(outside)  # a link out of the project, committed as a link
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "link")
    path.unlink()
    bad = commit("triage", b'{"version": 1, "suite": "triage", "cases": [', "torn")
    commit("triage", crafted("triage", 39, step=1), "good again")
    commit("triage", crafted("triage", 39, cases=400, step=2), "huge")
    from promptctl.gate import history_git

    monkeypatch.setattr(history_git, "MAX_BYTES", 50_000)
    result = cli("history", "--git", "-o", "h.json")
    assert result.exit_code == 0, result.output
    doc = doc_of()
    points = suite_of(doc, "triage")["points"]
    assert [p["commit"]["subject"] for p in points] == ["good", "good again"]
    notes = " | ".join(doc["notes"])
    assert "a symbolic link, not followed" in notes
    assert f"baselines/triage.json at {bad}" in notes and "invalid JSON" in notes
    assert "over the 50,000-byte limit" in notes
    assert all(p["passed"] > 0 for p in points)  # the file outside was never read


# -- the embedded model --------------------------------------------------------------


@pytest.mark.slow
def test_history_of_real_runs_on_the_embedded_model(make_project, cli):
    """Two cases on SmolLM2 (greedy): run, edit the prompt, run again, add a case, run."""
    config = ("models:\n  default: {provider: llama-cpp, model: 'builtin:smollm2', "
              "params: {temperature: 0, seed: 0, max_tokens: 8}}\n")
    prompts = 'prompts:\n  geo: {template: "Capital of {{ country }}? One word."}\n'
    cases = ["  - {id: fr, vars: {country: France}, assert: [{type: icontains, value: paris}]}\n",
             "  - {id: jp, vars: {country: Japan}, assert: [{type: icontains, value: tokyo}]}\n",
             "  - {id: it, vars: {country: Italy}, assert: [{type: icontains, value: rome}]}\n"]
    body = "prompts: [p.geo]\ncases:\n"
    root = make_project({"promptctl.yaml": config, "prompts/p.yaml": prompts,
                         "suites/geo.yaml": body + "".join(cases[:2])})
    assert cli("run", "-q").exit_code in (0, 1)
    (root / "prompts/p.yaml").write_text(prompts.replace("One word.", "Answer in one word."))
    assert cli("run", "-q").exit_code in (0, 1)
    (root / "suites/geo.yaml").write_text(body + "".join(cases))
    assert cli("run", "-q").exit_code in (0, 1)
    result = cli("history", "--gate", "-o", "h.json")
    assert result.exit_code == 0, result.output  # 3 points: too few for a verdict
    geo = suite_of(doc_of(), "geo")
    points = geo["points"]
    assert [p["cases"] for p in points] == [2, 2, 3]
    assert points[1]["changes"] == ["prompt edited: p.geo"]
    assert points[2]["changes"] == ["cases added: 1"]  # the prompt is as before for fr, jp
    identity = points[0]["models"]["default"]["identity"]
    assert identity.startswith("llama-cpp builtin:smollm2 sha256:")
    for p in points:
        assert p["passed"] + p["failed"] + p["errors"] == p["cases"]
        assert p["pass_rate"] == pytest.approx(p["passed"] / p["cases"], abs=1e-4)
    assert geo["note"] == ("drift tested over the 1 point since the cases changed at "
                          f"{points[2]['label']}; not enough history: 1 point with a pass "
                          "rate, too few for the drift test")
