"""`promptctl history --git [REV_RANGE]`: one point per commit that changed a suite's
baseline file (baselines/<suite>.json), read from git, never from the working tree.

git runs as a subprocess with a timeout, no pager, no prompt, no fsmonitor, no
signature checks, and `--no-textconv --no-ext-diff`: reading history runs nothing the
repository configures. The commits are the first-parent history of REV_RANGE (default
HEAD): on a main branch, one point per merged change. Only the direct children of the
project's baselines directory named `*.json` are read, and only as blobs: a path that is
a symbolic link at some commit is skipped with a note (it is never followed), and so is
a file larger than MAX_BYTES, a deleted one, and one that is not a baseline of this
promptctl version at that commit. At most MAX_COMMITS commits are read (the newest).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError, UserError
from ..load.project import Project
from .baseline import parse_baseline
from .history_points import Gathered, Point, Tally, link

TIMEOUT = 60.0  # seconds per git command
MAX_BYTES = 64 * 1024 * 1024  # a baseline blob larger than this is skipped
MAX_COMMITS = 2000
SHORT = 7  # hex digits of a commit's label
SAFE = ["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
        "-c", "log.showSignature=false", "-c", "color.ui=never", "-c", "core.pager=cat",
        "-c", "core.quotePath=false", "--no-pager"]
ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat",
       "GIT_OPTIONAL_LOCKS": "0", "GIT_EXTERNAL_DIFF": "", "LC_ALL": "C"}
FORMAT = "%x1e%H%x1f%cI%x1f%s"  # --no-abbrev (full blob ids) makes %h full too
FIX = "run `git init` and commit baselines/, or leave out --git to read the saved runs"


def git(args: Sequence[str], cwd: Path, data: bytes | None = None
        ) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *SAFE, *args], cwd=cwd, input=data,
                              capture_output=True, check=False, timeout=TIMEOUT,
                              env={**os.environ, **ENV})
    except FileNotFoundError:
        raise UserError("git is not installed", hint="install git, or leave out --git to "
                        "read the saved runs") from None
    except subprocess.TimeoutExpired:
        raise InfraError(f"git {args[0]} took longer than {TIMEOUT:g} s",
                         hint="try a shorter REV_RANGE") from None


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0].removeprefix("fatal: ")[:200] if lines else f"exit {result.returncode}"


def check_range(rev_range: str) -> str:
    """A revision range as git reads it, never an option."""
    if (not rev_range or rev_range.startswith("-") or len(rev_range) > 300
            or re.search(r"[\x00-\x20\x7f]", rev_range)):
        raise UserError(f"bad git revision range {rev_range[:60]!r}",
                        hint="write REV or A..B, e.g. main~20..main")
    return rev_range


def baselines_path(project: Project) -> tuple[Path, str]:
    """(the repository's top level, the baselines directory relative to it)."""
    top = git(["rev-parse", "--show-toplevel"], project.root)
    if top.returncode != 0:
        raise UserError(f"not a git repository: {project.root}", hint=FIX)
    toplevel = Path(top.stdout.decode("utf-8", "replace").strip()).resolve()
    root = project.root.resolve()
    where = (root / project.config.paths.baselines).resolve()
    for outer, what in ((root, "the project"), (toplevel, "the git repository")):
        if where != outer and outer not in where.parents:
            raise UserError(f"the baselines directory {where} is outside {what}",
                            hint="point paths.baselines at a directory inside it")
    return toplevel, where.relative_to(toplevel).as_posix()


@dataclass
class _Change:
    sha: str
    short: str
    date: str
    subject: str
    path: str
    mode: str
    blob: str
    status: str


def _parse_log(out: bytes, rel: str) -> list[_Change]:
    """`git log --raw -z` output: the changes to rel/*.json, newest commit first."""
    found: list[_Change] = []
    prefix = f"{rel}/" if rel != "." else ""
    for chunk in out.split(b"\x1e")[1:]:
        header, _, rest = chunk.partition(b"\0")
        fields = header.decode("utf-8", "replace").split("\x1f")
        if len(fields) != 3 or not re.fullmatch(r"[0-9a-f]{40,64}", fields[0]):
            continue
        sha, date, subject = fields
        short = sha[:SHORT]
        tokens = rest.lstrip(b"\n").split(b"\0")
        for meta, raw_path in zip(tokens[::2], tokens[1::2], strict=False):  # a torn tail
            parts = meta.decode("ascii", "replace").lstrip(":").split()
            if len(parts) != 5:
                continue
            path = raw_path.decode("utf-8", "replace")
            name = path[len(prefix):] if path.startswith(prefix) else ""
            if not name.endswith(".json") or "/" in name or name == ".json":
                continue
            found.append(_Change(sha, short, date, subject[:200], path, parts[1],
                                 parts[3], parts[4][:1]))
    return found


def _sizes(toplevel: Path, blobs: Sequence[str]) -> dict[str, int]:
    if not blobs:
        return {}
    out = git(["cat-file", "--batch-check"], toplevel, "".join(f"{b}\n" for b in blobs)
              .encode())
    sizes = {}
    for line in out.stdout.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob" and parts[2].isdigit():
            sizes[parts[0]] = int(parts[2])
    return sizes


def git_history(project: Project, rev_range: str | None = None, suites: Sequence[str] = (),
                models: Sequence[str] = (), *, last: int | None = None, alpha: float = 0.05
                ) -> Gathered:
    """One point per commit per changed baseline, oldest first."""
    revs = [check_range(rev_range)] if rev_range is not None else ["HEAD"]
    toplevel, rel = baselines_path(project)
    gathered = Gathered("git", {})
    head = git(["rev-parse", "--verify", "--quiet", "HEAD"], toplevel)
    if head.returncode != 0 and rev_range is None:
        gathered.notes.append("the repository has no commits yet")
        return gathered
    log = git(["log", "--first-parent", "--raw", "--no-abbrev", "-z", "--no-renames",
               "--no-textconv", "--no-ext-diff", "--no-color", "--no-notes",
               f"--max-count={MAX_COMMITS}", f"--format={FORMAT}", *revs, "--",
               f":(literal){rel}"], toplevel)
    if log.returncode != 0:
        raise UserError(f"git cannot read the revision range {revs[0]!r}: {_said(log)}",
                        hint="write REV or A..B naming commits of this repository, e.g. "
                        "main~20..main")
    every = _parse_log(log.stdout, rel)
    gathered.suites_seen = {_suite(c) for c in every}
    changes = [c for c in every if not suites or _suite(c) in suites]
    if log.stdout.count(b"\x1e") >= MAX_COMMITS:
        gathered.notes.append(f"only the newest {MAX_COMMITS} commits were read")
    readable = [c for c in changes if _readable(c, gathered.notes)]
    sizes = _sizes(toplevel, sorted({c.blob for c in readable}))
    by_suite: dict[str, list[Point]] = {}
    keep = None if last is None else last + 1
    for change in readable:  # newest first
        suite = _suite(change)
        if keep is not None and len(by_suite.get(suite, [])) >= keep:
            continue
        point = _point(toplevel, change, sizes.get(change.blob), set(models), gathered,
                       alpha)
        if point is not None:
            by_suite.setdefault(suite, []).append(point)
    if not changes:
        gathered.notes.append(f"no commit in {revs[0]} changed a baseline file in {rel}/")
    for suite, points in sorted(by_suite.items()):
        points.reverse()
        link(points)
        gathered.points[suite] = points[-last:] if last is not None else points
    return gathered


def _suite(change: _Change) -> str:
    return change.path.rsplit("/", 1)[-1].removesuffix(".json")


def _readable(change: _Change, notes: list[str]) -> bool:
    where = f"{change.path} at {change.short}"
    if change.status == "D":
        notes.append(f"{where}: deleted, no point")
        return False
    if change.mode == "120000":
        notes.append(f"{where}: a symbolic link, not followed: skipped")
        return False
    if change.mode not in ("100644", "100755"):
        notes.append(f"{where}: not a regular file (mode {change.mode}): skipped")
        return False
    return True


def _point(toplevel: Path, change: _Change, size: int | None, models: set[str],
           gathered: Gathered, alpha: float) -> Point | None:
    where = f"{change.path} at {change.short}"
    if size is None:
        gathered.notes.append(f"{where}: git has no such blob: skipped")
        return None
    if size > MAX_BYTES:
        gathered.notes.append(f"{where}: {size:,} bytes, over the {MAX_BYTES:,}-byte limit: "
                              "skipped")
        return None
    shown = git(["cat-file", "blob", change.blob], toplevel)
    if shown.returncode != 0 or len(shown.stdout) > MAX_BYTES:
        gathered.notes.append(f"{where}: cannot be read ({_said(shown)}): skipped")
        return None
    try:
        baseline = parse_baseline(shown.stdout, where, "the point is skipped")
    except UserError as exc:
        gathered.notes.append(f"{exc.location or where}: {exc.message}: skipped")
        return None
    tally = Tally()
    for (case, prompt, model), cell in baseline.cells.items():
        gathered.models_seen.add(model)
        if models and model not in models:
            continue
        for sample in cell.samples:
            tally.add((case, prompt, model), passed=sample.passed, error=False,
                      metrics=((a["metric"], a["score"]) for a in sample.assertions
                               if a.get("metric")),
                      fingerprint=cell.fingerprint)
    if not tally:
        return None
    day = change.date[:10]
    return _with_commit(tally.point(change.sha, change.short,
                                    f"{change.short} {day} {change.subject}", change.date,
                                    alpha), change)


def _with_commit(point: Point, change: _Change) -> Point:
    point.commit = {"sha": change.sha, "short": change.short, "date": change.date,
                    "subject": change.subject}
    return point
