"""`-o report.html`: one self-contained page (inline CSS and JS, no network) with the
run summary, per suite the charts of report_charts.py (pass rate and metrics with
their intervals, baseline beside run for a diff; each metric's score histogram), the
case x (prompt, model) matrix (a case's metadata and tags under its id, as the -k
terms that select it; a case's perturbed variants, CASE~ID, in the rows right under
it) and, for check/diff, every cell's status against the baseline. Each cell is a
<details> element, so the page reads without JS; the script only adds filters (a shown
variant shows its clean case too), a search of case ids and metadata and
expand/collapse. The filter state lives in the URL fragment:
`report.html#filter=failures&q=parcel&expand=1`.

A record's tool calls show as `get_weather({"city":"Paris"})` before its text, a
conversation as its turns (`turn 2: input → calls / text`), and the prompt's messages
with the calls an assistant made and the tool results it was given (gate/calls.py).

Everything taken from the data is escaped (a tool's name and arguments too); a
Content-Security-Policy built from hashes of the page's own script and style keeps
anything else from running or loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..gate.calls import call_text, reply_text, turn_lines
from ..gate.diff import word_diff
from ..gate.labels import DISAGREEMENTS
from ..gate.outcome import CellDiff
from ..load.filters import as_terms
from ..results import tool_call_of
from .diff_report import VERDICT
from .page import THEME, esc, head
from .report_charts import CSS as SECTION_CSS
from .report_charts import charts_html
from .svg import CSS as CHART_CSS
from .wording import plain, suite_line, verdict

if TYPE_CHECKING:
    from ..gate.labels import LabelView
    from ..results import CallRecord
    from .data import ReportData

FILTERS = ("all", "failures", "changed", "flaky", "disagreements")

CSS = THEME + """
.meta{color:var(--mut)}[hidden]{display:none!important}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--card);padding:6px 8px;
margin:4px 0;border-radius:4px}
.stats{display:flex;flex-wrap:wrap;gap:8px;list-style:none;padding:0;margin:10px 0}
.stats li{padding:4px 10px;border-radius:6px;background:var(--card)}
.stats b{font-size:16px;margin-right:4px}
.v-0,.c-pass,.s-pass{background:var(--pass);color:var(--pass-f)}
.v-1,.c-fail,.s-fail{background:var(--fail);color:var(--fail-f)}
.v-3,.c-error,.s-error{background:var(--error);color:var(--error-f)}
.c-flaky,.s-flaky{background:var(--flaky);color:var(--flaky-f)}
.c-removed,.c-none{color:var(--mut)}.c-none{text-align:center}
#m thead th{position:sticky;top:0;background:var(--bg);z-index:1}
#m tbody th{font-weight:normal;white-space:nowrap}#m td{padding:0}
summary{padding:4px 8px;cursor:pointer;white-space:nowrap}
.body{color:var(--fg);background:var(--bg);padding:8px;min-width:40ch;max-width:90ch;
border-top:1px solid var(--line)}
.body h4{margin:10px 0 2px;font-size:13px}.body table{margin:4px 0;font-size:12px}
.s{border-radius:4px;padding:0 5px;font-size:12px}
.d{border:1px solid currentColor;border-radius:4px;padding:0 4px;font-size:12px;
margin-left:4px;background:var(--bg)}
.d-broken,.d-failing{color:var(--fail-f)}.d-broken{font-weight:700}
.d-fixed,.d-improved{color:var(--pass-f)}.d-dropped,.d-tolerated{color:var(--warn)}
.d-flaky{color:var(--flaky-f)}.d-error{color:var(--error-f)}
.d-changed,.d-new{color:var(--info)}.d-removed,.d-unchanged{color:var(--mut)}
ins{background:var(--ins);text-decoration:none}del{background:var(--del)}
.role{font-weight:600;color:var(--mut);font-size:12px}
#bar{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:12px 0 4px}
#bar label{cursor:pointer}#q{padding:3px 6px;min-width:18ch}
.kv{display:block;max-width:40ch;white-space:normal;font-size:12px;color:var(--mut)}
.kv code{margin-right:6px;overflow-wrap:anywhere}
tr.variant>th{border-top-style:dashed}tr.variant>th:nth-child(2){padding-left:20px}
.vid{color:var(--mut)}
.rv{border-radius:4px;padding:0 4px;font-size:12px;margin-left:4px;
border:1px dashed currentColor}.rv-gap,.rv-strict{border-style:solid;font-weight:700}
.rv-gap{color:var(--fail-f)}.rv-strict{color:var(--warn)}.rv-stale{color:var(--mut)}
""" + CHART_CSS + SECTION_CSS

JS = """
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("#m > tbody > tr"));
  var bar = document.getElementById("bar"), q = document.getElementById("q");
  var count = document.getElementById("count"), xp = document.getElementById("xp");
  var radios = Array.prototype.slice.call(bar.querySelectorAll("input[name=f]"));
  var byId = {};
  rows.forEach(function (row) {
    byId[row.getAttribute("data-suite") + "\\n" + row.getAttribute("data-case")] = row;
  });
  function params() {
    var out = {}, text = location.search.slice(1) + "&" + location.hash.slice(1);
    text.split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i < 1) return;
      try {
        out[decodeURIComponent(kv.slice(0, i))] =
          decodeURIComponent(kv.slice(i + 1).replace(/\\+/g, " "));
      } catch (e) { /* a malformed pair is ignored */ }
    });
    return out;
  }
  function current() {
    for (var i = 0; i < radios.length; i++) if (radios[i].checked) return radios[i].value;
    return "all";
  }
  function apply() {
    var f = current(), text = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (row) {
      var tags = " " + row.getAttribute("data-tags") + " ";
      var seen = row.getAttribute("data-case") + "\\n" + (row.getAttribute("data-meta") || "");
      var show = (f === "all" || tags.indexOf(" " + f + " ") >= 0) &&
        seen.toLowerCase().indexOf(text) >= 0;
      row.hidden = !show;
    });
    rows.forEach(function (row) {  // a shown variant shows its clean case above it
      var of = row.getAttribute("data-variant-of");
      var clean = of === null ? null : byId[row.getAttribute("data-suite") + "\\n" + of];
      if (!row.hidden && clean) clean.hidden = false;
    });
    rows.forEach(function (row) { if (!row.hidden) n++; });
    count.textContent = "showing " + n + " of " + rows.length + " rows";
  }
  function expand(open) {
    rows.forEach(function (row) {
      if (!row.hidden) row.querySelectorAll("details").forEach(function (d) { d.open = open; });
    });
    xp.textContent = open ? "collapse all" : "expand all";
  }
  function load() {
    var p = params(), f = p.filter || "all";
    radios.forEach(function (r) { r.checked = r.value === f; });
    if (current() !== f) radios[0].checked = true;
    q.value = p.q || "";
    apply();
    if (p.expand) expand(p.expand !== "0");
  }
  function save() {
    var parts = [], f = current();
    if (f !== "all") parts.push("filter=" + f);
    if (q.value) parts.push("q=" + encodeURIComponent(q.value));
    try { history.replaceState(null, "", "#" + parts.join("&")); } catch (e) { /* file: */ }
    apply();
  }
  bar.hidden = false;
  bar.addEventListener("change", save);
  q.addEventListener("input", save);
  xp.addEventListener("click", function () { expand(xp.textContent === "expand all"); });
  window.addEventListener("hashchange", load);
  load();
})();
"""


_e = esc


@dataclass
class _Cell:
    records: list[CallRecord] = field(default_factory=list)
    diff: CellDiff | None = None
    view: LabelView | None = None  # a reviewer's label on its output (reviews/)

    def counts(self) -> tuple[int, int, int]:
        """(passed, scored, errors) over the repeats."""
        scored = [r for r in self.records if r.error is None]
        return sum(r.passed for r in scored), len(scored), len(self.records) - len(scored)

    @property
    def state(self) -> str:
        if not self.records:
            return "removed"
        k, n, errors = self.counts()
        if n == 0:
            return "error"
        if 0 < k < n:
            return "flaky"
        return "fail" if k == 0 else "error" if errors else "pass"

    def label(self) -> str:
        k, n, errors = self.counts()
        if not self.records:
            return "baseline only"
        if len(self.records) == 1:
            return self.state
        return f"{k}/{n} passed" + (f", {errors} errors" if errors else "")

    def tags(self) -> set[str]:
        tags = set()
        if self.state in ("fail", "error", "flaky"):
            tags.add("failures")
        if self.state == "flaky" or (self.diff and self.diff.status == "flaky"):
            tags.add("flaky")
        if self.diff and self.diff.status != "unchanged":
            tags.add("changed")
        if self.view is not None and self.view.disagreement is not None:
            tags.add("disagreements")
        return tags


Row = dict[tuple[str, str], _Cell]  # (prompt, model) -> cell


def _matrix(data: ReportData) -> tuple[list[tuple[str, str]], dict[tuple[str, str], Row]]:
    """Columns and rows in the run's order; cells only in the baseline come last."""
    pairs: dict[tuple[str, str], None] = {}
    rows: dict[tuple[str, str], Row] = {}
    for rec in data.records:
        pairs.setdefault((rec.prompt, rec.model))
        row = rows.setdefault((rec.suite, rec.case), {})
        row.setdefault((rec.prompt, rec.model), _Cell()).records.append(rec)
    for d in data.diff.cells() if data.diff else ():
        pairs.setdefault((d.prompt, d.model))
        rows.setdefault((d.suite, d.case), {}).setdefault((d.prompt, d.model), _Cell()).diff = d
    labels = data.cell_labels()
    for (suite, case), row in rows.items():
        for (prompt, model), cell in row.items():
            cell.records.sort(key=lambda r: r.repeat)
            cell.view = labels.get((suite, case, prompt, model))
    return list(pairs), _grouped(rows)


