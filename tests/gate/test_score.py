"""`promptctl score`: production logs scored by a suite's checks, in windows, with drift.

The key test re-shapes the records of a real `promptctl run` on the embedded model as
a log and checks that `score` gives every line the run's verdict. The others write
logs by hand (their timestamps, shapes and outputs are the point of the test) and run
the real CLI on them."""

from __future__ import annotations

import json
import random
import urllib.request
from pathlib import Path

import pytest
from helpers import run_subprocess, write_files
from helpers.browser import check_charts

from promptctl import stats
from promptctl.gate.score import Moments
from promptctl.reports.history_html import render_html
from promptctl.run import logs

SUITE = """
prompts: [p.a]
models: [echo]
defaults:
  assert:
    - {type: not-contains, value: "ERROR"}
    - {type: contains, value: "{{ expect }}", metric: hit}
cases:
  - {id: fr, vars: {q: "capital of France", expect: Paris},
     assert: [{type: icontains, value: paris}]}
  - {id: it, vars: {q: "capital of Italy", expect: Rome}}
"""
FILES = {"prompts/p.yaml": "prompts:\n  a: {template: 'Answer: {{ q }}'}\n",
         "suites/s.yaml": SUITE}


def write_log(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def line(day: int, output: str, hour: int = 10, **more) -> dict:
    return {"vars": {"q": "capital of France", "expect": "Paris"}, "output": output,
            "timestamp": f"2026-11-{day:02d}T{hour:02d}:00:00Z", **more}


def test_windows_by_day_week_and_lines(make_project, cli, tmp_path):
    make_project(FILES)
    lines = [line(2, "Paris"), line(2, "ERROR Paris", 23), line(3, "Paris"),
             line(3, "Lyon"), line(3, "Paris", 1), line(9, "Paris")]
    write_log(tmp_path / "log.jsonl", lines)
    got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "-o", "d.json")
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    assert (doc["kind"], doc["source"], doc["version"]) == ("score", "logs", 1)
    points = doc["suites"][0]["points"]
    assert [p["id"] for p in points] == ["2026-11-02", "2026-11-03", "2026-11-09"]
    assert [p["label"] for p in points] == ["Nov 2", "Nov 3", "Nov 9"]
    assert [(p["cases"], p["passed"], p["failed"]) for p in points] == [
        (2, 1, 1), (3, 2, 1), (1, 1, 0)]
    assert points[0]["pass_rate"] == 0.5 and points[0]["time"] == "2026-11-02T00:00:00+00:00"
    lo, hi = stats.wilson(2, 3)
    assert points[1]["ci"] == [round(lo, 4), round(hi, 4)]
    assert points[1]["metrics"]["hit"]["n"] == 3
    assert "Nov 2" in got.stdout and "pass rate" in got.stdout

    cli("score", "log.jsonl", "--suite", "s", "--by", "week", "--sample", "0", "-o", "w.json")
    weeks = json.loads((tmp_path / "w.json").read_text())["suites"][0]["points"]
    # Nov 2 2026 is a Monday: the first five lines are one ISO week, Nov 9 the next
    assert [(p["id"], p["cases"]) for p in weeks] == [("2026-W45", 5), ("2026-W46", 1)]

    cli("score", "log.jsonl", "--suite", "s", "--by", "4", "--sample", "0", "-o", "n.json")
    chunks = json.loads((tmp_path / "n.json").read_text())["suites"][0]["points"]
    assert [(p["id"], p["label"], p["cases"]) for p in chunks] == [("#1", "1-4", 4),
                                                                  ("#2", "5-6", 2)]
    # the scored lines name their window as the document does
    cli("score", "log.jsonl", "--suite", "s", "--by", "4", "--sample", "0", "-o", "n.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "n.jsonl").read_text().splitlines()]
    assert [r["window"] for r in rows] == ["#1"] * 4 + ["#2"] * 2


def test_the_model_under_test_is_never_needed(make_project, cli, tmp_path):
    make_project({**FILES, "suites/s.yaml": SUITE.replace("models: [echo]", "models: [gone]"),
                  "promptctl.yaml": "models:\n  gone: {provider: llama-cpp, model: "
                                    "models/missing.gguf}\n"})
    write_log(tmp_path / "log.jsonl", [line(2, "Paris"), line(2, "Rome")])
    got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "-o", "d.json")
    assert got.exit_code == 0, got.output
    point = json.loads((tmp_path / "d.json").read_text())["suites"][0]["points"][0]
    assert (point["passed"], point["failed"]) == (1, 1)
    assert cli("run").exit_code == 2  # a run does need it


