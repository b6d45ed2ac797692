"""Results that must not depend on anything but the case (issue 12, class 6): no
template or check can change the vars another case renders from; data files keep
what they say (newlines in quoted CSV cells, a threshold of 0, an entry's
description); `render` prints exactly what the model sees; a baseline holds no
timings, so an update without a change in behaviour is a zero diff."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import provider_plugin_site, run_subprocess, write_files

from promptctl.errors import UserError
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.providers import registry

# -- one case cannot change what another renders -------------------------------------

ATTACK_PROMPTS = """
prompts:
  greet:
    vars: {teams: [billing, shipping]}
    template: "{{ teams.append(who) or '' }}Teams: {{ teams | join(', ') }}"
"""


def _attack_suite(order: list[str]) -> str:
    return ("prompts: [p.greet]\nmodels: [echo]\n"
            "defaults:\n  vars: {names: [ann]}\n"
            "  assert: [{type: contains, value: Teams}]\ncases:\n"
            + "".join(f"  - {{id: {c}, vars: {{who: {c}}}}}\n" for c in order))


def _written(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("promptctl.yaml",)
            and not str(p.relative_to(root)).startswith(("prompts", "suites"))}


def test_attack_a_template_that_appends_to_a_shared_default_is_refused(tmp_path):
    """`{{ teams.append(...) }}` on a prompt's default list: before, case c's output
    depended on how many cases rendered before it (so -k, shards, resume and the cache
    disagreed). Now it is exit 2 naming the template, whatever the case order, and
    nothing is written."""
    outcomes = []
    for order in (["c1", "c2", "c3"], ["c3", "c2", "c1"]):
        root = tmp_path / "-".join(order)
        write_files(root, {"promptctl.yaml": "models: {}\n", "prompts/p.yaml": ATTACK_PROMPTS,
                           "suites/s.yaml": _attack_suite(order)})
        res = run_subprocess("run", "-m", "echo", "-o", "out.json", cwd=root)
        assert res.exit_code == 2, res.output
        assert res.stdout == ""
        lines = res.stderr.splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: "), res.stderr
        assert "append" in lines[0] and "unsafe" in lines[0], res.stderr
        assert "p.greet" in lines[0] or "prompts/p.yaml" in lines[0], res.stderr
        assert not (root / "out.json").exists()
        # the only thing that differs between the two orders is which case was first
        first = order[0]
        line = re.sub(r"s\.yaml:\d+", "s.yaml:N", lines[0]).replace(f"'{first}'", "'C'")
        outcomes.append((line, _written(root)))
    assert outcomes[0] == outcomes[1]


def _run_json(cli, *args: str) -> tuple[int, dict]:
    res = cli("run", "-m", "echo", "--no-cache", "-o", "out.json", *args)
    doc = json.loads(Path("out.json").read_text()) if Path("out.json").exists() else {}
    return res.exit_code, doc


MUTATIONS = [
    "{{ names.append('x') }}",
    "{{ names.extend(['x']) }}",
    "{{ names.pop() }}",
    "{{ names.sort() }}",
    "{{ opts.update({'k': 1}) }}",
    "{{ opts.setdefault('k', 1) }}",
    "{{ opts.pop('mode') }}",
    "{% set n = names %}{{ n.insert(0, 'x') }}",
]


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_no_template_can_change_a_case_vars(make_project, cli, mutation):
    make_project({
        "prompts/p.yaml": "prompts:\n  q:\n    template: " + json.dumps(
            mutation + "{{ names | join(',') }} {{ opts | json }}") + "\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults:
              vars: {names: [ann, bob], opts: {mode: a}}
            cases: [{id: one}, {id: two}]
            """})
    res = cli("run", "-m", "echo", "--no-cache")
    assert res.exit_code == 2, res.output
    assert "unsafe" in res.stderr, res.stderr
    assert not Path(".promptctl/runs").exists()


