"""`promptctl compare -o FILE`: .md (a pull-request comment), .json, .html. Every value
from the project or a model enters the Markdown through reports/md.py and the HTML
through html.escape."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run.store import write_json_atomic
from . import md
from .page import THEME, head

if TYPE_CHECKING:
    from ..gate.compare import Comparison, Pair

FORMATS = (".md", ".json", ".html")
VERSION = 2  # 2: "ci" and "ci_level" replace "ci95"; "note"
LIMIT = 50


def _side(recs: list[Any]) -> dict[str, Any]:
    # deferred: the gate's compare only for compare's report
    from ..gate.compare import Pair

    ok = [r for r in recs if r.error is None]
    first = min(recs, key=lambda r: r.repeat)
    return {"passed": sum(r.passed for r in ok), "samples": len(ok),
            "errors": len(recs) - len(ok), "pass_rate": Pair.rate(recs),
            "metrics": Pair.metrics(recs), "output": first.output, "error": first.error}


def document(comp: Comparison) -> dict[str, Any]:
    return {
        "version": VERSION, "kind": comp.kind, "a": comp.a, "b": comp.b,
        "alpha": comp.alpha, "verdict": comp.verdict(), "exit_code": int(comp.exit_code),
        "differences": [{"name": d.name, "a": d.a, "b": d.b, "diff": d.diff,
                         "ci": [d.lo, d.hi], "ci_level": 1 - d.ci_alpha,
                         "p_value": d.p_value, "note": d.note,
                         "adjusted_p": d.adjusted, "significant": d.significant,
                         "wins": d.wins, "losses": d.losses, "ties": d.ties,
                         "verdict": d.verdict()} for d in comp.differences],
        "cases": [{"key": list(p.key), "scored": p.scored, "a": _side(p.a),
                   "b": _side(p.b)} for p in comp.pairs],
        "only_a": [list(k) for k in comp.only_a],
        "only_b": [list(k) for k in comp.only_b],
    }


def changed(comp: Comparison) -> list[Pair]:
    """Pairs whose first outputs or pass rates differ, largest rate change first."""
    # deferred: the gate's compare only for compare's report
    from ..gate.compare import Pair

    rows = [p for p in comp.pairs
            if (p.first("a").output or "") != (p.first("b").output or "")
            or Pair.rate(p.a) != Pair.rate(p.b) or not p.scored]
    return sorted(rows, key=lambda p: -abs(Pair.rate(p.b) - Pair.rate(p.a)))


def _tally(recs: list[Any]) -> str:
    ok = [r for r in recs if r.error is None]
    if not ok:
        return "error"
    return f"{sum(r.passed for r in ok)}/{len(ok)}"


def markdown(comp: Comparison) -> str:
    n = len(comp.pairs)
    lines = [f"## promptctl compare: {md.text(comp.a)} (A) vs {md.text(comp.b)} (B)", "",
             f"**{md.text(comp.verdict())}**", "",
             f"{n} cases x up to {comp.repeats} samples, compared pairwise by case "
             f"({comp.kind}s).", ""]
    if comp.differences:
        level = f"{(1 - comp.alpha) * 100:.1f}".removesuffix(".0")
        lines += [f"| measure | A | B | B - A | {level}% CI | p | B wins / losses / ties |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for d in comp.differences:
            lines.append(f"| {md.text(d.name)} | {d.fmt(d.a, False)} | {d.fmt(d.b, False)} | "
                         f"{d.fmt(d.diff)} | {d.ci_text()} | {d.p_text()} | "
                         f"{d.wins} / {d.losses} / {d.ties} |")
        lines.append("")
    rows = changed(comp)
    if rows:
        lines += [f"### Cases that differ ({len(rows)})", "",
                  "| case | A passed | B passed | A output | B output |",
                  "| --- | --- | --- | --- | --- |"]
        for p in rows[:LIMIT]:
            a, b = p.first("a"), p.first("b")
            lines.append(f"| {md.code(p.label)} | {_tally(p.a)} | {_tally(p.b)} | "
                         f"{md.text(a.output or a.error, 120)} | "
                         f"{md.text(b.output or b.error, 120)} |")
        if len(rows) > LIMIT:
            lines.append(f"\n… and {len(rows) - LIMIT} more")
    for side, keys in (("A", comp.only_a), ("B", comp.only_b)):
        if keys:
            lines += ["", f"Only in {side} (not compared): "
                      + md.text(", ".join("/".join(k) for k in keys[:LIMIT]))]
    return "\n".join(lines) + "\n"


# the shared page (reports/page.py): light and dark, and a policy that lets nothing load
STYLE = THEME + "pre{white-space:pre-wrap;margin:0;max-width:40em}"


def render_html(comp: Comparison) -> str:
    e = html.escape
    title = (f"<h1>promptctl compare: {e(comp.a)} (A) vs {e(comp.b)} (B)</h1>"
            f"<p><strong>{e(comp.verdict())}</strong></p>")
    diffs = "".join(
        f"<tr><td>{e(d.name)}</td><td>{d.fmt(d.a, False)}</td><td>{d.fmt(d.b, False)}</td>"
        f"<td>{d.fmt(d.diff)}</td><td>{e(d.ci_text())}</td>"
        f"<td>{e(d.p_text())}</td><td>{d.wins} / {d.losses} / {d.ties}</td></tr>"
        for d in comp.differences)
    cases = "".join(
        f"<tr><td>{e(p.label)}</td><td>{_tally(p.a)}</td><td>{_tally(p.b)}</td>"
        f"<td><pre>{e(p.first('a').output or p.first('a').error or '')}</pre></td>"
        f"<td><pre>{e(p.first('b').output or p.first('b').error or '')}</pre></td></tr>"
        for p in changed(comp))
    return (head("promptctl compare", STYLE) + title
            + "<table><tr><th>measure</th><th>A</th><th>B</th><th>B - A</th><th>CI</th>"
            f"<th>p</th><th>B wins / losses / ties</th></tr>{diffs}</table>"
            "<h2>Cases that differ</h2><table><tr><th>case</th><th>A passed</th>"
            "<th>B passed</th><th>A output</th><th>B output</th></tr>"
            f"{cases}</table></body></html>\n")


def write(path: Path, comp: Comparison) -> None:
    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json_atomic(path, document(comp))
    elif suffix == ".html":
        path.write_text(render_html(comp), encoding="utf-8")
    else:
        path.write_text(markdown(comp), encoding="utf-8")
