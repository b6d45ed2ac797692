"""promptfoo assertions to promptctl assertions (integrations/promptfoo/asserts.py): the
mapping table row by row, the CSV `__expected` language, `file://` values inside and
outside the config's folder, and, for everything rewritten, the verdict: the converted
assertions run through promptctl's real evaluation, and the original JavaScript runs
in node (the engine promptfoo uses), on the same outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from promptctl.assertions import AssertionContext, evaluate, validate_spec
from promptctl.assertions.inline import split_target
from promptctl.assertions.transforms import compile_transform
from promptctl.errors import UserError
from promptctl.integrations.promptfoo import jsrewrite
from promptctl.integrations.promptfoo.asserts import Converted, convert_assert, parse_expected
from promptctl.integrations.promptfoo.jsexpr import Unsupported
from promptctl.integrations.promptfoo.jspython import python_regex
from promptctl.integrations.promptfoo.notes import Where
from promptctl.integrations.promptfoo.values import comma_list, js_string
from promptctl.schema import AssertionSpec

WHERE = Where("promptfooconfig.yaml", 7)
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def kinds(c: Converted) -> list[str]:
    return [n.kind for n in c.notes]


def alias(provider: str | dict[str, Any]) -> str:
    pid = provider if isinstance(provider, str) else provider["id"]
    return pid.replace(":", "-")


# ---------------------------------------------------------------------- the table

A, L = "approximated", "left out"
TABLE: list[tuple[dict[str, Any], list[dict[str, Any]], list[str]]] = [
    ({"type": "equals", "value": "Paris"}, [{"type": "equals", "value": "Paris"}], []),
    ({"type": "equals", "value": 42}, [{"type": "equals", "value": "42"}], []),
    ({"type": "equals", "value": {"a": [1, 2]}}, [{"type": "equals", "value": {"a": [1, 2]}}],
     []),
    ({"type": "not-equals", "value": "x"}, [{"type": "not-equals", "value": "x"}], []),
    ({"type": "contains", "value": 0}, [{"type": "contains", "value": "0"}], []),
    ({"type": "icontains", "value": "Refund", "weight": 2, "metric": "tone"},
     [{"type": "icontains", "value": "Refund", "weight": 2, "metric": "tone"}], []),
    ({"type": "contains-any", "value": "a, \"b,c\", d"},
     [{"type": "contains-any", "value": ["a", "b,c", "d"]}], []),
    ({"type": "icontains-all", "value": ["x", 1]},
     [{"type": "icontains-all", "value": ["x", "1"]}], []),
    ({"type": "not-contains-all", "value": ["x"], "threshold": 0.5},
     [{"type": "not-contains-all", "value": ["x"]}], []),
    ({"type": "starts-with", "value": "Yes", "threshold": 0.75},
     [{"type": "starts-with", "value": "Yes"}], []),
    ({"type": "regex", "value": "^\\d{4}$"}, [{"type": "regex", "value": "(?a)^\\d{4}\\Z"}],
     []),
    ({"type": "regex", "value": "(?<year>\\d{4})-\\k<year>"},
     [{"type": "regex", "value": "(?a)(?P<year>\\d{4})-(?P=year)"}], []),
    ({"type": "regex", "value": "\\p{L}+"}, [], [L]),
    ({"type": "is-json"}, [{"type": "is-json"}], []),
    ({"type": "is-json", "value": "{type: object, required: [a]}"},
     [{"type": "is-json", "value": {"type": "object", "required": ["a"]}}], []),
    ({"type": "contains-json"}, [{"type": "is-json"}], [A]),
    ({"type": "is-refusal"}, [{"type": "is-refusal"}], []),
    ({"type": "not-is-refusal"}, [{"type": "not-is-refusal"}], []),
    ({"type": "levenshtein", "value": "hello"},
     [{"type": "levenshtein", "value": "hello", "max_distance": 5}], []),
    ({"type": "levenshtein", "value": "hello", "threshold": 2.5},
     [{"type": "levenshtein", "value": "hello", "max_distance": 2}], []),
    ({"type": "rouge-n", "value": "the cat", "threshold": 0.6},
     [{"type": "rouge-n", "value": "the cat", "threshold": 0.6}], [A]),
    ({"type": "bleu", "value": ["a b c", "a b d"]},
     [{"type": "bleu", "value": ["a b c", "a b d"]}], [A]),
    ({"type": "gleu", "value": "x"}, [], [L]),
    ({"type": "similar", "value": "hi"}, [{"type": "similar", "value": "hi", "threshold": 0.75}],
     []),
    ({"type": "similar", "value": "hi", "threshold": 0.9, "provider": "openai:embedding"},
     [{"type": "similar", "value": "hi", "threshold": 0.9, "embedder": "openai-embedding"}], []),
    ({"type": "similar:dot", "value": "hi"}, [], [L]),
    ({"type": "llm-rubric", "value": "Is polite", "provider": "openai:gpt-4o"},
     [{"type": "llm-rubric", "value": "Is polite", "judge": "openai-gpt-4o"}], []),
    ({"type": "llm-rubric", "value": "Is polite", "threshold": 0.8,
      "provider": {"id": "openai:chat:gpt-4o-mini", "config": {"temperature": 0}}},
     [{"type": "llm-rubric", "value": "Is polite", "threshold": 0.8,
       "judge": "openai-chat-gpt-4o-mini"}], []),
    ({"type": "not-llm-rubric", "value": "mentions a competitor"},
     [{"type": "not-llm-rubric", "value": "mentions a competitor"}], []),
    ({"type": "llm-rubric", "value": "x", "rubricPrompt": "Grade: {{output}}"},
     [{"type": "llm-rubric", "value": "x"}], [L]),
    ({"type": "factuality", "value": "Paris is the capital"},
     [{"type": "factuality", "value": "Paris is the capital"}], []),
    ({"type": "model-graded-factuality", "value": "Paris"},
     [{"type": "factuality", "value": "Paris"}], []),
    ({"type": "model-graded-closedqa", "value": "answers in French"},
     [{"type": "llm-rubric", "value": "answers in French"}], [A]),
    ({"type": "g-eval", "value": "coherent"},
     [{"type": "llm-rubric", "value": "coherent", "threshold": 0.7}], [A]),
    ({"type": "answer-relevance", "threshold": 0.8},
     [{"type": "answer-relevance", "threshold": 0.8}], [A]),
    ({"type": "select-best", "value": "funniest"}, [], [L]),
    ({"type": "max-score"}, [], [L]),
    ({"type": "context-faithfulness"}, [], [L]),
    ({"type": "moderation"}, [], [L]),
    ({"type": "webhook", "value": "https://example.com"}, [], [L]),
    ({"type": "is-xml"}, [], [L]),
    ({"type": "latency", "threshold": 500}, [{"type": "latency", "max_ms": 500}], []),
    ({"type": "latency"}, [], [L]),
    ({"type": "cost", "threshold": 0.002}, [{"type": "cost", "max": 0.002}], []),
    ({"type": "cost", "metric": "spend", "weight": 0}, [], [A, L]),
    ({"type": "perplexity", "threshold": 12}, [{"type": "perplexity", "max": 12}], []),
    ({"type": "perplexity-score", "threshold": 0.25}, [{"type": "perplexity", "max": 3.0}],
     []),
    ({"type": "perplexity", "threshold": 0.5}, [], [L]),
    ({"type": "word-count", "value": 5}, [{"type": "length", "min_words": 5, "max_words": 5}],
     []),
    ({"type": "not-word-count", "value": {"max": 20}},
     [{"type": "not-length", "max_words": 20}], []),
    ({"type": "python", "value": "len(output) < 80"},
     [{"type": "python", "value": "len(output) < 80"}], []),
    ({"type": "python", "value": "output.count('x')", "threshold": 0.3},
     [{"type": "python", "value": "output.count('x')", "threshold": 0.3}], []),
    ({"type": "python", "value": "len(output)", "config": {"limit": 3}},
     [{"type": "python", "value": "len(output)"}], [L]),
    ({"type": "contains", "value": "x", "transform": "output.trim().toLowerCase()"},
     [{"type": "contains", "value": "x", "transform": "output | trim | lower"}], []),
    ({"type": "equals", "value": "ok", "transform": "JSON.parse(output).status"},
     [{"type": "equals", "value": "ok", "transform": '(output | from_json)["status"]'}], []),
    ({"type": "contains", "value": "x", "transform": "output.replace(/a/g, 'b')"}, [], [L]),
    ({"type": "contains", "value": "x", "transform": "file://t.js"}, [], [L]),
    ({"type": "contains", "value": "x", "weight": 0}, [{"type": "contains", "value": "x",
                                                       "weight": 0}], [A]),
    ({"type": "contains", "value": "x", "contextTransform": "output"},
     [{"type": "contains", "value": "x"}], [L]),
    ({"type": "contains", "value": "x", "colour": "red"}, [{"type": "contains", "value": "x"}],
     [L]),
    ({"type": "contains"}, [], [L]),
    ({"type": "no-such-type"}, [], [L]),
    ({"value": "x"}, [], [L]),
    ({"$ref": "#/assertionTemplates/x", "type": "contains"}, [], [L]),
    # javascript
    ({"type": "javascript", "value": "output.includes('Hello')"},
     [{"type": "contains", "value": "Hello"}], []),
    ({"type": "javascript", "value": "output.toLowerCase().includes('hello')"},
     [{"type": "icontains", "value": "hello"}], []),
    ({"type": "javascript", "value": "output.toLowerCase().includes('Hello')"},
     [{"type": "contains", "value": "Hello", "transform": "output | lower"}], []),
    ({"type": "not-javascript", "value": "output.startsWith('Sorry')"},
     [{"type": "not-starts-with", "value": "Sorry"}], []),
    ({"type": "javascript", "value": "output.endsWith('?')"},
     [{"type": "regex", "value": "\\?\\Z"}], []),
    ({"type": "javascript", "value": "output.length <= 280", "weight": 3},
     [{"type": "length", "max_chars": 280, "weight": 3}], []),
    ({"type": "javascript", "value": "output.length > 10 && output.length < 100"},
     [{"type": "length", "min_chars": 11, "max_chars": 99}], []),
    ({"type": "javascript", "value": "output.includes('a') && !output.includes('b')",
      "metric": "m"},
     [{"type": "contains", "value": "a", "metric": "m", "weight": 0.5},
      {"type": "not-contains", "value": "b", "metric": "m", "weight": 0.5}], []),
    ({"type": "javascript", "value": "output.includes('a') || output.includes('b')"},
     [{"type": "contains-any", "value": ["a", "b"]}], []),
    ({"type": "javascript", "value": "output.includes(context.vars.city)"},
     [{"type": "contains", "value": "{{ city }}"}], []),
    ({"type": "javascript", "value": "output.trim() === context.vars.expected"},
     [{"type": "equals", "value": "{{ expected }}", "transform": "output | trim"}], []),
    ({"type": "javascript", "value": "/^(yes|no)$/i.test(output)"},
     [{"type": "regex", "value": "(?i)^(yes|no)\\Z"}], []),
    ({"type": "javascript", "value": "JSON.parse(output).answer === 42"},
     [{"type": "json-schema", "value": {"type": "object", "required": ["answer"],
                                        "properties": {"answer": {"const": 42}}}}], []),
    ({"type": "javascript", "value": "JSON.parse(output).score >= 0.5"},
     [{"type": "json-schema", "value": {"type": "object", "required": ["score"],
                                        "properties": {"score": {"type": "number",
                                                                 "minimum": 0.5}}}}], [A]),
    ({"type": "javascript", "value": "output.includes('a') || output.startsWith('b')"},
     [{"type": "python", "value": "(('a' in output) or output.startswith('b'))"}], []),
    ({"type": "javascript", "value": "return output.split('\\n').length === 3;\n"},
     [{"type": "python", "value": "(len(output.split('\\n')) == 3)"}], []),
    ({"type": "javascript", "value": "output.length"}, [], [L]),
    ({"type": "javascript", "value": "const x = 1;\nreturn x"}, [], [L]),
    ({"type": "javascript", "value": "fetch('http://x')"}, [], [L]),
    ({"type": "javascript", "value": "file://check.js"}, [], [L]),
    # assert-set
    ({"type": "assert-set", "assert": [{"type": "contains", "value": "a"},
                                       {"type": "contains", "value": "b", "weight": 3}]},
     [{"type": "contains", "value": "a", "weight": 0.25},
      {"type": "contains", "value": "b", "weight": 0.75}], []),
    ({"type": "assert-set", "threshold": 0.5, "metric": "set",
      "assert": [{"type": "contains", "value": "a"}, {"type": "select-best", "value": "x"}]},
     [{"type": "contains", "value": "a", "metric": "set"}], [L, A]),
]


@pytest.mark.parametrize(("item", "expected", "notes"), TABLE,
                         ids=[json.dumps(row[0])[:60] for row in TABLE])
def test_the_mapping_table(item, expected, notes, tmp_path):
    (tmp_path / "check.js").write_text("module.exports = () => true\n")
    c = convert_assert(item, WHERE, judge_alias=alias, base_dir=tmp_path)
    assert c.asserts == expected
    assert kinds(c) == notes
    for n in c.notes:
        assert str(n).startswith("promptfooconfig.yaml:7: ")
    for spec in c.asserts:  # every mapping is a promptctl assertion promptctl accepts
        if spec["type"] != "python" or split_target(spec["value"]) is None:  # not a file's
            validate_spec(AssertionSpec.model_validate(spec), root=tmp_path)


def test_a_provider_without_a_judge_mapping_is_a_note():
    c = convert_assert({"type": "llm-rubric", "value": "x", "provider": "openai:gpt-4o"}, WHERE)
    assert c.asserts == [{"type": "llm-rubric", "value": "x"}]
    assert kinds(c) == [A] and "openai:gpt-4o" in c.notes[0].message


# ------------------------------------------------------------------------- __expected

CSV = [
    ("Bonjour le monde", [{"type": "equals", "value": "Bonjour le monde"}], []),
    ("  padded  ", [{"type": "equals", "value": "padded"}], []),
    ("Paris: the capital", [{"type": "equals", "value": "Paris: the capital"}], []),
    ("contains:Paris", [{"type": "contains", "value": "Paris"}], []),
    ("icontains: paris ", [{"type": "icontains", "value": "paris"}], []),
    ("not-contains:error", [{"type": "not-contains", "value": "error"}], []),
    ("contains-any:Paris, London", [{"type": "contains-any", "value": ["Paris", "London"]}], []),
    ("contains-all:a,b", [{"type": "contains-all", "value": ["a", "b"]}], []),
    ("starts-with:The answer", [{"type": "starts-with", "value": "The answer"}], []),
    ("regex:^Hello.*world$", [{"type": "regex", "value": "^Hello.*world\\Z"}], []),
    ("is-json", [{"type": "is-json"}], []),
    ("contains-json", [{"type": "is-json"}], [A]),
    ("similar:Hello world", [{"type": "similar", "value": "Hello world", "threshold": 0.8}], []),
    ("similar(0.9):Hello", [{"type": "similar", "value": "Hello", "threshold": 0.9}], []),
    ("levenshtein(5):expected text",
     [{"type": "levenshtein", "value": "expected text", "max_distance": 5}], []),
    ("rouge-n:the cat sat", [{"type": "rouge-n", "value": "the cat sat", "threshold": 0.75}],
     [A]),
    ("llm-rubric:Is helpful", [{"type": "llm-rubric", "value": "Is helpful"}], []),
    ("grade:doesn't reference any fruits",
     [{"type": "llm-rubric", "value": "doesn't reference any fruits"}], []),
    ("factuality:Paris is the capital of France",
     [{"type": "factuality", "value": "Paris is the capital of France"}], []),
    ("fn:output.includes('Au revoir');", [{"type": "contains", "value": "Au revoir"}], []),
    ("javascript:output.length < 100", [{"type": "length", "max_chars": 99}], []),
    ("python:len(output) > 10", [{"type": "python", "value": "len(output) > 10"}], []),
    ("not-javascript:output.includes('x')", [{"type": "not-contains", "value": "x"}], []),
    ("webhook:https://x", [], [L]),
    ("", [], []),
]


@pytest.mark.parametrize(("cell", "expected", "notes"), CSV, ids=[c[0] or "blank" for c in CSV])
def test_the_expected_column_language(cell, expected, notes):
    c = parse_expected(cell, WHERE)
    assert (c.asserts, kinds(c)) == (expected, notes)


def test_an_expected_python_file_is_copied(tmp_path):
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "grade.py").write_text("def score(output, context):\n    return 1\n")
    c = parse_expected("file://checks/grade.py:score", WHERE, base_dir=tmp_path)
    assert c.asserts == [{"type": "python", "value": "checks/grade.py:score"}]
    assert c.files == {str((tmp_path / "checks" / "grade.py").resolve()): "checks/grade.py"}


def test_comma_lists_and_js_strings():
    assert comma_list('a,"b ""c"", d", e ') == ["a", 'b "c", d', "e"]
    assert [js_string(v) for v in (True, None, 3, 3.0, 0.5, "x")] == \
        ["true", "null", "3", "3", "0.5", "x"]


# ------------------------------------------------------------------------ file values


def test_file_values_are_read_as_promptfoo_reads_them(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "speech.txt").write_text("  Four score and seven  \n")
    (tmp_path / "data" / "schema.json").write_text('{"type": "object", "required": ["a"]}')
    (tmp_path / "data" / "expected.yaml").write_text("a: [1, 2]\n")
    (tmp_path / "checks.py").write_text("def get_assert(output, context):\n    return True\n")
    got = convert_assert({"type": "contains", "value": "file://data/speech.txt"}, WHERE,
                         base_dir=tmp_path)
    assert got.asserts == [{"type": "contains", "value": "Four score and seven"}]
    got = convert_assert({"type": "is-json", "value": "file://data/schema.json"}, WHERE,
                         base_dir=tmp_path)
    assert got.asserts == [{"type": "is-json", "value": {"type": "object", "required": ["a"]}}]
    got = convert_assert({"type": "equals", "value": "file://data/expected.yaml"}, WHERE,
                         base_dir=tmp_path)
    assert got.asserts == [{"type": "equals", "value": {"a": [1, 2]}}]
    got = convert_assert({"type": "python", "value": "file://checks.py"}, WHERE,
                         base_dir=tmp_path)
    assert got.asserts == [{"type": "python", "value": "checks.py:get_assert"}]
    assert got.files == {str((tmp_path / "checks.py").resolve()): "checks.py"}
    assert kinds(got) == [A]  # promptfoo's context is only partly there
    got = convert_assert({"type": "contains", "value": "file://checks.py"}, WHERE,
                         base_dir=tmp_path)
    assert (got.asserts, kinds(got)) == ([], [L])


@pytest.mark.parametrize("written", ["../secret.txt", "/etc/hostname.txt", "link.txt",
                                     "missing.txt", "../outside.py"])
def test_a_file_value_outside_the_config_folder_is_refused(tmp_path, written):
    base = tmp_path / "cfg"
    base.mkdir()
    (tmp_path / "secret.txt").write_text("s3cret")
    (tmp_path / "outside.py").write_text("def get_assert(o, c):\n    return True\n")
    os.symlink(tmp_path / "secret.txt", base / "link.txt")
    kind = "python" if written.endswith(".py") else "contains"
    with pytest.raises(UserError) as info:
        convert_assert({"type": kind, "value": f"file://{written}"}, WHERE, base_dir=base)
    assert info.value.file == "promptfooconfig.yaml" and info.value.line == 7
    assert "s3cret" not in info.value.message


# ------------------------------------------------------- verdicts: promptctl vs node


def _node(script: str, payload: Any) -> Any:
    assert NODE is not None
    run = subprocess.run([NODE, "-e", script], input=json.dumps(payload), text=True,
                         capture_output=True, timeout=60, check=True)
    return json.loads(run.stdout)


JS_VERDICT = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([code, outputs, vars]) => {
  // promptfoo's buildFunctionBody: one line without `return` is an expression
  const trimmed = code.trim().replace(/;+\s*$/, '');
  const body = (trimmed.includes('\n') || /\breturn\b/.test(trimmed)) ? trimmed
    : 'return ' + trimmed;
  const fn = new Function('output', 'context', body);
  return outputs.map((o) => {
    try { const r = fn(o, {vars}); return typeof r === 'boolean' ? r : 'not a boolean'; }
    catch (e) { return 'threw'; }
  });
});
process.stdout.write(JSON.stringify(out));
"""

