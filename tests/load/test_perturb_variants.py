"""`perturb:` in a suite turned into cells (load/variants.py): the variants' ids and
order, which vars change, the defaults / case / opt-out levels, byte-identical
variants across processes, the assertions' clean vars, custom perturbations in the
worker pool, and every bad spec as exit 2 at file:line. Through the real CLI with the
echo model (its output is the rendered prompt, so the perturbed text is visible)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import run_subprocess

from promptctl.load.project import load_project
from promptctl.load.suites import load_suite

PROMPT = {"prompts/p.yaml": """
    prompts:
      t:
        template: "T={{ ticket }} N={{ name }} K={{ n }}"
    """}

TICKET = "My card was charged twice for the same order"

SUITE = f"""
    prompts: [p.t]
    models: [echo]
    perturb:
      - {{type: typos, rate: 0.3}}
      - {{type: case, mode: upper, vars: [ticket, n]}}
    defaults:
      assert: [{{type: contains, value: "N={{{{ name }}}}"}}]
    cases:
      - id: a
        vars: {{ticket: "{TICKET}", name: "Alice", n: 3, note: "not in the prompt"}}
      - id: b
        vars: {{ticket: "refund please", name: "Bob", n: 4}}
        perturb: [{{type: case, mode: lower, id: low}}]
      - id: c
        vars: {{ticket: "x", name: "Cy", n: 1}}
        perturb: []
    """


def project(make_project, suite: str = SUITE, **more: str) -> Path:
    return make_project({**PROMPT, "suites/s.yaml": suite, **more})


def outputs(cli, tmp_path: Path, *args: str, code: int | None = None) -> dict[str, str]:
    result = cli("run", "-q", "-o", "out.json", *args)
    if code is not None:
        assert result.exit_code == code, result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    return {r["case"]: r["output"] for r in doc["results"]}


def test_each_case_is_followed_by_its_variants(make_project, cli, tmp_path):
    root = project(make_project)
    got = outputs(cli, tmp_path)
    assert list(got) == ["a", "a~typos", "a~case", "b", "b~low", "c"]
    suite = load_suite(load_project(root), root / "suites/s.yaml")
    assert [(c.id, c.variant_of, c.perturbation) for c in suite.cases] == [
        ("a", None, None), ("a~typos", "a", "typos"), ("a~case", "a", "case"),
        ("b", None, None), ("b~low", "b", "low"), ("c", None, None)]
    # every perturbation the cases use, once, by id, with the family's params checked
    assert [p.id for p in suite.perturbations] == ["typos", "case", "low"]
    case = suite.perturbations[1]
    assert case.type == "case" and case.params["mode"] == "upper"
    assert case.vars == ["ticket", "n"] and case.seed == 0 and case.max_drop is None


def test_only_the_chosen_text_vars_change(make_project, cli, tmp_path):
    root = project(make_project)
    got = outputs(cli, tmp_path)
    assert got["a"] == f"T={TICKET} N=Alice K=3"
    # vars: [ticket, n]: the text var upper-cased, the number left as it is
    assert got["a~case"] == f"T={TICKET.upper()} N=Alice K=3"
    # no vars: every text var the prompt reads (ticket, name), never `note` or `n`
    suite = load_suite(load_project(root), root / "suites/s.yaml")
    clean, typos = suite.cases[0], suite.cases[1]
    assert typos.vars["ticket"] != clean.vars["ticket"]
    assert typos.vars["note"] == clean.vars["note"] and typos.vars["n"] == 3
    assert got["a~typos"] == f"T={typos.vars['ticket']} N={typos.vars['name']} K=3"
    # the variant's own copy: not the clean case's mapping
    assert typos.vars is not clean.vars
    assert got["b~low"] == "T=refund please N=bob K=4"


def test_assertions_score_with_the_clean_vars(make_project, cli, tmp_path):
    """`contains: "N={{ name }}"` checks the clean name: on the lower-cased variant the
    same expectation fails; python checks see the clean vars too."""
    project(make_project, SUITE.replace(
        'assert: [{type: contains, value: "N={{ name }}"}]',
        'assert: [{type: contains, value: "N={{ name }}"}, '
        '{type: python, value: "context[\'vars\'][\'name\'] in (\'Alice\', \'Bob\', \'Cy\')"}]'))
    result = cli("run", "-q", "-o", "out.json")
    assert result.exit_code == 1, result.output
    doc = json.loads((tmp_path / "out.json").read_text())
    by_case = {r["case"]: r for r in doc["results"]}
    low = by_case["b~low"]
    assert not low["passed"]
    assert [a["passed"] for a in low["assertions"]] == [False, True]
    assert "expected to contain 'N=Bob'" in low["assertions"][0]["reason"]
    assert by_case["a~case"]["passed"] and by_case["b"]["passed"]


def test_defaults_replace_the_suites_and_a_case_its_own(make_project, cli, tmp_path):
    project(make_project, """
        prompts: [p.t]
        models: [echo]
        perturb: [typos]
        defaults:
          perturb: [{type: case, mode: upper, id: up}]
          assert: [{type: contains, value: "T="}]
        cases:
          - {id: a, vars: {ticket: t, name: n, n: 1}}
          - {id: b, vars: {ticket: t, name: n, n: 1}, perturb: [whitespace]}
          - {id: c, vars: {ticket: t, name: n, n: 1}, perturb: []}
          - {id: d, vars: {ticket: t, name: n, n: 1}, perturb: null}
        """)
    got = outputs(cli, tmp_path, code=0)
    assert list(got) == ["a", "a~up", "b", "b~whitespace", "c", "d", "d~up"]
    assert got["a~up"] == "T=T N=N K=1"


def test_data_rows_matrices_and_a_full_rows_own_list(make_project, cli, tmp_path):
    project(make_project, """
        prompts: [p.t]
        models: [echo]
        perturb: [{type: case, mode: upper, id: up, vars: [ticket]}]
        defaults: {assert: [{type: contains, value: "T="}]}
        cases:
          - id: m
            vars: {name: x, n: 0}
            matrix: {ticket: [aa, bb]}
          - from: data/rows.jsonl
        """, **{"suites/data/rows.jsonl":
                '{"id": "r1", "ticket": "one", "name": "x", "n": 1}\n'
                '{"id": "r2", "vars": {"ticket": "two", "name": "x", "n": 2}, '
                '"perturb": [{"type": "case", "mode": "lower", "id": "low"}]}\n'})
    got = outputs(cli, tmp_path, code=0)
    assert list(got) == ["m[aa]", "m[aa]~up", "m[bb]", "m[bb]~up", "r1", "r1~up",
                         "r2", "r2~low"]
    assert got["m[bb]~up"] == "T=BB N=x K=0" and got["r2~low"] == "T=two N=x K=2"


def test_variants_are_byte_identical_across_processes(make_project, tmp_path):
    """Two fresh interpreters (different hash seeds) render the same variant text, and
    the seed is what changes it."""
    project(make_project)
    texts = []
    for hash_seed in ("1", "2"):
        result = run_subprocess("render", "p.t", "--case", "s:a~typos", "--json",
                                cwd=tmp_path, env={"PYTHONHASHSEED": hash_seed})
        assert result.exit_code == 0, result.output
        texts.append(json.loads(result.stdout)[0]["content"])
    assert texts[0] == texts[1]
    assert texts[0] != f"T={TICKET} N=Alice K=3"
    (tmp_path / "suites/s.yaml").write_text(
        (tmp_path / "suites/s.yaml").read_text().replace("rate: 0.3}", "rate: 0.3, seed: 5}"))
    result = run_subprocess("render", "p.t", "--case", "s:a~typos", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)[0]["content"] != texts[0]


def test_render_case_shows_one_variant(make_project, cli):
    project(make_project)
    result = cli("render", "p.t", "--case", "s:a~case")
    assert result.exit_code == 0, result.output
    assert f"T={TICKET.upper()} N=Alice K=3" in result.stdout
    result = cli("render", "p.t", "--case", "s:a~cas")
    assert result.exit_code == 2
    assert "no case 'a~cas'" in result.output and "a~case" in result.output


def test_filters_see_the_variants_ids(make_project, cli, tmp_path):
    project(make_project)
    assert list(outputs(cli, tmp_path, "-k", "~case")) == ["a~case"]
    assert list(outputs(cli, tmp_path, "-k", "!~")) == ["a", "b", "c"]
    assert list(outputs(cli, tmp_path, "-k", "b")) == ["b", "b~low"]


def _bad(make_project, cli, suite: str, **more: str):
    project(make_project, suite, **more)
    result = cli("run", "-q")
    assert result.exit_code == 2, result.output
    return result.output


BASE = """\
prompts: [p.t]
models: [echo]
cases:
  - id: a
    vars: {ticket: t, name: n, n: 1}
    assert: [{type: contains, value: T}]
