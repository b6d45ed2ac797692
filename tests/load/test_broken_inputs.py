"""A corpus of broken projects: each must give exit code 2 from run, check and lint,
one message naming the culprit file:line, never a traceback, never an internal error,
nothing left behind. And odd-but-valid projects that must be accepted. Run through the
real CLI (in-process, a few in a subprocess) on the echo provider."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
from helpers import run_subprocess

GOOD_PROMPTS = """
prompts:
  triage:
    params: {max_tokens: 8}
    vars: {teams: [billing, shipping]}
    messages:
      - role: system
        content: Route to one of {{ teams | join(", ") }}.
      - role: user
        content: "Ticket: {{ ticket }}"
"""

GOOD_SUITE = """
prompts: [support.triage]
cases:
  - id: one
    vars: {ticket: "charged twice"}
    assert:
      - {type: icontains, value: billing}
"""

# (id, files to write over the good project, flags, expected "file:line", fragment)
CORPUS = [
    ("yaml-syntax-prompt", {"prompts/support.yaml": "prompts:\n  triage: [unclosed\n"},
     [], "prompts/support.yaml:3", "YAML syntax error"),
    ("yaml-syntax-suite", {"suites/triage.yaml": "prompts: [support.triage\ncases: []\n"},
     [], "suites/triage.yaml:2", "YAML syntax error"),
    ("yaml-tab-indent", {"suites/triage.yaml": "prompts: [support.triage]\ncases:\n\t- id: x\n"},
     [], "suites/triage.yaml:3", "YAML syntax error"),
    ("duplicate-key", {"suites/triage.yaml": GOOD_SUITE + "prompts: [x]\n"},
     [], "suites/triage.yaml:7", "duplicate key 'prompts'"),
    ("suite-not-mapping", {"suites/triage.yaml": "- just\n- a list\n"},
     [], "suites/triage.yaml:1", "expected a mapping"),
    ("unknown-suite-key", {"suites/triage.yaml": GOOD_SUITE + "repeats: 3\n"},
     [], "suites/triage.yaml:7", "unknown key 'repeats'"),
    ("unknown-case-key", {"suites/triage.yaml": GOOD_SUITE.replace("    vars:", "    vras:")},
     [], "suites/triage.yaml:4", "unknown key 'vras'"),
    ("unknown-param", {"prompts/support.yaml": GOOD_PROMPTS.replace("max_tokens", "tempreature")},
     [], "prompts/support.yaml:3", "unknown key 'tempreature'"),
    ("wrong-type-repeat", {"suites/triage.yaml": GOOD_SUITE + "repeat: three\n"},
     [], "suites/triage.yaml:7", "repeat"),
    ("negative-repeat", {"suites/triage.yaml": GOOD_SUITE + "repeat: 0\n"},
     [], "suites/triage.yaml:7", "repeat must be a whole number >= 1 or 'auto', got 0"),
    ("temperature-out-of-range",
     {"prompts/support.yaml": GOOD_PROMPTS.replace("max_tokens: 8", "temperature: 9")},
     [], "prompts/support.yaml:3", "temperature"),
    ("missing-cases", {"suites/triage.yaml": "prompts: [support.triage]\n"},
     [], "suites/triage.yaml:1", "missing required key 'cases'"),
    ("case-without-id", {"suites/triage.yaml": GOOD_SUITE.replace("  - id: one\n    vars",
                                                                  "  - vars")},
     [], "suites/triage.yaml:3", "needs an 'id'"),
    ("duplicate-case-id", {"suites/triage.yaml": GOOD_SUITE + "  - id: one\n    vars: {}\n"},
     [], "suites/triage.yaml:7", "duplicate case id 'one'"),
    ("unknown-prompt", {"suites/triage.yaml": GOOD_SUITE.replace("support.triage",
                                                                 "support.triag")},
     [], "suites/triage.yaml:1", "unknown prompt 'support.triag'"),
    ("unknown-model-in-suite", {"suites/triage.yaml": GOOD_SUITE + "models: [gpt5]\n"},
     ["--model-from-suite"], "suites/triage.yaml:7", "unknown model 'gpt5'"),
    ("undefined-variable", {"suites/triage.yaml": GOOD_SUITE.replace("ticket:", "tiket:")},
     [], "prompts/support.yaml:9", "(case 'one' of suites/triage.yaml:3): 'ticket' is undefined"),
    ("template-syntax", {"prompts/support.yaml": GOOD_PROMPTS.replace("{{ ticket }}",
                                                                       "{{ ticket }")},
     [], "prompts/support.yaml:9", "template syntax error"),
    # a one-line block scalar: its text is on the line after `content: |`
    ("template-syntax-one-line-block", {"prompts/support.yaml": GOOD_PROMPTS.replace(
        'content: "Ticket: {{ ticket }}"', "content: |\n          Ticket: {{ ticket }")},
     [], "prompts/support.yaml:10", "template syntax error"),
    ("template-unknown-filter", {"prompts/support.yaml": GOOD_PROMPTS.replace(
        "join(\", \")", "joinn")}, [], "prompts/support.yaml:7", "joinn"),
    ("both-template-and-messages", {"prompts/support.yaml": GOOD_PROMPTS.replace(
        "    messages:", "    template: hi\n    messages:")},
     [], "prompts/support.yaml:2", "exactly one of 'template', 'messages', 'template_file' or"),
    ("bad-role", {"prompts/support.yaml": GOOD_PROMPTS.replace("role: system", "role: bot")},
     [], "prompts/support.yaml:6", "role"),
    ("unknown-assertion", {"suites/triage.yaml": GOOD_SUITE.replace("icontains", "icontians")},
     [], "suites/triage.yaml:6", "unknown assertion type 'icontians'"),
    ("bad-regex", {"suites/triage.yaml": GOOD_SUITE.replace(
        "{type: icontains, value: billing}", "{type: regex, value: '(unclosed'}")},
     [], "suites/triage.yaml:6", "regex"),
    ("bad-json-schema", {"suites/triage.yaml": GOOD_SUITE.replace(
        "{type: icontains, value: billing}", "{type: json-schema, value: {type: 12}}")},
     [], "suites/triage.yaml:6", "schema"),
    ("unknown-assertion-option", {"suites/triage.yaml": GOOD_SUITE.replace(
        "{type: icontains, value: billing}", "{type: length, max_word: 3}")},
     [], "suites/triage.yaml:6", "max_word"),
    ("missing-assertion-value", {"suites/triage.yaml": GOOD_SUITE.replace(
        "{type: icontains, value: billing}", "{type: contains}")},
     [], "suites/triage.yaml:6", "value"),
    ("missing-data-file", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/nope.csv\n"},
     [], "suites/triage.yaml:7", "data file 'data/nope.csv' not found"),
    ("data-file-wrong-ext", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/x.txt\n",
                             "suites/data/x.txt": "id\n1\n"},
     [], "suites/triage.yaml:7", "must be .csv or .jsonl"),
    ("csv-ragged-row", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/t.csv\n",
                        "suites/data/t.csv": "id,ticket\na,fine\nb,too,many\n"},
     [], "suites/data/t.csv:3", "row has 3 fields"),
    ("jsonl-bad-line", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/t.jsonl\n",
                        "suites/data/t.jsonl": '{"id": "a", "ticket": "x"}\n{"id": "b",\n'},
     [], "suites/data/t.jsonl:2", "invalid JSON"),
    ("jsonl-not-object", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/t.jsonl\n",
                          "suites/data/t.jsonl": '["a", "b"]\n'},
     [], "suites/data/t.jsonl:1", "expected a JSON object"),
    ("data-file-not-utf8", {"suites/triage.yaml": GOOD_SUITE + "  - from: data/t.csv\n"},
     ["--latin1-data"], "suites/triage.yaml:7", "cannot read data file"),
    ("config-unknown-key", {"promptctl.yaml": "modles:\n  default: {provider: echo}\n"},
     [], "promptctl.yaml:1", "unknown key 'modles'"),
    ("config-unknown-provider", {"promptctl.yaml": "models:\n  default: {provider: ech}\n"},
     [], "promptctl.yaml:2", "unknown provider 'ech'"),
    ("prompts-not-mapping", {"prompts/support.yaml": "prompts: [a, b]\n"},
     [], "prompts/support.yaml:1", "prompts"),
    ("assert-not-list", {"suites/triage.yaml": GOOD_SUITE.replace(
        "    assert:\n      - {type: icontains, value: billing}",
        "    assert: {type: icontains}")}, [], "suites/triage.yaml:5", "assert"),
    ("undefined-var-in-assert-value", {"suites/triage.yaml": GOOD_SUITE.replace(
        "value: billing", "value: '{{ expected }}'")},
     [], "suites/triage.yaml:6", "'expected' is undefined"),
]



class Broken(NamedTuple):
    """One broken project: the files written over the good one, the culprit's
    `file:line` every command must name, and a fragment of the message."""

    name: str
    files: dict[str, str | bytes]
    where: str
    fragment: str
    run: tuple[str, ...] | None = ("run", "-q", "-m", "echo")  # None: only lint sees it
    lint: bool = True  # lint must report it too (an error at `where`)
    check: bool = True  # check (the CI gate) must refuse it the same way


def _from_old(entry: tuple) -> Broken:
    name, files, flags, where, fragment = entry
    files = dict(files)
    run: tuple[str, ...] = ("run", "-q") if "--model-from-suite" in flags \
        else ("run", "-q", "-m", "echo")
    if "--latin1-data" in flags:
        files["suites/data/t.csv"] = "id,ticket\na,caf\xe9\n".encode("latin-1")
    return Broken(name, files, where, fragment, run,
                  lint="--latin1-data" not in flags and not name.startswith("config-"))


def P(old: str, new: str) -> dict[str, str]:
    """The good prompt collection with one edit."""
    assert old in GOOD_PROMPTS, old
    return {"prompts/support.yaml": GOOD_PROMPTS.replace(old, new, 1)}


def S(old: str, new: str) -> dict[str, str]:
    """The good suite with one edit."""
    assert old in GOOD_SUITE, old
    return {"suites/triage.yaml": GOOD_SUITE.replace(old, new, 1)}


def SP(extra: str, **files: str) -> dict[str, str]:
    """The good suite with lines appended (they start on line 7)."""
    return {"suites/triage.yaml": GOOD_SUITE + extra,
            **{k.replace("__", "/").replace("_DOT_", "."): v for k, v in files.items()}}


def A(assertion: str) -> dict[str, str]:
    """The good suite's assertion (line 6) replaced."""
    return S("{type: icontains, value: billing}", assertion)


def C(config: str, **more: str) -> dict[str, str]:
    return {"promptctl.yaml": config, **more}


TICKET = "Ticket: {{ ticket }}"
ON_DEFAULT = ("run", "-q")  # the suite's own models: the default alias
MODEL = "models:\n  default: {provider: echo}\n"

MORE = [
    # -- promptctl.yaml: top-level keys -----------------------------------------
    Broken("config-not-mapping", C("- a\n- b\n"), "promptctl.yaml:1", "expected a mapping"),
    Broken("config-yaml-syntax", C("models: {a: [\n"), "promptctl.yaml:2", "YAML syntax error"),
    Broken("config-duplicate-key", C("judge: echo\njudge: echo\n"), "promptctl.yaml:2",
           "duplicate key 'judge'"),
    Broken("config-description-list", C("description: [a]\n"), "promptctl.yaml:1",
           "description"),
    Broken("config-models-list", C("models: [a, b]\n"), "promptctl.yaml:1", "models"),
    Broken("config-judge-unknown", C("judge: nope\n"), "promptctl.yaml:1",
           "unknown model 'nope'"),
    Broken("config-judge-typo", C("models:\n  grader: {provider: echo}\njudge: grder\n"),
           "promptctl.yaml:3", "did you mean 'grader'"),
    Broken("config-embedder-unknown", C("embedder: vectors\n"), "promptctl.yaml:1",
           "unknown model 'vectors'"),
    Broken("config-embedder-list", C("embedder: [a]\n"), "promptctl.yaml:1", "embedder"),
    Broken("config-paths-unknown-key", C("paths: {promts: p}\n"), "promptctl.yaml:1",
           "unknown key 'promts'"),
    Broken("config-paths-not-mapping", C("paths: prompts\n"), "promptctl.yaml:1", "paths"),
    Broken("config-paths-suites-missing", C("paths: {suites: tests/llm}\n"),
           "promptctl.yaml:1", "no suites directory at tests/llm", lint=False),
    Broken("config-paths-prompts-missing", C("paths:\n  prompts: templates\n"),
           "promptctl.yaml:2", "paths.prompts 'templates': no such directory"),
    Broken("config-paths-state-not-string", C("paths: {state: [a]}\n"), "promptctl.yaml:1",
           "state"),
    Broken("config-cache-max-mb-zero", C("cache: {max_mb: 0}\n"), "promptctl.yaml:1",
           "max_mb"),
    Broken("config-cache-unknown-key", C("cache:\n  size: 3\n"), "promptctl.yaml:2",
           "unknown key 'size'"),
    Broken("config-limits-check-timeout", C("limits: {check_timeout: 0}\n"),
           "promptctl.yaml:1", "check_timeout"),
    Broken("config-limits-render-timeout", C("limits:\n  render_timeout: -1\n"),
           "promptctl.yaml:2", "render_timeout"),
    Broken("config-limits-max-prompt-chars", C("limits: {max_prompt_chars: 0}\n"),
           "promptctl.yaml:1", "max_prompt_chars"),
    Broken("config-limits-unknown-key", C("limits: {timeout: 3}\n"), "promptctl.yaml:1",
           "unknown key 'timeout'"),
    # -- promptctl.yaml: every key of a model entry -------------------------------
    Broken("model-not-mapping", C("models:\n  m: echo\n"), "promptctl.yaml:2",
           "expected a mapping"),
    Broken("model-alias-empty", C("models:\n  '': {provider: echo}\n"), "promptctl.yaml:2",
           "key ''"),
    Broken("model-provider-missing", C("models:\n  m: {model: x}\n"), "promptctl.yaml:2",
           "missing required key 'provider'"),
    Broken("model-unknown-key", C("models:\n  m:\n    provider: echo\n    temprature: 0\n"),
           "promptctl.yaml:4", "unknown key 'temprature'"),
    Broken("model-gguf-missing",
           C("models:\n  default: {provider: llama-cpp, model: models/nope.gguf}\n"),
           "promptctl.yaml:2", "model file not found: models/nope.gguf", run=ON_DEFAULT),
    Broken("model-gguf-missing-unused",
           C("models:\n  default: {provider: echo}\n  big:\n    provider: llama-cpp\n"
             "    model: ~/models/nope-70b.gguf\n"),
           "promptctl.yaml:5", "model file not found", run=None),
    Broken("model-llama-without-model", C("models:\n  default: {provider: llama-cpp}\n"),
           "promptctl.yaml:2", "needs 'model'", run=ON_DEFAULT),
    Broken("model-base-url-no-scheme",
           C("models:\n  gpt:\n    provider: openai\n    model: gpt-4o-mini\n"
             "    base_url: localhost:8080/v1\n"), "promptctl.yaml:5", "base_url"),
    Broken("model-base-url-ftp",
           C("models:\n  gpt: {provider: openai, base_url: 'ftp://h/v1'}\n"),
           "promptctl.yaml:2", "is not a valid http(s) URL"),
    Broken("model-base-url-no-host",
           C("models:\n  gpt:\n    provider: openai\n    base_url: 'http:///v1'\n"),
           "promptctl.yaml:4", "with a host"),
    Broken("model-base-url-bad-port",
           C("models:\n  gpt:\n    provider: openai\n    base_url: 'http://h:port/v1'\n"),
           "promptctl.yaml:4", "base_url"),
    Broken("model-base-url-words",
           C("models:\n  gpt:\n    provider: openai\n    base_url: my local server\n"),
           "promptctl.yaml:4", "base_url", run=("run", "-q", "-m", "gpt")),
    Broken("model-api-key-list", C("models:\n  gpt:\n    provider: openai\n    api_key: [k]\n"),
           "promptctl.yaml:4", "api_key"),
    Broken("model-api-key-env-int",
           C("models:\n  gpt:\n    provider: openai\n    api_key_env: 5\n"),
           "promptctl.yaml:4", "api_key_env"),
    Broken("model-params-unknown", C("models:\n  m:\n    provider: echo\n"
                                     "    params: {temprature: 0}\n"),
           "promptctl.yaml:4", "unknown key 'temprature'"),
    Broken("model-params-temperature", C("models:\n  m:\n    provider: echo\n"
                                         "    params:\n      temperature: 3\n"),
           "promptctl.yaml:5", "temperature"),
    Broken("model-concurrency-zero", C("models:\n  m: {provider: echo, concurrency: 0}\n"),
           "promptctl.yaml:2", "concurrency"),
    Broken("model-timeout-zero", C("models:\n  m:\n    provider: echo\n    timeout: 0\n"),
           "promptctl.yaml:4", "timeout"),
    Broken("model-max-retries-negative",
           C("models:\n  m:\n    provider: echo\n    max_retries: -1\n"),
           "promptctl.yaml:4", "max_retries"),
    Broken("model-n-ctx-tiny", C("models:\n  m:\n    provider: llama-cpp\n    n_ctx: 10\n"),
           "promptctl.yaml:4", "n_ctx"),
    Broken("model-n-threads-zero",
           C("models:\n  m:\n    provider: llama-cpp\n    n_threads: 0\n"),
           "promptctl.yaml:4", "n_threads"),
    Broken("model-n-gpu-layers-word",
           C("models:\n  m:\n    provider: llama-cpp\n    n_gpu_layers: all\n"),
           "promptctl.yaml:4", "n_gpu_layers"),
    Broken("model-price-negative",
           C("models:\n  m:\n    provider: echo\n    price:\n      input: -0.001\n"),
           "promptctl.yaml:5", "greater than or equal to 0"),
    Broken("model-price-unknown-key",
           C("models:\n  m:\n    provider: echo\n    price:\n      input: 0.1\n"
             "      outptu: 0.2\n"), "promptctl.yaml:6", "key 'outptu'"),
    Broken("model-price-not-mapping",
           C("models:\n  m:\n    provider: echo\n    price: 0.1\n"), "promptctl.yaml:4",
           "price"),
    # -- generation params (prompt line 3; suite, case and defaults too) ----------
    Broken("param-top-p-zero", P("max_tokens: 8", "top_p: 0"), "prompts/support.yaml:3",
           "top_p"),
    Broken("param-top-p-big", P("max_tokens: 8", "top_p: 1.5"), "prompts/support.yaml:3",
           "top_p"),
    Broken("param-top-k-negative", P("max_tokens: 8", "top_k: -1"),
           "prompts/support.yaml:3", "top_k"),
    Broken("param-max-tokens-zero", P("max_tokens: 8", "max_tokens: 0"),
           "prompts/support.yaml:3", "max_tokens"),
    Broken("param-seed-word", P("max_tokens: 8", "seed: abc"), "prompts/support.yaml:3",
           "seed"),
    Broken("param-stop-mapping", P("max_tokens: 8", "stop: {a: 1}"),
           "prompts/support.yaml:3", "stop"),
    Broken("param-presence-penalty-word", P("max_tokens: 8", "presence_penalty: high"),
           "prompts/support.yaml:3", "presence_penalty"),
    Broken("param-frequency-penalty-list", P("max_tokens: 8", "frequency_penalty: [1]"),
           "prompts/support.yaml:3", "frequency_penalty"),
    Broken("param-logprobs-word", P("max_tokens: 8", "logprobs: maybe"),
           "prompts/support.yaml:3", "logprobs"),
    Broken("param-response-format-word", P("max_tokens: 8", "response_format: 5"),
           "prompts/support.yaml:3", "response_format"),
    Broken("param-response-format-type", P("max_tokens: 8", "response_format: {type: yaml}"),
           "prompts/support.yaml:3", "unknown response_format type 'yaml'"),
    Broken("param-response-format-no-schema",
           P("max_tokens: 8", "response_format: {type: json_schema}"),
           "prompts/support.yaml:3", "needs a 'schema'"),
    Broken("param-response-format-invalid-schema",
           P("max_tokens: 8", "response_format: {type: json_schema, schema: {type: 12}}"),
           "prompts/support.yaml:3", "not a valid JSON Schema"),
    Broken("param-response-format-openai-invalid-schema",
           P("params: {max_tokens: 8}", "params:\n      response_format:\n"
             "        type: json_schema\n        json_schema:\n"
             "          schema: {type: object, properties: 3}"),
           "prompts/support.yaml:4", "not a valid JSON Schema"),
    Broken("param-suite-unknown", SP("params: {max_token: 3}\n"), "suites/triage.yaml:7",
           "unknown key 'max_token'"),
    Broken("param-case-seed-word",
           S("    vars: {ticket", "    params: {seed: x}\n    vars: {ticket"),
           "suites/triage.yaml:4", "seed"),
    Broken("param-defaults-temperature", SP("defaults:\n  params: {temperature: -1}\n"),
           "suites/triage.yaml:8", "temperature"),
    Broken("param-suite-response-format-invalid-schema",
           SP("params:\n  response_format:\n    type: json_schema\n"
              "    schema: {type: object, required: yes}\n"),
           "suites/triage.yaml:8", "not a valid JSON Schema"),
    # -- prompt collections: every key ---------------------------------------------
    Broken("coll-name-empty", {"prompts/support.yaml": "name: ''\n" + GOOD_PROMPTS.lstrip()},
           "prompts/support.yaml:1", "must not be empty"),
    Broken("coll-name-list", {"prompts/support.yaml": "name: [a]\n" + GOOD_PROMPTS.lstrip()},
           "prompts/support.yaml:1", "name"),
    Broken("coll-description-list",
           {"prompts/support.yaml": "description: [a]\n" + GOOD_PROMPTS.lstrip()},
           "prompts/support.yaml:1", "description"),
    Broken("coll-unknown-key", {"prompts/support.yaml": "descripton: x\n" + GOOD_PROMPTS.lstrip()},
           "prompts/support.yaml:1", "unknown key 'descripton'"),
    Broken("coll-prompts-missing", {"prompts/support.yaml": "name: support\n"},
           "prompts/support.yaml:1", "missing required key 'prompts'"),
    Broken("coll-prompts-empty", {"prompts/support.yaml": "prompts: {}\n"},
           "prompts/support.yaml:1", "'prompts' is empty"),
    Broken("prompt-name-empty", P("  triage:", "  '':"), "prompts/support.yaml:2",
           "key ''"),
    Broken("prompt-not-mapping", {"prompts/support.yaml": "prompts:\n  triage: hello\n"},
           "prompts/support.yaml:2", "triage"),
    Broken("prompt-unknown-key", P("  triage:\n", "  triage:\n    tempalte: x\n"),
           "prompts/support.yaml:3", "unknown key 'tempalte'"),
    Broken("prompt-description-list", P("  triage:\n", "  triage:\n    description: [a]\n"),
           "prompts/support.yaml:3", "description"),
    Broken("prompt-version-list", P("  triage:\n", "  triage:\n    version: [1]\n"),
           "prompts/support.yaml:3", "version"),
    Broken("prompt-tags-mapping", P("  triage:\n", "  triage:\n    tags: {a: 1}\n"),
           "prompts/support.yaml:3", "tags"),
    Broken("prompt-no-body", {"prompts/support.yaml": "prompts:\n  triage:\n    vars: {}\n"},
           "prompts/support.yaml:2", "exactly one of 'template', 'messages', 'template_file' or"),
    Broken("prompt-messages-empty",
           {"prompts/support.yaml": "prompts:\n  triage:\n    messages: []\n"},
           "prompts/support.yaml:2", "'messages' is empty"),
    Broken("prompt-messages-not-list",
           {"prompts/support.yaml": "prompts:\n  triage:\n    messages: hello\n"},
           "prompts/support.yaml:3", "messages"),
    Broken("prompt-template-int",
           {"prompts/support.yaml": "prompts:\n  triage:\n    template: 5\n"},
           "prompts/support.yaml:3", "template"),
    Broken("message-role-missing", P("      - role: system\n        content:", "      - content:"),
           "prompts/support.yaml:6", "missing required key 'role'"),
    Broken("message-content-missing",
           P("      - role: user\n        content: \"Ticket: {{ ticket }}\"", "      - role: user"),
           "prompts/support.yaml:8", "missing required key 'content'"),
    Broken("message-unknown-key",
           P("      - role: user\n", "      - role: user\n        name: bob\n"),
           "prompts/support.yaml:9", "unknown key 'name'"),
    Broken("message-content-list", P("content: \"Ticket: {{ ticket }}\"", "content: [a]"),
           "prompts/support.yaml:9", "content"),
    Broken("examples-not-list", P("  triage:\n", "  triage:\n    examples: {user: a}\n"),
           "prompts/support.yaml:3", "examples"),
    Broken("example-assistant-missing",
           P("  triage:\n", "  triage:\n    examples:\n      - {user: hi}\n"),
           "prompts/support.yaml:4", "missing required key 'assistant'"),
    Broken("example-unknown-key",
           P("  triage:\n",
             "  triage:\n    examples:\n      - {user: a, assistant: b, system: c}\n"),
           "prompts/support.yaml:4", "unknown key 'system'"),
    Broken("example-template-syntax",
           P("  triage:\n", "  triage:\n    examples:\n      - {user: '{{ x', assistant: ok}\n"),
           "prompts/support.yaml:4", "template syntax error"),
    Broken("example-template-undefined",
           P("  triage:\n",
             "  triage:\n    examples:\n      - {user: '{{ nope }}', assistant: ok}\n"),
           "prompts/support.yaml:4", "'nope' is undefined"),
    Broken("prompt-vars-list", P("vars: {teams: [billing, shipping]}", "vars: [teams]"),
           "prompts/support.yaml:4", "vars"),
    Broken("prompt-params-not-mapping", P("params: {max_tokens: 8}", "params: 8"),
           "prompts/support.yaml:3", "params"),
    Broken("prompt-defined-twice",
           {"prompts/other.yaml": "name: support\nprompts:\n  triage: {template: hi}\n"},
           "prompts/support.yaml:2", "defined twice"),
    # -- template errors: the template's own file and line, and the case ----------
    Broken("template-undefined-system-line", P("vars: {teams: [billing, shipping]}", "vars: {}"),
           "prompts/support.yaml:7", "(case 'one' of suites/triage.yaml:3): 'teams' is undefined"),
    Broken("template-block-scalar-line",
           {"prompts/support.yaml": "prompts:\n  triage:\n    template: |\n      Route it.\n"
            "      Ticket: {{ ticket }}\n      Extra: {{ nope }}\n"},
           "prompts/support.yaml:6", "'nope' is undefined"),
    Broken("template-missing-include", P(TICKET, "{% include 'nope.j2' %}"),
           "prompts/support.yaml:9", "included template 'nope.j2' not found"),
    Broken("template-include-escapes-prompts",
           {**P(TICKET, "{% include '../secret.txt' %}"), "secret.txt": "token\n"},
           "prompts/support.yaml:9", "included template '../secret.txt' not found"),
    Broken("template-include-absolute", P(TICKET, "{% include '/etc/hostname' %}"),
           "prompts/support.yaml:9", "not found"),
    Broken("template-recursive-include",
           {**P(TICKET, "{% include 'a.j2' %}"), "prompts/a.j2": "again {% include 'a.j2' %}\n"},
           "prompts/a.j2:1", "itself"),
    Broken("template-undefined-in-include",
           {**P(TICKET, "{% include 'a.j2' %}"), "prompts/a.j2": "line one\n{{ nope }}\n"},
           "prompts/a.j2:2", "'nope' is undefined"),
    Broken("template-syntax-in-include",
           {**P(TICKET, "{% include 'a.j2' %}"), "prompts/a.j2": "line one\n{{ nope }\n"},
           "prompts/a.j2:2", "template syntax error in included file"),
    Broken("template-missing-macro",
           {**P(TICKET, "{% from 'm.j2' import nope %}{{ nope() }}"),
            "prompts/m.j2": "{% macro yes() %}y{% endmacro %}\n"},
           "prompts/support.yaml:9", "nope"),
    Broken("template-import-missing-file", P(TICKET, "{% import 'nope.j2' as m %}{{ m.x() }}"),
           "prompts/support.yaml:9", "'nope.j2' not found"),
    Broken("template-unsafe-getattr", P(TICKET, "{{ ticket.__class__ }}"),
           "prompts/support.yaml:9", "__class__"),
    Broken("template-unsafe-getitem", P(TICKET, "{{ ticket['__class__'] }}"),
           "prompts/support.yaml:9", "__class__"),
    Broken("template-unsafe-attr-filter", P(TICKET, "{{ ticket | attr('__class__') }}"),
           "prompts/support.yaml:9", "__class__"),
    Broken("template-unsafe-in-include",
           {**P(TICKET, "{% include 'a.j2' %}"), "prompts/a.j2": "x\ny\n{{ ticket.__init__ }}\n"},
           "prompts/a.j2:3", "__init__"),
    Broken("template-division-by-zero", P(TICKET, "{{ ticket }} {{ 1 // 0 }}"),
           "prompts/support.yaml:9", "ZeroDivisionError"),
    Broken("template-filter-wrong-type", P(TICKET, "{{ ticket | round }}"),
           "prompts/support.yaml:9", "error while rendering"),
    Broken("template-call-non-callable", P(TICKET, "{{ ticket() }}"),
           "prompts/support.yaml:9", "not callable"),
    Broken("template-missing-method", P(TICKET, "{{ ticket.shout() }}"),
           "prompts/support.yaml:9", "has no attribute 'shout'"),
    Broken("template-unknown-test", P(TICKET, "{% if ticket is loud %}x{% endif %}"),
           "prompts/support.yaml:9", "loud"),
    Broken("template-recursive-macro",
           P(TICKET, "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
           "prompts/support.yaml:9", "recurses"),
    # -- suites: every key ---------------------------------------------------------
    Broken("suite-description-list", SP("description: [a]\n"), "suites/triage.yaml:7",
           "description"),
    Broken("suite-prompts-missing", {"suites/triage.yaml": GOOD_SUITE.replace(
        "prompts: [support.triage]\n", "")}, "suites/triage.yaml:1",
        "missing required key 'prompts'"),
    Broken("suite-prompts-int", S("prompts: [support.triage]", "prompts: 5"),
           "suites/triage.yaml:1", "prompts"),
    Broken("suite-prompts-empty", S("prompts: [support.triage]", "prompts: []"),
           "suites/triage.yaml:1", "'prompts' is empty"),
    Broken("suite-models-empty", SP("models: []\n"), "suites/triage.yaml:7",
           "'models' is empty", run=ON_DEFAULT),
    Broken("suite-models-gguf-missing", SP("models: [weights/nope.gguf]\n"),
           "suites/triage.yaml:7", "model file not found", run=ON_DEFAULT),
    Broken("suite-repeat-bool", SP("repeat: true\n"), "suites/triage.yaml:7", "repeat"),
    Broken("suite-tags-mapping", SP("tags: {a: 1}\n"), "suites/triage.yaml:7", "tags"),
    Broken("suite-max-drop-big", SP("max_drop: 2\n"), "suites/triage.yaml:7", "max_drop"),
    Broken("suite-max-drop-negative", SP("max_drop: -0.1\n"), "suites/triage.yaml:7",
           "max_drop"),
    Broken("suite-cases-empty", {"suites/triage.yaml": "prompts: [support.triage]\ncases: []\n"},
           "suites/triage.yaml:2", "'cases' is empty"),
    Broken("suite-cases-mapping",
           {"suites/triage.yaml": "prompts: [support.triage]\ncases: {id: one}\n"},
           "suites/triage.yaml:2", "cases"),
    Broken("defaults-not-mapping", SP("defaults: [a]\n"), "suites/triage.yaml:7", "defaults"),
    Broken("defaults-unknown-key", SP("defaults:\n  var: {}\n"), "suites/triage.yaml:8",
           "unknown key 'var'"),
    Broken("defaults-vars-list", SP("defaults:\n  vars: [a]\n"), "suites/triage.yaml:8",
           "vars"),
    Broken("defaults-assert-not-list", SP("defaults:\n  assert: {type: contains}\n"),
           "suites/triage.yaml:8", "assert"),
    Broken("defaults-threshold-big", SP("defaults:\n  threshold: 2\n"),
           "suites/triage.yaml:8", "threshold"),
    Broken("defaults-assert-unknown-type", SP("defaults:\n  assert:\n    - {type: nope}\n"),
           "suites/triage.yaml:9", "unknown assertion type 'nope'"),
    # -- cases: every key ----------------------------------------------------------
    Broken("case-not-mapping",
           {"suites/triage.yaml": "prompts: [support.triage]\ncases:\n  - one\n"},
           "suites/triage.yaml:3", "expected a mapping"),
    Broken("case-id-empty", S("id: one", "id: ''"), "suites/triage.yaml:3",
           "must not be empty"),
    Broken("case-id-blank", S("id: one", "id: '   '"), "suites/triage.yaml:3",
           "must not be empty"),
    Broken("case-id-list", S("id: one", "id: [a]"), "suites/triage.yaml:3", "id"),
    Broken("case-id-float", S("id: one", "id: 1.5"), "suites/triage.yaml:3", "id"),
    Broken("case-description-list", S("    vars:", "    description: [a]\n    vars:"),
           "suites/triage.yaml:4", "description"),
    Broken("case-vars-list", S("vars: {ticket: \"charged twice\"}", "vars: [ticket]"),
           "suites/triage.yaml:4", "vars"),
    Broken("case-threshold-negative", S("    vars:", "    threshold: -0.5\n    vars:"),
           "suites/triage.yaml:4", "threshold"),
    Broken("case-params-not-mapping", S("    vars:", "    params: hot\n    vars:"),
           "suites/triage.yaml:4", "params"),
    # -- one data file, several entries (an entry's `id` is its rows' prefix) -------
    Broken("data-file-twice-unprefixed",
           SP("  - from: data/t.csv\n  - from: data/t.csv\n",
              suites__data__t_DOT_csv="id,ticket\na,b\n"),
           "suites/triage.yaml:8", "feeds two entries without an 'id' prefix (the other "
           "at suites/triage.yaml:7)"),
    Broken("data-file-twice-same-prefix",
           SP("  - {from: data/t.csv, id: p}\n  - {from: ../suites/data/t.csv, id: p}\n",
              suites__data__t_DOT_csv="id,ticket\na,b\n"),
           "suites/triage.yaml:8", "with the same 'id' prefix 'p'"),
    Broken("data-file-prefix-collides", SP("  - {from: data/t.csv, id: p}\n  - id: p/a\n",
                                           suites__data__t_DOT_csv="id,ticket\na,b\n"),
           "suites/triage.yaml:8", "duplicate case id 'p/a'"),
    # -- assertion sets ---------------------------------------------------------------
    Broken("use-unknown-set", A("{use: polite}"), "suites/triage.yaml:6",
           "unknown assertion set 'polite'"),
    Broken("use-misspelt-set", {**A("{use: [short, polit]}"), **C(
        "assert_sets:\n  short: [{type: length, max_words: 9}]\n"
        "  polite: [{type: not-icontains, value: stupid}]\n")},
           "suites/triage.yaml:6", "did you mean 'polite'?"),
    Broken("use-with-weight", A("{use: x, weight: 2}"), "suites/triage.yaml:6",
           "unknown key 'weight' in a 'use' item"),
    Broken("use-empty-list", A("{use: []}"), "suites/triage.yaml:6", "'use' is empty"),
    Broken("set-empty", SP("assert_sets:\n  x: []\n"), "suites/triage.yaml:8",
           "'x' is empty"),
    Broken("set-cycle", SP("assert_sets:\n  x: [{use: y}]\n  y:\n    - {type: length, "
                           "max_words: 9}\n    - use: x\n"),
           "suites/triage.yaml:11", "assertion set 'x' uses itself: x -> y -> x"),
    Broken("set-uses-itself", C("assert_sets:\n  x:\n    - use: x\n"),
           "promptctl.yaml:3", "assertion set 'x' uses itself: x -> x"),
    Broken("set-unused-uses-unknown", SP("assert_sets:\n  x: [{use: nope}]\n"),
           "suites/triage.yaml:8", "unknown assertion set 'nope'"),
    Broken("config-set-uses-suite-set", {
        **C("assert_sets:\n  outer: [{use: inner}]\n"),
        **SP("assert_sets:\n  inner: [{type: length, max_words: 9}]\n")},
           "promptctl.yaml:2", "unknown assertion set 'inner'"),
    Broken("set-bad-assertion-in-config", {**A("{use: short}"), **C(
        "assert_sets:\n  short:\n    - {type: contains, value: x}\n"
        "    - {type: lenght, max_words: 9}\n")},
           "promptctl.yaml:4", "unknown assertion type 'lenght'"),
    Broken("set-bad-option-in-suite", {"suites/triage.yaml": A("{use: short}")[
        "suites/triage.yaml"] + "assert_sets:\n  short:\n    - type: length\n"
        "      max_wrds: 9\n"},
           "suites/triage.yaml:10", "unknown option 'max_wrds'"),
    Broken("assertion-without-type", A("{value: x}"), "suites/triage.yaml:6",
           "missing required key 'type'"),
    # -- matrix -----------------------------------------------------------------------
    Broken("matrix-empty-list", S("    vars:", "    matrix:\n      lang: []\n    vars:"),
           "suites/triage.yaml:5", "'lang' is empty"),
    Broken("matrix-not-a-list", S("    vars:", "    matrix: {lang: en}\n    vars:"),
           "suites/triage.yaml:4", "matrix.lang: Input should be a valid list"),
    Broken("matrix-defaults-not-mapping", SP("defaults:\n  matrix: [a, b]\n"),
           "suites/triage.yaml:8", "matrix"),
    Broken("matrix-key-also-a-var", S("    vars:", "    matrix: {ticket: [a, b]}\n    vars:"),
           "suites/triage.yaml:5", "case 'one' sets var 'ticket', which is also a matrix key"),
    Broken("matrix-key-also-a-column", {
        "suites/triage.yaml": GOOD_SUITE.replace("  - id: one\n", "  - from: data/t.csv\n"
                                                 "  - id: one\n") +
        "defaults:\n  matrix: {ticket: [x]}\n", "suites/data/t.csv": "id,ticket\na,b\n"},
           "suites/data/t.csv:2", "row 'a' sets var 'ticket', which is also a matrix key"),
    Broken("matrix-too-large", S("    vars:", "    matrix: {a: [" + ", ".join(
        map(str, range(101))) + "], b: [" + ", ".join(map(str, range(100))) + "]}\n"
        "    vars:"), "suites/triage.yaml:4", "matrix makes 10,100 combinations, more than "
           "10,000 per case"),
    Broken("matrix-ids-collide", S("  - id: one\n", "  - id: one[b]\n    vars: {ticket: x}\n"
                                   "  - id: one\n    matrix: {k: [a, b]}\n"),
           "suites/triage.yaml:5", "duplicate case id 'one[b]'"),
    Broken("matrix-on-a-row", SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=(
        '{"id": "r", "vars": {"ticket": "t"}, "matrix": {"k": [1, 2]}}\n')),
           "suites/data/t.jsonl:1", "a data row cannot have a 'matrix'"),
    Broken("case-from-empty", SP("  - from: ''\n"), "suites/triage.yaml:7",
           "must not be empty"),
    Broken("case-from-directory", SP("  - from: data\n", suites__data__t_DOT_csv="id\na\n"),
           "suites/triage.yaml:7", "is a directory, not a regular file"),
    # -- data files -----------------------------------------------------------------
    Broken("csv-empty-column-name", SP("  - from: data/t.csv\n",
                                       suites__data__t_DOT_csv="id,,ticket\na,b,c\n"),
           "suites/data/t.csv:1", "empty column name"),
    Broken("csv-duplicate-column", SP("  - from: data/t.csv\n",
                                      suites__data__t_DOT_csv="id,ticket,ticket\na,b,c\n"),
           "suites/data/t.csv:1", "duplicate column 'ticket'"),
    Broken("csv-header-only", SP("  - from: data/t.csv\n", suites__data__t_DOT_csv="id,ticket\n"),
           "suites/triage.yaml:7", "has no rows"),
    Broken("csv-row-lacks-a-variable", SP("  - from: data/t.csv\n",
                                          suites__data__t_DOT_csv="id,tiket\nrow-a,x\n"),
           "prompts/support.yaml:9", "(case 'row-a' of suites/data/t.csv:2)"),
    Broken("csv-duplicate-id", SP("  - from: data/t.csv\n",
                                  suites__data__t_DOT_csv="id,ticket\na,x\na,y\n"),
           "suites/data/t.csv:3", "duplicate case id 'a'"),
    Broken("jsonl-empty-file", SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=""),
           "suites/triage.yaml:7", "has no rows"),
    Broken("jsonl-not-utf8", {**SP("  - from: data/t.jsonl\n"),
                              "suites/data/t.jsonl": b'{"id": "a", "ticket": "caf\xe9"}\n'},
           "suites/triage.yaml:7", "cannot read data file"),
    Broken("jsonl-row-vars-list", SP("  - from: data/t.jsonl\n",
                                     suites__data__t_DOT_jsonl='{"id": "a", "vars": [1]}\n'),
           "suites/data/t.jsonl:1", "bad row"),
    Broken("jsonl-row-unknown-key",
           SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=(
               '{"id": "a", "vars": {"ticket": "x"}}\n'
               '{"id": "b", "vars": {"ticket": "x"}, "asert": []}\n')),
           "suites/data/t.jsonl:2", "bad row"),
    Broken("jsonl-row-id-list", SP("  - from: data/t.jsonl\n",
                                   suites__data__t_DOT_jsonl='{"id": [1], "ticket": "x"}\n'),
           "suites/data/t.jsonl:1", "bad row"),
    Broken("jsonl-row-unknown-assertion",
           SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=(
               '{"id": "a", "vars": {"ticket": "x"}, "assert": [{"type": "nope"}]}\n')),
           "suites/data/t.jsonl:1", "unknown assertion type 'nope'"),
    Broken("jsonl-row-assert-undefined",
           SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=(
               '  \n{"id": "a", "vars": {"ticket": "x"}, '
               '"assert": [{"type": "contains", "value": "{{ nope }}"}]}\n')),
           "suites/data/t.jsonl:2", "'nope' is undefined"),
    Broken("jsonl-id-clashes-with-case",
           SP("  - from: data/t.jsonl\n",
              suites__data__t_DOT_jsonl='{"id": "one", "ticket": "x"}\n'),
           "suites/data/t.jsonl:1", "duplicate case id 'one'"),
    # -- assertions: every common key, and the types' own values ----------------------
    Broken("assert-type-missing", A("{value: billing}"), "suites/triage.yaml:6",
           "missing required key 'type'"),
    Broken("assert-type-int", A("{type: 5}"), "suites/triage.yaml:6", "type"),
    Broken("assert-not-mapping", A("contains"), "suites/triage.yaml:6", "assert"),
    Broken("assert-not-unknown", A("{type: not-nope, value: x}"), "suites/triage.yaml:6",
           "nope"),
    Broken("assert-threshold-word", A("{type: icontains, value: billing, threshold: high}"),
           "suites/triage.yaml:6", "threshold"),
    Broken("assert-weight-negative", A("{type: icontains, value: billing, weight: -1}"),
           "suites/triage.yaml:6", "weight"),
    Broken("assert-metric-list", A("{type: icontains, value: billing, metric: [a]}"),
           "suites/triage.yaml:6", "metric"),
    Broken("assert-max-drop-big", A("{type: icontains, value: billing, max_drop: 3}"),
           "suites/triage.yaml:6", "max_drop"),
    Broken("assert-transform-syntax", A("{type: icontains, value: billing, transform: 'output |'}"),
           "suites/triage.yaml:6", "transform"),
    Broken("assert-transform-undefined",
           A("{type: icontains, value: billing, transform: 'output ~ suffix'}"),
           "suites/triage.yaml:6", "undefined name 'suffix'"),
    Broken("assert-transform-blank", A("{type: icontains, value: billing, transform: ' '}"),
           "suites/triage.yaml:6", "'transform' is empty"),
    Broken("assert-contains-no-value", A("{type: icontains}"), "suites/triage.yaml:6", "value"),
    Broken("assert-equals-no-value", A("{type: equals}"), "suites/triage.yaml:6", "value"),
    Broken("assert-regex-list", A("{type: regex, value: [1]}"), "suites/triage.yaml:6", "regex"),
    Broken("assert-json-schema-word", A("{type: json-schema, value: hello}"),
           "suites/triage.yaml:6", "schema"),
    Broken("assert-length-word", A("{type: length, max_words: many}"),
           "suites/triage.yaml:6", "max_words"),
    Broken("assert-length-value", A("{type: length, value: 3}"), "suites/triage.yaml:6",
           "length"),
    Broken("assert-levenshtein-no-value", A("{type: levenshtein}"), "suites/triage.yaml:6",
           "value"),
    Broken("assert-latency-value", A("{type: latency, value: 5}"), "suites/triage.yaml:6",
           "latency"),
    Broken("assert-tokens-unknown-option", A("{type: tokens, maximum: 3}"),
           "suites/triage.yaml:6", "maximum"),
    Broken("assert-similar-unknown-embedder", A("{type: similar, value: x, embedder: vec}"),
           "suites/triage.yaml:6", "unknown model 'vec'"),
    Broken("assert-rubric-unknown-judge", A("{type: llm-rubric, value: x, judge: grader}"),
           "suites/triage.yaml:6", "unknown model 'grader'"),
    Broken("assert-judge-prompt-unknown",
           A("{type: llm-rubric, value: x, judge_prompt: support.judge}"),
           "suites/triage.yaml:6", "unknown prompt 'support.judge'"),
    Broken("assert-rouge-n-zero", A("{type: rouge-n, value: x, n: 0}"), "suites/triage.yaml:6",
           "'n' must be a whole number"),
    Broken("assert-bleu-lowercase-word", A("{type: bleu, value: x, lowercase: maybe}"),
           "suites/triage.yaml:6", "'lowercase' must be true or false"),
    Broken("assert-pii-unknown-kind", A("{type: pii, kinds: [nope]}"), "suites/triage.yaml:6",
           "unknown kind of personal data 'nope'"),
    Broken("assert-perplexity-max-negative", A("{type: perplexity, max: -1}"),
           "suites/triage.yaml:6", "max"),
    Broken("assert-cost-max-word", A("{type: cost, max: cheap}"), "suites/triage.yaml:6",
           "'max' must be a number"),
    Broken("assert-latency-negative", A("{type: latency, max_ms: -5}"), "suites/triage.yaml:6",
           "'max_ms' must be a number >= 0"),
    Broken("assert-is-json-number", A("{type: is-json, value: 5}"), "suites/triage.yaml:6",
           "JSON schema"),
    Broken("assert-f1-no-value", A("{type: f1}"), "suites/triage.yaml:6", "needs a 'value'"),
    Broken("assert-starts-with-list", A("{type: starts-with, value: [a]}"),
           "suites/triage.yaml:6", "needs a text 'value'"),
    Broken("assert-is-refusal-value", A("{type: is-refusal, value: x}"),
           "suites/triage.yaml:6", "takes no 'value'"),
    Broken("assert-choice-one-label", A("{type: choice, value: a}"), "suites/triage.yaml:6",
           "at least two labels"),
    Broken("assert-similar-threshold-big", A("{type: similar, value: x, threshold: 2}"),
           "suites/triage.yaml:6", "threshold must be between 0 and 1"),
    Broken("assert-contains-all-empty", A("{type: icontains-all, value: []}"),
           "suites/triage.yaml:6", "empty list"),
    Broken("assert-levenshtein-negative", A("{type: levenshtein, value: x, max_distance: -1}"),
           "suites/triage.yaml:6", "max_distance"),
    Broken("assert-choice-expected-undefined",
           A("{type: choice, value: [billing, shipping], expected: '{{ team }}'}"),
           "suites/triage.yaml:6", "'team' is undefined"),
    Broken("assert-value-syntax", A("{type: contains, value: '{{ ticket'}"),
           "suites/triage.yaml:6", "template syntax error"),
    # -- -o targets and the state directory: refused before the first model call ----
    Broken("output-is-a-directory", {"out.json/keep": "x"}, "out.json",
           "this is a directory", run=("run", "-q", "-m", "echo", "-o", "out.json"),
           lint=False),
    Broken("output-parent-is-a-file", {"notes": "x"}, "notes/out.json",
           "notes is not a directory", run=("run", "-q", "-m", "echo", "-o", "notes/out.json"),
           lint=False),
    Broken("output-parent-missing", {}, "reports/out.json", "does not exist",
           run=("run", "-q", "-m", "echo", "-o", "reports/out.json"), lint=False),
    Broken("output-unknown-format", {}, "out.txt", "unsupported output format",
           run=("run", "-q", "-m", "echo", "-o", "out.txt"), lint=False),
    Broken("output-second-target-bad", {"site/keep": "x"}, "site",
           "unsupported output format", run=("run", "-q", "-m", "echo", "-o", "ok.json",
                                             "-o", "site"), lint=False),
    Broken("state-is-a-file", {".promptctl": "not a directory\n"}, ".promptctl",
           "it is a file", lint=False),
    Broken("state-configured-is-a-file", C("paths:\n  state: var/state\n", var="x"),
           "promptctl.yaml:2", "is a file", lint=False),
]

