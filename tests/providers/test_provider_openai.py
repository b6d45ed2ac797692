"""The `openai` provider against a real OpenAI-compatible server over real HTTP:
llama-cpp-python's server (the `llama_server` fixture) serving the same SmolLM2 GGUF.
No mocks: what passes here is what a user's local server does."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from helpers import free_port

from promptctl.errors import ExitCode, UserError
from promptctl.providers import ProviderError, get_provider
from promptctl.schema import ModelEntry

CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
SECRET = "sk-SECRET-123"

# a prompt and a suite that SmolLM2 passes, in-process and through the server alike
PROJECT = {
    "prompts/geo.yaml": """
        prompts:
          capital:
            params: {temperature: 0, max_tokens: 16}
            template: What is the capital of {{ country }}? Answer in one word.
        """,
    "suites/capitals.yaml": """
        prompts: [geo.capital]
        cases:
          - id: france
            vars: {country: France}
            assert: [{type: icontains, value: Paris}]
          - id: italy
            vars: {country: Italy}
            assert: [{type: icontains, value: Rome}]
          - id: japan
            vars: {country: Japan}
            assert: [{type: icontains, value: Tokyo}]
        """,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LOCAL_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def dead_url() -> str:
    """A loopback port with nothing listening."""
    return f"http://127.0.0.1:{free_port()}/v1"


def config(**models: str) -> dict[str, str]:
    """promptctl.yaml with the given `alias: {flow mapping}` model entries."""
    lines = ["models:"] + [f"  {alias}: {entry}" for alias, entry in models.items()]
    return {"promptctl.yaml": "\n".join(lines) + "\n"}


def run_json(cli, tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    result = cli("run", *args, "-o", "out.json")
    doc = json.loads((tmp_path / "out.json").read_text()) if result.exit_code in (0, 1, 3) \
        else {}
    return result.exit_code, doc, result.output


@pytest.mark.slow
def test_answers_paris_with_token_usage(llama_server):
    provider = get_provider(ModelEntry(provider="openai", model="smollm2",
                                       base_url=llama_server), "local")
    done = provider.complete(CAPITAL, {"temperature": 0, "max_tokens": 16})
    assert "paris" in done.text.lower()
    assert done.prompt_tokens > 0 and 0 < done.completion_tokens <= 16
    assert done.latency_ms > 0


@pytest.mark.slow
def test_json_schema_gives_schema_valid_json_through_the_server(llama_server):
    provider = get_provider(ModelEntry(provider="openai", model="smollm2",
                                       base_url=llama_server), "local")
    fmt = {"type": "json_schema", "schema": CITY_SCHEMA}  # schema.py's canonical form
    done = provider.complete(CAPITAL, {"temperature": 0, "max_tokens": 32,
                                       "response_format": fmt})
    jsonschema.validate(json.loads(done.text), CITY_SCHEMA)


@pytest.mark.slow
def test_identity_names_the_server_never_the_key_and_check_reaches_it(llama_server):
    entry = ModelEntry(provider="openai", model="smollm2", base_url=llama_server,
                       api_key=SECRET)
    provider = get_provider(entry, "local")
    assert provider.identity() == {"provider": "openai", "model": "smollm2",
                                   "base_url": llama_server}
    assert SECRET not in json.dumps(provider.identity()) and SECRET not in repr(entry)
    assert "reachable" in provider.check()


@pytest.mark.slow
def test_unreachable_server_is_a_provider_error_and_exit_3(make_project, cli, dead_url,
                                                           tmp_path):
    entry = ModelEntry(provider="openai", model="smollm2", base_url=dead_url,
                       max_retries=0, timeout=2)
    with pytest.raises(ProviderError, match="cannot connect"):
        get_provider(entry, "dead").complete(CAPITAL, {"max_tokens": 8})

    make_project({**PROJECT, **config(
        dead=f"{{provider: openai, base_url: '{dead_url}', model: smollm2, "
             "max_retries: 0, timeout: 2}")})
    code, doc, output = run_json(cli, tmp_path, "-m", "dead")
    assert code == ExitCode.INFRA, output
    assert "Traceback" not in output
    assert doc["summary"]["errors"] == 3
    assert all("cannot connect" in r["error"] for r in doc["results"])


def test_api_key_env_naming_an_unset_variable_is_exit_2(make_project, cli, dead_url):
    entry = ModelEntry(provider="openai", model="smollm2", base_url=dead_url,
                       api_key_env="LOCAL_KEY")
    with pytest.raises(UserError, match="LOCAL_KEY"):
        get_provider(entry, "local-server")

    make_project({**PROJECT, **config(
        **{"local-server": f"{{provider: openai, base_url: '{dead_url}', model: smollm2, "
                           "api_key_env: LOCAL_KEY}"})})
    result = cli("run", "-m", "local-server")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "LOCAL_KEY is not set" in result.stderr
    assert "Traceback" not in result.output


def with_credentials(url: str) -> str:
    """The server's URL with a user, a password and a query (llama_cpp.server ignores
    them, so the calls still succeed)."""
    scheme, rest = url.split("://")
    return f"{scheme}://{URL_USER}:{URL_PASSWORD}@{rest}?api-key={URL_QUERY}"


URL_USER, URL_PASSWORD, URL_QUERY = "srv-user-51", "srv-pw-77", "srv-query-93"


@pytest.mark.slow
@pytest.mark.parametrize("where", ["promptctl.yaml", "environment", "base_url",
                                   "OPENAI_BASE_URL"])
def test_the_api_key_is_written_into_no_file(make_project, cli, llama_server, tmp_path,
                                             monkeypatch, where):
    """No byte of any file promptctl wrote (baselines/, .promptctl/, every -o format) nor
    the output of run, baseline update, check and models holds the API key or the
    credentials of a base_url (userinfo, query string)."""
    base_url, secrets = llama_server, [SECRET]
    if where == "promptctl.yaml":
        key = f"api_key: {SECRET}"
    elif where == "environment":
        key = "api_key_env: LOCAL_KEY"
        monkeypatch.setenv("LOCAL_KEY", SECRET)
    else:
        key, secrets = f"api_key: {SECRET}", [SECRET, URL_USER, URL_PASSWORD, URL_QUERY]
        base_url = with_credentials(llama_server)
    entry = f"provider: openai, base_url: '{base_url}', model: smollm2, {key}"
    if where == "OPENAI_BASE_URL":
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        entry = f"provider: openai, model: smollm2, {key}"
    make_project({**PROJECT, **config(srv=f"{{{entry}}}")})
    code, doc, output = run_json(cli, tmp_path, "-m", "srv", "-o", "out.jsonl",
                                 "-o", "out.xml", "-o", "out.html", "-o", "out.md")
    assert code == ExitCode.OK, output
    assert doc["summary"]["passed"] == 3
    assert doc["results"][0]["fingerprint"]["model"]["base_url"] == llama_server
    outputs = [output]
    for args in (("baseline", "update", "-m", "srv"),
                 ("check", "-m", "srv", "--verbose", "-o", "diff.json", "-o", "diff.md",
                  "-o", "diff.xml", "-o", "diff.html"),
                 ("models",)):
        result = cli(*args)
        assert result.exit_code in (ExitCode.OK, ExitCode.FAILED), result.output
        outputs.append(result.output)
    assert f"reachable at {llama_server}" in outputs[-1]
    assert [s for s in secrets for text in outputs if s in text] == []

    produced = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "promptctl.yaml"]
    names = {p.name for p in produced}
    assert {"out.json", "out.jsonl", "out.html", "out.md", "records.jsonl", "summary.json",
            "cache.sqlite", "capitals.json", "diff.md", "diff.json"} <= names
    leaks = [(p.name, s) for p in produced for s in secrets if s.encode() in p.read_bytes()]
    assert leaks == []


@pytest.mark.slow
def test_same_suite_passes_in_process_and_through_the_server(make_project, cli, llama_server,
                                                             tmp_path, monkeypatch):
    make_project({**PROJECT, **config(
        **{"local-server": f"{{provider: openai, base_url: '{llama_server}', "
                           "model: smollm2, api_key_env: LOCAL_KEY}"})})
    monkeypatch.setenv("LOCAL_KEY", "local-key")

    runs = {
        "default": (),
        "local-server": ("-m", "local-server"),
        "openai:smollm2": ("-m", "openai:smollm2"),  # base_url from OPENAI_BASE_URL
    }
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    for model, args in runs.items():
        # the last two are the same model identity and would share cached answers
        code, doc, output = run_json(cli, tmp_path, *args, "--no-cache")
        assert code == ExitCode.OK, f"{model}: {output}"
        assert doc["summary"]["passed"] == 3, model
        results = doc["results"]
        assert {r["model"] for r in results} == {model}
        assert all(r["tokens"]["completion"] > 0 and not r["cached"] for r in results)
        identity = results[0]["fingerprint"]["model"]
        if model == "default":
            assert identity["provider"] == "llama-cpp"
        else:
            assert identity == {"provider": "openai", "model": "smollm2",
                                "base_url": llama_server}


@pytest.mark.slow
def test_models_command_reports_the_server_reachable_or_not(make_project, cli, llama_server,
                                                            dead_url, monkeypatch):
    monkeypatch.setenv("LOCAL_KEY", "local-key")
    entry = "{{provider: openai, base_url: '{}', model: smollm2, api_key_env: LOCAL_KEY, " \
            "max_retries: 0, timeout: 5}}"
    root = make_project(config(**{"local-server": entry.format(llama_server)}))
    result = cli("models")
    assert result.exit_code == ExitCode.OK, result.output
    assert "local-server" in result.stdout and "reachable at" in result.stdout

    (root / "promptctl.yaml").write_text(config(
        **{"local-server": entry.format(dead_url)})["promptctl.yaml"])
    result = cli("models")
    assert result.exit_code == ExitCode.INFRA, result.output
    assert "unreachable" in result.stdout and "cannot connect" in result.stdout
    assert "Traceback" not in result.output
