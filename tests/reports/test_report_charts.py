"""The charts of the run and diff HTML reports (promptctl/reports/report_charts.py) from
real runs through the CLI: the echo provider (its output is the rendered prompt, so a
prompt edit really changes what the assertions see) for a run and for a check against
a baseline, the embedded model for one run. The numbers the charts say are those of
the run's and the diff's JSON documents; in headless Chromium the charts render in
light and dark mode with no request and no CSP violation (screenshots in tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.browser import check_charts
from helpers.html_dom import Node, parse

from promptctl.reports.svg import estimate_text

CASES = [("double", "charged twice for one order"), ("again", "I was charged twice"),
         ("today", "charged again today"), ("parcel", "parcel lost, charged anyway"),
         ("refund", "refund please"), ("hostile", "<script>x</script> charged </svg>")]


def suite(name: str, prompt: str) -> str:
    cases = "".join(
        f"  - id: {cid}\n    vars: {{ticket: {json.dumps(text)}}}\n"
        "    assert:\n      - {type: icontains, value: charged, metric: hit}\n"
        "      - {type: rouge-l, value: 'charged twice for an order', metric: overlap, "
        "threshold: 0.2}\n"
        for cid, text in CASES)
    return f"prompts: [{prompt}]\nmodels: [echo]\ncases:\n{cases}"


PROMPTS = """
prompts:
  triage: {template: "Ticket: {{ ticket }}"}
  terse: {template: "{{ ticket }}"}
