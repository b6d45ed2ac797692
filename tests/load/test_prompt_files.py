"""Prompts in their own files: `template_file:` and `messages_file:` under prompts/,
through the real CLI on real projects in tmp_path (lint, render, run -m echo, check,
--changed-since in a real git repository, --watch), and the hostile cases: a path
that leaves prompts/, a link out, a FIFO, a bad messages file, each exit 2 at its
file:line."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import run_subprocess

from promptctl.errors import PromptctlError
from promptctl.integrations.watch import WatchResult, watch
from promptctl.load import deps
from promptctl.load.project import load_project
from promptctl.load.suites import load_suite
from promptctl.run.options import RunOptions

COLLECTION = """\
prompts:
  answer:
    template_file: answer.j2
    vars: {tone: plain}
  chat:
    messages_file: chats/support.yaml
    examples:
      - {user: "Ticket: card charged", assistant: billing}
  json_chat:
    messages_file: chats/support.json
"""
ANSWER = """\
{% import "macros.j2" as m %}
Answer in a {{ tone }} tone. {% include "partials/rules.j2" %}

{{ m.bullets(points) }}
Question: {{ question }}
"""
SUPPORT_YAML = """\
- role: system
  content: |
    You route tickets
    to one of {{ teams | join(", ") }}.
- role: user
  content: "Ticket: {{ question }}"
"""
SUPPORT_JSON = """\
[
  {"role": "system", "content": "Teams: {{ teams | dump }}"},
  {"role": "user", "content": "Ticket: {{ question }}"}
]
"""
SUITE = """
prompts: [p.answer, p.chat, p.json_chat]
models: [echo]
defaults:
  vars: {teams: [billing, shipping], points: [be brief]}
  assert: [{type: contains, value: "{{ question }}"}]
cases:
  - {id: lost, vars: {question: where is my parcel}}
  - {id: refund, vars: {question: refund please}}
