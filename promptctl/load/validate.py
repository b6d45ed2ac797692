"""Validation of what a user wrote against its schema model (schema.py), with the first
error as one UserError that names the file, the line of the offending key and a fix:
pydantic's error locations are mapped back to lines through the file's Source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ..errors import cut, quote, suggest
from ..schema import ITEM_TAGS
from .yamlsrc import Loc, Source

M = TypeVar("M", bound=BaseModel)


def _loc_text(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _keys_of(loc: Sequence[str | int]) -> Loc:
    """An error's location as keys and indices of the file: without the tags of an
    assert list's item kinds (schema.ITEM_TAGS)."""
    return tuple(p for p in loc if p not in ITEM_TAGS)


def _describe(err: ErrorDetails, model: type[BaseModel]) -> tuple[str, str | None]:
    """Turn one pydantic error into (message, hint)."""
    if ITEM_TAGS[1] in err["loc"] and err["type"] == "extra_forbidden":
        return (f"unknown key {quote(str(err['loc'][-1]))} in a 'use' item",
                "a 'use' item takes only 'use': the name of an assertion set, or a list "
                "of names")
    loc = [p for p in _keys_of(err["loc"])
           if not (isinstance(p, str) and p.startswith("function-"))]
    kind = err["type"]
    if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key, not its value, is wrong
        parent = _loc_text(loc[:-2])
        return (f"{parent + ': ' if parent else ''}key {loc[-2]!r}: "
                f"{err['msg'].removeprefix('Value error, ')}"), None
    where = _loc_text(loc)
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        got = err.get("input")
        return (f"{where + ': ' if where else ''}expected a mapping of keys, got "
                f"{type(got).__name__} {got!r}"[:200]), None
    if kind == "too_short":
        return f"'{loc[-1]}' is empty", f"list at least one entry under '{loc[-1]}'"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        hint = suggest(key[:200], allowed) if allowed else None
        if allowed and hint is None:
            hint = "allowed keys: " + ", ".join(sorted(allowed))
        parent = _loc_text(loc[:-1])
        return f"unknown key {quote(key)}" + (f" in {cut(parent)}" if parent else ""), hint
    if kind == "missing":
        if ITEM_TAGS[0] in err["loc"] and loc[-1] == "type":
            return ("missing required key 'type'",
                    "add 'type:', or write 'use: NAME' for an assertion set")
        return f"missing required key '{loc[-1]}'", f"add '{loc[-1]}:'"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = err.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(got, (dict, list)):
        msg = f"{msg}, got {quote(got)}"
    return (f"{cut(where)}: {msg}" if where else msg), None


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Walk the model's fields along loc to list the keys allowed at that point."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fieldinfo = next((f for n, f in current.model_fields.items()
                          if (f.alias or n) == part), None)
        if fieldinfo is None:
            # a dict's key, e.g. models.NAME or prompts.NAME: stay on the value type
            continue
        current = _inner_model(fieldinfo.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validate(model: type[M], data: Any, src: Source, base: Loc = ()) -> M:
    """Validate data against a schema model; the first error names its file and line."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise src.error(f"expected a mapping of keys, got {type(data).__name__}", base,
                        hint="see PRODUCT.md for the file format")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        message, hint = _describe(err, model)
        loc = (*base, *_keys_of(err["loc"]))
        raise src.error(message, loc, key=True, hint=hint) from None
