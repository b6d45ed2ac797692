"""`promptctl cache stats|clear`."""

from __future__ import annotations

import typer

from ..cache import Cache
from . import common
from .funnel import funnel

app = typer.Typer(help="Inspect or clear the response cache in .promptctl/.",
                  no_args_is_help=True)


@app.command("stats")
@funnel
def stats(config: common.ConfigOpt = None) -> None:
    """Entries, hits and size of the response cache, per model."""
    from .output import out

    project = common.project(config)
    data = Cache(project.state_dir / "cache.sqlite").stats()
    out.print(f"cache: {data['path']}")
    out.print(f"entries: {data['entries']:,}  hits: {data.get('hits', 0):,}  "
              f"size: {data['bytes'] / 2**20:.2f} MiB")
    for row in data["by_model"]:
        out.print(f"  {row['provider']} {row['model']}: {row['entries']:,} entries, "
                  f"{row['hits']:,} hits")


@app.command("clear")
@funnel
def clear(config: common.ConfigOpt = None) -> None:
    """Delete every cached response."""
    from .output import out

    project = common.project(config)
    removed = Cache(project.state_dir / "cache.sqlite").clear()
    out.print(f"removed {removed:,} cached responses")
