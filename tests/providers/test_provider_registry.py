"""providers.registry: a built-in provider name is known without reading the installed
distributions' entry points (a scan of every package's metadata, on every run)."""

from __future__ import annotations

import importlib.metadata

import pytest

from promptctl.providers import registry


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entry-point groups read (a spy around the real importlib.metadata)."""
    seen: list[str] = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("group", ""))
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._plugins.cache_clear()
    yield seen
    registry._plugins.cache_clear()


def test_builtin_names_do_not_scan_entry_points(scans):
    assert all(registry.is_known(name) for name in registry.BUILTIN)
    assert scans == []


def test_other_names_are_looked_up_in_the_plugins(scans):
    assert not registry.is_known("no-such-provider")
    assert scans == [registry.ENTRY_POINT_GROUP]


def test_a_project_with_hosted_models_loads_without_a_scan(make_project, scans):
    from promptctl.load.project import load_project

    make_project({"promptctl.yaml": """
        models:
          fast: {provider: openai, model: gpt-4o-mini, base_url: 'http://127.0.0.1:9/v1'}
        """})
    project = load_project()
    assert project.model("openai:gpt-4o").provider == "openai"
    assert project.model("echo").provider == "echo"
    assert scans == []
