"""The `dump` and `load` template filters (promptfoo's Nunjucks JSON.stringify and
JSON.parse), through the real CLI: `render` of a real project in tmp_path."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from promptctl.load import jsjson

COLLECTION = """
prompts:
  p:
    template: "{{ value | dump }}"
  indented:
    template: "{{ value | dump(2) }}"
  tabbed:
    template: "{{ value | dump('\\t') }}"
  tojson:
    template: "{{ value | tojson }}"
  parsed:
    template: "{{ (text | load).answer.team }} {{ (text | load).rows | length }}"
"""


def rendered(cli, prompt: str, variables: dict) -> str:
    """The prompt rendered with these vars (exact JSON types: a JSONL row's), as
    `render --case` prints it."""
    with open("data/v.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "c", **variables}) + "\n")
    result = cli("render", prompt, "--json", "--case", "s:c")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["content"]


SUITE = """
prompts: [f.p]
models: [echo]
cases:
  - from: data/v.jsonl
"""


@pytest.fixture
def project(make_project):
    return make_project({"prompts/f.yaml": COLLECTION, "suites/s.yaml": SUITE,
                         "data/v.jsonl": ""})


VALUE = {"z": 1.0, "a": [1e21, 1e-7, 0.5, -0.0, 12, True, None],
         "text": "<b>é & ü</b> \"q\"\n\t\x01", "empty": [], "none": {}}


def test_dump_is_compact_ordered_and_unescaped(project, cli):
    out = rendered(cli, "f.p", {"value": VALUE})
    assert out == ('{"z":1,"a":[1e+21,1e-7,0.5,0,12,true,null],'
                   '"text":"<b>é & ü</b> \\"q\\"\\n\\t\\u0001","empty":[],"none":{}}')
    assert json.loads(out)["text"] == VALUE["text"]


def test_dump_differs_from_tojson(project, cli):
    """tojson sorts keys, puts spaces after separators and HTML-escapes; dump does not."""
    value = {"b": "<x>", "a": 1}
    assert rendered(cli, "f.p", {"value": value}) == '{"b":"<x>","a":1}'
    assert rendered(cli, "f.tojson", {"value": value}) == '{"a": 1, "b": "\\u003cx\\u003e"}'


def test_dump_with_spaces_indents_like_json_stringify(project, cli):
    value = {"a": [1, {"b": []}], "c": {}}
    assert rendered(cli, "f.indented", {"value": value}) == (
        '{\n  "a": [\n    1,\n    {\n      "b": []\n    }\n  ],\n  "c": {}\n}')
    assert rendered(cli, "f.tabbed", {"value": [1]}) == "[\n\t1\n]"


def test_load_parses_json_text(project, cli):
    text = json.dumps({"answer": {"team": "billing"}, "rows": [1, 2, 3]})
    assert rendered(cli, "f.parsed", {"text": text}) == "billing 3"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_dump_matches_node_json_stringify(tmp_path):
    """JavaScript's own JSON.stringify, on the same values (sent to node as exact
    bits, so that no parser stands between the two)."""
    import random

    rng = random.Random(7)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
              for _ in range(2000)]
    floats += [rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-25, 25) for _ in range(2000)]
    floats += [round(rng.uniform(-1e3, 1e3), rng.randint(0, 8)) for _ in range(2000)]
    floats += [0.1, 1e21, 1e20, 123e-20, 1e-6, 1e-7, 2 ** 53, -1.5]
    script = ("const h=JSON.parse(require('fs').readFileSync(0,'utf8'));"
              "process.stdout.write(JSON.stringify(h.map(x=>JSON.stringify("
              "Buffer.from(x,'hex').readDoubleLE(0)))))")
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True,
                          input=json.dumps([struct.pack("d", f).hex() for f in floats]),
                          check=True)
    expected = json.loads(proc.stdout)
    assert [jsjson.js_number(f) for f in floats] == expected
    text = {"k\u2028": ["é", "\x7f", "\x1f", "😀", "\\", "/", "</script>"], "n": {"x": None}}
    proc = subprocess.run(["node", "-e", "const v=JSON.parse(require('fs').readFileSync(0,"
                           "'utf8'));process.stdout.write(JSON.stringify(v)+'\\n'+"
                           "JSON.stringify(v,null,3))"], capture_output=True, text=True,
                          input=json.dumps(text), check=True, encoding="utf-8")
    compact, spaced = proc.stdout.split("\n", 1)
    assert jsjson.dump(_env(), text) == compact
    assert jsjson.dump(_env(), text, 3) == spaced


def _env():
    from promptctl.load import templates

    return templates.environment("/nonexistent-prompts-dir")


def test_dump_past_the_prompt_budget_is_exit_2_at_the_template(make_project, cli):
    make_project({
        "promptctl.yaml": "limits: {max_prompt_chars: 1000}\n",
        "prompts/f.yaml": "prompts:\n  p:\n    template: \"{{ value | dump }}\"\n"
                          f"    vars: {{value: {json.dumps(['x' * 50] * 100)}}}\n"})
    result = cli("render", "f.p")
    assert result.exit_code == 2
    assert "prompts/f.yaml:3" in result.output
    assert "longer than 1,000 characters" in result.output


def test_load_refuses_huge_deep_and_bad_json_cleanly(make_project, cli):
    make_project({
        "promptctl.yaml": "limits: {max_prompt_chars: 100000}\n",
        "prompts/f.yaml": "prompts:\n  p:\n    template: \"{{ (text | load) | length }}\"\n"})
    huge = cli("render", "f.p", "--var", "text=" + json.dumps([1] * 60000))
    assert huge.exit_code == 2 and "load: JSON text longer than 100,000" in huge.output
    assert "prompts/f.yaml:3" in huge.output
    deep = cli("render", "f.p", "--var", "text=" + "[" * 5000 + "]" * 5000)
    assert deep.exit_code == 2 and "nested more than" in deep.output
    bad = cli("render", "f.p", "--var", "text=not json")
    assert bad.exit_code == 2
    assert "load: the text is not JSON: Expecting value at line 1 column 1" in bad.output
    nan = cli("render", "f.p", "--var", "text=[NaN]")
    assert nan.exit_code == 2 and "not JSON" in nan.output
    ok = cli("render", "f.p", "--var", "text=[1, 2]")
    assert ok.exit_code == 0 and ok.stdout.strip().endswith("2")


def test_dump_of_a_value_json_cannot_hold_names_its_type():
    import datetime

    from promptctl.errors import UserError

    for value, kind in ((datetime.date(2024, 1, 2), "date"), ({1, 2}, "set"),
                        ([b"x"], "bytes")):
        with pytest.raises(UserError, match=f"dump: a {kind} cannot be written as JSON"):
            jsjson.dump(_env(), value)