def test_building_a_new_value_in_a_template_still_works(make_project, cli):
    """What the immutable sandbox leaves: reading, filters, new values, namespaces."""
    make_project({
        "prompts/p.yaml": """
            prompts:
              q:
                template: >-
                  {% set more = names + ['x'] %}{% set ns = namespace(n=0) %}
                  {%- for i in more %}{% set ns.n = ns.n + 1 %}{% endfor -%}
                  {{ more | join(',') }} {{ ns.n }} {{ names | sort | join(',') }}
                  {{ opts.items() | list | length }} {{ opts.get('mode') }}
            """,
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults:
              vars: {names: [bob, ann], opts: {mode: a}}
            cases: [{id: one}, {id: two}]
            """})
    code, doc = _run_json(cli)
    assert code == 0
    outputs = [r["output"] for r in doc["results"]]
    assert outputs == ["bob,ann,x 3 ann,bob 1 a"] * 2


def test_an_assertion_template_cannot_change_the_vars(make_project, cli):
    make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: \"{{ names | join(',') }}\"}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults:
              vars: {names: [ann]}
              assert: [{type: contains, value: "{{ names.append('x') or 'ann' }}"}]
            cases: [{id: one}, {id: two}]
            """})
    res = cli("run", "-m", "echo", "--no-cache")
    assert res.exit_code == 2, res.output
    assert "unsafe" in res.stderr and "s.yaml" in res.stderr, res.stderr


def test_a_transform_cannot_change_the_vars(make_project, cli):
    """A transform that tries fails its own assertion; the next cases are untouched."""
    make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: \"{{ names | join(',') }}\"}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults:
              vars: {names: [ann]}
              assert: [{type: contains, value: ann, transform: "output ~ names.append('x')"}]
            cases: [{id: one}, {id: two}, {id: three}]
            """})
    code, doc = _run_json(cli)
    assert code == 1
    records = doc["results"]
    assert [r["output"] for r in records] == ["ann"] * 3
    for r in records:
        (a,) = r["assertions"]
        assert not a["passed"] and "unsafe" in a["reason"], a


def _grab(output, arg, ctx):
    """An in-process plugin type doing what checks.py:grab does below."""
    ctx.vars["names"].append("x")
    ctx.vars["opts"]["mode"] = "changed"
    ctx.vars["new"] = 1
    ctx.messages.append({"role": "user", "content": "injected"})
    ctx.messages[0]["content"] = "rewritten"
    return True


@pytest.fixture
def grab_type():
    from promptctl.assertions import register, registry

    register("grab-inputs", needs_value=False, takes_value=False)(_grab)
    yield "grab-inputs"
    registry._REGISTRY.pop("grab-inputs")


@pytest.mark.parametrize("kind", ["python check", "plugin type"])
def test_user_checks_get_their_own_copy_of_the_vars(make_project, cli, request, kind):
    """User code may do what it likes with ctx.vars and ctx.messages: no other call
    (another case, a data row, a repeat) sees it, and the record keeps its messages.
    A python check's copy is the one sent to its worker; a plugin's type, in-process,
    is handed copies."""
    check = ('{type: python, value: "checks.py:grab"}' if kind == "python check"
             else f"{{type: {request.getfixturevalue('grab_type')}}}")
    make_project({
        "checks.py": """
            def grab(output, ctx):
                ctx.vars["names"].append("x")
                ctx.vars["opts"]["mode"] = "changed"
                ctx.vars["new"] = 1
                ctx.messages.append({"role": "user", "content": "injected"})
                ctx.messages[0]["content"] = "rewritten"
                return True
            """,
        "data/rows.jsonl": '{"id": "r1"}\n{"id": "r2"}\n',
        "prompts/p.yaml": """
            prompts:
              q:
                vars: {teams: [t]}
                template: "{{ names | join(',') }} {{ opts.mode }} {{ teams | join(',') }}"
            """,
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            repeat: 2
            defaults:
              vars: {names: [ann], opts: {mode: a}}
              assert: [CHECK]
            cases:
              - {id: one}
              - {id: two}
              - {from: data/rows.jsonl, vars: {names: [row]}}
            """.replace("CHECK", check)})
    code, doc = _run_json(cli)
    assert code == 0, doc
    outputs = {(r["case"], r["repeat"]): r["output"] for r in doc["results"]}
    assert outputs == {("one", 0): "ann a t", ("one", 1): "ann a t",
                       ("two", 0): "ann a t", ("two", 1): "ann a t",
                       ("r1", 0): "row a t", ("r1", 1): "row a t",
                       ("r2", 0): "row a t", ("r2", 1): "row a t"}
    for r in doc["results"]:
        assert r["messages"] == [{"role": "user", "content": r["output"]}]