def _review_badge(view: LabelView | None) -> str:
    if view is None or view.label is None:
        return ""
    kind = view.disagreement or ("stale" if view.state == "stale" else "agree")
    return (f' <span class="rv rv-{kind}" data-review="{kind}" title="{_e(view.words())}">'
            f"{_e(view.disagreement or ('stale' if kind == 'stale' else 'reviewed'))}"
            "</span>")


def _review_html(view: LabelView | None) -> str:
    if view is None or view.label is None:
        return ""
    lab = view.label
    parts = [f"<b>{_e(view.words())}</b>", f"by {_e(lab.by)}", _e(lab.at)]
    if lab.score is not None:
        parts.append(f"score {lab.score:.3g}")
    out = f'<div class="review"><h4>reviewer</h4><p>{" &middot; ".join(parts)}</p>'
    if view.disagreement is not None:
        out += f'<p class="mut">{_e(DISAGREEMENTS[view.disagreement])}</p>'
    if lab.note:
        out += f"<pre>{_e(lab.note)}</pre>"
    return out + "</div>"


def _grouped(rows: dict[tuple[str, str], Row]) -> dict[tuple[str, str], Row]:
    """Suites in the run's order, each case followed by its perturbed variants
    (CASE~ID), in the order they came; a variant whose clean case did not run is
    placed where its clean case would be."""
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for suite, case in rows:
        groups.setdefault((suite, _variant(case)[0]), []).append((suite, case))
    suites = {suite: i for i, suite in enumerate(dict.fromkeys(s for s, _ in groups))}
    order = sorted(groups, key=lambda g: suites[g[0]])  # stable: the run's order within
    out: dict[tuple[str, str], Row] = {}
    for group in order:
        members = sorted(groups[group], key=lambda key: _variant(key[1])[1] is not None)
        out.update((key, rows[key]) for key in members)
    return out


