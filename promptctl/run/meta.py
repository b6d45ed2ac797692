"""meta.json: what made a run's plan, with one writer and one reader.

A run folder's meta.json is written when the run starts (before its first call), so a
killed run can be resumed, diffed or merged from it: the suite files, the plan-shaping
options (options.py's PLAN_FLAGS, as `plan_options` records them and `options_from_meta`
reads them back), the number of planned calls and, for a --changed-since run, the cells
it selected. `resume` appends to its `resumed` list, `merge` writes a new run's with
`merged_from`; `check` adds `command` and `alpha`; a run of another tool's outputs
(given.py) has `imported_from`. Its shape is artifacts.RunMeta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boundary import display_path
from ..errors import UserError
from ..load.filters import patterns
from ..load.project import Project
from ..load.suites import Suite, load_suite
from ..results import CallRecord
from ..schema import format_shard, parse_shard
from .options import RunOptions
from .store import final_records, read_summary, resolve_run, runs_dir, write_json_atomic
from .summary import Summary

META = "meta.json"


def plan_options(options: RunOptions) -> dict[str, Any]:
    """The options as meta.json records them: what `options_from_meta` reads back."""
    return {"models": options.models,
            "repeat": "auto" if options.auto_repeat else options.repeat,
            "max_repeat": options.max_repeat, "seed_offset": options.seed_offset,
            "filter": _filter(options.filter), "use_cache": options.use_cache,
            "params": options.params, "shard": format_shard(options.shard),
            **({} if options.perturb else {"perturb": False}),
            **({"batch": True} if options.batch else {})}


def _filter(value: tuple[str, ...]) -> str | list[str] | None:
    """-k as meta.json records it: none, one pattern as text (as before), or a list."""
    found = patterns(value)
    return None if not found else found[0] if len(found) == 1 else list(found)


def options_from_meta(meta: dict[str, Any], *, concurrency: int | None = None) -> RunOptions:
    saved = meta.get("options") or {}
    repeat = saved.get("repeat")
    return RunOptions(
        models=list(saved.get("models") or []),
        repeat=None if repeat in (None, "auto") else int(repeat),
        concurrency=concurrency,  # how fast, not what: the command line decides
        use_cache=bool(saved.get("use_cache", True)),
        filter=patterns(saved.get("filter")),
        params=dict(saved.get("params") or {}),
        auto_repeat=repeat == "auto",
        max_repeat=int(saved.get("max_repeat") or 5),
        seed_offset=int(saved.get("seed_offset") or 0),
        shard=parse_shard(saved["shard"]) if saved.get("shard") else None,
        perturb=saved.get("perturb") is not False,
        batch=saved.get("batch") is True,
        only=({(str(s), str(c), str(p), str(m)) for s, c, p, m in meta["only"]}
              if isinstance(meta.get("only"), list) else None),
    )


def new_meta(run_id: str, started: str, suites: Sequence[Suite], calls: int,
             options: RunOptions, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The meta.json of a fresh run."""
    return {"run_id": run_id, "started": started, "suites": [s.file for s in suites],
            "calls": calls, "options": plan_options(options),
            # --changed-since: the cells it selected, so that resume makes the same
            # plan whatever git says by then
            **({"partial": True, "only": sorted(map(list, options.only))}
               if options.only is not None else {}),
            **(extra or {})}


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    write_json_atomic(run_dir / META, meta)


def read_meta(run_dir: Path) -> dict[str, Any]:
    """meta.json as written (artifacts.RunMeta: what made the run's plan)."""
    from ..artifacts import RunMeta, load_json  # its pydantic shapes: ~30 ms, for reading

    path = run_dir / META
    if not path.is_file():
        raise UserError("run has no readable meta.json", file=display_path(run_dir),
                        hint="re-run the suites")
    _, data = load_json(path, RunMeta, display_path(path), "run meta",
                        f"delete the run folder {display_path(run_dir)}, or fix the file")
    return dict(data)


def suites_from_meta(project: Project, files: Sequence[str], models: Sequence[str], *,
                     strict: bool) -> list[Suite]:
    """The suites a run's meta.json names, as they are now. A file is looked up from
    the project root, then as written (relative to the working directory). A missing
    file is skipped, or an error when `strict`."""
    suites = []
    for file in files:
        path = project.root / file if not Path(file).is_absolute() else Path(file)
        if not path.is_file():
            path = Path(file)
        if path.is_file():
            suites.append(load_suite(project, path, models=list(models)))
        elif strict:
            raise UserError(f"the run's suite file {file} no longer exists",
                            hint="restore it, or start a new run")
    return suites


@dataclass
class SavedRun:
    run_id: str
    suites: list[Suite]
    records: list[CallRecord]
    filtered: bool
    started: str = ""
    finished: str = ""

    def summary(self) -> Summary:
        return Summary.of(self.records)


def load_run(project: Project, run: str | None = None) -> SavedRun:
    """A finished run from .promptctl/runs with its suites as they are now. The records
    are the run's final view: the last one per key (a retried call replaces its error)."""
    run_dir = resolve_run(runs_dir(project), run)
    meta = read_meta(run_dir)
    options = meta.get("options", {})
    suites = suites_from_meta(project, meta.get("suites", []), options.get("models") or [],
                              strict=False)
    records = final_records(run_dir)
    finished = (read_summary(run_dir) or {}).get("finished", "")  # a killed run has none
    # a filtered run, one shard, or a merge of some shards covers part of the suites
    partial = bool(options.get("filter") or options.get("shard") or meta.get("partial")
                   or options.get("perturb") is False)  # --no-perturb: no variants
    return SavedRun(run_dir.name, suites, records, partial, meta.get("started", ""),
                    finished)
