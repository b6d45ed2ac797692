"""A corpus of broken inputs: each must give exit code 2 and one message naming the
file and line, never a traceback. Run through the real CLI on the echo provider."""

from __future__ import annotations

import pytest

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

# (id, files to write over the good project, extra args, expected "file:line", fragment)
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
    ("template-unknown-filter", {"prompts/support.yaml": GOOD_PROMPTS.replace(
        "join(\", \")", "joinn")}, [], "prompts/support.yaml:7", "joinn"),
    ("both-template-and-messages", {"prompts/support.yaml": GOOD_PROMPTS.replace(
        "    messages:", "    template: hi\n    messages:")},
     [], "prompts/support.yaml:2", "exactly one of 'template' or 'messages'"),
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


@pytest.mark.parametrize(("name", "files", "flags", "where", "fragment"), CORPUS,
                         ids=[c[0] for c in CORPUS])
def test_broken_input(name, files, flags, where, fragment, make_project, cli, tmp_path):
    root = make_project({"prompts/support.yaml": GOOD_PROMPTS,
                         "suites/triage.yaml": GOOD_SUITE, **files})
    if "--latin1-data" in flags:
        (root / "suites/data").mkdir(parents=True, exist_ok=True)
        (root / "suites/data/t.csv").write_bytes("id,ticket\na,caf\xe9\n".encode("latin-1"))
    args = ["run", "-q"]
    if "--model-from-suite" not in flags:
        args += ["-m", "echo"]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {where}: "), lines[0]
    assert fragment in lines[0], lines[0]


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


@pytest.mark.parametrize(("name", "files", "flags", "where", "fragment"),
                         [c for c in CORPUS if "--latin1-data" not in c[2]
                          and not c[0].startswith("config-")],
                         ids=[c[0] for c in CORPUS if "--latin1-data" not in c[2]
                              and not c[0].startswith("config-")])
def test_lint_reports_the_same_error(name, files, flags, where, fragment, make_project, cli):
    make_project({"prompts/support.yaml": GOOD_PROMPTS, "suites/triage.yaml": GOOD_SUITE,
                  **files})
    result = cli("lint")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{where}: error: " in result.stderr, result.stderr