def _variant(case: str) -> tuple[str, str | None]:
    """(clean id, perturbation id) of CLEAN~PERTURBATION; (case, None) for a clean one."""
    clean, sep, pid = case.partition("~")
    return (clean, pid) if sep and clean and pid else (case, None)


def _words(before: str, after: str) -> str:
    tag = {"-": "<del>{}</del>", "+": "<ins>{}</ins>", " ": "{}"}
    return " ".join(tag[op].format(_e(words)) for op, words in word_diff(before, after))


def _diff_html(d: CellDiff) -> str:
    parts = [f'<span class="d d-{_e(d.status)}">{_e(d.status)}</span> against the baseline']
    if d.sample_counts is not None:
        k0, n0, k1, n1 = d.sample_counts
        parts.append(f"{k0}/{n0} &rarr; {k1}/{n1} passed")
        if d.p_value is not None:
            adjusted = "" if d.adjusted is None else f", adjusted {d.adjusted:.3g}"
            parts.append(f"p={d.p_value:.3g}{adjusted}")
    if d.note:
        parts.append(_e(d.note))
    out = ['<div class="diff"><p>' + " &middot; ".join(parts) + "</p>"]
    if d.fingerprint:
        out.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in d.fingerprint) + "</ul>")
    before, after = d.before.outputs if d.before else [], d.after.outputs if d.after else []
    if before and after:
        changed = [i for i, (b, a) in enumerate(zip(before, after, strict=False)) if b != a]
        for i in changed:
            out.append(f"<h4>output, repeat {i} (<del>before</del> <ins>after</ins>)</h4>"
                       f"<pre>{_words(before[i], after[i])}</pre>")
        if not changed:
            out.append('<p class="mut">output unchanged</p>')
    elif before:
        out.append("<h4>baseline output</h4>" + "".join(f"<pre>{_e(o)}</pre>" for o in before))
    return "".join(out) + "</div>"