"""


@pytest.mark.parametrize(("perturb", "line", "message"), [
    ("  - tyops", 8, "unknown perturbation family 'tyops'"),
    ("  - {type: typos, rat: 0.1}", 8, "rat"),
    ("  - {type: typos, rate: 2}", 8, "rate"),
    ("  - typos\n  - whitespace\n  - typos", 10, "perturbation id 'typos' appears twice"),
    ("  - {type: typos, id: 'a~b'}", 8, "a perturbation id is one word"),
    ("  - {type: typos, params: {rate: 0.1}}", 8, "not under 'params'"),
    ("  - {type: typos, seed: yes}", 8, "seed must be a whole number"),
    ("  - {type: custom}", 8, "needs 'function:"),
    ("  - {type: custom, function: nope.py:f}", 8, "no file 'nope.py'"),
    ("  - {type: custom, function: pert.py:f, rate: 1}", 8, "unknown key 'rate'"),
    ("  - {type: typos, function: pert.py:f}", 8, "'function' is for 'type: custom'"),
])
def test_bad_perturbations_exit_2_at_their_line(make_project, cli, perturb, line, message):
    out = _bad(make_project, cli, BASE + "perturb:\n" + perturb + "\n",
               **{"pert.py": "def f(text, rng):\n    return text\n"})
    assert f"suites/s.yaml:{line}:" in out and message in out


def test_one_id_with_two_settings_in_a_suite_is_refused(make_project, cli):
    out = _bad(make_project, cli, BASE + """\
  - id: b
    vars: {ticket: t, name: n, n: 1}
    assert: [{type: contains, value: T}]
    perturb: [{type: typos, rate: 0.2}]
