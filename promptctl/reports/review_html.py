"""The review page (`promptctl review --html FILE`): one self-contained HTML file, no
server, no network, that shows a run's outputs one at a time and lets a person label
each pass or fail; "Save labels" downloads `labels-<run>.json` (the shape is
artifacts.LabelsFile), which `promptctl review import` reads into reviews/<suite>.yaml.

Invariants: the page's policy is page.policy (default-src 'none', its one style and one
script allowed by hash, nothing remote). Every quoted value (outputs are hostile text)
travels in one <script type="application/json"> data block, escaped so that no `<`,
`>` or `&` appears in it raw (it cannot end the block), and is shown with textContent
only, never innerHTML. The page is bounded: each prompt message is cut at MESSAGE_CHARS
(outputs are kept whole: the label names the output by its sha256)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .page import THEME, esc, head

if TYPE_CHECKING:
    from ..gate.labels import ReviewItem

MESSAGE_CHARS = 4000  # of one prompt message shown (the output is never cut)

STYLE = THEME + """
.bar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
button{font:inherit;padding:4px 12px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg);cursor:pointer}
button.pass{background:var(--pass);color:var(--pass-f)}
button.fail{background:var(--fail);color:var(--fail-f)}
pre{white-space:pre-wrap;word-break:break-word;background:var(--card);padding:8px;
border:1px solid var(--line);border-radius:6px;margin:4px 0}
.role{font-weight:600}.ok{color:var(--pass-f)}.bad{color:var(--fail-f)}
.mine-pass{color:var(--pass-f);font-weight:600}.mine-fail{color:var(--fail-f);font-weight:600}
textarea{width:100%;min-height:4em;font:inherit;background:var(--bg);color:var(--fg);
border:1px solid var(--line)}
h2{font-size:15px;margin:14px 0 4px}ul{margin:4px 0;padding-left:20px}
"""

SCRIPT = r"""(function () {
"use strict";
var D = JSON.parse(document.getElementById("data").textContent);
var items = D.items, i = 0, mine = {}, unsaved = false;
function $(id) { return document.getElementById(id); }
function text(el, s) { el.textContent = s; return el; }
function make(tag, cls, s) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (s !== undefined) e.textContent = s;
  return e;
}
function labelled() {
  var n = 0;
  items.forEach(function (it, k) { if (mine[k] || it.state === "labelled") n++; });
  return n;
}
function render() {
  var it = items[i];
  text($("pos"), items.length ? (i + 1) + " of " + items.length : "nothing to review");
  text($("progress"), labelled() + " / " + items.length + " labelled");
  if (!it) return;
  text($("where"), "suite " + it.suite + " \u00b7 case " + it.case + " \u00b7 prompt " +
       it.prompt + " \u00b7 model " + it.model);
  text($("status"), "suite says: " + it.status + (it.samples > 1 ? " (" + it.samples +
       " samples with this output)" : ""));
  var msgs = $("messages");
  msgs.replaceChildren();
  it.messages.forEach(function (m) {
    msgs.appendChild(make("div", "role", m.role));
    msgs.appendChild(make("pre", "", m.content));
  });
  text($("output"), it.output);
  var asserts = $("assertions");
  asserts.replaceChildren();
  it.assertions.forEach(function (a) {
    var li = make("li");
    li.appendChild(make("span", a.passed ? "ok" : "bad", a.passed ? "pass" : "fail"));
    li.appendChild(document.createTextNode(" " + a.type + (a.reason ? ": " + a.reason : "")));
    asserts.appendChild(li);
  });
  if (!it.assertions.length) asserts.appendChild(make("li", "mut", "no assertions"));
  var judge = $("judge");
  judge.replaceChildren();
  it.judge.forEach(function (j) {
    var li = make("li");
    li.appendChild(make("span", j.passed ? "ok" : "bad", j.passed ? "pass" : "fail"));
    li.appendChild(document.createTextNode(" " + j.type + ": " + j.reason));
    judge.appendChild(li);
  });
  $("judge-h").hidden = !it.judge.length;
  var was = it.state === "labelled" ? "labelled " + it.old + " by " + it.old_by
    : it.state === "stale" ? "stale: the output changed since it was labelled " + it.old
    : "unlabelled";
  text($("state"), "label on file: " + was);
  var m = mine[i];
  var now = $("mine");
  now.className = m ? "mine-" + m.verdict : "mut";
  text(now, m ? "your label: " + m.verdict : "not labelled on this page");
  $("note").value = m && m.note ? m.note : (it.note || "");
}
function label(verdict) {
  if (!items.length) return;
  var note = $("note").value.trim();
  var at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  mine[i] = {verdict: verdict, note: note, at: at};
  unsaved = true;
  move(1);
}
function move(d) {
  if (!items.length) return;
  i = Math.max(0, Math.min(items.length - 1, i + d));
  render();
}
function save() {
  var out = [];
  Object.keys(mine).map(Number).sort(function (a, b) { return a - b; }).forEach(function (k) {
    var it = items[k], m = mine[k];
    var e = {suite: it.suite, case: it.case, prompt: it.prompt, model: it.model,
             output_sha256: it.sha, output: it.output, verdict: m.verdict, by: D.by, at: m.at};
    if (m.note) e.note = m.note;
    out.push(e);
  });
  var blob = new Blob([JSON.stringify({version: D.version, kind: D.kind, run: D.run,
                                       labels: out}, null, 1)], {type: "application/json"});
  var a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "labels-" + D.run + ".json";
  document.body.appendChild(a);
  a.click();
  a.remove();
  unsaved = false;
  text($("saved"), out.length + " labels saved to " + a.download +
       "; import them with: promptctl review import " + a.download);
}
$("pass").addEventListener("click", function () { label("pass"); });
$("fail").addEventListener("click", function () { label("fail"); });
$("skip").addEventListener("click", function () { move(1); });
$("back").addEventListener("click", function () { move(-1); });
$("save").addEventListener("click", save);
window.addEventListener("beforeunload", function (e) { if (unsaved) e.preventDefault(); });
document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT")) {
    if (e.key === "Escape") t.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  var k = e.key;
  if (k === "p") label("pass");
  else if (k === "f") label("fail");
  else if (k === "s") move(1);
  else if (k === "b") move(-1);
  else if (k === "n") { e.preventDefault(); $("note").focus(); }
});
render();
})();"""

BODY = """<h1>Review {run}</h1>
<p class="mut">Label each output pass or fail, then Save labels and run
<code>promptctl review import labels-{run}.json</code>. Keys: p pass, f fail, s skip,
b back, n note (Esc leaves the note).</p>
<div class="bar"><button id="pass" class="pass">Pass (p)</button>
<button id="fail" class="fail">Fail (f)</button><button id="skip">Skip (s)</button>
<button id="back">Back (b)</button><button id="save">Save labels</button>
<span id="pos"></span> &middot; <span id="progress"></span></div>
<p id="saved" class="mut"></p>
<p><b id="where"></b><br><span id="status" class="mut"></span><br>
<span id="state"></span> &middot; <span id="mine"></span></p>
<h2>Prompt</h2><div id="messages"></div>
<h2>Output</h2><pre id="output"></pre>
<h2>Assertions</h2><ul id="assertions"></ul>
<h2 id="judge-h">Judge reasons</h2><ul id="judge"></ul>
<h2>Note</h2><textarea id="note" aria-label="note"></textarea>
"""


def _cut(text: str) -> str:
    if len(text) <= MESSAGE_CHARS:
        return text
    return text[:MESSAGE_CHARS] + f"\n[... {len(text) - MESSAGE_CHARS} more characters]"


def _item(item: ReviewItem) -> dict[str, Any]:
    rec = item.record
    view = item.view
    old = view.label
    return {
        "suite": item.suite, "case": item.case, "prompt": item.prompt, "model": item.model,
        "output": item.output, "sha": item.sha, "status": view.suite,
        "samples": len(item.records),
        "messages": [{"role": str(m.get("role", "")), "content": _cut(str(m.get("content", "")))}
                     for m in rec.messages],
        "assertions": [{"type": a.type, "passed": a.passed, "reason": a.reason}
                       for a in rec.assertions],
        "judge": [{"type": t, "passed": p, "reason": r} for t, p, r in item.judge_reasons()],
        "state": view.state,
        "old": old.verdict if old else None, "old_by": old.by if old else None,
        "note": old.note if old is not None and view.state == "labelled" else None,
    }


def data_block(value: Any) -> str:
    """JSON safe inside <script type="application/json">: no raw < > & (so no
    `</script>` or `<!--`), and no U+2028/9."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def review_page(items: Sequence[ReviewItem], *, run_id: str, by: str) -> str:
    # deferred: artifacts.py builds its pydantic shapes on import
    from ..artifacts import LABELS_KIND, LABELS_VERSION

    data = {"version": LABELS_VERSION, "kind": LABELS_KIND, "run": run_id, "by": by,
            "items": [_item(it) for it in items]}
    return (head(f"promptctl review {run_id}", STYLE, SCRIPT)
            + BODY.format(run=esc(run_id))
            + f'<script type="application/json" id="data">{data_block(data)}</script>'
            + f"<script>{SCRIPT}</script></body></html>\n")


def write_review_page(path: Path, items: Sequence[ReviewItem], *, run_id: str, by: str) -> None:
    """Write the page (its parent folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(review_page(items, run_id=run_id, by=by), encoding="utf-8")