OUTPUTS = ["", "Hello world", "hello WORLD.", "  yes \n", "YES", "no\n", "Paris?",
           "a" * 12, "I am sorry, but I cannot", "x\ny\nz", "line1\nline2",
           '{"answer": 42, "status": "ok", "score": 0.7, "a": {"b": 3}}',
           '{"answer": "42", "a": {"b": 4}, "score": "0.9"}', '{"a": null}', "null",
           "[1, 2]", "not json {", "Straße", "école", "٣٤٥٦", "2024", "abab",
           "a,b,c", "Bonjour Paris"]
VARS = {"city": "Paris", "expected": "yes"}
REWRITES = [
    "output.includes('Hello')", "output.toLowerCase().includes('hello')",
    "output.toUpperCase().includes('YES')", "output.toLowerCase().includes('World')",
    "!output.includes('sorry')", "output.startsWith('I am')", "output.trim().startsWith('y')",
    "output.endsWith('?')", "output.trim().endsWith('s')", "output === 'YES'",
    "output.trim() === 'yes'", "output !== ''", "output.length < 5", "output.length >= 12",
    "output.length > 3 && output.length <= 12", "output.length === 0",
    "output.length != 12", "output.trim().length === 3",
    "output.includes('a') && !output.includes('b')",
    "output.includes('Paris') || output.includes('WORLD')",
    "!(output.includes('x') || output.includes('y'))",
    "!(output.includes('a') && output.includes('b'))",
    "output.includes('a') || output.startsWith('Bon')",
    "output.split('\\n').length === 3", "output.trim().toLowerCase() === 'yes'",
    "/^(yes|no)$/i.test(output.trim())", "/^\\d+$/.test(output)", "/world\\.$/.test(output)",
    "/^line2$/m.test(output)", "/a.b/s.test(output)", "/(ab)\\1/.test(output)",
    "/\\bParis\\b/.test(output)", "/[^a-z]/.test(output)", "/é/i.test(output)",
    "JSON.parse(output).answer === 42", "JSON.parse(output).status === 'ok'",
    "JSON.parse(output).a.b === 3", "JSON.parse(output).a.b !== 3",
    "JSON.parse(output).answer !== 42", "JSON.parse(output) === null",
    "JSON.parse(output)['status'] === 'ok'",
    "output.includes(context.vars.city)", "output.trim() === context.vars.expected",
    "return output.length > 3;", "output.replace('a', '') === 'bab'",
    "output.trimEnd() === 'no'", "!output",
]


