"""The assertion registry's two sources of types: the built-in table (builtins.py) and
third-party plugins from the `promptctl.assertions` entry-point group.

The table must be complete and honest: each module it names defines exactly the types
it lists, and no module defines a type the table does not list (the registry imports a
module the first time one of its types is used, trusting the table). Plugins are
installed the way pip installs them (a dist-info with entry_points.txt on PYTHONPATH)
and exercised through the real CLI in a subprocess: their verdicts reach the results,
`lint` knows their names, a broken one is exit 3 naming it, and none can take a
built-in's name. Validating a suite imports only the check modules it uses."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, CliResult, plugin_site, run_subprocess, write_files

from promptctl.assertions import register, registry
from promptctl.assertions.builtins import BUILTINS

PACKAGE = REPO / "promptctl" / "assertions"


# ------------------------------------------------------------------ the built-in table


@pytest.mark.parametrize("module", sorted(set(BUILTINS.values())))
def test_each_module_defines_exactly_the_types_the_table_lists(module: str):
    types = importlib.import_module(f"promptctl.assertions.{module}").TYPES
    assert sorted(types) == sorted(n for n, m in BUILTINS.items() if m == module)
    assert all(entry.name == name for name, entry in types.items())
    # the registry hands out the module's own check for each of them
    assert all(registry._entry(name) is types[name] for name in types)


def test_every_module_with_a_types_table_is_in_the_table():
    """A new check module must be listed, or its types are never found."""
    defining = {p.stem for p in PACKAGE.glob("*.py")
                if re.search(r"^TYPES = Types\(\)", p.read_text(encoding="utf-8"), re.M)}
    assert defining == set(BUILTINS.values())


def test_register_refuses_a_built_in_name():
    with pytest.raises(ValueError, match="'contains' is a built-in assertion type"):
        register("contains")
    entry = registry._entry("contains")
    assert entry is not None and entry.check.__module__ == "promptctl.assertions.text"


# ------------------------------------------------------------- plugins, as pip installs


WORDS = '''
"""A plugin with one plain check and one decorated with promptctl's register."""
from promptctl.assertions import register


def has_word(output, arg, ctx):
    return arg.value in output.split()


@register("word-count", options=("min",), needs_value=False, takes_value=False)
def word_count(output, arg, ctx):
    n = len(output.split())
    return n >= arg.options.get("min", 1), 1.0, f"{n} words"


def always(output, arg, ctx):
    return True
