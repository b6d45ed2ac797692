"""`promptctl init`: a working project in one command (prompt, suite, baseline, CI,
pre-commit), which passes `promptctl check` at once on the embedded model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

CONFIG = """\
# promptctl project settings. Everything here is optional: without this file every
# suite runs on the embedded model (builtin:smollm2) at temperature 0, seed 0.
models:
  default: {provider: llama-cpp, model: "builtin:smollm2", params: {temperature: 0, seed: 0}}
  # A hosted model (reads OPENAI_API_KEY):
  # gpt: {provider: openai, model: gpt-4o-mini}
  # Any OpenAI-compatible server:
  # local-server: {provider: openai, base_url: "http://127.0.0.1:8080/v1", model: smollm2}
"""

PROMPT = """\
# A prompt collection: this file's stem (`geo`) is the collection, so the prompt below
# is `geo.capital`. Templates are Jinja2; an undefined variable is an error.
description: Geography questions
prompts:
  capital:
    version: 1
    description: Name a country's capital in one word
    params: {max_tokens: 12}
    template: "What is the capital of {{ country }}? Answer in one word."
"""

SUITE = """\
# A test suite: every case renders the prompt with its vars and checks the output.
description: Capitals stay right and short
prompts: [geo.capital]
defaults:
  assert:
    - {type: length, max_words: 6}
cases:
  - id: france
    vars: {country: France}
    assert:
      - {type: icontains, value: Paris}
  - id: japan
    vars: {country: Japan}
    assert:
      - {type: icontains, value: Tokyo}
  - id: italy
    vars: {country: Italy}
    assert:
      - {type: icontains, value: Rome}
"""

PRE_COMMIT = """\
# pre-commit: `pre-commit install` runs promptctl lint on every commit that touches a
# prompt or a suite; `pre-commit run promptctl-check --hook-stage manual` runs the
# cases that the commit affects (--changed-since HEAD) against their baselines.
repos:
  - repo: local
    hooks:
      - id: promptctl-lint
        name: promptctl lint
        entry: promptctl lint
        language: system
        files: ^(prompts/|suites/|promptctl\\.ya?ml$)
        pass_filenames: false
      - id: promptctl-check
        name: promptctl check
        entry: promptctl check --changed-since HEAD
        language: system
        files: ^(prompts/|suites/|data/|baselines/|promptctl\\.ya?ml$)
        pass_filenames: false
        stages: [manual]
"""

WORKFLOW = """\
# Gate pull requests on the prompt suites: a regression against baselines/ fails the job.
name: promptctl
on:
  pull_request:
  push:
    branches: [main]

jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0  # the baselines' git history, for promptctl history --git
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
      # llama-cpp-python builds from source; GGML_NATIVE=OFF keeps the binary portable
      - run: CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install 'promptctl[local]'
      - run: promptctl check -o diff.md -o report.html -o junit.xml
      # a sustained decline across the baselines' commits fails the job too
      - if: always()
        run: promptctl history --git --gate -o history.html
      - if: always()
        run: test -f diff.md && cat diff.md >> "$GITHUB_STEP_SUMMARY" || true
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: promptctl-report
          path: |
            report.html
            junit.xml
            history.html
"""

GITIGNORE_LINE = ".promptctl/"


@dataclass
class Scaffold:
    root: Path
    written: list[Path]


FILES = {
    "promptctl.yaml": CONFIG,
    "prompts/geo.yaml": PROMPT,
    "suites/geo.yaml": SUITE,
    ".pre-commit-config.yaml": PRE_COMMIT,
    ".github/workflows/promptctl.yml": WORKFLOW,
}


def scaffold(root: Path, *, force: bool = False) -> Scaffold:
    """Write the project files; refuse to overwrite any unless force."""
    root.mkdir(parents=True, exist_ok=True)
    existing = [name for name in FILES if (root / name).exists()]
    if existing and not force:
        raise UserError("refusing to overwrite " + ", ".join(existing), file=str(root),
                        hint="pass --force to overwrite, or init another directory")
    written = []
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    gitignore = root / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if GITIGNORE_LINE not in text.splitlines():
        with gitignore.open("a", encoding="utf-8") as fh:
            if text and not text.endswith("\n"):
                fh.write("\n")
            fh.write(f"# promptctl's local state: response cache, run history\n"
                     f"{GITIGNORE_LINE}\n")
        written.append(gitignore)
    return Scaffold(root, written)
