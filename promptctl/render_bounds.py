"""Bounds on the work one template render may do: time and size.

A prompt template is the PR author's code. Jinja's sandbox keeps it from the file system
and from Python's internals, not from asking for 10^10 loop iterations or a 10^9
character string. `BoundedSandbox` (a mixin in front of a sandboxed environment class)
and `render` bound both, so a render ends, within about `render_timeout` seconds and
`max_prompt_chars` characters (promptctl.yaml `limits:`), or raises `RenderLimit`:

- time: a deadline, checked on every loop iteration (the iterable of every `{% for %}`
  is wrapped when a template is compiled), every call (functions, macros, methods,
  `loop(...)`), every intercepted operator and every piece of output;
- size: output is counted as `Template.generate()` yields it, never joined past the
  limit; the operators that build values (`*`, `**`, `+`, `%`) and `~` refuse results
  past the limit before computing them (for integers: past MAX_INT_BITS); so do the
  filters and str methods that take a width or multiply their input (center, indent,
  wordwrap, format, join, replace, ljust, ...), and every `{{ value }}` and
  json/string filter whose value would print longer than the limit.

`range` is the sandbox's own (at most 100,000 items); its loops are bounded by the
deadline like any other. The bounds in force are the current `scope` (one per prompt:
all its messages share one deadline and one character budget), else the environment's
own (`max_prompt_chars`, `render_timeout`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from .schema import Limits

DEFAULTS = Limits()  # promptctl.yaml's `limits:` when it says nothing

MAX_INT_BITS = 100_000  # about 30,000 decimal digits: far past any prompt's arithmetic
BUFFERED_FACTOR = 10  # output built inside macros and blocks: 10 x max_prompt_chars
_CHECK_EVERY = 256  # loop iterations between two looks at the clock


class RenderLimit(Exception):
    """A render passed one of its bounds; `message` says which, `hint` what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.template_key = ""  # which of a prompt's templates: set by its renderer


def _fmt(seconds: float) -> str:
    return f"{round(seconds, 3):g}"


@dataclass
class _Scope:
    deadline: float
    timeout: float
    max_chars: int
    used: int = 0  # characters of output so far (all the prompt's messages)
    buffered: int = 0  # characters produced inside macros and blocks


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "promptctl_render_scope", default=None)


@contextlib.contextmanager
def scope(timeout: float, max_chars: int) -> Iterator[None]:
    """Renders inside share one deadline and one character budget (nested: the outer)."""
    if _SCOPE.get() is not None:
        yield
        return
    token = _SCOPE.set(_Scope(time.monotonic() + timeout, timeout, max_chars))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def _too_long(limit: int, *, buffered: bool = False) -> RenderLimit:
    what = (f"macros and blocks built more than {BUFFERED_FACTOR * limit:,} characters"
            if buffered else f"rendered text longer than {limit:,} characters")
    return RenderLimit(f"{what} (limits.max_prompt_chars)",
                       "render less (a loop or a repeated value is too big), or raise "
                       "limits.max_prompt_chars in promptctl.yaml")


def _too_slow(timeout: float) -> RenderLimit:
    return RenderLimit(f"rendering took longer than {_fmt(timeout)} s "
                       "(limits.render_timeout)",
                       "loop less (nested loops multiply), or raise limits.render_timeout "
                       "in promptctl.yaml")


def _check_time() -> None:
    current = _SCOPE.get()
    if current is not None and time.monotonic() > current.deadline:
        raise _too_slow(current.timeout)


def _printed_size(value: Any, limit: int) -> int:
    """How long `str(value)` would be, roughly (every reference to a shared value
    counted again: that is what printing does), stopping once past `limit`."""
    total = 0
    todo = [value]
    while todo and total <= limit:
        item = todo.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            for k, v in item.items():
                todo.append(k)
                todo.append(v)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            todo.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


def _int_too_big(bits: float) -> RenderLimit:
    return RenderLimit(f"a number of more than {MAX_INT_BITS:,} bits",
                       "templates format numbers; they do not compute huge ones")


_WIDTHS = re.compile(r"\d+")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_format(fmt: str, args: Iterable[Any], limit: int, printf: bool) -> None:
    """Refuse a format whose widths or precisions (`{:>999999999}`, `%.999999999f`,
    `%*s` with a huge argument) would build a string past `limit`."""
    nested = False
    if printf:
        specs = [g for m in _PRINTF.finditer(fmt) for g in m.groups() if g]
    else:
        specs = []
        try:
            for _, _, spec, _ in string.Formatter().parse(fmt):
                if spec:
                    specs.append(spec)
        except ValueError:
            return  # malformed: format itself says so
    for spec in specs:
        nested = nested or "*" in spec or "{" in spec
        if any(int(n) > limit for n in _WIDTHS.findall(spec)):
            raise _too_long(limit)
    if nested and any(isinstance(a, int) and a > limit for a in args):
        raise _too_long(limit)


