"""The HTML report (`-o report.html`) from real runs through the CLI: the echo provider
for `run` and `check --allow-missing`, the scripted provider for a check against a
baseline with every kind of change. The page is parsed with the stdlib parser, then
opened in real headless Chromium (JS on and off) for filters, escaping and a
screenshot. Chromium is required: `apt-get install -y chromium`."""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path

import pytest
from helpers.browser import browse
from helpers.html_dom import Node, parse
from helpers.scripted_provider import ScriptedProvider

from promptctl.load.suites import load_suite
from promptctl.providers import registry

XSS = "<script>document.title='pwned'</script></details>\"quoted\" & 'single'"
WEIRD_ID = "x<b>ss\"'"

ECHO = {
    "prompts/support.yaml": """
        prompts:
          triage:
            messages:
              - {role: system, content: Route the ticket.}
              - {role: user, content: "Ticket: {{ ticket }}"}
          terse: {template: "{{ ticket }}"}
        """,
    "suites/triage.yaml": f"""
        prompts: [support.triage, support.terse]
        models: [echo]
        cases:
          - id: double-charge
            vars: {{ticket: charged twice}}
            assert: [{{type: icontains, value: charged, metric: hit}}]
          - id: lost-parcel
            vars: {{ticket: parcel lost}}
            assert: [{{type: icontains, value: billing, metric: hit}}]
          - id: {json.dumps(WEIRD_ID)}
            vars: {{ticket: {json.dumps(XSS)}}}
            assert: [{{type: icontains, value: Route}}]
        """,
}

CONFIG = ("models:\n  bot: {provider: scripted, model: bot-1, "
          "params: {temperature: 0, seed: 0%s}}\n")


def exact_suite(*ids: str) -> str:
    cases = "".join(f"  - {{id: {i}, vars: {{q: {i}}}, "
                    "assert: [{type: contains, value: 'yes'}]}\n" for i in ids)
    return "prompts: [p.q]\nmodels: [bot]\ncases:\n" + cases


EXACT = ("keeps", "breaks", "fixes", "still-bad", "rewords")
SAMPLED = ("prompts: [p.q]\nmodels: [bot]\nrepeat: 4\ncases:\n"
           "  - {id: wobbly, vars: {q: wobbly}, assert: [{type: contains, value: 'yes'}]}\n"
           "  - {id: coin, vars: {q: coin}, assert: [{type: contains, value: 'yes'}]}\n")
BEFORE = {"keeps": "yes", "breaks": "yes", "fixes": "no", "still-bad": "no",
          "rewords": "yes one two three", "gone": "yes", "wobbly": ["yes"] * 4,
          "coin": ["yes", "no"]}
AFTER = {**BEFORE, "breaks": "no", "fixes": "yes", "rewords": "yes one 2 three",
         "wobbly": ["yes", "no", "no", "no"]}
STATUS = {"keeps": "unchanged", "breaks": "broken", "fixes": "fixed", "still-bad": "failing",
          "rewords": "changed", "gone": "removed", "FAIL-INFRA": "error", "wobbly": "dropped",
          "coin": "flaky"}


def cells(dom: Node) -> dict[str, list[Node]]:
    return {row.get("data-case"): top_cells(row) for row in dom.rows()}


def top_cells(row: Node) -> list[Node]:
    return row.kids("td")


def status_of(td: Node) -> str:
    badges = td.one("summary").all("span")
    return badges[0].get("class").split("-", 1)[1] if badges else ""


def assert_self_contained(text: str, dom: Node) -> None:
    for node in dom.all():
        assert node.tag not in {"link", "img", "iframe", "object", "embed", "video", "audio",
                                "source", "base", "form"}, node.tag
        for name, value in node.attrs.items():
            if name in {"src", "href", "action", "formaction", "poster", "data", "srcset",
                        "background", "xlink:href"}:
                assert not re.match(r"\s*(https?:|//)", value or "", re.I), (name, value)
    (script,) = dom.all("script")
    assert "src" not in script.attrs
    (style,) = dom.all("style")
    assert not re.search(r"@import|url\s*\(", style.text, re.I)
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource|sendBeacon|import)\s*\(",
                         script.text)
    csp = dom.one("meta", **{"http-equiv": "Content-Security-Policy"}).get("content")
    assert csp is not None and csp.startswith("default-src 'none';")
    assert "https://" not in text and "http://" not in text


# fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type[ScriptedProvider]:
    monkeypatch.setitem(registry.BUILTIN, "scripted", "helpers.scripted_provider:ScriptedProvider")
    ScriptedProvider.reset()
    return ScriptedProvider


@pytest.fixture
def echo_report(make_project, cli, tmp_path: Path) -> tuple[Path, dict]:
    make_project(ECHO)
    result = cli("run", "-o", "report.html", "-o", "out.json")
    assert result.exit_code == 1, result.output
    return tmp_path / "report.html", json.loads((tmp_path / "out.json").read_text())


@pytest.fixture
def gate_report(make_project, cli, scripted, tmp_path: Path) -> tuple[Path, dict]:
    """A baseline of 6 exact and 2 sampled cases, then a check in which one case broke,
    one got fixed, one reworded, one was removed, one is new and errors, a sampled case
    dropped, and every cell's params changed."""
    files = {"promptctl.yaml": CONFIG % "",
             "prompts/p.yaml": "prompts:\n  q: {template: '{{ q }}'}\n",
             "suites/s.yaml": exact_suite(*EXACT, "gone"), "suites/r.yaml": SAMPLED}
    root = make_project(files)
    scripted.reset(BEFORE)
    assert cli("baseline", "update", "--no-cache").exit_code == 0
    (root / "suites/s.yaml").write_text(exact_suite(*EXACT, "FAIL-INFRA"))
    (root / "promptctl.yaml").write_text(CONFIG % ", max_tokens: 64")
    scripted.reset(AFTER)
    result = cli("check", "--no-cache", "-o", "report.html", "-o", "diff.json")
    assert result.exit_code == 1, result.output
    return root / "report.html", json.loads((root / "diff.json").read_text())


# the page as text --------------------------------------------------------------------------

def test_run_report_is_self_contained_and_matches_the_data(echo_report):
    page, doc = echo_report
    text = page.read_text()
    dom = parse(text)
    assert_self_contained(text, dom)
    assert dom.one("head").one("title").text == f"promptctl report {doc['run_id']}"
    assert doc["run_id"] in text and doc["started"] in text and doc["finished"] in text

    s = doc["summary"]
    stats = {li.get("data-stat"): int(li.one("b").text) for li in dom.all("li")
             if "data-stat" in li.attrs}
    assert stats == {"cases": s["cases"], "passed": s["passed"], "failed": s["failed"],
                     "errors": s["errors"], "flaky": s["classes"]["flaky"]} \
        == {"cases": 6, "passed": 3, "failed": 3, "errors": 0, "flaky": 0}
    rate = dom.one("p", **{"data-stat": "pass-rate"}).text
    lo, hi = s["pass_rate_ci"]
    assert f"{s['pass_rate']:.1%}" in rate and f"[{lo:.1%}, {hi:.1%}]" in rate
    metrics = dom.one("table", id="metrics").all("tr")[1].all("td")
    assert [m.text for m in metrics[:2]] == ["hit", f"{s['metrics']['hit']['mean']:.3f}"]

    # the matrix: one row per case, one column per (prompt, model)
    heads = [th.text for th in dom.one("table", id="m").one("thead").all("th")]
    assert heads == ["suite", "case", "support.triageecho", "support.terseecho"]
    assert [r.get("data-case") for r in dom.rows()] == ["double-charge", "lost-parcel",
                                                         WEIRD_ID]
    assert [r.get("data-tags") for r in dom.rows()] == ["", "failures", "failures"]
    classes = {case: [td.get("class") for td in tds if td.get("class").startswith("c-")]
               for case, tds in cells(dom).items()}
    assert classes == {"double-charge": ["c-pass", "c-pass"], "lost-parcel": ["c-fail", "c-fail"],
                       WEIRD_ID: ["c-pass", "c-fail"]}
    assert dom.one(id="count").text == "showing 3 of 3 rows"
    assert [lab.text.strip() for lab in dom.one("nav", id="bar").all("label")] == [
        "all (3)", "failures (2)", "flaky (0)"]  # no baseline: no "changed" filter

    # a cell: the rendered messages, the output, each assertion, latency, tokens, cost
    cell = top_cells(dom.rows()[1])[0]
    body = cell.one("details").one("div", **{"class": "body"})
    assert [r.text for r in body.all("span", **{"class": "role"})] == ["system", "user"]
    assert [p.text for p in body.all("pre")] == ["Route the ticket.", "Ticket: parcel lost",
                                                 "Route the ticket.\nTicket: parcel lost"]
    (_, assertion) = body.one("table").all("tr")
    assert [td.text for td in assertion.all("td")][:3] == ["icontains (hit)", "fail", "0"]
    assert "expected to contain 'billing'" in assertion.text
    facts = body.all("p")[0].text
    assert "fail" in facts and " ms" in facts and "6+6 tokens" in facts and "cost $0" in facts
    assert "not cached" in facts


