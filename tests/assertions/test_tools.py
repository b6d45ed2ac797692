"""The tool-call assertions: tool-call, tool-calls (ordered, exact), no-tool-call and
tool-args-schema; their reasons, negation, spec errors (exit 2 at lint and run, with
file:line), and `transcript` / `tool_calls` in transforms."""

from __future__ import annotations

from typing import Any

import pytest

from promptctl.assertions import AssertionContext, AssertionSpecError, evaluate, validate_spec
from promptctl.results import AssertionResult, ToolCall, tool_call_of
from promptctl.schema import AssertionSpec

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"},
        "options": {"type": "object", "properties": {"units": {"enum": ["C", "F"]}}}}}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "additionalProperties": True}}}
TOOLS = [WEATHER, TIME]


def call(name: str, raw: str) -> ToolCall:
    return tool_call_of(name, raw)


PARIS = call("get_weather", '{"city": "Paris"}')
LONDON = call("get_weather", '{"city": "London"}')
TIME_PARIS = call("get_time", '{"city": "Paris"}')
BROKEN = call("get_weather", "{city: Paris")


def check(data: dict[str, Any], calls: list[ToolCall], output: str = "",
          tools: list[dict[str, Any]] | None = None, **ctx: Any) -> AssertionResult:
    spec = AssertionSpec.model_validate(data)
    validate_spec(spec)
    return evaluate(spec, output, AssertionContext(
        tool_calls=calls, tools=TOOLS if tools is None else tools, **ctx))


def spec_error(data: dict[str, Any]) -> AssertionSpecError:
    with pytest.raises(AssertionSpecError) as info:
        validate_spec(AssertionSpec.model_validate(data))
    return info.value


def weather(**arguments: Any) -> dict[str, Any]:
    return {"type": "tool-call", "value": {"name": "get_weather", "arguments": arguments}}


# ------------------------------------------------------------------------- tool-call


def test_tool_call_passes_on_any_matching_call_and_says_which():
    got = check(weather(city="Paris"), [TIME_PARIS, LONDON, PARIS])
    assert got.passed and got.score == 1.0
    assert got.reason == 'called get_weather({"city":"Paris"})'


def test_a_bare_name_matches_whatever_the_arguments():
    assert check({"type": "tool-call", "value": "get_weather"}, [BROKEN]).passed
    assert check({"type": "tool-call", "value": {"name": "get_weather"}}, [LONDON]).passed


@pytest.mark.parametrize(("calls", "reason"), [
    ([LONDON], 'get_weather called with city "London", expected "Paris"'),
    ([TIME_PARIS], 'no call to get_weather (calls: get_time({"city":"Paris"}))'),
    ([BROKEN], "get_weather's arguments are not JSON: '{city: Paris'"),
    ([call("get_weather", '{"days": 3}')],
     'get_weather called without city (expected "Paris")'),
    ([call("get_weather", "[1, 2]")],
     'get_weather called with arguments [1,2], expected a mapping {"city":"Paris"}'),
    ([LONDON, call("get_weather", '{"city": "Rome"}')],
     'get_weather called with city "London", expected "Paris" (and 1 more call to '
     'get_weather, none matching)'),
])
def test_tool_call_reasons_say_which_call_differed_and_how(calls, reason):
    got = check(weather(city="Paris"), calls)
    assert not got.passed and got.score == 0.0
    assert got.reason == reason


def test_no_calls_at_all_quotes_the_text_reply():
    got = check(weather(city="Paris"), [], output="It is sunny in Paris today, with a "
                                                  "light breeze from the west.")
    assert got.reason == 'no tool calls (the reply was text: "It is sunny in Paris ' \
                         'today, with a li...")'
    assert check(weather(city="Paris"), []).reason == "no tool calls (and no text)"


def test_a_tool_the_prompt_does_not_declare_is_pointed_out():
    got = check({"type": "tool-call", "value": "get_wether"}, [PARIS])
    assert got.reason.endswith("; the prompt declares no tool 'get_wether'")


