"""A small driver of real headless Chromium over the DevTools protocol, stdlib only:
`--remote-debugging-pipe` (Chromium reads JSON messages ending in a NUL byte on fd 3
and writes its answers and events on fd 4). For tests of pages that are used, not only
looked at: click, press a key, type, wait for a download.

    with Browser(download_dir=tmp) as b:
        page = b.open(html_path)          # waits for the load event
        page.click("#pass"); page.press("f"); page.type("a note")
        path = b.wait_download(10)

Invariants: every wait is bounded and fails with an AssertionError naming what it
waited for; Chromium runs offline (the flags of browser.py), with its profile in a temp
dir, and is killed when the block ends, also when it ends by an exception."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .browser import chromium

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND")


class Browser:
    def __init__(self, download_dir: Path | None = None, timeout: float = 30.0) -> None:
        self.download_dir = download_dir
        self.timeout = timeout
        self._next = 0
        self._buf = b""
        self.events: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle
    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="cdp-profile-")
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # the child sees our pipe ends as its fd 3 (reads) and fd 4 (writes): moved
        # above 10 first so neither dup2 clobbers the other; close_fds=False since
        # subprocess would close 3 and 4 after this hook (our other fds are
        # non-inheritable, PEP 446, so exec drops them)
        def wire() -> None:
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)
            for fd in high:
                os.close(fd)
        self._proc = subprocess.Popen(
            [chromium(), *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            if self.download_dir is not None:
                self.download_dir.mkdir(parents=True, exist_ok=True)
                self.call("Browser.setDownloadBehavior", behavior="allow",
                          downloadPath=str(self.download_dir), eventsEnabled=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None:
            proc.kill()
            proc.wait(timeout=30)
            self._proc = None
        for fd in (self._r, self._w):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    # --- the protocol
    def send(self, method: str, session: str | None = None, **params: Any) -> int:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        return self._next

    def _read(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise AssertionError(f"Chromium closed the pipe while waiting for {what}")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        mid = self.send(method, session, **params)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline, f"the answer to {method}")
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method} failed: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, what: str, timeout: float, match: Any) -> dict[str, Any]:
        """The first event (already seen or coming) for which match(event) holds."""
        for i, ev in enumerate(self.events):
            if match(ev):
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline, what)
            if "id" not in msg and match(msg):
                return msg
            self.events.append(msg)

    # --- pages and downloads
    def open(self, path: Path, timeout: float = 20.0) -> Page:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        self.call("Page.enable", session)
        self.call("Runtime.enable", session)
        self.call("Log.enable", session)  # where a Content-Security-Policy violation shows
        self.call("Page.navigate", session, url=Path(path).resolve().as_uri())
        self.wait_event(f"the load event of {path}", timeout,
                        lambda e: e.get("method") == "Page.loadEventFired"
                        and e.get("sessionId") == session)
        return page

    def wait_download(self, timeout: float = 10.0) -> Path:
        assert self.download_dir is not None, "Browser(download_dir=...) was not given"
        begin = self.wait_event("a download to begin", timeout,
                                lambda e: e.get("method") == "Browser.downloadWillBegin")
        guid = begin["params"]["guid"]
        self.wait_event(f"the download {begin['params'].get('suggestedFilename')} to complete",
                        timeout,
                        lambda e: e.get("method") == "Browser.downloadProgress"
                        and e["params"].get("guid") == guid
                        and e["params"].get("state") in ("completed", "canceled"))
        path = self.download_dir / guid
        named = self.download_dir / begin["params"]["suggestedFilename"]
        if path.exists() and not named.exists():
            path.rename(named)
        assert named.exists(), f"the download {named.name} is not in {self.download_dir}"
        return named


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.b = browser
        self.session = session

    @property
    def console(self) -> list[str]:
        """Console messages, uncaught exceptions and the browser's log entries (a
        Content-Security-Policy violation is one) seen so far, as text."""
        out = []
        for ev in self.b.events:
            if ev.get("sessionId") != self.session:
                continue
            if ev.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description", "")))
                                    for a in ev["params"]["args"]))
            elif ev.get("method") == "Log.entryAdded":
                out.append(ev["params"]["entry"].get("text", ""))
            elif ev.get("method") == "Runtime.exceptionThrown":
                d = ev["params"]["exceptionDetails"]
                out.append("exception: " + d.get("exception", {}).get("description",
                                                                      d.get("text", "")))
        return out

    def eval(self, js: str) -> Any:
        res = self.b.call("Runtime.evaluate", self.session, expression=js,
                          returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{js!r} threw: {res['exceptionDetails']}")
        return res["result"].get("value")

    def click(self, css: str) -> None:
        found = self.eval(f"(function(){{var e=document.querySelector({json.dumps(css)});"
                          "if(!e)return false;e.click();return true})()")
        assert found, f"no element matches {css!r}"

    def press(self, key: str) -> None:
        """One key as a user types it: keyDown (carrying the text, so Chromium fires
        keydown, then keypress and the insertion unless the page's keydown listener
        calls preventDefault, as for a real key) and keyUp. A separate `char` event
        would insert the text even after preventDefault, which no real key does."""
        code = f"Key{key.upper()}" if len(key) == 1 and key.isalpha() else key
        vk = ord(key.upper()) if len(key) == 1 else 0
        down: dict[str, Any] = {"type": "keyDown", "key": key, "code": code,
                                "windowsVirtualKeyCode": vk}
        if len(key) == 1:
            down["text"] = key
        self.b.call("Input.dispatchKeyEvent", self.session, **down)
        self.b.call("Input.dispatchKeyEvent", self.session, type="keyUp", key=key, code=code,
                    windowsVirtualKeyCode=vk)

    def type(self, text: str) -> None:
        self.b.call("Input.insertText", self.session, text=text)
