"""promptfoo tests to promptctl cases, in promptfoo's evaluation order.

What promptfoo does, and so what this does: `tests:` inline or from files (`.csv` rows
through the special columns, `.json` / `.jsonl` / `.yaml` test lists, globs); test
`vars:` from `file://` YAML files; then the `scenarios` (each `config` entry merged
under each scenario test, appended after the tests); `defaultTest` under every test
(vars, assert first unless `options.disableDefaultAsserts`, threshold, metadata);
then every list-valued var (a list of strings, or a `file://` glob) expands the test
into one per combination, in key order, the first key outermost. Expansion is done
here: each combination is a case of its own, id `BASE[v1-v2]`.

Before rendering promptfoo loads `file://` vars (text trimmed, YAML as JSON), drops
one trailing newline of every text var and substitutes `{{ other }}` in var values;
the case gets the values promptfoo renders with. Nunjucks prints `null` as nothing and
`true` as "true": such values are written as the text promptfoo prints.

Case ids: the test's `description` slugified, else the slug of its first vars' values
(shortened), else `test`; `-2`, `-3` on a collision. promptfoo's own "Row #N"
descriptions of file rows do not name a case (a row inserted above would rename every
case after it): those rows are named from their vars.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import UserError
from ...load.jsjson import dump, js_number
from . import asserts
from .jsexpr import Unsupported
from .jsrewrite import transform
from .notes import Note, Where
from .prompts import slug, translate, unique
from .source import Ctx, Doc, is_file_ref, template_name

_ROW = re.compile(r"^Row #\d+$")
_OPTION_KEYS = {"transform", "disableDefaultAsserts", "disableVarExpansion", "provider"}
_TEST_KEYS = {"description", "vars", "assert", "options", "threshold", "metadata"}


@dataclass
class Test:
    """One promptfoo test after merging, before expansion."""

    where: Where
    description: str | None = None
    auto_description: bool = False  # promptfoo's "Row #N", not the user's
    vars: dict[str, Any] = field(default_factory=dict)
    own_vars: dict[str, Any] = field(default_factory=dict)  # before defaultTest: the id's
    asserts: list[dict[str, Any]] = field(default_factory=list)  # promptctl assertions
    threshold: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # the test file it came from, if any


@dataclass
class Case:
    """One promptctl case: a test after var expansion."""

    test: Test
    id: str
    vars: dict[str, Any]  # what promptctl renders with
    pf_vars: dict[str, Any]  # what promptfoo's results show


# -- assertions (asserts.py) ---------------------------------------------------------

def convert_assert(item: Any, where: Where, ctx: Ctx) -> list[dict[str, Any]]:
    """A promptfoo assertion as promptctl assertions; its notes and the files it needs
    copied (a python check) go to `ctx`. A kept `$ref` to an assertion template (see
    source.template_ref) is `use: NAME`, the template converted once into ctx.sets."""
    name = template_name(item["$ref"]) if isinstance(item, dict) and set(item) == {
        "$ref"} else None
    if name is not None and name in ctx.templates:  # else asserts.py notes it left out
        if name not in ctx.sets:
            raw, at = ctx.templates[name]
            ctx.sets[name] = _taken(asserts.convert_assert(
                raw, at, judge_alias=_judge(at, ctx), base_dir=ctx.root), ctx)
        return [{"use": name}] if ctx.sets[name] else []
    return _taken(asserts.convert_assert(item, where, judge_alias=_judge(where, ctx),
                                         base_dir=ctx.root), ctx)


def parse_expected(cell: str, where: Where, ctx: Ctx) -> list[dict[str, Any]]:
    return _taken(asserts.parse_expected(cell, where, judge_alias=_judge(where, ctx),
                                         base_dir=ctx.root), ctx)


def _judge(where: Where, ctx: Ctx) -> asserts.JudgeAlias | None:
    alias = ctx.judge_alias
    return None if alias is None else lambda provider: alias(provider, where)


def _taken(converted: asserts.Converted, ctx: Ctx) -> list[dict[str, Any]]:
    ctx.notes.extend(converted.notes)
    ctx.copies.update(converted.files)
    return list(converted.asserts)


def convert_asserts(items: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx
                    ) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        ctx.note(doc.where(loc), "left out", "'assert' is not a list")
        return []
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        out.extend(convert_assert(item, doc.where((*loc, i)), ctx))
    return out


# -- reading tests -----------------------------------------------------------------------

def read_test(raw: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx, *,
              source: str | None = None, auto: str | None = None) -> Test | None:
    """One test mapping as written (inline or from a file), its own keys only."""
    where = doc.where(loc)
    if not isinstance(raw, dict):
        ctx.note(where, "left out", "a test that is not a mapping")
        return None
    test = Test(where, source=source)
    for key in raw:
        if key not in _TEST_KEYS:
            ctx.note(doc.where((*loc, key)), "left out", f"test key '{key}'")
    desc = raw.get("description")
    if isinstance(desc, str) and _ROW.match(desc.strip()):
        # promptfoo's own name of a file row (a results file embeds its tests with it):
        # the case is named from its vars, as when the row is read from its file
        test.description, test.auto_description = desc.strip(), True
    elif isinstance(desc, str) and desc.strip():
        test.description = desc
    elif auto:
        test.description, test.auto_description = auto, True
    test.vars = read_vars(raw.get("vars"), doc, (*loc, "vars"), ctx)
    test.own_vars = dict(test.vars)
    test.asserts = convert_asserts(raw.get("assert"), doc, (*loc, "assert"), ctx)
    if isinstance(raw.get("threshold"), int | float):
        test.threshold = float(raw["threshold"])
    if isinstance(raw.get("metadata"), dict):
        test.metadata = dict(raw["metadata"])
    if isinstance(raw.get("options"), dict):
        test.options = dict(raw["options"])
        for key in raw["options"]:
            if key not in _OPTION_KEYS:
                ctx.note(doc.where((*loc, "options", key)), "left out",
                         f"test option '{key}'")
    return test


def read_vars(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> dict[str, Any]:
    """A test's vars: a mapping, or `file://` YAML/JSON file(s) whose mappings merge."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    paths = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    out: dict[str, Any] = {}
    where = doc.where(loc)
    for p in paths:
        if not isinstance(p, str):
            continue
        for path in ctx.glob(p, where):
            data = ctx.load(path, where).data
            if isinstance(data, dict):
                out.update(data)
    if not paths:
        ctx.note(where, "left out", "'vars' is neither a mapping nor file paths")
    return out


