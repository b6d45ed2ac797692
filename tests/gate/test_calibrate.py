"""`promptctl calibrate` end to end: the embedded model judges outputs whose human
labels are in reviews/; the report's kappa is the one of those verdicts and labels,
the disagreements are named with the judge's reasons, and --gate fires when kappa is
significantly below min_kappa (and only then)."""

from __future__ import annotations

import json

import pytest

from promptctl.agreement import kappa
from promptctl.load.project import load_project
from promptctl.load.reviews import Label, Reviews, output_sha256, write_reviews
from promptctl.run.meta import load_run

ANSWERS = {
    "a1": "Paris is the capital of France.",
    "a2": "The capital of France is Paris.",
    "a3": "Paris.",
    "a4": "France's capital city is Paris, on the Seine.",
    "b1": "Berlin is the capital of France.",
    "b2": "I do not know.",
    "b3": "The capital of France is Lyon.",
    "b4": "Bananas are yellow.",
}

SUITE = """
prompts: [t.say]
models: [echo]
defaults:
  assert:
    - {type: llm-rubric, value: "The answer names Paris as the capital of France"MIN}
cases:
""" + "".join(f"  - {{id: {k}, vars: {{answer: {json.dumps(v)}}}}}\n" for k, v in ANSWERS.items())

FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n  default: {provider: llama-cpp, "
                      "model: 'builtin:smollm2', params: {temperature: 0, seed: 0}}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
}


def label_all(project, verdicts: dict[str, bool]) -> None:
    reviews = Reviews("s", "reviews/s.yaml")
    for case, good in verdicts.items():
        out = ANSWERS[case]
        reviews.put(Label(case, "t.say", "echo", output_sha256(out),
                          "pass" if good else "fail", "test", "2026-12-02T00:00:00Z",
                          output=out, note="wrong city" if not good else None))
    write_reviews(project, reviews)


@pytest.mark.slow
def test_calibrate_reports_the_embedded_judge_and_gates(make_project, cli, tmp_path) -> None:
    root = make_project({**FILES, "suites/s.yaml": SUITE.replace("MIN", ", min_kappa: 0.5")})
    assert cli("run", "s", "-q").exit_code in (0, 1)
    project = load_project(root)
    judged = {r.case: r.assertions[0].passed for r in load_run(project).records}
    assert set(judged) == set(ANSWERS)
    assert len(set(judged.values())) == 2, f"the judge gave one verdict to all: {judged}"

    # the truth: a-answers are right, b-answers wrong
    truth = {case: case.startswith("a") for case in ANSWERS}
    label_all(project, truth)
    got = cli("calibrate", "-o", "cal.json", "-o", "cal.md", "-o", "cal.html", "--gate")
    doc = json.loads((root / "cal.json").read_text())
    (judge,) = doc["judges"]
    expected = kappa([(judged[c], truth[c]) for c in ANSWERS])
    assert judge["name"] == "default" and judge["n"] == len(ANSWERS)
    assert judge["kappa"] == pytest.approx(expected.kappa) if expected.kappa is not None \
        else judge["kappa"] is None
    assert judge["agreement"] == pytest.approx(expected.agreement)
    wrong = {c for c in ANSWERS if judged[c] != truth[c]}
    assert {p["case"] for p in judge["disagreements"]} == wrong
    assert all(p["reason"].startswith("judge: ") for p in judge["disagreements"])
    (assertion,) = doc["assertions"]
    assert assertion["name"] == "suites/s.yaml:5 llm-rubric"
    assert assertion["min_kappa"] == 0.5
    for case in wrong:
        assert case in (root / "cal.md").read_text() and case in got.stdout
    assert "<script" not in (root / "cal.html").read_text()
    assert got.exit_code == (1 if doc["gate"]["failed"] else 0)

    # a reviewer who agrees with the judge on all but one output: not below 0.5
    first = next(iter(ANSWERS))
    close = {c: judged[c] != (c == first) for c in ANSWERS}
    label_all(project, close)
    assert cli("calibrate", "--gate", "-o", "close.json").exit_code == 0
    assert json.loads((root / "close.json").read_text())["gate"]["failed"] is False
    # one who disagrees on all but one: kappa significantly below 0.5, exit 1
    label_all(project, {c: not v for c, v in close.items()})
    low = cli("calibrate", "--gate", "-o", "low.json")
    low_doc = json.loads((root / "low.json").read_text())
    assert low_doc["judges"][0]["kappa"] < 0 and low_doc["assertions"][0]["below"] is True
    assert low.exit_code == 1 and "significantly below" in low.stdout

    # the same judge twice, re-judging the labelled outputs: no difference, p = 1
    twice = cli("calibrate", "--judge", "default", "--judge", "default", "-o", "two.json")
    cmp = json.loads((root / "two.json").read_text())["comparison"]
    assert cmp["kappa_diff"] == 0 and cmp["p"] == 1 and cmp["better"] is None
    assert twice.exit_code == 0


def test_calibrate_bad_input(make_project, cli) -> None:
    root = make_project({**FILES, "suites/s.yaml": SUITE.replace("MIN", ", min_kappa: 2")})
    bad = cli("lint")
    assert bad.exit_code == 2 and "min_kappa" in bad.stdout + bad.stderr
    (root / "suites/s.yaml").write_text(SUITE.replace("MIN", ""))
    none = cli("calibrate")
    assert none.exit_code == 2 and "run" in (none.stdout + none.stderr).lower()
    assert cli("calibrate", "-o", "x.txt").exit_code == 2
