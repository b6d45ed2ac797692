"""Rich rendering of `promptctl score`: per suite a table of windows, a sparkline of the
pass rate, the drift sentences, and a table of the distribution; then the notes.

Reads only the history document (gate/score.py): what the terminal shows is what
`-o x.json` holds. Window labels, model names and notes are Text (never markup)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from .. import drift
from .output import out

WINDOWS_SHOWN = 60  # table rows (the newest); the sparkline has every window


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def span(ci: list[float] | None, scale: float = 100, digits: int = 0) -> str:
    if ci is None:
        return ""
    if scale == 100:
        return f"[{ci[0] * 100:.{digits}f}-{ci[1] * 100:.{digits}f}]"
    return f"[{ci[0]:.2f}-{ci[1]:.2f}]"


def headline(doc: dict[str, Any]) -> str:
    lines = doc["lines"]
    suites = ", ".join(s["suite"] for s in doc["suites"])
    windows = sum(len(s["points"]) for s in doc["suites"])
    by = doc["by"] if isinstance(doc["by"], str) else f"{doc['by']} lines"
    text = (f"score {suites}: {lines['scored']:,} lines of {doc['log']} in {windows} "
            f"window{'s' * (windows != 1)} by {by}")
    if lines["skipped"]:
        text += f", {lines['skipped']:,} bad lines skipped"
    return text


def show(doc: dict[str, Any], *, quiet: bool) -> None:
    out.print(Text(headline(doc)), style="bold")
    for suite in doc["suites"]:
        points = suite["points"]
        if not quiet:
            out.print(_windows(points))
        rates = [p["pass_rate"] for p in points]
        known = [r for r in rates if r is not None]
        trend = f"pass rate {drift.sparkline(rates)}"
        if known:
            trend += f"  {pct(known[0])} -> {pct(known[-1])}"
        out.print(Text(trend))
        sentences = [suite["drift"]["pass_rate"]["text"]]
        sentences += [m["text"] for m in suite["drift"]["metrics"].values()]
        for text, d in zip(sentences, [suite["drift"]["pass_rate"],
                                       *suite["drift"]["metrics"].values()], strict=True):
            style = "red" if d["significant"] else "yellow" if d["declined"] else ""
            out.print(Text(text, style=style))
        if not quiet:
            out.print(_distribution(points))
            for p in points:
                for change in p["changes"]:
                    out.print(Text(f"{p['label']}: {change}", style="dim"))
    if not quiet:
        for bad in doc["lines"]["bad"]:
            out.print(Text(f"skipped {doc['log']}:{bad['line']}: {bad['message']}"),
                      style="dim")
        for err in doc["lines"]["errors"][:5]:
            out.print(Text(f"no verdict {doc['log']}:{err['line']}: {err['error']}"),
                      style="yellow")
        for note in doc["notes"]:
            out.print(Text(note), style="dim")


def _windows(points: list[dict[str, Any]]) -> Table:
    names = sorted({n for p in points for n in p["metrics"]})
    table = Table(pad_edge=False, box=None)
    for col in ("window", "lines", "passed", "failed", "errors", "pass rate [95%]"):
        table.add_column(col, no_wrap=True, justify="left" if col == "window" else "right")
    for name in names:
        table.add_column(Text(name), no_wrap=True, justify="right")
    for p in points[-WINDOWS_SHOWN:]:
        cells: list[Text | str] = [
            Text(p["label"]), f"{p['cases']:,}", f"{p['passed']:,}", f"{p['failed']:,}",
            f"{p['errors']:,}", f"{pct(p['pass_rate'])} {span(p['ci'])}".strip()]
        for name in names:
            m = p["metrics"].get(name)
            cells.append("-" if m is None else f"{m['mean']:.2f} {span(m['ci'], 1)}")
        table.add_row(*cells)
    return table


def _distribution(points: list[dict[str, Any]]) -> Table:
    table = Table(pad_edge=False, box=None, title="distribution", title_justify="left")
    for col in ("window", "input chars", "output chars", "refusals", "centroid dist",
                "output shift"):
        table.add_column(col, no_wrap=True, justify="left" if col == "window" else "right")
    for p in points[-WINDOWS_SHOWN:]:
        d = p["distribution"]
        table.add_row(Text(p["label"]), _num(d["input_chars"], 0), _num(d["output_chars"], 0),
                      pct(d["refusal_rate"]), _num(d["centroid_distance"], 3),
                      _num(d["output_shift"], 3))
    return table


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
