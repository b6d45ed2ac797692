"""Malformed files promptctl reads back (issue 12, class 7): baselines, run folders and
the response cache.

Each broken file goes through the real CLI on the echo provider, through every command
that reads it: exit 2, one line, naming `file:line`, no traceback, no "internal error"
(the `cli` fixture fails on one). The odd-but-valid files (CRLF, a BOM, blank JSONL
lines, every baseline promptctl has written) must be accepted with the same verdict.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptctl.gate.baseline import load_baseline

REPO = Path(__file__).resolve().parents[2]

CONFIG = "models:\n  e: {provider: echo}\n"
PROMPTS = "prompts:\n  q: {template: 'say {{ q }}'}\n"
SUITE = """\
prompts: [p.q]
models: [e]
cases:
  - {id: one, vars: {q: aye}, assert: [{type: contains, value: aye}]}
  - {id: two, vars: {q: nay}, assert: [{type: contains, value: aye}]}
"""
BASELINE = "baselines/s.json"
HINT = "promptctl baseline update s"


@pytest.fixture
def project(make_project, cli) -> Path:
    """A project with a baseline and one finished run (the baseline's own)."""
    root = make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": SUITE})
    result = cli("baseline", "update")
    assert result.exit_code == 0, result.output
    return root


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / ".promptctl/runs").iterdir() if p.is_dir())


def latest_records(root: Path) -> list[dict[str, Any]]:
    runs = root / ".promptctl/runs"
    path = runs / (runs / "latest").read_text().strip() / "records.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def line_of(text: str, needle: str, after: int = 0) -> int:
    """The 1-based line of the first `needle` in `text`, plus `after` lines."""
    at = text.index(needle)
    return text.count("\n", 0, at) + 1 + after


def one_error(result: Any, where: str, fragment: str = "") -> str:
    """Exit 2, exactly one line of output, starting `error: FILE:LINE: `."""
    output = (result.stdout + result.stderr).strip()
    assert result.exit_code == 2, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith(f"error: {where}: "), output
    assert fragment in output, output
    assert "Traceback" not in output and "internal error" not in output
    return output


# -- baselines -------------------------------------------------------------------------

def _doc(root: Path) -> dict[str, Any]:
    return json.loads((root / BASELINE).read_text(encoding="utf-8"))


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _sample(doc: dict[str, Any], case: str = "one") -> dict[str, Any]:
    return doc["cases"][case]["p.q"]["e"]["samples"][0]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(doc: dict[str, Any]) -> Any:
        here = doc
        for part in path[:-1]:
            here = here[part]
        here[path[-1]] = value
        return doc
    return change