def _promptctl_verdict(specs: list[dict[str, Any]], output: str) -> bool:
    ok = True
    for data in specs:
        data = dict(data)
        value = data.get("value")
        if isinstance(value, str) and value.startswith("{{"):  # a suite renders it
            data["value"] = VARS[value.strip("{} ")]
        if data["type"] == "python":
            ok = _inline_python(data["value"], output) and ok
            continue
        spec = AssertionSpec.model_validate(data)
        validate_spec(spec)
        ok = evaluate(spec, output, AssertionContext(vars=VARS)).passed and ok
    return ok


def _inline_python(code: str, output: str) -> bool:
    """The inline python check's verdict, through promptctl (compiled there, run in
    its worker process with promptfoo's `context["vars"]`)."""
    spec = AssertionSpec.model_validate({"type": "python", "value": code})
    validate_spec(spec)
    return evaluate(spec, output, AssertionContext(vars=VARS)).passed


@needs_node
def test_rewritten_javascript_gives_the_verdict_node_gives():
    """promptfoo's verdict: the JavaScript's boolean, negated for not-javascript; a
    check that throws (JSON.parse of a non-JSON output) fails either way."""
    results = _node(JS_VERDICT, [[code, OUTPUTS, VARS] for code in REWRITES])
    for code, verdicts in zip(REWRITES, results, strict=True):
        for negated in (False, True):
            converted = convert_assert({"type": "not-javascript" if negated else "javascript",
                                        "value": code}, WHERE)
            assert converted.asserts, (code, converted.notes)
            for output, verdict in zip(OUTPUTS, verdicts, strict=True):
                assert verdict in (True, False, "threw"), (code, output, verdict)
                want = False if verdict == "threw" else verdict != negated
                got = _promptctl_verdict(converted.asserts, output)
                assert got == want, (code, negated, output, converted.asserts)


