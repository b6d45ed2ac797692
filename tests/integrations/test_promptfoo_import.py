"""`promptctl import promptfoo CONFIG`: the real CLI on promptfoo configs written in
tmp_path from promptfoo's documented format; the imported project must lint clean and
render on `-m echo` what promptfoo renders (the expected texts are written by hand from
promptfoo's semantics: Nunjucks without block trimming, undefined variables empty,
file vars trimmed, list vars expanded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import write_files

from promptctl.integrations.promptfoo.config import convert


def _import(cli, tmp_path: Path, files: dict[str, str], *extra: str):
    write_files(tmp_path / "pf", files)
    return cli("import", "promptfoo", str(tmp_path / "pf" / "promptfooconfig.yaml"),
               "--out", str(tmp_path / "out"), *extra)


def _renders(cli, tmp_path: Path) -> dict[tuple[str, str], str]:
    """lint must be clean; then the echo outputs by (case, prompt)."""
    cfg = str(tmp_path / "out" / "promptctl.yaml")
    lint = cli("lint", "-c", cfg)
    assert lint.exit_code == 0, lint.output
    out = tmp_path / "results.json"
    run = cli("run", "-c", cfg, "-m", "echo", "-o", str(out), "-q")
    assert run.exit_code in (0, 1), run.output
    results = json.loads(out.read_text())["results"]
    return {(r["case"], r["prompt"].split(".", 1)[1]): r["output"] for r in results
            if r["repeat"] == 0}


def _yaml(tmp_path: Path, rel: str):
    return yaml.safe_load((tmp_path / "out" / rel).read_text())


BASIC = {
    "promptfooconfig.yaml": """
        description: Translate things
        prompts:
          - "Translate to {{language}}: {{input}}"
          - file://prompts.txt
          - file://chat.json
        providers: [echo]
        defaultTest:
          vars: {tone: polite}
          assert:
            - type: icontains
              value: "{{language}}"
        tests:
          - description: French greeting
            vars: {language: French, input: Hello world}
            assert:
              - {type: contains, value: Translate}
          - vars: {language: German, input: How are you?}
        """,
    "prompts.txt": "Say {{ input }} in {{ language }}\n---\n"
                   "{% if tone %}\nBe {{ tone }}.\n{% endif %}\n{{ input }}\n",
    "chat.json": '[{"role": "system", "content": "You translate to {{ language }}."},'
                 ' {"role": "user", "content": "{{ input }}|{{ extra }}"}]',
}


def test_prompts_tests_and_default_test_map_and_render_as_promptfoo(cli, tmp_path):
    res = _import(cli, tmp_path, BASIC)
    assert res.exit_code == 0, res.output
    assert "wrote" in res.stdout and "note:" not in res.stderr
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert suite["description"] == "Translate things"
    assert suite["models"] == ["echo"]
    assert suite["defaults"] == {"vars": {"tone": "polite"},
                                 "assert": [{"type": "icontains", "value": "{{language}}"}]}
    assert [c["id"] for c in suite["cases"]] == ["french-greeting", "german-how-are-you"]
    prompts = _yaml(tmp_path, "prompts/promptfoo.yaml")["prompts"]
    assert list(prompts) == ["prompt-1", "prompts-1", "prompts-2", "chat"]
    # promptfoo renders an undefined variable as nothing: said in the project
    assert prompts["chat"]["vars"] == {"extra": ""}
    out = _renders(cli, tmp_path)
    assert out[("french-greeting", "prompt-1")] == "Translate to French: Hello world"
    assert out[("french-greeting", "prompts-1")] == "Say Hello world in French"
    # Nunjucks keeps the newlines around block tags
    assert out[("german-how-are-you", "prompts-2")] == "\nBe polite.\n\nHow are you?"
    assert out[("german-how-are-you", "chat")] == "You translate to German.\nHow are you?|"
    assert len(out) == 8


def test_labels_and_order_for_the_results_importer(tmp_path):
    write_files(tmp_path, BASIC)
    imported = convert(tmp_path / "promptfooconfig.yaml")
    assert imported.prompts[0] == ("Translate to {{language}}: {{input}}",
                                   "promptfoo.prompt-1")
    assert imported.prompts[1] == ("prompts.txt: Say {{ input }} in {{ language }}",
                                   "promptfoo.prompts-1")
    assert imported.prompts[3][0].startswith('chat.json: [{"role":"system"')
    assert imported.providers == [("echo", None, "echo")]
    assert [(t.case_id, t.vars, t.description) for t in imported.tests] == [
        ("french-greeting", {"tone": "polite", "language": "French",
                             "input": "Hello world"}, "French greeting"),
        ("german-how-are-you", {"tone": "polite", "language": "German",
                                "input": "How are you?"}, None)]


def test_list_vars_expand_and_ids_are_unique(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ a }} {{ b }}"]
        providers: [echo]
        tests:
          - vars: {a: [x, y], b: ['1', '2']}
            assert: [{type: contains, value: x}]
          - description: Same
            vars: {a: p, b: q}
            assert: [{type: contains, value: p}]
          - description: Same
            vars: {a: r, b: s}
            assert: [{type: contains, value: r}]
          - vars: {a: [[1, 2]], b: t}
            assert: [{type: contains, value: t}]
            options: {disableVarExpansion: true}
        """})
    assert res.exit_code == 0, res.output
    ids = [c["id"] for c in _yaml(tmp_path, "suites/promptfoo.yaml")["cases"]]
    # promptfoo's order: first key outermost; a list of non-strings is one value
    assert ids == ["test[x-1]", "test[x-2]", "test[y-1]", "test[y-2]", "same", "same-2",
                   "1-2-t"]
    out = _renders(cli, tmp_path)
    assert out[("test[y-1]", "prompt-1")] == "y 1"
    assert out[("same-2", "prompt-1")] == "r s"