def _sample_set(key: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return _set(("cases", "one", "p.q", "e", "samples", 0, key), value)


def _drop_passed(doc: dict[str, Any]) -> Any:
    del _sample(doc)["passed"]
    return doc


def _samples_as_mapping(doc: dict[str, Any]) -> Any:
    cell = doc["cases"]["one"]["p.q"]["e"]
    cell["samples"] = {"0": cell["samples"][0]}
    return doc


def _sample_as_list(doc: dict[str, Any]) -> Any:
    cell = doc["cases"]["one"]["p.q"]["e"]
    cell["samples"] = [[cell["samples"][0]["output"]]]
    return doc


def _typo(doc: dict[str, Any]) -> Any:
    _sample(doc)["outptu"] = _sample(doc).pop("output")
    return doc


def _no_version(doc: dict[str, Any]) -> Any:
    del doc["version"]
    return doc


# (id, the change to the written baseline, (needle, lines after it) or a line, fragment)
BASELINE_CORPUS: list[tuple[str, Any, Any, str]] = [
    ("top-level-list", lambda d: [d], 1, "expected an object"),
    ("top-level-string", lambda d: "baseline", 1, "expected an object"),
    ("top-level-null", lambda d: None, 1, "expected an object"),
    ("cases-is-a-string", _set(("cases",), "none"), '"cases": "none"', "cases"),
    ("case-is-a-string", _set(("cases", "one"), "x"), '"one": "x"', "expected an object"),
    ("prompt-level-is-a-list", _set(("cases", "one", "p.q"), []), '"p.q": []',
     "expected an object"),
    ("int-output", _sample_set("output", 3), '"output": 3', "expected a string, got 3"),
    ("list-output", _sample_set("output", ["a"]), '"output": [', "got a list"),
    ("samples-is-a-mapping", _samples_as_mapping, '"samples": {', "expected a list"),
    ("sample-is-a-list", _sample_as_list, ('"samples": [', 1), "expected an object"),
    ("no-samples", _set(("cases", "one", "p.q", "e", "samples"), []), '"samples": []',
     "no samples"),
    ("version-2", _set(("version",), 2), '"version": 2', "unsupported baseline version 2"),
    ("version-a-string", _set(("version",), "1"), '"version": "1"',
     "unsupported baseline version '1'"),
    ("version-missing", _no_version, 1, "missing required key 'version'"),
    ("missing-passed", _drop_passed, ('"samples": [', 1), "missing required key 'passed'"),
    ("score-a-string", _set(("cases", "one", "p.q", "e", "samples", 0, "assertions", 0,
                             "score"), "high"), '"score": "high"', "expected a number"),
    ("assertion-passed-a-string", _set(("cases", "one", "p.q", "e", "samples", 0,
                                        "assertions", 0, "passed"), "yes"),
     '"passed": "yes"', "expected true or false"),
    ("assertions-of-strings", _sample_set("assertions", ["contains"]),
     ('"assertions": [', 1), "expected an object"),
    ("float-tokens", _set(("cases", "one", "p.q", "e", "samples", 0, "tokens",
                           "completion"), 2.5), '"completion": 2.5', "whole number"),
    ("fingerprint-a-list", _set(("cases", "one", "p.q", "e", "fingerprint"), ["x"]),
     '"fingerprint": [', "expected an object"),
    ("unknown-key", _typo, '"outptu"', "unknown key 'outptu'"),
    ("suite-a-number", _set(("suite",), 5), '"suite": 5', "expected a string"),
]


@pytest.mark.parametrize(("change", "where", "fragment"),
                         [c[1:] for c in BASELINE_CORPUS],
                         ids=[c[0] for c in BASELINE_CORPUS])
def test_a_baseline_of_the_wrong_shape_is_exit_2_at_its_line(project, cli, change, where,
                                                             fragment):
    text = _dump(change(_doc(project)))
    (project / BASELINE).write_text(text, encoding="utf-8")
    if isinstance(where, str):
        where = (where, 0)
    line = where if isinstance(where, int) else line_of(text, *where)
    for command in (["check"], ["diff"]):
        shown = one_error(cli(*command), f"{BASELINE}:{line}", fragment)
        assert HINT in shown  # the way out: regenerate it


@pytest.mark.parametrize(("name", "data", "line", "fragment"), [
    ("empty", b"", 1, "empty"),
    ("only-whitespace", b"\n\n  \n", 4, "empty"),
    ("trailing-comma", b'{\n  "version": 1,\n  "suite": "s",\n}\n', 4, "invalid JSON"),
    ("invalid-utf8", None, None, "not UTF-8"),
    ("truncated", None, None, "invalid JSON"),
])
def test_a_baseline_that_is_not_json_is_exit_2_at_its_line(project, cli, name, data, line,
                                                           fragment):
    text = (project / BASELINE).read_text(encoding="utf-8")
    if name == "invalid-utf8":
        data = text.replace("say nay", "say \udcff nay").encode("utf-8", "surrogateescape")
        line = line_of(text, "say nay")
    elif name == "truncated":
        cut = text[: len(text) // 2]
        data, line = cut.encode(), cut.count("\n") + 1
    (project / BASELINE).write_bytes(data)
    for command in (["check"], ["diff"]):
        shown = one_error(cli(*command), f"{BASELINE}:{line}", fragment)
        assert HINT in shown


def test_baseline_update_replaces_a_malformed_baseline(project, cli):
    """The hint says to regenerate it: that must work, and say what it replaced."""
    (project / BASELINE).write_text('{"version": 1, "suite": "s", "cases": []}\n')
    result = cli("baseline", "update")
    assert result.exit_code == 0, result.output
    assert "replaced an unreadable baseline" in result.stdout
    assert load_baseline(project / BASELINE) is not None
    # a filtered update needs the other cases of the old file: it cannot guess them
    (project / BASELINE).write_text('{"version": 1, "suite": "s", "cases": []}\n')
    result = cli("baseline", "update", "-k", "one")
    one_error(result, f"{BASELINE}:1", "expected an object")


@pytest.mark.parametrize("variant", ["crlf", "bom", "bom-crlf", "no-latency", "old-latency",
                                     "no-summary"])
def test_odd_but_valid_baselines_are_accepted(project, cli, variant):
    doc = _doc(project)
    if variant == "no-latency":  # what a baseline without timing noise looks like
        for case in doc["cases"].values():
            for sample in case["p.q"]["e"]["samples"]:
                sample.pop("latency_ms", None)
    if variant == "old-latency":  # baselines written before timings left them
        for case in doc["cases"].values():
            for sample in case["p.q"]["e"]["samples"]:
                sample["latency_ms"] = 12.5
    if variant == "no-summary":
        del doc["summary"]
    text = _dump(doc)
    if "crlf" in variant:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    if "bom" in variant:
        data = b"\xef\xbb\xbf" + data  # editors on Windows add one: json would refuse it
    (project / BASELINE).write_bytes(data)
    for command in (["check"], ["diff"]):
        result = cli(*command)
        assert result.exit_code == 0, result.output  # "two" fails in both: the ratchet
        assert "1 unchanged" in result.stdout and "1 failing" in result.stdout


def test_unicode_case_ids_are_accepted_and_located(make_project, cli):
    suite = SUITE.replace("id: one", "id: café-☕").replace("id: two", 'id: "über\\u00a0zwei"')
    root = make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                         "suites/s.yaml": suite})
    assert cli("baseline", "update").exit_code == 0
    assert cli("check").exit_code == 0
    doc = _doc(root)
    doc["cases"]["café-☕"]["p.q"]["e"]["samples"][0]["score"] = "1"
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (root / BASELINE).write_text(text, encoding="utf-8")
    line = line_of(text, '"score": "1"')
    one_error(cli("check"), f"{BASELINE}:{line}",
              'cases["café-☕"]["p.q"].e.samples[0].score: expected a number')


