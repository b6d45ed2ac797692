"""Inline `python` assertions and the promptfoo-style context (issue 14, part 3).

Through the real CLI on a project in tmp_path, with the echo model (it returns the
rendered prompt, here the case's `text` var), reading the verdicts and reasons from
`-o out.json`. The inline code is compiled in promptctl's process and run only in the
worker processes of python checks (pool.py): a syntax error is exit 2 at the suite's
file:line, whatever the code does when it runs is a result."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import run_subprocess, write_files

from promptctl.assertions.inline import split_target

CONFIG = "models:\n  echo: {provider: echo}\nlimits: {check_timeout: 1}\n"
PROMPTS = "prompts:\n  ask:\n    template: '{{ text }}'\n"


def suite(*cases: str) -> str:
    """A suite of cases written as YAML flow mappings (or blocks), one per argument."""
    return "prompts: [p.ask]\nmodels: [echo]\ncases:\n" + "".join(
        f"  - {c}\n" if not c.startswith("\n") else c for c in cases)


@pytest.fixture
def proj(make_project):
    def make(suite_text: str, **files: str) -> Path:
        return make_project({"promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
                             "suites/s.yaml": suite_text, **files})
    return make


def run(cli, *extra: str) -> tuple[Any, dict[str, dict[str, Any]]]:
    result = cli("run", "--no-cache", "-o", "out.json", *extra)
    assert result.exit_code in (0, 1), result.output
    records = json.loads(Path("out.json").read_text())["results"]
    return result, {r["case"]: r for r in records}


def reason(record: dict[str, Any], i: int = 0) -> str:
    text: str = record["assertions"][i]["reason"]
    return text


def case(cid: str, text: str, value: str, extra: str = "", vars_: str = "") -> str:
    return (f"{{id: {cid}, vars: {{text: {json.dumps(text)}{vars_}}}, assert: "
            f"[{{type: python, value: {json.dumps(value)}{extra}}}]}}")


# ------------------------------------------------------------------------ verdicts


def test_an_expression_passes_and_fails_on_the_output(proj, cli):
    proj(suite(case("short", "Paris is the capital", "len(output) < 30"),
               case("long", "x" * 40, "len(output) < 30"),
               case("has", "I think Paris", '"Paris" in output'),
               case("starts", "Answer: yes", 'output.startswith("A")')))
    result, got = run(cli)
    assert result.exit_code == 1
    assert {c: r["passed"] for c, r in got.items()} == \
        {"short": True, "long": False, "has": True, "starts": True}
    assert reason(got["long"]) == "'len(output) < 30' returned False"


def test_a_multi_line_body_returns_its_verdict(proj, cli):
    block = ("\n  - id: words\n    vars: {text: one two three}\n    assert:\n"
             "      - type: python\n        value: |\n"
             "          words = output.split()\n"
             "          if not words:\n              return False\n"
             "          return len(words) == 3\n")
    proj(suite(block, case("four", "a b c d", "n = len(output.split())\nreturn n == 3")))
    _, got = run(cli)
    assert got["words"]["passed"] is True
    assert got["four"]["passed"] is False
    assert reason(got["four"]) == r"'n = len(output.split())\nreturn n == 3' returned False"


def test_a_score_passes_at_the_threshold(proj, cli):
    score = "output.count('a') / 10"
    proj(suite(case("default", "aaaa", score), case("lower", "aaaa", score, ", threshold: 0.3"),
               case("clamped", "a" * 30, score)))
    _, got = run(cli)
    assert got["default"]["passed"] is False
    assert reason(got["default"]) == "\"output.count('a') / 10\" scored 0.4 < 0.5"
    assert got["lower"]["passed"] is True and got["lower"]["assertions"][0]["score"] == 0.4
    assert got["clamped"]["assertions"][0]["score"] == 1.0


def test_a_dict_result_gives_pass_score_and_reason(proj, cli):
    proj(suite(case("d", "yes", "{'pass': output == 'yes', 'score': 0.25, 'reason': 'said ' "
                                "+ output}"),
               case("score-only", "x", "{'score': 0.9}"),
               case("no-verdict", "x", "{'reason': 'hm'}")))
    _, got = run(cli)
    a = got["d"]["assertions"][0]
    assert (a["passed"], a["score"], a["reason"]) == (True, 0.25, "said yes")
    assert got["score-only"]["passed"] is True
    assert got["no-verdict"]["passed"] is False
    assert "returned a dict without 'pass' or 'score'" in reason(got["no-verdict"])


def test_not_python_negates_an_inline_expression(proj, cli):
    proj(suite(case("rude", "go away", "'please' in output").replace("python", "not-python"),
               case("polite", "please", "'please' in output").replace("python",
                                                                       "not-python")))
    _, got = run(cli)
    assert got["rude"]["passed"] is True and got["polite"]["passed"] is False
    assert reason(got["polite"]).endswith("(must not)")


def test_a_body_without_return_fails_saying_so(proj, cli):
    proj(suite(case("c", "x", "n = len(output)")))
    _, got = run(cli)
    assert got["c"]["passed"] is False
    assert "returned NoneType" in reason(got["c"]) and "must `return`" in reason(got["c"])


def test_json_and_the_project_s_modules_are_at_hand(proj, cli):
    proj(suite(case("json", '{"a": 1}', "json.loads(output)['a'] == 1"),
               case("module", "hello", "import textcheck\nreturn textcheck.greets(output)")),
         **{"textcheck.py": "def greets(text):\n    return text.startswith('hello')\n"})
    _, got = run(cli)
    assert got["json"]["passed"] is True, reason(got["json"])
    assert got["module"]["passed"] is True, reason(got["module"])


# ------------------------------------------------------------------------- context


def test_context_vars_and_test_as_promptfoo_passes_them(proj, cli):
    proj(suite(
        case("vars", "Paris", "output == context['vars']['city']", vars_=", city: Paris"),
        case("get", "Paris", "context.get('vars').get('city') in output",
             vars_=", city: Paris"),
        case("test", "Paris", "context['test']['vars']['city'] == output",
             vars_=", city: Paris"),
        "\n  - id: described\n    description: the capital\n    metadata: {topic: geo}\n"
        "    vars: {text: x}\n    assert:\n      - type: python\n        value: >-\n"
        "          context['test']['description'] == 'the capital'\n"
        "          and context['test']['metadata']['topic'] == 'geo'\n"
        "          and sorted(context) == ['prompt', 'test', 'vars']\n"))
    _, got = run(cli)
    assert {c: r["passed"] for c, r in got.items()} == \
        {"vars": True, "get": True, "test": True, "described": True}, got


def test_context_prompt_is_the_rendered_prompt_and_ctx_prompt_its_id(proj, cli):
    proj(suite(case("rendered", "What is 2+2?", "context['prompt'] == output"),
               case("id", "x", "context.prompt == 'p.ask' and context.model == 'echo'")))
    _, got = run(cli)
    assert got["rendered"]["passed"] is True, reason(got["rendered"])
    assert got["id"]["passed"] is True, reason(got["id"])


def test_a_chat_prompt_s_context_prompt_is_its_messages_as_json(proj, cli):
    proj(suite(case("chat", "hi", "json.loads(context['prompt'])[0]['role'] == 'system'"
                                  " and json.loads(context['prompt'])[1]['content'] == 'hi'")))
    Path("prompts/p.yaml").write_text(
        "prompts:\n  ask:\n    messages:\n      - {role: system, content: be brief}\n"
        "      - {role: user, content: '{{ text }}'}\n")
    _, got = run(cli)
    assert got["chat"]["passed"] is True, reason(got["chat"])


def test_context_vars_is_read_only(proj, cli):
    proj(suite(case("write", "x", "context['vars']['text'] = 'y'\nreturn True")))
    _, got = run(cli)
    assert got["write"]["passed"] is False
    assert "raised TypeError" in reason(got["write"]), reason(got["write"])


def test_a_file_check_gets_both_attribute_and_mapping_access(proj, cli):
    checks = ("def get_assert(output, context):\n"
              "    return context['vars']['city'] in output and context.vars['city'] in output\n"
              "def old_style(output, ctx):\n"
              "    ctx.vars['seen'] = True  # a plain dict, as it always was\n"
              "    return ctx.prompt == 'p.ask' and ctx.vars['seen'] and ctx.root.is_dir()\n")
    proj(suite(case("ported", "Paris", "checks.py:get_assert", vars_=", city: Paris"),
               case("old", "x", "checks:old_style")), **{"checks.py": checks})
    result, got = run(cli)
    assert result.exit_code == 0, {c: reason(r) for c, r in got.items()}


def test_lint_counts_the_vars_inline_code_reads_as_used(proj, cli):
    proj(suite(case("reads", "x", "context['vars']['city'] in output or "
                                  "'town' in context['test']['vars']",
                    vars_=", city: P, town: T, spare: S")))
    result = cli("lint")
    assert result.exit_code == 1, result.output  # one warning: spare
    assert "variable 'spare' is not used" in result.stderr
    assert "'city'" not in result.stderr and "'town'" not in result.stderr
    Path("suites/s.yaml").write_text(suite(case("whole", "x", "len(context['vars']) > 2",
                                                vars_=", spare: S")))
    assert cli("lint").exit_code == 0  # it may read any of them


# -------------------------------------------------------------- errors at load time


def test_a_syntax_error_is_exit_2_at_the_suite_s_line(proj, cli):
    proj(suite(case("fine", "x", "len(output) > 0"), case("bad", "x", "len(output) <")))
    for command, prefix in ((["lint"], "suites/s.yaml:5: error: "),
                            (["run", "--no-cache"], "error: suites/s.yaml:5: ")):
        result = cli(*command)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == (2 if command == ["lint"] else 1), result.stderr  # + summary
        assert lines[0].startswith(prefix), lines[0]
        assert "python assertion 'len(output) <': syntax error: invalid syntax" in lines[0]
        assert "fix the Python" in lines[0]  # the fix


def test_a_body_s_syntax_error_names_its_line_of_the_code(proj, cli):
    block = ("\n  - id: c\n    vars: {text: x}\n    assert:\n      - type: python\n"
             "        value: |\n          n = len(output)\n          return n >\n")
    proj(suite(block))
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:9: " in result.stderr  # the `value:` key's line
    assert "syntax error: invalid syntax (line 2 of the code)" in result.stderr


@pytest.mark.parametrize(("code", "said"), [
    ("break", "'break' outside loop"),  # found by the compiler, not the parser
    ("if output:\n    return 1\n  return 2", "unindent does not match"),
    ("", "has no code"),
])
def test_code_that_cannot_compile_is_exit_2(proj, cli, code: str, said: str):
    proj(suite(case("c", "x", code)))
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:4: " in result.stderr and said in result.stderr, result.stderr


@pytest.mark.parametrize(("code", "said"), [
    ("len(outptu) < 80", "name 'outptu' is not defined (did you mean 'output'?"),
    ("count = len(output)\nreturn cuont < 3", "'cuont' is not defined (did you mean 'count'?"),
    ("output.count(x) > 1", "name 'x' is not defined (inline code sees output, context"),
    ("checks", "python assertion 'checks' does not name a function"),
    ("pkg.mod", "python assertion 'pkg.mod' does not name a function"),
])
def test_a_name_nothing_defines_is_exit_2(proj, cli, code: str, said: str):
    proj(suite(case("c", "x", code)))
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "suites/s.yaml:4: " in result.stderr and said in result.stderr, result.stderr


def test_names_the_code_binds_or_imports_are_defined(proj, cli):
    proj(suite(case("c", "a b", "import re\nfrom collections import Counter as C\n"
                                "words = [w for w in re.split(' ', output)]\n"
                                "try:\n    n = C(words)\nexcept Exception as exc:\n"
                                "    raise exc\n"
                                "return all((k := w) in n for w in words) and k == 'b'"),
               case("dynamic", "x", "exec('y = 1', globals()) or y == 1")))
    assert cli("lint").exit_code == 0
    _, got = run(cli)
    assert got["c"]["passed"] is True, reason(got["c"])
    assert got["dynamic"]["passed"] is True, reason(got["dynamic"])


def test_lint_compiles_the_code_but_never_runs_it(proj, cli):
    proj(suite(case("c", "x", "open('ran.txt', 'w').write('ran') > 0"),
               case("body", "x", "open('ran2.txt', 'w')\nimport os\nos._exit(0)")))
    assert cli("lint").exit_code == 0
    assert not Path("ran.txt").exists() and not Path("ran2.txt").exists()
    _, got = run(cli)  # the run does run it, in the worker, from the working directory
    assert got["c"]["passed"] is True and Path("ran.txt").read_text() == "ran"


# ------------------------------------------------------ what the code does at run time


def test_a_runtime_exception_is_a_failed_assertion(proj, cli):
    proj(suite(case("boom", "x", "1 / 0"), case("key", "x", "context['vars']['missing']"),
               case("fine", "x", "True")))
    result, got = run(cli)
    assert result.exit_code == 1
    assert reason(got["boom"]) == "python assertion raised ZeroDivisionError: division by zero"
    assert reason(got["key"]) == "python assertion raised KeyError: 'missing'"
    assert got["fine"]["passed"] is True


def test_exit_and_a_hang_in_inline_code_fail_and_the_run_goes_on(tmp_path: Path):
    root = write_files(tmp_path, {
        "promptctl.yaml": CONFIG, "prompts/p.yaml": PROMPTS,
        "suites/s.yaml": suite(
            case("os-exit", "x", "import os; os._exit(1)"),
            case("sys-exit", "x", "__import__('sys').exit(3)"),
            case("hang", "x", "while True:\n    pass"),
            case("after", "x", "len(output) == 1"))})
    tag = uuid.uuid4().hex
    start = time.monotonic()
    result = run_subprocess("run", "--no-cache", "-o", "out.json", cwd=root,
                            env={"PROMPTCTL_TEST_TAG": tag}, timeout=120)
    assert time.monotonic() - start < 60
    assert result.exit_code == 1, result.output
    got = {r["case"]: r for r in json.loads((root / "out.json").read_text())["results"]}
    assert reason(got["os-exit"]) == \
        "python assertion's process exited with code 1 before answering"
    assert reason(got["sys-exit"]) == "python assertion called sys.exit(3)"
    assert reason(got["hang"]) == "python assertion timed out after 1 s"
    assert got["after"]["passed"] is True
    assert not _running(tag), "a worker outlived promptctl"


def _running(tag: str) -> list[str]:
    needle = f"PROMPTCTL_TEST_TAG={tag}".encode()
    deadline = time.monotonic() + 3
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and needle in (proc / "environ").read_bytes().split(b"\0"):
                    left.append(proc.name)
            except OSError:
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# ---------------------------------------------------------- target or code: the rule


def test_a_value_shaped_module_function_is_a_target_never_code(proj, cli):
    checks = "def fn(output, ctx):\n    return output == 'from the file'\n"
    proj(suite(case("c", "from the file", "checks:fn")), **{"checks.py": checks})
    result, got = run(cli)
    assert result.exit_code == 0 and reason(got["c"]) == "checks:fn returned True"


def test_a_target_without_its_file_is_a_missing_module_not_code(proj, cli):
    proj(suite(case("c", "x", "checks:fn")))
    result = cli("lint")
    assert result.exit_code == 2
    assert "cannot import module 'checks'" in result.stderr and "syntax" not in result.stderr


@pytest.mark.parametrize(("value", "target"), [
    ("checks:fn", ("checks", "fn")),
    (" pkg.mod:check ", ("pkg.mod", "check")),
    ("tests/checks.py:is_polite", ("tests/checks.py", "is_polite")),
    ("my checks/grade-1.py:score", ("my checks/grade-1.py", "score")),
    ("lambda x:y", ("lambda x", "y")),  # a lambda is no check: read as a target
    ("len(output) < 80", None),
    ("x if a else b", None),
    ("{'pass': True}", None),
    ("output[1:3] == 'ab'", None),
    ("{'a':b}", None),
    ("lambda: 1", None),
    ("checks:fn\nreturn 1", None),
    ("checks:fn()", None),
    ("a: 1", None),
])
def test_split_target_reads_the_text_alone(value: str, target: tuple[str, str] | None):
    assert split_target(value) == target
