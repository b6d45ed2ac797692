"""The history/score page (promptctl/reports/history_html.py) from hand-written
history documents (tests/helpers/history_docs.py: a stable history of saved runs, a
slow decline over git commits with a change point, a score document of log windows):
read back with the stdlib parser, every value nulled in turn, then opened in real
headless Chromium in light and dark mode (charts rendered, no network request, no CSP
violation, readable contrast, screenshots in the test's folder)."""

from __future__ import annotations

import json
import re

import pytest
from helpers.browser import check_charts, visit
from helpers.history_docs import DOCS, HOSTILE, decline, every_null, score, stable
from helpers.html_dom import Node, parse

from promptctl.reports.history_html import render_html


def assert_page(text: str) -> Node:
    dom = parse(text)
    assert not dom.all("script") and len(dom.all("style")) == 1
    assert "style=" not in text and not re.search(r"@import|url\s*\(", text, re.I)
    assert "http://" not in text and "https://" not in text
    csp = dom.one("meta", **{"http-equiv": "Content-Security-Policy"}).get("content")
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    assert not re.search(r"\b(nan|inf|infinity)\b", text, re.I)
    return dom


def suite(dom: Node, name: str) -> Node:
    return dom.one("section", **{"data-suite": name})


def charts(node: Node) -> list[Node]:
    return [s for s in node.all("svg") if "line-chart" in s.get("class")]


def test_a_stable_history():
    doc = stable()
    dom = assert_page(render_html(doc))
    assert dom.one("head").one("title").text == "promptctl history"
    meta = dom.one("p", **{"class": "meta mut"}).text
    assert "saved runs" in meta and "2026-12-02T18:00:00+00:00" in meta
    verdict = dom.one("div", **{"data-verdict": "pass"})
    assert verdict.text.startswith("OK: no significant decline") and not verdict.all("li")
    triage = suite(dom, "triage")
    assert [li.text for li in triage.one("ul", **{"class": "drift"}).all("li")] == [
        doc["suites"][0]["drift"]["pass_rate"]["text"],
        doc["suites"][0]["drift"]["metrics"]["hit"]["text"]]
    assert triage.one("h2").one("svg").get("aria-label") == (
        "triage: pass rate: 8 points, from 91% to 91%; lowest 89%, highest 94%")
    rate, hit_chart = charts(triage)
    points = doc["suites"][0]["points"]
    assert rate.get("aria-label").startswith("triage: pass rate over 8 points: Nov 3 91% [78-97]")
    assert len(rate.all("circle")) == 8 and not rate.all("line", **{"class": "ch-level"})
    (mark,) = rate.all("path", **{"class": "ch-mark"})  # the one point with a change
    assert mark.one("title").text == f"{points[4]['label']}: cases added: 3"
    assert hit_chart.get("aria-label").startswith(
        "triage: metric hit over 8 points: Nov 3 0.89 [0.74-0.95]")
    rows = triage.one("table").one("tbody").kids("tr")
    assert [r.get("data-point") for r in rows] == [p["id"] for p in points]
    first = [td.text for td in rows[0].kids("td")]
    assert first[0] == "Nov 3" and first[2].startswith("3532 passed, 3 failed, 0 errors")
    hit = points[0]["metrics"]["hit"]
    assert first[3] == "91% [78-97]" and first[4] == \
        f"hit {hit['mean']:.2f} [{hit['ci'][0]:.2f}-{hit['ci'][1]:.2f}]"


def test_a_slow_decline_with_a_change_point():
    doc = decline()
    text = render_html(doc)
    dom = assert_page(text)
    verdict = dom.one("div", **{"data-verdict": "fail"})
    assert verdict.get("class") == "v v-1" and verdict.text.startswith("DECLINED")
    assert [li.text for li in verdict.all("li")] == doc["gate"]["reasons"]
    triage = suite(dom, "triage")
    assert [li.get("class") for li in triage.one("ul", **{"class": "drift"}).all("li")] == [
        "sig", "sig"]
    rate, hit = charts(triage)
    pts = doc["suites"][0]["points"]
    marks = [m.one("title").text for m in rate.all("path", **{"class": "ch-mark"})]
    assert marks == [f"{pts[5]['label']}: prompt edited: support.triage; commit subject: "
                     f"{HOSTILE}", f"{pts[9]['label']}: " + pts[9]["changes"][0]]
    levels = rate.all("line", **{"class": "ch-level"})
    assert [lv.one("title").text for lv in levels] == ["before: 92% [85-96]",
                                                       "after: 77% [70-83]"]
    # the before level spans points 0-4 and sits above the after level (5-11)
    dots = rate.all("circle")
    xs = [float(d.get("cx")) for d in dots]
    (b, a) = levels
    assert (float(b.get("x1")), float(b.get("x2"))) == (xs[0], xs[4])
    assert (float(a.get("x1")), float(a.get("x2"))) == (xs[5], xs[11])
    assert float(b.get("y1")) < float(a.get("y1"))
    assert len(hit.all("line", **{"class": "ch-level"})) == 2
    # the hostile commit subject is text everywhere: title, tooltip, table
    assert "<script>document" not in text and "pwned" in text
    assert HOSTILE in triage.one("tr", **{"data-point": pts[5]["id"]}).text
    assert not dom.all("b")

    solo = suite(dom, "solo")
    (chart,) = charts(solo)
    assert not solo.one("h2").all("svg")  # no sparkline of a single point
    assert chart.get("aria-label") == "solo: pass rate over 1 point: f00dfee 90% [60-98]"
    nulls = suite(dom, "nulls")
    rate, *metrics = charts(nulls)
    assert rate.get("aria-label") == "nulls: pass rate over 2 points: n1 no value; n2 100% [44-100]"
    assert [m.get("aria-label") for m in metrics] == [
        "nulls: metric hit: 2 points, none with a value",
        "nulls: metric other: 2 points, none with a value"]
    row = [td.text for td in nulls.one("tr", **{"data-point": "n1"}).kids("td")]
    assert row[0] == "n1" and row[3] == "—" and row[4] == "—"