def test_hostile_output_and_case_id_render_as_text(echo_report):
    page, _ = echo_report
    text = page.read_text()
    dom = parse(text)
    assert "<script>document" not in text and "</details>\"quoted" not in text
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;&lt;/details&gt;" \
           "&quot;quoted&quot; &amp; &#x27;single&#x27;" in text
    assert len(dom.all("script")) == 1
    # every cell is exactly one closed <details>; the output did not end one early
    assert text.count("<details>") == text.count("</details>") == 6
    row = dom.rows()[2]
    assert row.get("data-case") == WEIRD_ID and row.all("th")[1].text == WEIRD_ID
    outputs = [pre.text for td in top_cells(row) for pre in td.all("pre")]
    assert XSS in outputs and f"Ticket: {XSS}" in outputs


def test_the_same_data_renders_the_same_page(make_project):
    from promptctl.load.project import load_project
    from promptctl.reports import ReportData
    from promptctl.reports.html_report import render_html
    from promptctl.run.options import RunOptions
    from promptctl.run.runner import run_suites

    make_project(ECHO)
    project = load_project()
    suites = [load_suite(project, p) for p in project.suite_paths()]
    data = ReportData.of(run_suites(project, suites, RunOptions(use_cache=False)))
    first = render_html(data)
    assert render_html(copy.deepcopy(data)) == first
    # no clock but the run's own: every timestamp on the page is started or finished
    stamps = set(re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)?", first))
    assert stamps <= {data.started, data.finished} and stamps


def test_check_without_baseline_marks_every_cell_new(make_project, cli, tmp_path):
    make_project(ECHO)
    result = cli("check", "--allow-missing", "-o", "report.html")
    assert result.exit_code == 0, result.output
    dom = parse((tmp_path / "report.html").read_text())
    verdict = dom.one("div", **{"data-verdict": "pass"})
    assert verdict.text.startswith("OK: no regressions") and "(exit 0)" in verdict.text
    assert {status_of(td) for tds in cells(dom).values() for td in tds} == {"new"}
    assert all("changed" in (r.get("data-tags") or "") for r in dom.rows())
    assert "no baseline yet" in dom.one("ul", id="suites").text


