"""Typer's coercion of parameter values, skipped for the values nobody gave.

typer (0.29) coerces every parameter value of the invoked command through a pydantic
TypeAdapter that it builds on first use: importing its adapter module and building an
adapter per parameter costs `run` ~30 ms, paid even for the options left unset (a
value of None) or at their default, where coercion gives back the value it is handed.
`App` is a typer.Typer whose commands and group return those values as typer would
(None, or () for a multi-value parameter; the declared default), then run the
parameter's callback as click does (the --help flag's), and hand every value that was
given, and a required parameter left unset, to typer's own processing: what a command
receives and every error are typer's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

Process = Callable[[Any, Any], Any]


def _unless_unset(param: Any, process: Process) -> Process:
    def process_value(ctx: Any, value: Any) -> Any:
        if param.required:  # typer says it is missing, or coerces what was given
            return process(ctx, value)
        unset = value is None
        if not unset and value is param.default and param.name is not None:
            source = ctx.get_parameter_source(param.name)
            unset = source is not None and source.name == "DEFAULT"
        if not unset:
            return process(ctx, value)
        if value is None and (param.multiple or param.nargs == -1):
            value = ()
        # what click's process_value does after the coercion (the help flag's callback)
        return param.callback(ctx, param, value) if param.callback is not None else value

    return process_value


def _fast(params: list[Any]) -> None:
    for param in params:
        if not getattr(param, "_promptctl_fast", False):
            param.process_value = _unless_unset(param, param.process_value)
            param._promptctl_fast = True


class FastCommand(TyperCommand):
    """A typer command whose unset parameters skip typer's coercion (see above)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _fast(self.params)

    def get_help_option(self, ctx: Any) -> Any:  # made on first use, outside params
        option = super().get_help_option(ctx)
        _fast([option] if option is not None else [])
        return option


class FastGroup(TyperGroup):
    """The same for a group's own parameters (its --help flag)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _fast(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _fast([option] if option is not None else [])
        return option


class App(typer.Typer):
    """typer.Typer whose group is a FastGroup and whose commands are FastCommands,
    unless they name their own classes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", FastGroup)
        super().__init__(*args, **kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None,
                **kwargs: Any) -> Any:
        return super().command(name, cls=cls or FastCommand, **kwargs)


def git_range_args(args: list[str]) -> list[str]:
    """`--git[=REV_RANGE]` (PRODUCT.md: `history --git [REV_RANGE]`) as typer takes it:
    `--git=RANGE` and `--git A..B` become `--git --rev RANGE`; `--git` followed by
    anything else (a suite name, another option) stays the flag alone. Only a word with
    `..` is read as a range after a space: a suite name never has one. Everything after
    `--` is left as it is."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            return out + args[i - 1:]
        if arg.startswith("--git="):
            out += ["--git", "--rev", arg.removeprefix("--git=")]
            continue
        out.append(arg)
        if arg == "--git" and i < len(args) and ".." in args[i] \
                and not args[i].startswith("-"):
            out += ["--rev", args[i]]
            i += 1
    return out


class GitRangeCommand(FastCommand):
    """A FastCommand whose `--git` takes an optional range (git_range_args)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, git_range_args(list(args)))