"""
FILES = {
    "prompts/p.yaml": COLLECTION,
    "prompts/answer.j2": ANSWER,
    "prompts/macros.j2": "{% macro bullets(items) %}{% for i in items %}- {{ i }}\n"
                         "{% endfor %}{% endmacro %}",
    "prompts/partials/rules.j2": "Rules: cite the order number.",
    "prompts/chats/support.yaml": SUPPORT_YAML,
    "prompts/chats/support.json": SUPPORT_JSON,
    "suites/s.yaml": SUITE,
}


@pytest.fixture
def project(make_project) -> Path:
    return make_project(FILES)


def render_json(cli, prompt: str, *args: str) -> list[dict[str, str]]:
    result = cli("render", prompt, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_template_file_renders_with_includes_and_macros(project, cli):
    messages = render_json(cli, "p.answer", "--case", "s:lost")
    assert messages == [{"role": "user", "content":
                         "Answer in a plain tone. Rules: cite the order number.\n"
                         "- be brief\n\nQuestion: where is my parcel"}]


def test_messages_files_yaml_and_json(project, cli):
    assert render_json(cli, "p.chat", "--case", "s:refund") == [
        {"role": "system", "content": "You route tickets\nto one of billing, shipping."},
        {"role": "user", "content": "Ticket: card charged"},
        {"role": "assistant", "content": "billing"},
        {"role": "user", "content": "Ticket: refund please"}]
    assert render_json(cli, "p.json_chat", "--case", "s:refund") == [
        {"role": "system", "content": 'Teams: ["billing","shipping"]'},
        {"role": "user", "content": "Ticket: refund please"}]


def test_lint_is_clean_and_run_on_echo_passes(project, cli):
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output
    run = cli("run", "-q", "-m", "echo", "--no-cache")
    assert run.exit_code == 0, run.output
    (records,) = (project / ".promptctl").rglob("records.jsonl")
    recs = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(recs) == 6 and all(r["passed"] for r in recs)
    answer = next(r for r in recs if r["prompt"] == "p.answer" and r["case"] == "lost")
    assert "Rules: cite the order number." in answer["output"]


def test_lint_names_the_template_file_and_its_line(project, cli):
    (project / "prompts/answer.j2").write_text(ANSWER.replace("{{ question }}",
                                                              "{{ questoin }}"))
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "prompts/answer.j2:5: error: prompt 'p.answer' (case 'lost'" in result.stderr
    assert "undefined variable 'questoin'" in result.stderr
    (project / "prompts/answer.j2").write_text(ANSWER.replace("{{ tone }}", "{{ tone }"))
    result = cli("lint")
    assert result.exit_code == 2
    assert "prompts/answer.j2:2: error: template syntax error" in result.stderr, \
        result.stderr
    # the same error, for run and render: the template file's line, not the collection's
    result = cli("render", "p.answer", "--case", "s:lost")
    assert result.exit_code == 2 and "prompts/answer.j2:2" in result.stderr


def test_a_render_error_names_the_template_file_line(project, cli):
    (project / "prompts/answer.j2").write_text("line one\n{{ 1 // zero }}\n")
    result = cli("render", "p.answer", "--var", "zero=0")
    assert result.exit_code == 2
    assert "prompts/answer.j2:2: prompt 'p.answer'" in result.stderr, result.stderr


def test_lint_a_messages_file_error_at_its_own_line(project, cli):
    (project / "prompts/chats/support.yaml").write_text(
        SUPPORT_YAML.replace("{{ teams", "{{ tems"))
    result = cli("lint")
    assert result.exit_code == 2
    assert "prompts/chats/support.yaml:4: error: prompt 'p.chat'" in result.stderr
    assert "undefined variable 'tems'" in result.stderr


def test_unused_prompt_var_is_seen_through_the_file(project, cli):
    (project / "prompts/answer.j2").write_text("Q: {{ question }} {{ points }}")
    result = cli("lint")
    assert result.exit_code == 1
    assert "prompts/p.yaml:4: warning: prompt 'p.answer': default variable 'tone' is " \
           "never used" in result.stderr, result.stderr


def test_lint_a_body_file_by_path_lints_its_prompts(project, cli):
    assert cli("lint", "prompts/answer.j2").exit_code == 0
    assert cli("lint", "prompts/").exit_code == 0  # chats/*.yaml are messages, not collections
    (project / "prompts/chats/support.json").write_text(
        SUPPORT_JSON.replace("{{ question }}", "{% if %}"))
    result = cli("lint", "prompts/chats/support.json")
    assert result.exit_code == 2
    assert "prompts/chats/support.json:3: error: template syntax error" in result.stderr, \
        result.stderr


# -- bad bodies: exit 2 at file:line ---------------------------------------------------

BAD_MESSAGES = [
    ("chats/support.yaml", SUPPORT_YAML.replace("role: user", "role: bot"),
     "prompts/chats/support.yaml:5", "messages[1].role"),
    ("chats/support.yaml", SUPPORT_YAML + "- {role: user, content: x, extra: 1}\n",
     "prompts/chats/support.yaml:7", "unknown key 'extra'"),
    ("chats/support.yaml", "role: system\ncontent: hi\n",
     "prompts/chats/support.yaml:1", "holds a list of messages, got a dict"),
    ("chats/support.yaml", "[]\n", "prompts/chats/support.yaml:1", "'messages' is empty"),
    ("chats/support.yaml", "- role: user\n  content: [oops\n",
     "prompts/chats/support.yaml:3", "YAML syntax error"),
    ("chats/support.json", SUPPORT_JSON.replace('"user"', '"bot"'),
     "prompts/chats/support.json:3", "messages[1].role"),
    ("chats/support.json", SUPPORT_JSON.replace('"content": "Ticket', '"text": "Ticket'),
     "prompts/chats/support.json:3", "missing required key 'content'"),
    ("chats/support.json", SUPPORT_JSON.replace("}\n]", "},\n]"),
     "prompts/chats/support.json:4", "JSON syntax error"),
    ("chats/support.json", '{"role": "user"}', "prompts/chats/support.json:1",
     "holds a list of messages"),
    ("chats/support.json", b"\xff\xfe".decode("latin-1"), "prompts/chats/support.json",
     "not UTF-8"),
]


@pytest.mark.parametrize(("name", "text", "where", "fragment"), BAD_MESSAGES)
def test_a_bad_messages_file_is_exit_2_at_its_line(project, cli, name, text, where,
                                                   fragment):
    path = project / "prompts" / name
    if fragment == "not UTF-8":
        path.write_bytes(b"[\xff]")
    else:
        path.write_text(text)
    for args in (("lint",), ("run", "-q", "-m", "echo"), ("render", "p.chat")):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{where}: " in result.stderr or f"{where}:" in result.stderr, result.stderr
        assert fragment in result.stderr, result.stderr


def test_a_json_message_whose_lines_yaml_reads_otherwise_names_its_index(project, cli):
    """JSON that YAML reads differently (a tab before a value is fine in JSON): no line
    is trusted, so the error names the file and the message's index."""
    (project / "prompts/chats/support.json").write_text(
        '[{"role":\t"bot", "content": "x"}]')
    result = cli("render", "p.json_chat")
    assert result.exit_code == 2
    assert "prompts/chats/support.json" in result.stderr
    assert "messages[0].role" in result.stderr, result.stderr


