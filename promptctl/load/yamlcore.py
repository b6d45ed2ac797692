"""The YAML 1.2 core schema for PyYAML's loaders: what a plain scalar means.

PyYAML resolves plain scalars by YAML 1.1, where `yes`, `No`, `on` and `Off` are
booleans, `14:02` is the integer 842, `017` is 15 and `2026-12-02` a date. promptctl
reads YAML as promptfoo, GitHub Actions and most editors do, by the 1.2 core schema
(yaml.org/spec/1.2.2, 10.3), and `CoreLoader` is libyaml's C loader (the Python one
where PyYAML was built without libyaml) with that resolver and these constructors:

- null: `null`, `Null`, `NULL`, `~`, nothing at all;
- bool: `true`, `True`, `TRUE`, `false`, `False`, `FALSE` (nothing else);
- int: `[-+]?[0-9]+` in base 10 (`017` is 17), `0o[0-7]+`, `0x[0-9a-fA-F]+`;
- float: `[-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?` (`1e3` too), `.inf`,
  `-.inf`, `.nan` in their three spellings;
- everything else is text: `yes`, `on`, `14:02`, `2026-12-02`, `1_000`, `0b101`, `=`.

The merge key `<<` (YAML 1.1's) is kept: `<<: *defaults` is how suites share blocks.
The explicit tags are the core schema's (`!!str`, `!!int`, `!!float`, `!!bool`,
`!!null`, `!!seq`, `!!map`); one whose text is not of its type, or any other tag
(`!!timestamp`, `!!binary`, `!!set`, `!custom`), is a ConstructorError at its line.
Implicit resolution happens in Python even under the C parser (libyaml hands every
scalar to `resolve`), so the table below is the whole of it: the C composer,
yamlsrc's one-pass reader and the bounded Python composer all read the same values.

Invariant: a plain scalar's constructor cannot fail (each regex admits only what its
constructor makes), except an integer of more than Python's 4,300 digits, which is a
ConstructorError like a wrong explicit tag.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

try:  # the C loader is several times faster where libyaml is available
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR = (_TAG + t for t in ("null", "bool", "int", "float", "str"))
MERGE = _TAG + "merge"

_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOLS = {"true": True, "True": True, "TRUE": True,
          "false": False, "False": False, "FALSE": False}
_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_FLOAT = re.compile(r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z")
_MERGE = re.compile(r"<<\Z")

# (tag, regex, the first characters of the texts it can match; "" is the empty text),
# in the order they are tried: `1` is an int before it is a float
_RESOLVERS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    (NULL, _NULL, ("~", "n", "N", "")),
    (BOOL, _BOOL, tuple("tTfF")),
    (INT, _INT, tuple("-+0123456789")),
    (FLOAT, _FLOAT, tuple("-+.0123456789")),
    (MERGE, _MERGE, ("<",)),
)


def _int(text: str) -> int:
    if text[:2] == "0o":
        return int(text[2:], 8)
    if text[:2] == "0x":
        return int(text[2:], 16)
    return int(text)  # base 10 whatever the leading zeros: "017" is 17


def _float(text: str) -> float:
    special = text.lstrip("+-").lower()
    if special == ".inf":
        return -math.inf if text[0] == "-" else math.inf
    if special == ".nan":
        return math.nan
    return float(text)


def _wrong(node: Any, what: str) -> ConstructorError:
    text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    return ConstructorError(None, None, f"{text!r} is not {what}", node.start_mark)


class CoreLoader(_Base):
    """The safe loader with the YAML 1.2 core schema (module docstring)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}
    # the core schema's own tags (None: an unknown tag, refused at its line)
    yaml_constructors: ClassVar[dict[Any, Any]] = {
        tag: fn for tag, fn in SafeConstructor.yaml_constructors.items()
        if tag in (STR, _TAG + "seq", _TAG + "map", None)}

    def construct_core_null(self, node: Any) -> None:
        if not _NULL.match(self.construct_scalar(node)):
            raise _wrong(node, "null (null, ~ or nothing)")

    def construct_core_bool(self, node: Any) -> bool:
        value = _BOOLS.get(self.construct_scalar(node))
        if value is None:
            raise _wrong(node, "a YAML 1.2 boolean (true or false)")
        return value

    def construct_core_int(self, node: Any) -> int:
        text = self.construct_scalar(node)
        if not _INT.match(text):
            raise _wrong(node, "a YAML 1.2 integer")
        try:
            return _int(text)
        except ValueError:  # past sys.get_int_max_str_digits()
            raise _wrong(node, "an integer Python reads (too many digits)") from None

    def construct_core_float(self, node: Any) -> float:
        text = self.construct_scalar(node)
        if not _FLOAT.match(text):
            raise _wrong(node, "a YAML 1.2 number")
        return _float(text)


for _tag, _regex, _first in _RESOLVERS:
    for _char in _first:
        CoreLoader.yaml_implicit_resolvers.setdefault(_char, []).append((_tag, _regex))
CoreLoader.add_constructor(NULL, CoreLoader.construct_core_null)
CoreLoader.add_constructor(BOOL, CoreLoader.construct_core_bool)
CoreLoader.add_constructor(INT, CoreLoader.construct_core_int)
CoreLoader.add_constructor(FLOAT, CoreLoader.construct_core_float)
