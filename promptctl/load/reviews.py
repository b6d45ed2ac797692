"""Human labels as files: `reviews/<suite>.yaml`, committed and reviewed like baselines.

Owns the file's format, its reader and its writer, and the two questions every later
stage asks of it: what a reviewer said about one exact output (`Reviews.get`), and
whether a cell's labels are stale because its output changed (`Reviews.state`).

A label is one reviewer's verdict (`pass` / `fail`, an optional score 0..1 and note,
who and when) on one output of one (case, prompt, model) cell. It names the output by
the sha256 of its text, so it applies to that text only; the text itself is kept beside
it (`output`) so that `calibrate` and `review promote` work without the run it came from.

Invariants:

- the writer is deterministic: the same labels give the same bytes (entries sorted by
  case, prompt, model, time, digest; fixed key order; strings quoted only when YAML
  would read them as something else), so a pull request shows one hunk per label;
- what the writer writes, the reader reads back equal (every scalar is checked to
  round-trip before it is written plain or as a literal block);
- a bad file is a UserError naming reviews/NAME.yaml:LINE and the fix: schema errors,
  a duplicate entry, an `output` whose digest is not `output_sha256`, a `suite:` that is
  not the file's name; files are bounded in size (load/yamlsrc.py) and read only inside
  the project (a symlink out is refused, as for every project input);
- writes are atomic (a temporary file renamed over the old one): a kill leaves the old
  file or the new one, never half of either.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..boundary import display_path
from .yamlsrc import load_yaml

if TYPE_CHECKING:
    from .project import Project

VERDICTS = ("pass", "fail")
STATES = ("labelled", "stale", "unlabelled")
LabelKey = tuple[str, str, str, str]  # (case, prompt, model, output_sha256)
CellOf = tuple[str, str, str]  # (case, prompt, model)

HEADER = ("# Human labels of suite {suite!r}, one entry per reviewed output (promptctl review).\n"
          "# A label applies to the exact output whose sha256 it names: when the output\n"
          "# changes, the label shows as stale. Written by promptctl in a fixed order.\n")


def output_sha256(text: str) -> str:
    """The digest a label names its output by: sha256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Label:
    case: str
    prompt: str
    model: str
    output_sha256: str
    verdict: str  # "pass" | "fail"
    by: str
    at: str  # ISO 8601 UTC to the second
    output: str | None = None
    score: float | None = None
    note: str | None = None
    line: int | None = field(default=None, compare=False)  # in reviews/NAME.yaml

    @property
    def key(self) -> LabelKey:
        return (self.case, self.prompt, self.model, self.output_sha256)

    @property
    def cell(self) -> CellOf:
        return (self.case, self.prompt, self.model)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def same_judgement(self, other: Label) -> bool:
        """The same verdict, score and note (who and when may differ)."""
        return (self.verdict, self.score, self.note) == (other.verdict, other.score,
                                                         other.note)


@dataclass
class Reviews:
    """One suite's labels, keyed by (case, prompt, model, output digest)."""

    suite: str
    file: str
    labels: dict[LabelKey, Label] = field(default_factory=dict)

    def get(self, case: str, prompt: str, model: str, output: str) -> Label | None:
        return self.labels.get((case, prompt, model, output_sha256(output)))

    def of_cell(self, case: str, prompt: str, model: str) -> list[Label]:
        """The cell's labels, newest first."""
        found = [lab for lab in self.labels.values() if lab.cell == (case, prompt, model)]
        return sorted(found, key=lambda lab: (lab.at, lab.output_sha256), reverse=True)

    def state(self, case: str, prompt: str, model: str, output: str) -> str:
        """"labelled" (this output has a label), "stale" (the cell has labels, none of
        them for this output: it changed since it was reviewed) or "unlabelled"."""
        if self.get(case, prompt, model, output) is not None:
            return "labelled"
        return "stale" if self.of_cell(case, prompt, model) else "unlabelled"

    def put(self, label: Label) -> None:
        self.labels[label.key] = label

    def remove(self, key: LabelKey) -> None:
        self.labels.pop(key, None)


@dataclass(frozen=True)
class Conflict:
    existing: Label
    incoming: Label


def merge(reviews: Reviews, incoming: Iterable[Label], *, force: bool = False
          ) -> tuple[int, list[Conflict]]:
    """Add `incoming` to `reviews` (in place). A label for an output that already has a
    different judgement is a conflict and is left out, unless `force` (then the incoming
    one wins). Returns (labels added or changed, conflicts); the same judgement again
    changes nothing and counts for nothing."""
    changed = 0
    conflicts: list[Conflict] = []
    for label in incoming:
        old = reviews.labels.get(label.key)
        if old is not None and old.same_judgement(label):
            continue
        if old is not None and not force:
            conflicts.append(Conflict(old, label))
            continue
        reviews.put(replace(label, line=None))
        changed += 1
    return changed, conflicts


# -- where the files are -----------------------------------------------------------

def reviews_dir(project: Project) -> Path:
    return project.root / project.config.paths.reviews


def reviews_path(project: Project, suite: str) -> Path:
    return reviews_dir(project) / f"{suite}.yaml"