def test_cases_do_not_share_their_vars(make_project):
    """Each case holds its own copy of the defaults, the entry's vars and its row's."""
    make_project({
        "data/rows.csv": "id,x\nr1,1\nr2,2\n",
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ names }}'}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults: {vars: {names: [ann], deep: {a: [1]}}}
            cases:
              - {id: one}
              - {id: two}
              - {from: data/rows.csv, vars: {more: [m]}}
            """})
    project = load_project()
    (path,) = project.suite_paths()
    cases = load_suite(project, path).cases
    assert len(cases) == 4
    for i, a in enumerate(cases):
        for b in cases[i + 1:]:
            assert a.vars["names"] is not b.vars["names"]
            assert a.vars["deep"]["a"] is not b.vars["deep"]["a"]
    assert cases[2].vars["more"] is not cases[3].vars["more"]


# -- data files keep what they say ----------------------------------------------------

CSV_ROWS = 'id,text,n\nr1,"line one\nline two",1\nr2,plain,2\nr3,"a ""quoted""\n\nthird",3\n'


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_newlines_inside_quoted_csv_cells_are_kept(make_project, cli, newline):
    root = make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ text }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n  - {from: data/x.csv}\n"})
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_bytes(CSV_ROWS.replace("\n", newline).encode())
    project = load_project()
    (path,) = project.suite_paths()
    cases = load_suite(project, path).cases
    assert [(c.id, c.vars["text"], c.line) for c in cases] == [
        ("r1", "line one\nline two", 2),  # a row is located at its first line
        ("r2", "plain", 4),
        ("r3", 'a "quoted"\n\nthird', 5)]
    res = cli("render", "p.q", "--case", "s:r1")
    assert res.exit_code == 0
    assert res.stdout == "user\nline one\nline two\n\n"


def test_jsonl_lines_end_at_newlines_only(make_project):
    """A JSON string may hold U+2028, U+0085 or a form feed as they are: they are not
    line ends (str.splitlines() thinks they are), and CRLF files read the same."""
    text = json.dumps({"id": "r1", "text": "a\u2028b\x85c\x0cd"}, ensure_ascii=False)
    root = make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ text }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n  - {from: data/x.jsonl}\n"})
    (root / "data").mkdir()
    (root / "data" / "x.jsonl").write_bytes(
        (text + "\r\n\r\n" + '{"id": "r2", "text": "x"}\r\n').encode())
    project = load_project()
    (path,) = project.suite_paths()
    cases = load_suite(project, path).cases
    assert [(c.id, c.vars["text"], c.line) for c in cases] == [
        ("r1", "a\u2028b\x85c\x0cd", 1), ("r2", "x", 3)]


def test_a_csv_error_after_a_multiline_cell_names_the_row_line(make_project, cli):
    make_project({
        "data/x.csv": 'id,text\nr1,"a\nb"\nr2,x,extra\n',
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ text }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n  - {from: data/x.csv}\n"})
    res = cli("lint")
    assert res.exit_code == 2
    assert "x.csv:4:" in res.stderr, res.stderr


def test_a_threshold_of_zero_on_a_row_or_an_entry_is_kept(make_project, cli):
    """`threshold: 0` is a threshold (every score passes), not "unset"."""
    make_project({
        "data/zero.jsonl": '{"id": "row-zero", "vars": {"q": "a"}, "threshold": 0}\n'
                           '{"id": "row-unset", "vars": {"q": "b"}}\n',
        "data/plain.jsonl": '{"id": "entry-zero", "q": "c"}\n',
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            defaults:
              threshold: 0.9
              assert: [{type: contains, value: never-there}]
            cases:
              - {from: data/zero.jsonl, threshold: 0.5}
              - {from: data/plain.jsonl, threshold: 0}
              - {id: case-zero, vars: {q: d}, threshold: 0}
            """})
    project = load_project()
    (path,) = project.suite_paths()
    thresholds = {c.id: c.threshold for c in load_suite(project, path).cases}
    assert thresholds == {"row-zero": 0.0, "row-unset": 0.5, "entry-zero": 0.0,
                          "case-zero": 0.0}
    code, doc = _run_json(cli)
    assert code == 1
    passed = {r["case"]: r["passed"] for r in doc["results"]}
    assert passed == {"row-zero": True, "row-unset": False, "entry-zero": True,
                      "case-zero": True}


