"""The terminal half of `promptctl review`: one output at a time, a key per verdict.

Owns the session loop (`run_session`), how one item is shown, and reading keys.

Invariants:

- every verdict is written at once (`Reviews.put` + `write_reviews`, atomic): a session
  killed at any moment has lost no label given before the kill; `b` goes back and a new
  verdict replaces the earlier one (the file is rewritten again);
- keys are single keystrokes when stdin is a terminal (cbreak mode: no Enter, no echo;
  the terminal's attributes are restored in a `finally`, so also on Ctrl-C and SIGTERM,
  which ends the session like Ctrl-C); off a terminal one key per line, so the session
  works piped; tests inject `keys`;
- user and model text (prompts, outputs, reasons, notes, names) is printed as rich
  `Text`, never parsed as markup: `[bold]` prints as typed; its control characters
  (ESC and the rest, but newline and tab) are shown as `\\x1b`, so an output cannot
  clear the screen or fake a line (rich passes ESC through);
- an output is shown whole; a prompt is clipped to PROMPT_LINES lines with
  "(N more lines)";
- Ctrl-C or end of input ends the session with its tally; labels given stay saved.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..gate.labels import view_of
from ..load.reviews import Label, Reviews, load_reviews, now_utc, write_reviews

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..gate.labels import ReviewItem
    from ..load.project import Project

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
PROMPT_LINES = 30  # a prompt longer than this is clipped; outputs never are
KEYS = (
    ("p", "pass: label this output pass, go to the next"),
    ("f", "fail: label this output fail, go to the next"),
    ("s", "skip: no label, go to the next"),
    ("n", "note: type a line of text, then p or f"),
    ("b", "back: show the previous output again (a new verdict replaces its label)"),
    ("q", "quit: end the session (every label given is already saved)"),
    ("?", "help: this list"),
)


@dataclass
class Tally:
    """What a session did: outputs labelled (a label given this session), skipped,
    changed (a label that replaced a different verdict, note or score), and left
    (neither labelled nor skipped)."""

    total: int = 0
    labelled_at: set[int] = field(default_factory=set)
    skipped_at: set[int] = field(default_factory=set)
    changed: int = 0

    @property
    def labelled(self) -> int:
        return len(self.labelled_at)

    @property
    def skipped(self) -> int:
        return len(self.skipped_at - self.labelled_at)

    @property
    def remaining(self) -> int:
        return self.total - self.labelled - self.skipped

    def words(self) -> str:
        text = f"{self.labelled} labelled, {self.skipped} skipped, {self.remaining} left"
        return text + (f" ({self.changed} changed)" if self.changed else "")


class _Interrupted(Exception):
    """SIGTERM during a session: ends it like Ctrl-C."""


class Keys:
    """Where keys come from: an iterator (tests), the terminal in cbreak mode, or lines
    of a pipe (one key per line). `key()` returns one character ("q" at end of input);
    `line()` a line of text (for a note)."""

    def __init__(self, keys: Iterator[str] | None = None) -> None:
        self.keys = keys
        self.fd: int | None = None
        self.saved: Any = None
        if keys is None:
            try:
                fd = sys.stdin.fileno()
            except (AttributeError, ValueError, OSError):
                fd = -1
            if fd >= 0 and os.isatty(fd):
                self.fd = fd

    def __enter__(self) -> Keys:
        if self.fd is not None:
            import termios  # deferred: POSIX only, and only for a terminal
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        if self.fd is not None and self.saved is not None:
            import termios  # deferred: see __enter__

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def key(self) -> str:
        if self.keys is not None:
            return next(self.keys, "q")
        if self.fd is not None:
            data = os.read(self.fd, 1)
            if not data or data == b"\x04":  # end of input, Ctrl-D
                return "q"
            if data == b"\x03":  # Ctrl-C read as a byte (ISIG off somewhere)
                raise KeyboardInterrupt
            if data >= b"\x80" or data == b"\x1b":  # an arrow key, a non-ASCII letter:
                data += self._pending()            # one key, told once as unknown
            return data.decode("utf-8", "replace")
        line = sys.stdin.readline()
        if not line:
            return "q"
        return line.strip()[:1]

    def _pending(self) -> bytes:
        """The rest of a multi-byte key: what is readable at once."""
        import select  # deferred: only for a terminal

        assert self.fd is not None
        data = b""
        while len(data) < 16 and select.select([self.fd], [], [], 0.02)[0]:
            data += os.read(self.fd, 16 - len(data))
        return data

    def line(self, ask: Callable[[], None]) -> str:
        """A line of text; `ask` prints the question once the terminal takes lines."""
        if self.keys is not None:
            ask()
            return next(self.keys, "")
        if self.fd is not None:
            import termios  # deferred: see __enter__
            import tty

            self.restore()  # cooked mode: the line echoes and can be edited
            try:
                ask()
                chunks = []
                while True:
                    data = os.read(self.fd, 1)
                    if not data or data == b"\n":
                        break
                    chunks.append(data)
                return b"".join(chunks).decode("utf-8", "replace").strip()
            finally:
                tty.setcbreak(self.fd, termios.TCSANOW)
        ask()
        return sys.stdin.readline().strip()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted


def run_session(project: Project, items: list[ReviewItem],
                reviews_by_suite: dict[str, Reviews], *, by: str, console: Console,
                keys: Iterator[str] | None = None) -> Tally:
    """Review `items` one at a time; each verdict is written to reviews/<suite>.yaml at
    once. Returns what was done; Ctrl-C, SIGTERM, `q` and end of input all end early."""
    tally = Tally(total=len(items))
    old_term = None
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: no handler, the default applies
        old_term = None
    try:
        with Keys(keys) as source:
            _loop(project, items, reviews_by_suite, by, console, source, tally)
    except (KeyboardInterrupt, _Interrupted):
        console.print()
        console.print("review interrupted; every label given is saved", markup=False)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return tally


def _book(project: Project, books: dict[str, Reviews], suite: str) -> Reviews:
    if suite not in books:
        books[suite] = load_reviews(project, suite)
    return books[suite]


def _loop(project: Project, items: list[ReviewItem], books: dict[str, Reviews], by: str,
          console: Console, source: Keys, tally: Tally) -> None:
    index = 0
    show = True
    while 0 <= index < len(items):
        item = items[index]
        book = _book(project, books, item.suite)
        if show:
            console.print(render_item(item, book, index, len(items),
                                      labelled_count(items, books)))
            console.print("p pass · f fail · s skip · n note · b back · q quit · ? help",
                          style="dim", markup=False)
        show = True
        key = source.key()
        note: str | None = None
        if key == "n":
            note = source.line(lambda: console.print("note (Enter to end): ", end="",
                                                     markup=False)) or None
            console.print("then p (pass) or f (fail), any other key drops the note",
                          markup=False)
            key = source.key()
            if key not in ("p", "f"):
                console.print("note dropped", markup=False)
                show = False
                continue
        if key in ("p", "f"):
            verdict = "pass" if key == "p" else "fail"
            _label(project, book, item, verdict, by, note, tally, index)
            console.print(f"labelled {verdict}", markup=False)
            index += 1
        elif key == "s":
            tally.skipped_at.add(index)
            index += 1
        elif key == "b":
            if index == 0:
                console.print("this is the first output", markup=False)
                show = False
            else:
                index -= 1
        elif key == "q":
            return
        elif key == "?":
            console.print(help_text())
            show = False
        else:
            from rich.text import Text  # deferred: rich is imported with the console

            console.print(Text(visible(f"unknown key {key!r}: ? for help")))
            show = False


def _label(project: Project, book: Reviews, item: ReviewItem, verdict: str, by: str,
           note: str | None, tally: Tally, index: int) -> None:
    label = Label(item.case, item.prompt, item.model, item.sha, verdict, by, now_utc(),
                  output=item.output, note=note)
    old = book.labels.get(label.key)
    if old is not None and not old.same_judgement(label):
        tally.changed += 1
    book.put(label)
    write_reviews(project, book)
    tally.labelled_at.add(index)


def help_text() -> Text:
    from rich.text import Text  # deferred: see _loop

    text = Text("keys:\n", style="bold")
    for key, words in KEYS:
        text.append(f"  {key}  ", style="bold")
        text.append(words + "\n")
    return text


def _state_line(item: ReviewItem, book: Reviews) -> tuple[str, str]:
    """(words, style) of the output's existing label."""
    current = book.get(item.case, item.prompt, item.model, item.output)
    if current is not None:
        return (f"labelled {current.verdict} by {current.by} at {current.at}"
                + (f": {current.note}" if current.note else ""), "green")
    earlier = book.of_cell(item.case, item.prompt, item.model)
    if earlier:
        lab = earlier[0]
        return (f"stale: earlier label {lab.verdict} by {lab.by} at {lab.at}, "
                "output changed", "yellow")
    return ("unlabelled", "dim")


