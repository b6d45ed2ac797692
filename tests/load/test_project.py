"""Loading: config, prompt collections, suites, data files, model names, params."""

from __future__ import annotations

import pytest

from promptctl.errors import UserError
from promptctl.load.project import DEFAULT_MODEL, load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions
from promptctl.run.plan import plan

PROMPTS = """
description: Support prompts
prompts:
  triage:
    version: 2
    params: {max_tokens: 8, temperature: 0.5}
    vars: {teams: [billing, shipping]}
    messages:
      - role: system
        content: Answer with one of {{ teams | join(", ") }}.
      - role: user
        content: "Ticket: {{ ticket }}"
  short:
    template: "Q: {{ q }}"
"""


def test_no_config_uses_the_builtin_default(make_project):
    root = make_project({"prompts/p.yaml": "prompts: {a: {template: hi}}\n"})
    project = load_project()
    assert project.root == root
    assert project.config_file is None
    assert project.model("default") == DEFAULT_MODEL
    assert DEFAULT_MODEL.params.temperature == 0 and DEFAULT_MODEL.params.seed == 0


def test_config_is_found_from_a_subdirectory(make_project, monkeypatch):
    root = make_project({"promptctl.yaml": "models:\n  fast: {provider: echo}\n",
                         "suites/x.yaml": "prompts: [a]\ncases: [{id: a}]\n"})
    monkeypatch.chdir(root / "suites")
    project = load_project()
    assert project.root == root
    assert project.model("fast").provider == "echo"


def test_model_shorthands(make_project):
    make_project({})
    project = load_project()
    assert project.model("echo").provider == "echo"
    assert project.model("builtin:smollm2").provider == "llama-cpp"
    entry = project.model("/models/x.gguf")
    assert (entry.provider, entry.model) == ("llama-cpp", "/models/x.gguf")
    entry = project.model("openai:gpt-4o-mini")
    assert (entry.provider, entry.model) == ("openai", "gpt-4o-mini")
    with pytest.raises(UserError, match="unknown model 'gtp'"):
        project.model("gtp")


def test_prompts_are_addressed_by_collection_and_name(make_project):
    make_project({"prompts/support.yaml": PROMPTS})
    project = load_project()
    assert sorted(project.prompts) == ["support.short", "support.triage"]
    assert project.prompt("support.triage").spec.version == 2
    assert project.prompt("triage").id == "support.triage"  # unique short name
    with pytest.raises(UserError) as exc:
        project.prompt("support.triag")
    assert exc.value.hint == "did you mean 'support.triage'?"


def test_collection_name_overrides_the_file_stem(make_project):
    make_project({"prompts/x.yaml": "name: other\nprompts: {a: {template: hi}}\n"})
    assert list(load_project().prompts) == ["other.a"]


def test_the_same_prompt_defined_twice_is_an_error(make_project):
    make_project({"prompts/a.yaml": "name: c\nprompts: {p: {template: hi}}\n",
                  "prompts/b.yaml": "name: c\nprompts: {p: {template: ho}}\n"})
    with pytest.raises(UserError, match="defined twice"):
        load_project().prompts  # noqa: B018


