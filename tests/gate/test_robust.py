"""`promptctl robust`: clean vs perturbed cells through the real CLI on tmp_path projects.

`echo` returns the rendered prompt, so a `contains` check on a word is fragile to
`case: upper` (the word comes back upper-cased) and an `icontains` one is robust: with
12 cases the fragile suite's drop is significant, the robust one's is not. One slow test
runs the embedded model on a robust and a fragile prompt."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers.scripted_provider import ScriptedProvider

WORDS = ["refund", "invoice", "parcel", "login", "password", "delivery", "charge",
         "coupon", "account", "order", "receipt", "shipping"]
PROMPTS = """
prompts:
  echo: {template: "Ticket: {{ ticket }}"}
"""
UPPER = "{type: case, mode: upper, id: upper%s}"


def suite(check: str = "contains", perturb: str | None = None, words: list[str] = WORDS,
          models: str = "[echo]", metric: str = "") -> str:
    """A suite of one case per word: the ticket holds the word, the check wants it."""
    perturb = perturb if perturb is not None else f"[{UPPER % ''}, whitespace]"
    extra = f", metric: {metric}" if metric else ""
    cases = "".join(f"  - {{id: {w}, vars: {{ticket: 'he wants his {w} back'}}, "
                    f"assert: [{{type: {check}, value: {w}{extra}}}]}}\n" for w in words)
    return (f"prompts: [p.echo]\nmodels: {models}\nperturb: {perturb}\ncases:\n{cases}")


@pytest.fixture
def project(make_project):
    def make(**suites: str) -> Path:
        return make_project({"prompts/p.yaml": PROMPTS,
                             **{f"suites/{name}.yaml": text for name, text in suites.items()}})
    return make


def rows(doc: dict, suite_name: str) -> dict[str, dict]:
    found = next(s for s in doc["suites"] if s["suite"] == suite_name)
    return {r["id"]: r for r in found["perturbations"]}


# -- verdicts ---------------------------------------------------------------------------
def test_fragile_suite_is_significant_and_robust_one_is_not(project, cli):
    project(fragile=suite("contains"), robust=suite("icontains"))
    result = cli("robust", "-o", "r.json")
    assert result.exit_code == 0, result.output  # no max_drop: nothing is gated
    doc = json.loads(Path("r.json").read_text())
    assert doc["version"] == 1 and doc["alpha"] == 0.05 and doc["exit_code"] == 0
    fragile, robust = rows(doc, "fragile"), rows(doc, "robust")
    upper = fragile["upper"]
    assert upper["clean"]["pass_rate"] == 1.0 and upper["perturbed"]["pass_rate"] == 0.0
    assert upper["clean"]["n"] == 12 and upper["perturbed"]["samples"] == 12
    assert upper["pdr"] == 1.0 and upper["drop"] == 1.0 and upper["significant"]
    # 12 of 12 flips: exact McNemar 2 / 2^12, Holm over the suite's 2 perturbations
    assert upper["p_value"] == pytest.approx(2 / 2**12)
    assert upper["adjusted_p"] == pytest.approx(2 * 2 / 2**12)
    assert upper["flipped"] == {"pass_to_fail": WORDS, "fail_to_pass": []}
    lo, hi = upper["drop_ci"]
    assert 0 < lo < 1.0 <= hi and upper["ci_level"] == 0.95
    ci_lo, ci_hi = upper["clean"]["ci"]
    assert ci_lo < 1.0 == ci_hi  # never a point interval
    assert upper["type"] == "case" and upper["gate"] is None and upper["max_drop"] is None
    for row in (fragile["whitespace"], robust["upper"], robust["whitespace"]):
        assert not row["significant"] and row["p_value"] == 1.0 and row["pdr"] == 0.0
        assert row["flipped"] == {"pass_to_fail": [], "fail_to_pass": []}
        assert row["drop_ci"][0] < 0 < row["drop_ci"][1]  # 0 inside: no verdict
    out = result.stdout
    assert "fragile: 12 cases" in out and "significant drop" in out
    assert "upper pass -> fail (12): refund, invoice" in out
    assert "robust: 2 suites, 4 perturbations, 1 with a significant drop" in out


def test_max_drop_gates_exit_1_only_when_significant_and_larger(project, cli):
    project(fragile=suite("contains", f"[{UPPER % ', max_drop: 0.5'}]"),
            robust=suite("icontains", f"[{UPPER % ', max_drop: 0'}]"))
    failed = cli("robust", "-o", "r.json")
    assert failed.exit_code == 1, failed.output
    assert "GATE FAILED (max_drop 0.5)" in failed.stdout
    assert "1 of 2 gates failed (fragile:upper)" in failed.stdout
    doc = json.loads(Path("r.json").read_text())
    assert rows(doc, "fragile")["upper"]["gate"] == "fail"
    assert rows(doc, "robust")["upper"]["gate"] == "pass" and doc["exit_code"] == 1
    # the drop (100 points) is not larger than a max_drop of 1: within the gate
    project(fragile=suite("contains", f"[{UPPER % ', max_drop: 1'}]"))
    assert cli("robust", "fragile").exit_code == 0
    # a drop of every case but too few cases to tell: not significant, not failed
    project(fragile=suite("contains", f"[{UPPER % ', max_drop: 0'}]", words=WORDS[:4]))
    few = cli("robust", "fragile", "-o", "few.json")
    assert few.exit_code == 0, few.output
    row = rows(json.loads(Path("few.json").read_text()), "fragile")["upper"]
    assert row["drop"] == 1.0 and not row["significant"] and row["gate"] == "pass"
    assert "too few cases to tell" in row["note"] and "too few cases to tell" in few.stdout
    # --alpha: the same 12 flips pass a stricter test only up to 2/2^12
    assert cli("robust", "fragile", "--alpha", "0.0001").exit_code == 0


def test_saved_run_is_analysed_without_calling_a_model(project, cli):
    root = project(fragile=suite("contains", f"[{UPPER % ', max_drop: 0.1'}]"))
    assert cli("run", "-q").exit_code == 1  # the variants fail: a run's verdict
    runs = sorted(p.name for p in (root / ".promptctl/runs").iterdir() if p.is_dir())
    saved = cli("robust", "--run", "latest", "-o", "saved.json")
    assert saved.exit_code == 1, saved.output
    assert sorted(p.name for p in (root / ".promptctl/runs").iterdir() if p.is_dir()) == runs
    doc = json.loads(Path("saved.json").read_text())
    assert doc["run_id"] == runs[0] and rows(doc, "fragile")["upper"]["gate"] == "fail"
    # a live robust run records a run folder too; its analysis is the saved one's
    live = cli("robust", "-o", "live.json")
    assert live.exit_code == 1
    again = json.loads(Path("live.json").read_text())
    assert again["run_id"] not in runs
    assert rows(again, "fragile") == rows(doc, "fragile")
    bad = cli("robust", "--run", "latest", "-m", "echo")
    assert bad.exit_code == 2 and "calls no model" in bad.output
    assert cli("robust", "--run", "nope").exit_code == 2
    # a run with no perturbed cells
    assert cli("run", "-q", "--no-perturb").exit_code == 0
    none = cli("robust", "--run", "latest")
    assert none.exit_code == 2 and "has no perturbed cells" in none.output


def test_selection_by_case_and_perturbation(project, cli):
    project(fragile=suite("contains"))
    one = cli("robust", "-k", "refund", "-o", "k.json")
    assert one.exit_code == 0, one.output
    upper = rows(json.loads(Path("k.json").read_text()), "fragile")["upper"]
    assert upper["clean"]["n"] == 1 and upper["flipped"]["pass_to_fail"] == ["refund"]
    # a pattern on the variant's id brings its clean case along
    only = cli("robust", "-k", "*~upper", "-o", "v.json")
    assert only.exit_code == 0, only.output
    assert list(rows(json.loads(Path("v.json").read_text()), "fragile")) == ["upper"]
    picked = cli("robust", "-p", "whitespace", "-o", "p.json")
    assert list(rows(json.loads(Path("p.json").read_text()), "fragile")) == ["whitespace"]
    assert picked.exit_code == 0
    unknown = cli("robust", "-p", "typo")
    assert unknown.exit_code == 2 and "no suite declares perturbation 'typo'" in unknown.output
    nothing = cli("robust", "-k", "no-such-case")
    assert nothing.exit_code == 2 and "no perturbed case matches" in nothing.output
    # the filtered robust run is partial: a baseline from it keeps the other cases
    meta = json.loads(next(Path(".promptctl/runs").glob("*/meta.json")).read_text())
    assert meta["command"] == "robust"


def test_a_suite_without_perturbations(project, cli):
    plain = "prompts: [p.echo]\nmodels: [echo]\ncases:\n  - {id: a, vars: {ticket: x}}\n"
    project(plain=plain)
    alone = cli("robust")
    assert alone.exit_code == 2
    assert "no suite declares a perturbation (suites: plain)" in alone.output
    assert "perturb:" in alone.output  # the fix, as YAML
    project(plain=plain, fragile=suite("contains"))
    both = cli("robust", "-o", "r.json")
    assert both.exit_code == 0, both.output
    assert "no perturbations declared, nothing to do: plain" in both.stdout
    doc = json.loads(Path("r.json").read_text())
    assert doc["skipped"] == ["plain"] and [s["suite"] for s in doc["suites"]] == ["fragile"]


def test_metrics_and_repeats(project, cli):
    project(fragile=suite("contains", f"[{UPPER % ''}]", metric="hit"))
    result = cli("robust", "-r", "2", "-o", "r.json")
    assert result.exit_code == 0, result.output
    upper = rows(json.loads(Path("r.json").read_text()), "fragile")["upper"]
    assert upper["clean"]["samples"] == 24 and upper["clean"]["n"] == 12
    hit = upper["metrics"]["hit"]
    assert hit["clean"]["mean"] == 1.0 and hit["perturbed"]["mean"] == 0.0
    assert hit["pdr"] == 1.0 and hit["significant"] and hit["diff"] == -1.0
    assert hit["clean"]["ci"][0] < 1.0  # never a point


def test_errors_leave_pairs_without_a_verdict_exit_3(make_project, cli, scripted):
    """`case: upper` turns 'fail-infra' into the scripted provider's outage trigger."""
    scripted.reset()
    scripted.default = "refund"
    make_project({
        "promptctl.yaml": "models:\n  bot: {provider: scripted, model: bot-1}\n",
        "prompts/p.yaml": PROMPTS,
        "suites/s.yaml": suite("icontains", f"[{UPPER % ''}]", models="[bot]",
                               words=["refund", "fail-infra"]),
    })
    result = cli("robust", "-o", "r.json")
    assert result.exit_code == 3, result.output
    upper = rows(json.loads(Path("r.json").read_text()), "s")["upper"]
    assert upper["unscored"] == ["fail-infra"] and upper["clean"]["n"] == 1
    assert "no verdict (errors) (1): fail-infra" in result.stdout
    assert len(ScriptedProvider.calls) == 4


