"""Character noise: typos, case, whitespace, zero-width, homoglyphs.

Every family here leaves template spans (`{{ … }}`, `{% … %}`, `{# … #}`) as they are
and returns a text where nothing applies unchanged. `rate` is exact (base.hits): of the
n units a family can hit, round(rate·n) (half up, at least 1 when rate > 0) are chosen
uniformly without replacement (base.choose: k `randrange` calls), then handled in text
order, each drawing what it needs from the rng.

- typos: the units are the ASCII letters a-z, A-Z not followed by a combining mark
  (digits, punctuation, whitespace and every other script are never touched). Each hit
  draws an operation, `randrange(3)`: 0 substitution by a QWERTY neighbour (`NEIGHBOURS`:
  the keys next to it in its row and touching it in the rows above and below; case kept),
  1 deletion, 2 transposition with the next character when that is a unit that is not
  itself hit and differs from it, else a substitution. `rate` is the fraction of units
  hit: the optimal-string-alignment edit distance between the input and the output is
  the number of hits (a substitution, deletion or transposition is one edit each), less
  where two hits happen to undo or merge.
- case: mode `upper` and `lower` are str.upper() and str.lower() outside template spans
  (so "ß" becomes "SS"); mode `random` flips the case (str.swapcase) of a `rate`
  fraction of the letters whose swapped case is one other character.
- whitespace: the units are the word gaps: runs of whitespace with a non-whitespace
  character on both sides. Each hit gap keeps what it has and gains, by `randrange(3)`:
  0 one to three more spaces (`1 + randrange(3)`), 1 a tab, 2 a newline.
- zero-width: the units are the gaps between two user-perceived characters (base.
  cluster_starts: a combining mark, emoji modifier, variation selector or ZWJ sequence is
  never split from its base). Each hit gap gets one of U+200B, U+200C, U+200D, U+2060,
  U+FEFF (`pick`).
- homoglyphs: the units are the letters that have a look-alike in `HOMOGLYPHS` (Latin
  letters whose Cyrillic or Greek twin renders the same in common fonts: a subset of
  Unicode's confusables.txt, the data the confusable-homoglyphs library ships; 33 letters
  do not justify a dependency). Each hit letter becomes one of its look-alikes (`pick`).
"""

from __future__ import annotations

import random
import re
from typing import Any

from . import params as p
from .base import (
    PerturbSpecError,
    choose,
    cluster_starts,
    free_spans,
    hits,
    is_mark,
    pick,
    protected_mask,
)

PARAMS = {
    "typos": {"rate": p.rate(0.05)},
    "case": {"mode": p.choice("random", "upper", "lower", "random"), "rate": p.rate(0.5)},
    "whitespace": {"rate": p.rate(0.1)},
    "zero-width": {"rate": p.rate(0.1)},
    "homoglyphs": {"rate": p.rate(0.1)},
}


def _check_case(checked: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    if "rate" in given and checked["mode"] != "random":
        raise PerturbSpecError(f"case: 'rate' applies to mode random only, not to mode "
                               f"{checked['mode']}", key="rate",
                               hint="remove 'rate', or set mode: random")
    return checked


CHECKS = {"case": _check_case}

# QWERTY: rows offset by a quarter and three quarters of a key; a neighbour is the key
# beside it in its row or one in the row above or below less than a key width away.
NEIGHBOURS = {
    "q": "wa", "w": "qeas", "e": "wrsd", "r": "etdf", "t": "ryfg", "y": "tugh",
    "u": "yihj", "i": "uojk", "o": "ipkl", "p": "ol",
    "a": "sqwz", "s": "adwezx", "d": "sferxc", "f": "dgrtcv", "g": "fhtyvb",
    "h": "gjyubn", "j": "hkuinm", "k": "jliom", "l": "kop",
    "z": "xas", "x": "zcsd", "c": "xvdf", "v": "cbfg", "b": "vngh", "n": "bmhj", "m": "njk",
}

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")

HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441\u03f2", "d": "\u0501", "e": "\u0435", "h": "\u04bb",
    "i": "\u0456", "j": "\u0458\u03f3", "l": "\u04cf", "o": "\u043e\u03bf",
    "p": "\u0440\u03c1", "q": "\u051b", "s": "\u0455", "v": "\u03bd\u0475", "w": "\u051d",
    "x": "\u0445", "y": "\u0443",
    "A": "\u0410\u0391", "B": "\u0412\u0392", "C": "\u0421\u03f9", "E": "\u0415\u0395",
    "H": "\u041d\u0397", "I": "\u0406\u0399", "J": "\u0408", "K": "\u041a\u039a",
    "M": "\u041c\u039c", "N": "\u039d", "O": "\u041e\u039f", "P": "\u0420\u03a1",
    "S": "\u0405", "T": "\u0422\u03a4", "X": "\u0425\u03a7", "Y": "\u04ae\u03a5",
    "Z": "\u0396",
}