perturb: [typos]
""")
    assert "suites/s.yaml:10:" in out and "defined twice in the suite" in out
    assert "the other at suites/s.yaml:11" in out


@pytest.mark.parametrize(("files", "where"), [
    ({"suites/s.yaml": BASE.replace("id: a", "id: a~b")}, "suites/s.yaml:4:"),
    ({"suites/s.yaml": BASE + "  - from: data/r.csv\n",
      "suites/data/r.csv": "id,ticket,name,n\nok,t,n,1\nx~y,t,n,1\n"},
     "suites/data/r.csv:3:"),
])
def test_a_tilde_in_a_users_case_id_is_refused(make_project, cli, files, where):
    make_project({**PROMPT, **files})
    result = cli("run", "-q")
    assert result.exit_code == 2, result.output
    assert where in result.output and "marks a perturbed variant" in result.output
    assert "instead of '~'" in result.output


CUSTOM = """\
def shout(text, rng):
    return text.upper() + "!" * rng.randint(1, 9)

def boom(text, rng):
    raise ValueError("no luck")

def spin(text, rng):
    while True:
        pass

def number(text, rng):
    return 42
"""


def _custom_suite(fn: str, extra: str = "") -> str:
    return BASE + f"perturb:\n  - {{type: custom, id: loud, function: 'lib/pert.py:{fn}'{extra}}}\n"


def test_custom_perturbation_from_a_project_file(make_project, cli, tmp_path):
    root = project(make_project, _custom_suite("shout"), **{"lib/pert.py": CUSTOM})
    got = outputs(cli, tmp_path, code=0)
    loud = got["a~loud"]
    assert loud.startswith("T=T!") and " N=N!" in loud and loud.endswith(" K=1")
    # seeded: the same text on every load (here: a second process)
    result = run_subprocess("render", "p.t", "--case", "s:a~loud", "--json", cwd=root)
    assert json.loads(result.stdout)[0]["content"] == loud


@pytest.mark.parametrize(("fn", "extra", "message"), [
    ("boom", "", "raised ValueError: no luck"),
    ("spin", ", timeout: 1", "timed out after 1 s"),
    ("number", "", "returned int, not text"),
    ("nothere", "", "'nothere' is not a function"),
])
def test_custom_perturbation_that_fails_is_exit_2(make_project, cli, fn, extra, message):
    out = _bad(make_project, cli, _custom_suite(fn, extra), **{"lib/pert.py": CUSTOM})
    assert "suites/s.yaml:8:" in out and message in out
    assert "case 'a'" in out and f"lib/pert.py:{fn}" in out and "var 'ticket'" in out


def test_custom_perturbation_never_runs_in_promptctls_process(make_project, cli, tmp_path):
    """A function that ends its process (os._exit) ends a worker, not promptctl."""
    project(make_project, _custom_suite("bye"), **{
        "lib/pert.py": "import os\n\ndef bye(text, rng):\n    os._exit(7)\n"})
    result = cli("run", "-q")
    assert result.exit_code == 2, result.output
    assert "exited with code 7" in result.output
    assert os.getpid()  # still here


def test_custom_file_outside_the_project_is_refused(make_project, cli, tmp_path):
    out = _bad(make_project, cli, _custom_suite("f").replace("lib/pert.py", "../pert.py"))
    assert "suites/s.yaml:8:" in out and "pert.py" in out


def test_lint_reports_a_named_var_the_case_lacks(make_project, cli):
    project(make_project, BASE + "perturb: [{type: typos, vars: [ticket, tikcet, n]}]\n")
    result = cli("lint")
    assert result.exit_code == 1, result.output
    assert "perturbation 'typos' (at suites/s.yaml:7) names var 'tikcet', which the " \
           "case does not have" in result.output
    assert "names var 'n', which is not text" in result.output
    assert "suites/s.yaml:4: warning" in result.output


def test_lint_refuses_a_bad_perturbation(make_project, cli):
    project(make_project, BASE + "perturb: [{type: typos, rate: -1}]\n")
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:7:" in result.output and "rate" in result.output


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                   capture_output=True)


def test_changed_since_selects_a_cases_variants_and_a_custom_files(make_project, cli,
                                                                  tmp_path):
    """A variant's inputs are its clean case's, its perturbation (in the suite) and a
    custom perturbation's file."""
    root = project(make_project, BASE + "  - {id: b, vars: {ticket: u, name: m, n: 2}, "
                   "assert: [{type: contains, value: T}]}\n"
                   "perturb:\n  - {type: custom, id: loud, function: 'lib/pert.py:shout'}\n"
                   "  - {type: case, mode: upper, id: up}\n",
                   **{"lib/pert.py": CUSTOM})
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "start")
    suite = root / "suites/s.yaml"
    suite.write_text(suite.read_text().replace("ticket: u", "ticket: v"))
    assert sorted(outputs(cli, tmp_path, "--changed-since", "HEAD")) == [
        "b", "b~loud", "b~up"]
    _git(root, "commit", "-qam", "b")
    pert = root / "lib/pert.py"
    pert.write_text(pert.read_text().replace('"!" *', '"?" *'))
    assert sorted(outputs(cli, tmp_path, "--changed-since", "HEAD")) == ["a~loud", "b~loud"]
    _git(root, "commit", "-qam", "pert")
    suite.write_text(suite.read_text().replace("mode: upper", "mode: lower"))
    # the suite outside its cases changed: every case of it, as for defaults
    assert len(outputs(cli, tmp_path, "--changed-since", "HEAD")) == 6