def test_check_against_a_baseline_shows_every_change(gate_report):
    page, doc = gate_report
    text = page.read_text()
    dom = parse(text)
    assert_self_contained(text, dom)
    verdict = dom.one("div", **{"data-verdict": "regressed"})
    assert verdict.get("class") == "v v-1" and "REGRESSED: 1 case regressed" in verdict.text
    assert "(exit 1)" in verdict.text and doc["exit_code"] == 1

    by_case = cells(dom)
    assert {case: status_of(tds[0]) for case, tds in by_case.items()} == STATUS
    expected = {c["case"]: c["status"] for s in doc["suites"] for c in s["cases"]}
    assert {case: status_of(tds[0]) for case, tds in by_case.items()} == expected
    assert by_case["gone"][0].get("class") == "c-removed"  # only in the baseline
    assert by_case["gone"][0].one("summary").text == "baseline only removed"
    assert "baseline output" in by_case["gone"][0].text
    assert by_case["FAIL-INFRA"][0].get("class") == "c-error"
    assert "error: scripted outage" in by_case["FAIL-INFRA"][0].text

    # the word diff of a reworded output, and the params change beside every cell
    rewords = by_case["rewords"][0].one("div", **{"class": "diff"})
    assert [d.text for d in rewords.all("del")] == ["before", "two"]
    assert [i.text for i in rewords.all("ins")] == ["after", "2"]
    assert rewords.all("pre")[0].text == "yes one two 2 three"
    assert "param max_tokens: unset -> 64" in rewords.one("ul").text

    # sampled cells: counts and p-values; the run-level flaky state
    wobbly = by_case["wobbly"][0]
    assert wobbly.get("class") == "c-flaky" and wobbly.one("summary").text.startswith(
        "1/4 passed")
    (cell_doc,) = [c for s in doc["suites"] for c in s["cases"] if c["case"] == "wobbly"]
    line = wobbly.one("div", **{"class": "diff"}).one("p").text
    assert "4/4 → 1/4 passed" in line and f"p={cell_doc['p_value']:.3g}" in line
    assert f"adjusted {cell_doc['adjusted']:.3g}" in line
    assert {r.get("data-case"): r.get("data-tags") for r in dom.rows()} == {
        "wobbly": "changed failures flaky", "coin": "changed failures flaky", "keeps": "",
        "breaks": "changed failures", "fixes": "changed", "still-bad": "changed failures",
        "rewords": "changed", "FAIL-INFRA": "changed failures", "gone": "changed"}

    # the suite lines: pass rate before -> after, hypotheses, power
    suites = dom.one("ul", id="suites").text
    assert "r: pass rate 75% [" in suites and "-> 38% [" in suites
    assert "pass rate 75% -> 38% (p=" in suites and "not a significant drop" in suites
    assert "power: with 2 cases x 4 repeats" in suites
    assert "s: pass rate" in suites and "1 broken" in suites
    filters = [lab.text.strip() for lab in dom.one("nav", id="bar").all("label")]
    assert filters == ["all (9)", "failures (5)", "changed (8)", "flaky (2)"]


def test_thousands_of_records_render_fast_and_small():
    from promptctl.reports import ReportData
    from promptctl.reports.html_report import render_html
    from promptctl.results import AssertionResult, CallRecord
    from promptctl.run.summary import Summary

    summary, records = Summary(), []
    for i in range(1000):
        for model in ("a", "b"):
            for repeat in range(3):
                rec = CallRecord("s", f"case-{i:04d}", "p.q", model, repeat,
                                 [{"role": "user", "content": f"Question {i}: what is it?"}], {},
                                 output=f"answer {i} " * 8, passed=(i + repeat) % 7 != 0,
                                 assertions=[AssertionResult("contains", True, 1.0, "ok")],
                                 latency_ms=12.0, tokens={"prompt": 9, "completion": 16})
                records.append(rec)
                summary.add(rec)
    start = time.perf_counter()
    page = render_html(ReportData("r1", "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z",
                                  records, summary))
    assert time.perf_counter() - start < 3
    assert len(page) < 1500 * len(records)  # ~1.1 KB a call, markup included
    dom = parse(page)
    assert len(dom.rows()) == 1000 and dom.one(id="count").text == "showing 1000 of 1000 rows"


# the page in a real browser ----------------------------------------------------------------

def visible(dom: Node) -> list[str]:
    return [r.get("data-case") for r in dom.rows() if "hidden" not in r.attrs]


