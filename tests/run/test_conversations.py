"""Tools and conversations end to end on the real embedded model, in process and
through the real CLI: which tool the model calls and with what arguments, a three-turn
conversation with canned tool results, a resume after a kill between turns, the cache
per turn, baselines and diffs of tool calls, and the bad inputs that are exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TOOLS = """
      - name: get_weather
        description: Current weather in a city
        parameters:
          type: object
          properties: {city: {type: string}}
          required: [city]
      - name: get_time
        description: Current local time in a city
        parameters:
          type: object
          properties: {city: {type: string}}
          required: [city]
"""
PROMPTS = f"""
prompts:
  assist:
    messages:
      - {{role: system, content: "You are a helpful assistant."}}
      - {{role: user, content: "{{{{ question }}}}"}}
    params: {{max_tokens: 60}}
    tool_choice: auto
    tools:{TOOLS}"""
TOOL_SUITE = """
prompts: [assist.assist]
cases:
  - id: weather-paris
    vars: {question: "What is the weather in Paris?", city: Paris}
    assert:
      - {type: tool-call, value: {name: get_weather, arguments: {city: "{{ city }}"}}}
      - {type: tool-args-schema}
  - id: time-tokyo
    vars: {question: "What time is it in Tokyo?", city: Tokyo}
    assert:
      - {type: tool-call, value: {name: get_time, arguments: {city: "{{ city }}"}}}
      - {type: no-tool-call, value: get_weather}
  - id: capital
    vars: {question: "What is the capital of France?"}
    assert:
      - {type: no-tool-call}
      - {type: icontains, value: paris}
"""
CHAT_SUITE = """
prompts: [assist.assist]
cases:
  - id: trip
    vars: {question: "What time is it in Tokyo?"}
    turns:
      - "What is the weather in Paris?"
      - "Thanks!"
    tool_results:
      get_weather: '{"city": "{{ args.city }}", "temperature_c": 18, "sky": "sunny"}'
      get_time: '{"city": "{{ args.city }}", "time": "09:30"}'
    assert:
      - {type: tool-call, value: {name: get_time, arguments: {city: Tokyo}}, turn: 1}
      - {type: icontains, value: "9:30", turn: 1}
      - {type: tool-call, value: {name: get_weather, arguments: {city: Paris}}, turn: 2}
      - {type: icontains, value: sunny, turn: 2}
      - {type: no-tool-call, turn: 3}
      - {type: tool-args-schema, turn: each}
      - type: equals
        value: "2"
        transform: "transcript | selectattr('role', 'equalto', 'tool') | list | length"
