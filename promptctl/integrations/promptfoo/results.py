"""promptfoo's results JSON to a promptctl run folder: `import_results(project, RESULTS,
config) -> Outcome`, the run written through run/given.py.

What promptfoo writes (`promptfoo eval -o results.json`, `promptfoo export EVAL_ID`):
{evalId, results: {version: 3, timestamp, prompts, results: [EvaluateResult...],
stats}, config, metadata: {promptfooVersion, ...}, runtimeOptions: {repeat, ...}}.
Version 2 has the same list of results (and a `table` beside it); a result without
`testIdx` is matched by its vars. Any other file is exit 2 naming it and the expected
shape (read_results).

Each result is matched to the call the config importer made of it: config.convert on
the same config (the file given, else the one the results embed) gives the same
suite, case ids and prompt and model aliases as the imported project.
- the case and repeat: `testIdx` counts promptfoo's tests after list-var expansion and
  repeats (test t's repeats x combinations, then test t+1's); the result's `vars` must
  be that case's, so a config edited since the eval is not matched silently;
- the prompt: by promptfoo's label (`prompt.label`), as the config importer names it;
- the model: by the provider's label, else its id (promptfoo's `openai:gpt-4o` for
  `openai:chat:gpt-4o`), else its place in the results' list of prompts;
- and the call must be one the project's suite plans now (a case, prompt or model
  removed or renamed since the import is not). Every other result is unmatched: listed
  one line each, not recorded.

Kept: the output (a non-text output as JSON text), tokens, latency, cost; a result with
no output (a provider error, promptfoo's "No output") becomes the call's error. Not
kept: promptfoo's verdicts. The outputs are scored by the suite's own checks, as
`promptctl run` scores its models' answers (promptfoo sets `error` on a failed
assertion too: that is its grading, not an error of the call).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...boundary import display_path, read_bytes
from ...errors import UserError
from ...load.project import YAML_SUFFIXES, Project
from ...load.suites import Suite, load_suite
from ...results import Completion, RecordKey, canonical
from ...run.given import Given, record_given
from ...run.options import RunOptions
from ...run.plan import Call, plan
from ...run.runner import RunResult
from .config import Imported, ImportedTest, convert, convert_data, suite_name
from .providers import model_name
from .source import is_file_ref

MAX_BYTES = 1_000_000_000
VERSIONS = (2, 3)
EXPECTED = ("expected the JSON of `promptfoo eval -o results.json` or `promptfoo export`: "
            "{evalId, results: {version: 3, results: [...]}, config}")


@dataclass
class Row:
    """One promptfoo result, as far as matching needs it."""

    n: int  # its place in the file's list of results, from 1
    test_idx: int | None
    prompt_idx: int | None
    prompt: str | None  # promptfoo's label of the prompt
    rendered: str | None  # prompt.raw: the prompt as promptfoo rendered it
    provider_id: str | None
    provider_label: str | None
    vars: dict[str, Any]
    given: Given

    def __str__(self) -> str:
        parts = [f"result {self.n}"]
        if self.test_idx is not None:
            parts.append(f"testIdx {self.test_idx}")
        parts.append(f"prompt {_short(self.prompt)}")
        parts.append(f"provider {_short(self.provider_label or self.provider_id)}")
        return f"{parts[0]} ({', '.join(parts[1:])})"


@dataclass
class Results:
    shown: str  # the file, as the user would type it
    version: int
    rows: list[Row]
    config: dict[str, Any] | None  # the config promptfoo embeds
    provider_keys: list[str]  # each provider's label or id, in the config's order
    columns: int  # the results' prompts: one per provider and prompt it ran
    repeat: int | None = None  # runtimeOptions.repeat: `promptfoo eval --repeat N`
    eval_id: str | None = None
    timestamp: str | None = None
    tool_version: str | None = None


@dataclass
class Unmatched:
    row: Row
    reason: str

    def __str__(self) -> str:
        return f"{self.row}: {self.reason}"


@dataclass
class Outcome:
    suite: Suite
    rows: int
    result: RunResult | None  # None when no result matched: no run is written
    matched: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def import_results(project: Project, path: Path, config: Path | None) -> Outcome:
    """Read RESULTS, match its results to the project's suite, and write the run."""
    res = read_results(path)
    imported, suite = _imported(project, res, path, config)
    calls = {c.key: c for c in plan(project, [suite], RunOptions())}
    root = (config or path).absolute().parent
    given, unmatched, warnings = match(res, imported, suite, calls,
                                       folders=(str(root), str(root.resolve())))
    outcome = Outcome(suite, len(res.rows), None, len(given), unmatched, warnings)
    if given:
        meta = {"imported_from": {
            "tool": "promptfoo", "file": res.shown, "results": len(res.rows),
            "unmatched": len(unmatched), "eval_id": res.eval_id,
            "timestamp": res.timestamp, "version": res.tool_version}}
        outcome.result = record_given(project, [suite], given, meta=meta)
    return outcome


