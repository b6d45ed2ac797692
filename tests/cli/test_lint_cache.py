"""The lint cache (load/lintcache.py) through the real `promptctl lint`, in-process: a
warm run prints and exits as the cold one did, every kind of input invalidates, errors
are never cached, a forged or corrupt entry is ignored, --no-cache bypasses it.

Whether a run was answered from the cache is seen by counting the calls of the real
lint_project (wrapped, not replaced): a hit makes none. The files of each project are
dated a minute back first, as a tree is when a commit is linted: a file modified less
than 10 ms before a lint started is not trusted to be what the lint read, and such a
lint is not stored."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from promptctl import __version__
from promptctl.load import lint as lint_module
from promptctl.load import lintcache

PROJECT = {
    "prompts/support.yaml": """
        prompts:
          triage:
            messages:
              - {role: system, content: "Route to {{ teams | join(', ') }}."}
              - {role: user, content: "Ticket: {{ ticket }}"}
            vars: {teams: [billing, shipping]}
          answer:
            template_file: answer.j2
        """,
    "prompts/answer.j2": 'Answer {{ question }}. {% include "partials/rules.j2" %}\n',
    "prompts/partials/rules.j2": "Be brief.\n",
    "suites/triage.yaml": """
        prompts: [support.triage]
        defaults:
          assert: [{type: python, value: "checks.py:short"}]
        cases:
          - id: lost
            vars: {ticket: parcel lost}
            assert: [{type: icontains, value: shipping}]
          - from: data/tickets.csv
        """,
    "suites/answer.yaml": """
        prompts: [support.answer]
        cases:
          - id: q
            vars: {question: why}
            assert: [{type: contains, value: brief}]
        """,
    "suites/data/tickets.csv": "id,ticket\nrefund,money back\n",
    "checks.py": "def short(output, ctx):\n    return len(output) < 500\n",
    "promptctl.yaml": "models:\n  fast: {provider: echo}\n",
}

WARNING = ("suites/extra.yaml", """
    prompts: [support.triage]
    cases:
      - id: a
        vars: {ticket: x, unused: 1}
        assert: [{type: contains, value: x}]
    """)
ERROR = ("suites/extra.yaml", """
    prompts: [support.triage]
    cases:
      - id: a
        vars: {tickt: x}
        assert: [{type: contains, value: x}]
    """)


@pytest.fixture
def lints(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of real lints run so far (one entry per lint_project call)."""
    calls: list[int] = []
    real = lint_module.lint_project

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lint_module, "lint_project", counted)
    return calls


def settle(root: Path) -> None:
    """Date every file and folder of the project a minute back."""
    past = time.time() - 60
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(folder, name), (past, past), follow_symlinks=False)


def project(make_project, *extra: tuple[str, str]) -> Path:
    root = make_project({**PROJECT, **dict(extra)})
    settle(root)
    return root


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("extra", "code"), [((), 0), ((WARNING,), 1)],
                         ids=["clean", "warnings"])
@pytest.mark.parametrize("args", [(), ("-q",), ("suites", "prompts/support.yaml")],
                         ids=["all", "quiet", "paths"])
def test_warm_hit_prints_and_exits_as_the_cold_lint(make_project, cli, lints, extra, code,
                                                   args):
    root = project(make_project, *extra)
    before = tree(root)
    cold = cli("lint", *args)
    assert cold.exit_code == code, cold.output
    assert len(lints) == 1
    warm = cli("lint", *args)
    assert len(lints) == 1, "the second lint was not answered from the cache"
    assert (warm.exit_code, warm.stdout, warm.stderr) == \
        (cold.exit_code, cold.stdout, cold.stderr)
    if code:
        assert "variable 'unused' is not used" in warm.stderr
    # the cache lives in the user's cache directory; nothing is written into the project
    assert tree(root) == before
    assert list(lintcache.cache_dir().glob("*.json"))
    # other arguments are another question
    cli("lint", "suites/answer.yaml")
    assert len(lints) == 2


def test_errors_are_never_cached(make_project, cli, lints):
    project(make_project, ERROR)
    first = cli("lint")
    assert first.exit_code == 2 and "uses undefined variable 'ticket'" in first.stderr
    second = cli("lint")
    assert len(lints) == 2
    assert (second.exit_code, second.stderr) == (first.exit_code, first.stderr)


EDITS = {  # what: (file, old text, new text, the finding the edit makes, if any)
    "prompt": ("prompts/support.yaml", "vars: {teams: [billing, shipping]}",
               "vars: {teams: [billing, shipping], x: 1}", "default variable 'x' is never used"),
    "suite": ("suites/answer.yaml", "vars: {question: why}", "vars: {question: why, extra: 1}",
              "variable 'extra' is not used"),
    "data file": ("suites/data/tickets.csv", "id,ticket\nrefund,money back",
                  "id,ticket,more\nrefund,money back,1", "variable 'more' is not used"),
    "template_file": ("prompts/answer.j2", "Answer {{ question }}.",
                      "Answer {{ question }} for {{ who }}.", "uses undefined variable 'who'"),
    "included template": ("prompts/partials/rules.j2", "Be brief.", "Be {{ tone }}.",
                          "uses undefined variable 'tone'"),
    "python check": ("checks.py", "def short(", "def brief(", "short"),
    "promptctl.yaml": ("promptctl.yaml", "provider: echo}\n",
                       "provider: echo}\nassert_sets:\n  spare: [{type: contains, value: x}]\n",
                       "assertion set 'spare' is not used"),
}