if os.path.isdir("/proc/self"):  # a directory no one can create files in, root included
    MORE.append(Broken("output-unwritable", {}, "/proc/self/out.json", "not writable",
                       run=("run", "-q", "-m", "echo", "-o", "/proc/self/out.json"),
                       lint=False))

BROKEN = [_from_old(e) for e in CORPUS] + MORE


def write_project(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content.lstrip("\n"), encoding="utf-8")


def _check_args(run: tuple[str, ...]) -> tuple[str, ...]:
    return ("check", *run[1:])


def _one_error_line(result, where: str, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {where}: "), lines[0]
    assert fragment in lines[0], lines[0]


def _nothing_left_behind(root: Path, before: set[Path]) -> None:
    """A refused run writes nothing: no temp file, no report, no run folder."""
    made = {p for p in root.rglob("*") if p not in before}
    stray = [p for p in made if p.suffix == ".tmp" or p.name.startswith(".promptctl-probe")
             or "runs" in p.parts]
    assert not stray, stray


@pytest.mark.parametrize("case", BROKEN, ids=[b.name for b in BROKEN])
def test_broken_project(case: Broken, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"prompts/support.yaml": GOOD_PROMPTS,
                             "suites/triage.yaml": GOOD_SUITE, **case.files})
    before = set(tmp_path.rglob("*"))
    if case.run is not None:
        _one_error_line(cli(*case.run), case.where, case.fragment)
    if case.run is not None and case.check:
        _one_error_line(cli(*_check_args(case.run)), case.where, case.fragment)
    _nothing_left_behind(tmp_path, before)
    if case.lint:  # a finding, or (promptctl.yaml unreadable) the one error line
        result = cli("lint")
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert f"{case.where}: error: " in result.stderr \
            or result.stderr.startswith(f"error: {case.where}: "), result.stderr


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 120
    assert len({b.name for b in BROKEN}) == len(BROKEN)
    assert len(VALID) >= 10