def test_providers_openai_compatible_and_placeholders(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["Hi {{ name }}"]
        providers:
          - openai:gpt-4o-mini
          - id: openai:chat:gpt-4o
            label: smart
            config: {temperature: 0.2, max_tokens: 50, apiKey: sk-secret-123}
          - id: openai:chat:llama
            config: {apiBaseUrl: "http://127.0.0.1:8080/v1", apiKeyEnvar: LOCAL_KEY}
          - anthropic:messages:claude-3-5-sonnet
        tests:
          - vars: {name: Ann}
            assert: [{type: contains, value: Ann}]
        """})
    assert res.exit_code == 1, res.output
    text = (tmp_path / "out" / "promptctl.yaml").read_text()
    assert "sk-secret" not in text
    assert "# placeholder: promptfoo provider 'anthropic:messages:claude-3-5-sonnet'" in text
    models = yaml.safe_load(text)["models"]
    assert models["gpt-4o-mini"] == {"provider": "openai", "model": "gpt-4o-mini"}
    assert models["smart"] == {"provider": "openai", "model": "gpt-4o",
                               "params": {"temperature": 0.2, "max_tokens": 50}}
    assert models["llama"] == {"provider": "openai", "model": "llama",
                               "base_url": "http://127.0.0.1:8080/v1",
                               "api_key_env": "LOCAL_KEY"}
    assert models["placeholder-anthropic-messages-claude-3-5-sonnet"] == {"provider": "echo"}
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note:")]
    assert any("promptfooconfig.yaml:6: left out: apiKey" in n for n in notes), notes
    assert any(":9: approximated: provider 'anthropic:" in n for n in notes), notes
    assert "2 items approximated or left out" in res.stderr
    assert _renders(cli, tmp_path)[("ann", "prompt-1")] == "Hi Ann"


CSV_CONFIG = {
    "promptfooconfig.yaml": """
        prompts: ["Q: {{ question }}"]
        providers: [echo]
        tests: file://cases.csv
        """,
    "cases.csv": "question,__expected,__description,__threshold\n"
                 "What is 2+2?,4,Sums,0.5\n"
                 "\"Capital, of France\",Paris,,\n",
}


def test_csv_tests_become_a_data_file(cli, tmp_path):
    res = _import(cli, tmp_path, CSV_CONFIG)
    assert res.exit_code == 0, res.output
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert suite["cases"] == [{"from": "data/cases.jsonl"}]
    rows = [json.loads(ln) for ln in
            (tmp_path / "out/data/cases.jsonl").read_text().splitlines()]
    assert rows[0]["id"] == "sums" and rows[0]["threshold"] == 0.5
    assert rows[0]["description"] == "Sums"
    # promptfoo's own "Row #2" names no case: the row is named from its vars
    assert rows[1]["id"] == "capital-of-france" and "description" not in rows[1]
    assert rows[1]["assert"][0]["value"] == "Paris"
    imported = convert(tmp_path / "pf" / "promptfooconfig.yaml")
    assert [t.description for t in imported.tests] == ["Sums", "Row #2"]
    out = _renders(cli, tmp_path)
    assert out[("capital-of-france", "prompt-1")] == "Q: Capital, of France"


def test_scenarios_file_vars_and_yaml_vars(cli, tmp_path):
    res = _import(cli, tmp_path, {
        "promptfooconfig.yaml": """
            prompts: ["{{ lang }}: {{ text }} {{ meta }}"]
            providers: [echo]
            tests:
              - vars: {lang: en, text: file://text.txt, meta: file://meta.yaml}
                assert: [{type: contains, value: en}]
            scenarios:
              - config:
                  - vars: {lang: fr}
                  - vars: {lang: de}
                tests:
                  - description: hello
                    vars: {text: Hello, meta: m}
                    assert: [{type: contains, value: Hello}]
            """,
        "text.txt": "Read me\n\n",
        "meta.yaml": "a: 1\nb: [x, y]\n",
    })
    assert res.exit_code == 0, res.output
    ids = [c["id"] for c in _yaml(tmp_path, "suites/promptfoo.yaml")["cases"]]
    assert ids == ["en-text-txt-meta-yaml", "hello", "hello-2"]
    out = _renders(cli, tmp_path)
    assert out[("en-text-txt-meta-yaml", "prompt-1")] == 'en: Read me {"a":1,"b":["x","y"]}'
    assert out[("hello", "prompt-1")] == "fr: Hello m"
    assert out[("hello-2", "prompt-1")] == "de: Hello m"


def test_ref_templates_repeat_output_path_and_notes(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ q | dump }} {{ obj | dump }}"]
        providers: [echo]
        assertionTemplates:
          short: {type: contains, value: q}
        evaluateOptions: {repeat: 3, delay: 10}
        outputPath: results.json
        tests:
          - vars: {q: 'say "hi"', obj: {k: [1, true]}, spare: 1}
            assert:
              - $ref: "#/assertionTemplates/short"
          - vars: {q: two, obj: {}}
        """})
    assert res.exit_code == 1, res.output
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert suite["repeat"] == 3
    assert suite["assert_sets"] == {"short": [{"type": "contains", "value": "q"}]}
    assert suite["cases"][0]["assert"] == [{"use": "short"}]
    assert "spare" not in suite["cases"][0]["vars"]
    # a test without assertions gets one that always passes, and a note
    assert suite["cases"][1]["assert"] == [{"type": "length", "min_chars": 0}]
    notes = res.stderr
    assert ":5: left out: evaluateOptions.delay" in notes
    assert ":6: left out: outputPath" in notes
    assert "var 'spare' is read by no prompt" in notes
    assert "1 test without assertions" in notes
    out = _renders(cli, tmp_path)
    assert out[(suite["cases"][0]["id"], "prompt-1")] == '"say \\"hi\\"" {"k":[1,true]}'