# -- the file ---------------------------------------------------------------------------


def read_results(path: Path) -> Results:
    # deferred: the JSON helpers of artifacts.py (its pydantic shapes) only here
    from ...artifacts import decode, json_line, parse_json

    shown = display_path(path)
    if not path.is_file():
        raise UserError("promptfoo results file not found" if not path.exists() else
                        "not a file", file=shown, hint="give the file `promptfoo eval -o "
                        "results.json` wrote")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"larger than {MAX_BYTES:,} bytes", file=shown)
        data = read_bytes(path)
    except OSError as exc:
        raise UserError(f"cannot read it: {exc.strerror or exc}", file=shown) from None
    text = decode(data, shown, "promptfoo results", EXPECTED)
    top = parse_json(text, shown, "promptfoo results", EXPECTED)
    if not isinstance(top, dict):
        raise UserError(f"not promptfoo results: the file holds a JSON {_kind(top)}",
                        file=shown, line=1, hint=EXPECTED)
    base: tuple[str, ...] = ("results",)
    summary = top.get("results")
    if isinstance(summary, list) and "version" in top:  # the summary on its own
        summary, base, top = top, (), {}
    if not isinstance(summary, dict) or not isinstance(summary.get("results"), list):
        raise UserError("not promptfoo results: no list of results at `results.results`",
                        file=shown, line=json_line(text, base), hint=EXPECTED)
    version = summary.get("version")
    if version not in VERSIONS:
        raise UserError(f"promptfoo results version {version!r}: promptctl reads versions "
                        f"{' and '.join(map(str, VERSIONS))}", file=shown,
                        line=json_line(text, (*base, "version")),
                        hint="export the eval again with a current promptfoo")
    rows = []
    for i, item in enumerate(summary["results"]):
        if not isinstance(item, dict):
            raise UserError(f"not promptfoo results: result {i + 1} is a JSON "
                            f"{_kind(item)}, not an object", file=shown,
                            line=json_line(text, (*base, "results", i)), hint=EXPECTED)
        rows.append(_row(i + 1, item))
    columns = [p for p in summary.get("prompts") or [] if isinstance(p, dict)]
    keys = [p.get("provider") for p in columns]
    config = top.get("config")
    meta = top.get("metadata") if isinstance(top.get("metadata"), dict) else {}
    runtime = top.get("runtimeOptions") if isinstance(top.get("runtimeOptions"), dict) \
        else {}
    repeat = runtime.get("repeat")
    return Results(shown, version, rows, config if isinstance(config, dict) else None,
                   list(dict.fromkeys(k for k in keys if isinstance(k, str))), len(columns),
                   repeat if isinstance(repeat, int) and repeat >= 1 else None,
                   _text(top.get("evalId")), _text(summary.get("timestamp")),
                   _text(meta.get("promptfooVersion")))


def _row(n: int, item: dict[str, Any]) -> Row:
    prompt = item.get("prompt") if isinstance(item.get("prompt"), dict) else {}
    provider = item.get("provider")
    if isinstance(provider, str):
        provider = {"id": provider}
    elif not isinstance(provider, dict):
        provider = {}
    case = item.get("testCase") if isinstance(item.get("testCase"), dict) else {}
    vars_ = item.get("vars") if isinstance(item.get("vars"), dict) else case.get("vars")
    return Row(n, _index(item.get("testIdx")), _index(item.get("promptIdx")),
               _text(prompt.get("label")), _text(prompt.get("raw")),
               _text(provider.get("id")), _text(provider.get("label")) or None,
               vars_ if isinstance(vars_, dict) else {}, _given(item))


def _given(item: dict[str, Any]) -> Given:
    """The call's completion, or its error when promptfoo got no output."""
    response = item.get("response") if isinstance(item.get("response"), dict) else None
    if response is not None and response.get("error"):
        return Given(None, _error(response["error"]))
    output = None if response is None else response.get("output")
    if output is None:
        return Given(None, _error(item.get("error") or "No output"))
    text = output if isinstance(output, str) else json.dumps(
        output, ensure_ascii=False, separators=(",", ":"))  # as JSON.stringify writes it
    usage = response.get("tokenUsage") if isinstance(response.get("tokenUsage"), dict) \
        else {}
    latency = item.get("latencyMs", response.get("latencyMs"))
    cost = item.get("cost", response.get("cost"))
    return Given(Completion(text=text, prompt_tokens=_count(usage.get("prompt")),
                            completion_tokens=_count(usage.get("completion")),
                            latency_ms=_number(latency), cost=_number(cost)))