def test_a_list_of_too_many_perturbations_is_refused(make_project, cli):
    items = "".join(f"  - {{type: whitespace, id: w{i}}}\n" for i in range(101))
    out = _bad(make_project, cli, BASE + "perturb:\n" + items)
    assert "suites/s.yaml:7:" in out and "101 perturbations in one list" in out


def test_synonyms_from_a_project_file(make_project, cli, tmp_path):
    """The loader reads `file:` (relative to the project root) and hands the family its
    table; a variant changes with the file (--changed-since counts it)."""
    root = project(make_project, BASE.replace("ticket: t", "ticket: 'my card was charged'")
                   + "perturb: [{type: synonyms, rate: 1, file: words.yaml, vars: [ticket]}]\n",
                   **{"words.yaml": "card: [plastic]\ncharged: [billed]\n"})
    got = outputs(cli, tmp_path, code=0)
    assert got["a~synonyms"] == "T=my plastic was billed N=n K=1"
    suite = load_suite(load_project(root), root / "suites/s.yaml")
    from promptctl.load import variants

    assert variants.files(load_project(root), suite.perturbations[0]) == [
        (root / "words.yaml").resolve()]
    (root / "words.yaml").write_text("card: [plastic]\ncharged: [billed]\n'two words': [x]\n")
    out = _bad(make_project, cli, (root / "suites/s.yaml").read_text())
    assert "suites/s.yaml:7:" in out and "not one word" in out


@pytest.mark.parametrize(("name", "message"), [
    ("../words.yaml", "outside"),
    ("missing.yaml", "missing.yaml"),
])
def test_a_synonyms_file_must_be_a_project_file(make_project, cli, name, message):
    out = _bad(make_project, cli, BASE + f"perturb: [{{type: synonyms, file: '{name}'}}]\n")
    assert "suites/s.yaml:7:" in out and message in out