def test_judge_from_default_test_provider(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ x }}"]
        providers: [echo]
        defaultTest:
          options:
            provider: openai:gpt-4o-mini
          assert: [{type: contains, value: a}]
        tests:
          - vars: {x: a}
        """})
    assert res.exit_code == 0, res.output
    config = _yaml(tmp_path, "promptctl.yaml")
    assert config["judge"] == "gpt-4o-mini"
    assert config["models"]["gpt-4o-mini"] == {"provider": "openai", "model": "gpt-4o-mini"}


def test_refuses_to_overwrite_without_force(cli, tmp_path):
    assert _import(cli, tmp_path, BASIC).exit_code == 0
    suite = tmp_path / "out" / "suites" / "promptfoo.yaml"
    same = _import(cli, tmp_path, BASIC)  # the same files again: nothing to overwrite
    assert same.exit_code == 0 and "wrote" not in same.stdout, same.output
    suite.write_text(suite.read_text() + "# edited by hand\n")
    again = _import(cli, tmp_path, BASIC)
    assert again.exit_code == 2
    assert "would overwrite" in again.stderr and "--force" in again.stderr
    assert "promptfoo.yaml" in again.stderr and "promptctl.yaml" not in again.stderr
    assert "edited by hand" in suite.read_text()  # nothing written
    assert _import(cli, tmp_path, BASIC, "--force").exit_code == 0
    assert "edited by hand" not in suite.read_text()


@pytest.mark.parametrize("files, where, what", [
    ({"promptfooconfig.yaml": "prompts: [a\ntests: {\n"}, "promptfooconfig.yaml:", "YAML"),
    ({"promptfooconfig.yaml": "- just a list\n"}, "promptfooconfig.yaml:1", "mapping"),
    ({"promptfooconfig.yaml": "providers: [echo]\n"}, "promptfooconfig.yaml", "'prompts'"),
    ({"promptfooconfig.yaml": "prompts: [file://../outside.txt]\n"},
     "promptfooconfig.yaml:1", "outside the project"),
    ({"promptfooconfig.yaml": "prompts: [file://missing.txt]\n"},
     "promptfooconfig.yaml:1", "not found"),
    ({"promptfooconfig.yaml": "prompts: ['{{ v }}']\ntests: file://../t.csv\n"},
     "promptfooconfig.yaml:2", "outside the project"),
])
def test_unreadable_configs_are_exit_2_at_their_line(cli, tmp_path, files, where, what):
    (tmp_path / "outside.txt").write_text("secret")
    (tmp_path / "t.csv").write_text("v\n1\n")
    res = _import(cli, tmp_path, files)
    assert res.exit_code == 2, res.output
    assert where in res.stderr and what in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()


def test_missing_config_is_exit_2(cli, tmp_path):
    res = cli("import", "promptfoo", str(tmp_path / "nope.yaml"), "--out", str(tmp_path))
    assert res.exit_code == 2 and "not found" in res.stderr


def test_an_assertions_grading_provider_becomes_a_model_entry_of_its_own(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ x }}"]
        providers: [openai:gpt-4o-mini]
        tests:
          - vars: {x: a}
            assert:
              - type: llm-rubric
                value: is short
                provider: openai:gpt-4o
              - type: llm-rubric
                value: is polite
                provider: openai:gpt-4o
              - type: llm-rubric
                value: is kind
                provider: openai:gpt-4o-mini
        """})
    assert res.exit_code == 0, res.output
    config = _yaml(tmp_path, "promptctl.yaml")
    assert config["models"] == {"gpt-4o-mini": {"provider": "openai", "model": "gpt-4o-mini"},
                                "gpt-4o": {"provider": "openai", "model": "gpt-4o"}}
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert suite["models"] == ["gpt-4o-mini"]  # the grader is not a model under test
    judges = [a.get("judge") for a in suite["cases"][0]["assert"]]
    assert judges == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]
    lint = cli("lint", "-c", str(tmp_path / "out" / "promptctl.yaml"))
    assert lint.exit_code == 0, lint.output


