"""Issue 12, class 2: every file promptctl reads as project input resolves (links
followed) inside the project's boundary (the git work tree holding promptctl.yaml, or
promptctl.yaml's folder outside git) and is a regular file; anything else is exit 2
naming the path, where it resolves and the file:line that referenced it. Real files and
links in tmp_path, the real CLI, the echo provider."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import run_subprocess, write_files

from promptctl.boundary import project_boundary
from promptctl.integrations import watch
from promptctl.load import deps

PROMPTS = """
prompts:
  triage:
    template: "Route: {{ ticket }}"
"""

SUITE = """
prompts: [support.triage]
cases:
  - id: one
    vars: {ticket: "charged twice"}
    assert:
      - {type: icontains, value: charged}
"""

SECRET = "s3cr3t-value-9f2c"


def suite_with(*lines: str) -> str:
    """SUITE plus assertions (or, starting with '- from', cases) at the end."""
    extra = "".join(f"  {line}\n" if line.startswith("- from") else f"      {line}\n"
                    for line in lines)
    return SUITE.lstrip("\n") + extra


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A good project in tmp_path/proj (promptctl.yaml there, no git), and files
    outside it in tmp_path/outside; the working directory is the project."""
    root = tmp_path / "proj"
    write_files(root, {"promptctl.yaml": "# a project\n", "prompts/support.yaml": PROMPTS,
                       "suites/triage.yaml": SUITE})
    write_files(tmp_path / "outside", {
        "x.csv": "id,ticket\nrow,outside\n",
        "x.py": "def f(output):\n    return True\n",
        "inc.txt": "from outside\n",
        "collection.yaml": PROMPTS.replace("triage", "other"),
        "schema.json": '{"enum": ["secret-from-a-file"]}\n'})
    monkeypatch.chdir(root)
    return root


def link(root: Path, name: str, target: str | Path) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def both(cli, *args: str) -> tuple[str, str]:
    """`run -m echo` and `lint`: each exit 2; their stderr."""
    run = cli("run", "-m", "echo", *args)
    assert run.exit_code == 2, run.output
    lint = cli("lint")
    assert lint.exit_code == 2, lint.output
    return run.stderr, lint.stderr


def same_error(line: str, output: str) -> bool:
    """`output` holds the error `line` (`error: FILE:LINE: msg`), as is or as a lint
    finding (`FILE:LINE: error: msg`)."""
    where, _, message = line[len("error: "):].partition(": ")
    return line in output or f"{where}: error: {message}" in output