'''

ENTRY_POINTS = [
    "has-word = promptctl_words:has_word",
    "word-count = promptctl_words:word_count",
    "contains = promptctl_words:always",  # a built-in's name: not the plugin's to take
    "not-has-word = promptctl_words:always",  # the negation prefix: not a name
    "explodes = promptctl_boom:check",
    "exits = promptctl_bye:check",
    "sneaky = promptctl_sneaky:check",
]

MODULES = {
    "promptctl_words.py": WORDS,
    "promptctl_boom.py": "raise RuntimeError('no backend for this platform\\n"
                         "see the install notes')\n",
    "promptctl_bye.py": "import sys\nsys.exit(4)\n",
    # takes a built-in's name from inside its module instead of its entry point
    "promptctl_sneaky.py": "from promptctl.assertions import register\n\n\n"
                           "@register('contains')\ndef check(output, arg, ctx):\n"
                           "    return True\n",
}

PROJECT = {
    "promptctl.yaml": "models:\n  m: {provider: echo}\n",
    "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ n }}'\n",
}


def suite(*cases: str) -> str:
    """A suite of one prompt on the echo model (its output: 'Say ' + n)."""
    return "prompts: [p.ask]\nmodels: [m]\ncases:\n" + "".join(f"  - {c}\n" for c in cases)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return plugin_site(tmp_path_factory.mktemp("site"), "promptctl-words",
                       "promptctl.assertions", ENTRY_POINTS, MODULES)


@dataclass
class Installed:
    """A project with the plugins installed: the real CLI in a subprocess there, this
    worktree's promptctl first on the path."""

    root: Path
    site: Path

    def __call__(self, *args: str) -> CliResult:
        env = {"PYTHONPATH": os.pathsep.join([str(self.site), str(REPO)])}
        return run_subprocess(*args, cwd=self.root, env=env, timeout=120)


@pytest.fixture
def project(tmp_path: Path, site: Path):
    def make(suites: dict[str, str]) -> Installed:
        return Installed(write_files(tmp_path / "project", {**PROJECT, **suites}), site)

    return make


def verdicts(root: Path) -> dict[str, list[tuple[str, bool, str]]]:
    results = json.loads((root / "out.json").read_text())["results"]
    return {r["case"]: [(a["type"], a["passed"], a["reason"]) for a in r["assertions"]]
            for r in results}


def test_a_plugin_type_scores_a_run(project):
    cli = project({"suites/s.yaml": suite(
        "{id: good, vars: {n: hello there}, assert: [{type: has-word, value: hello}, "
        "{type: word-count, min: 2}, {type: not-has-word, value: bye}]}",
        "{id: bad, vars: {n: hello}, assert: [{type: has-word, value: bye}]}")})
    result = cli("run", "--no-cache", "-o", "out.json")
    assert result.exit_code == 1, result.output
    assert verdicts(cli.root) == {
        "good": [("has-word", True, "passed"), ("word-count", True, "3 words"),
                 ("not-has-word", True, "negated: failed")],
        "bad": [("has-word", False, "failed")],
    }


def test_lint_accepts_a_plugin_type(project):
    cli = project({"suites/s.yaml": suite(
        "{id: a, vars: {n: hi}, assert: [{type: has-word, value: hi}, "
        "{type: word-count, min: 1}]}")})
    result = cli("lint")
    assert result.exit_code == 0, result.output
    assert "clean" in result.output


def test_an_unknown_type_lists_the_plugins_types(project):
    """The hint lists the installed plugins' names, broken ones too: listing them
    imports nothing."""
    cli = project({"suites/s.yaml": suite("{id: a, vars: {n: hi}, assert: [{type: qqqqqqqq}]}")})
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "unknown assertion type 'qqqqqqqq'" in result.output
    hint = result.output.split("known types: ", 1)[1]
    known = hint.split(" (each also", 1)[0].split(", ")
    assert {"has-word", "word-count", "explodes", "exits", "contains"} <= set(known)
    assert known.count("contains") == 1 and "not-has-word" not in known
    assert "Traceback" not in result.output


def test_a_near_miss_suggests_the_plugin_type(project):
    cli = project({"suites/s.yaml": suite(
        "{id: a, vars: {n: hi}, assert: [{type: has-wrod, value: hi}]}")})
    result = cli("run", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "did you mean 'has-word'?" in result.stderr


@pytest.mark.parametrize(("type_name", "said"), [
    ("explodes", "raised RuntimeError: no backend for this platform see the install notes"),
    ("exits", "called sys.exit(4)"),
])
def test_a_plugin_that_fails_at_import_is_exit_3_naming_it(project, type_name: str,
                                                           said: str):
    cli = project({"suites/s.yaml": suite(
        "{id: a, vars: {n: hi}, assert: [{type: contains, value: hi}]}",
        f"{{id: b, vars: {{n: hi}}, assert: [{{type: {type_name}}}]}}")})
    for command in (("run", "--no-cache"), ("lint",)):
        result = cli(*command)
        assert result.exit_code == 3, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr  # one line, however the plugin's text runs
        assert f"assertion type '{type_name}'" in lines[0] and said in lines[0], lines[0]


def test_a_plugin_cannot_replace_a_built_in(project):
    """`contains = promptctl_words:always` in the entry points is ignored: the
    built-in answers, and fails where it must."""
    cli = project({"suites/s.yaml": suite(
        # has-word imports the module that offers the fake `contains`
        "{id: a, vars: {n: hi}, assert: [{type: has-word, value: hi}, "
        "{type: contains, value: zzz}]}")})
    result = cli("run", "--no-cache", "-o", "out.json")
    assert result.exit_code == 1, result.output
    assert verdicts(cli.root)["a"] == [
        ("has-word", True, "passed"),
        ("contains", False, "expected to contain 'zzz', got 'Say hi'")]


def test_a_plugin_cannot_register_a_built_in_name_either(project):
    """A module that calls register('contains') when its own type is loaded is a
    broken plugin (exit 3 naming it), not a new `contains`."""
    cli = project({"suites/s.yaml": suite(
        "{id: a, vars: {n: hi}, assert: [{type: contains, value: zzz}, {type: sneaky}]}")})
    result = cli("run", "--no-cache")
    assert result.exit_code == 3, result.output
    assert "assertion type 'sneaky'" in result.stderr
    assert "'contains' is a built-in assertion type" in result.stderr


def test_a_decorated_plugin_takes_its_options_and_no_others(project):
    cli = project({"suites/s.yaml": suite(
        "{id: ok, vars: {n: one two}, assert: [{type: word-count, min: 3}]}",
        "id: typo\n    vars: {n: hi}\n    assert:\n      - type: word-count\n"
        "        mni: 3")})
    result = cli("run", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "error: suites/s.yaml:9: case 'typo': unknown option 'mni' for word-count" \
        in result.stderr
    assert "did you mean 'min'?" in result.stderr
    (cli.root / "suites/s.yaml").write_text(suite(
        "{id: ok, vars: {n: one two}, assert: [{type: word-count, min: 3}]}"))
    result = cli("run", "--no-cache", "-o", "out.json")
    assert result.exit_code == 0, result.output  # 'Say one two': 3 words
    assert verdicts(cli.root) == {"ok": [("word-count", True, "3 words")]}


def test_an_undecorated_plugin_takes_no_options(project):
    cli = project({"suites/s.yaml": suite(
        "{id: a, vars: {n: hi}, assert: [{type: has-word, value: hi, min: 1}]}")})
    result = cli("run", "--no-cache")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:4: case 'a': unknown option 'min' for has-word" in result.stderr
    assert "has-word takes no options" in result.stderr


# ---------------------------------------------------------------------------- laziness


LOADED = """
import sys
from pathlib import Path

import promptctl

project = promptctl.load_project()
promptctl.load_suite(project, Path("suites/s.yaml"))
print(" ".join(sorted(m for m in sys.modules
                      if m.startswith(("promptctl.assertions.", "promptctl_")))))
"""


@pytest.mark.parametrize(("check", "loaded", "not_loaded"), [
    ("{type: contains, value: hi}", {"text"}, {"metrics", "models", "judges", "custom"}),
    # the control: the same script does see a module that is used
    ("{type: rouge-l, value: hi}", {"metrics"}, {"models", "judges", "custom"}),
])
def test_validating_a_suite_imports_only_the_checks_it_uses(tmp_path: Path, site: Path,
                                                           check: str, loaded: set[str],
                                                           not_loaded: set[str]):
    """Start-up stays proportionate: a suite of `contains` checks loads neither the
    metrics nor the model-graded checks, nor any installed plugin."""
    root = write_files(tmp_path, {**PROJECT, "suites/s.yaml": suite(
        f"{{id: a, vars: {{n: hi}}, assert: [{check}]}}")})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(LOADED)], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ,
                               "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])})
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stdout.split())
    assert not any(m.startswith("promptctl_") for m in modules), modules
    checks = {m.rsplit(".", 1)[1] for m in modules if m.startswith("promptctl.assertions.")}
    assert loaded <= checks and not checks & not_loaded, checks
