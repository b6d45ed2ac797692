"""`promptctl robust -o robust.html`: one self-contained page (inline CSS, no script,
no network): per suite the table of perturbations (clean, perturbed, drop, PDR, p,
verdict), the cases that flip, and for `counterfactual` the word diffs of input and
output. Everything taken from the data goes through html.escape (quotes too); a
Content-Security-Policy allows only the page's own style (by its hash; reports/page.py
holds the theme and the policy every page shares)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .page import THEME, esc, head
from .robust_text import LIMIT, drop, headline, label, p_text, pct, pdr, side, suite_line

if TYPE_CHECKING:
    from ..gate.robust import Robustness, Row, SuiteResult

CSS = THEME + """
h2{font-size:16px;margin:18px 0 6px}h3{font-size:14px;margin:12px 0 4px}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--card);padding:6px 8px;
margin:4px 0;border-radius:4px;max-width:90ch}
.v-0{background:var(--pass);color:var(--pass-f)}.v-1,.g-fail{background:var(--fail);
color:var(--fail-f)}.v-3{background:var(--error);color:var(--error-f)}
.g-pass{color:var(--pass-f)}
ins{background:var(--ins);text-decoration:none}del{background:var(--del)}
"""
_e = esc


def _words(ops: list[tuple[str, str]]) -> str:
    tag = {"-": "<del>{}</del>", "+": "<ins>{}</ins>", " ": "{}"}
    return " ".join(tag[op].format(_e(words)) for op, words in ops)


def _ids(ids: list[str]) -> str:
    shown = ", ".join(f"<code>{_e(i)}</code>" for i in ids[:LIMIT])
    return shown + (f" &hellip; and {len(ids) - LIMIT} more" if len(ids) > LIMIT else "")


def _row(suite: SuiteResult, row: Row) -> str:
    gate = f' class="g-{_e(row.gate)}"' if row.gate in ("pass", "fail") else ""
    return (f'<tr data-perturbation="{_e(row.perturbation)}"><td><code>'
            f"{_e(label(suite, row))}</code>"
            + (f'<br><span class="mut">{_e(row.family)}</span>'
               if row.family and row.family != row.perturbation else "")
            + f"</td><td>{_e(side(row.clean))}</td><td>{_e(side(row.perturbed))}</td>"
            f"<td>{_e(drop(row))}</td><td>{_e(pdr(row))}</td><td>{_e(p_text(row))}</td>"
            f"<td{gate}>{_e(row.verdict())}</td></tr>")


def _details(suite: SuiteResult, row: Row) -> list[str]:
    out = []
    name = f"<code>{_e(label(suite, row))}</code>"
    for word, ids in (("pass &rarr; fail", row.pass_to_fail),
                      ("fail &rarr; pass", row.fail_to_pass)):
        if ids:
            out.append(f"<li>{name} {word} ({len(ids)}): {_ids(ids)}</li>")
    if row.unscored:
        out.append(f"<li>{name} without a verdict (errors): {_ids(row.unscored)}</li>")
    for m in row.metrics:
        out.append(f"<li>{name} metric <code>{_e(m.name)}</code>: {m.clean.value:.3f} "
                   f"&rarr; {m.perturbed.value:.3f} ({_e(m.test.p_text())})</li>")
    html = [f"<ul>{''.join(out)}</ul>"] if out else []
    if row.contrasts:
        html.append(f"<h3>{name}: {row.contrast_count} cases differ between the sides "
                    "(<del>clean</del> <ins>perturbed</ins>)</h3><table><tr><th>case</th>"
                    "<th>pass rate</th><th>input</th><th>output</th></tr>")
        html.extend(f"<tr><td><code>{_e(c.case)}</code></td><td>{pct(c.clean_rate)} "
                    f"&rarr; {pct(c.perturbed_rate)}</td><td><pre>{_words(c.input_diff())}"
                    f"</pre></td><td><pre>{_words(c.output_diff())}</pre></td></tr>"
                    for c in row.contrasts)
        html.append("</table>")
        if row.contrast_count > len(row.contrasts):
            html.append(f'<p class="mut">&hellip; and '
                        f"{row.contrast_count - len(row.contrasts)} more</p>")
    return html


def render_html(result: Robustness) -> str:
    code = int(result.exit_code)
    title = "promptctl robust" + (f" {result.run_id}" if result.run_id else "")
    out = [head(title, CSS), f"<h1>{_e(title)}</h1>",
           f'<div class="v v-{code}">{_e(headline(result))} (exit {code})</div>']
    for suite in result.suites:
        out += [f'<section data-suite="{_e(suite.name)}"><h2>{_e(suite_line(suite, result))}'
                "</h2>"
                + (f'<p class="mut">{_e(suite.file)}</p>' if suite.file else "")
                + "<table><tr><th>perturbation</th><th>clean</th><th>perturbed</th>"
                "<th>drop</th><th>PDR</th><th>p</th><th>verdict</th></tr>",
                *(_row(suite, r) for r in suite.rows), "</table>"]
        for row in suite.rows:
            out += _details(suite, row)
        out.append("</section>")
    if result.skipped:
        out.append('<p class="mut">No perturbations declared (nothing to do): '
                   + ", ".join(f"<code>{_e(s)}</code>" for s in result.skipped) + "</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
