"""The chart primitives of promptctl/reports/svg.py, read back with the stdlib HTML
parser: hostile labels stay text, None/NaN/inf are gaps (never a NaN in the output),
one point and constant series are drawn inside the plot, the aria text says the
numbers, and the same input gives the same bytes."""

from __future__ import annotations

import math
import re

import pytest
from helpers.html_dom import Node, parse

from promptctl.reports import svg

HOSTILE = "</svg><script>alert(1)</script>\"q\" & 'a' <b>"


def only_svg(text: str) -> Node:
    dom = parse(text)
    (root,) = dom.kids("svg")
    assert not dom.all("script") and not dom.all("style") and not dom.all("foreignobject")
    assert "style=" not in text and "href" not in text and "url(" not in text
    return root


def numbers(text: str) -> list[float]:
    """Every number in a geometry attribute."""
    out = []
    for _name, value in re.findall(r'\s(x|y|x1|x2|y1|y2|cx|cy|r|width|height|d|viewBox)="([^"]*)"',
                                  text):
        out += [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", value)]
    return out


def assert_drawable(text: str) -> Node:
    root = only_svg(text)
    assert not re.search(r"nan|inf", text.replace("info", ""), re.I), text
    _, _, width, height = (float(v) for v in root.get("viewbox").split())
    for v in numbers(text):
        assert math.isfinite(v) and -20 <= v <= max(width, height) + 20, v
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.kids("title")[0].text == root.get("aria-label")
    return root


def charts(label: str) -> dict[str, str]:
    p = [svg.Point(label, 0.9, (0.8, 0.95), note=label, marks=(label,)),
         svg.Point("b", 0.7, (0.6, 0.8))]
    return {
        "line": svg.line_chart(p, what=label, levels=[svg.Level(0, 1, 0.8, label)]),
        "forest": svg.forest_plot([svg.Row(label, svg.Estimate(0.7, (0.6, 0.8)),
                                           svg.Estimate(0.9, (0.8, 0.95)), True, 0.9)],
                                  what=label, names=(label, label)),
        "histogram": svg.histogram([0.1, 0.9], what=label, before=[0.5], names=(label, label)),
        "sparkline": svg.sparkline([0.1, 0.9], what=label),
    }


@pytest.mark.parametrize("kind", ["line", "forest", "histogram", "sparkline"])
def test_hostile_labels_are_text(kind):
    text = charts(HOSTILE)[kind]
    root = assert_drawable(text)
    assert "<script>" not in text and "<b>" not in text
    assert text.count("<svg") == text.count("</svg>") == 1 and text.endswith("</svg>")
    assert HOSTILE in root.get("aria-label")  # the label, read back as the text it was
    if kind != "sparkline":
        tips = [t.text for t in root.all("title")]
        assert any(HOSTILE in t for t in tips[1:]), tips  # and in a part's tooltip


def test_line_chart_draws_every_point_band_mark_and_level():
    points = [svg.Point("a1", 0.9, (0.8, 0.95)), svg.Point("b2", 0.85, (0.75, 0.9)),
              svg.Point("c3", 0.6, (0.5, 0.7), marks=("prompt edited: x", "cases added: 2")),
              svg.Point("d4", 0.62, (0.52, 0.72))]
    text = svg.line_chart(points, what="pass rate",
                          levels=[svg.Level(0, 1, 0.875, "before: 88%"),
                                  svg.Level(2, 3, 0.61, "after: 61%")])
    root = assert_drawable(text)
    assert root.get("aria-label") == ("pass rate over 4 points: a1 90% [80-95]; b2 85% [75-90]; "
                                      "c3 60% [50-70]; d4 62% [52-72]. Marked 1: c3: prompt "
                                      "edited: x, cases added: 2")
    dots = root.all("circle", **{"class": "ch-pt"})
    assert [d.one("title").text for d in dots] == ["a1: 90% [80-95]", "b2: 85% [75-90]",
                                                   "c3: 60% [50-70]", "d4: 62% [52-72]"]
    (mark,) = root.all("path", **{"class": "ch-mark"})
    assert mark.one("title").text == "c3: prompt edited: x; cases added: 2"
    assert len(root.all("path", **{"class": "ch-band"})) == 1
    assert [lv.one("title").text for lv in root.all("line", **{"class": "ch-level"})] == [
        "before: 88%", "after: 61%"]
    # a higher value is drawn higher: y decreases as the rate increases
    ys = [float(d.get("cy")) for d in dots]
    assert ys[0] < ys[1] < ys[3] < ys[2]


def test_gaps_and_non_finite_values():
    points = [svg.Point("a", 0.9, (0.8, 0.95)), svg.Point("b", None, (0.1, 0.2)),
              svg.Point("c", float("nan"), None), svg.Point("d", 0.5, (float("inf"), 0.6)),
              svg.Point("e", 0.4, (0.3, 0.5))]
    text = svg.line_chart(points, what="rate")
    root = assert_drawable(text)
    assert len(root.all("circle")) == 3
    line = root.one("path", **{"class": "ch-line"}).get("d")
    assert line.count("M") == 2  # broken at the gap: a, then d-e
    assert "b no value; c no value; d 50%;" in root.get("aria-label")
    assert len(root.all("path", **{"class": "ch-band"})) == 2  # a alone, then e
    assert_drawable(svg.sparkline([None, float("nan"), 0.2, None, 0.4], what="s"))
    assert_drawable(svg.histogram([None, float("nan"), float("-inf")], what="h"))
    row = svg.Row("m", svg.Estimate(float("nan"), (0.1, float("nan"))),
                  svg.Estimate(None, None))
    root = assert_drawable(svg.forest_plot([row], what="f"))
    assert "m: baseline no value, run no value" in root.get("aria-label")
    assert not root.one("g", **{"class": "ch-row"}).all("circle")


@pytest.mark.parametrize("values", [[0.5], [0.8] * 6, [120.0] * 3, [0.0, 0.0], [-3.0]])
def test_one_point_and_constant_series_sit_inside_the_plot(values):
    points = [svg.Point(f"p{i}", v) for i, v in enumerate(values)]
    for domain in ((0.0, 1.0), None):
        root = assert_drawable(svg.line_chart(points, what="m", percent=False, domain=domain))
        ys = {float(c.get("cy")) for c in root.all("circle")}
        assert len(ys) == 1 and 14 <= ys.pop() <= 170  # inside the plot area
    assert_drawable(svg.sparkline(values, what="s"))
    assert_drawable(svg.histogram(values, what="h", domain=None))


def test_empty_inputs_still_draw_a_labelled_frame():
    for text in (svg.line_chart([], what="none"), svg.forest_plot([], what="none"),
                 svg.histogram([], what="none"), svg.sparkline([], what="none")):
        root = assert_drawable(text)
        assert root.get("aria-label").startswith(("none", "distribution of none"))


def test_forest_plot_rows_before_after_and_reference():
    rows = [svg.Row("pass rate", svg.Estimate(0.7, (0.6, 0.8)), svg.Estimate(0.9, (0.8, 0.95)),
                    percent=True, reference=0.9),
            svg.Row("metric hit", svg.Estimate(0.55, (0.4, 0.7)), svg.Estimate(0.6, (0.5, 0.7)),
                    reference=0.6)]
    root = assert_drawable(svg.forest_plot(rows, what="suite triage", reference=0.5))
    assert root.get("aria-label") == ("suite triage: pass rate: baseline 90% [80-95], run 70% "
                                      "[60-80]; metric hit: baseline 0.60 [0.50-0.70], run 0.55 "
                                      "[0.40-0.70]")
    groups = root.all("g", **{"class": "ch-row"})
    assert [g.one("text", **{"class": "lab"}).text for g in groups] == ["pass rate", "metric hit"]
    for g in groups:
        before, after = g.one("circle", **{"class": "ch-before"}), \
            g.one("circle", **{"class": "ch-after"})
        assert float(before.get("cy")) < float(after.get("cy"))  # side by side
        (ref,) = g.all("line", **{"class": "ch-ref"})
        assert ref.get("x1") == before.get("cx")  # the reference is the baseline's value
    first = groups[0]
    lo, hi = (float(first.one("line", **{"class": "ch-ci-after"}).get(k)) for k in ("x1", "x2"))
    assert lo < float(first.one("circle", **{"class": "ch-after"}).get("cx")) < hi
    assert "90% [80-95] → 70% [60-80]" in first.text
    assert len(root.all("line", **{"class": "ch-ref"})) == 3  # two rows and the global one

    # a plain run: one estimate per row, no legend of two sides
    root = assert_drawable(svg.forest_plot([svg.Row("pass rate", svg.Estimate(0.7, (0.6, 0.8)),
                                                    percent=True)], what="run"))
    assert not root.all("circle", **{"class": "ch-before"}) and not root.all("g", **{
        "class": "ch-legend"})
    assert root.get("aria-label") == "run: pass rate 70% [60-80]"


def test_histogram_counts_every_value_in_its_bin():
    values = [0.0, 0.05, 0.55, 0.95, 1.0, 1.0, 1.3, -0.2]
    root = assert_drawable(svg.histogram(values, what="hit", bins=10))
    assert root.get("aria-label") == ("distribution of hit: run 8 values: 0-0.1: 3, 0.5-0.6: 1,"
                                      " 0.9-1: 4")
    bars = root.all("rect", **{"class": "ch-bar"})
    assert [b.one("title").text for b in bars] == ["run: 3 in 0-0.1", "run: 1 in 0.5-0.6",
                                                   "run: 4 in 0.9-1"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] == max(heights) and heights[0] == pytest.approx(heights[2] * 3 / 4, 0.01)
    two = assert_drawable(svg.histogram([1.0, 1.0], what="hit", before=[0.0, 1.0]))
    bars = [r for r in two.all("rect", **{"class": "ch-bar-before"}) if r.all("title")]
    assert len(bars) == 2
    legend = two.one("g", **{"class": "ch-legend"})
    assert legend.text == "baselinerun" and len(legend.all("rect")) == 2
    assert "baseline 2 values: 0-0.1: 1, 0.9-1: 1; run 2 values: 0.9-1: 2" in two.get(
        "aria-label")


def test_sparkline_says_first_last_low_high():
    root = assert_drawable(svg.sparkline([0.9, 0.92, None, 0.7, 0.78], what="pass rate",
                                         percent=True))
    assert root.get("aria-label") == ("pass rate: 5 points, from 90% to 78%; lowest 70%, "
                                      "highest 92%")
    assert root.one("path").get("d").count("M") == 2


def test_the_same_input_gives_the_same_bytes():
    assert charts("x") == charts("x")
    many = [svg.Point(f"p{i}", (i * 37 % 100) / 100, ((i * 37 % 100) / 100 - 0.05,
                                                      (i * 37 % 100) / 100 + 0.05),
                      marks=("changed",) if i % 97 == 0 else ())
            for i in range(1000)]
    first = svg.line_chart(many, what="long")
    assert first == svg.line_chart(list(many), what="long")
    root = assert_drawable(first)
    assert not root.all("circle")  # no dot per point on a long series, the marks stay
    assert len(root.all("path", **{"class": "ch-mark"})) == 11
    assert root.get("aria-label").startswith("long over 1000 points, from 0% at p0 to ")
    assert len(first) < 200_000