def test_a_from_entry_description_applies_to_its_rows(make_project):
    """The entry's description is each row's, unless the row has its own (a JSONL
    case's `description`, or a CSV `description` column, which stays a variable)."""
    make_project({
        "data/rows.jsonl": '{"id": "plain", "q": "a"}\n'
                           '{"id": "own", "description": "its own", "vars": {"q": "b"}}\n',
        "data/rows.csv": "id,q,description\nc1,x,from the column\nc2,y,\n",
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [echo]
            cases:
              - {from: data/rows.jsonl, description: Tickets from support}
              - {from: data/rows.csv, description: From the sheet}
            """})
    project = load_project()
    (path,) = project.suite_paths()
    cases = {c.id: c for c in load_suite(project, path).cases}
    assert {k: c.description for k, c in cases.items()} == {
        "plain": "Tickets from support", "own": "its own", "c1": "from the column",
        "c2": "From the sheet"}
    assert cases["c1"].vars["description"] == "from the column"


def test_lint_does_not_call_a_description_column_an_unused_variable(make_project, cli):
    make_project({
        "data/rows.csv": "id,q,description\nc1,x,what this row checks\n",
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\n"
                         "defaults: {assert: [{type: contains, value: x}]}\n"
                         "cases:\n  - {from: data/rows.csv}\n"})
    res = cli("lint")
    assert res.exit_code == 0, res.output
    assert "description" not in res.output, res.output


# -- render and tables print user and model text as it is -----------------------------

TRICKY = ("emoji :smile: and 1:x:2 and :thumbs_up:, markup [bold]b[/bold] [red]r[/] "
          "[link=http://x]l[/link], backslashes \\ \\[x] \\\\[y] end\\")
LONG = "w" * 30 + " " + "v" * 400  # longer than any terminal: must not be wrapped


def test_render_prints_exactly_what_the_model_sees(make_project, cli, tmp_path):
    content = f"{TRICKY}\n\tindented\n{LONG}"
    root = make_project({
        "prompts/p.yaml": "prompts:\n  q:\n    messages:\n"
                          "      - {role: system, content: '{{ sys }}'}\n"
                          "      - {role: user, content: '{{ text }}'}\n"})
    args = ("render", "p.q", "--var", f"text={content}", "--var", "sys=[b]:smile:[/b]")
    as_json = cli(*args, "--json")
    messages = json.loads(as_json.stdout)
    assert [m["content"] for m in messages] == ["[b]:smile:[/b]", content]
    expected = "system\n[b]:smile:[/b]\n\nuser\n" + content + "\n\n"
    assert cli(*args).stdout == expected
    res = run_subprocess(*args, cwd=root)  # a real pipe, not the test runner's
    assert res.exit_code == 0
    assert res.stdout == expected


def test_tables_show_case_ids_and_outputs_as_written(make_project, cli):
    case_id = ":smile: [bold]x[/bold] 1:x:2"
    make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n  r: {template: 'B {{ q }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n"
                         f"  - {{id: {json.dumps(case_id)}, vars: {{q: {json.dumps(TRICKY)}}},"
                         " assert: [{type: contains, value: nothing}]}\n",
        "suites/c.yaml": "prompts: [p.q, p.r]\nmodels: [echo]\ncases:\n"
                         f"  - {{id: {json.dumps(case_id)}, vars: {{q: {json.dumps(TRICKY)}}},"
                         " assert: [{type: contains, value: B}]}\n"})
    run = cli("run", "suites/s.yaml", "-m", "echo", "--no-cache", "--verbose")
    assert run.exit_code == 1
    assert case_id in run.stdout, run.stdout
    assert "emoji :smile: and 1:x:2" in run.stdout and "[bold]b[/bold]" in run.stdout
    assert "😄" not in run.stdout and "👍" not in run.stdout

    compare = cli("compare", "p.q", "p.r", "--suite", "suites/c.yaml", "-m", "echo",
                  "--no-cache", "--verbose")
    assert compare.exit_code in (0, 1), compare.output
    assert case_id in compare.stdout, compare.stdout
    assert "😄" not in compare.stdout

    update = cli("baseline", "update", "suites/s.yaml", "-m", "echo", "--no-cache")
    assert update.exit_code == 0, update.output
    Path("suites/s.yaml").write_text(Path("suites/s.yaml").read_text().replace(
        "value: nothing", "value: emoji"))
    check = cli("check", "suites/s.yaml", "-m", "echo", "--no-cache", "--verbose")
    assert case_id in check.stdout, check.stdout
    assert "😄" not in check.stdout


# -- baselines hold behaviour, not timings ---------------------------------------------

TIMED = """
import random

from promptctl.providers.echo import EchoProvider
from promptctl.load.suites import load_suite


class Timed(EchoProvider):
    \"\"\"The echo provider with a latency that differs on every call, as a real one.\"\"\"

    name = "timed-echo"

    def complete(self, messages, params):
        completion = super().complete(messages, params)
        completion.latency_ms = random.uniform(1.0, 900.0)
        return completion
"""


@pytest.fixture
def timed_echo(tmp_path, monkeypatch):
    site = provider_plugin_site(tmp_path / "site", "promptctl-timed",
                                "timed-echo = timed_echo:Timed", {"timed_echo.py": TIMED})
    monkeypatch.syspath_prepend(str(site))
    registry._plugins.cache_clear()
    yield
    registry._plugins.cache_clear()


def test_a_baseline_update_without_a_change_is_a_zero_diff(make_project, cli, timed_echo):
    make_project({
        "promptctl.yaml": "models:\n  bot: {provider: timed-echo, model: x}\n",
        "prompts/p.yaml": "prompts:\n  q: {template: 'Q {{ q }}'}\n",
        "suites/s.yaml": """
            prompts: [p.q]
            models: [bot]
            repeat: 2
            cases:
              - {id: quick, vars: {q: a}, assert: [{type: latency, max_ms: 100000}]}
              - {id: slow, vars: {q: b}, assert: [{type: latency, max_ms: 0.5},
                                                 {type: contains, value: Q}]}
            """})
    first = cli("baseline", "update", "--no-cache")
    assert first.exit_code == 0, first.output
    before = Path("baselines/s.json").read_bytes()
    second = cli("baseline", "update", "--no-cache")
    assert second.exit_code == 0, second.output
    assert Path("baselines/s.json").read_bytes() == before
    assert b"latency_ms" not in before
    doc = json.loads(before)
    # the latency assertion's verdict is what the baseline keeps
    quick = doc["cases"]["quick"]["p.q"]["bot"]["samples"]
    slow = doc["cases"]["slow"]["p.q"]["bot"]["samples"]
    assert [s["assertions"][0] for s in quick] == [
        {"type": "latency", "passed": True, "score": 1.0}] * 2
    assert [s["assertions"][0] for s in slow] == [
        {"type": "latency", "passed": False, "score": 0.0}] * 2
    # the timings stay in the run records
    records = [json.loads(line) for p in Path(".promptctl/runs").rglob("records.jsonl")
               for line in p.read_text().splitlines() if line.strip()]
    assert records and all(r["latency_ms"] > 0 for r in records)
    # and the gate still reads a baseline written with them
    assert cli("check", "--no-cache").exit_code == 0


def test_an_old_baseline_with_latencies_is_still_read(make_project, cli):
    make_project({
        "prompts/p.yaml": "prompts:\n  q: {template: 'Q {{ q }}'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\n"
                         "cases: [{id: a, vars: {q: a}, assert: [{type: contains, value: Q}]}]\n"})
    assert cli("baseline", "update", "-m", "echo").exit_code == 0
    path = Path("baselines/s.json")
    doc = json.loads(path.read_text())
    for sample in doc["cases"]["a"]["p.q"]["echo"]["samples"]:
        sample["latency_ms"] = 123
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    res = cli("check", "-m", "echo")
    assert res.exit_code == 0, res.output
    assert cli("baseline", "update", "-m", "echo").exit_code == 0
    assert "latency_ms" not in path.read_text()


def test_a_user_error_is_still_raised_for_a_bad_row(make_project):
    """Sanity: the row path still validates (a bad threshold is exit 2 at its line)."""
    make_project({
        "data/rows.jsonl": '{"id": "r", "vars": {}, "threshold": 7}\n',
        "prompts/p.yaml": "prompts:\n  q: {template: 'x'}\n",
        "suites/s.yaml": "prompts: [p.q]\nmodels: [echo]\ncases:\n  - {from: data/rows.jsonl}\n"})
    project = load_project()
    (path,) = project.suite_paths()
    with pytest.raises(UserError) as exc:
        load_suite(project, path)
    assert exc.value.line == 1


def test_a_p_value_of_zero_is_a_p_value():
    """`p or 1.0` turned a p-value of 0.0 into 1.0, so the most significant drop of
    all was never "broken". The exact test does reach 0.0 (float underflow)."""
    from promptctl import stats
    from promptctl.gate.outcome import CellDiff, DiffReport, SuiteDiff
    from promptctl.gate.verdicts import decide
    from promptctl.reports.wording import sample_text

    p_value = stats.fisher_less(0, 600, 600, 600)
    assert p_value == 0.0
    cell = CellDiff("s", "c", "p", "m", "dropped", sample_counts=(600, 600, 0, 600),
                    p_value=p_value)
    suite = SuiteDiff("s", True, [cell], (1.0, 0.0), {}, None)
    decide(DiffReport(None, [suite]))
    assert cell.adjusted == 0.0
    assert cell.status == "broken"
    assert "(adjusted 0)" in sample_text(cell)