def test_every_baseline_in_the_repo_is_valid():
    paths = sorted((REPO / "baselines").glob("*.json"))
    assert paths
    for path in paths:
        baseline = load_baseline(path)
        assert baseline is not None and baseline.cells, path


# -- run folders -----------------------------------------------------------------------

def _run(project: Path) -> Path:
    (run,) = run_dirs(project)
    return run


def _shown(path: Path, project: Path) -> str:
    return os.path.relpath(path, project)


RUN_COMMANDS = {
    "diff": lambda run, other: ["diff", run],
    "merge": lambda run, other: ["merge", run],
    "resume": lambda run, other: ["run", "--resume", run],
    "baseline-update": lambda run, other: ["baseline", "update", "--run", run],
    "compare": lambda run, other: ["compare", run, other],
}


def _meta(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], tuple[str, str]]:
    def write(run: Path) -> tuple[str, str]:
        doc = json.loads((run / "meta.json").read_text())
        text = _dump(change(doc))
        (run / "meta.json").write_text(text)
        return "meta.json", text
    return write


END = object()  # the last line of the file


def _meta_text(change: Callable[[str], str]) -> Callable[[Path], tuple[str, str]]:
    def write(run: Path) -> tuple[str, str]:
        text = change((run / "meta.json").read_text())
        (run / "meta.json").write_bytes(text.encode("utf-8", "surrogateescape"))
        return "meta.json", text
    return write


def _summary(text: str) -> Callable[[Path], tuple[str, str]]:
    def write(run: Path) -> tuple[str, str]:
        (run / "summary.json").write_text(text)
        return "summary.json", text
    return write


def _records(bad: bytes, at: int = 1) -> Callable[[Path], tuple[str, str]]:
    """Insert a bad line after line `at` of records.jsonl (a line in the middle)."""
    def write(run: Path) -> tuple[str, str]:
        lines = (run / "records.jsonl").read_bytes().splitlines(keepends=True)
        lines.insert(at, bad + b"\n")
        (run / "records.jsonl").write_bytes(b"".join(lines))
        return "records.jsonl", ""
    return write


def _record_change(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Any]:
    def write(run: Path) -> tuple[str, str]:
        lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
        lines[1] = json.dumps(change(json.loads(lines[1])), separators=(",", ":")) + "\n"
        (run / "records.jsonl").write_text("".join(lines))
        return "records.jsonl", ""
    return write


def _del(key: str) -> Callable[[dict[str, Any]], Any]:
    def change(doc: dict[str, Any]) -> Any:
        del doc[key]
        return doc
    return change


def _assertion_passed(doc: dict[str, Any]) -> Any:
    doc["assertions"][0]["passed"] = "yes"
    return doc