def test_a_python_check_file_is_copied_into_the_project_and_runs(cli, tmp_path):
    res = _import(cli, tmp_path, {
        "promptfooconfig.yaml": """
            prompts: ["Say {{ word }}"]
            providers: [echo]
            tests:
              - vars: {word: hello}
                assert:
                  - {type: python, value: "file://checks/short.py:is_short"}
              - vars: {word: "a very long word indeed"}
                assert:
                  - {type: python, value: "file://checks/short.py:is_short"}
            """,
        "checks/short.py": """
            def is_short(output, context):
                return len(output) < 10 and context["vars"]["word"] in output
            """})
    assert res.exit_code == 1, res.output  # approximated: promptfoo passes more context
    copied = tmp_path / "out" / "checks" / "short.py"
    assert copied.read_text() == (tmp_path / "pf" / "checks" / "short.py").read_text()
    out = tmp_path / "results.json"
    run = cli("run", "-c", str(tmp_path / "out" / "promptctl.yaml"), "-m", "echo",
              "-o", str(out), "-q")
    assert run.exit_code == 1, run.output
    passed = {r["case"]: r["passed"] for r in json.loads(out.read_text())["results"]}
    assert sorted(passed.values()) == [False, True]


def test_a_python_check_outside_the_config_folder_is_refused(cli, tmp_path):
    (tmp_path / "evil.py").write_text("def get_assert(output, context):\n    return True\n")
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ x }}"]
        tests:
          - vars: {x: a}
            assert: [{type: python, value: "file://../evil.py"}]
        """})
    assert res.exit_code == 2, res.output
    assert "promptfooconfig.yaml:4" in res.stderr and "outside" in res.stderr
    assert not (tmp_path / "out").exists()


def test_options_transform_applies_to_every_assertion_of_its_tests(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["  {{ x }}  "]
        providers: [echo]
        defaultTest:
          options: {transform: output.trim()}
          assert: [{type: starts-with, value: "{{ x }}"}]
        tests:
          - vars: {x: abc}
            assert:
              - {type: equals, value: abc}
          - vars: {x: DEF}
            options: {transform: output.toLowerCase()}
            assert:
              - {type: contains, value: "  def"}
              - {type: equals, value: "  DEF  ", transform: output.toUpperCase()}
        """})
    assert res.exit_code == 0, res.output
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert "assert" not in suite.get("defaults", {})  # the transforms differ by test
    first, second = suite["cases"]
    assert all(a["transform"] == "output | trim" for a in first["assert"]), first
    assert {a.get("transform") for a in second["assert"]} == {
        "output | lower", "(output | lower) | upper"}, second
    out = tmp_path / "results.json"
    run = cli("run", "-c", str(tmp_path / "out" / "promptctl.yaml"), "-m", "echo",
              "-o", str(out), "-q")
    results = json.loads(out.read_text())["results"]
    failed = {r["case"]: [a["type"] for a in r["assertions"] if not a["passed"]]
              for r in results}
    # promptfoo: case 2 has lowercase "  def  ": starts-with DEF fails, the rest pass
    assert failed == {first["id"]: [], second["id"]: ["starts-with"]}, (failed, run.output)