def load_reviews(project: Project, suite: str) -> Reviews:
    """The suite's labels; none when it has no file yet."""
    path = reviews_path(project, suite)
    file = display_path(path)
    if not os.path.lexists(path):
        return Reviews(suite, file)
    directory = reviews_dir(project)
    project.check_input(directory, what="reviews directory", expect="dir")
    real = project.check_input(path, what="reviews file")
    data, src = load_yaml(real, file)
    # deferred: pydantic's models are built on first use (start-up speed)
    from ..schema import ReviewsFile
    from .validate import validate

    spec = validate(ReviewsFile, data, src)
    if spec.suite != suite:
        raise src.error(f"this file holds the labels of suite {spec.suite!r}, but its name "
                        f"says {suite!r}", ("suite",),
                        hint=f"rename the file to {spec.suite}.yaml, or set suite: {suite}")
    reviews = Reviews(suite, file)
    for i, entry in enumerate(spec.labels):
        line = src.line(("labels", i))
        if entry.output is not None and output_sha256(entry.output) != entry.output_sha256:
            raise src.error("output_sha256 is not the sha256 of this entry's output (was "
                            "the output edited?)", ("labels", i, "output_sha256"), key=True,
                            hint="restore the output as it was reviewed, or delete the "
                                 "entry and review the output again")
        label = Label(entry.case, entry.prompt, entry.model, entry.output_sha256,
                      entry.verdict, entry.by, entry.at, entry.output, entry.score,
                      entry.note, line)
        old = reviews.labels.get(label.key)
        if old is not None:
            raise src.error(f"a second label for the same output of {label.case} "
                            f"({label.prompt}, {label.model}); the first is on line "
                            f"{old.line}", ("labels", i),
                            hint="keep one of the two entries")
        reviews.put(label)
    return reviews


def write_reviews(project: Project, reviews: Reviews) -> Path:
    """Write the suite's file atomically; the same labels always give the same bytes."""
    directory = reviews_dir(project)
    if os.path.lexists(directory):
        project.check_input(directory, what="reviews directory", expect="dir")
    directory.mkdir(parents=True, exist_ok=True)
    path = reviews_path(project, reviews.suite)
    text = dump_reviews(reviews)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{reviews.suite}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp's 0600 is not how a committed file reads
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def dump_reviews(reviews: Reviews) -> str:
    out = [HEADER.format(suite=reviews.suite), "version: 1\n",
           f"suite: {_scalar(reviews.suite)}\n"]
    labels = sorted(reviews.labels.values(),
                    key=lambda lab: (lab.case, lab.prompt, lab.model, lab.at,
                                     lab.output_sha256))
    out.append("labels:\n" if labels else "labels: []\n")
    for lab in labels:
        fields: list[tuple[str, Any]] = [
            ("case", lab.case), ("prompt", lab.prompt), ("model", lab.model),
            ("verdict", lab.verdict), ("score", lab.score), ("note", lab.note),
            ("by", lab.by), ("at", lab.at), ("output_sha256", lab.output_sha256),
            ("output", lab.output)]
        first = True
        for name, value in fields:
            if value is None:
                continue
            lead = "  - " if first else "    "
            first = False
            if name == "output":
                out.append(f"{lead}{name}: {_text(value)}\n")
            elif name == "score":
                out.append(f"{lead}{name}: {float(value)!r}\n")
            else:
                out.append(f"{lead}{name}: {_scalar(str(value))}\n")
    return "".join(out)


# -- scalars that read back as written ------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _reads_back(fragment: str, value: str) -> bool:
    try:
        return yaml.load("v: " + fragment, Loader=_Loader) == {"v": value}  # a safe loader
    except yaml.YAMLError:
        return False


def _quoted(value: str) -> str:
    """A double-quoted scalar: JSON's escapes, plus \\uXXXX for every character YAML
    may not hold as it is (C0/C1 controls, line and paragraph separators, BOM)."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(ch if ch.isprintable() or ch in " " else f"\\u{ord(ch):04x}"
                   if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}" for ch in text)


_PLAIN_DIGEST = re.compile(r"[0-9a-f]*[abcdf][0-9a-f]*")  # no number, bool or null reads so


@functools.lru_cache(maxsize=4096)
def _scalar(value: str) -> str:
    """`value` as a plain scalar when YAML reads it back exactly, else quoted. Cached
    (the same cases, prompts, models and names recur in every entry) and with the two
    shapes every entry has answered without YAML: a review is written after each key."""
    from ..schema import UTC  # deferred: pydantic's models; the dump reads them anyway

    if _PLAIN_DIGEST.fullmatch(value):
        return value
    if UTC.fullmatch(value):  # a label's `at`: YAML would read it as a date
        return f'"{value}"'
    if value and value.isprintable() and _reads_back(value, value):
        return value
    return _quoted(value)


def _text(value: str) -> str:
    """An output: a literal block when it has several lines and reads back exactly,
    else one quoted line."""
    body = value.rstrip("\n")
    if "\n" in body and not body[0].isspace() and all(
            ch.isprintable() or ch == "\n" for ch in value):
        trailing = len(value) - len(body)
        chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
        lines = body.split("\n") + [""] * max(0, trailing - 1)
        block = f"|{chomp}\n" + "\n".join("      " + ln if ln else "" for ln in lines)
        if _block_ok(block, value):
            return block
    return _scalar(value)


def _block_ok(block: str, value: str) -> bool:
    """The block as it sits in the file (six spaces in, under a list item) reads back."""
    doc = "labels:\n  - output: " + block + "\n"
    try:
        return yaml.load(doc, Loader=_Loader) == {"labels": [{"output": value}]}
    except yaml.YAMLError:
        return False


# -- defaults for a new label ----------------------------------------------------------

def reviewer(root: Path | None = None) -> str:
    """Who is labelling: git's user.email, else user.name, else the login name."""
    for key in ("user.email", "user.name"):
        try:
            got = subprocess.run(["git", "config", "--get", key], cwd=root, timeout=5,
                                 capture_output=True, text=True, check=False)
        except (OSError, subprocess.SubprocessError):
            break
        if got.returncode == 0 and got.stdout.strip():
            return got.stdout.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