BAD_PATHS = [
    ("template_file: ../../etc/passwd", "outside prompts/"),
    ("template_file: /etc/passwd", "outside prompts/"),
    ("template_file: ../suites/s.yaml", "is named like YAML"),
    ("template_file: ../README.md", "outside prompts/"),
    ("template_file: missing.j2", "template_file 'missing.j2' not found"),
    ("messages_file: chats/support.txt", "must be .json, .yaml or .yml"),
    ("messages_file: support.yaml", "directly in prompts/"),
    ("template_file: answer.j2\n    template: x", "exactly one of"),
]


@pytest.mark.parametrize(("line", "fragment"), BAD_PATHS)
def test_a_path_that_leaves_prompts_or_is_wrong_is_exit_2_at_the_collection(
        project, cli, line, fragment):
    (project / "README.md").write_text("a file of the project, but not under prompts/\n")
    (project / "prompts/p.yaml").write_text(COLLECTION.replace("template_file: answer.j2",
                                                               line))
    for args in (("lint",), ("render", "p.chat"), ("run", "-q", "-m", "echo")):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "prompts/p.yaml:" in result.stderr and fragment in result.stderr, \
            result.stderr
    if "exactly" not in fragment:
        assert "prompts/p.yaml:3:" in result.stderr, result.stderr


def test_a_link_out_of_prompts_is_refused_and_a_link_inside_is_fine(project, cli):
    (project / "notes.txt").write_text("outside prompts/\n")
    (project / "prompts/out.j2").symlink_to(project / "notes.txt")
    (project / "prompts/inside.j2").symlink_to(project / "prompts/answer.j2")
    for target, ok in (("out.j2", False), ("inside.j2", True)):
        (project / "prompts/p.yaml").write_text(
            COLLECTION.replace("template_file: answer.j2", f"template_file: {target}"))
        result = cli("render", "p.answer", "--case", "s:lost")
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 2
            assert "prompts/p.yaml:3: template_file 'out.j2' is a link to" in \
                result.stderr, result.stderr
            assert "outside prompts/" in result.stderr


def test_a_fifo_is_refused_without_blocking(project):
    os.mkfifo(project / "prompts/pipe.j2")
    (project / "prompts/p.yaml").write_text(
        COLLECTION.replace("template_file: answer.j2", "template_file: pipe.j2"))
    result = run_subprocess("lint", cwd=project, timeout=60)
    assert result.exit_code == 2
    assert "prompts/p.yaml:3" in result.stderr and "a FIFO" in result.stderr, result.stderr


def test_a_huge_template_file_is_refused(project, cli, monkeypatch):
    from promptctl.load import bodies

    monkeypatch.setattr(bodies, "MAX_BODY_BYTES", 1000)
    (project / "prompts/answer.j2").write_text("x" * 1001)
    result = cli("lint")
    assert result.exit_code == 2
    assert "prompts/p.yaml:3: error: template_file 'answer.j2' is larger than 1,000 bytes" \
        in result.stderr, result.stderr


def test_a_list_as_a_top_level_collection_says_where_messages_go(make_project, cli):
    make_project({"prompts/chat.yaml": SUPPORT_YAML})
    result = cli("lint")
    assert result.exit_code == 2
    assert "prompts/chat.yaml:1: error: a prompt collection is a mapping" in result.stderr
    assert "subfolder of prompts/" in result.stderr


# -- what changed: digests, baselines, --changed-since, --watch, render --diff ----------


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(project) -> Path:
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "start")
    return project


def test_cell_inputs_hold_the_body_files(project):
    loaded = load_project()
    suite = load_suite(loaded, project / "suites/s.yaml")
    cells = deps.cell_inputs(loaded, [suite])
    root = project.resolve()
    files = {p.relative_to(root).as_posix() for p, _ in cells[("s", "lost", "p.answer",
                                                               "echo")]}
    assert {"prompts/answer.j2", "prompts/macros.j2", "prompts/partials/rules.j2",
            "prompts/p.yaml"} <= files
    files = {p.relative_to(root).as_posix() for p, _ in cells[("s", "lost", "p.json_chat",
                                                               "echo")]}
    assert "prompts/chats/support.json" in files and "prompts/answer.j2" not in files


