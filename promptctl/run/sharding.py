"""Sharding across machines: `--shard I/N` runs one deterministic, balanced slice of
the planned calls, and `merge` joins the shard runs back into one run.

A slice is made of whole cells, (suite, case, prompt, model) with all their repeats,
dealt round-robin over the sorted cell keys: the slices partition the plan exactly,
their cell counts differ by at most one, and the same suites give the same slices on
every machine (the order of files or of the command line does not matter).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..boundary import display_path
from ..errors import UserError
from ..load.project import Project
from ..results import CallRecord, CellKey, RecordKey
from ..schema import format_shard, parse_shard
from .meta import read_meta, suites_from_meta, write_meta
from .store import (
    LATEST,
    RECORDS,
    RunWriter,
    final_records,
    now_iso,
    read_summary,
    resolve_run,
    runs_dir,
)
from .summary import Summary


class InCell(Protocol):
    @property
    def cell(self) -> CellKey: ...


C = TypeVar("C", bound=InCell)


def assign(cells: Sequence[CellKey], count: int) -> dict[CellKey, int]:
    """Cell -> shard index (1-based), round-robin over the sorted distinct cells."""
    return {cell: i % count + 1 for i, cell in enumerate(sorted(set(cells)))}


def shard_calls(calls: Sequence[C], index: int, count: int) -> list[C]:
    """The calls of shard `index` of `count`, in plan order."""
    owner = assign([c.cell for c in calls], count)
    return [c for c in calls if owner[c.cell] == index]


# -- merge --------------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    meta: dict[str, Any]
    records: list[CallRecord]

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.path.name)

    @property
    def shard(self) -> tuple[int, int] | None:
        text = (self.meta.get("options") or {}).get("shard")
        return parse_shard(text) if text else None

    @property
    def label(self) -> str:
        return display_path(self.path)


@dataclass
class Merged:
    run_id: str
    path: Path
    sources: list[Source]
    records: list[CallRecord]
    summary: Summary
    started: str
    finished: str
    missing_shards: list[int]


# options that must agree for runs to be one run; shard, cache and -j may differ
SAME_OPTIONS = ("models", "repeat", "max_repeat", "seed_offset", "filter", "params",
                "perturb")


def find_run_dir(project: Project, ref: str) -> Path:
    """A run to merge: a run id (or unique prefix) in .promptctl/runs, a run directory
    (holds records.jsonl), or a runs directory (its latest run), e.g. a downloaded CI
    artifact of .promptctl/runs."""
    path = Path(ref)
    if path.is_dir():
        if (path / RECORDS).is_file():
            return path
        if (path / LATEST).is_file() or (path / LATEST).is_symlink():
            return resolve_run(path)  # a bad pointer is exit 2 naming it
        runs = [p for p in path.iterdir() if (p / RECORDS).is_file()]
        if len(runs) == 1:
            return runs[0]
        raise UserError(f"{ref} is not a run directory" + (
            f" (it holds {len(runs)} runs)" if runs else ""),
            hint="name a run directory (it holds records.jsonl), or a runs directory "
                 "with a 'latest' file")
    return resolve_run(runs_dir(project), ref)


def load_source(path: Path) -> Source:
    meta = read_meta(path)
    if read_summary(path) is None:
        raise UserError(f"run '{path.name}' did not finish (no summary.json)",
                        file=display_path(path),
                        hint=f"finish it with `promptctl run --resume {path.name}` first")
    return Source(path, meta, final_records(path))


def _same(a: CallRecord, b: CallRecord) -> bool:
    return (a.output, a.error, a.passed) == (b.output, b.error, b.passed)


def _describe(key: RecordKey) -> str:
    suite, case, prompt, model, repeat = key
    return f"{suite}/{case} (prompt {prompt}, model {model}, repeat {repeat})"


def merge_records(sources: Sequence[Source]) -> dict[RecordKey, CallRecord]:
    """Every source's records, deduplicated by key. The same key twice with a different
    result (output, error or verdict) is a conflict: an error naming the key."""
    merged: dict[RecordKey, tuple[CallRecord, Source]] = {}
    for src in sources:
        for rec in src.records:
            seen = merged.get(rec.key)
            if seen is None:
                merged[rec.key] = (rec, src)
            elif not _same(seen[0], rec):
                raise UserError(
                    f"conflicting results for {_describe(rec.key)}: run '{seen[1].run_id}' "
                    f"and run '{src.run_id}' both have it, with different outputs",
                    hint="the runs overlap: merge the shards of one `--shard I/N` "
                         "matrix, each once")
    return {key: rec for key, (rec, _) in merged.items()}


def check_compatible(sources: Sequence[Source]) -> None:
    first = sources[0]
    base = first.meta.get("options") or {}
    for src in sources[1:]:
        opts = src.meta.get("options") or {}
        for name in SAME_OPTIONS:
            if opts.get(name) != base.get(name):
                raise UserError(
                    f"runs '{first.run_id}' and '{src.run_id}' were made with different "
                    f"options ({name}: {json.dumps(base.get(name))} vs "
                    f"{json.dumps(opts.get(name))})",
                    hint="merge only the shards of one run, made with the same flags")
    counts = {s.shard[1] for s in sources if s.shard}
    if len(counts) > 1:
        raise UserError("the runs are shards of different splits (" + ", ".join(
            sorted({format_shard(s.shard) or "" for s in sources if s.shard})) + ")",
            hint="merge the shards of one `--shard I/N` matrix")
    if counts and any(s.shard is None for s in sources):
        plain = next(s for s in sources if s.shard is None)
        raise UserError(f"run '{plain.run_id}' is not a shard, but the others are",
                        hint="merge the shards of one `--shard I/N` matrix")


def missing_shards(sources: Sequence[Source]) -> list[int]:
    shards = [s.shard for s in sources if s.shard]
    if not shards:
        return []
    count = shards[0][1]
    return sorted(set(range(1, count + 1)) - {i for i, _ in shards})


def plan_order(project: Project, suites: Sequence[str], models: Sequence[str]
               ) -> dict[CellKey, int]:
    """Each cell's position in the suites' plan (file order), where the suites load."""
    order: dict[CellKey, int] = {}
    try:
        loaded = suites_from_meta(project, list(suites), list(models), strict=False)
    except UserError:
        return order
    for suite in loaded:
        for case in suite.cases:
            for prompt in suite.prompts:
                for model in suite.models:
                    order.setdefault((suite.name, case.id, prompt.id, model), len(order))
    return order


def merge_runs(project: Project, refs: Sequence[str], *, allow_partial: bool = False
               ) -> Merged:
    """Join runs (the shards of one matrix) into one new run directory in
    .promptctl/runs: records deduplicated, meta listing the sources, summary
    recomputed. The new run becomes the latest, so `diff` picks it up."""
    paths = _run_dirs(project, refs)
    if not paths:
        raise UserError("no runs to merge", hint="name the shard runs: promptctl merge RUN...")
    sources = [load_source(p) for p in paths]
    sources.sort(key=lambda s: (s.shard or (0, 0), s.run_id))
    check_compatible(sources)
    missing = missing_shards(sources)
    if missing and not allow_partial:
        count = next(s.shard[1] for s in sources if s.shard)
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise UserError(f"shard{'s' if len(missing) > 1 else ''} {names} missing: the "
                        "merged run would lack their cases",
                        hint="add their runs, or pass --allow-partial")
    by_key = merge_records(sources)
    suites = list(dict.fromkeys(file for src in sources
                                for file in src.meta.get("suites") or []))
    options = dict(sources[0].meta.get("options") or {})
    options["shard"] = None
    order = plan_order(project, suites, options.get("models") or [])
    unknown = len(order)
    records = sorted(by_key.values(), key=lambda r: (
        order.get(r.cell, unknown), r.suite, r.case,
        r.prompt, r.model, r.repeat))
    return _write_merged(project, sources, records, suites, options, missing)


def _run_dirs(project: Project, refs: Sequence[str]) -> list[Path]:
    """The run directories `refs` name, each once."""
    paths: list[Path] = []
    for ref in refs:
        path = find_run_dir(project, ref)
        if any(path.resolve() == p.resolve() for p in paths):
            continue  # the same run named twice
        paths.append(path)
    return paths


def _write_merged(project: Project, sources: list[Source], records: list[CallRecord],
                  suites: list[str], options: dict[str, Any], missing: list[int]) -> Merged:
    """The merged run, written as a run of its own: meta (naming its sources),
    records, summary."""
    started = min((str(s.meta.get("started") or "") for s in sources), default="") \
        or now_iso()
    summary = Summary.of(records)
    writer = RunWriter(runs_dir(project))
    meta: dict[str, Any] = {
        "run_id": writer.run_id, "started": started, "suites": suites,
        "calls": len(records), "options": options,
        "merged_from": [{"run_id": s.run_id, "path": s.label,
                         "shard": format_shard(s.shard), "records": len(s.records)}
                        for s in sources]}
    if missing:
        meta["partial"] = True  # a baseline update from it must keep the other cases
    try:
        write_meta(writer.dir, meta)
        writer.write_all(records)
    except BaseException:
        writer.close()
        raise
    finished = now_iso()
    writer.finish({"run_id": writer.run_id, "started": started, "finished": finished,
                   "summary": summary.to_dict()})
    return Merged(writer.run_id, writer.dir, sources, records, summary, started, finished,
                  missing)
