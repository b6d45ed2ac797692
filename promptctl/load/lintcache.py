"""The cache of `promptctl lint` results: an unchanged tree answers without loading it.

An entry holds one lint's findings, keyed by what the command was asked (the working
directory, the paths and --config as given) and by what promptctl is (its version, a
stamp of its own source files, the interpreter, its import path), and it lists every
*input*: each path the lint asked the file system about while it ran, with a
fingerprint of what it found there. The inputs are recorded, not predicted (`Recorder`):
an audit hook sees every file opened for reading and every directory listed, and
os.stat / os.lstat are wrapped for the run, so promptctl.yaml looked for and not found,
a data file tried beside the suite before the project root, a python check's module
file, a model file, a link on the way: all are inputs. Their fingerprints (`fingerprint`):
a file that was read, the digest of its bytes; a file only looked at, its size and
modification time; a directory listed, its names and their kinds; a link, its target;
a missing path, missing. An entry answers only when every input still fingerprints the
same (`lookup`), so a changed, added or removed file invalidates it.

Invariants:
- Stdlib only, at module level and in `lookup`: a hit imports no pydantic, jinja2 or
  yaml (tests/cli/test_startup.py).
- Entries live in the user's cache directory ($XDG_CACHE_HOME/promptctl/lint, else
  ~/.cache/promptctl/lint), never in the project: the tree under test may be a hostile
  pull request. Each entry is signed (HMAC-SHA256) with a random key kept beside the
  entries (mode 0600); an entry that does not verify, does not parse or does not match
  the question asked is ignored, never an error.
- Only lints without errors are stored (clean, or warnings only): an error can come from
  what cannot be fingerprinted (a permission, a FIFO), and a failing lint is re-run
  anyway once its cause is fixed. Nor is one stored when an input was modified while
  the lint ran (its result may predate the bytes fingerprinted).
- Any failure to read or write the cache (no home, a read-only disk) only means a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FORMAT = 1
MAX_ENTRIES = 256  # the oldest entries beyond this are removed when one is stored
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# kinds of access a recorded path had: what its fingerprint covers
OPENED, LISTED, LOOKED = "o", "d", "s"


# -- where, and under which key ----------------------------------------------------


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/promptctl/lint (an absolute XDG_CACHE_HOME only, as the XDG
    spec says), else ~/.cache/promptctl/lint."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "promptctl" / "lint"


def _code_stamp() -> str:
    """promptctl's own source files (name, size, mtime): a changed promptctl, even
    at the same version, answers from no old entry."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _path_stamp() -> list[list[str | int | None]]:
    """Each folder on the import path with its modification time: installing or
    removing a package (a provider plugin, a new jinja2) changes one."""
    out: list[list[str | int | None]] = []
    for entry in sys.path:
        try:
            out.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            out.append([entry, None])
    return out


def question(version: str, paths: Sequence[str], config: str | None) -> dict[str, Any]:
    """What an entry answers: the command as asked, where, and by which promptctl (its
    `version`, and the stamp of its files)."""
    return {"format": FORMAT, "promptctl": version, "code": _code_stamp(),
            "python": sys.version, "executable": sys.executable, "path": _path_stamp(),
            "cwd": os.getcwd(), "home": os.environ.get("HOME"), "paths": list(paths),
            "config": config}


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _entry_path(folder: Path, asked: dict[str, Any]) -> Path:
    where = {k: asked[k] for k in ("cwd", "paths", "config")}  # one file per question
    return folder / f"{hashlib.sha256(_canonical(where)).hexdigest()[:40]}.json"


def _key(folder: Path, *, create: bool) -> bytes | None:
    """The signing key, made on first use (0600, in a 0700 folder) and replaced if it is
    not a key (the entries signed with it are then refused); None if it cannot be read
    (or, with create=False, is not there yet)."""
    path = folder / "key"
    with contextlib.suppress(OSError):
        with path.open("rb") as fh:
            data = fh.read()
        if len(data) == 32:
            return data
    if not create:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = os.urandom(32)
        _write_private(path, fresh)
    except OSError:
        return None
    return _key(folder, create=False)  # whichever of two racing lints wrote it last


