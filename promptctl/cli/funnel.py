"""The one error funnel: every command runs through `funnel`, which turns a
PromptctlError into one line on stderr and its exit code. Nothing else exits."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import ExitCode, PromptctlError

F = TypeVar("F", bound=Callable[..., Any])


def error_line(exc: PromptctlError) -> str:
    return f"error: {exc}"


def funnel(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PromptctlError as exc:
            print(error_line(exc), file=sys.stderr)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except SystemExit as exc:  # promptctl never calls sys.exit: user code did
            from ..contain import describe  # deferred: keeps --help fast

            print(f"error: code of the project {describe(exc)}; promptctl stopped "
                  "without a verdict", file=sys.stderr)
            raise typer.Exit(int(ExitCode.INFRA)) from None
        except Exception as exc:  # a bug in promptctl, not in the user's input
            if os.environ.get("PROMPTCTL_DEBUG"):
                raise
            print(f"internal error: {type(exc).__name__}: {exc} "
                  "(set PROMPTCTL_DEBUG=1 for the traceback, and please report it)",
                  file=sys.stderr)
            raise typer.Exit(int(ExitCode.INFRA)) from None

    return wrapper  # type: ignore[return-value]
