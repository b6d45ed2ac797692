"""A promptfoo config to the files of a promptctl project: `convert(path) -> Imported`
(nothing written; `convert_data` for the config promptfoo embeds in its results) and
`write(imported, out, force)`.

The public shapes here are stable: `import promptfoo-results` matches promptfoo's
results to `Imported.tests` (same suite, case id and vars, in promptfoo's evaluation
order), `Imported.prompts` and `Imported.providers`.

One config becomes one suite (named after the config file), one prompt collection
(the same name) and promptctl.yaml's models. The top-level keys promptctl has no
equivalent for are noted, each at its line. The config is read as hostile input:
every `file://` it names must resolve inside its folder (source.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...load.yamlsrc import Source
from .notes import Note, Where
from .prompts import name_prompts, read_prompts, slug
from .providers import Models, one_provider, read_providers
from .source import Ctx, Doc, deref
from .tests import (
    Test,
    apply_default,
    graders_differ,
    make_cases,
    output_transforms,
    read_test,
    read_tests,
    scenario_tests,
    test_grader,
    transforms_differ,
)
from .write import build, write_files

_HANDLED = {"description", "prompts", "providers", "tests", "scenarios", "defaultTest",
            "evaluateOptions", "outputPath", "assertionTemplates", "tags"}


@dataclass
class ImportedTest:
    """One promptfoo test after scenario and list-var expansion, in the order promptfoo
    numbers testIdx (with `evaluateOptions.repeat: N` promptfoo numbers each repeat of
    a test's combinations after the last: test t's N x combinations come before test
    t+1's), and the promptctl case it became. `vars` are promptfoo's, as its results
    show them (a `file://` var is the path, not the file's text)."""

    suite: str
    case_id: str
    vars: dict[str, Any]
    description: str | None = None
    test: int = 0  # the promptfoo test it expands: its place in the config's tests


@dataclass
class Imported:
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    notes: list[Note] = field(default_factory=list)
    tests: list[ImportedTest] = field(default_factory=list)
    # (promptfoo label, or the raw prompt when it has none; promptctl ref "coll.name")
    prompts: list[tuple[str, str]] = field(default_factory=list)
    # (promptfoo id, promptfoo label or None, promptctl model alias)
    providers: list[tuple[str, str | None, str]] = field(default_factory=list)
    repeat: int = 1  # evaluateOptions.repeat

    def slots(self, repeat: int | None = None) -> list[tuple[ImportedTest, int]]:
        """(case, repeat) in promptfoo's testIdx order: each promptfoo test's
        combinations, repeat after repeat (`repeat`: the results' own, if they say)."""
        out: list[tuple[ImportedTest, int]] = []
        i = 0
        while i < len(self.tests):
            j = i
            while j < len(self.tests) and self.tests[j].test == self.tests[i].test:
                j += 1
            for r in range(max(1, repeat or self.repeat)):
                out.extend((t, r) for t in self.tests[i:j])
            i = j
        return out


def _read_config(config_path: Path) -> tuple[Ctx, Doc]:
    if not config_path.exists():
        raise UserError("promptfoo config not found", file=str(config_path),
                        hint="give the path to promptfooconfig.yaml")
    if not config_path.is_file():
        raise UserError("not a file", file=str(config_path),
                        hint="give the path to the promptfoo config file, not a folder")
    real = Path(os.path.realpath(config_path))
    ctx = Ctx(real.parent)
    doc = ctx.load(real, Where(str(config_path)))
    if not isinstance(doc.data, dict):
        raise UserError("a promptfoo config is a mapping (prompts:, providers:, tests:)",
                        file=doc.name, line=1)
    return ctx, Doc(doc.name, deref(doc.data, doc, ctx), doc.source)


def suite_name(config_path: Path) -> str:
    stem = config_path.stem.lower()
    if stem in ("promptfooconfig", "promptfoo", "config"):
        return "promptfoo"
    return slug(stem.removeprefix("promptfooconfig").removeprefix("promptfoo"), 40) \
        or "promptfoo"


def convert(config_path: Path) -> Imported:
    ctx, doc = _read_config(config_path)
    return _convert(ctx, doc, suite_name(config_path))


def convert_data(data: dict[str, Any], root: Path, shown: str, name: str) -> Imported:
    """A config given as data, named `shown` (the one promptfoo embeds in its results
    JSON): its `file://` paths resolve from `root`, and must lie inside it; no value
    has a line. `name` names its suite and prompt collection."""
    ctx = Ctx(Path(os.path.realpath(root)))
    doc = Doc(shown, data, Source(shown))
    return _convert(ctx, Doc(shown, deref(data, doc, ctx), doc.source), name)


def _convert(ctx: Ctx, doc: Doc, name: str) -> Imported:
    data: dict[str, Any] = doc.data
    for key in data:
        if key not in _HANDLED:
            ctx.note(doc.where((key,)), "left out", f"top-level key '{key}'")
    if "prompts" not in data:
        raise doc.source.error("the config has no 'prompts'", hint="promptfoo needs them")
    prompts = read_prompts(data["prompts"], doc, ("prompts",), ctx)
    if not prompts:
        raise doc.source.error("no prompt of the config could be imported", ("prompts",),
                               hint="see the notes above; promptctl prompts are templates")
    name_prompts(prompts)
    templates = data.get("assertionTemplates")
    if isinstance(templates, dict):
        ctx.templates = {str(k): (v, doc.where(("assertionTemplates", k)))
                         for k, v in templates.items()}
    models = Models(read_providers(data.get("providers"), doc, ("providers",), ctx))
    ctx.judge_alias = lambda provider, where: models.grader(provider, where, ctx)
    if not models.models:
        ctx.note(doc.where(("providers",)), "left out", "no provider: the suite runs on "
                 "the project's default model")
    default = _default_test(data.get("defaultTest"), doc, ctx, models)
    tests = read_tests(data.get("tests"), doc, ("tests",), ctx)
    tests += scenario_tests(data.get("scenarios"), doc, ("scenarios",), ctx)
    if not tests:
        tests = [Test(doc.where(("tests",)))]  # promptfoo runs the prompts once
    inline = default is not None and any(t.options.get("disableDefaultAsserts")
                                         for t in tests)
    merged = [apply_default(t, default, asserts=inline) for t in tests]
    if not inline and default is not None and default.asserts and (
            transforms_differ(merged) or graders_differ(merged, default, ctx)):
        inline = True  # the defaults' assertions differ by test: each case gets its own
        merged = [apply_default(t, default, asserts=True) for t in tests]
    tests = merged
    output_transforms(tests, default, ctx)
    for t in tests:
        test_grader(t, ctx)
    cases = make_cases(tests, ctx)
    options = _evaluate_options(data, doc, ctx, models)
    for key, what in (("outputPath", "use `promptctl run -o PATH`"),
                      ("tags", "suite tags are names: written as 'key:value'")):
        if key in data:
            ctx.note(doc.where((key,)), "left out" if key == "outputPath" else
                     "approximated", f"{key}: {what}")
    imported = Imported(notes=ctx.notes)
    imported.files = build(name, data, doc, prompts, models, cases, default, options,
                           inline, ctx)
    imported.files.update(_copies(ctx, imported.files))
    place = {id(t): i for i, t in enumerate(tests)}
    imported.tests = [ImportedTest(name, c.id, c.pf_vars, c.test.description,
                                   place[id(c.test)]) for c in cases]
    imported.repeat = int(options.get("repeat", 1))
    imported.prompts = [(p.label, f"{name}.{p.name}") for p in prompts]
    imported.providers = [(m.pf_id, m.label, m.alias) for m in models.models]
    return imported


def _copies(ctx: Ctx, made: dict[str, str]) -> dict[str, str]:
    """The files assertions need as they are (python checks), at the same path relative
    to the project as to the config; a path the import itself writes is refused."""
    out: dict[str, str] = {}
    for source, rel in sorted(ctx.copies.items(), key=lambda kv: kv[1]):
        if rel in made:
            raise UserError(f"the python check {rel} has the path of a file the import "
                            "writes", file=rel, hint="move the check to another folder "
                            "(e.g. checks/) and update the config")
        out[rel] = ctx.read_text(Path(source), Where(rel))
    return out


def _default_test(value: Any, doc: Doc, ctx: Ctx, models: Models) -> Test | None:
    if value is None:
        return None
    ddoc: Doc = doc
    loc: tuple[str, ...] = ("defaultTest",)
    if isinstance(value, str):
        where = doc.where(loc)
        ddoc, loc = ctx.load(ctx.resolve(value, where), where), ()
        value = ddoc.data
    test = read_test(value, ddoc, loc, ctx)
    if test is None:
        return None
    judge = test.options.pop("provider", None)
    if judge is not None:
        jloc: tuple[str, ...] = (*loc, "options", "provider")
        if isinstance(judge, dict) and ("text" in judge or "embedding" in judge):
            if "embedding" in judge:
                ctx.note(ddoc.where((*jloc, "embedding")), "left out",
                         "the embedding provider: set `embedder:` in promptctl.yaml")
            judge, jloc = judge.get("text"), (*jloc, "text")
        taken = {m.alias for m in models.models}
        models.judge = one_provider(judge, ddoc, jloc, ctx, taken) if judge else None
    return test


def _evaluate_options(data: dict[str, Any], doc: Doc, ctx: Ctx, models: Models
                      ) -> dict[str, Any]:
    opts = data.get("evaluateOptions")
    out: dict[str, Any] = {}
    if not isinstance(opts, dict):
        return out
    for key, val in opts.items():
        where = doc.where(("evaluateOptions", key))
        if key == "repeat" and isinstance(val, int) and val >= 1:
            out["repeat"] = val
        elif key == "maxConcurrency" and isinstance(val, int) and val >= 1:
            for m in models.models:
                if m.entry.get("provider") == "openai":
                    m.entry["concurrency"] = val
            ctx.note(where, "approximated", "maxConcurrency: promptfoo's bound is over "
                     "all providers; promptctl's `concurrency` is per model")
        else:
            ctx.note(where, "left out", f"evaluateOptions.{key}")
    return out


def write(imported: Imported, out: Path, force: bool) -> list[Path]:
    return write_files(imported.files, out, force=force)