def test_a_bad_line_is_exit_2_naming_file_and_line_or_is_skipped(make_project, cli,
                                                                 tmp_path):
    make_project(FILES)
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(line(2, "Paris")) + "\n\n{not json\n"
                   + json.dumps({"vars": {}, "output": "x"}) + "\n"
                   + json.dumps(line(3, "Paris")) + "\n")
    got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0")
    assert got.exit_code == 2
    assert "log.jsonl:3: not JSON" in got.stderr and "one JSON object per line" in got.stderr
    skipped = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "--skip-bad",
                  "-o", "d.json")
    assert skipped.exit_code == 0, skipped.output
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["lines"]["scored"] == 2 and doc["lines"]["skipped"] == 2
    assert [b["line"] for b in doc["lines"]["bad"]] == [3, 4]
    assert "no timestamp" in doc["lines"]["bad"][1]["message"]
    assert "log.jsonl:4: no timestamp" in skipped.stdout
    # without day windows a line needs no timestamp
    by_lines = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "--skip-bad",
                   "--by", "10", "-o", "n.json")
    assert by_lines.exit_code == 0
    assert json.loads((tmp_path / "n.json").read_text())["lines"]["scored"] == 3


def test_an_output_that_is_not_text_is_named_as_json_names_it(make_project, cli, tmp_path):
    make_project(FILES)
    for value, kind in ((3, "a number"), ({"a": 1}, "an object"), (["x"], "an array"),
                        (True, "true or false")):
        write_log(tmp_path / "log.jsonl", [line(2, "Paris"), {**line(2, ""), "output": value}])
        got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0")
        assert got.exit_code == 2
        assert f"log.jsonl:2: the output at 'output' is {kind}, not text" in got.stderr


def test_an_overlong_line_and_a_huge_array_are_bounded(make_project, cli, tmp_path,
                                                       monkeypatch):
    """A line over MAX_LINE is a bad line, read past in chunks (the next line still
    scores); a JSON-array log over MAX_ARRAY is refused (it would be read whole)."""
    monkeypatch.setattr(logs, "MAX_LINE", 2000)
    make_project(FILES)
    long = line(2, "Paris " * 3000)  # ~18 kB, several chunks of the limit
    write_log(tmp_path / "log.jsonl", [line(2, "Paris"), long, line(3, "Paris")])
    got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0")
    assert got.exit_code == 2 and "log.jsonl:2: a line of more than" in got.stderr
    skipped = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "--skip-bad",
                  "-o", "d.json")
    assert skipped.exit_code == 0, skipped.output
    counted = json.loads((tmp_path / "d.json").read_text())["lines"]
    assert counted["scored"] == 2 and [b["line"] for b in counted["bad"]] == [2]
    monkeypatch.setattr(logs, "MAX_ARRAY", 100)
    (tmp_path / "arr.json").write_text(json.dumps([line(2, "Paris")] * 5))
    refused = cli("score", "arr.json", "--suite", "s", "--sample", "0")
    assert refused.exit_code == 2 and "write the log as JSONL" in refused.stderr


def test_a_line_without_a_var_its_assertions_need_is_an_error_reported(make_project,
                                                                       cli, tmp_path):
    make_project(FILES)
    write_log(tmp_path / "log.jsonl", [line(2, "Paris"), {
        "vars": {"q": "?"}, "output": "Paris", "timestamp": "2026-11-02T12:00:00Z"}])
    got = cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "-o", "d.json",
              "-o", "l.jsonl")
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    point = doc["suites"][0]["points"][0]
    assert (point["passed"], point["failed"], point["errors"]) == (1, 0, 1)
    (err,) = doc["lines"]["errors"]
    assert err["line"] == 2 and "'expect' is undefined" in err["error"]
    assert "--field vars.NAME" in err["error"]
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["pass", "error"]