def test_assertion_templates_become_assertion_sets_used_by_name(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["  Say {{ word }}  "]
        providers: [echo]
        assertionTemplates:
          polite: {type: not-icontains, value: idiot}
          mentions: {type: contains, value: "{{ word }}"}
          unused: {type: contains, value: never}
          lowered: {type: contains, value: say}
        defaultTest:
          assert:
            - $ref: "#/assertionTemplates/polite"
        tests:
          - vars: {word: hello}
            assert:
              - $ref: "#/assertionTemplates/mentions"
          - vars: {word: bye}
            assert:
              - $ref: "#/assertionTemplates/mentions"
              - $ref: "#/assertionTemplates/polite"
          - vars: {word: Yes}
            options: {transform: output.toLowerCase()}
            assert:
              - $ref: "#/assertionTemplates/lowered"
        """})
    assert res.exit_code == 0, res.output
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    # one set per template a test still uses by name; a transformed test gets copies
    assert suite["assert_sets"] == {
        "polite": [{"type": "not-icontains", "value": "idiot"}],
        "mentions": [{"type": "contains", "value": "{{ word }}"}]}
    assert [c["assert"] for c in suite["cases"]] == [
        [{"use": "polite"}, {"use": "mentions"}],
        [{"use": "polite"}, {"use": "mentions"}, {"use": "polite"}],
        [{"type": "not-icontains", "value": "idiot", "transform": "output | lower"},
         {"type": "contains", "value": "say", "transform": "output | lower"}]]
    out = tmp_path / "results.json"
    run = cli("run", "-c", str(tmp_path / "out" / "promptctl.yaml"), "-m", "echo",
              "-o", str(out), "-q")
    assert run.exit_code == 0, run.output
    assert all(r["passed"] for r in json.loads(out.read_text())["results"])


def test_a_tests_options_provider_grades_its_model_graded_assertions(cli, tmp_path):
    res = _import(cli, tmp_path, {"promptfooconfig.yaml": """
        prompts: ["{{ x }}"]
        providers: [openai:gpt-4o-mini]
        defaultTest:
          assert: [{type: llm-rubric, value: is polite}]
        tests:
          - vars: {x: a}
          - vars: {x: b}
            options: {provider: openai:gpt-4o}
            assert:
              - {type: llm-rubric, value: is short}
              - {type: llm-rubric, value: is kind, provider: openai:gpt-4o-mini}
              - {type: contains, value: b}
        """})
    assert res.exit_code == 0, res.output
    suite = _yaml(tmp_path, "suites/promptfoo.yaml")
    assert "assert" not in suite.get("defaults", {})  # graded differently by test
    first, second = (c["assert"] for c in suite["cases"])
    assert first == [{"type": "llm-rubric", "value": "is polite"}]
    assert second == [{"type": "llm-rubric", "value": "is polite", "judge": "gpt-4o"},
                      {"type": "llm-rubric", "value": "is short", "judge": "gpt-4o"},
                      {"type": "llm-rubric", "value": "is kind", "judge": "gpt-4o-mini"},
                      {"type": "contains", "value": "b"}]
    assert _yaml(tmp_path, "promptctl.yaml")["models"]["gpt-4o"] == {
        "provider": "openai", "model": "gpt-4o"}
    lint = cli("lint", "-c", str(tmp_path / "out" / "promptctl.yaml"))
    assert lint.exit_code == 0, lint.output


def test_a_ref_to_no_template_in_a_tests_file_is_left_out_with_a_note(cli, tmp_path):
    res = _import(cli, tmp_path, {
        "promptfooconfig.yaml": """
            prompts: ["{{ x }}"]
            providers: [echo]
            assertionTemplates:
              known: {type: contains, value: a}
            tests: file://t.yaml
            """,
        "t.yaml": """
            - vars: {x: a}
              assert:
                - $ref: "#/assertionTemplates/known"
                - $ref: "#/assertionTemplates/nope"
            """})
    assert res.exit_code == 1, res.output  # left out, not an internal error
    assert "t.yaml:4: left out" in res.stderr, res.stderr
    rows = [json.loads(line) for line in
            (tmp_path / "out" / "data" / "t.jsonl").read_text().splitlines()]
    assert rows[0]["assert"] == [{"use": "known"}]
