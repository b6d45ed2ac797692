"""gate/labels.py: a run's records joined to reviews/ labels written as real files.

Each record's view (labelled / stale / unlabelled; the disagreements "gap" and
"strict"), the review items (repeats of one output merged, errors left out, a stable
order) and every `--only` filter, alone and combined."""

from __future__ import annotations

import pytest

from promptctl.errors import UserError
from promptctl.gate.labels import ONLY, check_only, label_views, review_items
from promptctl.load.project import load_project
from promptctl.load.reviews import Label, Reviews, output_sha256, write_reviews
from promptctl.results import AssertionResult, CallRecord

FILES = {
    "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
    "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
    "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n  - {id: a, vars: {answer: x}}\n",
}


def record(case: str, output: str | None, passed: bool, *, repeat: int = 0,
           judged: bool = False, error: str | None = None, suite: str = "s") -> CallRecord:
    results = [AssertionResult("icontains", passed, float(passed), "contains 'paris'")]
    if judged:
        results.append(AssertionResult("llm-rubric", passed, float(passed),
                                       "judge: it names the city"))
    return CallRecord(suite, case, "t.say", "echo", repeat, [{"role": "user", "content": case}],
                      {}, output=output, passed=passed, assertions=results, error=error)


def label(case: str, output: str, verdict: str, at: str = "2026-12-02T10:00:00Z") -> Label:
    return Label(case, "t.say", "echo", output_sha256(output), verdict, "r@example.com", at,
                 output=output)


@pytest.fixture
def project(make_project):
    root = make_project(FILES)
    proj = load_project(root)
    book = Reviews("s", "reviews/s.yaml")
    for lab in (label("agree", "Paris", "pass"),
                label("strict", "Berlin", "pass"),
                label("gap", "Paris, Berlin", "fail"),
                label("stale", "Paris?", "fail", at="2026-12-01T10:00:00Z"),
                label("stale", "Paris!", "pass", at="2026-12-02T10:00:00Z"),
                label("errored", "half", "fail")):
        book.put(lab)
    write_reviews(proj, book)
    return proj


RECORDS = [
    record("agree", "Paris", True),
    record("strict", "Berlin", False, judged=True),
    record("gap", "Paris, Berlin", True, judged=True),
    record("stale", "Paris.", True),
    record("new", "Lyon", False),
    record("new", "Lyon", False, repeat=1),
    record("new", "Lille", False, repeat=2),
    record("errored", "half", False, error="judge timed out"),
    record("dead", None, False, error="connection refused"),
    record("other", "Rome", True, suite="t"),  # a suite with no reviews/ file
]


def test_each_record_has_the_view_of_its_exact_output(project) -> None:
    views = label_views(project, RECORDS)
    got = {(k[0], k[1], k[4]): (v.state, v.disagreement, v.words()) for k, v in views.items()}
    assert got == {
        ("s", "agree", 0): ("labelled", None, "reviewer: pass"),
        ("s", "strict", 0): ("labelled", "strict", "reviewer: pass, suite: fail"),
        ("s", "gap", 0): ("labelled", "gap", "reviewer: fail, suite: pass"),
        # the newest of the cell's labels, for an output none of them names
        ("s", "stale", 0): ("stale", None, "label stale (output changed; was pass)"),
        ("s", "new", 0): ("unlabelled", None, ""),
        ("s", "new", 1): ("unlabelled", None, ""),
        ("s", "new", 2): ("unlabelled", None, ""),
        # an error is no verdict to disagree with
        ("s", "errored", 0): ("labelled", None, "reviewer: fail"),
        ("t", "other", 0): ("unlabelled", None, ""),
    }


def test_items_are_distinct_outputs_in_a_stable_order(project) -> None:
    items = review_items(project, list(reversed(RECORDS)))
    assert [(i.suite, i.case, i.output) for i in items] == [
        ("s", "agree", "Paris"), ("s", "errored", "half"), ("s", "gap", "Paris, Berlin"),
        ("s", "new", "Lyon"), ("s", "new", "Lille"), ("s", "stale", "Paris."),
        ("s", "strict", "Berlin"), ("t", "other", "Rome")]
    lyon = items[3]
    assert [r.repeat for r in lyon.records] == [0, 1] and lyon.record.repeat == 0
    assert lyon.sha == output_sha256("Lyon")
    gap = items[2]
    assert gap.judged and gap.judge_reasons() == [
        ("llm-rubric", True, "judge: it names the city")]
    assert not items[0].judged and items[0].judge_reasons() == []


@pytest.mark.parametrize(("only", "cases"), [
    (["failing"], ["errored", "new", "new", "strict"]),
    (["judged"], ["gap", "strict"]),
    (["unlabelled"], ["new", "new", "stale", "other"]),
    (["disagreements"], ["gap", "strict"]),
    (["failing", "judged"], ["strict"]),
    (["failing,unlabelled"], ["new", "new"]),
    (["judged", "disagreements", "failing"], ["strict"]),
])
def test_every_filter_alone_and_combined(project, only, cases) -> None:
    assert [i.case for i in review_items(project, RECORDS, only=only)] == cases


def test_an_unknown_filter_names_the_allowed_ones(project) -> None:
    with pytest.raises(UserError) as caught:
        review_items(project, RECORDS, only=["failed"])
    assert "'failed'" in str(caught.value)
    assert all(name in (caught.value.hint or "") for name in ONLY)
    assert check_only([" failing , judged", ""]) == ["failing", "judged"]


def test_a_bad_reviews_file_is_bad_input_naming_its_line(project) -> None:
    (project.root / "reviews" / "s.yaml").write_text(
        "version: 1\nsuite: s\nlabels:\n  - case: a\n    verdict: maybe\n")
    with pytest.raises(UserError) as caught:
        label_views(project, RECORDS)
    assert caught.value.file is not None and "reviews/s.yaml" in str(caught.value.file)
    assert caught.value.line is not None
