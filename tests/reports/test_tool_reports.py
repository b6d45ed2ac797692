"""Every report shows tool calls and conversations: the terminal results table, the
Markdown (run and diff), HTML (escaped: a tool's name or argument may hold markup),
JUnit and JSON reports.

The runner does not yet make tool calls, so each run is a real `promptctl run` (the
echo provider) whose saved records.jsonl is then given the calls and turns a model
with tools would have made; the reports are written from that saved run (`diff RUN
-o`, and write_outputs on a ReportData of the saved run for the run reports)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.html_dom import parse
from rich.console import Console

from promptctl.cli.output import results_table
from promptctl.load.project import load_project
from promptctl.reports import ReportData, md, write_outputs
from promptctl.run.meta import load_run

PROJECT = {
    "promptctl.yaml": "models:\n  bot: {provider: echo}\n",
    "prompts/p.yaml": "prompts:\n  q: {template: 'Q {{ q }}'}\n",
    "suites/s.yaml": """
        prompts: [p.q]
        models: [bot]
        cases:
          - {id: weather, vars: {q: weather}, assert: [{type: contains, value: Q}]}
          - {id: chat, vars: {q: chat}, assert: [{type: contains, value: Q}]}
          - {id: plain, vars: {q: plain}, assert: [{type: contains, value: Q}]}
        """,
}

EVIL = "<script>alert(1)</script>"
EVIL_VALUE = "<img src=x onerror=alert(2)>"
PARIS = 'get_weather({"city":"Paris","unit":"C"})'

Edit = Callable[[dict[str, Any]], None]


def call(name: str, arguments: Any, n: int = 1) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, "raw": json.dumps(arguments),
            "id": f"call_{n}"}


def turn(text: str | None, output: str, *calls: dict[str, Any]) -> dict[str, Any]:
    return {"input": text, "output": output, "tool_calls": list(calls),
            "tokens": {"prompt": 3, "completion": 2}, "latency_ms": 12.5, "cached": False}


def run_with(cli, root: Path, edits: dict[str, Edit]) -> str:
    """A real run whose saved records get the edits (by case id); returns its id."""
    assert cli("run", "-q").exit_code == 0
    runs = root / ".promptctl/runs"
    run_id = (runs / "latest").read_text().strip()
    path = runs / run_id / "records.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for rec in records:
        if rec["case"] in edits:
            edits[rec["case"]](rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_id


def weather(city: str, name: str = "get_weather", fail: bool = False) -> Edit:
    def edit(rec: dict[str, Any]) -> None:
        rec["output"] = ""
        rec["tool_calls"] = [call(name, {"city": city, "unit": "C"})]
        if fail:
            rec["passed"], rec["score"] = False, 0.0
            rec["assertions"][0].update(passed=False, score=0.0, reason="no Q in ''")
    return edit


def chat(second: list[dict[str, Any]], last: str = "It is noon.",
         tool_name: str = "get_time") -> Edit:
    def edit(rec: dict[str, Any]) -> None:
        rec["turns"] = [turn(None, "Hello!"), turn("what time is it?", last, *second)]
        rec["output"] = last
        rec["tool_calls"] = second
        rec["messages"] = [
            *rec["messages"], {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "what time is it?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": tool_name, "arguments": '{"tz": "UTC"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "name": tool_name,
             "content": "12:00"},
            {"role": "assistant", "content": last}]
    return edit


@pytest.fixture
def root(make_project):
    return make_project(PROJECT)


def saved_report(root: Path, run_id: str) -> ReportData:
    saved = load_run(load_project(), run_id)
    return ReportData(saved.run_id, saved.started, saved.finished, saved.records,
                      saved.summary())


def test_the_run_reports_show_calls_and_turns(cli, root):
    long_city = "Llanfair" + "pwll" * 40
    run_id = run_with(cli, root, {"weather": weather("Paris", fail=True),
                                  "chat": chat([call("get_time", {"tz": "UTC"})]),
                                  "plain": weather(long_city, fail=True)})
    data = saved_report(root, run_id)
    write_outputs([root / "run.json", root / "run.md", root / "run.xml"], data)

    # JSON: every result carries its calls (as recorded) and turns
    results = {r["case"]: r for r in json.loads((root / "run.json").read_text())["results"]}
    assert results["weather"]["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"},
         "raw": '{"city": "Paris", "unit": "C"}', "id": "call_1"}]
    assert results["weather"]["turns"] is None
    assert [t["input"] for t in results["chat"]["turns"]] == [None, "what time is it?"]
    assert results["chat"]["tool_calls"][0]["name"] == "get_time"

    # Markdown: the failing case's output is its call, long arguments cut
    text = (root / "run.md").read_text()
    assert f"| {md.text(PARIS, 120)} |" in text
    (row,) = [line for line in text.splitlines() if "`plain`" in line]
    assert "get\\_weather(" in row and "…" in row and long_city not in row

    # JUnit: the call in the failure text and in system-out; a conversation by turns
    cases = {tc.get("name"): tc for tc in ET.parse(root / "run.xml").iter("testcase")}
    failure = cases["weather"].find("failure")
    assert failure is not None and f"tool calls: {PARIS}" in (failure.text or "")
    assert cases["weather"].findtext("system-out") == PARIS
    assert cases["chat"].findtext("system-out") == (
        'turn 1: Hello!\nturn 2: what time is it? → get_time({"tz":"UTC"}) / It is noon.')
    assert cases["plain"].findtext("system-out") != ""


def test_the_terminal_table_shows_calls_and_turns(cli, root):
    long_city = "Llanfair" + "pwll" * 40
    run_id = run_with(cli, root, {"weather": weather("Paris", fail=True),
                                  "chat": chat([call("get_time", {"tz": "UTC"})]),
                                  "plain": weather(long_city, fail=True)})
    table, hidden = results_table(saved_report(root, run_id).records, verbose=True)
    assert table is not None and hidden == 0
    console = Console(record=True, width=250, emoji=False)
    console.print(table)
    shown = console.export_text()
    assert PARIS in shown
    assert "turn 1: Hello!" in shown
    assert 'turn 2: what time is it? → get_time({"tz":"UTC"}) / It is noon.' in shown
    (plain,) = [line for line in shown.splitlines() if "plain" in line]
    assert "get_weather(" in plain and "…" in plain and long_city not in plain


def test_the_html_report_escapes_hostile_tool_names_and_arguments(cli, root):
    before = run_with(cli, root, {"weather": weather("Paris"), "chat": chat([])})
    assert cli("baseline", "update", "--run", before).exit_code == 0
    after = run_with(cli, root, {"weather": weather(EVIL_VALUE, name=EVIL),
                                 "chat": chat([call(EVIL, {"q": EVIL_VALUE})],
                                              tool_name=EVIL)})
    result = cli("diff", after, "-o", "d.html", "-o", "d.md", "-o", "d.xml")
    assert result.exit_code == 0, result.output
    page = (root / "d.html").read_text()
    dom = parse(page)
    assert len(dom.all("script")) == 1  # the page's own, nothing from the data
    assert dom.all("img") == []
    assert EVIL not in page and EVIL_VALUE not in page
    text = dom.text
    # the record, the diff's word diff and its note, the transcript's calls and tool result
    assert f'{EVIL}({{"city":"{EVIL_VALUE}","unit":"C"}})' in text
    assert f'tool call 1: {PARIS} -> {EVIL}(' in text
    assert f'turn 2: tool call 1 {EVIL} added' in text
    assert f'tool {EVIL}' in text  # the tool result's role names its tool
    assert f'{EVIL}({{"tz":"UTC"}})' in text  # the assistant message's call
    assert "None" not in [p.text for p in dom.all("pre")]  # a content of null is empty
    # Markdown and JUnit carry them as text too
    assert "<script>" not in (root / "d.md").read_text()
    ET.parse(root / "d.xml")


def test_a_diff_report_shows_an_argument_change(cli, root):
    before = run_with(cli, root, {"weather": weather("Paris"), "chat": chat([])})
    assert cli("baseline", "update", "--run", before).exit_code == 0
    after = run_with(cli, root, {"weather": weather("London"),
                                 "chat": chat([call("get_time", {"tz": "UTC"})])})
    assert cli("diff", after, "-o", "d.md", "-o", "d.html").exit_code == 0
    text = (root / "d.md").read_text()
    (row,) = [line for line in text.splitlines() if line.startswith("| `weather`")]
    assert f"~~{md.text(PARIS)}~~" in row
    assert "**" + md.text('get_weather({"city":"London","unit":"C"})') + "**" in row
    assert md.text('tool call 1 get_weather: city "Paris" -> "London"') in row
    (row,) = [line for line in text.splitlines() if line.startswith("| `chat`")]
    assert md.text("turn 2: tool call 1 get_time added") in row
    dom = parse((root / "d.html").read_text())
    inserted = [n.text for n in dom.all("ins")]
    assert 'get_weather({"city":"London","unit":"C"})' in inserted
    assert PARIS in [n.text for n in dom.all("del")]
