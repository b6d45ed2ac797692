"""The promptfoo corpus (tests/data/promptfoo/NN-name/): configs written from promptfoo's
documented format, each with `expected.json`, the renders written by hand from
promptfoo's semantics: what promptfoo sends, per (testIdx, promptIdx), on
`--providers echo`, and the exit code `promptctl import promptfoo` must give.

Two checks per config:
- the real CLI imports it (that exit code), the project lints clean, and `run -m echo`
  sends exactly the expected messages for the same cells (matched through
  `Imported.slots()` and `Imported.prompts`, the same numbering
  `import promptfoo-results` relies on);
- when promptfoo itself is installed (PROMPTCTL_PROMPTFOO, or `promptfoo` on PATH; never
  downloaded here), its own `eval --providers echo` on the original config renders the
  same expected messages: the hand-written expectations are checked against promptfoo.
  Each testIdx must be the imported case of the same vars and description, and
  `import promptfoo-results` on promptfoo's results (with the config they embed) must
  find every case. The repo's workflow runs this with promptfoo installed from npm.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers.promptfoo import (
    Messages,
    RenderKey,
    expected_renders,
    promptfoo_bin,
    render_mismatches,
    renders,
    run_eval,
    unordered,
)

from promptctl.integrations.promptfoo.config import convert

CORPUS = Path(__file__).resolve().parents[1] / "data" / "promptfoo"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.json").is_file())


def _copy(name: str, tmp_path: Path) -> Path:
    """The config's folder copied, so that nothing is written into the repo."""
    dest = tmp_path / "pf"
    shutil.copytree(CORPUS / name, dest)
    return dest / "promptfooconfig.yaml"


def _promptctl_renders(cli, config: Path, out: Path) -> dict[RenderKey, Messages]:
    imported = convert(config)
    index = {(t.case_id, r): i for i, (t, r) in enumerate(imported.slots())}
    prompt_idx = {ref: i for i, (_, ref) in enumerate(imported.prompts)}
    cfg = str(out / "promptctl.yaml")
    lint = cli("lint", "-c", cfg)
    assert lint.exit_code == 0, lint.output
    results_file = out.parent / "results.json"
    run = cli("run", "-c", cfg, "-m", "echo", "-o", str(results_file), "-q")
    assert run.exit_code in (0, 1), run.output
    got: dict[RenderKey, Messages] = {}
    for r in json.loads(results_file.read_text())["results"]:
        key = (index[(r["case"], r["repeat"])], prompt_idx[r["prompt"]], 0)
        assert key not in got, f"two results for {key}"
        got[key] = [{"role": m["role"], "content": m["content"]} for m in r["messages"]]
    return got


def _expected_exit(name: str) -> int:
    return int(json.loads((CORPUS / name / "expected.json").read_text())["import_exit"])


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25, CASES


@pytest.mark.parametrize("name", CASES)
def test_imports_lints_and_renders_as_promptfoo(cli, tmp_path, name):
    config = _copy(name, tmp_path)
    out = tmp_path / "out"
    res = cli("import", "promptfoo", str(config), "--out", str(out))
    assert res.exit_code == _expected_exit(name), res.output
    got = _promptctl_renders(cli, config, out)
    wrong = render_mismatches(expected_renders(CORPUS / name), got,
                              any_prompt_order=unordered(CORPUS / name))
    assert not wrong, "\n".join(wrong)


@pytest.mark.skipif(promptfoo_bin() is None, reason="promptfoo is not installed "
                    "(set PROMPTCTL_PROMPTFOO to its executable)")
@pytest.mark.parametrize("name", CASES)
def test_promptfoo_renders_what_expected_json_says(cli, tmp_path, name):
    binary = promptfoo_bin()
    assert binary is not None
    config = _copy(name, tmp_path)
    results_file = config.parent / "results.json"  # where its embedded config's files are
    results = run_eval(binary, config, results_file, tmp_path / "state")
    wrong = render_mismatches(expected_renders(CORPUS / name), renders(results),
                              any_prompt_order=unordered(CORPUS / name))
    assert not wrong, "\n".join(wrong)
    # and the import numbers promptfoo's tests as promptfoo does: each testIdx is the
    # imported case of the same vars and (unless promptfoo's own "Row #N") description
    slots = convert(config).slots()
    for row in results["results"]["results"]:
        test, _ = slots[row["testIdx"]]
        assert test.vars == row["vars"], (row["testIdx"], test, row["vars"])
        described = row["testCase"].get("description")
        if described and not described.startswith("Row #"):
            assert test.description == described, (row["testIdx"], test, described)
    # so its results, read with the config they embed, find their cases (the provider
    # is echo, not the config's: only single-provider configs match a model)
    out = tmp_path / "out"
    assert cli("import", "promptfoo", str(config), "--out", str(out)).exit_code in (0, 1)
    res = cli("import", "promptfoo-results", str(results_file), "--project", str(out))
    assert res.exit_code in (0, 1), res.output
    lost = [line for line in res.stderr.splitlines()
            if line.startswith("unmatched:") and "provider" not in line.split("):", 1)[1]]
    assert not lost, "\n".join(lost)
