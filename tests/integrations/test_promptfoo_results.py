"""`promptctl import promptfoo-results RESULTS.json`: the real CLI on promptfoo configs
and results files written in tmp_path. The results are written by hand in the shape
promptfoo 0.121 writes (`promptfoo eval -o results.json`: one EvaluateResult per
test x prompt x provider, numbered by testIdx and promptIdx), with the outputs
promptfoo's `echo` provider gives (the rendered prompt), so a `promptctl run` on echo
afterwards must find nothing changed. Where the real promptfoo is installed, its own
results file goes through the same round trip."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import TESTS, write_files
from helpers import promptfoo as pf

from promptctl.integrations.promptfoo.config import convert
from promptctl.run.runner import Runner

CORPUS = TESTS / "data" / "promptfoo"


def pf_result(test_idx: int | None, prompt_idx: int, label: str, raw: str,
              vars_: dict[str, Any], *, provider: str = "echo", provider_label: str = "",
              output: Any = ..., error: str | None = None, failure: int = 0,
              latency: int = 5, tokens: tuple[int, int] = (3, 4), cost: float = 0.0,
              response: bool = True) -> dict[str, Any]:
    """One EvaluateResult as promptfoo writes it (the fields promptfoo 0.121 sets)."""
    out = raw if output is ... else output
    row: dict[str, Any] = {
        "cost": cost, "id": f"row-{test_idx}-{prompt_idx}", "latencyMs": latency,
        "namedScores": {}, "prompt": {"raw": raw, "label": label, "config": {}},
        "promptId": "0" * 64, "promptIdx": prompt_idx,
        "provider": {"id": provider, "label": provider_label},
        "score": 0 if error else 1, "success": not error,
        "testCase": {"vars": vars_, "assert": [], "options": {}, "metadata": {}},
        "vars": vars_, "metadata": {"_promptfooFileMetadata": {}},
        "failureReason": failure,
    }
    if test_idx is not None:
        row["testIdx"] = test_idx
    if response:
        row["response"] = {"output": out, "raw": out, "cost": cost, "cached": False,
                           "tokenUsage": {"total": sum(tokens), "prompt": tokens[0],
                                          "completion": tokens[1], "numRequests": 1}}
        row["gradingResult"] = {"pass": not error, "score": 0 if error else 1,
                                "reason": error or "All assertions passed",
                                "componentResults": []}
    if error is not None:
        row["error"] = error
    return row


def pf_file(path: Path, rows: list[dict[str, Any]], *, config: dict[str, Any] | None = None,
            providers: list[str] | None = None, labels: list[str] | None = None,
            repeat: int | None = None, version: int = 3) -> Path:
    """The results JSON around `rows`. Its list of prompts is promptfoo's: every
    provider (its label or id, in the config's order) x every prompt label."""
    labels = LABELS if labels is None else labels
    prompts = [{"raw": "", "label": label, "provider": p} for p in providers or ["echo"]
               for label in labels]
    data = {"evalId": "eval-test-2026-12-02T10:00:00",
            "results": {"version": version, "timestamp": "2026-12-02T10:00:00.000Z",
                        "prompts": prompts, "results": rows,
                        "stats": {"successes": 0, "failures": 0, "errors": 0}},
            "config": EMBEDDED if config is None else config, "shareableUrl": None,
            "metadata": {"promptfooVersion": "0.121.20"},
            "runtimeOptions": {"repeat": repeat} if repeat else {}}
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


CONFIG = """
    description: Greetings
    prompts:
      - "Hello {{ name }}, welcome to {{ city }}."
      - id: file://short.txt
        label: short
    providers: [echo]
    tests:
      - description: Ann in Paris
        vars: {name: Ann, city: Paris}
        assert:
          - {type: contains, value: Ann}
      - vars: {name: Bob, city: Rome}
        assert:
          - {type: icontains, value: bob}
    """
SHORT_TEXT = "Hi {{ name }}!"
EMBEDDED = yaml.safe_load(textwrap.dedent(CONFIG))  # promptfoo embeds the config it ran
LABELS = ["Hello {{ name }}, welcome to {{ city }}.", "short: short.txt: Hi {{ name }}!"]
SHORT = "short-short-txt-hi-name"  # the prompt's name: from its promptfoo label
VARS = [{"name": "Ann", "city": "Paris"}, {"name": "Bob", "city": "Rome"}]


def _rendered(prompt: int, vars_: dict[str, Any]) -> str:
    if prompt == 0:
        return f"Hello {vars_['name']}, welcome to {vars_['city']}."
    return f"Hi {vars_['name']}!"


def _echo_rows(**changes: str) -> list[dict[str, Any]]:
    """promptfoo's results of CONFIG on echo; changes: 'TEST-PROMPT' -> its output."""
    rows = []
    for t, v in enumerate(VARS):
        for p in range(2):
            raw = _rendered(p, v)
            rows.append(pf_result(t, p, LABELS[p], raw, v,
                                  output=changes.get(f"{t}-{p}", raw),
                                  latency=10 + t * 2 + p, tokens=(7, 5 + p), cost=0.001))
    return rows


@pytest.fixture
def project(cli, tmp_path: Path) -> Path:
    """CONFIG imported into tmp_path/out; the promptfoo project is tmp_path/pf."""
    write_files(tmp_path / "pf", {"promptfooconfig.yaml": CONFIG, "short.txt": SHORT_TEXT})
    res = cli("import", "promptfoo", str(tmp_path / "pf" / "promptfooconfig.yaml"),
              "--out", str(tmp_path / "out"))
    assert res.exit_code == 0, res.output
    return tmp_path / "out"


def _import(cli, results: Path, project: Path, *extra: str):
    return cli("import", "promptfoo-results", str(results), "--project", str(project),
               *extra)


def _records(project: Path, run: str | None = None) -> list[dict[str, Any]]:
    runs = project / ".promptctl" / "runs"
    run = run or (runs / "latest").read_text().strip()
    lines = (runs / run / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _meta(project: Path) -> dict[str, Any]:
    runs = project / ".promptctl" / "runs"
    data: dict[str, Any] = json.loads(
        (runs / (runs / "latest").read_text().strip() / "meta.json").read_text())
    return data


def _diff(cli, project: Path, tmp_path: Path):
    out = tmp_path / "diff.json"
    res = cli("diff", "-c", str(project / "promptctl.yaml"), "-o", str(out))
    cases = json.loads(out.read_text())["suites"][0]["cases"]
    return res, {(c["case"], c["prompt"].split(".", 1)[1], c["model"]): c for c in cases}


def test_round_trip_baseline_from_promptfoo_then_a_promptctl_run_changes_nothing(
        cli, project, tmp_path):
    results = pf_file(tmp_path / "pf" / "results.json", _echo_rows())
    res = _import(cli, results, project, "--config",
                  str(tmp_path / "pf" / "promptfooconfig.yaml"))
    assert res.exit_code == 0, res.output
    assert "imported 4 of 4 results" in res.stdout
    assert "4 cases: 4 passed, 0 failed, 0 errors" in res.stdout
    assert "unmatched" not in res.stderr and "warning" not in res.stderr
    recs = {(r["case"], r["prompt"]): r for r in _records(project)}
    assert set(recs) == {(c, f"promptfoo.{p}") for c in ("ann-in-paris", "bob-rome")
                         for p in ("prompt-1", SHORT)}
    ann = recs["ann-in-paris", "promptfoo.prompt-1"]
    # kept from promptfoo: output, tokens, latency, cost; verdicts are promptctl's own
    assert ann["output"] == "Hello Ann, welcome to Paris."
    assert ann["tokens"] == {"prompt": 7, "completion": 5}
    assert ann["latency_ms"] == 10.0 and ann["cost"] == 0.001
    assert ann["assertions"][0]["type"] == "contains" and ann["passed"] is True
    assert ann["fingerprint"]["model"] == {"provider": "echo"}
    assert recs["bob-rome", f"promptfoo.{SHORT}"]["latency_ms"] == 13.0
    meta = _meta(project)
    assert meta["imported_from"]["tool"] == "promptfoo"
    assert meta["imported_from"]["eval_id"] == "eval-test-2026-12-02T10:00:00"
    assert meta["suites"] == ["suites/promptfoo.yaml"] and "only" not in meta

    cfg = str(project / "promptctl.yaml")
    up = cli("baseline", "update", "--run", "latest", "-c", cfg)
    assert up.exit_code == 0, up.output
    base = json.loads((project / "baselines" / "promptfoo.json").read_text())
    cell = base["cases"]["ann-in-paris"]["promptfoo.prompt-1"]["echo"]
    assert cell["samples"][0]["output"] == "Hello Ann, welcome to Paris."

    run = cli("run", "-c", cfg, "-q")
    assert run.exit_code == 0, run.output
    diff, cells = _diff(cli, project, tmp_path)
    assert diff.exit_code == 0, diff.output
    assert len(cells) == 4
    assert {c["status"] for c in cells.values()} == {"unchanged"}, cells
    assert not any(c["fingerprint"] for c in cells.values())


def test_a_second_results_file_with_one_changed_output_shows_in_diff(cli, project,
                                                                     tmp_path):
    pf_dir = tmp_path / "pf"
    first = pf_file(pf_dir / "results.json", _echo_rows())
    assert _import(cli, first, project).exit_code == 0  # the config the results embed
    cfg = str(project / "promptctl.yaml")
    assert cli("baseline", "update", "--run", "latest", "-c", cfg).exit_code == 0
    second = pf_file(pf_dir / "results-2.json", _echo_rows(**{
        "0-1": "Hi Ann! Bonjour.",  # still passes (contains Ann)
        "1-1": "Hi there!"}))  # no Bob: fails
    res = _import(cli, second, project)
    assert res.exit_code == 0, res.output
    assert "4 cases: 3 passed, 1 failed" in res.stdout
    diff, cells = _diff(cli, project, tmp_path)
    assert diff.exit_code == 1, diff.output  # a regression
    assert cells["ann-in-paris", SHORT, "echo"]["status"] == "changed"
    assert cells["ann-in-paris", SHORT, "echo"]["after"]["outputs"] == ["Hi Ann! Bonjour."]
    assert cells["bob-rome", SHORT, "echo"]["status"] == "broken"
    assert cells["ann-in-paris", "prompt-1", "echo"]["status"] == "unchanged"
    assert cells["bob-rome", "prompt-1", "echo"]["status"] == "unchanged"
    assert "Bonjour" in diff.stdout


def test_unmatched_results_are_listed_one_line_each_and_exit_1(cli, project, tmp_path):
    rows = _echo_rows()
    rows.append(pf_result(2, 0, LABELS[0], "x", {"name": "Cy", "city": "Oslo"}))
    rows.append(pf_result(0, 7, "a prompt that is not there", "x", VARS[0]))
    rows.append(pf_result(1, 1, LABELS[1], "Hi Bob!", VARS[1], provider="openai:gpt-4o"))
    rows.append(pf_result(1, 0, LABELS[0], "x", {"name": "Bo", "city": "Rome"}))
    rows.append(pf_result(0, 1, LABELS[1], "Hi Ann!", VARS[0]))  # again
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", rows), project)
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("unmatched: ")]
    assert len(lines) == 5, res.stderr
    assert "result 5 (testIdx 2" in lines[0] and "the config has 2 tests" in lines[0]
    assert "no prompt of the config has the label 'a prompt that is not there'" in lines[1]
    assert "provider 'openai:gpt-4o' is not one of the config's (echo)" in lines[2]
    assert "vars are not those of test 1" in lines[3]
    assert "a second result for case 'ann-in-paris'" in lines[4]
    assert "5 of 9 results unmatched" in res.stderr
    # the matched ones are recorded all the same
    assert "imported 4 of 9 results" in res.stdout
    assert len(_records(project)) == 4
    assert _meta(project)["imported_from"]["unmatched"] == 5


def test_a_case_removed_from_the_project_since_the_import_is_unmatched(cli, project,
                                                                       tmp_path):
    suite = project / "suites" / "promptfoo.yaml"
    text = suite.read_text()
    start = text.index("- id: bob-rome")
    suite.write_text(text[:start].rstrip() + "\n")
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", _echo_rows()), project)
    assert res.exit_code == 1, res.output
    assert res.stderr.count("case 'bob-rome' is not in") == 2


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "not promptfoo results: the file holds a JSON list"),
    ('{"results": []}', "not promptfoo results: no list of results at `results.results`"),
    ('{"version": 1, "summary": {}}', "no list of results"),
    ('{"results": {"version": 1, "results": []}}', "promptfoo results version 1"),
    ('{"results": {"version": 3, "results": [7]}}', "result 1 is a JSON number"),
])
def test_a_file_that_is_not_promptfoo_results_is_exit_2_naming_it(cli, project, tmp_path,
                                                                  content, message):
    path = tmp_path / "pf" / "results.json"
    path.write_text(content)
    res = _import(cli, path, project)
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert "results.json" in res.stderr
    assert not (project / ".promptctl" / "runs").exists()


