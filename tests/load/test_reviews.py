"""reviews/<suite>.yaml (load/reviews.py): the human labels' file round-trips byte for
byte, tells a changed output from a labelled one, merges with conflicts, and refuses a
bad file with its file:line and a symlink out of the project."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from promptctl.errors import UserError
from promptctl.load.project import load_project
from promptctl.load.reviews import (
    Label,
    Reviews,
    load_reviews,
    merge,
    now_utc,
    output_sha256,
    reviews_path,
    write_reviews,
)

OUTPUTS = [
    "ShopFast's payments were down for three hours.",
    "Line one.\nLine two: with a colon\n# not a comment\n",
    " leading space and a tab\there",
    "yes",  # YAML 1.1 would read it as true
    "Trailing newlines\n\n\n",
    "A line separator \u2028 and a NUL-free control \x7f and émoji 🐝",
    "",
]


def label(case: str, output: str, verdict: str = "pass", **kw: object) -> Label:
    fields: dict = {"prompt": "summarize.one-sentence", "model": "default", "by": "ada@x.org",
                    "at": "2026-12-02T22:40:00Z", "output": output}
    fields.update(kw)
    return Label(case=case, output_sha256=output_sha256(output), verdict=verdict, **fields)


@pytest.fixture
def project(make_project):
    root = make_project({"promptctl.yaml": "models: {}\n"})
    return load_project(root)


def test_round_trip_is_byte_for_byte(project) -> None:
    reviews = Reviews("summarize", "reviews/summarize.yaml")
    for i, out in enumerate(OUTPUTS):
        reviews.put(label(f"case-{i}", out, "fail" if i % 2 else "pass",
                          score=0.25 if i == 1 else None, note="too long: \"x\"" if i == 2
                          else None))
    path = write_reviews(project, reviews)
    first = path.read_bytes()
    again = load_reviews(project, "summarize")
    assert again.labels == reviews.labels
    assert {lab.output for lab in again.labels.values()} == set(OUTPUTS)
    write_reviews(project, again)
    assert path.read_bytes() == first
    # insertion order does not matter: the file is sorted
    shuffled = Reviews("summarize", "x")
    for lab in reversed(list(reviews.labels.values())):
        shuffled.put(lab)
    write_reviews(project, shuffled)
    assert path.read_bytes() == first
    # the file is plain YAML any tool reads, with the fields named as documented
    data = yaml.safe_load(first)
    assert data["version"] == 1 and data["suite"] == "summarize"
    entry = data["labels"][1]
    assert set(entry) == {"case", "prompt", "model", "verdict", "score", "by", "at",
                          "output_sha256", "output"}
    assert entry["output_sha256"] == hashlib.sha256(entry["output"].encode()).hexdigest()
    # a multi-line output is a literal block a reviewer can read in a diff
    assert "output: |\n      Line one.\n      Line two: with a colon\n" in first.decode()


def test_missing_file_is_empty_and_states(project) -> None:
    reviews = load_reviews(project, "summarize")
    assert reviews.labels == {}
    reviews.put(label("a", "old output", "fail"))
    write_reviews(project, reviews)
    got = load_reviews(project, "summarize")
    cell = ("a", "summarize.one-sentence", "default")
    assert got.state(*cell, "old output") == "labelled"
    assert got.get(*cell, "old output").verdict == "fail"
    assert got.state(*cell, "a new output") == "stale"
    assert got.get(*cell, "a new output") is None
    assert got.state("b", "summarize.one-sentence", "default", "old output") == "unlabelled"
    got.put(label("a", "newer output", at="2026-12-03T01:00:00Z"))
    assert [lab.output for lab in got.of_cell(*cell)] == ["newer output", "old output"]


def test_merge_conflicts_and_force() -> None:
    reviews = Reviews("s", "reviews/s.yaml")
    reviews.put(label("a", "x", "pass"))
    same = label("a", "x", "pass", by="bob", at="2026-12-03T00:00:00Z")
    other = label("a", "x", "fail", by="bob")
    new = label("b", "y", "fail")
    changed, conflicts = merge(reviews, [same, other, new])
    assert changed == 1 and [c.incoming for c in conflicts] == [other]
    assert reviews.labels[other.key].verdict == "pass"
    changed, conflicts = merge(reviews, [other], force=True)
    assert changed == 1 and conflicts == []
    assert reviews.labels[other.key].verdict == "fail"


def bad(project_root: Path, body: str) -> str:
    path = project_root / "reviews" / "s.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(body)
    with pytest.raises(UserError) as err:
        load_reviews(load_project(project_root), "s")
    assert err.value.exit_code == 2
    return str(err.value)


GOOD = output_sha256("hi")


def entry(**kw: str) -> str:
    fields = {"case": "a", "prompt": "p.q", "model": "m", "verdict": "pass",
              "by": "ada", "at": "2026-12-02T22:40:00Z", "output_sha256": GOOD,
              "output": "hi"}
    fields.update(kw)
    return "  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items() if v != "-") + "\n"


@pytest.mark.parametrize(("body", "line", "words"), [
    ("version: 1\nsuite: s\nlabels:\n" + entry(verdict="maybe"), 7, "verdict"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(score="1.5"), 12, "score"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(colour="red"), 12, "colour"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(at="yesterday"), 9, "UTC"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(output_sha256="abc"), 10, "64"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(output="edited"), 10, "edited"),
    ("version: 1\nsuite: s\nlabels:\n" + entry() + entry(by="bob"), 12, "second label"),
    ("version: 2\nsuite: s\nlabels: []\n", 1, "version"),
    ("version: 1\nsuite: other\nlabels: []\n", 2, "other"),
    ("version: 1\nsuite: s\nlabels:\n" + entry(case="-"), 4, "case"),
])
def test_bad_files_name_file_and_line(make_project, body: str, line: int, words: str) -> None:
    root = make_project({"promptctl.yaml": "models: {}\n"})
    message = bad(root, body)
    assert f"reviews/s.yaml:{line}" in message, message
    assert words in message


def test_symlink_out_of_the_project_is_refused(make_project, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "s.yaml").write_text("version: 1\nsuite: s\nlabels: []\n")
    root = make_project({"promptctl.yaml": "models: {}\n"})
    (root / "reviews").mkdir()
    (root / "reviews" / "s.yaml").symlink_to(outside / "s.yaml")
    with pytest.raises(UserError) as err:
        load_reviews(load_project(root), "s")
    assert "outside" in str(err.value) or "symlink" in str(err.value)


def test_huge_file_is_refused(make_project) -> None:
    root = make_project({"promptctl.yaml": "models: {}\n"})
    (root / "reviews").mkdir()
    with (root / "reviews" / "s.yaml").open("w") as fh:
        fh.write("version: 1\nsuite: s\nlabels: []\n# " + "x" * 10_000_001 + "\n")
    with pytest.raises(UserError) as err:
        load_reviews(load_project(root), "s")
    assert "larger than" in str(err.value)


def test_paths_reviews_moves_the_folder(make_project) -> None:
    root = make_project({"promptctl.yaml": "paths: {reviews: labels}\n"})
    project = load_project(root)
    reviews = Reviews("s", "labels/s.yaml")
    reviews.put(label("a", "x"))
    assert write_reviews(project, reviews) == root / "labels" / "s.yaml"
    assert reviews_path(project, "s") == root / "labels" / "s.yaml"
    assert len(load_reviews(project, "s").labels) == 1


def test_now_utc_reads_back() -> None:
    assert len(now_utc()) == 20 and now_utc().endswith("Z")


def test_lint_checks_the_reviews_files(make_project, cli) -> None:
    root = make_project({
        "promptctl.yaml": "models:\n  echo: {provider: echo}\n",
        "prompts/t.yaml": "prompts:\n  say: {template: '{{ answer }}'}\n",
        "suites/s.yaml": "prompts: [t.say]\nmodels: [echo]\ncases:\n"
                         "  - {id: a, vars: {answer: x}, assert: [{type: equals, value: x}]}\n"})
    project = load_project(root)
    book = Reviews("s", "reviews/s.yaml")
    for case in ("a", "gone"):
        book.put(Label(case, "t.say", "echo", output_sha256("x"), "pass", "r@x",
                       "2026-12-02T10:00:00Z", output="x"))
    write_reviews(project, book)
    (root / "reviews" / "orphan.yaml").write_text("version: 1\nsuite: orphan\nlabels: []\n")
    got = cli("lint", "--no-cache")
    assert got.exit_code == 1, got.stdout + got.stderr  # warnings only
    text = got.stdout + got.stderr
    line = next(i for i, t in enumerate((root / "reviews/s.yaml").read_text().splitlines(), 1)
                if t.strip() == "- case: gone")
    assert f"reviews/s.yaml:{line}: warning: a label for case 'gone', which suite 's' " \
           "no longer has" in text
    assert "reviews/orphan.yaml:1: warning: no suite 'orphan' for these labels" in text
    assert "2 files checked, 0 errors, 2 warnings" in text

    (root / "reviews" / "s.yaml").write_text("version: 1\nsuite: s\nlabels:\n"
                                             "  - {case: a, verdict: maybe}\n")
    got = cli("lint", "--no-cache")
    assert got.exit_code == 2 and "reviews/s.yaml:4" in got.stdout + got.stderr


def test_the_file_has_the_mode_of_any_new_file(project) -> None:
    import os

    book = Reviews("s", "reviews/s.yaml")
    book.put(Label("a", "t.say", "echo", output_sha256("x"), "pass", "r@x",
                   "2026-12-02T10:00:00Z", output="x"))
    path = write_reviews(project, book)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
