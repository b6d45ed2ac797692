"""Issue 12, class 3: credentials in a base_url (userinfo, query string, fragment) are
used for the requests and reach no file and no terminal. The real CLI in a subprocess
against the canned OpenAI-compatible stub on loopback (tests/helpers/stub_server.py), which
records what each request carried; every byte promptctl wrote is searched.

And class 10: `promptctl models` against an endpoint without a usable /v1/models."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import free_port, run_subprocess, write_files
from helpers.stub_server import Stub

from promptctl.errors import ExitCode
from promptctl.redact import redact_url, scrub, split_url

USER = "leakuser7"
PASSWORD = "hunter2-pw-93"
QUERY_VALUE = "qs-value-4242"
FRAGMENT = "frag-secret-55"
SECRETS = (USER, PASSWORD, QUERY_VALUE, FRAGMENT)

SUITE = {
    "prompts/p.yaml": "prompts:\n  ask:\n    template: 'Say {{ word }}'\n",
    "suites/s.yaml": """
        prompts: [p.ask]
        cases:
          - id: one
            vars: {word: one}
            assert: [{type: icontains, value: echo}]
          - id: two
            vars: {word: two}
            assert: [{type: icontains, value: "say two"}]
        """,
}
ALL_RUN_OUTPUTS = ("out.json", "out.jsonl", "out.xml", "out.html", "out.md")
ALL_CHECK_OUTPUTS = ("diff.json", "diff.xml", "diff.html", "diff.md")


def with_credentials(url: str) -> str:
    """http://host:port/v1 with a user, a password, a query and a fragment."""
    scheme, rest = url.split("://")
    return f"{scheme}://{USER}:{PASSWORD}@{rest}?api-key={QUERY_VALUE}&mode=x#{FRAGMENT}"


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.close()


