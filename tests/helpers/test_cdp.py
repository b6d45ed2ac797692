"""cdp.py against real headless Chromium: a click, a key the page's keydown listener
sees, typed text, and a JSON Blob downloaded through <a download>; a wait for a download
that never comes fails naming what it waited for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cdp import Browser

PAGE = """<!DOCTYPE html><html><body><button id="b">go</button><textarea id="t"></textarea>
<pre id="log"></pre><script>
var seen = [];
document.addEventListener("keydown", function (e) { seen.push(e.key); });
document.getElementById("b").addEventListener("click", function () {
  var blob = new Blob([JSON.stringify({keys: seen, note: document.getElementById("t").value})],
                      {type: "application/json"});
  var a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = "out.json";
  document.body.appendChild(a); a.click();
  console.log("saved");
});
</script></body></html>"""


def test_click_press_type_download(tmp_path: Path) -> None:
    page_file = tmp_path / "p.html"
    page_file.write_text(PAGE)
    with Browser(download_dir=tmp_path / "dl") as b:
        page = b.open(page_file)
        page.press("p")
        page.press("f")
        page.eval("document.getElementById('t').focus()")
        page.type("hello </script>")
        assert page.eval("document.getElementById('t').value") == "hello </script>"
        page.click("#b")
        got = b.wait_download(15)
        assert got.name == "out.json"
        assert json.loads(got.read_text()) == {"keys": ["p", "f"], "note": "hello </script>"}
        assert "saved" in page.console


def test_no_download_times_out_clearly(tmp_path: Path) -> None:
    page_file = tmp_path / "p.html"
    page_file.write_text("<!DOCTYPE html><p>nothing</p>")
    with Browser(download_dir=tmp_path / "dl") as b:
        b.open(page_file)
        with pytest.raises(AssertionError, match="timed out waiting for a download"):
            b.wait_download(1)


def test_missing_element_is_named(tmp_path: Path) -> None:
    page_file = tmp_path / "p.html"
    page_file.write_text("<!DOCTYPE html><p>x</p>")
    with Browser() as b:
        page = b.open(page_file)
        with pytest.raises(AssertionError, match="no element matches '#nope'"):
            page.click("#nope")


def test_a_policy_violation_is_seen(tmp_path: Path) -> None:
    page_file = tmp_path / "p.html"
    page_file.write_text('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" '
                         "content=\"default-src 'none'\"><script>window.ran = 1</script>")
    with Browser() as b:
        page = b.open(page_file)
        assert page.eval("typeof window.ran") == "undefined"
        assert any("Content Security Policy" in m for m in page.console), page.console
