"""What every perturbation family shares: the error, the rules for choosing what to hit,
the spans that are never touched, and case matching.

Invariants every family keeps (docs/perturb.md):

- Deterministic: the result depends only on the text, the params and the rng's state,
  and the rng is used only through `randrange` and `random` (their algorithms are
  fixed for integer arguments on every Python >= 3.10), in an order each family
  documents. No hash of a str, no set iteration, no clock. What counts as a letter or a
  mark comes from the Unicode database of the running Python (13.0 in 3.10, newer
  later): a character assigned after Unicode 13 may be classified differently.
- `rate` is exact, not a probability: of the n units a family can hit (letters, gaps,
  words), it hits `hits(rate, n)` of them, chosen uniformly without replacement.
- Template syntax is kept: the families that work inside the text (every character and
  word family) never touch a character inside `{{ … }}`, `{% … %}` or `{# … #}`, so a var
  that holds a template fragment still renders.
- Any str is accepted (combining marks, emoji, right-to-left text, astral code points);
  a text where nothing applies is returned unchanged.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


class PerturbSpecError(Exception):
    """A perturbation as written is wrong (unknown family, unknown key, bad value).
    `key` names the param at fault (None: the perturbation as a whole) so that the loader
    can point at its YAML line."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def hits(rate: float, n: int) -> int:
    """How many of n units a family hits at `rate`: rate·n rounded half up, and at least
    one when rate > 0 and there is a unit (a variant identical to the clean input would
    measure nothing), never more than n."""
    if rate <= 0 or n <= 0:
        return 0
    return min(n, max(1, math.floor(rate * n + 0.5)))


def choose(rng: random.Random, n: int, k: int) -> list[int]:
    """k distinct indices of range(n), uniformly, in ascending order: a partial
    Fisher-Yates shuffle driven by `rng.randrange` alone (k calls)."""
    pool = list(range(n))
    for i in range(k):
        j = i + rng.randrange(n - i)
        pool[i], pool[j] = pool[j], pool[i]
    return sorted(pool[:k])


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """One of options, uniformly (one `randrange` call)."""
    return options[rng.randrange(len(options))]


_PROTECTED = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def protected_mask(text: str) -> list[bool]:
    """Per character of text: True inside a template span (`{{ … }}`, `{% … %}`,
    `{# … #}`, delimiters included), which no family touches."""
    mask = [False] * len(text)
    if "{" in text:
        for m in _PROTECTED.finditer(text):
            mask[m.start():m.end()] = [True] * (m.end() - m.start())
    return mask


def free_spans(text: str) -> Iterator[tuple[bool, str]]:
    """The text cut into (free, piece): free pieces may be changed, the others are
    template spans, kept as they are. Joining the pieces gives the text back."""
    at = 0
    if "{" in text:
        for m in _PROTECTED.finditer(text):
            if m.start() > at:
                yield True, text[at:m.start()]
            yield False, m.group()
            at = m.end()
    if at < len(text) or not text:
        yield True, text[at:]


def is_mark(ch: str) -> bool:
    """A code point that belongs to the character before it: a combining mark (Unicode
    category M), a variation selector, an emoji skin-tone modifier, a tag character or the
    zero-width joiner."""
    cp = ord(ch)
    return (unicodedata.category(ch).startswith("M") or 0xFE00 <= cp <= 0xFE0F
            or 0xE0100 <= cp <= 0xE01EF or 0x1F3FB <= cp <= 0x1F3FF
            or 0xE0020 <= cp <= 0xE007F or cp == 0x200D)


def cluster_starts(text: str) -> list[int]:
    """Where each user-perceived character starts: an approximation of Unicode's extended
    grapheme clusters good enough never to split one: a new cluster starts at every code
    point that is not a mark (is_mark), does not follow a zero-width joiner and is not
    the second regional indicator of a flag; CR LF is one cluster."""
    starts = []
    flags = 0  # regional indicators in a row so far: a flag is a pair of them
    for i, ch in enumerate(text):
        flag = 0x1F1E6 <= ord(ch) <= 0x1F1FF
        flags = flags + 1 if flag else 0
        if i and (is_mark(ch) or text[i - 1] == "\u200d" or (flag and flags % 2 == 0)
                  or (ch == "\n" and text[i - 1] == "\r")):
            continue
        starts.append(i)
    return starts


def match_case(source: str, replacement: str) -> str:
    """The replacement written in the case of the word it replaces: UPPER for an
    upper-case word of two letters or more, lower for a lower-case one, a capital first
    letter for a capitalised one (He -> She), as written otherwise."""
    if len(source) > 1 and source.isupper():
        return replacement.upper()
    if source.islower():
        return replacement.lower()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement
