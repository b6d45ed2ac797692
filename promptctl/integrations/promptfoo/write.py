"""The files of the imported project: promptctl.yaml, prompts/NAME.yaml,
suites/NAME.yaml and data/*.jsonl (the cases of each promptfoo test file), as text;
and writing them, refusing to overwrite without --force.

What the imported project must do, and how it is made to:
- `promptctl lint` clean: a var no prompt or assertion reads is not carried over (a
  note names it); a prompt variable some case does not set gets a prompt-level
  default of "" (promptfoo renders an undefined variable as nothing: the default says
  so in the project instead of changing meaning); a case with no assertion gets one
  that always passes (`length` with `min_chars: 0`) and a note.
- render on `-m echo` what promptfoo renders: the values are promptfoo's (tests.py),
  the templates translated (prompts.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ...errors import UserError
from ...schema import CaseSpec
from .prompts import Prompt, variables
from .providers import Model, Models
from .source import Ctx, Doc
from .tests import Case, Test, expand, expand_uses, render_value

ALWAYS_PASSES = {"type": "length", "min_chars": 0}
_VAR_IN_CODE = re.compile(r"""vars\s*(?:\[\s*["'](\w+)["']\s*\]|\.(\w+)|\.get\(\s*["'](\w+)["'])""")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _assert_vars(asserts: list[dict[str, Any]]) -> set[str]:
    """The variables assertions read: in templates, and `vars[...]` in python code."""
    out: set[str] = set()
    for a in asserts:
        for text in _strings(a):
            if "{{" in text or "{%" in text:
                out |= variables(text)[0]
            if a.get("type", "").removeprefix("not-") == "python":
                for m in _VAR_IN_CODE.finditer(text):
                    out.add(next(g for g in m.groups() if g))
        if isinstance(a.get("transform"), str):
            out |= variables("{{ " + a["transform"] + " }}")[0]
    out.discard("output")
    return out


def build(name: str, data: dict[str, Any], doc: Doc, prompts: list[Prompt], models: Models,
          cases: list[Case], default: Test | None, options: dict[str, Any], inline: bool,
          ctx: Ctx) -> dict[str, str]:
    prompt_vars: dict[str, set[str]] = {}
    for p in prompts:
        names: set[str] = set()
        for text in p.texts():
            found, error = variables(text)
            if error:
                ctx.note(p.where, "approximated", f"prompt '{p.name}' is not a valid Jinja "
                         f"template ({error}): fix it in prompts/{name}.yaml")
            names |= found
        prompt_vars[p.name] = names
    default_asserts = [] if default is None or inline else default.asserts
    used = set().union(*prompt_vars.values()) | _assert_vars(expand_uses(default_asserts, ctx))
    for c in cases:
        used |= _assert_vars(expand_uses(c.test.asserts, ctx))
    uses = [a["use"] for a in [*default_asserts, *(x for c in cases for x in c.test.asserts)]
            if set(a) == {"use"}]
    sets = {n: ctx.sets[n] for n in dict.fromkeys(uses)}  # those still used, in order
    dvars = _default_vars(default, used, ctx)
    rows = _case_rows(cases, used, dvars, default_asserts, ctx)
    for p in prompts:  # what promptfoo renders empty, said in the project
        missing = sorted(v for v in prompt_vars[p.name]
                         if any(v not in row["vars"] and v not in dvars for row, _ in rows))
        prompt_vars[p.name] = set(missing)
    files: dict[str, str] = {}
    files["promptctl.yaml"] = _config_text(data, models)
    files[f"prompts/{name}.yaml"] = _dump({
        **({"description": data["description"]} if isinstance(data.get("description"), str)
           else {}),
        "prompts": {p.name: p.spec({v: "" for v in sorted(prompt_vars[p.name])})
                    for p in prompts}})
    suite, data_files = _suite(name, data, prompts, models, rows, dvars, default,
                               default_asserts, options, sets)
    files[f"suites/{name}.yaml"] = _dump(suite)
    files.update(data_files)
    return files


def _default_vars(default: Test | None, used: set[str], ctx: Ctx) -> dict[str, Any]:
    if default is None:
        return {}
    out = {}
    for key, value in default.vars.items():
        if key not in used or len(expand(Test(default.where, vars={key: value}), ctx)) > 1:
            continue
        out[key] = render_value(value, key, default.where, ctx)
    return out


def _case_rows(cases: list[Case], used: set[str], dvars: dict[str, Any],
               default_asserts: list[dict[str, Any]], ctx: Ctx
               ) -> list[tuple[dict[str, Any], Case]]:
    metadata_ok = "metadata" in CaseSpec.model_fields
    dropped: set[str] = set()
    bare = 0
    rows = []
    for c in cases:
        row: dict[str, Any] = {"id": c.id}
        if c.test.description and not c.test.auto_description:
            row["description"] = c.test.description
        vars_ = {}
        for k, v in c.vars.items():
            if k not in used:
                if k not in dropped:
                    dropped.add(k)
                    ctx.note(c.test.where, "approximated", f"var '{k}' is read by no prompt "
                             "or assertion: not carried over (promptctl lint flags unused "
                             "variables)")
                continue
            if k in dvars and dvars[k] == v:
                continue
            vars_[k] = v
        row["vars"] = vars_
        asserts = list(c.test.asserts)
        if not asserts and not default_asserts:
            asserts = [dict(ALWAYS_PASSES)]
            bare += 1
        if asserts:
            row["assert"] = asserts
        if c.test.threshold is not None:
            row["threshold"] = c.test.threshold
        if c.test.metadata:
            if metadata_ok:
                row["metadata"] = c.test.metadata
            else:
                ctx.note(c.test.where, "left out", "metadata (this promptctl has no case "
                         "metadata)")
        rows.append((row, c))
    if bare:
        first = next(c for r, c in rows if r.get("assert") == [ALWAYS_PASSES])
        ctx.note(first.test.where, "info", f"{bare} test{'s' if bare != 1 else ''} "
                 "without assertions (a promptfoo test that can never fail): given "
                 "`{type: length, min_chars: 0}`, which always passes as in promptfoo; "
                 "replace it with a real check")
    return rows


def _suite(name: str, data: dict[str, Any], prompts: list[Prompt], models: Models,
           rows: list[tuple[dict[str, Any], Case]], dvars: dict[str, Any],
           default: Test | None, default_asserts: list[dict[str, Any]],
           options: dict[str, Any], sets: dict[str, list[dict[str, Any]]]
           ) -> tuple[dict[str, Any], dict[str, str]]:
    suite: dict[str, Any] = {}
    if isinstance(data.get("description"), str):
        suite["description"] = data["description"]
    suite["prompts"] = [f"{name}.{p.name}" for p in prompts]
    if models.models:
        suite["models"] = [m.alias for m in models.models]
    if options.get("repeat", 1) > 1:
        suite["repeat"] = options["repeat"]
    if isinstance(data.get("tags"), dict):
        suite["tags"] = [f"{k}:{v}" for k, v in data["tags"].items()]
    if sets:  # promptfoo's assertionTemplates that tests use by $ref
        suite["assert_sets"] = sets
    defaults: dict[str, Any] = {}
    if dvars:
        defaults["vars"] = dvars
    if default_asserts:
        defaults["assert"] = default_asserts
    if default is not None and default.threshold is not None:
        defaults["threshold"] = default.threshold
    if defaults:
        suite["defaults"] = defaults
    entries: list[dict[str, Any]] = []
    data_files: dict[str, str] = {}
    runs: list[tuple[str | None, list[dict[str, Any]]]] = []
    for row, case in rows:
        if default is not None and default.threshold is not None and \
                row.get("threshold") == default.threshold:
            row.pop("threshold")
        src = case.test.source
        if runs and runs[-1][0] == src:
            runs[-1][1].append(row)
        else:
            runs.append((src, [row]))
    seen: set[str] = set()
    for src, group in runs:
        if src is None or src in seen:
            entries.extend(group)
            continue
        seen.add(src)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(src).stem) or "tests"
        path = f"data/{stem}.jsonl"
        n = 2
        while path in data_files:
            path, n = f"data/{stem}-{n}.jsonl", n + 1
        data_files[path] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in group)
        entries.append({"from": path})
    suite["cases"] = entries
    return suite, data_files


def _config_text(data: dict[str, Any], models: Models) -> str:
    head: dict[str, Any] = {}
    if isinstance(data.get("description"), str):
        head["description"] = data["description"]
    entries: list[Model] = models.entries()
    text = _dump(head) if head else ""
    if entries:
        text += "models:\n"
        for m in entries:
            if m.comment:
                text += f"  # {m.comment}\n"
            body = _dump({m.alias: m.entry})
            text += "".join(f"  {line}\n" for line in body.splitlines())
    if models.judge is not None:
        text += _dump({"judge": models.judge.alias})
    return text or "{}\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def _holds(path: Path, text: str) -> bool:
    if os.path.islink(path) or not path.is_file():
        return False
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def write_files(files: dict[str, str], out: Path, *, force: bool) -> list[Path]:
    """Write every file under `out`; if any exists with other content and not `force`,
    write none. A file that already holds exactly its text (a re-import, or a python
    check imported in place) is left as it is."""
    targets = [(out / rel, text) for rel, text in files.items()
               if not _holds(out / rel, text)]
    existing = [p for p, _ in targets if os.path.lexists(p)]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:5])
        more = f" and {len(existing) - 5} more" if len(existing) > 5 else ""
        raise UserError(f"would overwrite {shown}{more}", file=str(out),
                        hint="pass --force to overwrite, or --out an empty folder")
    written = []
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(path):
            path.unlink()
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
