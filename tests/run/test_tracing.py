"""OpenTelemetry tracing of a run (issue 18 item 4): the real CLI exports its spans to
a real OTLP/HTTP receiver (tests/helpers/otlp_receiver.py) that decodes them with the
official opentelemetry-proto package. Echo suites where the answer does not matter; the
real llama_cpp.server through an openai model entry where the gen_ai response and usage
attributes are the point."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO, free_port
from helpers.otlp_receiver import Receiver, Span

PROJECT = {
    "promptctl.yaml": "models: {}\n",
    "prompts/p.yaml": """
        prompts:
          ask:
            template: 'Say hello to {{ name }} PRIVATE-PROMPT'
        """,
    "suites/greet.yaml": """
        prompts: [p.ask]
        models: [echo]
        repeat: 2
        params: {temperature: 0.5, seed: 7}
        cases:
          - id: ann
            vars: {name: Ann}
            assert:
              - {type: icontains, value: ann}
              - {type: contains, value: hello}
          - id: bob
            vars: {name: Bob}
            assert: [{type: icontains, value: zed}]
        """,
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def traced(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    receiver.clear()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    return receiver


def tree(spans: list[Span]) -> dict[str, list[Span]]:
    """The spans by kind, each checked to sit under its parent's time."""
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    assert len({s.trace_id for s in spans}) == 1, "one trace per run"
    kinds: dict[str, list[Span]] = {"run": [], "suite": [], "cell": [], "call": []}
    for s in spans:
        kind = ("run" if s.name == "promptctl run" else "suite" if s.name.startswith("suite ")
                else "cell" if s.name.startswith("cell ") else "call")
        kinds[kind].append(s)
        if kind == "run":
            assert s.parent_id == ""
            continue
        parent = by_id[s.parent_id]  # every parent was exported
        want = {"suite": "promptctl run", "cell": "suite ", "call": "cell "}[kind]
        assert parent.name.startswith(want), (s.name, parent.name)
        assert parent.start_ns <= s.start_ns <= s.end_ns <= parent.end_ns, (s.name, parent.name)
    return kinds


def test_a_run_exports_run_suite_cell_and_call_spans_with_genai_attributes(
        make_project, cli, traced):
    make_project(PROJECT)
    result = cli("run", "-o", "out.json")
    assert result.exit_code == 1  # bob fails: a verdict, traced as such
    run_id = json.loads(Path("out.json").read_text())["run_id"]
    kinds = tree(traced.spans)
    assert [len(kinds[k]) for k in ("run", "suite", "cell", "call")] == [1, 1, 2, 4]
    (run,), (suite,) = kinds["run"], kinds["suite"]
    assert run.attributes["promptctl.run_id"] == run_id
    assert run.resource["service.name"] == "promptctl"
    assert suite.name == "suite greet"
    cells = {c.attributes["promptctl.case"]: c for c in kinds["cell"]}
    assert cells["ann"].attributes["promptctl.status"] == "pass"
    assert cells["bob"].attributes["promptctl.status"] == "fail"
    by_id = {s.span_id: s for s in traced.spans}
    for call in kinds["call"]:
        a = call.attributes
        case = by_id[call.parent_id].attributes["promptctl.case"]  # the cell's
        assert call.name == "chat echo"
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "echo"
        assert a["gen_ai.request.model"] == "echo"
        assert a["gen_ai.request.temperature"] == 0.5
        assert a["gen_ai.request.seed"] in (7, 8)  # the repeats' seeds
        assert a["gen_ai.usage.input_tokens"] == a["gen_ai.usage.output_tokens"] > 0
        assert a["promptctl.retries"] == 0 and a["promptctl.cached"] is False
        assert call.status == 0  # a failing case is no error
        assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
        events = [attrs for name, attrs in call.events if name == "gen_ai.evaluation.result"]
        if case == "ann":
            assert [(e["gen_ai.evaluation.name"], e["gen_ai.evaluation.score.label"],
                     e["gen_ai.evaluation.score.value"]) for e in events] == [
                ("icontains", "pass", 1.0), ("contains", "pass", 1.0)]
        else:
            assert [(e["gen_ai.evaluation.name"], e["gen_ai.evaluation.score.label"])
                    for e in events] == [("icontains", "fail")]
        assert all("gen_ai.evaluation.explanation" not in e for e in events)
    # no contents without the opt-in: neither the prompt nor the output (the reasons
    # quote it) is anywhere in what was sent
    assert not any(b"PRIVATE-PROMPT" in body for body in traced.raw)

    # the same run again is cached: its calls say so
    traced.clear()
    cli("run")
    assert {s.attributes["promptctl.cached"] for s in tree(traced.spans)["call"]} == {True}


