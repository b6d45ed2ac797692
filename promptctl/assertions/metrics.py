"""Reference-based text metrics: rouge-n, rouge-l, bleu, exact-match and f1.

Each one reimplements a reference scorer in pure Python, so that a score means what it
means in papers and leaderboards, with no run-time dependency:

- rouge-n / rouge-l: Google's `rouge-score` (`RougeScorer([...], use_stemmer=False)`),
  the F-measure. Its tokenizer lowercases, turns everything but a-z and 0-9 into spaces
  and splits on whitespace (so text without ASCII letters or digits has no tokens).
  Several references: the best F-measure (as `score_multi`). No stemming option: that
  needs nltk's Porter stemmer.
- bleu: `sacrebleu.sentence_bleu(output, refs)` with its defaults (13a tokenizer, exp
  smoothing, n-grams up to 4, effective order), divided by 100. Several references are
  scored together the BLEU way (clipped counts against all of them, closest length).
- exact-match / f1: the official SQuAD v1.1 evaluation (lowercase, drop ASCII
  punctuation, drop the articles a/an/the, collapse whitespace); the best over the
  acceptable answers.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

from .base import AssertionContext, AssertionSpecError, Prepared, Types, fmt_num, kind_of, quote
from .text import text_value

TYPES = Types()  # the types this module defines (builtins.py lists them)

Tokens = list[str]
NGrams = Counter[tuple[str, ...]]

# -------------------------------------------------------------------------- references


def references(p: Prepared) -> tuple[str, ...]:
    """The value as one or more non-empty reference texts."""
    value = p.value
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise AssertionSpecError(f"'{p.name}' has an empty list as 'value'", key="value",
                                 hint="give the reference text, or a list of them")
    if any(isinstance(i, (list, tuple, dict)) for i in items):
        raise AssertionSpecError(f"'{p.name}' needs a reference text or a list of texts "
                                 f"as 'value', got {kind_of(value)} of lists or mappings",
                                 key="value")
    return tuple(text_value(Prepared(p.name, i, p.options, p.threshold)) for i in items)


class Metric:
    """A prepared metric: the scorer with its references already processed."""

    __slots__ = ("label", "score_one", "shown", "threshold")

    def __init__(self, label: str, shown: tuple[str, ...], threshold: float | None,
                 score_one: Callable[[str], list[float]]) -> None:
        self.label = label
        self.shown = shown  # per score: the reference(s) as a reason names them
        self.threshold = 0.5 if threshold is None else threshold
        self.score_one = score_one  # output -> one score per entry of `shown`

    def best(self, output: str) -> tuple[float, int]:
        scores = self.score_one(output)
        i = max(range(len(scores)), key=scores.__getitem__)  # the first best, as argmax
        return scores[i], i

    def against(self, i: int) -> str:
        if len(self.shown) == 1:
            return f"against {self.shown[i]}"
        return f"against {self.shown[i]}, the best of {len(self.shown)} references"


def shown(refs: tuple[str, ...] | list[str], limit: int = 3) -> str:
    """Several references as a reason lists them."""
    listed = ", ".join(quote(r, 30) for r in refs[:limit])
    return listed + (f" and {len(refs) - limit} more" if len(refs) > limit else "")


def _num(score: float, limit: float) -> str:
    """The score for a reason, with enough digits that it never reads as the limit."""
    text = fmt_num(score)
    if score < limit <= float(text) or score >= limit > float(text):
        text = f"{score:.6f}".rstrip("0")
    return text


def scored_verdict(m: Metric, output: str) -> tuple[bool, float, str, str]:
    score, i = m.best(output)
    score = min(1.0, max(0.0, score))
    shown, limit = _num(score, m.threshold), fmt_num(m.threshold)
    against = m.against(i)
    if score >= m.threshold:
        return (True, score, f"{m.label} {shown} {against} (threshold {limit})",
                f"{m.label} {shown} {against}, must be below {limit}")
    return (False, score, f"{m.label} {shown} < {limit} {against}, got {quote(output)}",
            f"{m.label} {shown} {against} (below {limit})")


def _check(output: str, m: Metric, ctx: AssertionContext) -> Any:
    return scored_verdict(m, output)


# ------------------------------------------------------------------------------ rouge

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> Tokens:
    """rouge-score's default tokenizer, without a stemmer."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def ngrams(tokens: Tokens, n: int) -> NGrams:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def fmeasure(precision: float, recall: float) -> float:
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_n(target: NGrams, prediction: NGrams) -> float:
    overlap = sum(min(count, prediction[gram]) for gram, count in target.items())
    precision = overlap / max(sum(prediction.values()), 1)
    recall = overlap / max(sum(target.values()), 1)
    return fmeasure(precision, recall)