def test_arguments_are_partial_nested_partial_lists_exact_numbers_by_value():
    made = call("get_weather", '{"city": "Paris", "days": 3.0, "stops": [1, 2], '
                               '"options": {"units": "C", "lang": "fr"}}')
    assert check(weather(city="Paris"), [made]).passed
    assert check(weather(days=3), [made]).passed  # 3 == 3.0
    assert check(weather(options={"units": "C"}), [made]).passed  # nested: partial
    assert check(weather(stops=[1, 2]), [made]).passed
    assert check(weather(stops=[1]), [made]).reason == \
        "get_weather called with stops [1,2], expected [1]"  # lists: equal
    assert check(weather(options={"units": "F"}), [made]).reason == \
        'get_weather called with options.units "C", expected "F"'
    assert not check(weather(days="3"), [made]).passed  # strings exactly
    assert not check(weather(flag=1), [call("get_weather", '{"flag": true}')]).passed
    assert not check(weather(city="paris"), [made]).passed


def test_schema_constrains_the_arguments():
    spec = {"type": "tool-call", "value": {"name": "get_weather", "schema": {
        "type": "object", "properties": {"days": {"type": "integer", "maximum": 7}},
        "required": ["days"]}}}
    assert check(spec, [call("get_weather", '{"city": "Paris", "days": 3}')]).passed
    got = check(spec, [call("get_weather", '{"days": 30}')])
    assert got.reason == "get_weather's arguments do not match the schema: $.days: 30 " \
                         "is greater than the maximum of 7"
    assert check(spec, [BROKEN]).reason.startswith("get_weather's arguments are not JSON")


def test_arguments_and_schema_must_both_hold():
    spec = {"type": "tool-call", "value": {"name": "get_weather",
                                          "arguments": {"city": "Paris"},
                                          "schema": {"required": ["days"]}}}
    assert not check(spec, [PARIS]).passed
    assert check(spec, [call("get_weather", '{"city": "Paris", "days": 1}')]).passed


def test_not_tool_call():
    got = check({"type": "not-tool-call", "value": "get_weather"}, [PARIS])
    assert not got.passed and got.reason == 'called get_weather({"city":"Paris"}) (must not)'
    ok = check({"type": "not-tool-call", "value": "get_weather"}, [TIME_PARIS])
    assert ok.passed and ok.score == 1.0 and "no call to get_weather" in ok.reason


@pytest.mark.parametrize(("value", "fragment"), [
    ({"arguments": {"city": "Paris"}}, "'tool-call' needs the tool's 'name', got nothing"),
    ({"name": ""}, "'tool-call' needs the tool's 'name'"),
    (3, "'tool-call' needs a tool name or a mapping {name, arguments, schema}, got a number"),
    ({"name": "get_weather", "args": {}}, "'tool-call': unknown key 'args'"),
    ({"name": "get_weather", "arguments": "city=Paris"},
     "'arguments' must be a mapping of the expected arguments, got a string"),
    ({"name": "get_weather", "schema": {"type": "objekt"}},
     "the 'schema' of get_weather: invalid JSON schema"),
    ({"name": "get_weather", "schema": "object"}, "'schema' must be a JSON schema mapping"),
    ({"name": "get_weather", "schema": {"$ref": "http://example.com/s.json"}},
     "points outside the schema"),
])
def test_bad_tool_call_values_are_spec_errors(value, fragment):
    err = spec_error({"type": "tool-call", "value": value})
    assert fragment in err.message and err.key == "value"


def test_a_misspelt_key_in_a_call_gets_a_suggestion():
    err = spec_error({"type": "tool-call", "value": {"name": "x", "argument": {}}})
    assert err.hint is not None and err.hint.startswith("did you mean 'arguments'?")


def test_tool_call_takes_no_options():
    err = spec_error({"type": "tool-call", "value": "x", "ordered": True})
    assert err.message == "unknown option 'ordered' for tool-call" and err.key == "ordered"


# ------------------------------------------------------------------------ tool-calls


def listed(*items: Any, **options: Any) -> dict[str, Any]:
    return {"type": "tool-calls", "value": list(items), **options}


