"""The project's boundary: where the files promptctl reads as project input may live.

Project input is everything a pull request can change: promptctl.yaml, prompt
collections, Jinja includes and imports, suites, data files, python checks. Each such
file must resolve (links followed) inside the boundary and be a regular file; anything
else is a UserError (exit 2) naming the path as written, where it resolves, and the
file:line that referenced it. A link that stays inside the boundary is fine.

The boundary is the git work tree that holds the project root (the folder of
promptctl.yaml), so a monorepo's sibling folders stay usable; outside git it is the
project root itself. Model files named in promptctl.yaml are configuration, not project
input: they are not checked here.

Invariants: a check only stats (it never opens), so a FIFO or a device cannot block it;
nothing under /proc, /sys or /dev is ever project input, whatever the boundary; the git
work tree is found by walking up for `.git` (a folder, or a file for a worktree or a
submodule), without running git.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UserError

SPECIAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
HINT = ("project input must be inside the project's git work tree (or promptctl.yaml's "
        "folder outside git): move it into the project")


def project_boundary(root: Path) -> Path:
    """The boundary of the project whose root (promptctl.yaml's folder, or the working
    directory without one) is `root`: the git work tree holding it, else root; resolved.
    A few stats (one per folder up to /); the Project keeps its result."""
    root = Path(os.path.realpath(root))
    for d in (root, *root.parents):
        dot = d / ".git"
        try:
            st = dot.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            return d
    return root


def inside(real: Path, boundary: Path) -> bool:
    return real.is_relative_to(boundary)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "a special file"


def safe_path(path: Path, boundary: Path, *, file: str | None = None,
              line: int | None = None, what: str = "file", written: str | None = None,
              expect: str = "file") -> Path:
    """`path` resolved, if it may be read as project input; else a UserError.

    file/line: where the path was referenced (default: the path itself). written: the
    path as the user wrote it (default: `path`). expect: "file" or "dir". A path that
    does not exist (and resolves inside) is returned as is: the caller says "not found".
    """
    shown = written if written is not None else str(path)
    name = f" '{shown}'" if file is not None else ""  # else the error's file names it
    where = file if file is not None else shown
    absolute = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    subject = f"{what}{name}"
    is_link = real != absolute
    if not inside(real, boundary):
        if is_link:
            message = f"{subject} is a link to {real}, outside the project ({boundary})"
        else:
            full = f" ({absolute})" if name and str(absolute) != shown else ""
            message = f"{subject}{full} is outside the project ({boundary})"
        raise UserError(message, file=where, line=line, hint=HINT)
    if is_link:
        subject += f" (a link to {real})"
    if any(inside(real, special) for special in SPECIAL_ROOTS):
        raise UserError(f"{subject} is a system file, not project input",
                        file=where, line=line, hint=HINT)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as exc:
        raise UserError(f"cannot read {subject}: {exc.strerror}", file=where, line=line,
                        hint="check the file and any links on the way to it") from None
    wanted = stat.S_ISDIR(mode) if expect == "dir" else stat.S_ISREG(mode)
    if not wanted:
        noun = "a directory" if expect == "dir" else "a regular file"
        raise UserError(f"{subject} is {_kind(mode)}, not {noun}", file=where, line=line,
                        hint="point it at a directory of the project" if expect == "dir"
                        else "promptctl reads only regular files as project input")
    return real


def is_readable_input(path: Path, boundary: Path) -> bool:
    """Whether `path` passes `safe_path` as an existing regular file (for the scans that
    skip, rather than refuse, what they may not read: watch mode, dependency hashing)."""
    try:
        real = safe_path(path, boundary)
    except UserError:
        return False
    return real.is_file()


def read_bytes(path: Path) -> bytes:
    """A regular file's bytes, opened without blocking: a FIFO or device swapped in after
    the check is refused instead of read (OSError)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path}")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    finally:
        if fd >= 0:
            os.close(fd)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory if inside."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