def test_repeat_auto_samples_a_pair_while_its_outcomes_are_mixed(make_project, cli, scripted):
    """The clean cell passes its first sample and its variant fails: the pair is mixed,
    so both cells sample on, to --max-repeat. (`run`'s policy would stop the clean cell
    at its first pass: 1 + 4 calls, not 4 + 4.)"""
    scripted.reset({"Ticket: he wants his refund back": ["refund", "no"],
                    "Ticket: HE WANTS HIS REFUND BACK": "no"})
    make_project({
        "promptctl.yaml": "models:\n  bot: {provider: scripted, model: bot-1, "
                          "params: {temperature: 0.8, seed: 0}}\n",
        "prompts/p.yaml": PROMPTS,
        "suites/s.yaml": suite("icontains", f"[{UPPER % ''}]", models="[bot]",
                               words=["refund"]),
    })
    result = cli("robust", "-r", "auto", "--max-repeat", "4", "-o", "r.json")
    assert result.exit_code == 0, result.output
    assert len(ScriptedProvider.calls) == 8
    upper = rows(json.loads(Path("r.json").read_text()), "s")["upper"]
    assert upper["clean"]["samples"] == 4 and upper["clean"]["pass_rate"] == 0.5
    assert upper["flipped"]["pass_to_fail"] == ["refund"]