@pytest.mark.parametrize("what", list(EDITS))
def test_editing_any_input_invalidates(make_project, cli, lints, what):
    root = project(make_project)
    assert cli("lint").exit_code == 0
    assert cli("lint").exit_code == 0 and len(lints) == 1  # stored, and a hit
    file, old, new, finding = EDITS[what]
    text = (root / file).read_text()
    assert old in text
    (root / file).write_text(text.replace(old, new))
    result = cli("lint")
    assert len(lints) == 2, f"editing the {what} did not invalidate the cached lint"
    assert finding in result.stderr, result.output


def test_an_edit_that_keeps_size_and_time_invalidates(make_project, cli, lints):
    """A file the lint read is known by its bytes, not by its size and date (which a
    copy that keeps dates, such as rsync -t, leaves as they were)."""
    root = project(make_project)
    cli("lint")
    path = root / "prompts/answer.j2"
    st = path.stat()
    path.write_text(path.read_text().replace("{{ question }}", "{{ questiox }}"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    result = cli("lint")
    assert len(lints) == 2 and "undefined variable 'questiox'" in result.stderr


def test_added_and_removed_files_invalidate(make_project, cli, lints):
    root = project(make_project)
    cli("lint")
    (root / "suites/extra.yaml").write_text(WARNING[1].replace("\n    ", "\n").lstrip())
    result = cli("lint")
    assert len(lints) == 2 and result.exit_code == 1
    settle(root)
    cli("lint")
    cli("lint")
    assert len(lints) == 3  # stored again, and a hit
    (root / "suites/extra.yaml").unlink()
    assert cli("lint").exit_code == 0 and len(lints) == 4
    # a new prompt collection, and a new file under prompts/ that nothing names yet
    settle(root)
    cli("lint")
    (root / "prompts/spare.j2").write_text("spare\n")
    cli("lint")
    assert len(lints) == 6


def test_a_data_file_that_now_shadows_another_invalidates(make_project, cli, lints):
    """`from: data/rows.csv` is looked for beside the suite, then in the project root:
    the lint looked (and found nothing) in suites/data/, a folder it never listed, so a
    file created there counts."""
    root = project(make_project, ("suites/answer.yaml",
                                  "prompts: [support.answer]\ncases:\n  - from: data/rows.csv\n"
                                  "defaults:\n  assert: [{type: contains, value: x}]\n"),
                   ("data/rows.csv", "id,question\nq,why\n"))
    assert cli("lint").exit_code == 0
    (root / "suites/data/rows.csv").write_text("id,question,spare\nq,why,1\n")
    result = cli("lint")
    assert len(lints) == 2
    assert "variable 'spare' is not used" in result.stderr


def _entry(root: Path) -> Path:
    assert Path.cwd() == root
    return lintcache._entry_path(lintcache.cache_dir(), lintcache.question(__version__, [], None))


def test_a_forged_entry_is_not_trusted(make_project, cli, lints):
    """An entry claiming "clean" that was not signed with this user's key (a file put
    in the cache by anything that does not hold the key) is ignored."""
    root = project(make_project, WARNING)
    assert cli("lint").exit_code == 1  # the key exists; this lint is stored
    path = _entry(root)
    entry = json.loads(path.read_text())
    entry["result"] = {"findings": [], "files": 6, "errors": 0, "warnings": 0}
    entry.pop("mac")
    entry["mac"] = lintcache._mac(os.urandom(32), entry)
    path.write_text(json.dumps(entry))
    result = cli("lint")
    assert result.exit_code == 1 and "variable 'unused' is not used" in result.stderr
    assert len(lints) == 2
    # the right signature over the wrong question is refused as well
    asked = lintcache.question(__version__, ["suites"], None)
    entry["question"] = asked
    entry.pop("mac")
    entry["mac"] = lintcache._mac(lintcache._key(lintcache.cache_dir(), create=False), entry)
    path.write_text(json.dumps(entry))
    assert cli("lint").exit_code == 1 and len(lints) == 3


@pytest.mark.parametrize("damage", ["garbage", "empty", "a list", "no mac", "bad key"])
def test_a_corrupt_cache_is_ignored(make_project, cli, lints, damage):
    root = project(make_project, WARNING)
    cold = cli("lint")
    path = _entry(root)
    assert path.is_file()
    if damage == "bad key":
        (lintcache.cache_dir() / "key").write_bytes(b"short")
    else:
        path.write_text({"garbage": "{\x00not json", "empty": "", "a list": "[1, 2]",
                         "no mac": json.dumps({"question": {}, "result": {}})}[damage])
    result = cli("lint")  # no traceback: the same lint, run again
    assert (result.exit_code, result.stderr) == (cold.exit_code, cold.stderr)
    assert len(lints) == 2
    settle(root)
    cli("lint")
    assert cli("lint").stderr == cold.stderr and len(lints) == 3  # the cache recovers


def test_no_cache_bypasses_the_cache(make_project, cli, lints):
    root = project(make_project)
    assert cli("lint", "--no-cache").exit_code == 0
    assert not _entry(root).exists()  # nothing stored either
    cli("lint")
    cli("lint")
    assert len(lints) == 2
    assert cli("lint", "--no-cache").exit_code == 0 and len(lints) == 3
