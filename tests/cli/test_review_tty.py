"""The terminal review session: run_session over a real saved run of the echo provider
with injected keys (each label on disk after its key, back, skip, note, Ctrl-C), the
command piped (one key per line), and `python -m promptctl review` on a real
pseudo-terminal (single keys without Enter, SIGKILL mid-session keeps the labels given,
the terminal's attributes restored after q, Ctrl-C and SIGTERM). Every read from the
pty is bounded by select, so no test can hang."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from promptctl.cli import common
from promptctl.cli.review_tty import PROMPT_LINES, run_session
from promptctl.gate.labels import review_items, reviews_of
from promptctl.run.meta import load_run

FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                     "  - {id: a, vars: {answer: Paris}, assert: [{type: equals, value: Paris}]}\n"
                     "  - {id: b, vars: {answer: '[bold]Rome[/bold] :smile:'},"
                     " assert: [{type: equals, value: Rome}]}\n"
                     "  - {id: c, vars: {answer: Oslo}, assert: [{type: equals, value: Oslo}]}\n",
}
REPO = Path(__file__).resolve().parents[2]


def labels_on_disk(root: Path) -> dict[str, tuple[str, str | None]]:
    path = root / "reviews" / "s.yaml"
    if not path.exists():
        return {}
    doc = yaml.safe_load(path.read_text())
    return {lab["case"]: (lab["verdict"], lab.get("note")) for lab in doc["labels"]}


def session(root: Path, keys: Iterator[str], width: int = 200):
    project = common.project(None)
    saved = load_run(project, None)
    _, records = common.of_saved_run(project, saved, [])
    books = reviews_of(project, {r.suite for r in records})
    items = review_items(project, records, reviews=books)
    buf = io.StringIO()
    console = Console(file=buf, width=width, highlight=False, emoji=False)
    tally = run_session(project, items, books, by="ann@example.com", console=console,
                        keys=keys)
    return tally, buf.getvalue()


@pytest.fixture
def ran(make_project, cli) -> Path:
    root = make_project(FILES)
    assert cli("run", "-q").exit_code == 1  # b fails its assertion
    return root


def test_each_label_is_on_disk_after_its_key_and_skip_writes_nothing(ran) -> None:
    seen: list[dict[str, tuple[str, str | None]]] = []

    def keys() -> Iterator[str]:
        seen.append(labels_on_disk(ran))
        yield "p"
        seen.append(labels_on_disk(ran))
        yield "f"
        seen.append(labels_on_disk(ran))
        yield "s"
        raise AssertionError("the session asked for a key after the last output")

    tally, out = session(ran, keys())
    seen.append(labels_on_disk(ran))  # after the skip of the last output
    assert seen == [{}, {"a": ("pass", None)},
                    {"a": ("pass", None), "b": ("fail", None)},
                    {"a": ("pass", None), "b": ("fail", None)}]
    assert (tally.labelled, tally.skipped, tally.changed, tally.remaining) == (2, 1, 0, 0)
    assert tally.words() == "2 labelled, 1 skipped, 0 left"
    assert "1 / 3 · 0 labelled · s/a · t.say · echo" in out
    assert "3 / 3 · 2 labelled · s/c · t.say · echo" in out
    doc = yaml.safe_load((ran / "reviews" / "s.yaml").read_text())
    assert {lab["by"] for lab in doc["labels"]} == {"ann@example.com"}
    assert doc["labels"][0]["output"] == "Paris"


def test_back_changes_the_previous_label(ran) -> None:
    tally, out = session(ran, iter(["p", "b", "f", "q"]))
    assert labels_on_disk(ran) == {"a": ("fail", None)}
    assert (tally.labelled, tally.changed, tally.remaining) == (1, 1, 2)
    assert "labelled pass by ann@example.com at " in out  # shown again after b
    assert tally.words() == "1 labelled, 0 skipped, 2 left (1 changed)"


def test_back_at_the_first_output_stays_and_unknown_keys_are_told(ran) -> None:
    tally, out = session(ran, iter(["b", "x", "?", "q"]))
    assert "this is the first output" in out and "unknown key 'x'" in out
    assert "back: show the previous output again" in out
    assert tally.words() == "0 labelled, 0 skipped, 3 left" and labels_on_disk(ran) == {}


def test_a_note_is_stored_and_user_text_is_never_markup(ran) -> None:
    tally, out = session(ran, iter(["s", "n", "wrong city [red]x[/red]", "f", "b"]))
    assert labels_on_disk(ran) == {"b": ("fail", "wrong city [red]x[/red]")}
    assert "[bold]Rome[/bold] :smile:" in out  # the output as typed, not styled
    assert "labelled fail by ann@example.com" in out and "wrong city [red]x[/red]" in out
    # the input ran out after b: that ends the session like q
    assert tally.labelled == 1 and tally.skipped == 1


def test_a_note_then_another_key_drops_the_note(ran) -> None:
    session(ran, iter(["n", "hmm", "s", "p", "q"]))
    assert labels_on_disk(ran) == {"a": ("pass", None)}


def test_ctrl_c_ends_with_the_tally_and_keeps_the_labels(ran) -> None:
    def keys() -> Iterator[str]:
        yield "p"
        raise KeyboardInterrupt

    tally, out = session(ran, keys())
    assert tally.words() == "1 labelled, 0 skipped, 2 left"
    assert labels_on_disk(ran) == {"a": ("pass", None)}
    assert "every label given is saved" in out


def test_a_stale_label_names_the_earlier_verdict(ran, cli) -> None:
    session(ran, iter(["p", "q"]))
    suite = ran / "suites" / "s.yaml"
    suite.write_text(suite.read_text().replace("answer: Paris", "answer: Lyon"))
    assert cli("run", "-q").exit_code == 1
    _, out = session(ran, iter(["q"]))
    assert "stale: earlier label pass by ann@example.com at " in out
    assert ", output changed" in out and "1 / 3 · 0 labelled" in out


def test_a_long_prompt_is_clipped_and_the_output_shown_whole(make_project, cli) -> None:
    lines = "\\n".join(f"line {i}" for i in range(100))
    root = make_project({**FILES, "suites/s.yaml":
                         "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                         f"  - {{id: a, vars: {{answer: \"{lines}\"}}}}\n"})
    assert cli("run", "-q").exit_code == 0
    _, out = session(root, iter(["q"]))
    prompt, output = out.split("\noutput\n")
    assert f"({100 - PROMPT_LINES} more lines)" in prompt and "line 99" not in prompt
    assert "line 99" in output and "more lines" not in output


def test_piped_one_key_per_line_through_the_cli(ran) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "promptctl", "review"], cwd=ran, env=env,
                          input="p\n\nf\nq\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("2 labelled, 0 skipped, 1 left")
    assert labels_on_disk(ran) == {"a": ("pass", None), "b": ("fail", None)}


# --- a real pseudo-terminal ---------------------------------------------------------

class Pty:
    """`python -m promptctl review` with the pty's slave as its controlling terminal."""

    def __init__(self, root: Path) -> None:
        self.master, self.slave = os.openpty()
        env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120", "TERM": "xterm"}
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptctl", "review"], cwd=root, env=env,
            stdin=self.slave, stdout=self.slave, stderr=self.slave, close_fds=True,
            start_new_session=True, preexec_fn=_controlling_tty)
        self.seen = b""

    def expect(self, needle: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not seen in {self.seen[-2000:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the child closed the pty
                    assert needle in self.seen, f"{needle!r} not in {self.seen[-2000:]!r}"

    def send(self, key: bytes) -> None:
        os.write(self.master, key)

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:  # drain so the child never blocks on output
            assert time.monotonic() < deadline, "the session did not end"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):  # the child closed the pty
                    self.seen += os.read(self.master, 65536)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)
        os.close(self.slave)


def _controlling_tty() -> None:
    import fcntl

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def pty_session(ran):
    sessions: list[Pty] = []

    def start() -> Pty:
        sessions.append(Pty(ran))
        return sessions[-1]

    yield start
    for s in sessions:
        s.close()


def test_single_keys_then_sigkill_keeps_the_labels_given(ran, pty_session) -> None:
    term = pty_session()
    term.expect("1 / 3 · 0 labelled".encode())
    term.send(b"p")  # no Enter: cbreak mode
    term.expect("2 / 3 · 1 labelled".encode())
    term.send(b"f")
    term.expect("3 / 3 · 2 labelled".encode())
    term.proc.send_signal(signal.SIGKILL)
    assert term.wait() == -signal.SIGKILL
    assert labels_on_disk(ran) == {"a": ("pass", None), "b": ("fail", None)}


def test_q_restores_the_terminal(ran, pty_session) -> None:
    term = pty_session()
    term.expect("1 / 3 · 0 labelled".encode())
    during = termios.tcgetattr(term.slave)
    assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
    term.send(b"n")
    term.expect(b"note (Enter to end)")
    assert termios.tcgetattr(term.slave)[3] & termios.ICANON  # a line, editable
    term.send(b"too terse\n")
    term.expect(b"then p (pass) or f (fail)")
    term.send(b"f")
    term.expect("2 / 3 · 1 labelled".encode())
    term.send(b"q")
    assert term.wait() == 0
    assert b"1 labelled, 0 skipped, 2 left" in term.seen
    assert termios.tcgetattr(term.slave) == term.before
    assert labels_on_disk(ran) == {"a": ("fail", "too terse")}


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_end_cleanly_and_restore_the_terminal(ran, pty_session,
                                                                  how) -> None:
    term = pty_session()
    term.expect("1 / 3 · 0 labelled".encode())
    term.send(b"p")
    term.expect("2 / 3 · 1 labelled".encode())
    if how == "ctrl-c":
        term.send(b"\x03")
    else:
        term.proc.send_signal(signal.SIGTERM)
    assert term.wait() == 0, term.seen[-2000:]
    assert b"1 labelled, 0 skipped, 2 left" in term.seen
    assert b"Traceback" not in term.seen
    assert termios.tcgetattr(term.slave) == term.before
    assert labels_on_disk(ran) == {"a": ("pass", None)}


def test_control_characters_of_an_output_are_shown_not_sent(make_project, cli) -> None:
    root = make_project({**FILES, "suites/s.yaml":
                         "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                         '  - {id: a, vars: {answer: "\\e[2J\\e]0;owned\\aPASS"}}\n'})
    assert cli("run", "-q").exit_code == 0
    project = common.project(None)
    records = load_run(project, None).records
    items = review_items(project, records)
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=True, emoji=False)
    run_session(project, items, {}, by="ann", console=console, keys=iter(["q"]))
    out = buf.getvalue()
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\a" not in out
    assert "\\x1b[2J\\x1b]0;owned\\x07PASS" in out
    assert root.joinpath(".promptctl").is_dir()


@pytest.mark.slow
def test_the_judges_reasons_are_shown(make_project, cli) -> None:
    make_project({
        "promptctl.yaml": "models:\n  echo: {provider: echo}\n  default: {provider: "
                          "llama-cpp, model: 'builtin:smollm2', params: {temperature: 0, "
                          "seed: 0}}\n",
        "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
        "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                         "  - {id: a, vars: {answer: Paris is the capital of France.},"
                         " assert: [{type: llm-rubric, value: The answer names Paris},"
                         " {type: icontains, value: paris}]}\n"})
    assert cli("run", "-q").exit_code in (0, 1)
    project = common.project(None)
    (rec,) = load_run(project, None).records
    judge = next(a for a in rec.assertions if a.type == "llm-rubric")
    _, out = session(project.root, iter(["q"]))
    part = out.split("\njudge\n")[1]
    assert f"{'pass' if judge.passed else 'FAIL'} llm-rubric: {judge.reason.splitlines()[0]}" \
        in part
    assert "pass icontains: " in out.split("\njudge\n")[0]


def test_an_arrow_key_is_one_unknown_key(ran, pty_session) -> None:
    term = pty_session()
    term.expect("1 / 3 · 0 labelled".encode())
    term.send(b"\x1b[A")
    term.expect(b"? for help")
    term.send(b"q")
    assert term.wait() == 0
    assert term.seen.count(b"unknown key") == 1, term.seen[-1000:]
    assert b"\\x1b[A" in term.seen


def test_a_label_that_disagrees_with_the_suite_is_named(ran) -> None:
    # a passes its check, b fails its: label a fail (a gap) and b pass (too strict)
    session(ran, iter(["f", "p", "q"]))
    _, out = session(ran, iter(["s", "s", "s"]))
    assert out.count("disagrees with the label") == 2
    assert "gap (the assertions miss what the reviewer failed)" in out
    assert "strict (an assertion fails what the reviewer passed)" in out