def lcs_masks(tokens: Tokens) -> dict[str, int]:
    """Per token, the bit set of its positions: what `lcs_length` scans against."""
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << i)
    return masks


def lcs_length(masks: dict[str, int], size: int, other: Tokens) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyrö):
    O(len(other) * size / 64) instead of the O(len(other) * size) table."""
    full = (1 << size) - 1
    v = full
    for token in other:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return size - v.bit_count()


def rouge_l(target: Tokens, masks: dict[str, int], prediction: Tokens) -> float:
    if not target or not prediction:
        return 0.0
    lcs = lcs_length(masks, len(target), prediction)
    return fmeasure(lcs / len(prediction), lcs / len(target))


def _rouge_refs(p: Prepared, n: int) -> tuple[tuple[str, ...], list[Tokens]]:
    refs = references(p)
    tokenized = [rouge_tokens(r) for r in refs]
    for ref, tokens in zip(refs, tokenized, strict=True):
        if len(tokens) < n:
            what = "no words" if not tokens else f"{len(tokens)} word, fewer than n={n}"
            raise AssertionSpecError(
                f"reference {quote(ref, 40)} has {what} for {p.name}", key="value",
                hint="rouge counts only a-z and 0-9 words, lowercased (as rouge-score)")
    return refs, tokenized


def _prep_rouge_n(p: Prepared) -> Metric:
    n = p.options.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 9:
        raise AssertionSpecError(f"'n' must be a whole number from 1 to 9, got {kind_of(n)}",
                                 key="n", hint="n: 1 for unigrams (rouge-1), 2 for bigrams")
    refs, tokenized = _rouge_refs(p, n)
    targets = [ngrams(t, n) for t in tokenized]

    def score(output: str) -> list[float]:
        prediction = ngrams(rouge_tokens(output), n)
        return [rouge_n(t, prediction) for t in targets]

    return Metric(f"rouge-{n}", tuple(quote(r, 40) for r in refs), p.threshold, score)


def _prep_rouge_l(p: Prepared) -> Metric:
    refs, tokenized = _rouge_refs(p, 1)
    masks = [lcs_masks(t) for t in tokenized]

    def score(output: str) -> list[float]:
        prediction = rouge_tokens(output)
        return [rouge_l(t, m, prediction) for t, m in zip(tokenized, masks, strict=True)]

    return Metric("rouge-l", tuple(quote(r, 40) for r in refs), p.threshold, score)


TYPES.add("rouge-n", options=("n",), prepare=_prep_rouge_n, scored=True,
         default_threshold=0.75,
         value_hint="value: the reference text (or a list: the best one counts); n: 1 "
                    "(default) or 2...")(_check)
TYPES.add("rouge-l", prepare=_prep_rouge_l, scored=True, default_threshold=0.75,
         value_hint="value: the reference text (or a list: the best one counts)")(_check)


# ------------------------------------------------------------------------------- bleu

MAX_ORDER = 4
_TOKENIZE_13A = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)


def tokenize_13a(line: str) -> Tokens:
    """sacrebleu's default tokenizer (mteval-v13a), as a list of tokens."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _TOKENIZE_13A:
        line = pattern.sub(repl, line)
    return line.split()


def _bleu_tokens(text: str, lowercase: bool) -> Tokens:
    return tokenize_13a((text.lower() if lowercase else text).rstrip())


def all_ngrams(tokens: Tokens) -> NGrams:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, MAX_ORDER + 1)
                   for i in range(len(tokens) - n + 1))


def bleu(hyp: Tokens, ref_ngrams: NGrams, ref_lens: list[int]) -> float:
    """sacrebleu's BLEU (exp smoothing, effective order) on 0..100."""
    hyp_len = len(hyp)
    ref_len = min(ref_lens, key=lambda r: (abs(hyp_len - r), r))  # closest, then shortest
    correct = [0] * MAX_ORDER
    total = [0] * MAX_ORDER
    for gram, count in all_ngrams(hyp).items():
        total[len(gram) - 1] += count
        if gram in ref_ngrams:
            correct[len(gram) - 1] += min(count, ref_ngrams[gram])
    bp = 1.0
    if hyp_len < ref_len:
        bp = math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * MAX_ORDER
    smooth = 1.0
    order = MAX_ORDER
    for n in range(1, MAX_ORDER + 1):
        if total[n - 1] == 0:
            break
        order = n
        if correct[n - 1] == 0:
            smooth *= 2
            precisions[n - 1] = 100.0 / (smooth * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(x) if x else -9999999999 for x in precisions[:order]]
    return bp * math.exp(sum(logs) / order)