def refused(cli, where: str, *fragments: str) -> str:
    """`run` and `lint` refuse the project with the same one message, at `where`
    (FILE or FILE:LINE) and containing every fragment; returns run's error line."""
    run, lint = both(cli)
    lines = [ln for ln in run.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, run
    line = lines[0]
    assert line.startswith(f"error: {where}: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert same_error(line, lint), lint
    return line


# -- the attack, through the real CLI in a subprocess --------------------------------

ATTACKS = {
    "collection": ({}, {"prompts/leak.yaml": "/proc/self/environ"}, "prompts/leak.yaml"),
    "include": ({"prompts/support.yaml": PROMPTS.replace(
        "{{ ticket }}", "{{ ticket }} {% include 'env.txt' %}")},
        {"prompts/env.txt": "/proc/self/environ"}, "prompts/support.yaml:3"),
    "dynamic-include": ({"prompts/support.yaml": PROMPTS.replace(
        "{{ ticket }}", "{{ ticket }} {% include name %}"),
        "suites/triage.yaml": SUITE.replace('ticket: "charged twice"',
                                            'ticket: "charged twice", name: env.txt')},
        {"prompts/env.txt": "/proc/self/environ"}, "suites/triage.yaml:3"),
    "data-file": ({"suites/triage.yaml": suite_with("- from: env.csv")},
                  {"suites/env.csv": "/proc/self/environ"}, "suites/triage.yaml:7"),
}


def _written_bytes(root: Path) -> list[tuple[Path, bytes]]:
    """Every regular file under the project (links not followed: they are the attack)."""
    out = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink():
                out.append((path, path.read_bytes()))
    return out


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_link_to_proc_self_environ_leaks_no_secret(proj: Path, attack: str):
    """The CI's environment never reaches a record, the cache, a report or the terminal:
    every command refuses with exit 2, naming the link, where it leads and who read it."""
    env = {"PROMPTCTL_TEST_SECRET": SECRET}
    outputs = [a for ext in ("json", "jsonl", "html", "md", "xml") for a in
               ("-o", f"out.{ext}")]
    # a good run first: the state folder, the cache and the reports exist and are read
    first = run_subprocess("run", "-m", "echo", *outputs, cwd=proj, env=env, timeout=120)
    assert first.exit_code == 0, first.output
    base = run_subprocess("baseline", "update", "-m", "echo", cwd=proj, env=env, timeout=120)
    assert base.exit_code == 0, base.output
    assert (proj / "out.html").is_file() and (proj / "baselines" / "triage.json").is_file()

    files, links, culprit = ATTACKS[attack]
    write_files(proj, files)
    for name, target in links.items():
        link(proj, name, target)
    results = [
        run_subprocess("run", "-m", "echo", *outputs, cwd=proj, env=env, timeout=120),
        run_subprocess("check", "-m", "echo", "-o", "check.json", cwd=proj, env=env,
                       timeout=120),
        run_subprocess("baseline", "update", "-m", "echo", cwd=proj, env=env, timeout=120),
        run_subprocess("lint", cwd=proj, env=env, timeout=120),
        run_subprocess("render", "support.triage", "--case", "triage:one", cwd=proj,
                       env=env, timeout=120),
    ]
    for res in results[:4]:  # lint renders every case, so it sees computed names too
        assert res.exit_code == 2, res.output
        assert culprit in res.stderr, res.output
        assert "/environ" in res.stderr and "outside the project" in res.stderr, res.output
    for res in results:
        assert SECRET not in res.stdout + res.stderr
    for path, data in _written_bytes(proj):
        assert SECRET.encode() not in data, path


# -- each kind of project input ------------------------------------------------------


def test_a_collection_that_is_a_link_to_etc_passwd(proj: Path, cli):
    link(proj, "prompts/passwd.yaml", "/etc/passwd")
    refused(cli, "prompts/passwd.yaml", "prompt collection is a link to /etc/passwd, "
            "outside the project")


def test_prompts_folder_that_is_a_link_to_root(proj: Path, cli):
    (proj / "prompts" / "support.yaml").unlink()
    (proj / "prompts").rmdir()
    link(proj, "prompts", "/")
    refused(cli, "prompts", "prompts directory is a link to /, outside the project")


def test_paths_prompts_outside_names_promptctl_yaml(proj: Path, cli, tmp_path: Path):
    write_files(proj, {"promptctl.yaml": f"paths:\n  prompts: {tmp_path / 'outside'}\n"})
    refused(cli, "promptctl.yaml:2", "prompts directory", "outside the project")


def test_a_suites_folder_or_suite_file_outside(proj: Path, cli, tmp_path: Path):
    write_files(tmp_path / "outside", {"s.yaml": SUITE})
    link(proj, "suites/linked.yaml", tmp_path / "outside" / "s.yaml")
    refused(cli, "suites/linked.yaml", "suite file is a link to", "outside the project")
    (proj / "suites" / "linked.yaml").unlink()
    res = cli("run", "-m", "echo", str(tmp_path / "outside" / "s.yaml"))
    assert res.exit_code == 2 and "outside the project" in res.stderr, res.output
    res = cli("run", "-m", "echo", str(tmp_path / "outside"))
    assert res.exit_code == 2 and "suite directory" in res.stderr, res.output


def test_promptctl_yaml_that_is_a_link_outside(proj: Path, cli, tmp_path: Path):
    write_files(tmp_path / "outside", {"cfg.yaml": "# elsewhere\n"})
    (proj / "promptctl.yaml").unlink()
    link(proj, "promptctl.yaml", tmp_path / "outside" / "cfg.yaml")
    refused(cli, "promptctl.yaml", "config file is a link to", "outside the project")


def test_an_include_that_is_a_link_outside(proj: Path, cli, tmp_path: Path):
    write_files(proj, {"prompts/support.yaml": PROMPTS.replace(
        "{{ ticket }}", "{{ ticket }}{% include 'parts/inc.txt' %}")})
    link(proj, "prompts/parts/inc.txt", tmp_path / "outside" / "inc.txt")
    refused(cli, "prompts/support.yaml:3", "included template 'parts/inc.txt' is a link to "
            f"{tmp_path / 'outside' / 'inc.txt'}, outside the project")


def test_an_import_of_a_macro_file_outside(proj: Path, cli, tmp_path: Path):
    write_files(tmp_path / "outside", {"m.j2": "{% macro hi() %}hi{% endmacro %}"})
    write_files(proj, {"prompts/support.yaml": PROMPTS.replace(
        '"Route: {{ ticket }}"', '"{% import \'m.j2\' as m %}{{ m.hi() }} {{ ticket }}"')})
    link(proj, "prompts/m.j2", tmp_path / "outside" / "m.j2")
    refused(cli, "prompts/support.yaml:3", "included template 'm.j2'", "outside the project")


@pytest.mark.parametrize("ref", ["../../outside/x.csv", "/etc/passwd", "ABS"])
def test_a_data_file_outside(proj: Path, cli, tmp_path: Path, ref: str):
    ref = str(tmp_path / "outside" / "x.csv") if ref == "ABS" else ref
    write_files(proj, {"suites/triage.yaml": suite_with(f"- from: {ref}")})
    refused(cli, "suites/triage.yaml:7", f"data file '{ref}'", "outside the project")


@pytest.mark.parametrize("value", ["ABS:f", "../outside/x.py:f", "os:getcwd", "json:loads"])
def test_a_python_check_outside(proj: Path, cli, tmp_path: Path, value: str):
    value = value.replace("ABS", str(tmp_path / "outside" / "x.py"))
    write_files(proj, {"suites/triage.yaml": suite_with(
        f'- {{type: python, value: "{value}"}}')})
    line = refused(cli, "suites/triage.yaml:7", f"python assertion '{value}'")
    assert "outside the project" in line or "not a file of the project" in line, line


def test_a_python_check_module_that_is_a_link_outside(proj: Path, cli, tmp_path: Path):
    link(proj, "checks.py", tmp_path / "outside" / "x.py")
    write_files(proj, {"suites/triage.yaml": suite_with(
        '- {type: python, value: "checks:f"}')})
    refused(cli, "suites/triage.yaml:7", "python check 'checks.py' is a link to",
            "outside the project")


@pytest.mark.parametrize("ref", ["file://OUTSIDE/schema.json", "schema.json",
                                 "https://example.com/s.json#/x"])
def test_a_schema_ref_to_a_file_or_url(proj: Path, cli, tmp_path: Path, ref: str):
    """jsonschema would read file:// refs and quote the file in its messages."""
    ref = ref.replace("OUTSIDE", str(tmp_path / "outside"))
    write_files(proj, {"suites/triage.yaml": SUITE.replace(
        "{type: icontains, value: charged}",
        f'{{type: is-json, value: {{"$ref": "{ref}"}}}}')})
    line = refused(cli, "suites/triage.yaml:6", f"$ref '{ref}' points outside the schema")
    assert "secret-from-a-file" not in line


def test_schema_refs_inside_the_schema_still_work(proj: Path, cli):
    write_files(proj, {"suites/triage.yaml": SUITE.replace(
        "{type: icontains, value: charged}",
        '{type: not-is-json, value: {"$defs": {"n": {type: integer}}, "$ref": "#/$defs/n"}}')})
    res = cli("run", "-m", "echo")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("name,where,fragment", [
    ("prompts/fifo.yaml", "prompts/fifo.yaml", "prompt collection is a FIFO"),
    ("suites/fifo.yaml", "suites/fifo.yaml", "suite file is a FIFO"),
    ("suites/rows.csv", "suites/triage.yaml:7", "data file 'rows.csv' is a FIFO"),
    ("prompts/inc.txt", "prompts/support.yaml:3",
     "support.triage template: included template 'inc.txt' is a FIFO"),
])
def test_a_fifo_is_refused_without_hanging(proj: Path, name: str, where: str,
                                           fragment: str):
    """Nothing opens a FIFO (it would block until a writer comes): a stat decides."""
    if name == "suites/rows.csv":
        write_files(proj, {"suites/triage.yaml": suite_with("- from: rows.csv")})
    if name == "prompts/inc.txt":
        write_files(proj, {"prompts/support.yaml": PROMPTS.replace(
            "{{ ticket }}", "{{ ticket }}{% include 'inc.txt' %}")})
    os.mkfifo(proj / name)
    run = run_subprocess("run", "-m", "echo", cwd=proj, timeout=60)
    assert run.exit_code == 2, run.output
    line = run.stderr.strip()
    assert line.startswith(f"error: {where}: {fragment}, not a regular file"), line
    lint = run_subprocess("lint", cwd=proj, timeout=60)
    assert lint.exit_code == 2 and same_error(line, lint.stderr), lint.output


def test_a_directory_where_a_file_is_expected(proj: Path, cli):
    (proj / "suites" / "data.csv").mkdir()
    write_files(proj, {"suites/triage.yaml": suite_with("- from: data.csv")})
    refused(cli, "suites/triage.yaml:7", "data file 'data.csv' is a directory, not a "
            "regular file")


# -- what stays allowed --------------------------------------------------------------


def test_links_that_stay_inside_the_project_keep_working(proj: Path, cli):
    write_files(proj, {
        "shared/support.yaml": PROMPTS.replace("{{ ticket }}", "{{ ticket }}{% include "
                                               "'inc.txt' %}").replace("triage", "linked"),
        "shared/inc.txt": " and more",
        "shared/rows.csv": "id,ticket\nrow,charged from a row\n",
        "lib/checks.py": "def f(output):\n    return 'charged' in output\n",
        "suites/triage.yaml": SUITE.replace("[support.triage]",
                                            "[support.triage, shared.linked]")
        + "      - {type: python, value: \"checks:f\"}\n"
          "      - {type: python, value: \"lib/link.py:f\"}\n"
          "  - from: rows.csv\n"
          "defaults:\n  assert: [{type: icontains, value: charged}]\n"})
    link(proj, "prompts/shared.yaml", "../shared/support.yaml")
    link(proj, "prompts/inc.txt", "../shared/inc.txt")
    link(proj, "suites/rows.csv", "../shared/rows.csv")
    link(proj, "checks.py", "lib/checks.py")
    link(proj, "lib/link.py", "checks.py")
    res = cli("run", "-m", "echo", "--verbose")
    assert res.exit_code == 0, res.output
    assert "4 cases: 4 passed" in res.output, res.output  # 2 cases x 2 prompts
    lint = cli("lint")
    assert lint.exit_code == 0, lint.output


def _git_init(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)


def test_a_monorepo_reads_sibling_folders_of_its_git_work_tree(tmp_path: Path, cli,
                                                                monkeypatch):
    """promptctl.yaml in app/, data and a collection in ../shared: one git work tree."""
    mono = tmp_path / "mono"
    write_files(mono, {
        "app/promptctl.yaml": "# the app\n",
        "app/prompts/support.yaml": PROMPTS,
        "app/suites/triage.yaml": suite_with("- from: ../shared/data.csv"),
        "shared/data.csv": "id,ticket\nshared-row,charged from shared\n",
        "shared/common.yaml": PROMPTS.replace("triage", "common")})
    link(mono, "app/prompts/common.yaml", "../../shared/common.yaml")
    _git_init(mono)
    monkeypatch.chdir(mono / "app")
    assert project_boundary(mono / "app") == mono.resolve()
    res = cli("run", "-m", "echo")
    assert res.exit_code == 0, res.output
    assert "2 cases" in res.output, res.output
    lint = cli("lint")
    assert lint.exit_code == 1 and "0 errors" in lint.stderr, lint.output  # a row: no assert
    # the same layout outside git: the boundary is promptctl.yaml's folder
    (mono / ".git").rename(mono / "not-git")
    refused(cli, "prompts/common.yaml", "prompt collection is a link to "
            f"{(mono / 'shared' / 'common.yaml').resolve()}, outside the project")
    (mono / "app" / "prompts" / "common.yaml").unlink()
    refused(cli, "suites/triage.yaml:7", "data file '../shared/data.csv'", "outside the "
            f"project ({(mono / 'app').resolve()})")


def test_a_git_worktree_file_marks_the_work_tree(tmp_path: Path):
    """A `.git` file (a worktree or a submodule) is a work tree's top too."""
    write_files(tmp_path, {"repo/.git": "gitdir: /elsewhere/.git/worktrees/repo\n",
                           "repo/app/promptctl.yaml": "# app\n"})
    assert project_boundary(tmp_path / "repo" / "app") == (tmp_path / "repo").resolve()
    assert project_boundary(tmp_path / "repo") == (tmp_path / "repo").resolve()


def test_without_promptctl_yaml_the_boundary_is_the_working_directory(proj: Path, cli):
    (proj / "promptctl.yaml").unlink()
    link(proj, "prompts/passwd.yaml", "/etc/passwd")
    refused(cli, "prompts/passwd.yaml", f"outside the project ({proj.resolve()})")


def test_model_files_are_configuration_and_may_live_anywhere(proj: Path, cli,
                                                             tmp_path: Path):
    gguf = tmp_path / "outside" / "models" / "tiny.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF")
    write_files(proj, {"promptctl.yaml": f"models:\n  local: {{provider: llama-cpp, "
                                         f"model: {gguf}}}\n",
                       "suites/triage.yaml": SUITE + "models: [local]\n"})
    res = cli("lint")
    assert res.exit_code == 0, res.output
    assert "outside the project" not in res.output


# -- dependency hashing and watch mode read nothing they may not ---------------------


def test_watch_and_deps_neither_list_nor_read_outside_or_special_files(proj: Path,
                                                                       tmp_path: Path):
    link(proj, "prompts/env.txt", "/proc/self/environ")
    link(proj, "prompts/out.txt", tmp_path / "outside" / "inc.txt")
    os.mkfifo(proj / "prompts" / "pipe.txt")
    write_files(proj, {"prompts/ok.txt": "fine"})
    stamps = watch.watched_files(proj, [proj / "prompts", proj / "suites"])
    names = {p.name for p in stamps}
    assert "ok.txt" in names and "support.yaml" in names
    assert not names & {"environ", "inc.txt", "pipe.txt"}, names

    from promptctl.load.project import load_project

    project = load_project()
    assert {p.name for p in deps._all_templates(project)} == {"ok.txt"}
    box: list[bytes | None] = []
    reader = threading.Thread(target=lambda: box.append(
        deps.read_now(proj / "prompts" / "pipe.txt")), daemon=True)
    reader.start()
    reader.join(10)
    assert box == [None], "read_now blocked on a FIFO"


def test_a_baseline_that_is_a_link_outside(proj: Path, cli, tmp_path: Path):
    """Baselines are committed input too: `check` reads one only inside the project."""
    assert cli("baseline", "update", "-m", "echo").exit_code == 0
    real = proj / "baselines" / "triage.json"
    (tmp_path / "outside" / "triage.json").write_bytes(real.read_bytes())
    real.unlink()
    link(proj, "baselines/triage.json", tmp_path / "outside" / "triage.json")
    res = cli("check", "-m", "echo")
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: baselines/triage.json: baseline is a link to "), \
        res.stderr
    assert "outside the project" in res.stderr