def test_suite_defaults_data_files_and_ids(make_project):
    make_project({
        "prompts/support.yaml": PROMPTS,
        "suites/triage.yaml": """
            prompts: support.triage
            defaults:
              vars: {ticket: default ticket}
              assert: [{type: length, max_words: 3}]
            cases:
              - id: a
                assert: [{type: icontains, value: billing}]
              - id: 7
                vars: {ticket: override}
              - from: data/t.csv
                assert: [{type: icontains, value: "{{ team }}"}]
              - from: data/t.jsonl
            """,
        "suites/data/t.csv": "id,ticket,team\nrow-1,charged twice,billing\n,lost,shipping\n",
        "suites/data/t.jsonl": '{"id": "j1", "ticket": "x"}\n\n'
                               '{"id": "j2", "vars": {"ticket": "y"}, '
                               '"assert": [{"type": "contains", "value": "y"}]}\n',
    })
    project = load_project()
    suite = load_suite(project, project.suite_paths(["triage"])[0])
    ids = [c.id for c in suite.cases]
    assert ids == ["a", "7", "row-1", "t-3", "j1", "j2"]
    by_id = {c.id: c for c in suite.cases}
    assert by_id["a"].vars == {"ticket": "default ticket"}
    assert [a.type for a in by_id["a"].asserts] == ["length", "icontains"]
    assert by_id["7"].vars["ticket"] == "override"
    # assertion values are rendered with each row's vars
    assert by_id["row-1"].asserts[1].value == "billing"
    assert by_id["t-3"].asserts[1].value == "shipping"
    assert (by_id["row-1"].file, by_id["row-1"].line) == ("suites/data/t.csv", 2)
    assert by_id["j2"].vars == {"ticket": "y"}
    assert by_id["j2"].asserts[-1].value == "y"
    assert (by_id["j2"].file, by_id["j2"].line) == ("suites/data/t.jsonl", 3)


def test_data_file_relative_to_the_project_root(make_project):
    make_project({"prompts/p.yaml": "prompts: {a: {template: '{{ q }}'}}\n",
                  "suites/s.yaml": "prompts: [p.a]\ncases: [{from: data/q.csv}]\n",
                  "data/q.csv": "id,q\none,hello\n"})
    project = load_project()
    suite = load_suite(project, project.suite_paths()[0])
    assert [c.id for c in suite.cases] == ["one"]


def test_params_merge_model_prompt_suite_case_command_line(make_project):
    make_project({
        "promptctl.yaml": """
            models:
              m: {provider: echo, params: {temperature: 0.1, top_p: 0.9, seed: 1, max_tokens: 4}}
            """,
        "prompts/support.yaml": PROMPTS,
        "suites/s.yaml": """
            prompts: [support.triage]
            models: [m]
            params: {seed: 5, stop: ["\\n"]}
            cases:
              - id: a
                vars: {ticket: t}
                params: {seed: 9}
            """,
    })
    project = load_project()
    suite = load_suite(project, project.suite_paths()[0])
    (call,) = plan(project, [suite], RunOptions(params={"top_p": 0.5}))
    assert call.params == {"temperature": 0.5,  # prompt beats model
                           "top_p": 0.5,  # command line beats model
                           "max_tokens": 8,  # prompt beats model
                           "seed": 9,  # case beats suite beats model
                           "stop": ["\n"]}


def test_repeats_shift_the_seed(make_project):
    make_project({"prompts/p.yaml": "prompts: {a: {template: hi, params: {seed: 10}}}\n",
                  "suites/s.yaml": "prompts: [p.a]\nmodels: [echo]\nrepeat: 3\n"
                                   "cases: [{id: x}]\n"})
    project = load_project()
    suite = load_suite(project, project.suite_paths()[0])
    calls = plan(project, [suite], RunOptions())
    assert [(c.repeat, c.params["seed"]) for c in calls] == [(0, 10), (1, 11), (2, 12)]


def test_response_format_forms(make_project):
    from promptctl.schema import Params

    schema = {"type": "object"}
    assert Params(response_format="json").response_format == {"type": "json_object"}
    assert Params.model_validate({"response_format": {"type": "json_schema",
                                                       "schema": schema}}
                                 ).response_format == {"type": "json_schema", "schema": schema}
    openai_form = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert Params.model_validate({"response_format": openai_form}).response_format == {
        "type": "json_schema", "schema": schema}


def test_public_api_names_resolve():
    import promptctl

    assert set(promptctl.__all__) - {"__version__"} == set(promptctl._EXPORTS)
    for name in promptctl._EXPORTS:
        assert getattr(promptctl, name) is not None