def _write_private(path: Path, data: bytes) -> None:
    """`data` into `path` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _mac(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()


# -- fingerprints ------------------------------------------------------------------


def fingerprint(path: str, access: str, links: int = 0) -> str:
    """What is at `path` now, as far as an access of kinds `access` could see it."""
    if links > 40:
        return "l*"  # a loop of links: opening it fails, and keeps failing
    try:
        st = os.lstat(path)
    except OSError:
        return "-"
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            return "l?"
        # a followed link: what it leads to counts too
        followed = fingerprint(os.path.join(os.path.dirname(path), target), access, links + 1)
        return f"l:{target}>{followed}"
    if stat.S_ISDIR(mode):
        return f"d:{_listing(path)}" if LISTED in access else "d"
    if stat.S_ISREG(mode):
        if OPENED in access:
            try:
                with open(path, "rb") as fh:
                    return f"f:{hashlib.sha256(fh.read()).hexdigest()}"
            except OSError:
                return "f?"
        return f"f:{st.st_size}:{st.st_mtime_ns}"
    return f"o:{stat.S_IFMT(mode)}"  # a FIFO, a socket, a device: never opened here


def _listing(path: str) -> str:
    try:
        with os.scandir(path) as it:
            names = sorted(f"{e.name}/{'l' if e.is_symlink() else 'd' if e.is_dir() else 'f'}"
                           for e in it)
    except OSError:
        return "?"
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


# -- recording a lint's inputs ------------------------------------------------------

_recording: Recorder | None = None
_hooked = False
_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    rec = _recording
    if rec is None:
        return
    if event == "open":
        path, mode, flags = args
        if mode is None:  # os.open
            if isinstance(flags, int) and flags & os.O_ACCMODE != os.O_RDONLY:
                return
        elif isinstance(mode, str) and any(c in mode for c in "wax+"):
            return
        rec.add(path, OPENED)
    elif event in ("os.listdir", "os.scandir"):
        rec.add(args[0] if args and args[0] is not None else ".", LISTED)


class Recorder:
    """Records, while active, every path opened for reading, listed or stat-ed by this
    process (`with Recorder() as rec:`); `inputs()` fingerprints them afterwards."""

    def __init__(self) -> None:
        self.access: dict[str, str] = {}
        self.started = 0
        self._skip = (_PACKAGE + os.sep, *{p + os.sep for p in
                                           (sys.prefix, sys.base_prefix, sys.exec_prefix)})

    def add(self, path: Any, kind: str) -> None:
        if isinstance(path, int):
            return  # a file descriptor: its path was recorded when it was opened
        try:
            name = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        if name.startswith(self._skip) or "__pycache__" in name:
            return  # promptctl and the interpreter's own files: in the question's stamps
        have = self.access.get(name, "")
        if kind not in have:
            self.access[name] = have + kind

    def __enter__(self) -> Recorder:
        global _recording, _hooked
        with _lock:
            if not _hooked:
                sys.addaudithook(_audit)  # for the process's life: idle when not recording
                _hooked = True
            self._stat, self._lstat = os.stat, os.lstat
            real_stat, real_lstat = self._stat, self._lstat

            def looked_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
                if _recording is self:
                    self.add(path, LOOKED)
                return real_stat(path, *args, **kwargs)

            def looked_lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
                if _recording is self:
                    self.add(path, LOOKED)
                return real_lstat(path, *args, **kwargs)

            os.stat, os.lstat = looked_stat, looked_lstat
            _recording = self
        self.started = time.time_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        global _recording
        with _lock:
            os.stat, os.lstat = self._stat, self._lstat
            _recording = None

    def inputs(self) -> list[list[str]] | None:
        """[path, access, fingerprint] for every recorded path; None when one was
        modified after the recording started (what the lint read may be older)."""
        out = []
        for path, access in sorted(self.access.items()):
            with contextlib.suppress(OSError):
                st = os.stat(path)
                # a file, or a folder that was listed (a folder only passed through,
                # such as /tmp, changes all the time and its fingerprint ignores that)
                read = stat.S_ISREG(st.st_mode) or LISTED in access
                if read and st.st_mtime_ns >= self.started - 10_000_000:  # 10 ms slack
                    return None
            out.append([path, access, fingerprint(path, access)])
        return out


# -- reading and writing entries ----------------------------------------------------


def lookup(asked: dict[str, Any]) -> dict[str, Any] | None:
    """The stored result for `asked` if its entry verifies and every input is
    unchanged; else None."""
    folder = cache_dir()
    key = _key(folder, create=False)
    if key is None:
        return None
    try:
        with _entry_path(folder, asked).open("rb") as fh:
            entry = json.loads(fh.read())
        mac = entry.pop("mac")
        body_ok = hmac.compare_digest(_mac(key, entry), mac)
        if not body_ok or entry["question"] != asked:
            return None
        for path, access, printed in entry["inputs"]:
            if fingerprint(path, access) != printed:
                return None
        result = entry["result"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, corrupt or of another shape: a miss
    return result if isinstance(result, dict) else None


def store(asked: dict[str, Any], recorder: Recorder, result: dict[str, Any]) -> bool:
    """Stores `result` for `asked` with the recorded inputs; False when it is not
    stored (an input changed during the lint, or the cache cannot be written)."""
    inputs = recorder.inputs()
    if inputs is None:
        return False
    folder = cache_dir()
    key = _key(folder, create=True)
    if key is None:
        return False
    entry: dict[str, Any] = {"question": asked, "inputs": inputs, "result": result}
    entry["mac"] = _mac(key, entry)
    try:
        _write_private(_entry_path(folder, asked), _canonical(entry))
    except OSError:
        return False
    _prune(folder)
    return True


def _prune(folder: Path) -> None:
    with contextlib.suppress(OSError):
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in entries[:-MAX_ENTRIES]:
            old.unlink()
