"""Fairness: counterfactual, the same input with names, pronouns and group terms swapped.

Algorithm (no rng: every occurrence is swapped, so the two sides of a case differ only
by the swap):

1. The pairs: those of each of `groups` (`pronouns`: he/she, him/her, his/her,
   his/hers, himself/herself; `names`: 24 pairs of first names, a man's and a woman's;
   `terms`: gendered nouns and titles, man/woman, father/mother, Mr/Ms...; lexicon.py
   lists them), then `mapping`, a user's {a: b}: a user pair drops every built-in pair
   that shares a word with it, so "he: they" makes he <-> they and leaves "she" alone.
2. One pass over the text with one regular expression of every word of every pair
   (longest first, case-insensitive, whole words: no letter, digit or underscore on
   either side, no combining mark after; a phrase's spaces match any whitespace),
   skipping template spans. Each match is replaced by its partner, so he -> she and
   she -> he in the same pass never undo each other.
3. Case follows the word replaced (base.match_case): he -> she, He -> She, HE -> SHE;
   a name as the table writes it (Mary -> John, mary -> john, MARY -> JOHN).

"her" and "his" have two partners each. "her" is possessive (-> "his") when a word
follows it on the same line that is not in `NOT_A_NOUN` (articles, prepositions,
conjunctions, pronouns, adverbs, auxiliaries and a few bare verbs: "give her the key",
"saw her and", "let her go"), or a number or a `{{ … }}` ("her 2 orders", "her {{ item
}}"), and an object (-> "him") otherwise, or before punctuation or the end. By the same
test "his" is a determiner (-> "her": "his car", "his 3 kids") or stands alone (->
"hers": "it is his."). The test is a heuristic: "her find" and other rare noun uses,
and an object before a number ("gave her 3 apples"), come out wrong.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping
from typing import Any

from ..errors import quote
from . import params as p
from .base import PerturbSpecError, is_mark, match_case, protected_mask
from .lexicon import NAMES, PRONOUNS, TERMS

GROUPS = {"pronouns": PRONOUNS, "names": NAMES, "terms": TERMS}

PARAMS = {
    "counterfactual": {
        "groups": p.texts(["pronouns", "names"], choices=tuple(GROUPS), empty=True),
        "mapping": p.mapping(None, many=False),
    },
}

_NOT_A_NOUN = """
a an the this that these those some any every each all no another my your our their its
his her about above across after against along around as at before behind below beside
between by down during for from in inside into like near of off on onto out outside over
past since through to toward towards under until up upon with within without and or but
nor so yet because if when while although though than whether unless where why how what
who whom which again already also always away back here there now then today tonight
tomorrow yesterday too anyway later soon once twice directly immediately please instead
either neither not never ever just only enough well i me you he him she it we us they
them himself herself something anything nothing everything someone anyone everyone
is was be been being am are were do does did have has had will would can could should
may might must shall go come know feel get make see stay leave think take try find tell
give ask hear decide choose explain speak sit stand buy sell bring learn understand use
"""
NOT_A_NOUN = frozenset(_NOT_A_NOUN.split())

# what follows on the same line: a word, a number or a `{{ … }}` (a value, as a noun is)
_NEXT_WORD = re.compile(r"[^\S\n]*([^\W\d_]+|\d|\{\{)")


def _norm(words: str) -> str:
    return " ".join(words.lower().split())


def _pairs(groups: tuple[str, ...], mapping: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    taken = {_norm(w) for pair in mapping for w in pair}
    built_in = [pair for g in groups for pair in GROUPS[g]
                if _norm(pair[0]) not in taken and _norm(pair[1]) not in taken]
    return built_in + list(mapping)


def _partners(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for a, b in pairs:
        for source, target in ((a, b), (b, a)):
            options = table.setdefault(_norm(source), [])
            if target not in options:
                options.append(target)
    return table


def _check(checked: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    mapping = checked["mapping"] or {}
    if not checked["groups"] and not mapping:
        raise PerturbSpecError("counterfactual: nothing to swap (no groups, no mapping)",
                               key="groups", hint="name groups, or give a mapping {a: b}")
    for a, b in mapping.items():
        if _norm(a) == _norm(b):
            raise PerturbSpecError(f"counterfactual: {quote(a, 60)} is mapped to itself",
                                   key="mapping")
    for word, options in _partners(list(mapping.items())).items():
        if len(options) > 1:
            raise PerturbSpecError(f"counterfactual: {quote(word, 60)} is in two pairs of "
                                   "the mapping (" + ", ".join(map(repr, options)) + ")",
                                   key="mapping", hint="each word may be in one pair only")
    return checked


CHECKS = {"counterfactual": _check}


@functools.lru_cache(maxsize=64)
def _compiled(groups: tuple[str, ...], mapping: tuple[tuple[str, str], ...]
              ) -> tuple[re.Pattern[str], dict[str, list[str]]]:
    table = _partners(_pairs(groups, mapping))
    words = sorted(table, key=lambda w: (-len(w), w))
    alternation = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE), table


def _determiner(text: str, end: int) -> bool:
    """Whether the word before `end` is followed by one that is probably a noun (or a
    number or a `{{ … }}`)."""
    m = _NEXT_WORD.match(text, end)
    return m is not None and m.group(1).lower() not in NOT_A_NOUN


def _partner(word: str, options: list[str], text: str, end: int) -> str:
    if len(options) == 1:
        return options[0]
    determiner = _determiner(text, end)
    if word == "her":  # his (possessive) / him (object)
        return "his" if determiner else "him"
    return "her" if determiner else "hers"  # "his": her (determiner) / hers (alone)


def counterfactual(text: str, rng: random.Random, *, groups: list[str],
                   mapping: Mapping[str, str] | None) -> str:
    pattern, table = _compiled(tuple(groups), tuple((mapping or {}).items()))
    if not table:
        return text
    mask = protected_mask(text)

    def swap(m: re.Match[str]) -> str:
        source = m.group()
        options = table.get(_norm(source))
        if (not options or mask[m.start()]
                or (m.end() < len(text) and is_mark(text[m.end()]))):
            return source
        return match_case(source, _partner(_norm(source), options, text, m.end()))

    return pattern.sub(swap, text)
