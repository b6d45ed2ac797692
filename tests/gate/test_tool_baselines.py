"""Baselines and diffs of tool calls and conversations, through the real CLI.

The runner does not yet make tool calls, so each run here is a real `promptctl run`
(the echo provider) whose saved records.jsonl is then given the tool calls and turns
a model with tools would have made; `baseline update --run` and `diff RUN` read saved
runs, so everything downstream of the records is the real thing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from promptctl.gate.baseline import parse_baseline
from promptctl.gate.calls import call_changes, sample_changes, shown
from promptctl.gate.diff import fingerprint_changes

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

Edit = Callable[[dict[str, Any]], None]


def call(name: str, arguments: Any, n: int = 1, raw: str | None = None) -> dict[str, Any]:
    return {"name": name, "arguments": arguments,
            "raw": raw if raw is not None else json.dumps(arguments, indent=1),
            "id": f"call_{n}"}


def turn(text: str | None, output: str, *calls: dict[str, Any]) -> dict[str, Any]:
    return {"input": text, "output": output, "tool_calls": list(calls),
            "tokens": {"prompt": 3, "completion": 2}, "latency_ms": 12.5, "cached": False}


def run_with(cli, root: Path, edits: dict[str, Edit]) -> str:
    """A real run whose saved records get the edits (by case id); returns its id."""
    result = cli("run", "-q")
    assert result.exit_code == 0, result.output
    runs = root / ".promptctl/runs"
    run_id = (runs / "latest").read_text().strip()
    path = runs / run_id / "records.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for rec in records:
        if rec["case"] in edits:
            edits[rec["case"]](rec)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_id


def weather(city: str, *more: dict[str, Any]) -> Edit:
    def edit(rec: dict[str, Any]) -> None:
        rec["output"] = ""
        rec["tool_calls"] = [call("get_weather", {"city": city, "unit": "C"}), *more]
    return edit


def chat(second: list[dict[str, Any]], last: str = "It is noon.") -> Edit:
    def edit(rec: dict[str, Any]) -> None:
        rec["turns"] = [turn(None, "Hello!"), turn("what time is it?", last, *second)]
        rec["output"] = last
        rec["tool_calls"] = second
    return edit


def sample(root: Path, case: str) -> dict[str, Any]:
    doc = json.loads((root / "baselines/s.json").read_text())
    return doc["cases"][case]["p.q"]["bot"]["samples"][0]


@pytest.fixture
def root(make_project):
    return make_project(PROJECT)


def test_a_baseline_keeps_calls_and_turns_and_reads_them_back(cli, root):
    run_id = run_with(cli, root, {"weather": weather("Paris"),
                                  "chat": chat([call("get_time", {}, 1)])})
    assert cli("baseline", "update", "--run", run_id).exit_code == 0
    # name and arguments only: no raw text, no id
    assert sample(root, "weather")["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}]
    assert sample(root, "chat")["turns"] == [
        {"output": "Hello!"},
        {"output": "It is noon.", "tool_calls": [{"name": "get_time", "arguments": {}}]}]
    # a case without tools writes the keys it always wrote
    assert sorted(sample(root, "plain")) == ["assertions", "output", "passed", "score",
                                             "tokens"]
    assert "turns" not in sample(root, "weather")
    # a conversation's sample keeps the last turn's calls as its own too
    assert sample(root, "chat")["tool_calls"] == [{"name": "get_time", "arguments": {}}]

    # read back: the same behaviour, so the run diffs clean against it
    text = (root / "baselines/s.json").read_bytes()
    baseline = parse_baseline(text, "s.json", "hint")
    cells = {key[0]: cell for key, cell in baseline.cells.items()}
    assert cells["weather"].outputs == ['get_weather({"city":"Paris","unit":"C"})']
    assert cells["chat"].outputs == [
        'turn 1: Hello!\nturn 2: get_time({}) / It is noon.']
    result = cli("diff", run_id)
    assert result.exit_code == 0, result.output
    assert "CHANGED" not in result.stdout and "tool call" not in result.stdout
    # and an update from the same run rewrites the file byte for byte
    assert cli("baseline", "update", "--run", run_id).exit_code == 0
    assert (root / "baselines/s.json").read_bytes() == text


def test_a_changed_argument_is_a_changed_output_with_the_argument_diff(cli, root):
    before = run_with(cli, root, {"weather": weather("Paris")})
    assert cli("baseline", "update", "--run", before).exit_code == 0
    after = run_with(cli, root, {"weather": weather("London")})
    result = cli("diff", after, "-o", "d.json")
    assert result.exit_code == 0, result.output  # still passing: changed, not broken
    assert "CHANGED" in result.stdout
    assert 'tool call 1 get_weather: city "Paris" -> "London"' in result.stdout
    doc = json.loads((root / "d.json").read_text())
    cases = {c["case"]: c for c in doc["suites"][0]["cases"]}
    assert cases["weather"]["status"] == "changed"
    assert cases["weather"]["tool_changes"] == [
        'tool call 1 get_weather: city "Paris" -> "London"']
    assert cases["weather"]["after"]["tool_calls"] == [
        [{"name": "get_weather", "arguments": {"city": "London", "unit": "C"}}]]
    assert cases["weather"]["after"]["outputs"] == [""]  # the text, apart from the calls
    assert cases["plain"]["status"] == "unchanged" and "tool_changes" not in cases["plain"]
    # like a changed text, it fails --strict
    assert cli("diff", after, "--strict").exit_code == 1


def test_a_call_added_or_gone_is_a_change(cli, root):
    before = run_with(cli, root, {"weather": weather("Paris")})
    assert cli("baseline", "update", "--run", before).exit_code == 0
    added = run_with(cli, root, {"weather": weather("Paris", call("get_time", {"tz": "CET"},
                                                                  2))})
    result = cli("diff", added)
    assert "tool call 2 get_time added" in result.stdout
    gone = run_with(cli, root, {})  # the model answered in text this time
    result = cli("diff", gone, "--strict")
    assert result.exit_code == 1
    assert "tool call 1 get_weather gone" in result.stdout


def test_a_change_in_turn_2_of_a_conversation_shows(cli, root):
    before = run_with(cli, root, {"chat": chat([])})
    assert cli("baseline", "update", "--run", before).exit_code == 0
    after = run_with(cli, root, {"chat": chat([call("get_time", {"tz": "UTC"})])})
    result = cli("diff", after, "-o", "d.json")
    assert result.exit_code == 0, result.output
    assert "turn 2: tool call 1 get_time added" in result.stdout
    cases = {c["case"]: c for c in json.loads((root / "d.json").read_text())
             ["suites"][0]["cases"]}
    assert cases["chat"]["status"] == "changed"
    assert cases["chat"]["tool_changes"] == ["turn 2: tool call 1 get_time added"]
    # the last turn's text changing says which turn
    reworded = run_with(cli, root, {"chat": chat([], last="Noon, I think.")})
    result = cli("diff", reworded, "-o", "d.json")
    assert "turn 2: text changed" in result.stdout
    assert "CHANGED" in result.stdout


def test_an_old_baseline_without_the_new_keys_still_diffs_clean(cli, root):
    run_id = run_with(cli, root, {})
    assert cli("baseline", "update", "--run", run_id).exit_code == 0
    text = (root / "baselines/s.json").read_text()
    assert "tool_calls" not in text and "turns" not in text
    # as an older promptctl wrote it: latency_ms per sample, no tool keys
    doc = json.loads(text)
    for prompts in doc["cases"].values():
        prompts["p.q"]["bot"]["samples"][0]["latency_ms"] = 3.0
    (root / "baselines/s.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
    result = cli("diff", run_id)
    assert result.exit_code == 0, result.output
    assert "CHANGED" not in result.stdout


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("baselines/*.json")),
                         ids=lambda p: p.name)
def test_the_committed_baselines_read_and_write_back_byte_for_byte(path):
    baseline = parse_baseline(path.read_bytes(), path.name, "hint")
    again = json.dumps(baseline.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)
    assert again + "\n" == path.read_text(encoding="utf-8")
    if path.stem not in ("tools", "conversation"):  # the suites without tools: none
        assert all(s.tool_calls == [] and s.turns is None
                   for c in baseline.cells.values() for s in c.samples)


def test_edited_tools_are_a_fingerprint_change_in_words(cli, root):
    before = run_with(cli, root, {"weather": weather("Paris")})
    assert cli("baseline", "update", "--run", before).exit_code == 0

    def tools(digest: str) -> Edit:
        def edit(rec: dict[str, Any]) -> None:
            weather("Paris")(rec)
            rec["fingerprint"]["tools_sha256"] = digest
        return edit

    run_id = run_with(cli, root, {"weather": tools("a" * 64)})
    result = cli("diff", run_id, "--verbose", "-o", "d.json")
    assert result.exit_code == 0, result.output
    assert "tools edited (the prompt's tool definitions differ)" in result.stdout
    cases = {c["case"]: c for c in json.loads((root / "d.json").read_text())
             ["suites"][0]["cases"]}
    assert cases["weather"]["fingerprint"] == [
        "tools edited (the prompt's tool definitions differ)"]
    assert cases["plain"]["fingerprint"] == []
    assert fingerprint_changes({"tools_sha256": "a" * 64}, {"tools_sha256": "b" * 64}) == [
        "tools edited (the prompt's tool definitions differ)"]
    assert fingerprint_changes({"tools_sha256": "a"}, {"tools_sha256": "a"}) == []


def test_call_changes_in_words():
    paris = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}
    london = {"name": "get_weather", "arguments": {"city": "London"}}
    clock = {"name": "get_time", "arguments": {}}
    assert call_changes([paris], [london]) == [
        'tool call 1 get_weather: city "Paris" -> "London", unit "C" -> absent']
    # one call added in front is that call added, not every later call changed
    assert call_changes([paris], [clock, paris]) == ["tool call 1 get_time added"]
    assert call_changes([clock, paris], [paris]) == ["tool call 1 get_time gone"]
    assert call_changes([paris], [clock]) == [
        'tool call 1: get_weather({"city":"Paris","unit":"C"}) -> get_time({})']
    # arguments that were not JSON: their raw text is what differs
    bad = [{"name": "f", "arguments": None, "raw": "{city: Paris"}]
    worse = [{"name": "f", "arguments": None, "raw": "{city: Lond"}]
    assert call_changes(bad, bad) == []
    assert call_changes(bad, worse) == ["tool call 1 f: arguments f({city: Paris) -> "
                                        "f({city: Lond)"]
    # values are short JSON, cut
    long = {"name": "f", "arguments": {"q": "x" * 100}}
    (line,) = call_changes([{"name": "f", "arguments": {"q": "y"}}], [long])
    assert line.startswith('tool call 1 f: q "y" -> "xxx') and line.endswith("…")
    assert len(line) < 80
    # a conversation's turns, each said by number
    one: list[dict[str, Any]] = [{"output": "hi"}, {"output": "noon", "tool_calls": [clock]}]
    two: list[dict[str, Any]] = [{"output": "hi"}, {"output": "noon"}, {"output": "bye"}]
    assert sample_changes([], one, [], two) == ["turn 2: tool call 1 get_time gone",
                                                "turn 3 added"]
    assert sample_changes([], None, [], one) == ["one call -> a conversation of 2 turns"]
    assert shown("", [clock], None) == "get_time({})"
    assert shown("plain text", [], None) == "plain text"