# -- counterfactual ---------------------------------------------------------------------
def test_counterfactual_lists_the_cases_that_differ_with_a_word_diff(project, cli):
    checks = ("[{type: icontains, value: 'his '}]", "[{type: icontains, value: wants}]")
    cases = "".join(f"  - {{id: c{i}, vars: {{ticket: 'he wants his parcel'}}, "
                    f"assert: {a}}}\n" for i, a in enumerate(checks))
    cases += "  - {id: same, vars: {ticket: 'a parcel'}, assert: [{type: icontains, value: a}]}\n"
    project(fair="prompts: [p.echo]\nmodels: [echo]\nperturb: [counterfactual]\ncases:\n"
            + cases)
    result = cli("robust", "-o", "r.json", "-o", "r.md", "-o", "r.html")
    assert result.exit_code == 0, result.output
    row = rows(json.loads(Path("r.json").read_text()), "fair")["counterfactual"]
    assert row["type"] == "counterfactual"
    found = row["counterfactual"]
    assert found["count"] == 2  # 'same' has no pronoun: its output is the same
    first, second = found["cases"]
    assert first["case"] == "c0" and first["verdict_differs"]  # 'his ' became 'her '
    assert first["clean"]["pass_rate"] == 1.0 and first["perturbed"]["pass_rate"] == 0.0
    assert ["-", "he"] in first["input_diff"] and ["+", "she"] in first["input_diff"]
    assert ["-", "he"] in first["output_diff"]
    assert second["case"] == "c1" and not second["verdict_differs"]
    assert row["flipped"]["pass_to_fail"] == ["c0"]
    assert "c0" in result.stdout and "[-he-] {+she+}" in result.stdout
    md = Path("r.md").read_text()
    assert "2 cases differ between the sides" in md and "~~he~~ **she**" in md
    html = Path("r.html").read_text()
    assert "<del>he</del> <ins>she</ins>" in html


