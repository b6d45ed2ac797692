"""Real headless Chromium for the tests of promptctl's HTML pages, offline (every host
name resolves to nothing): `browse` (the DOM after the page's scripts ran, or whatever
the arguments ask for), `visit` (the DOM plus the console messages, where Chromium
reports a Content-Security-Policy violation, and the network requests the page made,
from Chromium's own net log), `measure` (a copy of the page with a probe script that
the copy's policy allows by hash: the rendered size of every chart and the colours
its parts are painted in), `screenshot`, and WCAG contrast. Chromium is required:
`apt-get install -y chromium`. `check_charts` is all of it for a page of charts."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import pytest

# prefers-color-scheme, emulated (the probe checks that the page saw it)
SCHEMES = {"light": "--blink-settings=preferredColorScheme=1", "dark": "--force-dark-mode"}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required for the HTML report tests and was not found: "
                "install it with `apt-get update && apt-get install -y chromium` (Debian/Ubuntu"
                " package; /usr/bin/chromium)", pytrace=False)


def _run(page: Path, args: tuple[str, ...], fragment: str = "") -> subprocess.CompletedProcess:
    profile = page.parent / f"chromium-profile-{time.monotonic_ns()}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--disable-dev-shm-usage",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={profile}", *args, page.as_uri() + fragment]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def browse(page: Path, *args: str, fragment: str = "") -> str:
    """Chromium, headless, offline: the page's DOM after its scripts ran (or the output
    of whatever `args` ask for)."""
    return _run(page, args or ("--dump-dom",), fragment).stdout


@dataclass
class Visit:
    dom: str
    console: list[str]  # every console message (a CSP violation is one)
    requests: list[str]  # every URL the page asked the network stack for

    def violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m]


def _net_log(path: Path) -> dict[str, Any]:
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # written while the browser quit: close it
        return json.loads(text.rstrip().rstrip(",") + "]}")


def page_requests(path: Path) -> list[str]:
    """The URLs requested on behalf of a file:// page (the browser's own background
    requests, which have no such origin, are left out)."""
    log = _net_log(path)
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    return [e["params"]["url"] for e in log["events"]
            if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
            and "file://" in e["params"].get("network_isolation_key", "")]


def visit(page: Path, scheme: str = "light", *args: str, fragment: str = "") -> Visit:
    net = page.parent / f"netlog-{time.monotonic_ns()}.json"
    proc = _run(page, ("--enable-logging=stderr", "--v=0", f"--log-net-log={net}",
                       SCHEMES[scheme], *args, "--dump-dom"), fragment)
    console = re.findall(r":CONSOLE[^\]]*\] \"(.*)\", source:", proc.stderr)
    requests = page_requests(net)
    net.unlink()
    return Visit(proc.stdout, console, requests)


PARTS = ("text", "text.lab", ".ch-line", ".ch-pt", ".ch-after", ".ch-before", ".ch-bar",
         ".ch-bar-before", ".ch-mark", ".ch-ref", ".ch-level", ".ch-band", ".ch-spark")
PROBE = """(function () {
  var out = {dark: matchMedia("(prefers-color-scheme: dark)").matches,
             bg: getComputedStyle(document.body).backgroundColor, charts: []};
  document.querySelectorAll("svg.ch").forEach(function (svg) {
    var r = svg.getBoundingClientRect(), parts = {};
    PARTS.forEach(function (sel) {
      var el = svg.querySelector(sel);
      if (!el) return;
      var s = getComputedStyle(el), b = el.getBBox();
      parts[sel] = {fill: s.fill, stroke: s.stroke, w: b.width, h: b.height};
    });
    out.charts.push({kind: svg.getAttribute("class"), label: svg.getAttribute("aria-label"),
                     w: r.width, h: r.height, parts: parts});
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();""".replace("PARTS", json.dumps(PARTS))


def _source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def measure(page: Path, scheme: str) -> dict[str, Any]:
    """The page with the probe appended, its policy widened by the probe's hash only."""
    text = page.read_text()
    if "script-src " in text:
        text = text.replace("script-src ", f"script-src {_source(PROBE)} ", 1)
    else:
        text = text.replace("default-src 'none';",
                            f"default-src 'none'; script-src {_source(PROBE)};", 1)
    probed = page.with_name(f"{page.stem}-probe-{scheme}.html")
    probed.write_text(text.replace("</body>", f"<script>{PROBE}</script></body>", 1))
    seen = visit(probed, scheme)
    assert not seen.violations(), seen.violations()
    match = re.search(r'<pre id="probe">(.*?)</pre>', seen.dom, re.S)
    assert match, "the probe did not run"
    return json.loads(unescape(match.group(1)))


def screenshot(page: Path, shot: Path, scheme: str, size: str = "1280,1400") -> bytes:
    browse(page, f"--screenshot={shot}", f"--window-size={size}", "--hide-scrollbars",
           SCHEMES[scheme])
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    return data


def rgb(css: str) -> tuple[float, float, float]:
    """'rgb(9, 105, 218)' (or rgba) -> its three channels."""
    r, g, b = (float(x) for x in re.findall(r"[\d.]+", css)[:3])
    return r, g, b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two CSS colours (1 to 21)."""
    def lum(c: tuple[float, float, float]) -> float:
        lin = [(v / 255) / 12.92 if v / 255 <= 0.03928 else ((v / 255 + 0.055) / 1.055) ** 2.4
               for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(rgb(a)), lum(rgb(b))), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def check_charts(page: Path, expected_charts: int) -> dict[str, dict[str, Any]]:
    """Both colour schemes: no network request, no CSP violation, every chart a real
    box, text and marks readable against the background; screenshots kept beside the
    page (the test's tmp_path, printed). Returns each scheme's probe."""
    shots, probes = {}, {}
    for scheme in ("light", "dark"):
        seen = visit(page, scheme)
        assert seen.requests == [] and seen.violations() == [], (seen.requests, seen.console)
        probe = measure(page, scheme)
        assert probe["dark"] is (scheme == "dark")  # the emulation reached the page
        assert len(probe["charts"]) == expected_charts
        for chart in probe["charts"]:
            small = "sparkline" in chart["kind"]
            assert chart["w"] > (80 if small else 100) and chart["h"] > (15 if small else 50), \
                chart
            parts = chart["parts"]
            assert small or "text" in parts, chart  # only a sparkline has no words
            if "text" in parts:
                assert contrast(parts["text"]["fill"], probe["bg"]) >= 4.5, (scheme, parts)
            for part in (".ch-line", ".ch-pt", ".ch-mark", ".ch-level", ".ch-after",
                         ".ch-before", ".ch-bar", ".ch-bar-before", ".ch-ref", ".ch-spark"):
                if part in parts:
                    paint = parts[part]["stroke" if part in (".ch-line", ".ch-level",
                                                             ".ch-ref", ".ch-before",
                                                             ".ch-spark")
                                         else "fill"]
                    assert contrast(paint, probe["bg"]) >= 3, (scheme, part, paint)
                    if part not in (".ch-line", ".ch-spark"):  # one point: no extent
                        assert parts[part]["w"] > 0 or parts[part]["h"] > 0, (part, parts)
        probes[scheme] = probe
        shot = page.with_name(f"{page.stem}-{scheme}.png")
        shots[scheme] = screenshot(page, shot, scheme)
        print(f"screenshot: {shot}")
    assert shots["light"] != shots["dark"]
    assert probes["light"]["bg"] != probes["dark"]["bg"]
    return probes
