"""Tools through the `openai` provider, over real HTTP to llama-cpp-python's server
with its chatml-function-calling handler (the `tools_server` fixture) serving SmolLM2:
the API's `tools` / `tool_choice` sent, `tool_calls` read back, and a conversation
played through the same runner as in process.

That handler's template has no tool role: it drops tool results from the prompt, and a
model asked again after one tends to call tools again (docs/tools.md). So the
conversation here answers no call with a canned result; tests/run/test_conversations.py
plays canned results on the in-process model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptctl.providers import get_provider
from promptctl.schema import ModelEntry

pytestmark = pytest.mark.slow

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
ASK = [{"role": "system", "content": "You are a helpful assistant."},
       {"role": "user", "content": "What time is it in Tokyo?"}]


def _provider(base_url: str):
    return get_provider(ModelEntry(provider="openai", model="smollm2", base_url=base_url),
                        "local")


def test_tools_are_sent_and_tool_calls_read_back(tools_server):
    provider = _provider(tools_server)
    auto = provider.complete(ASK, {"temperature": 0, "max_tokens": 60,
                                   "tools": [WEATHER, TIME], "tool_choice": "auto"})
    assert [(c.name, c.arguments) for c in auto.tool_calls] == [("get_time", {"city": "Tokyo"})]
    assert auto.tool_calls[0].id  # the server's own id; the runner renumbers it
    named = provider.complete(ASK, {"temperature": 0, "max_tokens": 60,
                                    "tools": [WEATHER, TIME],
                                    "tool_choice": {"type": "function",
                                                    "function": {"name": "get_weather"}}})
    assert [c.name for c in named.tool_calls] == ["get_weather"]
    assert named.text == ""


def test_a_suite_with_tools_and_a_conversation_through_the_server(make_project, cli,
                                                                  tools_server):
    root = make_project({
        "promptctl.yaml": f"""
            models:
              local: {{provider: openai, model: smollm2, base_url: "{tools_server}",
                      timeout: 60, max_retries: 0}}
            """,
        "prompts/assist.yaml": """
            prompts:
              assist:
                messages:
                  - {role: system, content: "You are a helpful assistant."}
                  - {role: user, content: "{{ question }}"}
                params: {temperature: 0, max_tokens: 60}
                tools:
                  - name: get_weather
                    description: Current weather in a city
                    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
                  - name: get_time
                    description: Current local time in a city
                    parameters: {type: object, properties: {city: {type: string}}, required: [city]}
            """,
        "suites/tools.yaml": """
            prompts: [assist.assist]
            models: [local]
            cases:
              - id: tokyo
                vars: {question: "What time is it in Tokyo?"}
                assert:
                  - {type: tool-call, value: {name: get_time, arguments: {city: Tokyo}}}
                  - {type: tool-args-schema}
              - id: trip
                vars: {question: "What is the weather in Paris?"}
                turns: ["And what time is it in Tokyo?"]
                assert:
                  - {type: tool-call, value: {name: get_weather, arguments: {city: Paris}}, turn: 1}
                  - {type: tool-call, value: {name: get_time, arguments: {city: Tokyo}}, turn: 2}
            """,
    })
    result = cli("run", "-o", "out.json")
    assert result.exit_code == 0, result.stdout + result.stderr
    doc = json.loads((Path(root) / "out.json").read_text())
    records = {r["case"]: r for r in doc["results"]}
    assert records["tokyo"]["tool_calls"][0]["id"] == "call_1"
    trip = records["trip"]
    assert len(trip["turns"]) == 2
    # turn 1's call had no canned result: the turn ended there, and the call was
    # answered as unanswered before turn 2's message, as the API wants every call answered
    tool = next(m for m in trip["messages"] if m["role"] == "tool")
    assert tool["tool_call_id"] == trip["turns"][0]["tool_calls"][0]["id"] == "call_1"
    assert "gives no result" in tool["content"]
    assert trip["turns"][1]["tool_calls"][0]["id"] == "call_2"