def _prep_bleu(p: Prepared) -> Metric:
    lowercase = p.options.get("lowercase", False)
    if not isinstance(lowercase, bool):
        raise AssertionSpecError(f"'lowercase' must be true or false, got "
                                 f"{kind_of(lowercase)}", key="lowercase")
    refs = references(p)
    tokenized = [_bleu_tokens(r, lowercase) for r in refs]
    for ref, tokens in zip(refs, tokenized, strict=True):
        if not tokens:
            raise AssertionSpecError(f"reference {quote(ref, 40)} has no words for bleu",
                                     key="value")
    merged: NGrams = Counter()
    for tokens in tokenized:
        merged |= all_ngrams(tokens)  # max count over the references
    lens = [len(t) for t in tokenized]

    def score(output: str) -> list[float]:
        return [bleu(_bleu_tokens(output, lowercase), merged, lens) / 100.0]

    # several references are scored together: the reason names them all
    names = quote(refs[0], 40) if len(refs) == 1 else f"[{shown(refs)}]"
    return Metric("bleu", (names,), p.threshold, score)


TYPES.add("bleu", options=("lowercase",), prepare=_prep_bleu, scored=True,
         default_threshold=0.5,
         value_hint="value: the reference text or a list of references (as sacrebleu's "
                    "sentence_bleu); lowercase: true to ignore case")(_check)


# ------------------------------------------------------------------ exact-match and f1

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD v1.1's normalize_answer."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_f1(prediction: Tokens, truth: Counter[str], truth_len: int) -> float:
    same = sum((Counter(prediction) & truth).values())
    if same == 0:
        return 0.0
    precision = 1.0 * same / len(prediction)
    recall = 1.0 * same / truth_len
    return (2 * precision * recall) / (precision + recall)


def _squad_refs(p: Prepared) -> tuple[tuple[str, ...], list[str]]:
    refs = references(p)
    normalized = [squad_normalize(r) for r in refs]
    for ref, norm in zip(refs, normalized, strict=True):
        if not norm:
            raise AssertionSpecError(
                f"answer {quote(ref, 40)} is empty once normalised for {p.name}",
                key="value", hint="case, punctuation and the articles a/an/the are ignored")
    return refs, normalized


def _prep_exact(p: Prepared) -> tuple[tuple[str, ...], list[str]]:
    return _squad_refs(p)


@TYPES.add("exact-match", prepare=_prep_exact,
          value_hint="value: the answer, or a list of acceptable answers (compared "
                     "ignoring case, punctuation, articles and spacing, as SQuAD)")
def _exact_match(output: str, arg: tuple[tuple[str, ...], list[str]],
                 ctx: AssertionContext) -> Any:
    refs, normalized = arg
    got = squad_normalize(output)
    for ref, norm in zip(refs, normalized, strict=True):
        if got == norm:
            reason = f"matches {quote(ref, 40)} (SQuAD normalisation)"
            return True, 1.0, reason, reason + " (must not)"
    expected = quote(refs[0], 40) if len(refs) == 1 else f"one of {shown(refs, 5)}"
    return (False, 0.0, f"expected {expected} (ignoring case, punctuation and articles), "
            f"got {quote(output)}", f"does not match {expected}")


def _prep_f1(p: Prepared) -> Metric:
    refs, normalized = _squad_refs(p)
    truths = [(Counter(n.split()), len(n.split())) for n in normalized]

    def score(output: str) -> list[float]:
        prediction = squad_normalize(output).split()
        return [squad_f1(prediction, t, size) for t, size in truths]

    return Metric("f1", tuple(quote(r, 40) for r in refs), p.threshold, score)


TYPES.add("f1", prepare=_prep_f1, scored=True, default_threshold=0.5,
         value_hint="value: the answer, or a list of acceptable answers (token F1 after "
                    "SQuAD normalisation; the best counts)")(_check)