# (id, the change to the run folder, line (int) or needle (str), fragment)
RUN_CORPUS: list[tuple[str, Any, Any, str]] = [
    ("meta-is-a-list", _meta(lambda d: [d]), 1, "expected an object"),
    ("meta-is-a-string", _meta(lambda d: "meta"), 1, "expected an object"),
    ("meta-options-a-string", _meta(_set(("options",), "fast")), '"options": "fast"',
     "expected an object"),
    ("meta-suites-of-ints", _meta(_set(("suites",), [1])), ('"suites": [', 1),
     "expected a string"),
    ("meta-suites-missing", _meta(_del("suites")), 1, "missing required key 'suites'"),
    ("meta-bad-shard", _meta(_set(("options", "shard"), "x/y")), '"shard": "x/y"', "shard"),
    ("meta-models-a-string", _meta(_set(("options", "models"), "e")), '"models": "e"',
     "expected a list"),
    ("meta-only-of-threes", _meta(_set(("only",), [["s", "one", "p.q"]])),
     ('"only": [', 1), "only"),
    ("meta-unknown-key", _meta(_set(("optoins",), {})), '"optoins"', "unknown key"),
    ("meta-truncated", _meta_text(lambda t: t[: len(t) // 2]), END, "invalid JSON"),
    ("meta-empty", _meta_text(lambda t: ""), 1, "empty"),
    ("meta-invalid-utf8", _meta_text(lambda t: t.replace('"suites"', '"sui\udcfftes"')),
     '"sui', "not UTF-8"),
    ("summary-is-a-string", _summary('"done"\n'), 1, "expected an object"),
    ("summary-invalid-json", _summary('{\n  "finished": \n'), 3, "invalid JSON"),
    ("summary-finished-a-number", _summary('{"run_id": "r", "started": "s",\n'
                                           ' "finished": 7, "summary": {}}\n'), 2,
     "expected a string"),
    ("record-int-output", _record_change(_set(("output",), 3)), 2, "expected a string"),
    ("record-not-json", _records(b'{"suite": "s", "case"'), 2, "invalid JSON"),
    ("record-invalid-utf8", _records(b'{"suite": "\xff"}'), 2, "not UTF-8"),
    ("record-a-list", _records(b"[1, 2]"), 2, "expected an object"),
    ("record-missing-suite", _record_change(_del("suite")), 2, "missing required key"),
    ("record-deep-wrong-type", _record_change(_assertion_passed), 2,
     "expected true or false"),
    ("record-messages-a-string", _record_change(_set(("messages",), "hi")), 2,
     "expected a list"),
]


@pytest.mark.parametrize(("change", "where", "fragment"), [c[1:] for c in RUN_CORPUS],
                         ids=[c[0] for c in RUN_CORPUS])
@pytest.mark.parametrize("command", sorted(RUN_COMMANDS))
def test_a_run_folder_of_the_wrong_shape_is_exit_2_at_its_line(project, cli, change, where,
                                                               fragment, command):
    assert cli("run", "-q").exit_code == 1  # a second run, to compare with
    run, other = run_dirs(project)
    name, text = change(run)
    if where is END:
        line = text.count("\n") + 1
    else:
        line = where if isinstance(where, int) else line_of(text, *(
            (where, 0) if isinstance(where, str) else where))
    result = cli(*RUN_COMMANDS[command](run.name, other.name))
    one_error(result, f"{_shown(run / name, project)}:{line}", fragment)


def test_a_records_line_in_the_middle_names_its_line_even_far_down(project, cli):
    run = _run(project)
    path = run / "records.jsonl"
    good = path.read_text().splitlines(keepends=True)
    lines = good * 50
    lines.insert(73, '{"suite": 1}\n')
    path.write_text("".join(lines))
    one_error(cli("diff"), f"{_shown(path, project)}:74", "records.jsonl")


def test_blank_and_crlf_lines_in_records_are_accepted(project, cli):
    run = _run(project)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines()
    path.write_bytes(("\n" + lines[0] + "\r\n\n   \n" + lines[1] + "\n\n").encode())
    result = cli("diff")
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.stdout and "1 failing" in result.stdout
    result = cli("baseline", "update", "--run", "latest")
    assert result.exit_code == 0, result.output
    result = cli("merge", run.name)
    assert result.exit_code == 0, result.output


def test_a_5mb_record_line_is_accepted(project, cli):
    run = _run(project)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines()
    big = json.loads(lines[1])
    big["output"] = "say nay " + "ü" * 2_500_000  # 5 MB of UTF-8 on one line
    path.write_text(lines[0] + "\n" + json.dumps(big, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert path.stat().st_size > 5_000_000
    result = cli("diff")
    assert result.exit_code == 0, result.output
    assert "1 unchanged" in result.stdout and "1 failing" in result.stdout


def test_a_torn_last_record_is_still_cut_by_resume(project, cli):
    run = _run(project)
    path = run / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1][:40])  # killed mid-write: no newline
    (run / "summary.json").unlink()
    result = cli("run", "--resume", "-q")
    assert result.exit_code == 1, result.output
    assert len(path.read_text().splitlines()) == 2
    assert cli("diff").exit_code == 0


def test_a_run_folder_without_records_is_exit_2(project, cli):
    run = _run(project)
    (run / "records.jsonl").unlink()
    for command in (["diff"], ["baseline", "update", "--run", "latest"]):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert "records.jsonl" in result.stderr and run.name in result.stderr


# -- the latest pointer ------------------------------------------------------------------

LATEST_COMMANDS = [["diff"], ["run", "--resume"], ["baseline", "update", "--run", "latest"],
                   ["merge", ".promptctl/runs"]]


@pytest.mark.parametrize(("content", "line", "fragment"), [
    ("20990101T000000-abcdef\n", 1,
     "names run '20990101T000000-abcdef', which does not exist"),
    ("../../../etc\n", 1, "not a run id"),
    ("..\n", 1, "not a run id"),
    ("sub/run\n", 1, "not a run id"),
    ("/tmp\n", 1, "not a run id"),
    ("\n", 1, "empty"),
    ("a\nb\n", 2, "more than one line"),
])
@pytest.mark.parametrize("command", LATEST_COMMANDS, ids=lambda c: c[0])
def test_a_bad_latest_pointer_is_exit_2(project, cli, content, line, fragment, command):
    pointer = project / ".promptctl/runs/latest"
    pointer.write_text(content)
    one_error(cli(*command), f".promptctl/runs/latest:{line}", fragment)


@pytest.mark.parametrize("command", LATEST_COMMANDS, ids=lambda c: c[0])
def test_a_latest_pointer_that_is_a_link_to_nowhere_is_exit_2(project, cli, command):
    pointer = project / ".promptctl/runs/latest"
    pointer.unlink()
    pointer.symlink_to(project / "nowhere")
    one_error(cli(*command), ".promptctl/runs/latest:1", "symbolic link")


def test_compare_latest_with_a_bad_pointer_is_exit_2(project, cli):
    (other,) = run_dirs(project)
    (project / ".promptctl/runs/latest").write_text("ghost\n")
    one_error(cli("compare", "latest", other.name), ".promptctl/runs/latest:1",
              "does not exist")


@pytest.mark.parametrize("ref", ["..", "../runs", "x/../../..", "*"])
def test_a_run_id_with_path_parts_is_exit_2(project, cli, ref):
    for command in (["diff", ref], ["run", "--resume", ref],
                    ["baseline", "update", "--run", ref]):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "is not a run id" in result.stderr, result.output


# -- the response cache --------------------------------------------------------------------

CACHE = ".promptctl/cache.sqlite"


def test_a_cache_file_that_is_not_a_database_is_exit_2_naming_it(project, cli):
    (project / CACHE).write_bytes(b"this is not sqlite\n" * 100)
    for suffix in ("-wal", "-shm"):
        (project / (CACHE + suffix)).unlink(missing_ok=True)
    for command in (["run", "-q"], ["check"], ["cache", "stats"], ["cache", "clear"]):
        output = (lambda r: (r.exit_code, (r.stdout + r.stderr).strip()))(cli(*command))
        assert output[0] == 2, output
        assert output[1].startswith(f"error: {CACHE}: ") and "delete it" in output[1]
        assert len(output[1].splitlines()) == 1, output
    assert cli("run", "-q", "--no-cache").exit_code == 1  # the cache is optional
    (project / CACHE).unlink()
    assert cli("run", "-q").exit_code == 1


def test_a_cache_row_of_the_wrong_shape_is_a_miss_said_once(project, cli):
    db = sqlite3.connect(project / CACHE)
    rows = db.execute("SELECT key FROM responses").fetchall()
    assert len(rows) == 2
    db.execute("UPDATE responses SET value = ? WHERE key = ?", ('{"text": 3}', rows[0][0]))
    db.execute("UPDATE responses SET value = ? WHERE key = ?", ("not json{", rows[1][0]))
    db.commit()
    db.close()
    result = cli("run")
    assert result.exit_code == 1, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert CACHE in warnings[0] and "made again" in warnings[0]
    records = latest_records(project)
    assert [r["cached"] for r in records] == [False, False]
    assert [r["output"] for r in records] == ["say aye", "say nay"]
    # the fresh answers replaced the bad rows: the next run is served from the cache
    again = cli("run")
    assert "warning" not in again.stderr
    records = latest_records(project)
    assert [r["cached"] for r in records] == [True, True]