def test_tool_calls_in_any_order_by_default():
    got = check(listed("get_time", {"name": "get_weather", "arguments": {"city": "Paris"}}),
                [PARIS, TIME_PARIS])
    assert got.passed and got.score == 1.0 and got.reason == "all 2 listed calls made"


def test_tool_calls_scores_the_fraction_and_names_the_first_missing():
    got = check(listed("get_weather", "get_time", "book"), [TIME_PARIS])
    assert not got.passed and got.score == pytest.approx(1 / 3)
    assert got.reason == '1 of 3 listed calls made; first missing: no call to get_weather ' \
                         '(calls: get_time({"city":"Paris"}))'


def test_each_listed_item_takes_a_call_of_its_own():
    got = check(listed("get_weather", "get_weather"), [PARIS, TIME_PARIS])
    assert not got.passed and got.score == 0.5
    assert got.reason == "1 of 2 listed calls made; first missing: get_weather: its 1 " \
                         "matching call is taken by other listed items"
    assert check(listed("get_weather", "get_weather"), [PARIS, LONDON]).passed


def test_matching_is_a_best_assignment_not_first_come():
    # the bare name would take PARIS first; it must leave PARIS to the specific item
    got = check(listed("get_weather", {"name": "get_weather",
                                       "arguments": {"city": "Paris"}}), [PARIS, LONDON])
    assert got.passed


def test_ordered_allows_other_calls_between_but_not_another_order():
    spec = listed("get_time", "get_weather", ordered=True)
    between = call("book", "{}")
    ok = check(spec, [TIME_PARIS, between, PARIS])
    assert ok.passed and ok.reason == "all 2 listed calls made in order"
    got = check(spec, [PARIS, TIME_PARIS])
    assert not got.passed and got.score == 0.5
    assert got.reason.startswith("1 of 2 listed calls made; first missing: get_weather is "
                                 "called, but not in the order listed (calls: get_weather(")
    assert check(listed("get_time", "get_weather"), [PARIS, TIME_PARIS]).passed


def test_exact_refuses_an_extra_call_and_names_it():
    spec = listed("get_weather", exact=True)
    ok = check(spec, [PARIS])
    assert ok.passed and ok.reason == "all 1 listed calls made and nothing else"
    got = check(spec, [PARIS, TIME_PARIS])
    assert not got.passed and got.score == 1.0  # every listed item matched, yet failed
    assert got.reason == 'unexpected call get_time({"city":"Paris"}) (exact: only the ' \
                         'listed calls)'
    both = check(listed("get_weather", "book", exact=True), [TIME_PARIS, PARIS])
    assert both.reason == 'unexpected call get_time({"city":"Paris"}) (exact: only the ' \
                          'listed calls); 1 of 2 listed calls made, first missing: no ' \
                          'call to book (calls: get_time({"city":"Paris"}), ' \
                          'get_weather({"city":"Paris"})); the prompt declares no tool ' \
                          '\'book\''


def test_a_threshold_lets_some_listed_calls_miss():
    got = check(listed("get_weather", "get_time", threshold=0.5), [PARIS])
    assert got.passed and got.score == 0.5 and "(threshold 0.5)" in got.reason


def test_not_tool_calls():
    got = check({"type": "not-tool-calls", "value": ["get_weather"]}, [PARIS])
    assert not got.passed and got.reason == "all 1 listed calls made (must not)"
    assert check({"type": "not-tool-calls", "value": ["get_time"]}, [PARIS]).passed


@pytest.mark.parametrize(("data", "key", "fragment"), [
    (listed(), "value", "'tool-calls' needs a list of calls as 'value', got an empty list"),
    ({"type": "tool-calls", "value": "get_weather"}, "value",
     "'tool-calls' needs a list of calls as 'value', got a string"),
    (listed("a", {"arguments": {}}), "value", "'tool-calls' item 2 needs the tool's 'name'"),
    (listed("a", ordered="yes"), "ordered", "'ordered' must be true or false, got a string"),
    (listed("a", exact=1), "exact", "'exact' must be true or false, got a number"),
    (listed("a", exactly=True), "exactly", "unknown option 'exactly' for tool-calls"),
])
def test_bad_tool_calls_are_spec_errors(data, key, fragment):
    err = spec_error(data)
    assert fragment in err.message and err.key == key


