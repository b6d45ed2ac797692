"""Rich rendering of `promptctl calibrate`: a table per grouping (judges, then
assertions as written) with kappa, its interval, agreement and the confusion counts,
then the disagreeing outputs with the judge's reason.

Reads only the calibration document (reports/calibrate_report.py): what the terminal
shows is what `-o x.json` holds. Every user text is a rich Text (never markup)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from ..reports.calibrate_report import kappa_words, num
from .output import out

SHOWN = 20  # disagreements printed (all of them are in -o files)
FEW = 5  # an assertion with fewer labelled outputs gets no row of its own (unless gated)


def show(doc: dict[str, Any], *, quiet: bool = False) -> None:
    outs = doc["outputs"]
    out.print(Text(f"calibrate: {doc['pairs']} judge verdicts on labelled outputs of run "
                   f"{doc['run']}; {outs['stale']} judged outputs with stale labels, "
                   f"{outs['unlabelled']} unlabelled"))
    if not doc["pairs"]:
        out.print(Text("no labelled output has a judge's verdict: label outputs in "
                       "reviews/ (docs/reviews.md), then run calibrate again"))
        return
    few = [g for g in doc["assertions"] if g["n"] < FEW and g["min_kappa"] is None]
    for title, key in (("judge", "judges"), ("assertion", "assertions")):
        if quiet and key == "assertions":
            continue
        groups = [g for g in doc[key] if key == "judges" or g not in few]
        if not groups:
            continue
        table = Table(title=None, show_edge=False, pad_edge=False)
        for col in (title, "kappa", "agreement", "n", "pass/pass", "pass/fail",
                    "fail/pass", "fail/fail"):
            table.add_column(col)
        for g in groups:
            c = g["confusion"]
            agree = "—" if g["agreement"] is None else f"{g['agreement']:.0%}"
            kappa = Text(num(g["kappa"]) + (f" [{num(g['ci'][0])}, {num(g['ci'][1])}]"
                                            if g["ci"] else ""),
                         style="bold red" if g["below"] else "")
            table.add_row(Text(g["name"]), kappa, agree, str(g["n"]),
                          str(c["judge_pass_reviewer_pass"]),
                          str(c["judge_pass_reviewer_fail"]),
                          str(c["judge_fail_reviewer_pass"]),
                          str(c["judge_fail_reviewer_fail"]))
        out.print(table)
        for g in groups:
            if g["reason"] or g["min_kappa"] is not None:
                out.print(Text(f"{g['name']}: {kappa_words(g)}"
                               + (f" ({g['reason']})" if g["reason"] else "")))
    if few and not quiet:
        out.print(Text(f"{len(few)} assertion{'s' * (len(few) != 1)} with fewer than {FEW} "
                       "labelled outputs each (too few for a kappa of its own; every one "
                       "is in the judge's row above and in -o files)"))
    out.print(Text("pass/fail: judge pass, reviewer fail (the judge is too lenient); "
                   "fail/pass: the judge is too strict"))
    if "comparison" in doc:
        c = doc["comparison"]
        out.print(Text(f"{c['a']} vs {c['b']}: kappa difference {num(c['kappa_diff'])}, "
                       f"p {num(c['p'], 3)}: " + (f"{c['better']} agrees better" if
                                                 c["better"] else "no significant difference")))
    if quiet:
        return
    shown = 0
    for g in doc["judges"]:
        for p in g["disagreements"]:
            if shown == SHOWN:
                out.print(Text("... more in -o calibrate.md"))
                return
            shown += 1
            out.print(Text(f"✗ {p['suite']}/{p['case']} ({p['prompt']}, {p['model']}) "
                           f"{p['assertion']}: judge {p['judge_verdict']}, reviewer "
                           f"{p['reviewer_verdict']}; "
                           + ("" if p["reason"].startswith("judge:") else "judge: ")
                           + p["reason"]))