def test_trace_contents_sends_prompts_outputs_and_explanations(make_project, cli, traced):
    make_project(PROJECT)
    cli("run", "--trace-contents", "-k", "bob")
    calls = tree(traced.spans)["call"]
    assert len(calls) == 2
    a = calls[0].attributes
    messages = json.loads(a["gen_ai.input.messages"])
    assert messages == [{"role": "user", "parts": [
        {"type": "text", "content": "Say hello to Bob PRIVATE-PROMPT"}]}]
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"][0]["content"] == "Say hello to Bob PRIVATE-PROMPT"
    ((name, event),) = calls[0].events
    assert name == "gen_ai.evaluation.result"
    assert "expected to contain 'zed'" in event["gen_ai.evaluation.explanation"]


def test_tracing_in_promptctl_yaml_sends_its_headers_only_to_the_collector(
        make_project, cli, receiver, monkeypatch):
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    receiver.clear()
    make_project({**PROJECT, "promptctl.yaml": f"""
        tracing:
          endpoint: {receiver.endpoint}
          contents: true
          headers: {{x-collector-token: TOKEN-abc123}}
        """})
    result = cli("run", "-k", "ann")
    assert result.exit_code == 0, result.output
    calls = tree(receiver.spans)["call"]
    assert len(calls) == 2 and "gen_ai.input.messages" in calls[0].attributes
    assert receiver.headers[0]["x-collector-token"] == "TOKEN-abc123"
    assert not any(b"TOKEN-abc123" in body for body in receiver.raw)
    assert "TOKEN" not in result.output


def test_a_bad_tracing_entry_is_a_user_error_at_its_line(make_project, cli):
    make_project({**PROJECT, "promptctl.yaml": "tracing:\n  endpoint: localhost:4318\n"})
    result = cli("run")
    assert result.exit_code == 2
    assert "promptctl.yaml:2" in result.output and "http(s) URL" in result.output


def test_a_dead_collector_costs_a_warning_and_a_bounded_wait(make_project, cli,
                                                            monkeypatch):
    make_project(PROJECT)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT",
                       f"http://user:hunter2@127.0.0.1:{free_port()}")
    start = time.monotonic()
    result = cli("run", "-k", "ann")
    took = time.monotonic() - start
    assert result.exit_code == 0  # the verdict, as without tracing
    assert "warning: tracing: 5 spans could not be exported to http://127.0.0.1:" in \
        result.stderr
    assert "hunter2" not in result.output and "Traceback" not in result.output
    assert took < 10, took

    # a collector that takes the connection and never answers: one export timeout
    # (2 s), not one per batch of spans
    with socket.create_server(("127.0.0.1", 0)) as silent:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT",
                           f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.monotonic()
        result = cli("run", "-k", "ann", "-r", "600")  # 603 spans: two batches
        took = time.monotonic() - start
    assert result.exit_code == 0
    assert "warning: tracing: 603 spans could not be exported" in result.stderr
    assert took < 8, took


def test_off_no_opentelemetry_is_imported_and_missing_sdk_is_a_user_error(tmp_path):
    from helpers import write_files

    write_files(tmp_path, PROJECT)
    # the run in a fresh interpreter; `block` makes every opentelemetry import fail, as
    # in an environment without the extra
    program = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'opentelemetry':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "if sys.argv[1] == 'block':\n"
        "    sys.meta_path.insert(0, Block())\n"
        "from promptctl.cli.main import main\n"
        "import atexit\n"
        "atexit.register(lambda: print('otel imported:', any(m.startswith('opentelemetry')"
        " for m in sys.modules), file=sys.stderr))\n"
        "sys.argv = ['promptctl', *sys.argv[2:]]\n"
        "main()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", program, *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=60)

    off = run("free", "run", "-q")
    assert off.returncode == 1, off.stderr
    assert "otel imported: False" in off.stderr
    runs = list((tmp_path / ".promptctl" / "runs").iterdir())
    missing = run("block", "run", "--trace")
    assert missing.returncode == 2, missing.stderr
    assert "pip install 'promptctl[otel]'" in missing.stderr
    assert "Traceback" not in missing.stderr
    # refused before any call: no new run folder
    assert list((tmp_path / ".promptctl" / "runs").iterdir()) == runs


