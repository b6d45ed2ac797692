"""promptfoo's results as a run of the imported project: `import_results(project,
RESULTS, config) -> Outcome`, the file read by resultsfile.py, the run written by
run/given.py (the outputs scored by the suite's own checks, as `promptctl run` scores
its models' answers; promptfoo's verdicts are not carried over).

Each result is matched to the call the config importer made of it: config.convert on
the same config (the file given, else the one the results embed) gives the same
suite, case ids and prompt and model aliases as the imported project.
- the case and repeat: `testIdx` counts promptfoo's tests after list-var expansion and
  repeats (test t's repeats x combinations, then test t+1's); the result's `vars` must
  be that case's, so a config edited since the eval is not matched silently. Without
  `testIdx` (version 2): the first case with the same vars not taken yet;
- the prompt: by promptfoo's label (`prompt.label`), as the config importer names it
  (a file's label may hold the config's folder); else by its place in the results'
  list of prompts (every provider x every prompt), with a warning if it renders
  differently;
- the model: by the provider's label, else its id (promptfoo's `openai:gpt-4o` for
  `openai:chat:gpt-4o`), else its place in the results' list of prompts;
- and the call must be one the project's suite plans now (a case, prompt or model
  removed or renamed since the import is not). Every other result is unmatched: listed
  one line each, not recorded. A matched result whose prompt promptfoo rendered unlike
  promptctl renders it now is recorded, with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...boundary import display_path
from ...errors import UserError
from ...load.project import YAML_SUFFIXES, Project
from ...load.suites import Suite, load_suite
from ...results import RecordKey, canonical
from ...run.given import Given, record_given
from ...run.options import RunOptions
from ...run.plan import Call, plan
from ...run.runner import RunResult
from .config import Imported, ImportedTest, convert, convert_data, suite_name
from .providers import model_name
from .resultsfile import Results, Row, messages, read_results, short
from .source import is_file_ref


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
    slots = imported.slots(res.repeat)
    prompts: dict[str, str] = {}
    for label, name in imported.prompts:
        prompts.setdefault(label, name)
    # the results' prompt list is every provider x every prompt: the place says which
    width = len(imported.prompts) if res.columns == len(imported.prompts) * max(
        1, len(imported.providers)) else 0
    by_key = dict(zip(res.provider_keys, (a for _, _, a in imported.providers),
                      strict=True)) if len(res.provider_keys) == len(imported.providers) \
        else {}
    given: dict[RecordKey, Given] = {}
    unmatched: list[Unmatched] = []
    rendered: list[str] = []
    for row in res.rows:
        ref = _prompt(row, prompts, folders, [r for _, r in imported.prompts], width,
                      res.columns)
        alias, model_why = _model(row, imported, suite, by_key)
        taken = set() if row.test_idx is not None else {
            (k[1], k[4]) for k in given if k[2:4] == (ref, alias)}
        slot, why = _slot(row, slots, taken)
        if slot is None or ref is None or alias is None:
            reason = why or (f"no prompt of the config has the label {short(row.prompt)}"
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
            if row.rendered is not None and messages(row.rendered) != [
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


def _slot(row: Row, slots: list[Slot], taken: set[tuple[str, int]]
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
    return next((s for s in found if (s[0].case_id, s[1]) not in taken), found[0]), ""


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