@pytest.mark.parametrize("name", ["template-division-by-zero", "state-is-a-file",
                                  "model-base-url-no-scheme", "template-undefined-in-include"])
def test_broken_project_in_a_subprocess(name, tmp_path):
    """The same refusals from a real process: exit 2, one line, no traceback."""
    case = next(b for b in BROKEN if b.name == name)
    write_project(tmp_path, {"prompts/support.yaml": GOOD_PROMPTS,
                             "suites/triage.yaml": GOOD_SUITE, **case.files})
    result = run_subprocess(*case.run, cwd=tmp_path, timeout=60)
    _one_error_line(result, case.where, case.fragment)


def test_baselines_path_that_is_a_file_is_refused_before_running(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"prompts/support.yaml": GOOD_PROMPTS,
                             "suites/triage.yaml": GOOD_SUITE, "baselines": "x\n"})
    result = cli("baseline", "update", "-q", "-m", "echo")
    _one_error_line(result, "baselines", "it is a file")
    assert not (tmp_path / ".promptctl" / "runs").exists()


# -- odd but valid: accepted by run (exit 0 on echo) and by lint (no error) --------------

BOM = "\ufeff"
ROW_CHECK = "    assert: [{type: icontains, value: billing}]\n"  # echo output holds the prompt
CRLF_PROMPTS = GOOD_PROMPTS.lstrip().replace("\n", "\r\n")
ROW_ASSERT = ('{"id": "r1", "vars": {"ticket": "refund", "want": "refund"}, '
              '"assert": [{"type": "contains", "value": "{{ want }}"}]}\n')