PLAIN_ROWS = [{"id": "a", "ticket": "x", "n": 1}, {"id": 5, "ticket": "x"},
              {"id": "", "ticket": "x"}, {"id": None, "ticket": "x"}, {"ticket": "x"},
              {"id": " b ", "ticket": ["x", {"y": None}]},
              {"id": "a", "description": "told"}, {"id": "a", "description": "  "},
              {"id": "a", "description": 3},
              # not plain: CaseSpec's own errors, or its coercions
              {"id": "  ", "ticket": "x"}, {"id": True}, {"id": 1.5}, {"id": 2.0},
              {"id": [1]}, {"id": {"k": 1}}, {"id": "a", "vars": {"ticket": "x"}}]


@pytest.mark.parametrize("row", PLAIN_ROWS)
def test_a_row_resolves_as_its_case_spec_validates(row):
    """A plain data-file row skips pydantic (rows._row): the same id, vars and
    description, or the same error, as validating it as a CaseSpec gives."""
    from promptctl.load.rows import _row, _row_case

    def resolved(fn):
        try:
            spec = fn(dict(row), "suites/data/t.jsonl", 3)
        except UserError as exc:
            return ("error", exc.message, exc.location)
        return (str(spec.id), spec.vars, spec.description, list(spec.assert_),
                spec.params.set_values() if spec.params else {}, spec.threshold)

    assert resolved(_row) == resolved(_row_case)


def test_assertion_values_render_per_row_and_rows_that_agree_share_a_spec(make_project):
    """A templated value is compiled once and rendered per row: each case gets its own
    row's value (plain {{ name }}, a filter, a list), cases that render alike get the
    same (checked) spec, and a row that cannot render it is named, not the first."""
    rows = ["id,ticket,team,n"] + [f"r{i},t{i},{('billing', 'shipping')[i % 2]},{i}"
                                   for i in range(600)]
    make_project({
        "prompts/support.yaml": PROMPTS,
        "suites/s.yaml": """
            prompts: support.triage
            defaults:
              assert:
                - {type: icontains, value: "{{ team }}"}
                - {type: icontains, value: "{{ team | upper }}-{{ n }}"}
                - {type: contains-any, value: ["{{ team }}", fixed, "{{ n }}"]}
            cases:
              - from: data/t.csv
            """,
        "suites/data/t.csv": "\n".join(rows) + "\n",
    })
    project = load_project()
    suite = load_suite(project, project.suite_paths(["s"])[0])
    for i, case in enumerate(suite.cases):
        team = ("billing", "shipping")[i % 2]
        assert [a.value for a in case.asserts] == [
            team, f"{team.upper()}-{i}", [team, "fixed", str(i)]]
    first, second, third = suite.cases[0], suite.cases[2], suite.cases[1]
    assert first.asserts[0] is second.asserts[0]  # both "billing": one spec
    assert first.asserts[0] is not third.asserts[0]
    assert first.asserts[1] is not second.asserts[1]  # per-row values: their own

    # a row without the variable: named, after 300 that rendered (and were remembered)
    jsonl = "".join(f'{{"id": "j{i}", "team": "billing", "n": {i}}}\n' for i in range(300))
    (project.root / "suites/data/t.jsonl").write_text(jsonl + '{"id": "j-no-team", "n": 1}\n')
    (project.root / "suites/s.yaml").write_text(
        (project.root / "suites/s.yaml").read_text().replace("t.csv", "t.jsonl"))
    with pytest.raises(UserError, match="case 'j-no-team' assertion value: 'team' is "
                                        "undefined") as exc:
        load_suite(load_project(), project.suite_paths(["s"])[0])
    assert exc.value.location == "suites/s.yaml:4"
    # a syntax error: the first case that has the text, at the assertion's line
    (project.root / "suites/s.yaml").write_text(
        (project.root / "suites/s.yaml").read_text().replace("{{ team | upper }}",
                                                            "{{ team | upper | x }}"))
    with pytest.raises(UserError, match="No filter named 'x'") as exc:
        load_suite(load_project(), project.suite_paths(["s"])[0])
    assert exc.value.location == "suites/s.yaml:5"