@pytest.mark.slow
def test_a_hosted_call_traces_what_the_server_answered(make_project, cli, traced,
                                                       llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-SECRET-KEY-42")
    # credentials in the base_url: used for the requests, never in a span
    secret_url = llama_server.replace("http://", "http://user:pa55word@") + "?key=QSECRET"
    make_project({
        "promptctl.yaml": f"""
            models:
              hosted:
                provider: openai
                model: smollm2
                base_url: '{secret_url}'
                params: {{temperature: 0, max_tokens: 8, seed: 1}}
            """,
        "prompts/p.yaml": """
            prompts:
              ask:
                template: 'The capital of {{ country }}, in one word.'
            """,
        "suites/geo.yaml": """
            prompts: [p.ask]
            models: [hosted]
            cases:
              - id: fr
                vars: {country: France}
                assert: [{type: icontains, value: paris}]
            """,
    })
    result = cli("run", "--no-cache")
    assert result.exit_code in (0, 1), result.output
    (call,) = tree(traced.spans)["call"]
    a = call.attributes
    assert call.name == "chat smollm2"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "smollm2"
    assert a["gen_ai.response.model"] == "smollm2"  # what llama_cpp.server says it ran
    assert a["gen_ai.usage.input_tokens"] > 5 and 0 < a["gen_ai.usage.output_tokens"] <= 8
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"],
            a["gen_ai.request.seed"]) == (0, 8, 1)
    assert a["server.address"] == llama_server
    sent = b"".join(traced.raw)
    for secret in (b"sk-SECRET-KEY-42", b"pa55word", b"QSECRET"):
        assert secret not in sent


def test_where_spans_go_the_environment_wins_over_the_file(monkeypatch):
    from types import SimpleNamespace

    from promptctl.run.options import RunOptions
    from promptctl.run.tracing import settings
    from promptctl.schema import Tracing

    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    bare = SimpleNamespace(config=SimpleNamespace(tracing=None))
    filed = SimpleNamespace(config=SimpleNamespace(tracing=Tracing(
        endpoint="http://collector:4318/", contents=True)))
    assert settings(bare, RunOptions()) is None  # off: nothing asks for it
    assert settings(bare, RunOptions(trace=True)).endpoint == \
        "http://localhost:4318/v1/traces"
    chosen = settings(filed, RunOptions())
    assert (chosen.endpoint, chosen.contents) == ("http://collector:4318/v1/traces", True)
    assert settings(filed, RunOptions(trace_contents=False)).contents is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")
    assert settings(filed, RunOptions()).endpoint == "http://env:4318/v1/traces"
    assert settings(bare, RunOptions()).contents is False  # the variable alone: no contents
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:9999/custom")
    assert settings(bare, RunOptions()).endpoint == "http://env:9999/custom"


def test_adaptive_rounds_keep_each_cell_one_span_over_all_its_samples(make_project, cli,
                                                                      traced):
    make_project(PROJECT)
    cli("run", "--repeat", "auto", "--max-repeat", "3")
    kinds = tree(traced.spans)  # every call inside its cell's time
    cells = {c.attributes["promptctl.case"]: c for c in kinds["cell"]}
    assert sorted(cells) == ["ann", "bob"]  # one span per cell, however many rounds
    under = {case: sum(s.parent_id == c.span_id for s in kinds["call"])
             for case, c in cells.items()}
    assert under == {"ann": 1, "bob": 3}  # a pass settles; a failure samples to the cap


def test_check_and_baseline_update_take_trace_flags(make_project, cli, receiver,
                                                    monkeypatch):
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    make_project(PROJECT)
    off = cli("baseline", "update", "-k", "ann")
    assert off.exit_code == 0 and "tracing" not in off.output  # nothing asks for it
    # the flag alone turns tracing on, to the default endpoint
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 4318)) == 0:
            pytest.skip("something listens on localhost:4318")
    flagged = cli("baseline", "update", "-k", "ann", "--trace")
    assert flagged.exit_code == 0
    assert "could not be exported to http://localhost:4318/v1/traces" in flagged.stderr
    receiver.clear()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint + "/v1/traces")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-evals")
    assert cli("check", "-k", "ann", "--trace-contents").exit_code == 0
    calls = tree(receiver.spans)["call"]
    assert len(calls) == 2 and "gen_ai.input.messages" in calls[0].attributes
    assert calls[0].resource["service.name"] == "my-evals"


def test_a_failed_call_has_the_error_status(make_project, cli, traced, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    make_project({**PROJECT, "promptctl.yaml": f"""
        models:
          gone: {{provider: openai, model: m, base_url: 'http://127.0.0.1:{free_port()}/v1',
                  max_retries: 0, timeout: 5}}
        """})
    result = cli("run", "-m", "gone", "-k", "ann", "-r", "1")
    assert result.exit_code == 3, result.output  # an error, no verdict
    kinds = tree(traced.spans)
    (call,), (cell,) = kinds["call"], kinds["cell"]
    assert call.status == 2 and call.attributes["error.type"] == "promptctl.call_error"
    assert call.status_message  # the record's error, as the terminal shows it
    assert call.events == []  # no assertion ran
    assert cell.status == 2 and cell.attributes["promptctl.status"] == "error"
    assert kinds["suite"][0].status == 2
