"""`promptctl cache stats|clear`."""

# no `from __future__ import annotations`: see cli/main.py


from . import common
from .funnel import funnel
from .params import App

app = App(help="Inspect or clear the response cache in .promptctl/.",
          no_args_is_help=True)


@app.command("stats")
@funnel
def stats(config: common.ConfigOpt = None) -> None:
    """Entries, hits and size of the response cache, per model."""
    # deferred: keeps --help fast
    from ..run.cache import open_cache
    from .output import out

    project = common.project(config)
    data = open_cache(project).stats()
    out.print(f"cache: {data['path']}", markup=False)
    cap = f" of {data['max_bytes'] / 2**20:.0f} MiB" if data.get("max_bytes") else ""
    out.print(f"entries: {data['entries']:,}  hits: {data.get('hits', 0):,}  "
              f"misses: {data.get('misses', 0):,}  size: {data['bytes'] / 2**20:.2f} MiB{cap}")
    for row in data["by_model"]:
        out.print(f"  {row['provider']} {row['model']}: {row['entries']:,} entries, "
                  f"{row['hits']:,} hits", markup=False)


@app.command("clear")
@funnel
def clear(config: common.ConfigOpt = None) -> None:
    """Delete every cached response."""
    # deferred: keeps --help fast
    from ..run.cache import open_cache
    from .output import out

    project = common.project(config)
    removed = open_cache(project).clear()
    out.print(f"removed {removed:,} cached responses")