def _sized(value: Any, limit: int) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > limit:
        raise _too_long(limit)
    return value


def _check_str_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                      limit: int) -> None:
    """Refuse `s.ljust(10**9)`, `s.replace(a, b)` and `sep.join(xs)` past the limit."""
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(obj, "__name__", "")
    values = [*args, *kwargs.values()]
    if name in ("ljust", "rjust", "center", "zfill"):
        if any(isinstance(a, int) and a > limit for a in values):
            raise _too_long(limit)
    elif name == "expandtabs":
        size = max([a for a in values if isinstance(a, int)] or [8])
        if len(owner) + owner.count("\t") * size > limit:
            raise _too_long(limit)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            count = owner.count(old) if old else len(owner) + 1
            if len(owner) + count * max(0, len(new) - len(old)) > limit:
                raise _too_long(limit)
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, (list, tuple)) and (
                _printed_size(list(items), limit) + len(owner) * len(items) > limit):
            raise _too_long(limit)


class BoundedSandbox:
    """Mixin for a SandboxedEnvironment class: `class E(BoundedSandbox,
    SandboxedEnvironment)`. Construct with `max_prompt_chars=` and `render_timeout=`
    (defaults: promptctl.yaml's defaults)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, max_prompt_chars: int = DEFAULTS.max_prompt_chars,
                 render_timeout: float = DEFAULTS.render_timeout, **kwargs: Any) -> None:
        self.max_prompt_chars = max_prompt_chars
        self.render_timeout = render_timeout
        user_finalize = kwargs.pop("finalize", None)
        kwargs["finalize"] = functools.partial(self._finalize, user_finalize)
        super().__init__(*args, **kwargs)
        self._bound_filters()

    # -- the bounds in force ---------------------------------------------------
    def limit(self) -> int:
        current = _SCOPE.get()
        return current.max_chars if current is not None else self.max_prompt_chars

    # -- hooks of the sandbox ------------------------------------------------------
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_time()
        limit = self.limit()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) \
                        and len(seq) * n > limit:
                    raise _too_long(limit)
            if isinstance(left, int) and isinstance(right, int) \
                    and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _int_too_big(left.bit_length() + right.bit_length())
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                    and right > 0:
                bits = right * math.log2(abs(left))
                if bits > MAX_INT_BITS:
                    raise _int_too_big(bits)
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
                    and len(left) + len(right) > limit:
                raise _too_long(limit)
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            _check_format(left, values, limit, printf=True)
        result = super().call_binop(context, operator, left, right)  # type: ignore[misc]
        return _sized(result, limit)

    def call(__self, __context: Any, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        _check_time()
        limit = __self.limit()
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, str) and len(arg) > limit:  # a macro doubling its input
                raise _too_long(limit)
        _check_str_method(__obj, args, kwargs, limit)
        result = super().call(__context, __obj, *args, **kwargs)  # type: ignore[misc]
        return _sized(result, limit)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`"{:>999999999}".format(x)`: str.format and format_map, as the sandbox wraps
        them, with their widths checked first."""
        wrapped = super().wrap_str_format(value)  # type: ignore[misc]
        if wrapped is None:
            return None
        fmt: str = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            values = [*args, *kwargs.values()]
            if args and isinstance(args[0], dict):  # format_map
                values.extend(args[0].values())
            _check_format(fmt, values, self.limit(), printf=False)
            return wrapped(*args, **kwargs)

        return bounded

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every template, included and imported ones too, is compiled bounded: see
        `_Rewrite`."""
        tree: nodes.Template = super()._parse(source, name, filename)  # type: ignore[misc]
        return _Rewrite().visit(tree)

    # -- what the rewritten templates call -------------------------------------------
    def bounded_iter(self, iterable: Any) -> Iterator[Any]:
        for n, item in enumerate(iterable, 1):
            if n % _CHECK_EVERY == 0:
                _check_time()
            yield item

    def counted(self, value: Any) -> Any:
        """Output of a macro or block body: built in memory before it is used, so
        counted as it is produced, against BUFFERED_FACTOR x the limit."""
        current = _SCOPE.get()
        if current is not None:
            current.buffered += len(value) if isinstance(value, str) else \
                _printed_size(value, current.max_chars)
            if current.buffered > BUFFERED_FACTOR * current.max_chars:
                raise _too_long(current.max_chars, buffered=True)
        return value

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        limit = self.limit()
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > limit:
            raise _too_long(limit)
        return "".join(texts)

    def _finalize(self, user: Callable[[Any], Any] | None, value: Any) -> Any:
        """Every `{{ value }}`: refused when it would print past the limit."""
        if user is not None:
            value = user(value)
        if not isinstance(value, (str, int, float)) and value is not None:
            limit = self.limit()
            if _printed_size(value, limit) > limit:
                raise _too_long(limit)
        return value

    def _bound_filters(self) -> None:
        filters: dict[str, Any] = self.filters  # type: ignore[attr-defined]
        for hook in ("bounded_iter", "bounded_concat", "counted"):
            filters[_HOOK + hook] = getattr(self, hook)
        for name in ("center", "indent", "wordwrap", "truncate", "format", "join",
                     "replace", "string", "tojson", "json", "pprint", "list", "sum"):
            if name in filters:
                filters[name] = self._bounded_filter(filters[name], name)

    def _bounded_filter(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)  # keeps jinja's pass_context/pass_eval_context marks
        def bounded(*args: Any, **kwargs: Any) -> Any:
            _check_time()
            limit = self.limit()
            values = [a for a in (*args, *kwargs.values())
                      if not hasattr(a, "environment")]  # not the (eval) context
            if name in ("center", "indent", "wordwrap", "truncate") and any(
                    isinstance(a, int) and not isinstance(a, bool) and a > limit
                    for a in values[1:]):
                raise _too_long(limit)
            if name == "indent" and values:
                lines = str(values[0]).count("\n") + 1
                width = values[1] if len(values) > 1 else kwargs.get("width", 4)
                size = len(width) if isinstance(width, str) else width
                if isinstance(size, int) and len(str(values[0])) + lines * size > limit:
                    raise _too_long(limit)
            if name == "format" and values and isinstance(values[0], str):
                _check_format(values[0], values[1:], limit, printf=True)
            if name == "replace" and len(values) >= 3:
                _check_str_method(str(values[0]).replace, tuple(values[1:3]), {}, limit)
            if name in ("join", "string", "tojson", "json", "pprint", "list", "sum") \
                    and values and _printed_size(values[0], limit) > limit:
                raise _too_long(limit)
            return _sized(fn(*args, **kwargs), limit)

        return bounded


def _hook(method: str, value: Any, lineno: int) -> nodes.Filter:
    """`value | _promptctl_<method>`: a filter is called directly by the compiled code,
    without the sandbox's per-call inspection, so the hooks cost little."""
    return nodes.Filter(value, _HOOK + method, [], [], None, None, lineno=lineno)