def _record_html(rec: CallRecord) -> str:
    tokens = f"{rec.tokens.get('prompt', 0)}+{rec.tokens.get('completion', 0)} tokens"
    cost = f"${rec.cost:.6f}".rstrip("0").rstrip(".")
    facts = [f'<span class="s s-{rec.status}">{rec.status}</span>', f"{rec.latency_ms:.0f} ms",
             tokens, f"cost {cost}", "cached" if rec.cached else "not cached"]
    out = [f"<h4>repeat {rec.repeat}</h4><p>{' &middot; '.join(facts)}</p>"]
    if rec.error is not None:
        out.append(f'<p class="c-error">error: {_e(rec.error)}</p>')
    if rec.turns is not None:
        out.append('<pre class="turns">' + "\n".join(_e(line) for line in turn_lines(rec.turns))
                   + "</pre>")
    elif rec.tool_calls:
        out.append(f'<pre class="calls">{_e(reply_text(rec.output, rec.tool_calls))}</pre>')
    elif rec.output is not None:
        out.append(f"<pre>{_e(rec.output)}</pre>")
    if rec.assertions:
        out.append("<table><tr><th>assertion</th><th>pass</th><th>score</th><th>reason</th></tr>")
        for a in rec.assertions:
            mark = '<span class="s s-pass">pass</span>' if a.passed else \
                '<span class="s s-fail">fail</span>'
            metric = f' <span class="mut">({_e(a.metric)})</span>' if a.metric else ""
            out.append(f"<tr><td>{_e(a.type)}{metric}</td><td>{mark}</td>"
                       f"<td>{a.score:.3g}</td><td>{_e(a.reason)}</td></tr>")
        out.append("</table>")
    return "".join(out)


def _message_html(m: dict[str, object]) -> str:
    """One chat message: its role (a tool result's with the tool's name), its text and
    the tool calls an assistant made in it."""
    role = str(m.get("role", ""))
    if role == "tool" and m.get("name"):
        role += f" {m['name']}"
    content = m.get("content")
    text = "" if content is None else str(content)
    calls = m.get("tool_calls")
    if isinstance(calls, list) and calls:
        shown = [call_text(_called(c)) for c in calls]
        text = "\n".join([*shown, *([text] if text else [])])
    return f'<div><span class="role">{_e(role)}</span><pre>{_e(text)}</pre></div>'


def _called(call: object) -> dict[str, object]:
    """An assistant message's `tool_calls` item (OpenAI's form) as a call to show."""
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict):
        return {"name": "?", "arguments": None, "raw": ""}
    raw = fn.get("arguments")
    return tool_call_of(str(fn.get("name", "")), raw if raw is not None else "").to_dict()


def _cell_html(cell: _Cell | None) -> str:
    if cell is None:
        return '<td class="c-none">&mdash;</td>'
    badge = "" if cell.diff is None else \
        f' <span class="d d-{_e(cell.diff.status)}">{_e(cell.diff.status)}</span>'
    badge += _review_badge(cell.view)
    body = [_diff_html(cell.diff)] if cell.diff else []
    if cell.view is not None:
        body.append(_review_html(cell.view))
    if cell.records:
        body.append("<h4>prompt</h4>" + "".join(
            _message_html(m) for m in cell.records[0].messages))
        body.extend(_record_html(r) for r in cell.records)
    return (f'<td class="c-{cell.state}"><details><summary>{_e(cell.label())}{badge}'
            f'</summary><div class="body">{"".join(body)}</div></details></td>')