def test_field_mapping_by_dotted_paths_and_list_indices(make_project, cli, tmp_path):
    make_project(FILES)
    shaped = [{"at": 1793620800 + 86400 * d,  # 2026-11-02 00:00 UTC, then daily
               "req": {"turns": [{"text": "hello"}, {"text": "capital of France"}]},
               "resp": {"items": [{"answer": out}]}, "meta": {"want": "Paris"}}
              for d, out in enumerate(["Paris", "Rome"])]
    write_log(tmp_path / "log.jsonl", shaped)
    args = ["score", "log.jsonl", "--suite", "s", "--sample", "0", "-o", "d.json",
            "--field", "output=resp.items.0.answer", "--field", "timestamp=at",
            "--field", "vars.q=req.turns.-1.text", "--field", "vars.expect=meta.want"]
    got = cli(*args)
    assert got.exit_code == 0, got.output
    points = json.loads((tmp_path / "d.json").read_text())["suites"][0]["points"]
    assert [(p["id"], p["passed"], p["failed"]) for p in points] == [
        ("2026-11-02", 1, 0), ("2026-11-03", 0, 1)]
    assert points[0]["distribution"]["input_chars"] == len("capital of France\nParis")
    wrong = cli(*args[:-6], "--field", "output=resp.text")
    assert wrong.exit_code == 2 and "log.jsonl:1: no output at 'resp.text'" in wrong.stderr
    assert "unknown field 'outptu'" in cli("score", "log.jsonl", "--suite", "s",
                                           "--field", "outptu=x").stderr


def _degrading_log(path: Path, days: int, fail_before: float, fail_after: float,
                   per_day: int = 60, seed: int = 1) -> Path:
    rng = random.Random(seed)
    rows = []
    for d in range(days):
        rate = fail_before if d < days // 2 else fail_after
        for i in range(per_day):
            out = "ERROR" if rng.random() < rate else "It is Paris."
            rows.append(line(1 + d, out, hour=i % 24))
    return write_log(path, rows)


def test_a_decline_across_days_fails_the_gate_and_a_stable_log_does_not(make_project,
                                                                        cli, tmp_path):
    make_project(FILES)
    _degrading_log(tmp_path / "bad.jsonl", 10, 0.05, 0.4)
    got = cli("score", "bad.jsonl", "--suite", "s", "--sample", "0", "--gate", "-o", "d.json")
    assert got.exit_code == 1, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    rate = doc["suites"][0]["drift"]["pass_rate"]
    assert rate["significant"] and rate["drop"] > 0.2
    assert rate["before"]["to"] == "2026-11-05" and rate["after"]["from"] == "2026-11-06"
    assert doc["gate"]["failed"] and rate["text"] in doc["gate"]["reasons"]
    assert "pass rate fell from" in got.stdout and "gate: failed" in got.stdout
    assert doc["suites"][0]["drift"]["metrics"]["hit"]["significant"]
    # the decline is larger than 0.05 but not than 0.5: --max-drop decides
    assert cli("score", "bad.jsonl", "--suite", "s", "--sample", "0", "--gate",
               "--max-drop", "0.5").exit_code == 0
    # without --max-drop, the suite's own max_drop (as for history), else 0.05
    (tmp_path / "suites/s.yaml").write_text(SUITE.replace("models:", "max_drop: 0.5\nmodels:"))
    assert cli("score", "bad.jsonl", "--suite", "s", "--sample", "0", "--gate",
               "-o", "m.json").exit_code == 0
    assert json.loads((tmp_path / "m.json").read_text())["max_drop"] == 0.5
    (tmp_path / "suites/s.yaml").write_text(SUITE)

    _degrading_log(tmp_path / "ok.jsonl", 10, 0.1, 0.1)
    stable = cli("score", "ok.jsonl", "--suite", "s", "--sample", "0", "--gate",
                 "-o", "s.json")
    assert stable.exit_code == 0, stable.output
    assert not json.loads((tmp_path / "s.json").read_text())["gate"]["failed"]


@pytest.mark.slow
def test_the_page_of_a_scored_log_in_chromium(make_project, cli, tmp_path):
    """`-o score.html` draws the same document as `-o score.json` (the history page,
    windows as points), and it renders in headless Chromium in both schemes."""
    make_project(FILES)
    _degrading_log(tmp_path / "bad.jsonl", 10, 0.05, 0.4)
    got = cli("score", "bad.jsonl", "--suite", "s", "--sample", "0",
              "-o", "d.json", "-o", "d.html")
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    page = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert page == render_html(doc) and "pass rate fell from" in page
    # the sparkline, pass rate, metric hit, then the distribution series that have
    # values: input and output length, refusal rate (the embedding distances are null
    # with --sample 0, and a series of nulls draws no chart)
    probes = check_charts(tmp_path / "d.html", 1 + 5)
    assert all(c["w"] > 100 for p in probes.values() for c in p["charts"]
               if "line-chart" in c["kind"])


