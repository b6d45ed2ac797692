"""`history -o history.html` and `score -o score.html`: one self-contained page (inline
CSS, no script, no network) drawn from the history document that `history -o
history.json` and `score -o score.json` write (kind "history": points are saved runs
or baseline commits; kind "score": windows of a production log).

Header: source, generated, the gate's verdict with its reasons. Per suite: a
sparkline of its pass rate beside its name, the drift sentences, a line chart of the
pass rate over the points with its 95% interval band, the drift test's before/after
segments as dashed levels and a marker at every point whose "changes" is non-empty
(its tooltip lists them); one chart per named metric; for kind "score" the
distribution series (input and output length, refusal rate, centroid distance); and a
table of the points.

`render_html(doc)` takes the document's dict and nothing else. Invariants: it never
raises on the contract's shape, whatever is null (a null or malformed value is drawn
as a gap or written as a dash); everything quoted is escaped; the page's CSP allows
only its own style (reports/page.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from .page import THEME, esc, head
from .svg import CSS as CHART_CSS
from .svg import Level, Point, estimate_text, finite, interval, line_chart, number, sparkline

CSS = THEME + CHART_CSS + """
h2{font-size:17px;margin:22px 0 4px}h2 .sparkline{display:inline;vertical-align:middle}
h3{font-size:14px;margin:12px 0 2px}
.v-0{background:var(--pass);color:var(--pass-f)}.v-1{background:var(--fail);
color:var(--fail-f)}.v ul{margin:4px 0 0;font-weight:normal}
.drift{margin:4px 0;padding-left:18px}.drift li.sig{color:var(--fail-f);font-weight:600}
.pts{font-size:12px;margin:8px 0}.pts td.num,.pts td.m{text-align:right;white-space:nowrap}
.pts td{overflow-wrap:anywhere}.pts ul{margin:0;padding-left:16px}.pts .mut{display:block}
"""

SOURCES = {"runs": "saved runs (.promptctl/runs)", "git": "baseline commits in git",
           "logs": "production logs"}
DISTRIBUTION = (("input_chars", "input length (characters, mean)", False),
                ("output_chars", "output length (characters, mean)", False),
                ("refusal_rate", "refusal rate", True),
                ("centroid_distance", "distance of the embedding centroid from the "
                 "suite's cases", False))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _label(point: dict[str, Any], i: int) -> str:
    return _text(point.get("label")) or _text(point.get("id")) or f"#{i + 1}"


def _changes(point: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(c) for c in _list(point.get("changes")) if c is not None)


def _levels(drift: dict[str, Any], points: list[dict[str, Any]], percent: bool
            ) -> list[Level]:
    """The drift test's before and after segments, when it found a decline."""
    if not drift.get("declined"):
        return []
    index = {_text(p.get("id")): i for i, p in enumerate(points)}
    out = []
    for side in ("before", "after"):
        seg = _dict(drift.get(side))
        start, end = index.get(_text(seg.get("from"))), index.get(_text(seg.get("to")))
        value = finite(seg.get("value"))
        if start is None or end is None or value is None:
            continue
        text = estimate_text(value, interval(seg.get("ci")), percent)
        out.append(Level(min(start, end), max(start, end), value, f"{side}: {text}"))
    return out


Value = Callable[[dict[str, Any]], tuple[Any, Any]]


def _series(points: list[dict[str, Any]], value: Value, note: bool = True) -> list[Point]:
    """Points of one series: value(point) -> (value, ci)."""
    out = []
    for i, p in enumerate(points):
        v, ci = value(p)
        out.append(Point(_label(p, i), finite(v), interval(ci),
                         _text(p.get("title")) if note else "", _changes(p)))
    return out


def _rate(p: dict[str, Any]) -> tuple[Any, Any]:
    return p.get("pass_rate"), p.get("ci")