# the 5 MB is a literal: rendered into a prompt or an assertion template it would pass
# limits.max_prompt_chars (tests/test_bounds.py raises the limit for that)
BIG_LINE = ('{"id": "big", "vars": {"ticket": "x"}, '
            '"assert": [{"type": "not-contains", "value": "' + "z" * 5_000_000 + '"}]}\n')

VALID = [
    ("bom-on-yaml", {"suites/triage.yaml": (BOM + GOOD_SUITE.lstrip()).encode(),
                     "prompts/support.yaml": (BOM + GOOD_PROMPTS.lstrip()).encode()}),
    ("bom-on-csv", SP("  - from: data/t.csv\n" + ROW_CHECK,
                      suites__data__t_DOT_csv=BOM + "id,ticket\nrow-1,billing issue\n")),
    ("crlf-files", {"prompts/support.yaml": CRLF_PROMPTS.encode(),
                    "suites/triage.yaml": (GOOD_SUITE.lstrip() + "  - from: data/t.csv\n"
                                           + ROW_CHECK)
                    .replace("\n", "\r\n").encode(),
                    "suites/data/t.csv": b"id,ticket\r\nrow-1,x\r\nrow-2,y\r\n"}),
    ("integer-case-ids", {
        "suites/triage.yaml": GOOD_SUITE.replace("id: one", "id: 1") +
        "  - id: 2\n    vars: {ticket: x}\n    assert: [{type: icontains, value: billing}]\n"}),
    ("unicode-case-ids", {"suites/triage.yaml": GOOD_SUITE.replace("id: one", "id: café-☕") +
                          "  - id: 日本語\n    vars: {ticket: 請求}\n"
                          "    assert: [{type: contains, value: 請求}]\n"}),
    ("blank-jsonl-lines", SP("  - from: data/t.jsonl\n" + ROW_CHECK, suites__data__t_DOT_jsonl=(
        "\n\n" + '{"id": "a", "ticket": "x"}\n' + "   \n\n" + '{"id": "b", "ticket": "y"}\n\n'))),
    ("five-megabyte-jsonl-line",
     SP("  - from: data/t.jsonl\n", suites__data__t_DOT_jsonl=BIG_LINE)),
    ("tabs-in-quoted-strings", {
        **P("content: \"Ticket: {{ ticket }}\"", "content: \"Ticket:\\t{{ ticket }}\\t.\""),
        **S('vars: {ticket: "charged twice"}', 'vars: {ticket: "charged\\ttwice"}')}),
    ("empty-vars", {"suites/triage.yaml": "prompts: [support.triage]\ndefaults:\n"
                    "  vars: {ticket: x}\ncases:\n  - id: one\n    vars: {}\n"
                    "    assert: [{type: icontains, value: billing}]\n"}),
    ("comment-only-defaults", {"suites/triage.yaml": "prompts: [support.triage]\ndefaults:\n"
                               "  # nothing shared yet\ncases:\n  - id: one\n"
                               "    vars: {ticket: x}\n"
                               "    assert: [{type: icontains, value: billing}]\n"}),
    ("anchors-and-merge-keys", {"suites/triage.yaml": (
        "prompts: [support.triage]\ncases:\n  - id: one\n    vars: &v {ticket: charged twice}\n"
        "    assert: &a\n      - {type: icontains, value: billing}\n"
        "  - id: two\n    vars:\n      <<: *v\n      ticket: parcel lost\n    assert: *a\n")}),
    ("guarded-optional-variables", P(TICKET, "Ticket: {{ ticket }}{% if note is defined %} "
                                             "({{ note }}){% endif %}{{ tail | default('') }}")),
    ("var-used-only-by-a-row-assertion", SP("  - from: data/t.jsonl\n",
                                             suites__data__t_DOT_jsonl=ROW_ASSERT)),
    ("jinja-globals-and-loops", P(TICKET, "{% for i in range(2) %}{{ i }}{% endfor %} "
                                          "{{ ticket }}")),
    ("conditional-recursive-include", {
        **P(TICKET, "{% set depth = 2 %}{% include 'tree.j2' %} {{ ticket }}"),
        "prompts/tree.j2": "{% if depth > 0 %}[{% set depth = depth - 1 %}"
                           "{% include 'tree.j2' %}]{% endif %}"}),
    ("data-file-twice-with-a-prefix", SP(
        "  - from: data/t.csv\n" + ROW_CHECK + "  - from: data/t.csv\n    id: again\n"
        + ROW_CHECK, suites__data__t_DOT_csv="id,ticket\nrow-1,billing issue\n")),
    ("matrix-and-assertion-sets", {
        "promptctl.yaml": "assert_sets:\n  routed: [{type: icontains, value: billing}]\n",
        "suites/triage.yaml": "prompts: [support.triage]\nassert_sets:\n  short:\n"
        "    - {type: length, max_words: 40}\n    - use: routed\ndefaults:\n"
        "  matrix: {teams: [[billing], [billing, shipping]]}\n  assert: [{use: short}]\n"
        "cases:\n  - id: one\n    matrix: {ticket: [lost, late]}\n"
        "  - {id: two, vars: {ticket: x}, assert: [{use: [routed, short]}]}\n"}),
    ("price-base-url-and-gguf-builtin", C(
        "models:\n  default: {provider: echo, price: {input: 0.000001, output: 0}}\n"
        "  local: {provider: openai, base_url: 'http://127.0.0.1:8080/v1', model: m}\n"
        "  tiny: {provider: llama-cpp, model: 'builtin:smollm2'}\n")),
]