def visible(text: str) -> str:
    """`text` with its control characters (but newline and tab) written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clip_lines(text: str, limit: int = PROMPT_LINES) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text
    return "\n".join(lines[:limit]) + f"\n({len(lines) - limit} more lines)"


def labelled_count(items: list[ReviewItem], books: dict[str, Reviews]) -> int:
    """How many of `items` have a label for their exact output."""
    return sum(1 for it in items if it.suite in books
               and (it.case, it.prompt, it.model, it.sha) in books[it.suite].labels)


def render_item(item: ReviewItem, book: Reviews, index: int, total: int,
                done: int) -> Text:
    """One item as the session shows it; every user string is plain text."""
    from rich.text import Text  # deferred: see _loop

    from ..assertions.judges import is_model_graded

    rec = item.record
    text = Text()
    text.append("\n")
    text.append(f"{index + 1} / {total} · {done} labelled · ", style="bold")
    text.append(visible(f"{item.suite}/{item.case} · {item.prompt} · {item.model}"),
                style="bold")
    if len(item.records) > 1:
        text.append(f" · {len(item.records)} samples with this output", style="dim")
    text.append("\n")
    words, style = _state_line(item, book)
    text.append(visible(words) + "\n", style=style)
    text.append("prompt\n", style="bold cyan")
    rendered = "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}"
                         for m in rec.messages)
    text.append(visible(clip_lines(rendered)) + "\n")
    text.append("output\n", style="bold cyan")
    text.append(visible(item.output) + "\n")
    if rec.error is not None:
        text.append(visible(f"error: {rec.error}") + "\n", style="red")
    plain = [a for a in rec.assertions if not is_model_graded(a.type)]
    if plain:
        text.append("assertions\n", style="bold cyan")
        for a in plain:
            text.append("  pass " if a.passed else "  FAIL ",
                        style="green" if a.passed else "red")
            text.append(visible(f"{a.type}: {a.reason}") + "\n")
    judged = item.judge_reasons()
    if judged:
        text.append("judge\n", style="bold cyan")
        for kind, passed, reason in judged:
            text.append("  pass " if passed else "  FAIL ",
                        style="green" if passed else "red")
            text.append(visible(f"{kind}: {reason}") + "\n")
    text.append(f"suite verdict: {rec.status}", style="dim")
    view = view_of(book, rec)  # the label on file now, as the reports see it
    if view is not None and view.disagreement is not None:
        text.append(" · disagrees with the label: " + (
            "strict (an assertion fails what the reviewer passed)"
            if view.disagreement == "strict"
            else "gap (the assertions miss what the reviewer failed)"), style="bold yellow")
    return text

