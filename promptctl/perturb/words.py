"""Word-level noise: synonyms, filler, distractor.

- synonyms: the units are the words (maximal runs of letters, with no letter, digit or
  underscore on either side and no combining mark after them) outside template spans
  whose lower-case form is in the table: the built-in `lexicon.SYNONYMS`, or `table`, a
  user's mapping word -> [synonyms] that replaces it (the loader reads the `file:` the user
  names and passes its content as `table`; this module opens no file). `rate` is exact,
  as in every family (base.hits): round(rate·n) of the n units, at least one when
  rate > 0, chosen uniformly (base.choose); each, in text order, becomes one of its
  synonyms (`pick`), in the case of the word it replaces (base.match_case: "Big" ->
  "Large", "BIG" -> "LARGE"). A table key must be one word; a synonym may be a phrase.
- filler: appends `count` fillers, joined by spaces, after the text (a space between
  unless the text is empty or ends in whitespace). kind `tautology`: each a clause of
  `lexicon.TAUTOLOGIES` (`pick`), as StressTest appends "and true is true"; kind
  `random`: each, by `randrange(2)`, a handle "@" + 10 characters or a link
  "https://t.co/" + 10 characters, the characters drawn from [A-Za-z0-9] (`pick` each),
  as CheckList's random URLs and handles. Applies to every text, the empty one included.
- distractor: one sentence of `sentences` (default `lexicon.DISTRACTORS`, `pick`), put
  before or after the text with the same spacing rule. Applies to every text.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import quote
from . import params as p
from .base import PerturbSpecError, choose, hits, is_mark, match_case, pick, protected_mask
from .lexicon import DISTRACTORS, SYNONYMS, TAUTOLOGIES

PARAMS = {
    "synonyms": {"rate": p.rate(0.2), "file": p.text(None),
                 "table": p.mapping(None, many=True)},
    "filler": {"kind": p.choice("tautology", "tautology", "random"),
               "count": p.count(1, 1, 100)},
    "distractor": {"position": p.choice("after", "before", "after"),
                   "sentences": p.texts(None)},
}

WORD = re.compile(r"(?<!\w)[^\W\d_]+(?!\w)")


def _check_synonyms(checked: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    table = checked["table"]
    if table is None:
        return checked
    seen: dict[str, str] = {}
    for key in table:
        if not WORD.fullmatch(key):
            raise PerturbSpecError(f"synonyms: the table's key {quote(key, 60)} is not one "
                                   "word (letters only)", key="table",
                                   hint="a key is a single word; its synonyms may be phrases")
        if key.lower() in seen:
            raise PerturbSpecError(f"synonyms: the table has {quote(seen[key.lower()], 60)} "
                                   f"and {quote(key, 60)}: keys are matched in any case",
                                   key="table", hint="keep one of them")
        seen[key.lower()] = key
    return checked


CHECKS = {"synonyms": _check_synonyms}


def synonyms(text: str, rng: random.Random, *, rate: float, file: str | None,
             table: Mapping[str, Sequence[str]] | None) -> str:
    if table is None and file is not None:
        raise PerturbSpecError("synonyms: the loader passes the content of 'file' as "
                               "'table'; this family opens no file", key="file")
    lookup = SYNONYMS if table is None else {k.lower(): tuple(v) for k, v in table.items()}
    mask = protected_mask(text)
    units = [m for m in WORD.finditer(text)
             if m.group().lower() in lookup and not mask[m.start()]
             and not (m.end() < len(text) and is_mark(text[m.end()]))]
    out, at = [], 0
    for j in choose(rng, len(units), hits(rate, len(units))):
        m = units[j]
        out += [text[at:m.start()], match_case(m.group(), pick(rng, lookup[m.group().lower()]))]
        at = m.end()
    return "".join(out) + text[at:]


def _join(first: str, second: str) -> str:
    if not first or not second or first[-1].isspace() or second[0].isspace():
        return first + second
    return f"{first} {second}"


_ALPHANUMERIC = string.ascii_letters + string.digits


def _random_suffix(rng: random.Random) -> str:
    start = "@" if rng.randrange(2) == 0 else "https://t.co/"
    return start + "".join(pick(rng, _ALPHANUMERIC) for _ in range(10))


def filler(text: str, rng: random.Random, *, kind: str, count: int) -> str:
    if kind == "tautology":
        parts = [pick(rng, TAUTOLOGIES) for _ in range(count)]
    else:
        parts = [_random_suffix(rng) for _ in range(count)]
    return _join(text, " ".join(parts))


def distractor(text: str, rng: random.Random, *, position: str,
               sentences: Sequence[str] | None) -> str:
    sentence = pick(rng, sentences or DISTRACTORS)
    return _join(sentence, text) if position == "before" else _join(text, sentence)