@pytest.mark.parametrize(("name", "files"), VALID, ids=[v[0] for v in VALID])
def test_odd_but_valid_project(name, files, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {"prompts/support.yaml": GOOD_PROMPTS,
                             "suites/triage.yaml": GOOD_SUITE, **files})
    result = cli("run", "-q", "-m", "echo")
    assert result.exit_code == 0, result.output
    result = cli("lint")
    assert result.exit_code == 0, result.output


def test_a_failed_atomic_write_leaves_no_temp_file(tmp_path):
    """The last line of defence behind the -o checks: a rename that fails (the target
    became a directory after the check) removes its temp file."""
    from promptctl.run.store import write_text_atomic

    (tmp_path / "out.json").mkdir()
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "out.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_lint_of_one_suite_reports_its_prompts_template_problems(cli, tmp_path, monkeypatch):
    """`lint suites/x.yaml` (what pre-commit passes for a changed suite) still finds a
    missing include in the prompt the suite runs, since run would refuse it."""
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, {**P(TICKET, "{{ ticket }} {% include 'gone.j2' %}"),
                             "suites/triage.yaml": GOOD_SUITE})
    result = cli("lint", "suites/triage.yaml")
    assert result.exit_code == 2, result.output
    assert "prompts/support.yaml:9: error: prompt 'support.triage' messages[1]: included " \
           "template 'gone.j2' not found" in result.stderr