JS_REGEX = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const test = ([p, outs]) => outs.map((o) => new RegExp(p).test(o));  // promptfoo's regex
process.stdout.write(JSON.stringify(cases.map(test)));
"""
PATTERNS = ["^\\d{4}$", "^Hello.*world$", "\\w+@\\w+", "^$", "colou?r", "(?<w>a)b\\k<w>",
            "[$]", "\\$\\d", "(?=x)x", "^[^\\n]*$", "a{2,}", "\\bé"]
REGEX_OUTPUTS = ["2024", "2024\n", "Hello big world", "Hello world\n", "me@x", "", "\n",
                 "color", "colour", "aba", "$5", "x", "multi\nline", "aaa", "é", "café",
                 "٣٤٥٦"]


@needs_node
def test_regex_patterns_match_what_javascript_matches():
    expected = _node(JS_REGEX, [[p, REGEX_OUTPUTS] for p in PATTERNS])
    for pattern, verdicts in zip(PATTERNS, expected, strict=True):
        (spec,) = convert_assert({"type": "regex", "value": pattern}, WHERE).asserts
        compiled = AssertionSpec.model_validate(spec)
        validate_spec(compiled)
        for output, verdict in zip(REGEX_OUTPUTS, verdicts, strict=True):
            got = evaluate(compiled, output, AssertionContext()).passed
            assert got == verdict, (pattern, python_regex(pattern), output)


JS_TRANSFORM = r"""
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(([code, outs]) => outs.map((o) => {
  const r = new Function('output', 'context', 'return ' + code)(o, {vars: {}});
  return typeof r === 'string' ? r : JSON.stringify(r);
}))));
"""
TRANSFORMS = ["output.trim()", "output.toLowerCase()", "output.toUpperCase().trim()",
              "JSON.parse(output).status", "JSON.parse(output).a.b", "output.split(',')[1]",
              "output.trimStart()", "output.replace('a', 'A')", "output.split(',').length"]
TRANSFORM_OUTPUTS = ['  {"status": "Ok", "a": {"b": "x,y"}}\n', '{"status": "no", "a": {"b": 2}}']


@needs_node
def test_transforms_compute_what_javascript_computes():
    expected = _node(JS_TRANSFORM, [[t, TRANSFORM_OUTPUTS] for t in TRANSFORMS])
    for src, results in zip(TRANSFORMS, expected, strict=True):
        compiled = compile_transform(jsrewrite.transform(src))
        for output, result in zip(TRANSFORM_OUTPUTS, results, strict=True):
            assert compiled(output, AssertionContext()) == result, (src, output)


@pytest.mark.parametrize("src", ["output.foo()", "output[output.length - 1]", "a + b",
                                 "output.includes('a') ? 1 : 0", "eval('1')",
                                 "output.match(/x/)", "`${output}`", "output // comment",
                                 "process.exit(1)", "output.split('')"])
def test_javascript_outside_the_whitelist_is_not_translated(src):
    with pytest.raises(Unsupported):
        jsrewrite.rewrite(src)
    with pytest.raises(Unsupported):
        jsrewrite.transform(src)


# --------------------------------------------------------- the converted suite runs


def test_converted_assertions_lint_and_run_as_a_suite(make_project, cli):
    """A suite of converted assertions through the real CLI on the echo model: each
    case's output is its prompt, so the expected verdicts are known."""
    items = {
        "hello": ({"type": "javascript", "value": "output.includes(context.vars.city)"}, True),
        "shout": ({"type": "javascript", "value": "output.toLowerCase().includes('paris')"},
                  True),
        "short": ({"type": "javascript", "value": "output.length < 5"}, False),
        "json": ({"type": "javascript", "value": "JSON.parse(output).city === 'Paris'"},
                 False),
        "csv": (None, True),
    }
    cases = []
    for case_id, (item, _) in items.items():
        converted = parse_expected("icontains:PARIS", WHERE) if item is None \
            else convert_assert(item, WHERE)
        assert converted.asserts and not converted.notes
        cases.append({"id": case_id, "vars": {"city": "Paris"}, "assert": converted.asserts})
    suite = {"prompts": ["p.q"], "models": ["echo"], "cases": cases}
    make_project({"prompts/p.yaml": "prompts:\n  q: {template: 'Welcome to {{ city }}!'}\n",
                  "suites/s.yaml": yaml.safe_dump(suite, sort_keys=False)})
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output
    run = cli("run", "-m", "echo", "-o", "out.json")
    assert run.exit_code == 1, run.output  # two cases fail, as they would in promptfoo
    records = json.loads(Path("out.json").read_text())
    assert _passed_by_case(records) == {k: v for k, (_, v) in items.items()}


def _passed_by_case(report: Any) -> dict[str, bool]:
    found: dict[str, bool] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            case = node.get("case") or node.get("case_id")
            if isinstance(case, str) and isinstance(node.get("passed"), bool):
                found[case] = node["passed"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(report)
    return found