def test_refusal_rate_and_lengths_per_window(make_project, cli, tmp_path):
    make_project(FILES)
    write_log(tmp_path / "log.jsonl", [
        line(2, "Paris"), line(2, "I'm sorry, but I can't help with that."),
        line(2, "Paris!"), line(3, ""), line(3, "Paris is the capital.")])
    cli("score", "log.jsonl", "--suite", "s", "--sample", "0", "-o", "d.json")
    points = json.loads((tmp_path / "d.json").read_text())["suites"][0]["points"]
    assert [p["distribution"]["refusal_rate"] for p in points] == [0.3333, 0.5]
    assert points[1]["distribution"]["output_chars"] == len("Paris is the capital.") / 2
    # a suite with its own (not-)is-refusal check: the rate is what that check found
    for check in ("not-is-refusal", "is-refusal"):
        (tmp_path / "suites/r.yaml").write_text(SUITE.replace(
            "defaults:\n  assert:\n", f"defaults:\n  assert:\n    - {{type: {check}}}\n"))
        cli("score", "log.jsonl", "--suite", "r", "--sample", "0", "-o", "r.json")
        again = json.loads((tmp_path / "r.json").read_text())["suites"][0]["points"]
        assert [p["distribution"]["refusal_rate"] for p in again] == [0.3333, 0.5]
        assert [p["failed"] for p in again] == ([1, 1] if check == "not-is-refusal" else
                                               [3, 2])


def test_no_embedder_gives_null_distances_with_a_note(make_project, cli, tmp_path):
    make_project({**FILES, "promptctl.yaml": "models:\n  e: {provider: echo}\nembedder: e\n"})
    write_log(tmp_path / "log.jsonl", [line(2, "Paris")])
    got = cli("score", "log.jsonl", "--suite", "s", "-o", "d.json")
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["suites"][0]["points"][0]["distribution"]["centroid_distance"] is None
    assert any(n.startswith("no centroid distance: the embedder failed") for n in
               doc["notes"]), doc["notes"]


def test_moments_interval_is_stats_mean_interval_of_single_lines():
    rng = random.Random(3)
    for n in (1, 2, 5, 40, 500):
        xs = [rng.random() ** 2 for _ in range(n)]
        m = Moments()
        for x in xs:
            m.add(x)
        want = stats.mean_interval([[x] for x in xs])
        assert m.interval(0.05) == pytest.approx(want, abs=1e-9)


# -- on the embedded model ------------------------------------------------------------

REAL_PROMPTS = """
prompts:
  capital:
    params: {max_tokens: 16, temperature: 0, seed: 0}
    template: "What is the capital of {{ country }}? Answer in one word."
"""
REAL_SUITE = """
prompts: [geo.capital]
defaults:
  assert:
    - {type: length, max_chars: 200}
    - {type: icontains, value: "{{ city }}", metric: named}
cases:
  - {id: france, vars: {country: France, city: paris}}
  - {id: italy, vars: {country: Italy, city: rome}, assert: [{type: not-icontains, value: rome}]}
  - {id: japan, vars: {country: Japan, city: tokyo}}
  - {id: peru, vars: {country: Peru, city: lima}, assert: [{type: regex, value: "^[A-Z]"}]}
  - {id: atlantis, vars: {country: Atlantis, city: poseidonis}}
"""


@pytest.mark.slow
def test_score_of_a_real_runs_records_gives_the_runs_verdicts(tmp_path):
    write_files(tmp_path, {"prompts/geo.yaml": REAL_PROMPTS, "suites/geo.yaml": REAL_SUITE})
    ran = run_subprocess("run", "-o", "run.json", cwd=tmp_path)
    assert ran.exit_code in (0, 1), ran.output
    runs = tmp_path / ".promptctl/runs"
    records = [json.loads(x) for x in
               (runs / (runs / "latest").read_text().strip() / "records.jsonl")
               .read_text().splitlines()]
    statuses = {r["case"]: ("error" if r["error"] else "pass" if r["passed"] else "fail")
                for r in records}
    assert {"pass", "fail"} <= set(statuses.values()), statuses  # both verdicts occur
    log = [{"case": r["case"], "messages": r["messages"], "output": r["output"],
            "timestamp": f"2026-11-0{1 + i % 2}T12:00:00Z", "latency_ms": r["latency_ms"],
            "tokens": r["tokens"], "model": "smollm2", "id": f"call-{i}"}
           for i, r in enumerate(records)]
    write_log(tmp_path / "log.jsonl", log)
    got = run_subprocess("score", "log.jsonl", "--suite", "geo", "--sample", "0",
                         "-o", "d.json", "-o", "l.jsonl", cwd=tmp_path)
    assert got.exit_code == 0, got.output
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert {r["case"]: r["status"] for r in rows} == statuses
    for row, rec in zip(rows, records, strict=True):
        assert [a["passed"] for a in row["assertions"]] == \
            [a["passed"] for a in rec["assertions"]]
        assert row["score"] == rec["score"]
    doc = json.loads((tmp_path / "d.json").read_text())
    points = doc["suites"][0]["points"]
    passed = sum(p["passed"] for p in points)
    scored = sum(p["passed"] + p["failed"] for p in points)
    summary = json.loads((tmp_path / "run.json").read_text())["summary"]
    assert passed / scored == pytest.approx(summary["pass_rate"], abs=1e-4)
    assert points[0]["models"]["logged"]["served"] == "smollm2"