def _keyed(ch: str, key: str) -> str:
    return key.upper() if ch.isupper() else key


def typos(text: str, rng: random.Random, *, rate: float) -> str:
    mask = protected_mask(text)
    size = len(text)

    def unit(i: int) -> bool:
        return (i < size and text[i].lower() in NEIGHBOURS and text[i].isascii()
                and not mask[i] and not (i + 1 < size and is_mark(text[i + 1])))

    units = [i for i in range(size) if unit(i)]
    chosen = [units[j] for j in choose(rng, len(units), hits(rate, len(units)))]
    hit = set(chosen)
    out = list(text)
    for i in chosen:
        op = rng.randrange(3)
        if op == 1:
            out[i] = ""
        elif op == 2 and unit(i + 1) and i + 1 not in hit and text[i + 1] != text[i]:
            out[i], out[i + 1] = text[i + 1], text[i]
        else:
            out[i] = _keyed(text[i], pick(rng, NEIGHBOURS[text[i].lower()]))
    return "".join(out)


def _flippable(ch: str) -> bool:
    swapped = ch.swapcase()
    return swapped != ch and len(swapped) == 1


def case(text: str, rng: random.Random, *, mode: str, rate: float) -> str:
    if mode != "random":
        convert = str.upper if mode == "upper" else str.lower
        return "".join(convert(piece) if free else piece for free, piece in free_spans(text))
    mask = protected_mask(text)
    units = [i for i, ch in enumerate(text) if not mask[i] and _flippable(ch)]
    out = list(text)
    for j in choose(rng, len(units), hits(rate, len(units))):
        out[units[j]] = text[units[j]].swapcase()
    return "".join(out)


_GAP = re.compile(r"\s+")


def whitespace(text: str, rng: random.Random, *, rate: float) -> str:
    mask = protected_mask(text)
    gaps = [m.end() for m in _GAP.finditer(text)
            if m.start() > 0 and m.end() < len(text) and not mask[m.start()]]
    out, at = [], 0
    for j in choose(rng, len(gaps), hits(rate, len(gaps))):
        kind = rng.randrange(3)
        extra = " " * (1 + rng.randrange(3)) if kind == 0 else "\t" if kind == 1 else "\n"
        out += [text[at:gaps[j]], extra]
        at = gaps[j]
    return "".join(out) + text[at:]


def zero_width(text: str, rng: random.Random, *, rate: float) -> str:
    mask = protected_mask(text)
    gaps = [i for i in cluster_starts(text)[1:] if not (mask[i] and mask[i - 1])]
    out, at = [], 0
    for j in choose(rng, len(gaps), hits(rate, len(gaps))):
        out += [text[at:gaps[j]], pick(rng, ZERO_WIDTH)]
        at = gaps[j]
    return "".join(out) + text[at:]


def homoglyphs(text: str, rng: random.Random, *, rate: float) -> str:
    mask = protected_mask(text)
    units = [i for i, ch in enumerate(text) if ch in HOMOGLYPHS and not mask[i]]
    out = list(text)
    for j in choose(rng, len(units), hits(rate, len(units))):
        out[units[j]] = pick(rng, HOMOGLYPHS[text[units[j]]])
    return "".join(out)