def _error(value: Any) -> str:
    """promptfoo's error, its first line (promptfoo appends the stack trace)."""
    lines = str(value).strip().splitlines() or ["no output"]
    first = lines[0] if len(lines[0]) <= 500 else lines[0][:499] + "…"
    return f"promptfoo: {first}"


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value >= 0 else 0


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value >= 0 else 0.0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _short(text: str | None) -> str:
    if text is None:
        return "(none)"
    one = " ".join(text.split())
    return repr(one if len(one) <= 50 else one[:49] + "…")


# -- the config and the suite -----------------------------------------------------------


def _imported(project: Project, res: Results, path: Path, config: Path | None
              ) -> tuple[Imported, Suite]:
    """What the config importer made of the results' config, and the project's suite
    it made: the config file when given, else the config the results embed."""
    if config is not None:
        imported, name = convert(config), suite_name(config)
    elif res.config is not None:
        name = _embedded_suite(project)
        try:
            imported = convert_data(res.config, path.resolve().parent,
                                    f"{res.shown} (its config)", name)
        except UserError as exc:
            exc.hint = ((exc.hint + "; or ") if exc.hint else "") + (
                "give the promptfoo config file with --config (the config inside the "
                "results names its files from the folder promptfoo ran in)")
            raise
    else:
        raise UserError("the results hold no config", file=res.shown,
                        hint="give the promptfoo config file with --config")
    found = next((p for p in (project.suites_dir / f"{name}{s}" for s in YAML_SUFFIXES)
                  if p.is_file()), None)
    if found is None:
        raise UserError(f"the project has no suite '{name}' "
                        f"({display_path(project.suites_dir / name)}.yaml)",
                        hint="import the config first (`promptctl import promptfoo "
                        "CONFIG`), or point --project at the project it wrote")
    return imported, load_suite(project, found)


def _embedded_suite(project: Project) -> str:
    """The suite an embedded config was imported as: the file's name is not in the
    results, so suites/promptfoo.yaml (promptfooconfig.yaml's), else the only suite."""
    folder = project.suites_dir
    names = sorted(p.stem for p in folder.iterdir() if p.suffix in YAML_SUFFIXES) \
        if folder.is_dir() else []
    if "promptfoo" in names:
        return "promptfoo"
    if len(names) == 1:
        return names[0]
    raise UserError("cannot tell which suite the results' config was imported as "
                    f"(suites: {', '.join(names) or 'none'})",
                    hint="give the promptfoo config file with --config: its name names "
                    "the suite")


# -- matching ---------------------------------------------------------------------------


def match(res: Results, imported: Imported, suite: Suite, calls: Mapping[RecordKey, Call],
          folders: tuple[str, ...] = ()
          ) -> tuple[dict[RecordKey, Given], list[Unmatched], list[str]]:
    """(the given output of each matched call, the unmatched results, warnings).
    `folders`: the config's folder as promptfoo may have written it into the label of a
    file's prompt (it does when the config was named by an absolute path)."""
    slots = _slots(imported.tests, res.repeat or imported.repeat)
    prompts: dict[str, str] = {}
    for label, ref in imported.prompts:
        prompts.setdefault(label, ref)
    # the results' prompt list is every provider x every prompt: the place says which
    width = len(imported.prompts) if res.columns == len(imported.prompts) * max(
        1, len(imported.providers)) else 0
    by_key = dict(zip(res.provider_keys, (a for _, _, a in imported.providers))) \
        if len(res.provider_keys) == len(imported.providers) else {}
    given: dict[RecordKey, Given] = {}
    unmatched: list[Unmatched] = []
    rendered: list[str] = []
    for row in res.rows:
        ref = _prompt(row, prompts, folders, [r for _, r in imported.prompts], width,
                      res.columns)
        alias, model_why = _model(row, imported, suite, by_key)
        slot, why = _slot(row, slots, lambda s: (suite.name, s[0].case_id, ref, alias,
                                                 s[1]) in given)
        if slot is None or ref is None or alias is None:
            reason = why or (f"no prompt of the config has the label {_short(row.prompt)}"
                             if ref is None else model_why)
            unmatched.append(Unmatched(row, reason))
            continue
        test, repeat = slot
        key = (suite.name, test.case_id, ref, alias, repeat)
        call = calls.get(key)
        if call is None:
            unmatched.append(Unmatched(row, _not_planned(key, suite)))
        elif key in given:
            unmatched.append(Unmatched(row, f"a second result for case '{test.case_id}' "
                                       f"(prompt {ref}, model {alias}, repeat {repeat})"))
        else:
            given[key] = row.given
            if row.rendered is not None and _messages(row.rendered) != [
                    {"role": m["role"], "content": m["content"]} for m in call.messages]:
                rendered.append(f"{row}: promptfoo rendered the prompt differently than "
                                f"{suite.file} renders case '{test.case_id}' now")
    warnings = rendered[:5]
    if len(rendered) > 5:
        warnings.append(f"... and {len(rendered) - 5} more results rendered differently")
    return given, unmatched, warnings