def _metric_names(points: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for p in points:
        names.update((str(k), None) for k in _dict(p.get("metrics")))
    return sorted(names)


def _metric(p: dict[str, Any], name: str) -> tuple[Any, Any]:
    m = _dict(_dict(p.get("metrics")).get(name))
    return m.get("mean"), m.get("ci")


def _distribution(p: dict[str, Any], key: str) -> tuple[Any, Any]:
    return _dict(p.get("distribution")).get(key), None


def _drift_items(drift: dict[str, Any]) -> list[str]:
    items = []
    named = [("pass rate", _dict(drift.get("pass_rate")))]
    named += [(f"metric {k}", _dict(v)) for k, v in sorted(_dict(drift.get("metrics")).items())]
    for what, d in named:
        if not d:
            continue
        text = _text(d.get("text")) or f"{what}: no drift sentence"
        sig = ' class="sig"' if d.get("significant") else ""
        items.append(f'<li{sig} data-drift="{esc(what)}">{esc(text)}</li>')
    return items


def _cell(value: Any, ci: Any, percent: bool) -> str:
    v = finite(value)
    return "&mdash;" if v is None else esc(estimate_text(v, interval(ci), percent))


def _count(value: Any) -> str:
    return "&mdash;" if value is None else esc(value)


def _row(p: dict[str, Any], i: int, names: list[str], score: bool) -> str:
    title = esc(_text(p.get("title")))
    models = [f"{esc(k)}: {esc(_text(_dict(m).get('identity'), '-'))}"
              + (f" (served {esc(_dict(m).get('served'))})" if _dict(m).get("served") else "")
              for k, m in sorted(_dict(p.get("models")).items())]
    if models:
        title += '<span class="mut">' + "<br>".join(models) + "</span>"
    cases = (f"{_count(p.get('cases'))}<span class=\"mut\">{_count(p.get('passed'))} passed, "
             f"{_count(p.get('failed'))} failed, {_count(p.get('errors'))} errors</span>")
    metrics = "<br>".join(f"{esc(n)} {_cell(*_metric(p, n), False)}" for n in names
                          if finite(_metric(p, n)[0]) is not None)
    changes = _changes(p)
    listed = "<ul>" + "".join(f"<li>{esc(c)}</li>" for c in changes) + "</ul>" if changes \
        else '<span class="mut">&mdash;</span>'
    dist = ""
    if score:
        d = _dict(p.get("distribution"))
        dist = '<td class="m">' + "<br>".join(
            f"{esc(key)} {esc(number(v, pct))}" for key, _, pct in DISTRIBUTION
            if (v := finite(d.get(key))) is not None) + "</td>"
    return (f'<tr data-point="{esc(_text(p.get("id")))}"><td><code>{esc(_label(p, i))}'
            f"</code></td><td>{title}</td><td class=\"num\">{cases}</td>"
            f'<td class="num">{_cell(p.get("pass_rate"), p.get("ci"), True)}</td>'
            f"<td class=\"m\">{metrics or '&mdash;'}</td><td>{listed}</td>{dist}</tr>")


def _suite(s: dict[str, Any], score: bool) -> list[str]:
    name = _text(s.get("suite"), "(unnamed suite)")
    points = [_dict(p) for p in _list(s.get("points"))]
    drift = _dict(s.get("drift"))
    last = points[-1] if points else {}
    latest = f" &middot; latest pass rate {_cell(last.get('pass_rate'), last.get('ci'), True)}" \
        if points else ""
    spark = sparkline([finite(p.get("pass_rate")) for p in points], what=f"{name}: pass rate",
                      percent=True, domain=(0.0, 1.0)) if len(points) > 1 else ""
    out = [f'<section class="suite" data-suite="{esc(name)}"><h2>{esc(name)} {spark}</h2>',
           f'<p class="mut">{len(points)} {"windows" if score else "points"}, oldest first'
           f"{latest}</p>"]
    items = _drift_items(drift)
    if items:
        out.append('<ul class="drift">' + "".join(items) + "</ul>")
    if not points:
        return [*out, '<p class="mut">no points</p></section>']
    out += ["<h3>pass rate</h3>",
            line_chart(_series(points, _rate),
                       what=f"{name}: pass rate",
                       levels=_levels(_dict(drift.get("pass_rate")), points, True))]
    names = _metric_names(points)
    metric_drift = _dict(drift.get("metrics"))
    for metric in names:
        out += [f"<h3>metric {esc(metric)}</h3>",
                line_chart(_series(points, partial(_metric, name=metric)),
                           what=f"{name}: metric {metric}", percent=False,
                           levels=_levels(_dict(metric_drift.get(metric)), points, False))]
    if score:
        for key, what, pct in DISTRIBUTION:
            series = _series(points, partial(_distribution, key=key), note=False)
            if all(pt.value is None for pt in series):
                continue
            out += [f"<h3>{esc(what)}</h3>",
                    line_chart(series, what=f"{name}: {what}", percent=pct, domain=None,
                               height=150)]
    heads = ["point", "title", "cases", "pass rate [95%]", "metrics [95%]",
             "changes since the point before"] + (["distribution"] if score else [])
    out.append('<table class="pts"><thead><tr>' + "".join(f"<th>{h}</th>" for h in heads)
               + "</tr></thead><tbody>")
    out.extend(_row(p, i, names, score) for i, p in enumerate(points))
    return [*out, "</tbody></table></section>"]


def _header(doc: dict[str, Any], title: str) -> list[str]:
    source = _text(doc.get("source"), "-")
    facts = [f"source: {esc(SOURCES.get(source, source))}",
             f"generated {esc(_text(doc.get('generated'), '-'))}"]
    if finite(doc.get("alpha")) is not None:
        facts.append(f"alpha {esc(number(float(doc['alpha'])))}")
    if finite(doc.get("max_drop")) is not None:
        facts.append(f"max_drop {esc(number(float(doc['max_drop'])))}")
    out = [f"<header><h1>{esc(title)}</h1><p class=\"meta mut\">{' &middot; '.join(facts)}</p>"]
    gate = doc.get("gate")
    if isinstance(gate, dict):
        failed = bool(gate.get("failed"))
        reasons = [str(r) for r in _list(gate.get("reasons")) if r is not None]
        word = ("DECLINED: a significant decline larger than max_drop" if failed
                else "OK: no significant decline larger than max_drop")
        listed = "".join(f"<li>{esc(r)}</li>" for r in reasons)
        out.append(f'<div class="v v-{int(failed)}" data-verdict="{"fail" if failed else "pass"}"'
                   f">{word}" + (f"<ul>{listed}</ul>" if reasons else "") + "</div>")
    return [*out, "</header>"]


def render_html(doc: dict[str, Any]) -> str:
    doc = _dict(doc)
    score = doc.get("kind") == "score"
    title = "promptctl score" if score else "promptctl history"
    suites = [_dict(s) for s in _list(doc.get("suites"))]
    out = [head(title, CSS), *_header(doc, title)]
    for s in suites:
        out.extend(_suite(s, score))
    if not suites:
        out.append('<p class="mut">no suites in this history</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