def test_an_unknown_option_suggests_the_right_one():
    err = spec_error(listed("a", orderd=True))
    assert err.hint == "did you mean 'ordered'? tool-calls takes: ordered, exact"


# ---------------------------------------------------------------------- no-tool-call


def test_no_tool_call_without_a_value_refuses_every_call():
    ok = check({"type": "no-tool-call"}, [], output="Hello")
    assert ok.passed and ok.reason == "no tool calls"
    got = check({"type": "no-tool-call"}, [TIME_PARIS, PARIS])
    assert not got.passed and got.reason == 'called get_time({"city":"Paris"}) (and 1 more)'


def test_no_tool_call_of_some_names():
    spec = {"type": "no-tool-call", "value": ["delete_account", "get_weather"]}
    got = check(spec, [TIME_PARIS, PARIS])
    assert not got.passed and got.reason == 'called get_weather({"city":"Paris"})'
    ok = check({"type": "no-tool-call", "value": "get_weather"}, [TIME_PARIS])
    assert ok.passed and ok.reason == 'no call to get_weather (calls: ' \
                                      'get_time({"city":"Paris"}))'


def test_not_no_tool_call_wants_a_call():
    assert check({"type": "not-no-tool-call"}, [PARIS]).passed
    got = check({"type": "not-no-tool-call"}, [])
    assert not got.passed and got.reason == "no tool calls (expected some)"


@pytest.mark.parametrize("value", [3, [], ["ok", ""], {"name": "x"}])
def test_bad_no_tool_call_values(value):
    err = spec_error({"type": "no-tool-call", "value": value})
    assert "takes a tool name or a list of names" in err.message


# ------------------------------------------------------------------ tool-args-schema


def test_valid_calls_against_their_own_schemas():
    got = check({"type": "tool-args-schema"}, [PARIS, call("get_time", '{"city": "x", '
                                                                         '"tz": "UTC"}')])
    assert got.passed and got.reason == "2 calls valid against their tools' schema"
    assert check({"type": "tool-args-schema"}, []).reason == "no tool calls to check"


@pytest.mark.parametrize(("made", "reason"), [
    (call("get_weather", '{"city": "Paris", "country": "FR"}'),
     "get_weather: unexpected argument 'country' (not in its schema)"),
    (call("get_weather", '{"city": "Paris", "options": {"units": "C", "wind": 1}}'),
     "get_weather: unexpected argument 'options.wind' (not in its schema)"),
    (call("get_weather", '{"days": 2}'), "get_weather: 'city' is a required property"),
    (call("get_weather", '{"city": 7}'), "get_weather: city: 7 is not of type 'string'"),
    (call("get_time", '{}'), None),  # its schema allows more: fine
    (call("book", '{}'), "call to undeclared tool 'book'"),
    (BROKEN, "get_weather: arguments are not JSON: '{city: Paris'"),
])
def test_tool_args_schema_reasons(made, reason):
    got = check({"type": "tool-args-schema"}, [made])
    if reason is None:
        assert got.passed
    else:
        assert not got.passed and got.score == 0.0
        assert got.reason == f"{reason}; 0 of 1 calls valid"


def test_tool_args_schema_scores_the_fraction_of_valid_calls():
    got = check({"type": "tool-args-schema"}, [PARIS, TIME_PARIS, call("book", "{}"),
                                               call("get_weather", "{}")])
    assert not got.passed and got.score == 0.5
    assert got.reason == "call to undeclared tool 'book'; 2 of 4 calls valid"
    lenient = check({"type": "tool-args-schema", "threshold": 0.5}, [PARIS, BROKEN])
    assert lenient.passed and lenient.score == 0.5


def test_tool_args_schema_takes_no_value():
    err = spec_error({"type": "tool-args-schema", "value": "get_weather"})
    assert err.message == "'tool-args-schema' takes no 'value'"


