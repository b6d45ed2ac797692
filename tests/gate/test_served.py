"""What a hosted endpoint says it ran (issue 16 item 3): the response's `model` and
`system_fingerprint` in each record, in the cache and in baseline cells, and a change of
them reported in words by diff/check.

The pure wording and the cell rule are tested on fingerprints; the rest end to end on
the real `llama_server` through the real CLI. llama_cpp.server answers a completion
with `model` set to the name the client asked for and no `system_fingerprint`, so the
fault proxy's `served` kind stands in for an endpoint that moved its alias: it rewrites
only that metadata, the answers are the server's.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import write_files

from promptctl.gate.baseline import served_of
from promptctl.gate.diff import fingerprint_changes, served_change, served_label
from promptctl.gate.verdicts import deterministic
from promptctl.reports import md

OLD, NEW = "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-11-20"
MOVED = f"the endpoint changed the model behind gpt-4o-mini: {OLD} -> {NEW}; fp_aaa -> fp_bbb"


def fp(served: dict[str, Any] | None = None, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """A fingerprint as the runner writes it for an openai model."""
    out: dict[str, Any] = {
        "prompt_sha256": "ab" * 32, "params": {"temperature": 0},
        "model": {"provider": "openai", "model": model,
                  "base_url": "https://api.openai.com/v1"}}
    if served is not None:
        out["served"] = served
    return out


def served(model: str = OLD, system_fingerprint: str | None = "fp_aaa",
           **more: Any) -> dict[str, Any]:
    return {"model": model, "system_fingerprint": system_fingerprint, **more}


# -- the wording -------------------------------------------------------------------------

def test_a_moved_alias_is_one_sentence_with_the_fingerprints_when_both_are_known():
    assert served_change(fp(served()), fp(served(NEW, "fp_bbb"))) == MOVED
    assert fingerprint_changes(fp(served()), fp(served(NEW, "fp_bbb"))) == [MOVED]
    # the same fingerprint, or one side that does not know it: no "; fp" part
    plain = f"the endpoint changed the model behind gpt-4o-mini: {OLD} -> {NEW}"
    assert served_change(fp(served()), fp(served(NEW))) == plain
    assert served_change(fp(served()), fp(served(NEW, None))) == plain
    assert served_change(fp(served(system_fingerprint=None)), fp(served(NEW))) == plain


def test_a_new_system_fingerprint_of_the_same_snapshot_is_reported_as_such():
    assert served_change(fp(served()), fp(served(system_fingerprint="fp_bbb"))) == (
        f"the endpoint changed the model behind gpt-4o-mini: {OLD} (same model); "
        "fp_aaa -> fp_bbb")
    # a fingerprint that goes missing is no change: unknown is not different
    assert served_change(fp(served()), fp(served(system_fingerprint=None))) is None


def test_no_change_when_a_side_does_not_say_or_nothing_moved():
    # a baseline written before promptctl recorded `served`, against a new run
    assert served_change(fp(), fp(served())) is None
    assert fingerprint_changes(fp(), fp(served())) == []
    assert fingerprint_changes(fp(served()), fp()) == []
    assert served_change(fp(served()), fp(served())) is None
    # another model asked for: that swap is the change, said by its own line
    swapped = fingerprint_changes(fp(served()), fp(served("gpt-4o-2024-08-06"),
                                                     model="gpt-4o"))
    assert swapped == ["model model: gpt-4o-mini -> gpt-4o"]


def test_repeats_that_saw_several_fingerprints_report_only_one_never_seen():
    rotating = served(system_fingerprints=["fp_aaa", "fp_bbb"])
    assert served_change(fp(rotating), fp(served(system_fingerprint="fp_bbb"))) is None
    assert served_change(fp(served(system_fingerprint="fp_bbb")), fp(rotating)) is None
    assert served_change(fp(rotating), fp(served(system_fingerprint="fp_ccc"))) == (
        f"the endpoint changed the model behind gpt-4o-mini: {OLD} (same model); "
        "fp_aaa/fp_bbb -> fp_ccc")


def test_served_label_names_the_snapshot_and_its_fingerprints():
    assert served_label(fp(served())) == f"{OLD} fp_aaa"
    assert served_label(fp(served(system_fingerprint=None))) == OLD
    assert served_label(fp(served(system_fingerprints=["fp_aaa", "fp_bbb"]))) == \
        f"{OLD} fp_aaa fp_bbb"
    assert served_label(fp()) is None


# -- what a cell keeps ----------------------------------------------------------------

def test_a_cell_keeps_the_most_frequent_model_and_fingerprint_and_lists_them_all():
    a, b = served(system_fingerprint="fp_a"), served(system_fingerprint="fp_b")
    assert served_of([a, b, b]) == served(system_fingerprint="fp_b",
                                          system_fingerprints=["fp_a", "fp_b"])
    # a tie goes to the smaller string, whatever the order of the repeats
    assert served_of([b, a]) == served_of([a, b]) == served(
        system_fingerprint="fp_a", system_fingerprints=["fp_a", "fp_b"])
    assert served_of([a, a]) == a
    # an alias that moved in the middle of a run: the majority, its fingerprints only
    moved = served(NEW, "fp_new")
    assert served_of([a, moved, a]) == a
    assert served_of([None, a]) == a  # a repeat that said nothing
    assert served_of([None, None]) is None


def test_served_leaves_the_deterministic_rule_alone():
    for params in ({"temperature": 0}, {"temperature": 0.7}, {}):
        base = {**fp(), "params": params}
        assert deterministic({**base, "served": served()}) == deterministic(base)


def test_the_run_summary_counts_snapshots_only_when_they_differ_from_the_name_asked():
    from promptctl.results import CallRecord
    from promptctl.run.summary import Summary

    def rec(case: str, fingerprint: dict[str, Any], alias: str = "hosted") -> CallRecord:
        return CallRecord("s", case, "p", alias, 0, [], {}, output="x", passed=True,
                          fingerprint=fingerprint)

    summary = Summary.of([rec("a", fp(served())), rec("b", fp(served())),
                          rec("c", fp(served("gpt-4o-mini")), "same"),  # what was asked
                          rec("d", fp(), "local")])
    assert summary.served == {"hosted": {OLD: 2}}
    assert "served" not in summary.to_dict()  # summary.json keeps its shape


# -- end to end, through the real CLI ----------------------------------------------------

def old_endpoint(fault_proxy, fingerprint: str | list[str] = "fp_aaa"):
    """The real server behind a proxy that says every answer came from OLD (with this
    system_fingerprint, or these in turn)."""
    return fault_proxy(rate=1.0, kinds=["served"], served_model=OLD,
                       served_fingerprint=fingerprint)


def project(root: Path, base_url: str, *, local: bool = True, cases: int = 2) -> Path:
    """A suite on an openai model at base_url (and on echo, a second model that says
    nothing of what it runs)."""
    models = "[hosted, local]" if local else "[hosted]"
    countries = [("france", "France", "Paris"), ("italy", "Italy", "Rome")][:cases]
    case_lines = "".join(
        f"  - id: {cid}\n    vars: {{country: {name}}}\n"
        f"    assert: [{{type: icontains, value: \"{name[:2]}\"}}]\n"
        for cid, name, _ in countries)
    return write_files(root, {
        "promptctl.yaml": f"""
            models:
              hosted: {{provider: openai, model: gpt-4o-mini, base_url: "{base_url}",
                        params: {{temperature: 0, seed: 0, max_tokens: 8}}}}
              local: {{provider: echo}}
            """,
        "prompts/geo.yaml": """
            prompts:
              capital:
                template: "The capital of {{ country }}. Repeat the country name."
            """,
        "suites/geo.yaml": f"prompts: [geo.capital]\nmodels: {models}\ncases:\n"
                           + case_lines,
    })


def latest_records(root: Path) -> list[dict[str, Any]]:
    runs = root / ".promptctl/runs"
    run_id = (runs / "latest").read_text().strip()
    lines = (runs / run_id / "records.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def baseline_cells(root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    doc = json.loads((root / "baselines/geo.json").read_text())
    return {(case, model): cell for case, prompts in doc["cases"].items()
            for models in prompts.values() for model, cell in models.items()}


@pytest.mark.slow
def test_an_endpoint_that_moves_its_alias_is_reported_once_per_model(
        make_project, cli, fault_proxy, tmp_path):
    proxy = old_endpoint(fault_proxy)
    make_project({})
    project(tmp_path, proxy.base_url + "/v1")
    assert cli("baseline", "update").exit_code == 0
    cells = baseline_cells(tmp_path)
    assert {k: c["fingerprint"].get("served") for k, c in cells.items()} == {
        ("france", "hosted"): served(), ("italy", "hosted"): served(),
        ("france", "local"): None, ("italy", "local"): None}

    # the endpoint now serves another snapshot behind the same name
    proxy.served_model, proxy.served_fingerprint = NEW, "fp_bbb"
    cached = cli("check")
    assert cached.exit_code == 0, cached.output
    assert "endpoint changed" not in cached.output  # cached answers keep their values
    assert f"hosted served as {OLD} ·" in cached.stdout  # the run's summary line
    hosted = [r for r in latest_records(tmp_path) if r["model"] == "hosted"]
    assert [r["cached"] for r in hosted] == [True, True]
    assert [r["fingerprint"]["served"] for r in hosted] == [served(), served()]

    fresh = cli("check", "--no-cache", "-o", "diff.md", "-o", "diff.json",
                "-o", "diff.html")
    assert fresh.exit_code == 0, fresh.output  # the answers passed: no regression
    assert fresh.stdout.count(MOVED) == 1, fresh.stdout
    assert f"every case of model hosted: {MOVED}" in fresh.stdout
    assert f"hosted served as {NEW} ·" in fresh.stdout
    assert [r["fingerprint"]["served"] for r in latest_records(tmp_path)
            if r["model"] == "hosted"] == [served(NEW, "fp_bbb")] * 2
    doc = json.loads((tmp_path / "diff.json").read_text())
    changes = {(c["case"], c["model"]): c["fingerprint"] for c in doc["suites"][0]["cases"]}
    assert changes == {("france", "hosted"): [MOVED], ("italy", "hosted"): [MOVED],
                       ("france", "local"): [], ("italy", "local"): []}
    markdown = (tmp_path / "diff.md").read_text()
    assert f"geo: every case of model hosted: {md.text(MOVED)}" in markdown
    assert MOVED.replace(">", "&gt;") in (tmp_path / "diff.html").read_text()

    # `diff` of the saved run says the same; the baseline update then takes it in
    again = cli("diff")
    assert again.stdout.count(MOVED) == 1, again.stdout
    assert cli("baseline", "update", "--no-cache").exit_code == 0
    assert baseline_cells(tmp_path)[("italy", "hosted")]["fingerprint"]["served"] == \
        served(NEW, "fp_bbb")
    assert "endpoint changed" not in cli("check", "--no-cache").output


@pytest.mark.slow
def test_a_baseline_and_cache_entries_from_before_served_still_read_without_a_change(
        make_project, cli, fault_proxy, tmp_path):
    proxy = old_endpoint(fault_proxy)
    make_project({})
    project(tmp_path, proxy.base_url + "/v1", local=False)
    assert cli("baseline", "update").exit_code == 0
    # as an earlier promptctl wrote them: no "served" in the baseline ...
    path = tmp_path / "baselines/geo.json"
    doc = json.loads(path.read_text())
    for prompts in doc["cases"].values():
        for models in prompts.values():
            for cell in models.values():
                assert cell["fingerprint"].pop("served") == served()
    path.write_text(json.dumps(doc, indent=2))
    # ... and cached completions without the two fields
    with sqlite3.connect(tmp_path / ".promptctl/cache.sqlite") as db:
        rows = db.execute("SELECT key, value FROM responses").fetchall()
        assert len(rows) == 2
        for key, value in rows:
            entry = json.loads(value)
            assert (entry.pop("served_model"), entry.pop("system_fingerprint")) == \
                (OLD, "fp_aaa")
            db.execute("UPDATE responses SET value = ? WHERE key = ?",
                       (json.dumps(entry), key))

    proxy.served_model = NEW
    old = cli("check", "-o", "old.json")
    assert old.exit_code == 0, old.output
    assert "unreadable cache entry" not in old.output
    records = latest_records(tmp_path)
    assert [r["cached"] for r in records] == [True, True]
    assert all("served" not in r["fingerprint"] for r in records)
    fresh = cli("check", "--no-cache", "-o", "new.json")
    assert fresh.exit_code == 0, fresh.output
    assert [r["fingerprint"]["served"]["model"] for r in latest_records(tmp_path)] == \
        [NEW, NEW]
    for name in ("old.json", "new.json"):
        cases = json.loads((tmp_path / name).read_text())["suites"][0]["cases"]
        assert [c["fingerprint"] for c in cases] == [[], []], name
    assert "fingerprint change" not in old.output + fresh.output


@pytest.mark.slow
def test_repeats_under_rotating_fingerprints_keep_them_all_and_report_only_a_new_one(
        make_project, cli, fault_proxy, tmp_path):
    proxy = old_endpoint(fault_proxy, ["fp_a", "fp_b"])
    make_project({})
    project(tmp_path, proxy.base_url + "/v1", local=False, cases=1)
    assert cli("baseline", "update", "-r", "3").exit_code == 0
    # the three repeats said fp_a, fp_b, fp_a
    assert sorted(r["fingerprint"]["served"]["system_fingerprint"]
                  for r in latest_records(tmp_path)) == ["fp_a", "fp_a", "fp_b"]
    cell = baseline_cells(tmp_path)[("france", "hosted")]
    assert cell["fingerprint"]["served"] == served(
        system_fingerprint="fp_a", system_fingerprints=["fp_a", "fp_b"])

    proxy.served_fingerprint = ["fp_b"]  # one the baseline saw: no change
    seen = cli("check", "--no-cache", "-r", "3")
    assert seen.exit_code == 0, seen.output
    assert "endpoint changed" not in seen.output
    proxy.served_fingerprint = ["fp_c"]  # a new one
    new = cli("check", "--no-cache", "-r", "3")
    assert new.exit_code == 0, new.output
    assert (f"the endpoint changed the model behind gpt-4o-mini: {OLD} (same model); "
            "fp_a/fp_b -> fp_c") in new.stdout


@pytest.mark.slow
def test_the_openai_provider_reports_what_the_server_says_it_ran(llama_server,
                                                                 fault_proxy):
    from promptctl.providers import get_provider
    from promptctl.schema import ModelEntry

    question = [{"role": "user", "content": "The capital of France, in one word."}]
    params = {"temperature": 0, "max_tokens": 8}
    direct = get_provider(ModelEntry(provider="openai", model="smollm2",
                                     base_url=llama_server), "direct")
    done = direct.complete(question, params)
    # llama_cpp.server names the model it was asked for and gives no fingerprint
    assert (done.served_model, done.system_fingerprint) == ("smollm2", None)

    proxy = old_endpoint(fault_proxy)
    hosted = get_provider(ModelEntry(provider="openai", model="gpt-4o-mini",
                                     base_url=proxy.base_url + "/v1"), "hosted")
    plain = hosted.complete(question, params)
    assert (plain.served_model, plain.system_fingerprint) == (OLD, "fp_aaa")
    assert plain.text == done.text  # only the metadata is the proxy's
    schema = {"type": "object", "properties": {"city": {"type": "string"}},
              "required": ["city"]}
    structured = hosted.complete(question, {**params, "max_tokens": 24, "response_format": {
        "type": "json_schema", "schema": schema}})
    assert (structured.served_model, structured.system_fingerprint) == (OLD, "fp_aaa")

    # a server that puts the caller's key in its metadata: it reaches no record
    proxy.served_model = "ft:gpt-4o-mini:sk-SECRET-123"
    keyed = get_provider(ModelEntry(provider="openai", model="gpt-4o-mini",
                                    base_url=proxy.base_url + "/v1",
                                    api_key="sk-SECRET-123"), "keyed")
    assert keyed.complete(question, params).served_model == "ft:gpt-4o-mini:***"
