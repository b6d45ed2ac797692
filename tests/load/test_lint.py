"""load.lint: each prompt collection is loaded once, and every broken file is still
reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.load.lint import lint_project
from promptctl.load.project import Project, load_project

PROJECT = {
    "prompts/support.yaml": """
        prompts:
          triage:
            template: "Ticket: {{ ticket }}"
        """,
    "prompts/billing.yaml": """
        prompts:
          refund:
            template: "Refund {{ amount }}"
        """,
    "suites/triage.yaml": """
        prompts: [support.triage]
        models: [echo]
        cases:
          - id: a
            vars: {ticket: charged twice}
            assert: [{type: icontains, value: charged}]
        """,
    "suites/billing.yaml": """
        prompts: [billing.refund]
        models: [echo]
        cases:
          - id: b
            vars: {amount: 3}
            assert: [{type: icontains, value: "3"}]
        """,
}


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prompt collections read from disk, in order (a spy: the real loader runs)."""
    seen: list[str] = []
    real = Project.load_collection

    def load_collection(self: Project, path: Path):  # type: ignore[no-untyped-def]
        seen.append(path.name)
        return real(self, path)

    monkeypatch.setattr(Project, "load_collection", load_collection)
    return seen


def test_lint_reads_each_collection_once(make_project, loads):
    make_project(PROJECT)
    findings = lint_project(load_project(), [])
    assert findings == []
    assert sorted(loads) == ["billing.yaml", "support.yaml"]


def test_lint_reports_every_broken_collection(make_project, loads):
    root = make_project(PROJECT)
    (root / "prompts/support.yaml").write_text("prompts:\n  triage:\n    tempate: x\n")
    (root / "prompts/billing.yaml").write_text(
        "prompts:\n  refund:\n    template: '{{ amount '\n")
    findings = lint_project(load_project(), [])
    files = {f.file for f in findings if f.severity == "error"}
    assert {"prompts/support.yaml", "prompts/billing.yaml"} <= files, findings


def test_lint_of_a_directory_checks_collections_below_prompts(make_project):
    """`lint prompts/ suites/`: a collection in a subfolder of prompts/ (which the
    project itself does not load) is still checked."""
    root = make_project(PROJECT)
    (root / "prompts/more").mkdir()
    (root / "prompts/more/extra.yaml").write_text(
        "prompts:\n  x:\n    template: '{{ a.__class__ }}'\n")
    findings = lint_project(load_project(), ["prompts", "suites"])
    assert any(f.file == "prompts/more/extra.yaml" and "unsafe attribute" in f.message
               for f in findings), findings
