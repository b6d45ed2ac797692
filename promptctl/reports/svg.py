"""Small chart primitives for the HTML pages, each returning one inline <svg> string:
`line_chart` (a series over points with its interval band, marked points and level
segments), `forest_plot` (rows of label: estimate + interval, before and after side by
side, a reference line), `histogram` (scores binned over a range, one or two series)
and `sparkline`.

Invariants: everything quoted is escaped (labels, tooltips, aria text); no script, no
style element or attribute, no external font or link: colour comes from the classes in
CSS, bound to the page's variables (reports/page.py THEME), so light and dark both
read; geometry is SVG presentation attributes, which the pages' CSP allows. Each chart
has role="img" and an aria-label (repeated as its <title>) that says its numbers in
words. Output is deterministic and never contains NaN or inf: a None or non-finite
value is a gap, a one-point or constant series gets a padded range."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .page import esc

CSS = """
.ch{display:block;max-width:100%;height:auto;margin:4px 0}
.ch text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:var(--mut)}
.ch text.lab{fill:var(--fg)}.ch text.hd{fill:var(--fg);font-weight:600}
.ch-grid{stroke:var(--line)}.ch-axis{stroke:var(--mut)}
.ch-band{fill:var(--c-band)}.ch-line{fill:none;stroke:var(--c-run);stroke-width:2}
.ch-pt,.ch-after,.ch-bar{fill:var(--c-run)}.ch-bar-before{fill:var(--c-base)}
.ch-before{fill:var(--bg);stroke:var(--c-base);stroke-width:2}
.ch-ci-after{stroke:var(--c-run);stroke-width:2}.ch-ci-before{stroke:var(--c-base);stroke-width:2}
.ch-flag{stroke:var(--c-mark);stroke-dasharray:3 3}.ch-mark{fill:var(--c-mark)}
.ch-level{stroke:var(--fg);stroke-width:1.5;stroke-dasharray:6 3}
.ch-ref{stroke:var(--c-mark);stroke-width:1.5;stroke-dasharray:2 3}
.ch-spark{fill:none;stroke:var(--c-run);stroke-width:1.5}
"""

LISTED = 12  # an aria text names every point up to this many, else a summary
DOTS = 120  # a line chart draws a dot per point up to this many
FONT = 6.2  # px per character of an 11px label, for truncation


def _n(x: float) -> str:
    """A coordinate: one decimal, never '-0.0'."""
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def finite(value: object) -> float | None:
    """A number that can be drawn, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def interval(ci: object) -> tuple[float, float] | None:
    """A (lo, hi) pair that can be drawn, ordered, or None."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    lo, hi = finite(ci[0]), finite(ci[1])
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def number(x: float, percent: bool = False) -> str:
    """92% for a rate; 0.8, 0.125, 120 or 1,234 otherwise."""
    if percent:
        return f"{x * 100:.0f}%"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    text = f"{x:.3g}"
    return "0" if text == "-0" else text


def estimate_text(value: float | None, ci: tuple[float, float] | None, percent: bool) -> str:
    """'92% [85-96]' or '0.80 [0.70-0.90]' (as drift sentences write them), or 'no value'."""
    if value is None:
        return "no value"
    if ci is None:
        return number(value, percent)
    if percent:
        return f"{number(value, True)} [{ci[0] * 100:.0f}-{ci[1] * 100:.0f}]"
    if max(abs(value), *map(abs, ci)) >= 1000:  # a count, not a score
        return f"{number(value)} [{number(ci[0])}-{number(ci[1])}]"
    return f"{value:.2f} [{ci[0]:.2f}-{ci[1]:.2f}]"


def _short(text: str, width: float) -> str:
    limit = max(3, int(width / FONT))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _domain(values: Sequence[float], fixed: tuple[float, float] | None
            ) -> tuple[float, float]:
    """The drawn range: `fixed`, widened to hold every value; from the values when
    None; never empty (a constant series is padded)."""
    lo = min(values, default=0.0)
    hi = max(values, default=1.0)
    if fixed is not None:
        lo, hi = min(lo, fixed[0]), max(hi, fixed[1])
    elif values:
        pad = (hi - lo) * 0.08
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    if hi - lo < 1e-12:  # one value: around it (not below 0 for a count or a rate)
        pad = max(abs(lo) * 0.1, 0.5)
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    return lo, hi


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, t = [], first
    while t <= hi + step * 1e-9:
        out.append(round(t, 12))
        t += step
    return out


def _tick_text(t: float, ticks: Sequence[float], percent: bool) -> str:
    """A tick's label, with as many decimals as its step needs (2.5%, not 2%)."""
    if not percent or len(ticks) < 2:
        return number(t, percent)
    step = (ticks[1] - ticks[0]) * 100
    digits = next((d for d in (0, 1) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 2)
    return f"{t * 100:.{digits}f}%"


def _open(kind: str, width: float, height: float, words: str) -> str:
    return (f'<svg class="ch {kind}" viewBox="0 0 {_n(width)} {_n(height)}" '
            f'width="{_n(width)}" height="{_n(height)}" role="img" aria-label="{esc(words)}">'
            f"<title>{esc(words)}</title>")


def _paths(xy: Sequence[tuple[float, float] | None]) -> str:
    """One path through consecutive points, a gap at each None."""
    parts, pen = [], "M"
    for p in xy:
        if p is None:
            pen = "M"
            continue
        parts.append(f"{pen}{_n(p[0])} {_n(p[1])}")
        pen = "L"
    return " ".join(parts)


def _runs(cis: Sequence[tuple[float, float] | None]
          ) -> list[list[tuple[int, tuple[float, float]]]]:
    """The runs of consecutive indices that have an interval."""
    out: list[list[tuple[int, tuple[float, float]]]] = [[]]
    for i, c in enumerate(cis):
        if c is None:
            if out[-1]:
                out.append([])
        else:
            out[-1].append((i, c))
    return [r for r in out if r]


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _listing(parts: Sequence[str], limit: int = LISTED) -> str:
    shown = "; ".join(parts[:limit])
    return shown + (f"; and {len(parts) - limit} more" if len(parts) > limit else "")


# -- line chart ----------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One point of a series: `marks` (say, what changed since the point before)
    flag it with a marker whose tooltip lists them."""

    label: str
    value: float | None
    ci: tuple[float, float] | None = None
    note: str = ""
    marks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Level:
    """A horizontal segment from point `start` to point `end` (a drift segment)."""

    start: int
    end: int
    value: float
    label: str


def _series_words(what: str, points: Sequence[Point], percent: bool) -> str:
    drawn = [(p, finite(p.value)) for p in points]
    valued = [(p, v) for p, v in drawn if v is not None]
    if not valued:
        text = f"{what}: {_count(len(points), 'point')}, none with a value"
    elif len(points) <= LISTED:
        text = f"{what} over {_count(len(points), 'point')}: " + "; ".join(
            f"{p.label} {estimate_text(v, interval(p.ci), percent)}" for p, v in drawn)
    else:
        (fp, fv), (lp, lv) = valued[0], valued[-1]
        low = min(valued, key=lambda pv: pv[1])
        high = max(valued, key=lambda pv: pv[1])
        text = (f"{what} over {len(points)} points, from {number(fv, percent)} at {fp.label}"
                f" to {number(lv, percent)} at {lp.label}; lowest {number(low[1], percent)}"
                f" at {low[0].label}, highest {number(high[1], percent)} at {high[0].label}")
    marked = [f"{p.label}: {', '.join(p.marks)}" for p in points if p.marks]
    if marked:
        text += f". Marked {len(marked)}: " + _listing(marked, 10)
    return text


def line_chart(points: Sequence[Point], *, what: str, percent: bool = True,
               domain: tuple[float, float] | None = (0.0, 1.0),
               levels: Sequence[Level] = (), width: int = 640, height: int = 200) -> str:
    """A series over points, oldest first: line, interval band, dots (tooltip: label,
    value, interval, note), a dashed marker at each point with marks, level segments."""
    left, right, top, bottom = 46.0, 12.0, 14.0, 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [finite(p.value) for p in points]
    cis = [interval(p.ci) if v is not None else None for p, v in zip(points, values, strict=True)]
    drawn = [v for v in values if v is not None] + [x for c in cis if c for x in c]
    drawn += [v for lv in levels if (v := finite(lv.value)) is not None]
    lo, hi = _domain(drawn, domain)
    n = len(points)

    def x(i: float) -> float:
        return left + (plot_w / 2 if n < 2 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / (hi - lo)

    out = [_open("line-chart", width, height, _series_words(what, points, percent))]
    ticks = _ticks(lo, hi)
    for t in ticks:
        out.append(f'<line class="ch-grid" x1="{_n(left)}" x2="{_n(width - right)}" '
                   f'y1="{_n(y(t))}" y2="{_n(y(t))}"/><text x="{_n(left - 4)}" '
                   f'y="{_n(y(t) + 4)}" text-anchor="end">{esc(_tick_text(t, ticks, percent))}'
                   "</text>")
    step = max(1, math.ceil(n / max(1, int(plot_w // 70))))
    for i in range(0, n, step):
        anchor = "end" if n > 1 and i == n - 1 else "middle"
        out.append(f'<text x="{_n(x(i))}" y="{_n(height - bottom + 16)}" '
                   f'text-anchor="{anchor}">{esc(_short(points[i].label, 70 * step - 6))}</text>')
    for run in _runs(cis):  # the band: one polygon per run of points with an interval
        upper = [(x(j), y(c[1])) for j, c in run]
        lower = [(x(j), y(c[0])) for j, c in reversed(run)]
        if len(run) == 1:  # a lone interval: a short bar
            (px, uy), (_, ly) = upper[0], lower[0]
            upper, lower = [(px - 3, uy), (px + 3, uy)], [(px + 3, ly), (px - 3, ly)]
        out.append('<path class="ch-band" d="' + _paths([*upper, *lower]) + ' Z"/>')
    for i, p in enumerate(points):
        if p.marks:
            tip = f"{p.label}: " + "; ".join(p.marks)
            out.append(f'<g class="ch-flagged"><line class="ch-flag" x1="{_n(x(i))}" '
                       f'x2="{_n(x(i))}" y1="{_n(top)}" y2="{_n(top + plot_h)}"/>'
                       f'<path class="ch-mark" d="M{_n(x(i) - 5)} {_n(top - 9)} '
                       f'L{_n(x(i) + 5)} {_n(top - 9)} L{_n(x(i))} {_n(top - 1)} Z">'
                       f"<title>{esc(tip)}</title></path></g>")
    for lv in levels:
        v = finite(lv.value)
        if v is None or not (0 <= lv.start <= lv.end < n):
            continue
        x0, x1 = x(lv.start), x(lv.end)
        if x1 - x0 < 6:
            x0, x1 = x0 - 3, x1 + 3
        out.append(f'<line class="ch-level" x1="{_n(x0)}" x2="{_n(x1)}" y1="{_n(y(v))}" '
                   f'y2="{_n(y(v))}"><title>{esc(lv.label)}</title></line>')
    path = _paths([None if v is None else (x(i), y(v)) for i, v in enumerate(values)])
    if path:
        out.append(f'<path class="ch-line" d="{path}"/>')
    if n <= DOTS:
        for i, (p, v) in enumerate(zip(points, values, strict=True)):
            if v is None:
                continue
            tip = f"{p.label}: {estimate_text(v, cis[i], percent)}" + (
                f" — {p.note}" if p.note else "")
            out.append(f'<circle class="ch-pt" cx="{_n(x(i))}" cy="{_n(y(v))}" r="3">'
                       f"<title>{esc(tip)}</title></circle>")
    return "".join(out) + "</svg>"


# -- forest plot ---------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Row:
    """One row of a forest plot: the run's estimate, the baseline's beside it (diff),
    and a reference drawn across the row (say, the baseline's value)."""

    label: str
    after: Estimate
    before: Estimate | None = None
    percent: bool = False
    reference: float | None = None


def _row_words(row: Row, names: tuple[str, str]) -> str:
    after = estimate_text(finite(row.after.value), interval(row.after.ci), row.percent)
    if row.before is None:
        return f"{row.label} {after}"
    before = estimate_text(finite(row.before.value), interval(row.before.ci), row.percent)
    return f"{row.label}: {names[0]} {before}, {names[1]} {after}"


def forest_plot(rows: Sequence[Row], *, what: str, names: tuple[str, str] = ("baseline", "run"),
                domain: tuple[float, float] | None = (0.0, 1.0), reference: float | None = None,
                width: int = 720) -> str:
    """Rows of label: point + interval, the baseline (hollow, above) beside the run
    (filled, below) when it has one; a reference line across all rows."""
    label_w, value_w, top, row_h, bottom = 150.0, 240.0, 22.0, 30.0, 24.0
    left, right = label_w + 8, width - value_w - 8
    height = top + row_h * max(1, len(rows)) + bottom
    two = any(r.before is not None for r in rows)
    drawn: list[float] = []
    for r in rows:
        for est in (r.after, r.before):
            if est is None:
                continue
            drawn += [v for v in (finite(est.value),) if v is not None]
            drawn += list(interval(est.ci) or ())
        drawn += [v for v in (finite(r.reference),) if v is not None]
    if (ref := finite(reference)) is not None:
        drawn.append(ref)
    lo, hi = _domain(drawn, domain)

    def x(v: float) -> float:
        return left + (right - left) * (v - lo) / (hi - lo)

    words = f"{what}: " + "; ".join(_row_words(r, names) for r in rows) if rows else \
        f"{what}: nothing to show"
    out = [_open("forest-plot", width, height, words)]
    base = top + row_h * max(1, len(rows))
    ticks = _ticks(lo, hi)
    pct = all(r.percent for r in rows) and bool(rows)
    for t in ticks:
        out.append(f'<line class="ch-grid" x1="{_n(x(t))}" x2="{_n(x(t))}" y1="{_n(top)}" '
                   f'y2="{_n(base)}"/><text x="{_n(x(t))}" y="{_n(base + 14)}" '
                   f'text-anchor="middle">{esc(_tick_text(t, ticks, pct))}</text>')
    if two:
        out.append(f'<g class="ch-legend"><circle class="ch-before" cx="{_n(left + 6)}" cy="9" '
                   f'r="4"/><text x="{_n(left + 14)}" y="13">{esc(names[0])}</text>'
                   f'<circle class="ch-after" cx="{_n(left + 100)}" cy="9" r="4"/>'
                   f'<text x="{_n(left + 108)}" y="13">{esc(names[1])}</text></g>')
    if ref is not None:
        out.append(f'<line class="ch-ref" x1="{_n(x(ref))}" x2="{_n(x(ref))}" '
                   f'y1="{_n(top)}" y2="{_n(base)}"/>')
    for i, r in enumerate(rows):
        mid = top + row_h * i + row_h / 2
        tip = _row_words(r, names)
        out.append(f'<g class="ch-row"><title>{esc(tip)}</title>'
                   f'<text class="lab" x="{_n(label_w)}" y="{_n(mid + 4)}" text-anchor="end">'
                   f"{esc(_short(r.label, label_w))}</text>")
        if (rv := finite(r.reference)) is not None:
            out.append(f'<line class="ch-ref" x1="{_n(x(rv))}" x2="{_n(x(rv))}" '
                       f'y1="{_n(mid - row_h / 2 + 3)}" y2="{_n(mid + row_h / 2 - 3)}"/>')
        sides = [("before", r.before, mid - 6), ("after", r.after, mid + 6)] if two \
            else [("after", r.after, mid)]
        for cls, est, cy in sides:
            if est is None or (v := finite(est.value)) is None:
                continue
            if (c := interval(est.ci)) is not None:
                out.append(f'<line class="ch-ci-{cls}" x1="{_n(x(c[0]))}" x2="{_n(x(c[1]))}" '
                           f'y1="{_n(cy)}" y2="{_n(cy)}"/>')
            out.append(f'<circle class="ch-{cls}" cx="{_n(x(v))}" cy="{_n(cy)}" r="4"/>')
        values = [estimate_text(finite(e.value), interval(e.ci), r.percent)
                  for e in (r.before, r.after) if e is not None]
        out.append(f'<text x="{_n(right + 8)}" y="{_n(mid + 4)}">'
                   f'{esc(_short(" → ".join(values), value_w))}</text></g>')
    return "".join(out) + "</svg>"


# -- histogram -----------------------------------------------------------------------

def _bins(values: Sequence[float], lo: float, hi: float, bins: int) -> list[int]:
    counts = [0] * bins
    for v in values:
        i = int((v - lo) / (hi - lo) * bins)
        counts[min(max(i, 0), bins - 1)] += 1
    return counts


def histogram(values: Sequence[float | None], *, what: str,
              domain: tuple[float, float] | None = (0.0, 1.0), bins: int = 10,
              before: Sequence[float | None] | None = None,
              names: tuple[str, str] = ("baseline", "run"), width: int = 320,
              height: int = 150) -> str:
    """How many values fall in each of `bins` equal bins over the domain (values
    outside it count in the edge bins); with `before`, two bars per bin."""
    left, right, top, bottom = 34.0, 8.0, 18.0, 26.0
    after = [v for v in map(finite, values) if v is not None]
    prior = None if before is None else [v for v in map(finite, before) if v is not None]
    bins = max(1, bins)
    if domain is None:
        lo, hi = _domain(after + (prior or []), None)
    else:
        lo, hi = _domain([], domain)
    series = [(names[0], "ch-bar-before", _bins(prior, lo, hi, bins))] if prior is not None \
        else []
    series.append((names[1], "ch-bar", _bins(after, lo, hi, bins)))
    peak = max(max(c) for _, _, c in series) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    edges = [lo + (hi - lo) * i / bins for i in range(bins + 1)]
    parts = []
    for name, _, counts in series:
        shown = [f"{number(edges[i])}-{number(edges[i + 1])}: {c}"
                 for i, c in enumerate(counts) if c]
        total = sum(counts)
        parts.append(f"{name} {_count(total, 'value')}"
                     + (": " + ", ".join(shown) if shown else ""))
    out = [_open("histogram", width, height, f"distribution of {what}: " + "; ".join(parts))]
    for t in _ticks(0, peak, min(4, peak)):
        if t != int(t):
            continue
        ty = top + plot_h * (1 - t / peak)
        out.append(f'<line class="ch-grid" x1="{_n(left)}" x2="{_n(width - right)}" '
                   f'y1="{_n(ty)}" y2="{_n(ty)}"/><text x="{_n(left - 4)}" y="{_n(ty + 4)}" '
                   f'text-anchor="end">{int(t)}</text>')
    slot = plot_w / bins
    bar_w = (slot - 2) / len(series)
    for k, (name, cls, counts) in enumerate(series):
        for i, c in enumerate(counts):
            if not c:
                continue
            bh = plot_h * c / peak
            bx = left + slot * i + 1 + bar_w * k
            out.append(f'<rect class="{cls}" x="{_n(bx)}" y="{_n(top + plot_h - bh)}" '
                       f'width="{_n(bar_w)}" height="{_n(bh)}"><title>'
                       f"{esc(f'{name}: {c} in {number(edges[i])}-{number(edges[i + 1])}')}"
                       "</title></rect>")
    out.append(f'<line class="ch-axis" x1="{_n(left)}" x2="{_n(width - right)}" '
               f'y1="{_n(top + plot_h)}" y2="{_n(top + plot_h)}"/>')
    for t in _ticks(lo, hi):
        tx = left + plot_w * (t - lo) / (hi - lo)
        out.append(f'<text x="{_n(tx)}" y="{_n(height - bottom + 14)}" text-anchor="middle">'
                   f"{esc(number(t))}</text>")
    legend = plot_w - 136 if prior is not None else plot_w
    out.append(f'<text class="hd" x="{_n(left)}" y="12">{esc(_short(what, legend))}</text>')
    if prior is not None:
        out.append('<g class="ch-legend">' + "".join(
            f'<rect class="{cls}" x="{_n(width - right - 130 + 68 * k)}" y="4" width="8" '
            f'height="8"/><text x="{_n(width - right - 118 + 68 * k)}" y="12">'
            f"{esc(_short(name, 56))}</text>" for k, (name, cls, _) in enumerate(series)) + "</g>")
    return "".join(out) + "</svg>"


# -- sparkline -----------------------------------------------------------------------

def sparkline(values: Sequence[float | None], *, what: str, percent: bool = False,
              domain: tuple[float, float] | None = None, width: int = 96,
              height: int = 20) -> str:
    """A tiny line (gaps at None), a dot on the last value."""
    drawn = [finite(v) for v in values]
    present = [v for v in drawn if v is not None]
    lo, hi = _domain(present, domain)
    n = len(drawn)
    pad = 3.0

    def x(i: int) -> float:
        return width / 2 if n < 2 else pad + (width - 2 * pad) * i / (n - 1)

    def y(v: float) -> float:
        return pad + (height - 2 * pad) * (hi - v) / (hi - lo)

    if present:
        words = (f"{what}: {_count(n, 'point')}, from {number(present[0], percent)} to "
                 f"{number(present[-1], percent)}; lowest {number(min(present), percent)}, "
                 f"highest {number(max(present), percent)}")
    else:
        words = f"{what}: {_count(n, 'point')}, none with a value"
    out = [_open("sparkline", width, height, words)]
    path = _paths([None if v is None else (x(i), y(v)) for i, v in enumerate(drawn)])
    if path:
        out.append(f'<path class="ch-spark" d="{path}"/>')
    last = next(((i, v) for i, v in reversed(list(enumerate(drawn))) if v is not None), None)
    if last is not None:
        out.append(f'<circle class="ch-pt" cx="{_n(x(last[0]))}" cy="{_n(y(last[1]))}" r="2"/>')
    return "".join(out) + "</svg>"