@pytest.mark.slow
def test_the_openai_preset_reads_a_real_request_response_pair(make_project, cli,
                                                             tmp_path, llama_server):
    request = {"model": "smollm2", "temperature": 0, "seed": 0, "max_tokens": 16,
               "messages": [{"role": "user", "content":
                             "What is the capital of France? Answer in one word."}]}
    req = urllib.request.Request(llama_server + "/chat/completions",
                                 data=json.dumps(request).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        response = json.loads(resp.read())
    answer = response["choices"][0]["message"]["content"]
    word = answer.split()[0]
    make_project({"prompts/p.yaml": "prompts:\n  a: {template: '{{ q }}'}\n",
                  "suites/s.yaml": f"""
prompts: [p.a]
models: [echo]
defaults:
  assert:
    - {{type: contains, value: {json.dumps(word)}}}
    - {{type: length, max_chars: {len(answer)}}}
cases: [{{id: x, vars: {{q: hi}}}}]
"""})
    write_log(tmp_path / "log.jsonl", [{"request": request, "response": response},
                                       {"request": request, "response": {
                                           **response, "choices": [{"index": 0, "message": {
                                               "role": "assistant", "content": answer + "!"}}]}}])
    got = cli("score", "log.jsonl", "--suite", "s", "--format", "openai", "--sample", "0",
              "--by", "5", "-o", "l.jsonl", "-o", "d.json")
    assert got.exit_code == 0, got.output
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["pass", "fail"]  # one character too long
    assert rows[0]["model"] == response["model"] and rows[0]["id"] == response["id"]
    assert rows[0]["time"].startswith(
        __import__("datetime").datetime.fromtimestamp(
            response["created"], __import__("datetime").timezone.utc).isoformat()[:16])
    point = json.loads((tmp_path / "d.json").read_text())["suites"][0]["points"][0]
    assert point["distribution"]["input_chars"] == len(request["messages"][0]["content"])


@pytest.mark.slow
def test_centroid_distance_through_the_local_embedder(tmp_path):
    write_files(tmp_path, {
        "promptctl.yaml": "models:\n  default: {provider: llama-cpp, model: "
                          "'builtin:smollm2'}\n",
        "prompts/p.yaml": "prompts:\n  a: {template: 'What is the capital of {{ country }}?'}\n",
        "suites/s.yaml": "prompts: [p.a]\ndefaults:\n  assert: [{type: length, max_chars: "
                         "500}]\ncases:\n" + "".join(
                             f"  - {{id: c{i}, vars: {{country: {c}}}}}\n"
                             for i, c in enumerate(["France", "Italy", "Spain", "Peru",
                                                    "Japan", "Kenya"])),
    })
    near = ["Germany", "Chile", "Norway", "Egypt", "Canada", "India"]
    far = ["def main(): return 0 if x else None", "SELECT * FROM users WHERE id = 3;",
           "import numpy as np; np.zeros((3, 3))", "for i in range(10): print(i)",
           "git rebase -i HEAD~3 && git push -f", "chmod +x run.sh && ./run.sh"]
    rows = [{"vars": {"country": c}, "output": "Berlin.", "timestamp": "2026-11-02T10:00:00Z"}
            for c in near]
    rows += [{"vars": {"country": c}, "output": "SyntaxError: invalid syntax",
              "timestamp": "2026-11-03T10:00:00Z"} for c in far]
    write_log(tmp_path / "log.jsonl", rows)
    got = run_subprocess("score", "log.jsonl", "--suite", "s", "-o", "d.json", cwd=tmp_path)
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / "d.json").read_text())
    day1, day2 = (p["distribution"] for p in doc["suites"][0]["points"])
    assert day1["sampled"] == day2["sampled"] == 6
    assert 0 <= day1["centroid_distance"] < day2["centroid_distance"], (day1, day2)
    assert day1["output_shift"] == 0 and day2["output_shift"] > 0
    assert any("embedder 'default'" in n for n in doc["notes"]), doc["notes"]