"""


def _records(run_dir: Path) -> dict[str, dict]:
    return {json.loads(line)["case"]: json.loads(line)
            for line in (run_dir / "records.jsonl").read_text().splitlines()}


def _run_dir(root: Path) -> Path:
    runs = root / ".promptctl" / "runs"
    return runs / (runs / "latest").read_text().strip()


def test_the_model_picks_the_tool_and_its_arguments(make_project, cli):
    root = make_project({"prompts/assist.yaml": PROMPTS, "suites/tools.yaml": TOOL_SUITE})
    result = cli("run", "--no-cache")
    assert result.exit_code == 0, result.stdout + result.stderr
    records = _records(_run_dir(root))
    weather = records["weather-paris"]
    assert [(c["name"], c["arguments"]) for c in weather["tool_calls"]] == [
        ("get_weather", {"city": "Paris"})]
    assert weather["tool_calls"][0]["id"] == "call_1"  # promptctl's, not the provider's
    assert "tools_sha256" in weather["fingerprint"]
    assert records["time-tokyo"]["tool_calls"][0]["name"] == "get_time"
    assert "tool_calls" not in records["capital"]  # answered in words
    assert "Paris" in records["capital"]["output"]


def test_a_failed_tool_call_says_which_call_differed(make_project, cli):
    suite = TOOL_SUITE.replace('arguments: {city: "{{ city }}"}}}\n      - {type: tool-args',
                               'arguments: {city: London}}}\n      - {type: tool-args', 1)
    make_project({"prompts/assist.yaml": PROMPTS, "suites/tools.yaml": suite})
    result = cli("run", "-k", "weather-paris")
    assert result.exit_code == 1
    assert 'get_weather called with city "Paris", expected "London"' in result.stdout


def test_a_three_turn_conversation_with_tool_results(make_project, cli):
    root = make_project({"prompts/assist.yaml": PROMPTS, "suites/chat.yaml": CHAT_SUITE})
    result = cli("run", "-o", "out.json")
    assert result.exit_code == 0, result.stdout + result.stderr
    record = _records(_run_dir(root))["trip"]
    turns = record["turns"]
    assert [t["input"] for t in turns] == [None, "What is the weather in Paris?", "Thanks!"]
    assert [c["name"] for c in turns[0]["tool_calls"]] == ["get_time"]
    assert [c["name"] for c in turns[1]["tool_calls"]] == ["get_weather"]
    assert turns[2]["tool_calls"] == []
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user", "assistant",
                     "tool", "assistant", "user", "assistant"]
    # each tool message answers its call, by promptctl's own ids over the conversation
    tool_ids = [m["tool_call_id"] for m in record["messages"] if m["role"] == "tool"]
    assert tool_ids == ["call_1", "call_2"]
    assert json.loads(record["messages"][3]["content"])["city"] == "Tokyo"  # {{ args.city }}
    assert record["output"] == turns[2]["output"]
    assert all(a["passed"] for a in record["assertions"])
    # the report carries the transcript too
    doc = json.loads((root / "out.json").read_text())
    assert doc["results"][0]["turns"] == turns

    # every request is cached by everything before it: a second run asks the model nothing
    again = cli("run", "-o", "again.json")
    assert again.exit_code == 0
    second = json.loads((root / "again.json").read_text())["results"][0]
    assert second["cached"] is True and all(t["cached"] for t in second["turns"])
    assert second["turns"][0]["output"] == turns[0]["output"]


def test_a_conversation_killed_between_turns_resumes_at_its_last_finished_turn(
        make_project, cli):
    root = make_project({"prompts/assist.yaml": PROMPTS, "suites/chat.yaml": CHAT_SUITE})
    assert cli("run", "--no-cache").exit_code == 0
    full = _run_dir(root)
    steps = (full / "steps.jsonl").read_text().splitlines(keepends=True)
    assert len(steps) == 5  # turn 1: call + answer, turn 2: call + answer, turn 3
    expected = _records(full)["trip"]

    # the run as a kill after turn 1 leaves it: turn 1's two answers logged, no record,
    # and half of the next step's line torn off
    killed = full.parent / "killed"
    killed.mkdir()
    shutil.copy(full / "meta.json", killed / "meta.json")
    (killed / "records.jsonl").write_text("")
    (killed / "steps.jsonl").write_text("".join(steps[:2]) + steps[2][:40])
    result = cli("run", "--resume", "killed", "--no-cache")
    assert result.exit_code == 0, result.stdout + result.stderr
    record = _records(killed)["trip"]
    assert [t["cached"] for t in record["turns"]] == [True, False, False]
    def same(turn: dict) -> dict:  # what the model said: time taken differs
        return {k: v for k, v in turn.items() if k not in ("latency_ms", "cached")}

    assert [same(t) for t in record["turns"]] == [same(t) for t in expected["turns"]]
    assert record["messages"] == expected["messages"]
    # three more requests were made, and logged after the torn line was passed over
    logged = (killed / "steps.jsonl").read_text().splitlines()
    assert sum(1 for line in logged if line.endswith("}")) == 5


def test_baselines_and_diffs_see_a_changed_tool_call(make_project, cli):
    root = make_project({"prompts/assist.yaml": PROMPTS, "suites/tools.yaml": TOOL_SUITE})
    assert cli("baseline", "update", "-q").exit_code == 0
    baseline = json.loads((root / "baselines/tools.json").read_text())
    sample = baseline["cases"]["weather-paris"]["assist.assist"]["default"]["samples"][0]
    assert sample["tool_calls"] == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert cli("check", "-q").exit_code == 0

    # forcing the other tool changes the call: the diff says so, with its arguments
    (root / "prompts/assist.yaml").write_text(
        PROMPTS.replace("tool_choice: auto", "tool_choice: {name: get_time}"))
    result = cli("check", "-k", "weather-paris", "-o", "diff.json")
    assert result.exit_code == 1, result.stdout
    text = result.stdout + (root / "diff.json").read_text()
    assert "get_time" in text and "tools edited" in text


@pytest.mark.parametrize(("files", "where", "words"), [
    ({"prompts/assist.yaml": PROMPTS.replace("type: object\n          properties: {city",
                                             "type: objekt\n          properties: {city", 1),
      "suites/chat.yaml": CHAT_SUITE}, "prompts/assist.yaml:", "not a valid JSON Schema"),
    ({"prompts/assist.yaml": PROMPTS,
      "suites/chat.yaml": CHAT_SUITE.replace("turn: 3}", "turn: 5}")},
     "suites/chat.yaml:16", "checks turn 5, but the case has 3 turns"),
    ({"prompts/assist.yaml": PROMPTS,
      "suites/chat.yaml": CHAT_SUITE.replace("      get_time: '", "      get_date: '")},
     "suites/chat.yaml:10", "tool_results names tool 'get_date'"),
    ({"prompts/assist.yaml": PROMPTS + "      - name: get_time\n",
      "suites/chat.yaml": CHAT_SUITE}, "prompts/assist.yaml:", "declared twice"),
], ids=["invalid-schema", "turn-past-the-end", "unknown-tool-result", "tool-twice"])
def test_bad_tool_and_turn_input_is_exit_2_at_its_line(make_project, cli, files, where,
                                                       words):
    make_project(files)
    for command in (("run",), ("lint",)):
        result = cli(*command)
        if command == ("lint",) and "turn" in words:
            continue  # a turn count needs the rendered prompt: `run` refuses it
        assert result.exit_code == 2, (command, result.stdout, result.stderr)
        assert where in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_render_case_shows_the_first_turn_and_the_tools(make_project, cli):
    make_project({"prompts/assist.yaml": PROMPTS, "suites/chat.yaml": CHAT_SUITE})
    result = cli("render", "assist", "--case", "chat:trip")
    assert result.exit_code == 0, result.stderr
    assert "What time is it in Tokyo?" in result.stdout
    assert "What is the weather in Paris?" not in result.stdout  # a later turn
    assert '"get_weather"' in result.stdout
    assert "then 2 more turns" in result.stdout