def _prompt(row: Row, prompts: Mapping[str, str], folders: tuple[str, ...],
            refs: list[str], width: int, columns: int) -> str | None:
    """The prompt ref of the result's label; of its place when the label is unknown."""
    label = row.prompt or ""
    for folder in ("", *folders):
        found = prompts.get(label.replace(folder.rstrip("/") + "/", "") if folder else label)
        if found is not None:
            return found
    if width and row.prompt_idx is not None and row.prompt_idx < columns:
        return refs[row.prompt_idx % width]
    return None


Slot = tuple[ImportedTest, int]  # a case, and the repeat


def _slots(tests: list[ImportedTest], repeat: int) -> list[Slot]:
    """promptfoo's testIdx order: each test's combinations, repeat after repeat."""
    out: list[Slot] = []
    i = 0
    while i < len(tests):
        j = i
        while j < len(tests) and tests[j].test == tests[i].test:
            j += 1
        for r in range(max(1, repeat)):
            out.extend((t, r) for t in tests[i:j])
        i = j
    return out


def _slot(row: Row, slots: list[Slot], taken: Callable[[Slot], bool]
          ) -> tuple[Slot | None, str]:
    """The result's case and repeat, or why there is none."""
    if row.test_idx is not None:
        if row.test_idx >= len(slots):
            return None, (f"testIdx {row.test_idx}: the config has {len(slots)} tests "
                          "(after expansion and repeats)")
        test, repeat = slots[row.test_idx]
        if not _same_vars(test.vars, row.vars):
            return None, (f"its vars are not those of test {row.test_idx} of the config "
                          f"(case '{test.case_id}'): was the config edited since the eval?")
        return (test, repeat), ""
    # no testIdx (version 2): the first slot with the same vars not taken yet
    found = [s for s in slots if _same_vars(s[0].vars, row.vars, exact=True)]
    if not found:
        return None, "no test of the config has its vars"
    return next((s for s in found if not taken(s)), found[0]), ""


def _same_vars(case: dict[str, Any], got: dict[str, Any], *, exact: bool = False) -> bool:
    """The result's vars hold the case's (a `file://` var may show the file's text)."""
    if exact and set(case) != set(got):
        return False
    return all(is_file_ref(v) or (k in got and canonical(got[k]) == canonical(v))
               for k, v in case.items())


def _model(row: Row, imported: Imported, suite: Suite, by_key: Mapping[str, str]
           ) -> tuple[str | None, str]:
    """The model alias of the result's provider, or why there is none."""
    shown = row.provider_label or row.provider_id or "(none)"
    if not imported.providers:  # run with `--providers`: the suite's one model
        if len(suite.models) == 1:
            return suite.models[0], ""
        return None, f"the config names no providers and {suite.file} has several models"
    label = row.provider_label
    found = [a for _, lab, a in imported.providers if label and lab == label]
    if not found:
        fits = [(pid, a) for pid, lab, a in imported.providers if lab in (None, label)]
        found = [a for pid, a in fits if pid == row.provider_id] or [
            a for pid, a in fits if row.provider_id is not None
            and model_name(pid) == model_name(row.provider_id)]
    if len(found) == 1:
        return found[0], ""
    key = label or row.provider_id
    if key is not None and key in by_key:
        return by_key[key], ""
    if found:
        return None, f"provider '{shown}' is ambiguous: models {', '.join(found)}"
    known = ", ".join(lab or pid for pid, lab, _ in imported.providers)
    return None, f"provider '{shown}' is not one of the config's ({known})"


def _not_planned(key: RecordKey, suite: Suite) -> str:
    _, case, prompt, model, repeat = key
    if case not in {c.id for c in suite.cases}:
        return f"case '{case}' is not in {suite.file}"
    if prompt not in {p.id for p in suite.prompts}:
        return f"prompt {prompt} is not in {suite.file}"
    if model not in suite.models:
        return f"model '{model}' is not one of {suite.file}'s"
    if repeat:
        return f"repeat {repeat + 1} of case '{case}': {suite.file} plans fewer samples"
    return f"{suite.file} does not plan case '{case}' on prompt {prompt}, model {model}"


def _messages(text: str) -> list[dict[str, str]]:
    """What promptfoo sends for a rendered prompt: a JSON list of {role, content} is
    those messages, any other text one user message."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(
                isinstance(m, dict) and "role" in m and "content" in m for m in value):
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    return [{"role": "user", "content": text}]