def test_changed_since_runs_only_the_cells_of_an_edited_template_file(repo, cli):
    nothing = cli("run", "-q", "--no-cache", "--changed-since", "HEAD")
    assert nothing.exit_code == 0 and "0 of 6 cases changed since HEAD" in nothing.output
    (repo / "prompts/answer.j2").write_text(ANSWER.replace("Answer in", "Reply in"))
    result = cli("run", "--no-cache", "--changed-since", "HEAD", "-o", "out.json")
    assert result.exit_code == 0, result.output
    assert "2 of 6 cases changed since HEAD" in result.output
    ran = json.loads((repo / "out.json").read_text())["results"]
    assert {(r["case"], r["prompt"]) for r in ran} == {("lost", "p.answer"),
                                                       ("refund", "p.answer")}
    git(repo, "commit", "-qam", "reply")
    (repo / "prompts/chats/support.json").write_text(SUPPORT_JSON.replace("Teams", "T"))
    result = cli("run", "-q", "--no-cache", "--changed-since", "HEAD")
    assert "2 of 6 cases changed since HEAD" in result.output, result.output


def test_the_prompt_digest_and_baseline_follow_the_file(repo, cli):
    def digests(name: str) -> dict[tuple[str, str], str]:
        assert cli("run", "-q", "--no-cache", "-o", name).exit_code == 0
        doc = json.loads((repo / name).read_text())
        return {(r["case"], r["prompt"]): r["fingerprint"]["prompt_sha256"]
                for r in doc["results"]}

    assert cli("baseline", "update").exit_code == 0
    before = digests("before.json")
    (repo / "prompts/answer.j2").write_text(ANSWER.replace("Answer in", "Reply in"))
    after = digests("after.json")
    assert {k for k in before if before[k] != after[k]} == {("lost", "p.answer"),
                                                              ("refund", "p.answer")}
    edited = cli("check", "-o", "diff.json")
    report = json.loads((repo / "diff.json").read_text())
    cells = {(c["case"], c["prompt"]): c for c in report["suites"][0]["cases"]}
    for case in ("lost", "refund"):
        assert "prompt edited (rendered messages differ)" in \
            cells[(case, "p.answer")]["fingerprint"], edited.output
        assert cells[(case, "p.chat")]["fingerprint"] == []


def test_render_diff_reads_the_template_file_at_the_ref(repo, cli):
    (repo / "prompts/answer.j2").write_text(ANSWER.replace("Answer in", "Reply in"))
    result = cli("render", "p.answer", "--case", "s:lost", "--diff", "HEAD")
    assert result.exit_code == 0, result.output
    assert "-Answer in a plain tone." in result.stdout
    assert "+Reply in a plain tone." in result.stdout
    unchanged = cli("render", "p.chat", "--case", "s:lost", "--diff", "HEAD")
    assert "no change" in unchanged.stdout


def test_watch_reruns_the_cells_of_a_saved_template_file(repo):
    results: queue.Queue[WatchResult] = queue.Queue()
    errors: queue.Queue[PromptctlError] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(repo, RunOptions(use_cache=False),
                                                  results.put, stop),
                              kwargs={"on_error": errors.put}, daemon=True)
    thread.start()
    try:
        first = results.get(timeout=30)
        assert len(first.ran) == 6
        (repo / "prompts/answer.j2").write_text(ANSWER.replace("Answer in", "Reply in"))
        second = results.get(timeout=10)
        assert second.ran == {("s", "lost", "p.answer", "echo"),
                              ("s", "refund", "p.answer", "echo")}
        assert [p.name for p in second.files] == ["answer.j2"]
        (repo / "prompts/chats/support.yaml").write_text(SUPPORT_YAML.replace(
            "role: user", "role: bot"))
        err = errors.get(timeout=10)
        assert "prompts/chats/support.yaml:5" in str(err.file) + ":" + str(err.line)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_an_include_that_leaves_the_project_names_the_template_files_line(project, cli,
                                                                          tmp_path_factory):
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    secret.write_text("not project input\n")
    (project / "prompts/partials/evil.j2").symlink_to(secret)
    (project / "prompts/answer.j2").write_text(
        ANSWER.replace("{{ m.bullets(points) }}", '{% include "partials/evil.j2" %}'))
    for args in (("lint",), ("render", "p.answer", "--case", "s:lost")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "prompts/answer.j2:4" in result.stderr, result.stderr
        assert "outside the project" in result.stderr