def test_not_tool_args_schema():
    assert check({"type": "not-tool-args-schema"}, [call("book", "{}")]).passed
    assert not check({"type": "not-tool-args-schema"}, [PARIS]).passed


# ------------------------------------------------------------------------ transforms


TRANSCRIPT: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [PARIS.message_call()]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
    {"role": "assistant", "content": "It is sunny."},
]


def test_a_transform_reads_the_transcript_and_the_tool_calls():
    spec = {"type": "equals", "value": "4 tool:sunny Paris",
            "transform": "(transcript | length) ~ ' ' ~ transcript[2].role ~ ':' ~ "
                         "transcript[2].content ~ ' ' ~ tool_calls[0].arguments.city"}
    assert check(spec, [PARIS], output="It is sunny.", transcript=TRANSCRIPT).passed
    names = {"type": "equals", "value": '["get_weather", "get_time"]',
             "transform": "tool_calls | map(attribute='name') | list"}
    assert check(names, [PARIS, TIME_PARIS]).passed
    broken = {"type": "equals", "value": "none", "transform":
              "tool_calls[0].arguments is none and 'none' or 'parsed'"}
    assert check(broken, [BROKEN]).passed  # arguments that were not JSON: None


def test_a_transform_cannot_change_the_transcript():
    spec = {"type": "equals", "value": "x", "transform": "transcript.append(1)"}
    got = check(spec, [], transcript=list(TRANSCRIPT))
    assert not got.passed and got.reason.startswith("transform")
    assert "SecurityError" in got.reason


# ----------------------------------------------------------------- through the CLI

PROMPTS = """
prompts:
  weather:
    template: "What is the weather in {{ city }}?"
    tools:
      - name: get_weather
        description: The weather in a city
        parameters: {type: object, properties: {city: {type: string}}, required: [city]}
"""


def suite(assertion: str) -> str:
    return ("prompts: [t.weather]\nmodels: [echo]\ncases:\n  - id: paris\n"
            "    vars: {city: Paris}\n    assert:\n      - {type: no-tool-call}\n"
            f"      - {assertion}\n")


@pytest.mark.parametrize(("assertion", "fragment"), [
    ("{type: tool-calls, value: get_weather}",
     "'tool-calls' needs a list of calls as 'value', got a string"),
    ("{type: tool-call, value: {arguments: {city: Paris}}}",
     "'tool-call' needs the tool's 'name', got nothing"),
    ("{type: tool-call, value: {name: get_weather, schema: {type: 12}}}",
     "the 'schema' of get_weather: invalid JSON schema"),
    ("{type: tool-calls, value: [get_weather], exact: maybe}",
     "'exact' must be true or false"),
])
@pytest.mark.parametrize("command", ["lint", "run"])
def test_bad_tool_assertions_are_exit_2_with_file_and_line(make_project, cli, command,
                                                           assertion, fragment):
    make_project({"prompts/t.yaml": PROMPTS, "suites/s.yaml": suite(assertion)})
    result = cli(command)
    assert result.exit_code == 2, result.output + result.stderr
    assert "suites/s.yaml:8" in result.stderr and fragment in result.stderr, result.stderr


def test_a_suite_of_tool_assertions_on_a_text_reply_runs(make_project, cli):
    """The echo model answers with text: no-tool-call passes, tool-call fails saying so,
    and the templated arguments were rendered with the case's vars."""
    make_project({"prompts/t.yaml": PROMPTS, "suites/s.yaml": suite(
        '{type: tool-call, value: {name: get_weather, arguments: {city: "{{ city }}"}}}')})
    assert cli("lint").exit_code == 0
    result = cli("run", "-o", "out.json")
    assert result.exit_code == 1, result.output + result.stderr
    import json
    from pathlib import Path

    (entry,) = json.loads(Path("out.json").read_text())["results"]
    by_type = {a["type"]: a for a in entry["assertions"]}
    assert by_type["no-tool-call"]["passed"] is True
    assert by_type["tool-call"]["passed"] is False
    assert by_type["tool-call"]["reason"].startswith("no tool calls (the reply was text: "
                                                     '"What is the weather in Paris?')