# -- reports ------------------------------------------------------------------------------
XSS = "<script>alert(1)</script> | **bold** [link](http://x) he"
WEIRD = "x<b>ss\"'"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_reports_escape_everything_quoted(project, cli):
    case = (f"  - {{id: {json.dumps(WEIRD)}, vars: {{ticket: {json.dumps(XSS)}}}, "
            "assert: [{type: contains, value: alert}]}\n")
    project(**{"x": "prompts: [p.echo]\nmodels: [echo]\nperturb: [counterfactual, "
               f"{UPPER % ''}]\ncases:\n" + case})
    result = cli("robust", "-o", "r.html", "-o", "r.md", "-o", "r.json")
    assert result.exit_code == 0, result.output
    page = Path("r.html").read_text()
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert "Content-Security-Policy" in page and "<script" not in page
    text = "".join(parser.text)
    assert WEIRD in text and "<script>alert(1)</script>" in text  # shown, as text
    md = Path("r.md").read_text()
    prose = re.sub(r"`[^`]*`", "", md)  # in a code span, '<b>' is text
    assert "<script>" not in prose and "<b>" not in prose
    assert not re.search(r"(?<!\\)\]\(", prose)  # no link
    assert "\\<script\\>" in prose
    assert "\\*\\*bold\\*\\*" in md
    # every table row keeps its 7 cells: no unescaped '|' from the data
    for line in md.splitlines():
        if line.startswith("| `"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 8, line
    doc = json.loads(Path("r.json").read_text())
    assert rows(doc, "x")["upper"]["flipped"]["pass_to_fail"] == [WEIRD]


def test_html_run_report_groups_variants_under_their_case(project, cli):
    project(fragile=suite("contains", words=WORDS[:3]))
    assert cli("run", "-o", "run.html").exit_code == 1
    page = Path("run.html").read_text()
    found = re.findall(r'<tr data-case="([^"]*)"([^>]*)>', page)
    ids = [case for case, _ in found]
    assert ids == [i for w in WORDS[:3] for i in (w, f"{w}~upper", f"{w}~whitespace")]
    assert ['class="variant"' in attrs for _, attrs in found] == [False, True, True] * 3
    assert 'data-variant-of="refund"' in page


@pytest.mark.slow
def test_html_failures_filter_shows_a_failing_variant_with_its_case(project, cli, tmp_path):
    """In headless Chromium: #filter=failures shows each failing variant and, above it,
    its clean case (which passes), and no other row."""
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser",
                                               "google-chrome") if shutil.which(n)), None)
    if browser is None:
        pytest.fail("headless Chromium is required for the HTML report tests",
                    pytrace=False)
    project(fragile=suite("contains", words=WORDS[:3]))
    assert cli("run", "-o", "run.html").exit_code == 1
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (tmp_path / "run.html").as_uri() + "#filter=failures"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.findall(r'<tr data-case="([^"]*)"([^>]*)>', proc.stdout)
    shown = [case for case, attrs in found if "hidden" not in attrs]
    assert shown == [i for w in WORDS[:3] for i in (w, f"{w}~upper")]
    assert "showing 6 of 9 rows" in proc.stdout