_HOOK = "_promptctl_"


class _Rewrite(NodeTransformer):
    """The iterable of every `{% for %}` passes the environment's `bounded_iter`, every
    `a ~ b` becomes `bounded_concat((a, b))`, and every output inside a macro, call, set
    or filter block (which Jinja collects in a list before using it) passes `counted`:
    each as a `_promptctl_*` filter."""

    _BUFFERED = (nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.FilterBlock)

    def __init__(self) -> None:
        self.buffered = 0

    def generic_visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> nodes.Node:
        inside = isinstance(node, self._BUFFERED)
        self.buffered += inside
        try:
            return super().generic_visit(node, *args, **kwargs)
        finally:
            self.buffered -= inside

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        node.iter = _hook("bounded_iter", node.iter, node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        return _hook("bounded_concat", nodes.Tuple(list(node.nodes), "load"), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)  # type: ignore[assignment]
        if self.buffered:
            node.nodes = [_hook("counted", child, child.lineno)
                          if not isinstance(child, nodes.TemplateData) else
                          _hook("counted", nodes.Const(child.data), child.lineno)
                          for child in node.nodes]
        return node


def render(template: Any, variables: dict[str, Any]) -> str:
    """`template.render(variables)`, counting characters as `generate()` yields them
    and stopping at the first bound passed (RenderLimit)."""
    env = template.environment
    with scope(env.render_timeout, env.max_prompt_chars):
        current = _SCOPE.get()
        assert current is not None
        parts: list[str] = []
        for n, piece in enumerate(template.generate(variables), 1):
            current.used += len(piece)
            if current.used > current.max_chars:
                raise _too_long(current.max_chars)
            if n % _CHECK_EVERY == 0:
                _check_time()
            parts.append(piece)
        return "".join(parts)