def leaks_in(root: Path, *texts: str) -> list[str]:
    """Every file under root (but promptctl.yaml, which the user wrote) and every text
    that holds one of the secrets, by name."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "promptctl.yaml":
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {s}" for s in SECRETS if s.encode() in data]
    for i, text in enumerate(texts):
        found += [f"output {i}: {s}" for s in SECRETS if s in text]
    return found


@pytest.mark.parametrize("where", ["promptctl.yaml", "OPENAI_BASE_URL"])
def test_base_url_credentials_are_sent_and_written_nowhere(tmp_path, stub, where):
    secret_url = with_credentials(f"{stub.url}/v1")
    dead_url = with_credentials(f"http://127.0.0.1:{free_port()}/v1")
    env = {"OPENAI_API_KEY": "sk-test"}
    if where == "promptctl.yaml":
        entry = f"{{provider: openai, model: stub, base_url: '{secret_url}'}}"
    else:  # the model has no base_url: the environment variable names the server
        entry = "{provider: openai, model: stub}"
        env["OPENAI_BASE_URL"] = secret_url
    write_files(tmp_path, {**SUITE, "promptctl.yaml": f"""
        models:
          srv: {entry}
          dead: {{provider: openai, model: stub, base_url: '{dead_url}', max_retries: 0,
                  timeout: 2}}
        """})

    def promptctl(*args: str) -> str:
        result = run_subprocess(*args, cwd=tmp_path, env=env)
        assert result.exit_code in (ExitCode.OK, ExitCode.FAILED, ExitCode.INFRA), \
            result.output
        return result.output

    outputs = [
        promptctl("run", "-m", "srv", *[a for o in ALL_RUN_OUTPUTS for a in ("-o", o)]),
        promptctl("baseline", "update", "-m", "srv", "--no-cache"),
        promptctl("check", "-m", "srv", "--verbose",
                  *[a for o in ALL_CHECK_OUTPUTS for a in ("-o", o)]),
        # the errors of an unreachable server quote no credentials either
        promptctl("run", "-m", "dead", "-o", "dead.json", "-o", "dead.md"),
        promptctl("models"),
    ]
    # the calls carried the credentials: the query on every request, userinfo as basic
    # auth (the HTTP client's behaviour for a URL with userinfo)
    assert stub.seen, "no request reached the server"
    for target, auth in stub.seen:
        assert parse_qs(urlsplit(target).query) == {"api-key": [QUERY_VALUE], "mode": ["x"]}
        assert urlsplit(target).path in ("/v1/chat/completions", "/v1/models")
        assert auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    # ... and worked: the run passed, the baseline was written, the server is listed
    records = json.loads((tmp_path / "out.json").read_text())
    assert records["summary"]["passed"] == 2, outputs[0]
    assert (tmp_path / "baselines" / "s.json").is_file()
    shown = redact_url(secret_url)
    assert shown == f"{stub.url}/v1"
    assert {r["fingerprint"]["model"]["base_url"] for r in records["results"]} == {shown}
    assert f"reachable at {shown}" in outputs[4]
    dead = json.loads((tmp_path / "dead.json").read_text())
    assert all("cannot connect" in r["error"] for r in dead["results"])

    assert leaks_in(tmp_path, *outputs) == []


@pytest.mark.parametrize("url", [
    f"http://{USER}:{PASSWORD}@[zz/v1?api-key={QUERY_VALUE}",  # the parser quotes nothing
    f"http://{USER}:{PASSWORD}@127.0.0.1:99999/v1?api-key={QUERY_VALUE}",
    f"http://{USER}:pw?{PASSWORD}@127.0.0.1:1/v1",  # an unencoded ? in the password
    f"ftp://{USER}:{PASSWORD}@127.0.0.1:1/v1?api-key={QUERY_VALUE}",
    f"{USER}:{PASSWORD}@127.0.0.1:1/v1?api-key={QUERY_VALUE}",
])
def test_a_malformed_base_url_is_exit_2_naming_it_without_its_credentials(tmp_path, url):
    write_files(tmp_path, {**SUITE, "promptctl.yaml": f"""
        models:
          srv: {{provider: openai, model: stub, base_url: '{url}', api_key: sk-test}}
        """})
    result = run_subprocess("run", "-m", "srv", "-o", "out.json", cwd=tmp_path)
    assert result.exit_code == ExitCode.USAGE, result.output
    (line,) = result.stderr.splitlines()
    # the schema refuses it at load, before any provider exists (lint does too)
    assert line.startswith("error: promptctl.yaml:2: models.srv.base_url: base_url '") and \
        "is not a valid http(s) URL" in line
    assert leaks_in(tmp_path, result.output) == []


def test_models_lists_an_endpoint_without_v1_models_as_unreachable(tmp_path):
    # a server whose /v1/models is missing (404), or an HTML page, or JSON of another
    # shape: a row with the reason and exit 3, never an internal error
    answers = {
        "missing": (404, "application/json", b'{"detail": "Not Found"}'),
        "html": (200, "text/html", b"<html><body>Welcome</body></html>"),
        "nodata": (200, "application/json", b"{}"),
        "alist": (200, "application/json", b"[1, 2]"),
    }
    stubs = {name: Stub(models=answer) for name, answer in answers.items()}
    try:
        entries = "".join(f"  {name}: {{provider: openai, model: m, max_retries: 0, "
                          f"base_url: '{s.url}/v1', api_key: sk-test}}\n"
                          for name, s in stubs.items())
        write_files(tmp_path, {"promptctl.yaml": "models:\n" + entries})
        result = run_subprocess("models", cwd=tmp_path)
    finally:
        for s in stubs.values():
            s.close()
    assert result.exit_code == ExitCode.INFRA, result.output
    cells = [[c.strip() for c in line.split("│")[1:]] for line in result.stdout.splitlines()]
    rows = {c[0]: c[3] for c in cells if len(c) > 3 and c[0] in answers}
    assert set(rows) == set(answers), result.stdout
    assert "unreachable: HTTP 404" in rows["missing"]
    assert "does not list its models at /models" in rows["missing"]
    for name in ("html", "nodata", "alist"):
        assert "unreachable: the server's /models answer is not a model list" in rows[name]
    assert "ok: loaded" in result.stdout  # the built-in default still checked
    for name, s in stubs.items():
        assert len(s.seen) == 1, f"{name}: a broken model list is not retried"


# redact_url and scrub on their own ---------------------------------------------------

@pytest.mark.parametrize(("url", "shown"), [
    ("http://u-ser:p-ass@host:8080/v1?api-key=k-ey#f-rag", "http://host:8080/v1"),
    ("https://u-ser@host/v1", "https://host/v1"),
    ("https://:p-ass@host", "https://host"),
    ("http://host/v1/?api-key=k-ey", "http://host/v1/"),
    ("http://[::1]:8000/v1?k-ey", "http://[::1]:8000/v1"),
    ("  http://host/v1#f-rag  ", "http://host/v1"),
    # not well formed: an unencoded ?, # or / in a password still never shows
    ("http://u-ser:p?ass@host/v1", "http://host/v1"),
    ("http://u-ser:p#ass@host/v1", "http://host/v1"),
    ("http://u-ser:p/ass@host/v1", "http://host/v1"),
    ("u-ser:p-ass@host/v1?k-ey", "host/v1"),
    ("http://host/v1?next=a@b", "http://host/v1"),
    ("http://host/v1", "http://host/v1"),
])
def test_redact_url_keeps_scheme_host_port_and_path_only(url, shown):
    assert redact_url(url) == shown
    for part in ("u-ser", "p-ass", "ass", "k-ey", "f-rag"):
        assert part not in redact_url(url)


def test_scrub_removes_the_url_and_each_secret_of_it_from_a_message():
    url = "http://bob%40corp:s3cr%2Ft@host:1/v1?api-key=QS-123&x=1#fr-ag"
    message = (f"cannot connect to {url}: bob@corp s3cr/t s3cr%2Ft QS-123 fr-ag "
               "GET /v1/models?api-key=QS-123")
    clean = scrub(message, url)
    assert clean.startswith("cannot connect to http://host:1/v1: ")
    for secret in ("bob", "s3cr", "QS-123", "fr-ag"):
        assert secret not in clean, clean


def test_split_url_keeps_userinfo_for_basic_auth_and_moves_the_query():
    assert split_url("http://u:p@h:1/v1?api-key=X&e=#frag") == (
        "http://u:p@h:1/v1", [("api-key", "X"), ("e", "")])


def test_jinja2_older_than_the_sandbox_fixes_is_not_accepted():
    # templates from a pull request run in jinja2's sandbox: 3.1.5 and 3.1.6 fix
    # published sandbox escapes, so the dependency must exclude everything before
    tomllib = pytest.importorskip("tomllib")
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    (jinja,) = [Requirement(d) for d in project["project"]["dependencies"]
                if Requirement(d).name.lower() == "jinja2"]
    assert not jinja.specifier.contains("3.1.5") and not jinja.specifier.contains("3.1.4")
    assert jinja.specifier.contains("3.1.6")
    assert jinja.specifier.contains(version("jinja2")), "the installed jinja2 is too old"