def test_a_score_document_with_windows_and_distributions():
    doc = score()
    dom = assert_page(render_html(doc))
    assert dom.one("head").one("title").text == "promptctl score"
    assert "production logs" in dom.one("p", **{"class": "meta mut"}).text
    support = suite(dom, "support")
    assert "6 windows, oldest first" in support.text
    labels = [c.get("aria-label") for c in charts(support)]
    assert [lab.split(" over ")[0] for lab in labels] == [
        "support: pass rate", "support: input length (characters, mean)",
        "support: output length (characters, mean)", "support: refusal rate",
        "support: distance of the embedding centroid from the suite's cases"]
    assert "Nov 3 1%; Nov 4 0%; Nov 5 2%; Nov 6 1%; Nov 7 6%; Nov 8 8%" in labels[3]
    assert "Nov 8 0.22" in labels[4] and "Nov 3 118;" in labels[1]
    heads = [th.text for th in support.one("table").one("thead").all("th")]
    assert heads[-1] == "distribution"
    last = support.one("tr", **{"data-point": "2026-11-08"}).kids("td")[-1].text
    assert "refusal_rate 7.5%" not in last and "refusal_rate 8%" in last
    row = support.one("tr", **{"data-point": "2026-11-06"}).kids("td")
    assert row[2].text.startswith("140") and "1 errors" in row[2].text


@pytest.mark.parametrize("name", list(DOCS))
def test_every_null_renders(name):
    doc = DOCS[name]()
    variants = every_null(doc)
    assert len(variants) > 30
    for variant in variants:
        assert_page(render_html(variant))
    for degenerate in ({}, {"suites": None}, {"suites": [None, {}]}, {"kind": "score",
                       "suites": [{"suite": "s", "points": [{}, None]}]}):
        dom = assert_page(render_html(degenerate))
        assert dom.one("h1").text in ("promptctl history", "promptctl score")


def test_the_same_document_renders_the_same_page():
    first = {name: render_html(make()) for name, make in DOCS.items()}
    assert first == {name: render_html(json.loads(json.dumps(make())))
                     for name, make in DOCS.items()}


# in a real browser ------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name, expected", [("decline", 2 + 1 + 3 + 2), ("score", 5 + 1)])
def test_the_page_in_chromium(name, expected, tmp_path):
    page = tmp_path / f"{name}.html"
    page.write_text(render_html(DOCS[name]()), encoding="utf-8")
    probes = check_charts(page, expected)
    for probe in probes.values():  # the first suite's pass rate is a line across the plot
        first = next(c for c in probe["charts"] if "line-chart" in c["kind"])
        assert first["parts"][".ch-line"]["w"] > 300
    dom = parse(visit(page).dom)
    assert dom.one("head").one("title").text.startswith("promptctl")  # not 'pwned'


@pytest.mark.slow
def test_the_checks_can_fail(tmp_path):
    """The detectors see what they must: a request the page makes and a violation of
    its policy (the same page with an image from the network, with and without the
    policy)."""
    text = render_html(stable())
    leaky = tmp_path / "leaky.html"
    leaky.write_text(text.replace("</body>", '<img src="http://example.invalid/x.png">'
                                  "</body>"))
    blocked = visit(leaky)
    assert blocked.requests == [] and any("example.invalid" in v for v in blocked.violations())
    leaky.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "",
                            leaky.read_text()))
    loose = visit(leaky)
    assert loose.requests == ["http://example.invalid/x.png"] and not loose.violations()