def test_a_missing_file_and_a_missing_suite_are_exit_2(cli, project, tmp_path):
    res = _import(cli, tmp_path / "nope.json", project)
    assert res.exit_code == 2 and "promptfoo results file not found" in res.stderr
    results = pf_file(tmp_path / "pf" / "results.json", _echo_rows())
    res = _import(cli, results, tmp_path / "pf")  # not the imported project
    assert res.exit_code == 2
    assert "cannot tell which suite the results' config was imported as" in res.stderr
    res = _import(cli, results, tmp_path / "pf", "--config",
                  str(tmp_path / "pf" / "promptfooconfig.yaml"))
    assert res.exit_code == 2
    assert "the project has no suite 'promptfoo'" in res.stderr


def test_errors_in_results_become_recorded_errors_and_failed_asserts_are_rescored(
        cli, project, tmp_path):
    rows = _echo_rows()
    # a provider error: no output, promptfoo's error with its stack
    rows[0] = pf_result(0, 0, LABELS[0], _rendered(0, VARS[0]), VARS[0], response=False,
                        error="Error: API error: 429 Too Many Requests\n    at callApi",
                        failure=2)
    # promptfoo's "No output": a response without output
    rows[1] = pf_result(0, 1, LABELS[1], "Hi Ann!", VARS[0], output=None, error="No output")
    # a failed assertion: promptfoo sets `error` too, but the output is there (and
    # promptfoo's verdict, here from an edited assertion, is not carried over)
    rows[2] = pf_result(1, 0, LABELS[0], _rendered(0, VARS[1]), VARS[1],
                        output="Welcome, Bob", failure=1,
                        error='Expected output to contain "Rome"')
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", rows), project)
    assert res.exit_code == 0, res.output
    assert "4 cases: 2 passed, 0 failed, 2 errors" in res.stdout
    recs = {(r["case"], r["prompt"].split(".")[1]): r for r in _records(project)}
    assert recs["ann-in-paris", "prompt-1"]["error"] == (
        "promptfoo: Error: API error: 429 Too Many Requests")
    assert recs["ann-in-paris", "prompt-1"]["output"] is None
    assert recs["ann-in-paris", SHORT]["error"] == "promptfoo: No output"
    rome = recs["bob-rome", "prompt-1"]
    assert rome["error"] is None and rome["output"] == "Welcome, Bob"
    assert rome["passed"] is True  # the suite's own check: icontains bob
    # a baseline needs a verdict for every case: promptctl's model answers the errors
    cfg = str(project / "promptctl.yaml")
    up = cli("baseline", "update", "--run", "latest", "-c", cfg)
    assert up.exit_code == 3 and "a baseline needs a verdict" in up.stderr
    retry = cli("run", "--retry-errors", "latest", "-c", cfg, "-q")
    assert retry.exit_code == 0, retry.output
    recs = {(r["case"], r["prompt"].split(".")[1]): r for r in _records(project)}
    assert recs["ann-in-paris", "prompt-1"]["output"] == "Hello Ann, welcome to Paris."
    assert recs["bob-rome", "prompt-1"]["output"] == "Welcome, Bob"  # kept
    assert cli("baseline", "update", "--run", "latest", "-c", cfg).exit_code == 0


