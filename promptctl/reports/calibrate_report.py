"""`calibrate`'s result as a document, and as JSON, Markdown and HTML files.

Owns the shape of the calibration document (`document`) and its three writers. The
document is the one source: the terminal (cli/calibrate_cmd.py) and every file show
the same numbers. Every quoted text (outputs, reasons, notes, criteria) is escaped for
the format it lands in (reports/md.py, page.esc), and outputs are cut to 300
characters in the Markdown and HTML (the JSON keeps the digest to find them whole).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..gate.calibrate import Calibration, Group, Pair
from . import md
from .page import THEME, esc, head

FORMATS = (".json", ".md", ".html")
EXCERPT = 300


def _group(g: Group) -> dict[str, Any]:
    k = g.stats
    c = k.confusion
    return {
        "kind": g.kind, "name": g.name, "n": k.n, "agreement": k.agreement,
        "kappa": k.kappa, "ci": list(k.ci) if k.ci else None, "reason": k.reason,
        "min_kappa": g.min_kappa, "below": g.below,
        "confusion": {"judge_pass_reviewer_pass": c.pp, "judge_pass_reviewer_fail": c.pf,
                      "judge_fail_reviewer_pass": c.fp, "judge_fail_reviewer_fail": c.ff},
        "disagreements": [_pair(p) for p in g.disagreements],
    }


def _pair(p: Pair) -> dict[str, Any]:
    return {"suite": p.suite, "case": p.case, "prompt": p.prompt, "model": p.model,
            "output_sha256": p.sha, "assertion": p.where, "type": p.type,
            "judge": p.judge, "judge_verdict": "pass" if p.judged else "fail",
            "reviewer_verdict": "pass" if p.human else "fail", "reason": p.reason,
            "note": p.note, "output": p.output}


def document(cal: Calibration) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run": cal.run_id, "pairs": len(cal.pairs),
        "outputs": {"stale": cal.stale, "unlabelled": cal.unlabelled},
        "judges": [_group(g) for g in cal.judges],
        "assertions": [_group(g) for g in cal.assertions],
        "gate": {"failed": cal.failed},
    }
    if cal.comparison is not None:
        a, b, cmp = cal.comparison
        doc["comparison"] = {"a": a, "b": b, "kappa_diff": cmp.diff,
                             "ci": list(cmp.ci) if cmp.ci else None, "p": cmp.p,
                             "better": better(cal)}
    return doc


def better(cal: Calibration) -> str | None:
    """The judge that agrees significantly better (p < 0.05), else None."""
    if cal.comparison is None:
        return None
    a, b, cmp = cal.comparison
    if cmp.diff is None or cmp.p is None or cmp.p >= 0.05:
        return None
    return a if cmp.diff > 0 else b


def num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def kappa_words(g: dict[str, Any]) -> str:
    """"kappa 0.41 [0.12, 0.70], agreement 75% (n 20)", or why there is none."""
    agree = "—" if g["agreement"] is None else f"{g['agreement']:.0%}"
    ci = f" [{num(g['ci'][0])}, {num(g['ci'][1])}]" if g["ci"] else ""
    text = f"kappa {num(g['kappa'])}{ci}, agreement {agree} (n {g['n']})"
    if g["min_kappa"] is not None:
        text += f", min_kappa {num(g['min_kappa'])}" + (
            ": significantly below" if g["below"] else "")
    return text


def write_document(path: Path, doc: dict[str, Any]) -> None:
    # deferred: the run folder's atomic writer (reports/ may import run/)
    from ..run.store import write_json_atomic, write_text_atomic

    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json_atomic(path, doc)
    elif suffix == ".md":
        write_text_atomic(path, markdown(doc))
    else:
        write_text_atomic(path, html(doc))


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# Judge calibration", "",
             f"{doc['pairs']} judge verdicts on labelled outputs (run {md.code(doc['run'])}); "
             f"{doc['outputs']['stale']} judged outputs with stale labels, "
             f"{doc['outputs']['unlabelled']} unlabelled.", ""]
    if "comparison" in doc:
        c = doc["comparison"]
        lines += [f"**{md.text(c['a'])} vs {md.text(c['b'])}:** kappa difference "
                  f"{num(c['kappa_diff'])}, p {num(c['p'], 3)}; " +
                  (f"{md.text(c['better'])} agrees better." if c["better"] else
                   "no significant difference."), ""]
    for title, key in (("Judges", "judges"), ("Assertions", "assertions")):
        lines += [f"## {title}", "", "| | kappa | agreement | n | pp | pf | fp | ff | gate |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for g in doc[key]:
            c = g["confusion"]
            gate = "below min_kappa" if g["below"] else (
                f"≥ {num(g['min_kappa'])}?" if g["min_kappa"] is not None else "")
            agree = "—" if g["agreement"] is None else f"{g['agreement']:.0%}"
            ci = f" [{num(g['ci'][0])}, {num(g['ci'][1])}]" if g["ci"] else ""
            lines.append(f"| {md.text(g['name'])} | {num(g['kappa'])}{ci} | {agree} | {g['n']} | "
                         f"{c['judge_pass_reviewer_pass']} | {c['judge_pass_reviewer_fail']} | "
                         f"{c['judge_fail_reviewer_pass']} | {c['judge_fail_reviewer_fail']} | "
                         f"{gate} |")
        lines.append("")
    lines += ["pp: judge pass, reviewer pass; pf: judge pass, reviewer fail; fp: judge fail, "
              "reviewer pass; ff: both fail.", "", "## Disagreements", ""]
    for g in doc["judges"]:
        for p in g["disagreements"]:
            lines.append(f"- {md.code(p['case'])} ({md.text(p['prompt'])}, "
                         f"{md.text(p['model'])}) {md.text(p['assertion'])}: judge "
                         f"{p['judge_verdict']}, reviewer {p['reviewer_verdict']}. Judge: "
                         f"{md.text(p['reason'], 200)}. Output: "
                         f"{md.code(p['output'], EXCERPT)}")
    return "\n".join(lines) + "\n"


STYLE = THEME + """table{margin:6px 0 18px}.below{color:var(--fail-f);font-weight:600}
pre{white-space:pre-wrap;max-width:60rem;margin:4px 0}"""


def html(doc: dict[str, Any]) -> str:
    out = [head("promptctl calibrate", STYLE), "<h1>Judge calibration</h1>",
           f"<p>{doc['pairs']} judge verdicts on labelled outputs (run {esc(doc['run'])});"
           f" {doc['outputs']['stale']} judged outputs with stale labels, "
           f"{doc['outputs']['unlabelled']} unlabelled.</p>"]
    if "comparison" in doc:
        c = doc["comparison"]
        out.append(f"<p><b>{esc(c['a'])} vs {esc(c['b'])}</b>: kappa difference "
                   f"{num(c['kappa_diff'])}, p {num(c['p'], 3)}; " +
                   (f"{esc(c['better'])} agrees better." if c["better"] else
                    "no significant difference.") + "</p>")
    for title, key in (("Judges", "judges"), ("Assertions", "assertions")):
        out.append(f"<h2>{title}</h2><table><tr><th></th><th>kappa</th><th>agreement</th>"
                   "<th>judge pass / reviewer pass</th><th>judge pass / reviewer fail</th>"
                   "<th>judge fail / reviewer pass</th><th>both fail</th></tr>")
        for g in doc[key]:
            c = g["confusion"]
            cls = ' class="below"' if g["below"] else ""
            out.append(f"<tr><td>{esc(g['name'])}</td><td{cls}>{esc(kappa_words(g))}"
                       f"{'<br>' + esc(g['reason']) if g['reason'] else ''}</td>"
                       f"<td>{'—' if g['agreement'] is None else format(g['agreement'], '.0%')}"
                       f"</td><td>{c['judge_pass_reviewer_pass']}</td>"
                       f"<td>{c['judge_pass_reviewer_fail']}</td>"
                       f"<td>{c['judge_fail_reviewer_pass']}</td>"
                       f"<td>{c['judge_fail_reviewer_fail']}</td></tr>")
        out.append("</table>")
    out.append("<h2>Disagreements</h2>")
    for g in doc["judges"]:
        for p in g["disagreements"]:
            out.append(f"<p><b>{esc(p['case'])}</b> ({esc(p['prompt'])}, {esc(p['model'])}) "
                       f"{esc(p['assertion'])}: judge {esc(p['judge_verdict'])}, reviewer "
                       f"{esc(p['reviewer_verdict'])}.<br>Judge: {esc(p['reason'])}"
                       + (f"<br>Reviewer: {esc(p['note'])}" if p["note"] else "") +
                       f"<pre>{esc(p['output'][:EXCERPT])}</pre></p>")
    out.append("</body></html>\n")
    return "\n".join(out)