def test_bad_output_path_is_refused_before_running(project, cli):
    project(fragile=suite("contains"))
    result = cli("robust", "-o", "r.xml")
    assert result.exit_code == 2 and "unsupported output format" in result.output
    assert not Path(".promptctl/runs").exists()


# -- the embedded model -----------------------------------------------------------------
ROUTE = """
prompts:
  fragile:
    params: {max_tokens: 12}
    messages:
      - {role: system, content: "Answer in one short sentence."}
      - role: user
        content: >-
          {{ name }} asks:
          {% if "refund" in ticket %}what is the capital of France?{% else %}what is
          the capital of Japan?{% endif %}
  robust:
    params: {max_tokens: 12}
    messages:
      - {role: system, content: "Answer in one short sentence."}
      - role: user
        content: >-
          {{ name }} asks:
          {% if "refund" in ticket | lower %}what is the capital of France?{% else %}what
          is the capital of Japan?{% endif %}
"""
NAMES = ["Ann", "Bob", "Chen", "Dana", "Eve", "Farid", "Gina", "Hugo", "Ines", "Jon", "Kim",
         "Lea"]


@pytest.mark.slow
def test_embedded_model_finds_the_fragile_prompt_and_not_the_robust_one(make_project, cli):
    """Two prompts that route on a keyword of the ticket: the fragile one on the exact
    word, the robust one on its lower case. `case: upper` (on every var: the customer's
    name too, which the model reads) sends the fragile prompt's variants to the other
    question; the robust prompt's variants still ask for Paris."""
    def route(prompt: str) -> str:
        cases = "".join(f"  - {{id: t{i}, vars: {{name: {n}, ticket: 'please refund order "
                        f"{100 + i}'}}, assert: [{{type: icontains, value: paris}}]}}\n"
                        for i, n in enumerate(NAMES))
        return (f"prompts: [route.{prompt}]\nperturb: [{{type: case, mode: upper, "
                f"max_drop: 0.25}}]\ncases:\n{cases}")

    make_project({"prompts/route.yaml": ROUTE, "suites/fragile.yaml": route("fragile"),
                  "suites/robust.yaml": route("robust")})
    result = cli("robust", "-o", "r.json")
    assert result.exit_code == 1, result.output
    doc = json.loads(Path("r.json").read_text())
    fragile, robust = rows(doc, "fragile")["case"], rows(doc, "robust")["case"]
    assert fragile["significant"] and fragile["gate"] == "fail", fragile
    assert fragile["drop"] >= 0.5 and fragile["pdr"] >= 0.5
    assert len(fragile["flipped"]["pass_to_fail"]) >= 8
    assert fragile["clean"]["pass_rate"] >= 0.75
    assert not robust["significant"] and robust["gate"] == "pass", robust
    assert "1 of 2 gates failed (fragile:case)" in result.stdout
    # the saved run says the same without calling the model again
    saved = cli("robust", "--run", doc["run_id"], "-o", "saved.json")
    assert saved.exit_code == 1
    assert rows(json.loads(Path("saved.json").read_text()), "fragile")["case"] == fragile