def _header(data: ReportData) -> list[str]:
    s = data.summary
    lo, hi = s.pass_rate_interval()
    stats = [("cases", len(s.cells)), ("passed", s.passed), ("failed", s.failed),
             ("errors", s.errors), ("flaky", s.classes()["flaky"])]
    scored = s.samples - s.error_samples
    out = ["<header><h1>promptctl report</h1>",
           f'<p class="meta">run <code>{_e(data.run_id or "-")}</code> &middot; started '
           f"{_e(data.started)} &middot; finished {_e(data.finished)}</p>"]
    if data.diff is not None:
        code = int(data.diff.exit_code)
        out.append(f'<div class="v v-{code}" data-verdict="{VERDICT[data.diff.exit_code]}">'
                   f"{_e(verdict(data.diff)[0])} (exit {code})</div>")
    out.append('<ul class="stats">' + "".join(
        f'<li data-stat="{name}"><b>{n}</b>{name}</li>' for name, n in stats) + "</ul>")
    cost = f"${s.cost:.6f}".rstrip("0").rstrip(".")
    out.append(f'<p data-stat="pass-rate">pass rate <b>{s.pass_rate:.1%}</b> '
               f"[{lo:.1%}, {hi:.1%}] (95% interval) &middot; {s.samples} samples &middot; "
               f"{s.cached} cached &middot; tokens {s.tokens_prompt}+{s.tokens_completion}"
               f" &middot; cost {cost} &middot; latency "
               f"{s.latency_ms / max(scored, 1):.0f} ms mean</p>")
    metrics = s.metric_intervals()
    if metrics:
        out.append('<table id="metrics"><tr><th>metric</th><th>mean</th>'
                   "<th>95% interval</th><th>samples</th></tr>")
        out.extend(f"<tr><td>{_e(name)}</td><td>{mean:.3f}</td><td>{mlo:.3f} &ndash; "
                   f"{mhi:.3f}</td><td>{n}</td></tr>"
                   for name, (mean, mlo, mhi, n) in metrics.items())
        out.append("</table>")
    pass_k = s.pass_k()  # suites with repeats (run/passk.py)
    if pass_k:
        out.append('<table id="pass-k"><tr><th>suite</th><th>k</th><th>pass@k</th>'
                   "<th>pass^k</th><th>cells</th></tr>")
        out.extend(f'<tr data-suite="{_e(r.suite)}"><td>{_e(r.suite)}</td><td>{r.k}</td>'
                   + "".join(f"<td>{e.mean:.1%} [{e.lo:.0%}, {e.hi:.0%}]</td>"
                             for e in (r.at, r.hat))
                   + f"<td>{r.at.cells}</td></tr>" for r in pass_k)
        out.append("</table>")
    if data.diff is not None:
        out.append('<ul id="suites">')
        for suite in data.diff.suites:
            first, *rest = plain(suite_line(suite)).split("\n")
            out.append(f"<li>{_e(first)}" + "".join(
                f'<br><span class="mut">{_e(line.strip())}</span>' for line in rest) + "</li>")
        out.append("</ul>")
    return [*out, "</header>"]


def render_html(data: ReportData) -> str:
    pairs, rows = _matrix(data)
    tags = {key: set().union(*(c.tags() for c in row.values())) for key, row in rows.items()}
    hidden = {"changed"} if data.diff is None else set()
    if not any(c.view is not None for row in rows.values() for c in row.values()):
        hidden.add("disagreements")
    shown = tuple(f for f in FILTERS if f not in hidden)
    radios = "".join(
        f'<label><input type="radio" name="f" value="{f}"{" checked" if f == "all" else ""}>'
        f" {f} ({sum(1 for t in tags.values() if f == 'all' or f in t)})</label>"
        for f in shown)
    title = "promptctl report" + (f" {data.run_id}" if data.run_id else "")
    out = [head(title, CSS, JS), *_header(data), charts_html(data),
           f'<nav id="bar" hidden>{radios}<input id="q" type="search" '
           'placeholder="case id or metadata contains" '
           'aria-label="search case ids and metadata">'
           '<button id="xp" type="button">expand all</button></nav>',
           f'<p id="count">showing {len(rows)} of {len(rows)} rows</p>',
           '<table id="m"><thead><tr><th>suite</th><th>case</th>']
    out.extend(f'<th>{_e(p)}<br><span class="mut">{_e(m)}</span></th>' for p, m in pairs)
    out.append("</tr></thead><tbody>")
    metadata = data.case_metadata()
    for (suite, case), row in rows.items():
        terms = as_terms(*metadata.get((suite, case), ({}, ())))
        shown_meta = ('<span class="kv">' + "".join(f"<code>{_e(t)}</code>" for t in terms)
                      + "</span>") if terms else ""
        clean, pid = _variant(case)
        shown_id = _e(case) if pid is None else \
            f'&#8627; <span class="vid">{_e(clean)}</span>~{_e(pid)}'
        out.append(f'<tr data-case="{_e(case)}" data-suite="{_e(suite)}" '
                   f'data-tags="{" ".join(sorted(tags[suite, case]))}"'
                   + (f' class="variant" data-variant-of="{_e(clean)}"' if pid else "")
                   + (f' data-meta="{_e(chr(10).join(terms))}"' if terms else "")
                   + f"><th>{_e(suite)}</th><th>{shown_id}{shown_meta}</th>")
        out.extend(_cell_html(row.get(pair)) for pair in pairs)
        out.append("</tr>")
    out.append(f"</tbody></table><script>{JS}</script></body></html>")
    return "\n".join(out) + "\n"