"""
PROJECT = {"prompts/support.yaml": PROMPTS,
           "suites/triage.yaml": suite("triage", "support.triage"),
           "suites/billing.yaml": suite("billing", "support.terse")}


def forest(section: Node) -> Node:
    (plot,) = [s for s in section.all("svg") if "forest-plot" in s.get("class")]
    return plot


def histograms(section: Node) -> list[Node]:
    return [s for s in section.all("svg") if "histogram" in s.get("class")]


def sections(dom: Node) -> dict[str, Node]:
    charts = dom.one("section", id="charts")
    return {n.get("data-suite"): n for n in charts.all() if n.get("data-suite")}


@pytest.fixture
def run_reports(make_project, cli, tmp_path: Path) -> Path:
    make_project(PROJECT)
    for name in ("triage", "billing"):
        result = cli("run", f"suites/{name}.yaml", "--no-cache", "-o", f"{name}.json")
        assert result.exit_code == 1, result.output
    result = cli("run", "--no-cache", "-o", "report.html")
    assert result.exit_code == 1, result.output
    return tmp_path


def test_a_run_report_charts_each_suite_with_its_own_numbers(run_reports):
    text = (run_reports / "report.html").read_text()
    dom = parse(text)
    found = sections(dom)
    assert list(found) == ["billing", "triage"] or list(found) == ["triage", "billing"]
    assert all(n.tag == "details" and "open" in n.attrs for n in found.values())
    # the charts come before the matrix, right after the summary
    assert text.index('id="charts"') < text.index('id="m"')
    assert text.index("</header>") < text.index('id="charts"')
    for name, section in found.items():
        summary = json.loads((run_reports / f"{name}.json").read_text())["summary"]
        words = forest(section).get("aria-label")
        rate = estimate_text(summary["pass_rate"], tuple(summary["pass_rate_ci"]), True)
        hit, overlap = summary["metrics"]["hit"], summary["metrics"]["overlap"]
        assert words == (f"suite {name}: pass rate {rate}; "
                         f"metric hit {estimate_text(hit['mean'], tuple(hit['ci']), False)}; "
                         "metric overlap "
                         f"{estimate_text(overlap['mean'], tuple(overlap['ci']), False)}")
        hists = histograms(section)
        assert [h.get("aria-label").split(":")[0] for h in hists] == [
            "distribution of metric hit per cell", "distribution of metric overlap per cell"]
        # hit is 0 or 1 per cell: the two edge bins hold every case
        hit_bins = hists[0].get("aria-label").split(": run ")[1]
        passed = round(hit["mean"] * len(CASES))
        assert hit_bins == (f"6 values: 0-0.1: {len(CASES) - passed}, 0.9-1: {passed}")
    assert "<script>x</script>" not in text


@pytest.fixture
def diff_report(make_project, cli, tmp_path: Path) -> Path:
    """A baseline of both suites, then the triage prompt cut to the ticket's first 8
    characters: 'charged' survives in two tickets of six."""
    root = make_project(PROJECT)
    assert cli("baseline", "update", "--no-cache").exit_code == 0
    (root / "prompts/support.yaml").write_text(PROMPTS.replace(
        '"Ticket: {{ ticket }}"', '"{{ ticket[:8] }}"').lstrip())
    result = cli("check", "--no-cache", "-o", "report.html", "-o", "diff.json")
    assert result.exit_code == 1, result.output
    return root


def test_a_check_report_charts_baseline_beside_run(diff_report):
    doc = json.loads((diff_report / "diff.json").read_text())
    dom = parse((diff_report / "report.html").read_text())
    found = sections(dom)
    by_name = {s["suite"]: s for s in doc["suites"]}
    assert set(found) == set(by_name) == {"triage", "billing"}
    for name, section in found.items():
        s = by_name[name]
        rate = s["pass_rate"]
        plot = forest(section)
        rows = plot.all("g", **{"class": "ch-row"})
        assert [r.one("text", **{"class": "lab"}).text for r in rows] == [
            "pass rate", "metric hit", "metric overlap"]
        before = estimate_text(rate["before"], tuple(rate["before_ci"]), True)
        after = estimate_text(rate["after"], tuple(rate["after_ci"]), True)
        assert rows[0].one("title").text == f"pass rate: baseline {before}, run {after}"
        for row, metric in zip(rows[1:], ("hit", "overlap"), strict=True):
            m = s["metrics"][metric]
            tip = row.one("title").text
            assert tip.startswith(f"metric {metric}: baseline {m['before']:.2f} [")
            assert f", run {m['after']:.2f} [" in tip
        assert plot.one("g", **{"class": "ch-legend"}).text == "baselinerun"
        hists = histograms(section)
        assert len(hists) == 2 and all(h.all("rect", **{"class": "ch-bar-before"})
                                       for h in hists)
    triage, billing = by_name["triage"], by_name["billing"]
    assert triage["metrics"]["hit"] == {"before": 5 / 6, "after": 2 / 6}
    assert billing["pass_rate"]["before"] == billing["pass_rate"]["after"]
    tip = forest(found["triage"]).all("g", **{"class": "ch-row"})[1].one("title").text
    assert tip.startswith("metric hit: baseline 0.83 [") and ", run 0.33 [" in tip


@pytest.mark.slow
def test_the_check_report_in_chromium(diff_report):
    probes = check_charts(diff_report / "report.html", expected_charts=2 * 3)
    for probe in probes.values():
        kinds = [c["kind"] for c in probe["charts"]]
        assert kinds.count("ch forest-plot") == 2 and kinds.count("ch histogram") == 4


EMBEDDED = {
    "prompts/geo.yaml": """
        prompts:
          capital:
            params: {max_tokens: 12}
            template: "What is the capital of {{ country }}? Answer in one word."
        """,
    "suites/geo.yaml": """
        prompts: [geo.capital]
        cases:
          - {id: france, vars: {country: France},
             assert: [{type: icontains, value: paris, metric: right},
                      {type: rouge-l, value: Paris, metric: overlap, threshold: 0.1}]}
          - {id: italy, vars: {country: Italy},
             assert: [{type: icontains, value: rome, metric: right},
                      {type: rouge-l, value: Rome, metric: overlap, threshold: 0.1}]}
          - {id: japan, vars: {country: Japan},
             assert: [{type: icontains, value: tokyo, metric: right},
                      {type: rouge-l, value: Tokyo, metric: overlap, threshold: 0.1}]}
        """,
}


@pytest.mark.slow
def test_a_run_on_the_embedded_model_in_chromium(make_project, cli, tmp_path):
    make_project(EMBEDDED)
    result = cli("run", "-o", "report.html", "-o", "out.json")
    assert result.exit_code in (0, 1), result.output
    summary = json.loads((tmp_path / "out.json").read_text())["summary"]
    dom = parse((tmp_path / "report.html").read_text())
    (section,) = sections(dom).values()
    assert section.tag == "div"  # one suite: no need to fold it
    rate = estimate_text(summary["pass_rate"], tuple(summary["pass_rate_ci"]), True)
    assert forest(section).get("aria-label").startswith(f"suite geo: pass rate {rate}; ")
    check_charts(tmp_path / "report.html", expected_charts=1 + 2)