def read_tests(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> list[Test]:
    """`tests:` as promptfoo's readTests reads it."""
    out: list[Test] = []
    if value is None:
        return out
    if isinstance(value, str):
        return _tests_file(value, doc.where(loc), ctx, standalone=True)
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return _tests_file(value["path"], doc.where(loc), ctx, standalone=True)
    if not isinstance(value, list):
        ctx.note(doc.where(loc), "left out", "'tests' is not a list or a file")
        return out
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.extend(_tests_file(item, doc.where((*loc, i)), ctx, standalone=False))
        elif isinstance(item, dict) and isinstance(item.get("path"), str):
            out.extend(_tests_file(item["path"], doc.where((*loc, i)), ctx, standalone=True))
        else:
            test = read_test(item, doc, (*loc, i), ctx)
            if test is not None:
                out.append(test)
    return out


def _tests_file(written: str, where: Where, ctx: Ctx, *, standalone: bool) -> list[Test]:
    lower = written.lower()
    if lower.endswith((".js", ".cjs", ".mjs", ".ts", ".py")) or ":" in \
            written.removeprefix("file://") or "://" in written.removeprefix("file://"):
        ctx.note(where, "left out", f"tests from '{written}': promptctl reads tests from "
                 "CSV, JSON, JSONL and YAML files only")
        return []
    paths = ctx.glob(written, where)
    if not paths:
        raise UserError(f"no test file matches '{written}'", file=where.file,
                        line=where.line, hint="check the path; it is relative to the "
                        "config's folder")
    out: list[Test] = []
    for path in paths:
        name = ctx.shown(path)
        ext = path.suffix.lower()
        if ext == ".csv":
            out.extend(_csv_tests(ctx.read_text(path, where), name, ctx))
            continue
        if ext == ".jsonl":
            text = ctx.read_text(path, where)
            rows = []
            for n, line in enumerate(text.split("\n"), 1):
                if line.strip():
                    try:
                        rows.append((json.loads(line), n))
                    except ValueError as exc:
                        raise UserError(f"not valid JSON: {exc}", file=name,
                                        line=n) from None
            for i, (row, n) in enumerate(rows):
                test = read_test(row, Doc(name, row, _line_source(name, n)), (), ctx,
                                 source=name, auto=f"Row #{i + 1}" if standalone else None)
                if test is not None:  # promptfoo names a row without one "Row #N"
                    out.append(test)
            continue
        if ext not in (".json", ".yaml", ".yml"):
            raise UserError(f"unsupported test file '{name}'", file=where.file,
                            line=where.line, hint="use .csv, .json, .jsonl or .yaml")
        tdoc = ctx.load(path, where)
        data = tdoc.data if isinstance(tdoc.data, list) else [tdoc.data]
        auto = standalone and ext == ".json"  # promptfoo names JSON rows "Row #N"
        for i, row in enumerate(data):
            loc: tuple[Any, ...] = (i,) if isinstance(tdoc.data, list) else ()
            test = read_test(row, tdoc, loc, ctx, source=name,
                             auto=f"Row #{i + 1}" if auto else None)
            if test is not None:
                out.append(test)
    return out


def _line_source(name: str, line: int) -> Any:
    from ...load.yamlsrc import Source

    return Source(name, {(): line})


def _csv_tests(text: str, name: str, ctx: Ctx) -> list[Test]:
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise UserError(f"CSV error: {exc}", file=name, line=reader.line_num) from None
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    out = []
    line = 1
    for i, cells in enumerate(rows[1:]):
        line += 1
        if not any(c.strip() for c in cells):
            continue
        row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
        test = csv_test(row, Where(name, line), i, ctx, name)
        if test is not None:
            out.append(test)
    return out


def csv_test(row: dict[str, Any], where: Where, i: int, ctx: Ctx, name: str) -> Test:
    """promptfoo's testCaseFromCsvRow: the special `__` columns, the rest vars."""
    test = Test(where, source=name)
    metric: str | None = None
    configs: dict[int, dict[str, Any]] = {}
    for key, value in row.items():
        text = value if isinstance(value, str) else "" if value is None else str(value)
        if key.startswith("__expected"):
            if text.strip():
                test.asserts.extend(parse_expected(text.strip(), where, ctx))
        elif key == "__description":
            test.description = text or None
        elif key == "__metric":
            metric = text
        elif key == "__threshold" and text.strip():  # promptfoo: NaN is no threshold
            try:
                test.threshold = float(text)
            except ValueError:
                ctx.note(where, "left out", f"__threshold {text!r} is not a number")
        elif key.startswith("__metadata:"):
            mkey = key[len("__metadata:"):]
            if text.strip():
                test.metadata[mkey.removesuffix("[]")] = (
                    [p.strip().replace("\\,", ",") for p in re.split(r"(?<!\\),", text)]
                    if mkey.endswith("[]") else text)
        elif key.startswith("__config:"):
            m = re.fullmatch(r"__config:__expected(\d*):threshold", key)
            try:
                if m is None:
                    raise ValueError(key)
                configs.setdefault(int(m.group(1) or 1) - 1, {})["threshold"] = float(text)
            except ValueError:
                ctx.note(where, "left out", f"column '{key}'")
        elif key == "__threshold":
            pass
        elif key.startswith("__"):
            ctx.note(where, "left out", f"column '{key}'")
        else:
            test.vars[key] = value
    test.own_vars = dict(test.vars)
    if metric:
        for a in test.asserts:
            a["metric"] = metric
    for index, conf in configs.items():
        if index < len(test.asserts):
            test.asserts[index].update(conf)
    if not test.description:
        test.description, test.auto_description = f"Row #{i + 1}", True
    return test


# -- scenarios and defaultTest -----------------------------------------------------------

def scenario_tests(value: Any, doc: Doc, loc: tuple[Any, ...], ctx: Ctx) -> list[Test]:
    """Each scenario's `config` entries x its `tests`, as promptfoo appends them."""
    out: list[Test] = []
    if value is None:
        return out
    if not isinstance(value, list):
        ctx.note(doc.where(loc), "left out", "'scenarios' is not a list")
        return out
    for si, scen in enumerate(value):
        sloc = (*loc, si)
        if not isinstance(scen, dict):
            continue
        for key in scen:
            if key not in ("config", "tests", "description"):
                ctx.note(doc.where((*sloc, key)), "left out", f"scenario key '{key}'")
        configs = scen.get("config") or [{}]
        ctests = read_tests(scen.get("tests"), doc, (*sloc, "tests"), ctx) \
            if scen.get("tests") is not None else [Test(doc.where(sloc))]
        for ci, conf in enumerate(configs if isinstance(configs, list) else [configs]):
            data = read_test(conf or {}, doc, (*sloc, "config", ci), ctx)
            if data is None:
                continue
            for t in ctests:
                out.append(merge(data, t))
    return out


def merge(under: Test, over: Test) -> Test:
    """`over`'s keys win; vars, options and metadata merge; asserts concatenate."""
    desc, auto = (over.description, over.auto_description) if over.description else \
        (under.description, under.auto_description)
    return Test(over.where, desc, auto, {**under.vars, **over.vars},
                {**under.own_vars, **over.own_vars}, [*under.asserts, *over.asserts],
                over.threshold if over.threshold is not None else under.threshold,
                {**under.metadata, **over.metadata}, {**under.options, **over.options},
                None)


def apply_default(test: Test, default: Test | None, *, asserts: bool) -> Test:
    """defaultTest under a test; its assertions only when `asserts` (else the suite's
    `defaults.assert` carries them)."""
    if default is None:
        return test
    merged = merge(default, test)
    merged.description, merged.auto_description = test.description, test.auto_description
    merged.source, merged.own_vars = test.source, test.own_vars
    if not asserts or test.options.get("disableDefaultAsserts"):
        merged.asserts = list(test.asserts)
    return merged


# -- expansion, values as promptfoo renders them, ids -------------------------------------

def expand(test: Test, ctx: Ctx) -> list[dict[str, Any]]:
    """promptfoo's generateVarCombinations: a list of strings or a `file://` glob is
    several values; any other list is one value."""
    if test.options.get("disableVarExpansion"):
        return [dict(test.vars)]
    combos: list[dict[str, Any]] = [{}]
    for key, value in test.vars.items():
        if is_file_ref(value):
            found = ctx.glob(value, test.where)
            if not found:
                raise UserError(f"no file matches var '{key}': {value}", file=test.where.file,
                                line=test.where.line, hint="check the path")
            values: list[Any] = [f"file://{ctx.rel(p)}" for p in found]
        elif isinstance(value, list) and value and isinstance(value[0], str):
            values = value
        else:
            values = [value]
        combos = [{**c, key: v} for c in combos for v in values]
    return combos


def render_value(value: Any, key: str, where: Where, ctx: Ctx) -> Any:
    """A var's value as promptfoo's renderPrompt sees it."""
    if is_file_ref(value):
        path = ctx.resolve(value, where)
        ext = path.suffix.lower()
        if ext in (".yaml", ".yml"):
            data = ctx.load(path, where).data
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if ext in (".js", ".cjs", ".mjs", ".ts", ".py", ".pdf", ".png", ".jpg", ".jpeg",
                   ".gif", ".webp", ".bmp", ".svg", ".mp4", ".webm", ".mov"):
            ctx.note(where, "left out", f"var '{key}': promptfoo loads '{value}' by running "
                     "or converting it; promptctl gets its path as text")
            return value
        return ctx.read_text(path, where).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and abs(value) > 2 ** 53:
        return js_number(float(value))  # a JavaScript number: as JavaScript prints it
    if value == []:
        return ""  # Nunjucks prints an empty array as nothing; a loop over it is empty
    if isinstance(value, str):
        return value[:-1] if value.endswith("\n") else value
    return value


def shown(value: Any) -> Any:
    """A var's value as promptfoo's results show it: numbers as JavaScript numbers
    (1000.0 is 1000; an integer past 2**53 loses its last digits), and text that is a
    JSON object or array re-serialized compactly (promptfoo records such a var as
    JSON.stringify(JSON.parse(text)); it renders the text as written)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(js_number(value))
    if isinstance(value, int) and abs(value) > 2 ** 53:
        return int(js_number(float(value)))
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return dump(None, parsed) if isinstance(parsed, (dict, list)) else value
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def resolve_vars(values: dict[str, Any]) -> dict[str, Any]:
    """promptfoo's resolveVariables: `{{ other }}` inside a var's text is replaced by
    that var's value, up to five rounds."""
    out = dict(values)
    for _ in range(5):
        changed = False
        for key, val in out.items():
            if not isinstance(val, str):
                continue
            m = _PLACEHOLDER.search(val)
            if m and m.group(1) in out and m.group(1) != key:
                out[key] = val.replace(m.group(0), str(out[m.group(1)]), 1)
                changed = True
        if not changed:
            break
    return out


def _value_text(value: Any) -> str:
    """A value in a case id: as promptfoo shows it (so an id made from a results file's
    embedded config, where promptfoo wrote 1e3 as 1000, is the same)."""
    value = shown(value)
    if isinstance(value, str):
        return value.removeprefix("file://")
    return json.dumps(value, ensure_ascii=False)


def make_cases(tests: list[Test], ctx: Ctx) -> list[Case]:
    """Every test expanded, with its case id, in promptfoo's order."""
    cases: list[Case] = []
    taken: set[str] = set()
    for test in tests:
        combos = expand(test, ctx)
        listed = [k for k, v in test.vars.items() if len(combos) > 1 and (
            is_file_ref(v) or (isinstance(v, list) and v and isinstance(v[0], str)))]
        if test.description and not test.auto_description:
            base = slug(test.description, 60) or "test"
        else:
            base = slug(" ".join(_value_text(v) for k, v in test.own_vars.items()
                                 if k not in listed), 40) or "test"
        for combo in combos:
            rendered = {k: render_value(v, k, test.where, ctx) for k, v in combo.items()}
            name = base
            if listed:
                name = f"{base}[{'-'.join(slug(_value_text(combo[k]), 20) or 'x' for k in listed)}]"
            cases.append(Case(test, unique(name, taken), resolve_vars(rendered),
                              {k: shown(v) for k, v in combo.items()}))
    return cases


def output_transforms(tests: list[Test], default: Test | None, ctx: Ctx) -> None:
    """A test's `options.transform` (its own, else defaultTest's, merged already: the
    JavaScript promptfoo runs on the output before every assertion) becomes each of its
    assertions' Jinja `transform`, under an assertion's own transform as promptfoo
    applies them. The defaults' assertions (when the suite's `defaults.assert` holds
    them) take it when every test has the same one; config.py copies them into each
    case when tests differ (`transforms_differ`)."""
    made: dict[str, str | None] = {}
    for test in tests:
        src = test.options.get("transform")
        if src is None:
            continue
        key = json.dumps(src, default=str)
        if key not in made:
            try:
                if not isinstance(src, str) or src.startswith("file://"):
                    raise Unsupported("a file of code")
                made[key] = transform(src)
            except Unsupported as exc:
                made[key] = None
                ctx.note(test.where, "left out", f"options.transform {key[:120]}: it uses "
                         f"{exc}, which a Jinja transform cannot express")
        jinja = made[key]
        if jinja is not None:  # a set used here is copied in: the transform is this test's
            test.asserts = [_under(a, jinja) for a in expand_uses(test.asserts, ctx)]
    if default is not None and tests and not transforms_differ(tests):
        src = tests[0].options.get("transform")
        jinja = made.get(json.dumps(src, default=str)) if src is not None else None
        if jinja is not None:
            default.asserts = [_under(a, jinja) for a in expand_uses(default.asserts, ctx)]


def transforms_differ(tests: list[Test]) -> bool:
    return len({json.dumps(t.options.get("transform"), default=str) for t in tests}) > 1


def expand_uses(specs: list[dict[str, Any]], ctx: Ctx) -> list[dict[str, Any]]:
    """Assertions with each `use: NAME` replaced by its set's assertions (copies)."""
    out: list[dict[str, Any]] = []
    for spec in specs:
        if set(spec) == {"use"}:
            out.extend(dict(a) for a in ctx.sets[spec["use"]])
        else:
            out.append(spec)
    return out


def _under(spec: dict[str, Any], made: str) -> dict[str, Any]:
    inner = spec.get("transform")
    return {**spec, "transform": made if not isinstance(inner, str)
            else inner.replace("output", f"({made})", 1)}


_GRADED = frozenset(asserts.JUDGED.values())  # the promptctl types a `judge:` grades


def test_grader(test: Test, ctx: Ctx) -> None:
    """A test's `options.provider` grades its model-graded assertions (those without a
    `provider` of their own): their `judge:` is that provider's model entry. The
    defaults' graded assertions take it too: config.py copies them into each case when
    a test names one (`graders_differ`)."""
    provider = test.options.get("provider")
    if provider is None:
        return
    alias = ctx.judge_alias(provider, test.where) if ctx.judge_alias is not None and \
        isinstance(provider, (str, dict)) else None
    if alias is None:
        ctx.note(test.where, "approximated", "options.provider: model-graded assertions "
                 "use the project's judge")
        return
    out: list[dict[str, Any]] = []
    for a in test.asserts:
        used = ctx.sets[a["use"]] if set(a) == {"use"} else None
        if used is not None and any(_graded(x) for x in used):
            out.extend({**x, "judge": alias} if _graded(x) else dict(x) for x in used)
        else:
            out.append({**a, "judge": alias} if used is None and _graded(a) else a)
    test.asserts = out


def _graded(spec: dict[str, Any]) -> bool:
    """Is it model-graded, by the project's judge (no `judge:` of its own)?"""
    return spec.get("type", "").removeprefix("not-") in _GRADED and "judge" not in spec


def graders_differ(tests: list[Test], default: Test | None, ctx: Ctx) -> bool:
    """Must the defaults' assertions be copied into each case? When one of them is
    model-graded and some test names its own grading provider (which grades them too
    in promptfoo)."""
    return default is not None and any("provider" in t.options for t in tests) and any(
        _graded(a) for a in expand_uses(default.asserts, ctx))


__all__ = ["Case", "Note", "Test", "apply_default", "make_cases", "read_test",
           "read_tests", "scenario_tests", "translate"]