def test_several_prompts_by_several_providers_without_an_api_key(cli, tmp_path,
                                                                 monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    write_files(tmp_path / "pf", {"promptfooconfig.yaml": """
        prompts:
          - "Summarize: {{ text }}"
          - id: "TL;DR {{ text }}"
            label: tldr
        providers:
          - openai:chat:gpt-4o-mini
          - id: openai:gpt-4o
            label: big
            config: {temperature: 0}
          - id: openai:gpt-4o
            label: big-hot
            config: {temperature: 1}
        tests:
          - vars: {text: Sales rose.}
            assert: [{type: icontains, value: sales}]
          - vars: {text: Rain fell.}
            assert: [{type: icontains, value: rain}]
        """})
    config = tmp_path / "pf" / "promptfooconfig.yaml"
    assert cli("import", "promptfoo", str(config), "--out",
               str(tmp_path / "out")).exit_code == 0
    labels = ["Summarize: {{ text }}", "tldr"]
    # promptfoo names openai:chat:NAME openai:NAME in its results
    providers = [("openai:gpt-4o-mini", ""), ("openai:gpt-4o", "big"),
                 ("openai:gpt-4o", "big-hot")]
    rows = []
    for t, text in enumerate(["Sales rose.", "Rain fell."]):
        for pi, (pid, plabel) in enumerate(providers):
            for p, label in enumerate(labels):
                raw = f"Summarize: {text}" if p == 0 else f"TL;DR {text}"
                rows.append(pf_result(t, pi * 2 + p, label, raw, {"text": text},
                                      provider=pid, provider_label=plabel,
                                      output=f"{plabel or 'mini'}: {text.lower()}"))
    results = pf_file(tmp_path / "pf" / "results.json", rows,
                      providers=["openai:gpt-4o-mini", "big", "big-hot"], labels=labels)
    res = _import(cli, results, tmp_path / "out", "--config", str(config))
    assert res.exit_code == 0, res.output
    assert "imported 12 of 12 results" in res.stdout
    assert "12 cases: 12 passed" in res.stdout
    recs = _records(tmp_path / "out")
    assert {r["model"] for r in recs} == {"gpt-4o-mini", "big", "big-hot"}
    for r in recs:
        assert r["output"].startswith({"gpt-4o-mini": "mini", "big": "big:",
                                       "big-hot": "big-hot"}[r["model"]])
    hot = next(r for r in recs if r["model"] == "big-hot")
    # the model named as promptctl calls it, though no key is set here
    assert hot["fingerprint"]["model"] == {"provider": "openai", "model": "gpt-4o",
                                           "base_url": "https://api.openai.com/v1"}
    assert hot["fingerprint"]["params"] == {"temperature": 1}
    up = cli("baseline", "update", "--run", "latest", "-c",
             str(tmp_path / "out" / "promptctl.yaml"))
    assert up.exit_code == 0, up.output
    assert "12 cases, 12 passing" in up.stdout


def _capitals(cli, tmp_path: Path, more_rows: str = "") -> int:
    """A promptfoo config of capitals with a CSV test file, imported into out/: the
    import's exit code."""
    write_files(tmp_path / "pf", {
        "promptfooconfig.yaml": """
            prompts: ["Capital of {{ country }}?"]
            providers: [echo]
            tests: file://tests.csv
            """,
        "tests.csv": "country,__expected,__description\nFrance,contains: France,fr\n"
                     "Japan,icontains: japan,\n" + more_rows,
    })
    return cli("import", "promptfoo", str(tmp_path / "pf" / "promptfooconfig.yaml"),
               "--out", str(tmp_path / "out")).exit_code


def test_a_config_with_a_csv_test_file_from_the_config_the_results_embed(cli, tmp_path):
    assert _capitals(cli, tmp_path, "Peru,,\n") in (0, 1)
    embedded = {"prompts": ["Capital of {{ country }}?"], "providers": ["echo"],
                "tests": "file://tests.csv", "outputPath": ["results.json"],
                "env": {}, "sharing": False, "extensions": [], "metadata": {}}
    rows = [pf_result(t, 0, "Capital of {{ country }}?", f"Capital of {c}?",
                      {"country": c}) for t, c in enumerate(["France", "Japan", "Peru"])]
    results = pf_file(tmp_path / "pf" / "results.json", rows, config=embedded,
                      labels=["Capital of {{ country }}?"])
    res = _import(cli, results, tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "3 cases: 3 passed" in res.stdout
    assert sorted(r["case"] for r in _records(tmp_path / "out")) == [
        "fr", "japan", "peru"]
    # the embedded config names its files from the folder promptfoo ran in
    moved = tmp_path / "elsewhere" / "results.json"
    moved.parent.mkdir()
    shutil.copy(results, moved)
    res = _import(cli, moved, tmp_path / "out")
    assert res.exit_code == 2
    assert "tests.csv" in res.stderr and "--config" in res.stderr


def test_an_embedded_config_with_promptfoos_row_names_matches_the_imported_cases(
        cli, tmp_path):
    """promptfoo 0.121 embeds a CSV's tests expanded, each row without a
    __description named "Row #N": those cases are named from their vars, as the config
    import of the CSV file names them, so every result matches."""
    assert _capitals(cli, tmp_path) == 0
    embedded = {"prompts": ["Capital of {{ country }}?"], "providers": ["echo"],
                "tests": [{"vars": {"country": "France"}, "description": "fr",
                           "assert": [{"type": "contains", "value": "France"}]},
                          {"vars": {"country": "Japan"}, "description": "Row #2",
                           "assert": [{"type": "icontains", "value": "japan"}]}]}
    rows = [pf_result(t, 0, "Capital of {{ country }}?", f"Capital of {c}?",
                      {"country": c}) for t, c in enumerate(["France", "Japan"])]
    results = pf_file(tmp_path / "pf" / "results.json", rows, config=embedded,
                      labels=["Capital of {{ country }}?"])
    res = _import(cli, results, tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert sorted(r["case"] for r in _records(tmp_path / "out")) == ["fr", "japan"]


def test_repeats_and_list_vars_follow_promptfoos_test_numbering(cli, tmp_path):
    write_files(tmp_path / "pf", {"promptfooconfig.yaml": """
        prompts: ["{{ word }}!"]
        providers: [echo]
        evaluateOptions: {repeat: 2}
        tests:
          - vars: {word: [hi, yo]}
            assert: [{type: contains, value: "!"}]
          - vars: {word: hey}
            assert: [{type: contains, value: "!"}]
        """})
    config = tmp_path / "pf" / "promptfooconfig.yaml"
    assert cli("import", "promptfoo", str(config), "--out",
               str(tmp_path / "out")).exit_code == 0
    # testIdx: test 0's combinations (hi, yo) for repeat 0, again for repeat 1; then test 1
    order = [("hi", 0), ("yo", 0), ("hi", 1), ("yo", 1), ("hey", 0), ("hey", 1)]
    rows = [pf_result(t, 0, "{{ word }}!", f"{w}!", {"word": w}, output=f"{w}! #{r}")
            for t, (w, r) in enumerate(order)]
    results = pf_file(tmp_path / "pf" / "results.json", rows, labels=["{{ word }}!"])
    res = _import(cli, results, tmp_path / "out", "--config", str(config))
    assert res.exit_code == 0, res.output
    got = {(r["case"], r["repeat"]): r["output"] for r in _records(tmp_path / "out")}
    assert got == {("test[hi]", 0): "hi! #0", ("test[yo]", 0): "yo! #0",
                   ("test[hi]", 1): "hi! #1", ("test[yo]", 1): "yo! #1",
                   ("hey", 0): "hey! #0", ("hey", 1): "hey! #1"}


def test_version_2_results_without_test_indexes_match_by_vars(cli, project, tmp_path):
    rows = _echo_rows()
    for row in rows:
        del row["testIdx"]
    rows.reverse()  # promptfoo 2 listed results as they finished
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", rows, version=2),
                  project)
    assert res.exit_code == 0, res.output
    outputs = {(r["case"], r["prompt"]): r["output"] for r in _records(project)}
    assert outputs["bob-rome", f"promptfoo.{SHORT}"] == "Hi Bob!"
    assert outputs["ann-in-paris", "promptfoo.prompt-1"] == "Hello Ann, welcome to Paris."


def test_a_prompt_promptfoo_rendered_differently_is_warned_about(cli, project, tmp_path):
    rows = _echo_rows()
    rows[3]["prompt"]["raw"] = "Hi Bob!!"
    # a prompt edited since the eval: its label (its text) is not the config's any more,
    # its place in the results' prompts still says which it is
    rows[0]["prompt"].update(label="Hello {{ name }}!", raw="Hello Ann!")
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", rows), project)
    assert res.exit_code == 0, res.output
    assert res.stderr.count("warning: ") == 2
    assert "result 1 (testIdx 0, prompt 'Hello {{ name }}!', provider 'echo'): promptfoo " \
           "rendered the prompt differently" in res.stderr
    assert "result 4 (testIdx 1, prompt 'short: short.txt: Hi {{ name }}!', provider " \
           "'echo'): promptfoo rendered the prompt differently" in res.stderr
    assert len(_records(project)) == 4


def test_some_cells_only_make_a_partial_run(cli, project, tmp_path):
    cfg = str(project / "promptctl.yaml")
    full = pf_file(tmp_path / "pf" / "results.json", _echo_rows())
    assert _import(cli, full, project).exit_code == 0
    assert cli("baseline", "update", "--run", "latest", "-c", cfg).exit_code == 0
    part = pf_file(tmp_path / "pf" / "part.json", _echo_rows()[:2])
    assert _import(cli, part, project).exit_code == 0
    assert _meta(project)["partial"] is True
    diff, cells = _diff(cli, project, tmp_path)
    assert diff.exit_code == 0, diff.output
    assert len(cells) == 2  # the other cells were not run, not removed


def test_an_interrupted_import_leaves_no_run_behind(cli, project, tmp_path, monkeypatch):
    """All or nothing: half a run of promptfoo's outputs must not be resumed (`run
    --resume` would ask the models for the rest) nor become the latest run."""
    assert _import(cli, pf_file(tmp_path / "pf" / "first.json", _echo_rows()[:1]),
                   project).exit_code == 0
    runs = project / ".promptctl" / "runs"
    before = sorted(p.name for p in runs.iterdir())
    real = Runner.given
    seen = []

    def interrupted(self, *args, **kwargs):  # Ctrl-C after the first record
        if seen:
            raise KeyboardInterrupt
        seen.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Runner, "given", interrupted)
    res = _import(cli, pf_file(tmp_path / "pf" / "results.json", _echo_rows()), project)
    assert res.exit_code == 130, res.output
    assert sorted(p.name for p in runs.iterdir()) == before
    assert len(_records(project)) == 1  # `latest` is the run before


# -- the corpus: every config's hand-written renders as promptfoo's echo results ------

def _corpus() -> list[Any]:
    return [pytest.param(p, id=p.name)
            for p in sorted(CORPUS.iterdir()) if (p / "expected.json").is_file()]


def _numbered(imported) -> list[dict[str, Any]]:
    """The vars of each testIdx (Imported.slots: promptfoo's evaluator's loop order)."""
    return [t.vars for t, _ in imported.slots()]


@pytest.mark.parametrize("case_dir", _corpus())
def test_every_corpus_config_round_trips_its_renders_into_a_baseline(cli, tmp_path,
                                                                     case_dir, monkeypatch):
    """Results built from the config's expected renders (promptfoo's, written by hand
    and checked against promptfoo), one per render and provider: every result matches,
    promptctl renders each matched case as promptfoo did, and `baseline update --run
    latest` takes them."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    src = tmp_path / "pf"
    shutil.copytree(case_dir, src)
    # the project imported in place, in the config's folder, and run from there: the
    # files the config names (python checks, assertion values) are the project's too
    monkeypatch.chdir(src)
    config = src / "promptfooconfig.yaml"
    imp = cli("import", "promptfoo", str(config))
    assert imp.exit_code in (0, 1), imp.output
    imported = convert(config)
    numbered = _numbered(imported)
    providers = imported.providers or [("echo", None, "")]
    rows = []
    for (test, prompt, _), messages in sorted(pf.expected_renders(case_dir).items()):
        one = len(messages) == 1 and messages[0]["role"] == "user"
        raw = messages[0]["content"] if one else json.dumps(messages)
        for pi, (pid, label, _) in enumerate(providers):
            rows.append(pf_result(test, pi * len(imported.prompts) + prompt,
                                  imported.prompts[prompt][0], raw, numbered[test],
                                  provider=pid, provider_label=label or ""))
    results = pf_file(src / "results.json", rows,
                      providers=[lab or pid for pid, lab, _ in providers],
                      labels=[label for label, _ in imported.prompts])
    res = _import(cli, results, src, "--config", str(config))
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr, res.stderr
    assert f"imported {len(rows)} of {len(rows)} results" in res.stdout
    up = cli("baseline", "update", "--run", "latest")
    assert up.exit_code == 0, up.output


# -- the real promptfoo, when it is installed ------------------------------------------

@pytest.mark.skipif(pf.promptfoo_bin() is None, reason="promptfoo is not installed "
                    "(set PROMPTCTL_PROMPTFOO to its executable)")
def test_real_promptfoo_results_round_trip_unchanged(cli, tmp_path):
    write_files(tmp_path / "pf", {
        "promptfooconfig.yaml": """
            prompts:
              - "Hello {{ name }} from {{ city }}"
              - id: file://bye.txt
                label: bye
            providers:
              - echo
              - id: echo
                label: echo-two
            evaluateOptions: {repeat: 2}
            defaultTest:
              vars: {city: Oslo}
            tests:
              - description: two names
                vars: {name: [Ann, Bob]}
                assert: [{type: contains, value: Ann}]
              - file://more.csv
            """,
        "bye.txt": "Bye {{ name }}!\n",
        "more.csv": "name,__expected\nCy,icontains: cy\n",
    })
    config = tmp_path / "pf" / "promptfooconfig.yaml"
    data = pf.run_eval(str(pf.promptfoo_bin()), config, tmp_path / "pf" / "results.json",
                       tmp_path / "state", extra=())
    rows = data["results"]["results"]
    assert len(rows) == 3 * 2 * 2 * 2  # cases x prompts x providers x repeats
    imp = cli("import", "promptfoo", str(config), "--out", str(tmp_path / "out"))
    assert imp.exit_code in (0, 1), imp.output
    res = _import(cli, tmp_path / "pf" / "results.json", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert f"imported {len(rows)} of {len(rows)} results" in res.stdout
    assert "warning" not in res.stderr, res.stderr
    # promptfoo's verdicts and promptctl's agree here: Bob fails `contains Ann`
    failed = {(r["testCase"]["vars"]["name"], r["provider"]["label"] or "echo")
              for r in rows if not r["success"]}
    assert failed == {("Bob", "echo"), ("Bob", "echo-two")}
    recs = _records(tmp_path / "out")
    assert {(r["case"], r["model"]) for r in recs if not r["passed"]} == {
        ("two-names[bob]", "echo"), ("two-names[bob]", "echo-two")}
    cfg = str(tmp_path / "out" / "promptctl.yaml")
    assert cli("baseline", "update", "--run", "latest", "-c", cfg).exit_code == 0
    assert cli("run", "-c", cfg, "-q").exit_code == 1  # Bob still fails
    diff, cells = _diff(cli, tmp_path / "out", tmp_path)
    assert diff.exit_code == 0, diff.output
    assert len(cells) == 12
    assert {c["status"] for c in cells.values()} == {"unchanged", "failing"}
    assert not any(c["fingerprint"] for c in cells.values())