@pytest.mark.slow
def test_filters_in_chromium_follow_the_url_fragment(gate_report):
    page, _ = gate_report
    dom = parse(browse(page))
    assert dom.one("nav", id="bar").attrs.get("hidden") is None  # the script ran
    assert dom.one(id="count").text == "showing 9 of 9 rows" and len(visible(dom)) == 9

    dom = parse(browse(page, fragment="#filter=failures"))
    assert dom.one(id="count").text == "showing 5 of 9 rows"
    assert visible(dom) == ["wobbly", "coin", "breaks", "still-bad", "FAIL-INFRA"]
    hidden = [r.get("data-case") for r in dom.rows() if "hidden" in r.attrs]
    assert hidden == ["keeps", "fixes", "rewords", "gone"]

    dom = parse(browse(page, fragment="#filter=flaky"))
    assert dom.one(id="count").text == "showing 2 of 9 rows"
    assert visible(dom) == ["wobbly", "coin"]

    dom = parse(browse(page, fragment="#filter=changed&q=RE"))
    assert dom.one(id="count").text == "showing 2 of 9 rows"
    assert visible(dom) == ["breaks", "rewords"]

    dom = parse(browse(page, fragment="#filter=nonsense&q=%22no%20such"))
    assert dom.one(id="count").text == "showing 0 of 9 rows" and visible(dom) == []

    dom = parse(browse(page, fragment="#filter=failures&expand=1"))
    opened = [r.get("data-case") for r in dom.rows()
              if any("open" in d.attrs for d in r.all("details"))]
    assert opened == visible(dom)


@pytest.mark.slow
def test_chromium_runs_no_injected_script_and_takes_a_screenshot(echo_report):
    page, doc = echo_report
    dom = parse(browse(page, fragment=f"#q={WEIRD_ID[:3]}"))
    assert dom.one("head").one("title").text == f"promptctl report {doc['run_id']}"  # not 'pwned'
    assert len(dom.all("script")) == 1
    assert visible(dom) == [WEIRD_ID] and dom.one(id="count").text == "showing 1 of 3 rows"
    outputs = [pre.text for pre in dom.rows()[2].all("pre")]
    assert XSS in outputs
    assert not [n for n in dom.all() if n.tag in {"b", "script"} and n.parent
                and n.parent.tag in {"pre", "th"}]

    shots = {}
    for scheme, flag in (("light", "--blink-settings=preferredColorScheme=1"),
                         ("dark", "--force-dark-mode")):
        shot = page.parent / f"report-{scheme}.png"
        browse(page, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars",
               flag, fragment="#expand=1")
        shots[scheme] = shot.read_bytes()
        assert shots[scheme][:8] == b"\x89PNG\r\n\x1a\n" and len(shots[scheme]) > 10_000
    assert shots["light"] != shots["dark"]  # prefers-color-scheme is honoured


@pytest.mark.slow
def test_without_javascript_the_content_is_still_there(echo_report):
    page, _ = echo_report
    # the same page with its own script refused by the Content-Security-Policy
    text = page.read_text()
    own = re.search(r"script-src ('sha256-[^']+')", text)
    assert own is not None
    nojs = page.with_name("nojs.html")
    nojs.write_text(text.replace(own.group(1), "'none'"))
    dom = parse(browse(nojs, fragment="#filter=failures"))
    assert "hidden" in dom.one("nav", id="bar").attrs  # no dead controls
    assert dom.one(id="count").text == "showing 3 of 3 rows"
    assert len(dom.rows()) == 3 and len(dom.all("details")) == 6
    assert all("hidden" not in r.attrs for r in dom.rows())
    assert "Ticket: parcel lost" in dom.rows()[1].text  # the content, closed but there


@pytest.mark.slow
def test_the_policy_blocks_a_script_that_got_in_anyway(echo_report):
    """Defence in depth: were escaping ever to fail, an injected inline script would
    still not run, since the policy only allows the page's own script by its hash."""
    page, doc = echo_report
    text = page.read_text()
    hacked = page.with_name("hacked.html")
    hacked.write_text(text.replace("</header>", f"</header>{XSS}", 1))
    dom = parse(browse(hacked))
    assert dom.one("head").one("title").text == f"promptctl report {doc['run_id']}"
    assert dom.one(id="count").text == "showing 3 of 3 rows"  # the page's own script ran
