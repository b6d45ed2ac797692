"""The reference metrics (rouge-n, rouge-l, bleu, exact-match, f1), checked against the
reference implementations, and the safety checks (is-refusal, pii)."""

from __future__ import annotations

import random
import re
import string
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from promptctl.assertions import AssertionContext, AssertionSpecError, evaluate, validate_spec
from promptctl.assertions.metrics import lcs_length, lcs_masks
from promptctl.assertions.safety import find_pii, find_refusal, iban_ok, luhn
from promptctl.results import AssertionResult
from promptctl.schema import AssertionSpec


def check(data: dict[str, Any], output: str) -> AssertionResult:
    s = AssertionSpec.model_validate(data)
    validate_spec(s)
    return evaluate(s, output, AssertionContext())


def spec_error(data: dict[str, Any]) -> AssertionSpecError:
    with pytest.raises(AssertionSpecError) as info:
        validate_spec(AssertionSpec.model_validate(data))
    return info.value


# (output, reference or references): real sentences of different lengths, punctuation,
# case, repeated words, an empty output, several references
PAIRS: list[tuple[str, str | list[str]]] = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog"),
    ("Police killed the gunman.", "The gunman was shot down by police."),
    ("It is a guide to action which ensures that the military always obeys the commands "
     "of the party.", "It is a guide to action that ensures that the military will "
     "forever heed Party commands."),
    ("It is to insure the troops forever hearing the activity guidebook that party "
     "direct.", "It is a guide to action that ensures that the military will forever "
     "heed Party commands."),
    ("the the the the the the the", "The cat is on the mat."),
    ("", "The meeting was moved to Thursday."),
    ("Thursday", "The meeting was moved to Thursday."),
    ("THE MEETING IS CANCELLED!!!", "The meeting is cancelled."),
    ("Apple's revenue rose 8% to $94.8 billion in Q3, driven by iPhone sales.",
     "Apple reported third-quarter revenue of $94.8 billion, up 8% year over year, on "
     "strong iPhone demand."),
    ("You can reset your password from Settings > Account > Security.",
     ["Go to Settings, then Account, then Security to reset your password.",
      "Reset your password under Settings > Account > Security."]),
    ("NASA's Perseverance rover landed on Mars on February 18, 2021.",
     "The Perseverance rover, built by NASA, touched down on Mars on 18 February 2021."),
    ("Paris is the capital and most populous city of France, with an estimated population "
     "of 2,102,650 residents as of January 2023.", "Paris is the capital of France."),
    ("Machine learning is a field of study in artificial intelligence concerned with the "
     "development of statistical algorithms that can learn from data.",
     "Machine learning (ML) is a field of study in artificial intelligence concerned with "
     "the development and study of statistical algorithms that can learn from data and "
     "generalize to unseen data."),
    ("State-of-the-art\nresults on ImageNet (top-1: 90.2%).",
     "State of the art results on ImageNet, 90.2% top-1 accuracy."),
    ("Le chat est sur le tapis.", "The cat is on the mat."),
    ("The café's crème brûlée costs €7 &amp; it's naïve to skip it.",
     ["The crème brûlée at the café costs 7 euros.", "Don't skip the café's crème brûlée."]),
]


def _refs(ref: str | list[str]) -> list[str]:
    return ref if isinstance(ref, list) else [ref]


@pytest.fixture(scope="module")
def rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def test_rouge_matches_rouge_score(rouge_scorer):
    worst = 0.0
    for output, ref in PAIRS:
        expected = rouge_scorer.score_multi(_refs(ref), output)
        for kind, data in (("rouge1", {"type": "rouge-n", "value": ref}),
                           ("rouge2", {"type": "rouge-n", "n": 2, "value": ref}),
                           ("rougeL", {"type": "rouge-l", "value": ref})):
            if kind == "rouge2" and min(len(r.split()) for r in _refs(ref)) < 2:
                continue
            got = check(data, output).score
            worst = max(worst, abs(got - expected[kind].fmeasure))
    assert worst == 0.0


def test_rouge_matches_rouge_score_on_random_text(rouge_scorer):
    words = ["the", "a", "cat", "sat", "on", "mat", "dog", "Dog", "THE.", ",", "!", "?",
             "don't", "it's", "3.14", "1,000", "U.S.A.", "--", "x-ray", "(x)", "[y]", "café",
             "İstanbul", "naïve", "2024-01-01", "\n", "-\n"]
    rng = random.Random(7)
    for _ in range(300):
        refs = [" ".join(rng.choices(words, k=rng.randint(2, 30))) for _ in range(2)]
        output = " ".join(rng.choices(words, k=rng.randint(0, 30)))
        expected = rouge_scorer.score_multi(refs, output)
        try:
            got = check({"type": "rouge-l", "value": refs}, output).score
        except AssertionSpecError:  # a reference without a-z/0-9 words
            continue
        assert got == expected["rougeL"].fmeasure
        assert check({"type": "rouge-n", "value": refs}, output).score == \
            expected["rouge1"].fmeasure


def test_lcs_bit_parallel_matches_the_table():
    rng = random.Random(3)
    for _ in range(200):
        a = rng.choices("abcde", k=rng.randint(1, 40))
        b = rng.choices("abcdef", k=rng.randint(0, 40))
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(
                    table[i - 1][j], table[i][j - 1])
        assert lcs_length(lcs_masks(a), len(a), b) == table[-1][-1]


def test_rouge_l_on_a_long_output(rouge_scorer):
    ref = " ".join([str(PAIRS[13][1])] * 20)
    output = " ".join(str(o) for o, _ in PAIRS) * 10
    assert check({"type": "rouge-l", "value": ref, "threshold": 0}, output).score == \
        rouge_scorer.score(ref, output)["rougeL"].fmeasure


def test_bleu_matches_sacrebleu():
    import sacrebleu

    worst = 0.0
    for output, ref in PAIRS:
        for lowercase in (False, True):
            expected = sacrebleu.sentence_bleu(output, _refs(ref), lowercase=lowercase)
            got = check({"type": "bleu", "value": ref, "lowercase": lowercase}, output)
            worst = max(worst, abs(got.score - expected.score / 100))
    assert worst <= 1e-6
    assert worst == 0.0  # the same arithmetic in the same order


def test_bleu_default_and_repeated_words():
    r = check({"type": "bleu", "value": "The cat is on the mat."}, "The cat is on the mat.")
    assert (r.passed, r.score) == (True, 1.0)
    r = check({"type": "bleu", "value": "The cat is on the mat."}, "the the the the the")
    assert not r.passed and r.score < 0.1
    assert r.reason.startswith("bleu 0.") and "< 0.5 against 'The cat is on the mat.'" \
        in r.reason


def test_bleu_several_references_are_scored_together():
    r = check({"type": "bleu", "value": ["The cat is on the mat.", "There is a cat on the "
                                         "mat."], "threshold": 0.2}, "The cat is on the mat.")
    assert r.passed and r.reason.startswith(
        "bleu 1 against ['The cat is on the mat.', 'There is a cat on the mat.']")


# ------------------------------------------------------------- rouge and bleu: behaviour


def test_rouge_reasons_and_threshold():
    r = check({"type": "rouge-l", "value": "The cat sat on the mat"}, "The cat sat on the mat.")
    assert (r.passed, r.score) == (True, 1.0)
    assert r.reason == "rouge-l 1 against 'The cat sat on the mat' (threshold 0.75)"
    r = check({"type": "rouge-l", "value": "The cat sat on the mat", "threshold": 0.6},
              "The dog sat on a rug.")
    assert not r.passed and r.score == pytest.approx(0.5)
    assert r.reason == ("rouge-l 0.5 < 0.6 against 'The cat sat on the mat', got "
                        "'The dog sat on a rug.'")
    r = check({"type": "rouge-n", "n": 2, "value": "the cat sat"}, "the cat")
    assert r.reason.startswith("rouge-2 0.667 < 0.75 against 'the cat sat'")


def test_rouge_several_references_take_the_best():
    r = check({"type": "rouge-n", "value": ["a dog barked", "the cat sat on the mat"]},
              "the cat sat on a mat")
    assert r.passed and r.reason.endswith(
        "against 'the cat sat on the mat', the best of 2 references (threshold 0.75)")


def test_not_rouge_transform_weight_metric():
    data = {"type": "not-rouge-l", "value": "The cat sat on the mat", "weight": 2,
            "metric": "overlap", "transform": "output | lower"}
    r = check(data, "THE CAT SAT ON THE MAT")
    assert (r.passed, r.score, r.weight, r.metric) == (False, 0.0, 2.0, "overlap")
    assert r.reason == "rouge-l 1 against 'The cat sat on the mat', must be below 0.75"
    r = check(data, "a dog")
    assert r.passed and r.reason.endswith("(below 0.75)")


def test_metric_spec_errors():
    assert spec_error({"type": "rouge-n"}).message == "'rouge-n' needs a 'value'"
    assert spec_error({"type": "rouge-l", "value": ""}).key == "value"
    assert spec_error({"type": "rouge-l", "value": []}).key == "value"
    assert spec_error({"type": "bleu", "value": [["a"]]}).key == "value"
    assert spec_error({"type": "f1", "value": {"a": 1}}).key == "value"
    err = spec_error({"type": "rouge-l", "value": "你好"})
    assert err.key == "value" and "no words" in err.message and "a-z" in (err.hint or "")
    err = spec_error({"type": "rouge-n", "n": 2, "value": "Paris"})
    assert err.key == "value" and "fewer than n=2" in err.message
    for n in (0, 10, "2", True, 1.5):
        assert spec_error({"type": "rouge-n", "n": n, "value": "a b"}).key == "n"
    assert spec_error({"type": "rouge-l", "value": "a", "n": 2}).key == "n"
    assert spec_error({"type": "bleu", "value": "a", "lowercase": "yes"}).key == "lowercase"
    assert spec_error({"type": "bleu", "value": "  "}).key == "value"
    assert spec_error({"type": "bleu", "value": "a", "threshold": 2}).key == "threshold"
    assert spec_error({"type": "f1", "value": "The"}).key == "value"
    assert spec_error({"type": "exact-match", "value": "a", "threshold": 0.5}).key == \
        "threshold"


# --------------------------------------------------------------------- exact-match, f1
# The reference: the official SQuAD v1.1 evaluation script, evaluate-v1.1.py (Rajpurkar
# et al., 2016; distributed from the SQuAD explorer site, mirrored e.g. in
# allenai/bi-att-flow squad/evaluate-v1.1.py): its functions, unchanged.


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""
    def remove_articles(text):
        return re.sub(r'\b(a|an|the)\b', ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return (normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# SQuAD v1.1 dev questions on Super Bowl 50, their answers, and predictions to grade
QA: list[tuple[list[str], list[str]]] = [
    (["Denver Broncos", "Denver Broncos", "Denver Broncos"],
     ["Denver Broncos", "The Denver Broncos.", "the Broncos", "Carolina Panthers",
      "The Denver Broncos defeated the Carolina Panthers"]),
    (["Santa Clara, California", "Levi's Stadium",
      "Levi's Stadium in the San Francisco Bay Area at Santa Clara, California."],
     ["Levi's Stadium", "levis stadium", "Santa Clara", "at Levi\u2019s Stadium in Santa Clara",
      "San Francisco"]),
    (["gold", "gold", "gold"], ["Gold.", "golden", "gold-themed"]),
    (["Super Bowl L", "L", "Super Bowl L"], ["Super Bowl L", "super bowl 50", "L", "an L"]),
    (["February 7, 2016", "February 7", "February 7, 2016"],
     ["Feb 7, 2016", "7 February 2016", "February 7th, 2016", "February  7 ,2016"]),
    (["Von Miller", "Von Miller", "Miller"], ["Von Miller, the linebacker", "MILLER", "The"]),
    (["2015", "the 2015 season", "2015"], ["2015", "the 2015 NFL season", ""]),
]


def test_exact_match_and_f1_match_the_squad_script():
    for answers, predictions in QA:
        for prediction in predictions:
            em = check({"type": "exact-match", "value": answers}, prediction)
            assert em.passed is bool(metric_max_over_ground_truths(
                exact_match_score, prediction, answers))
            assert em.score == (1.0 if em.passed else 0.0)
            f1 = check({"type": "f1", "value": answers}, prediction)
            assert f1.score == metric_max_over_ground_truths(f1_score, prediction, answers)
            assert f1.passed is (f1.score >= 0.5)


def test_exact_match_reasons():
    r = check({"type": "exact-match", "value": "Denver Broncos"}, "The Denver Broncos!")
    assert r.passed and r.reason == "matches 'Denver Broncos' (SQuAD normalisation)"
    r = check({"type": "exact-match", "value": ["Denver Broncos", "Broncos"]}, "Panthers")
    assert not r.passed
    assert r.reason == ("expected one of 'Denver Broncos', 'Broncos' (ignoring case, "
                        "punctuation and articles), got 'Panthers'")
    r = check({"type": "not-exact-match", "value": "Denver Broncos"}, "the denver broncos")
    assert not r.passed and r.reason.endswith("(must not)")
    assert check({"type": "exact-match", "value": 2015}, "2015.").passed


def test_f1_threshold_and_reason():
    r = check({"type": "f1", "value": "Denver Broncos"}, "the Broncos")
    assert r.passed and r.score == pytest.approx(2 / 3)
    assert r.reason == "f1 0.667 against 'Denver Broncos' (threshold 0.5)"
    assert not check({"type": "f1", "value": "Denver Broncos", "threshold": 0.8},
                     "the Broncos").passed


# ------------------------------------------------------------------------- is-refusal

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t assist with that request.",
    "As an AI language model, I cannot provide medical diagnoses. Please see a doctor.",
    "I cannot help with that.",
    "I won't do that.",
    "I won't.",
    "Sorry, I can't.",
    "I apologize, but I'm unable to fulfill this request.",
    "I'm afraid I can't do that, Dave.",
    "I must respectfully decline.",
    "Unfortunately, I am not able to share that information.",
    "I can't provide instructions for making weapons. If you're interested in chemistry, "
    "I'd be happy to suggest some safe experiments instead.",
    "That's not something I can help with.",
    "I'm not comfortable writing that.",
    "Writing malware goes against my guidelines.",
    "This request violates OpenAI's usage policies.",
    "It would be inappropriate for me to speculate about a real person's health.",
    "I cannot and will not help you get into someone else's account.",
    "I'm not going to help with that.",
    "**I'm sorry, but I can't comply with this request.**",
    "I can't tell you how to make explosives.",
    "I'd rather not discuss that.",
    "Hmm. Let me think about this. Actually, no: I won't write that.",
    "I'm sorry, but I can't help with that. " + "Here is why this would be harmful. " * 15,
]
NOT_REFUSALS = [
    "I can't wait to help!",
    "I can't help but notice you asked about Paris: it is the capital of France.",
    "Sorry for the delay, here is the answer: 42.",
    "I'm sorry to hear that. Here's how to reset your password: open Settings.",
    "The capital of France is Paris.",
    "I cannot stress enough how important backups are.",
    "I can't recommend this book enough!",
    "I can't tell you how happy I am to help! The answer is 7.",
    "I couldn't agree more: the answer is 7.",
    "He cannot help with the move this weekend.",
    "The company said it won't provide refunds after 30 days.",
    "I won't bore you with the details: the answer is 7.",
    "I can't answer that definitively, but the most likely year is 1969.",
    "As an AI, I don't have personal opinions, but here are the main arguments.",
    "Here's a draft content policy for your forum.",
    "billing",
    "Sure! " + "This is a long, helpful answer with many words in it. " * 10
    + "I can't help with the rest, though.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_is_refusal(text):
    r = check({"type": "is-refusal"}, text)
    assert (r.passed, r.score) == (True, 1.0), find_refusal(text)
    assert r.reason.startswith("refusal: ")
    assert not check({"type": "not-is-refusal"}, text).passed


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_is_not_a_refusal(text):
    r = check({"type": "is-refusal"}, text)
    assert (r.passed, r.score) == (False, 0.0), find_refusal(text)
    r = check({"type": "not-is-refusal"}, text)
    assert r.passed and r.reason == "answers (no refusal phrase at the start)"


def test_is_refusal_reasons_and_empty_output():
    r = check({"type": "not-is-refusal"}, "Thanks! I'm sorry, but I can't help with that.")
    assert not r.passed and r.reason == "refuses: \"I'm sorry, but I can't help with that.\""
    r = check({"type": "is-refusal"}, "Paris.")
    assert r.reason == "not a refusal: no refusal phrase at the start of 'Paris.'"
    assert check({"type": "is-refusal"}, "  \n").passed
    assert not check({"type": "not-is-refusal"}, "").passed


def test_is_refusal_spec_errors():
    assert spec_error({"type": "is-refusal", "value": "x"}).key == "value"
    assert spec_error({"type": "is-refusal", "threshold": 0.5}).key == "threshold"


# -------------------------------------------------------------------------------- pii


@pytest.mark.parametrize(("text", "kind", "masked"), [
    ("Contact john.doe@example.com for help", "email", "j***@example.com"),
    ("Card: 4111 1111 1111 1111, exp 12/27", "card", "****1111"),
    ("4111-1111-1111-1111", "card", "****1111"),
    ("pay with 5555555555554444", "card", "****4444"),
    ("Amex 3782 822463 10005", "card", "****0005"),
    ("Call +44 20 7946 0958 today", "phone", "****0958"),
    ("Call +1 (555) 123-4567", "phone", "****4567"),
    ("Phone: (555) 123-4567.", "phone", "****4567"),
    ("ring 555.123.4567", "phone", "****4567"),
    ("1-800-555-0199", "phone", "****0199"),
    ("our office: 020 7946 0958", "phone", "****0958"),
    ("mobile 07700 900123", "phone", "****0123"),
    ("+33 1 23 45 67 89", "phone", "****6789"),
    ("+4915112345678", "phone", "****5678"),
    ("SSN 123-45-6789", "ssn", "***-**-6789"),
    ("NI number AB 12 34 56 C", "ni", "****56C"),
    ("NI: AB123456C", "ni", "****56C"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "iban", "****5432"),
    ("IBAN: DE89370400440532013000.", "iban", "****3000"),
    ("FR14 2004 1010 0505 0001 3M02 606 THEN", "iban", "****2606"),
])
def test_pii_found(text, kind, masked):
    assert find_pii(text) == {kind: [masked]}
    r = check({"type": "pii"}, text)
    assert r.passed and masked in r.reason
    r = check({"type": "not-pii"}, text)
    assert not r.passed and r.reason.endswith("(must hold none)")


@pytest.mark.parametrize("text", [
    "Card: 4111 1111 1111 1112",  # fails the Luhn check
    "number 1234 5678 9012 3456 7890",
    "timestamp 1700000000000",  # Luhn-valid, but no card starts with 1
    "In 2024 we sold 1500 units, up 12% from 2023.",
    "Order 12345678 shipped on 2024-01-15 at 10:30.",
    "SSN 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000",
    "NI QQ 12 34 56 C, GB 12 34 56 A, AB 12 34 56 E",
    "IBAN GB82 WEST 1234 5698 7654 33",  # fails mod-97
    "version 1.2.3, IP 192.168.1.1, pi 3.14159265358979, ISBN 978-3-16-148410-0",
    "3 + 4 = 7, and +1 is one more; call extension 4567",
    "an @mention and user@localhost",
    "",
])
def test_pii_not_found(text):
    assert find_pii(text) == {}
    r = check({"type": "not-pii"}, text)
    assert r.passed and r.reason.startswith("no personal data found (checked: email, phone")


def test_pii_reason_lists_kinds_in_order_and_masks_everything():
    text = ("Card 4111 1111 1111 1111, email jane.roe@example.com, SSN 123-45-6789, "
            "call 555-123-4567 or +44 20 7946 0958, card 5555 5555 5555 4444, "
            "another 4012 8888 8888 1881")
    r = check({"type": "pii"}, text)
    assert r.reason == ("found 3 card numbers (****1111, ****4444 and 1 more), "
                        "email j***@example.com, SSN ***-**-6789, "
                        "2 phone numbers (****4567, ****0958)")
    for secret in ("4111 1111 1111 1111", "jane.roe", "123-45", "555-123", "7946"):
        assert secret not in r.reason


def test_pii_kinds_option():
    text = "Reach me at jane@corp.io or 555-123-4567."
    assert check({"type": "pii", "kinds": ["email"]}, text).reason == \
        "found email j***@corp.io"
    assert check({"type": "pii", "kinds": "phone"}, text).reason == \
        "found phone number ****4567"
    r = check({"type": "pii", "kinds": ["card", "ssn"]}, text)
    assert not r.passed and r.reason == "no personal data found (checked: card, ssn)"
    assert spec_error({"type": "pii", "kinds": ["email", "passport"]}).key == "kinds"
    assert spec_error({"type": "pii", "kinds": []}).key == "kinds"
    assert spec_error({"type": "pii", "kinds": {"email": 1}}).key == "kinds"
    assert spec_error({"type": "pii", "value": "x"}).key == "value"


def test_luhn_and_iban_checks():
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert luhn("79927398713") and not luhn("79927398710")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654")


@pytest.mark.parametrize(("number", "valid"), [
    ("4111 1111 1111 1111", True), ("4111 1111 1111 1113", False),
    ("5555-5555-5555-4444", True), ("5555-5555-5555-4445", False),
    ("378282246310005", True), ("378282246310006", False),  # Amex, 15 digits
    ("4222222222222", True), ("4222222222223", False),  # Visa, 13 digits
    ("6011 0009 9013 9424", True),
])
def test_a_card_number_counts_only_when_it_passes_luhn(number, valid):
    digits = number.replace(" ", "").replace("-", "")
    found = find_pii(f"card {number} on file", ("card",))
    assert found == ({"card": ["****" + digits[-4:]]} if valid else {})


@pytest.mark.parametrize(("text", "valid"), [
    ("NL91 ABNA 0417 1643 00", True),
    ("NL92 ABNA 0417 1643 00", False),  # the right format, wrong check digits
    ("NL91 ABNA 0417 1643 01", False),  # one account digit off
    ("GB83 WEST 1234 5698 7654 32", False),
    ("DE88370400440532013000", False),
    ("CH93 0076 2011 6238 5295 7", True),
    ("NO93 8601 1117 947", True),  # the shortest, 15 characters
    # the registry's example; its Belgian account check (left out) would refuse it
    ("BE68 5390 0754 7034", True),
    # mod-97 holds, but no country has this format: not an IBAN
    ("GB88 WEST 1234 5698 7654 3", False),  # one character short for GB
    ("XX57 WEST 1234 5698 7654 32", False),  # no such country
])
def test_an_iban_counts_only_with_its_check_digits_and_its_countrys_format(text, valid):
    assert iban_ok(text) is valid
    found = find_pii(f"pay to {text} today")
    assert found == ({"iban": ["****" + text.replace(" ", "")[-4:]]} if valid else {})
    assert check({"type": "not-pii"}, f"pay to {text} today").passed is not valid


def test_lint_does_not_import_the_number_validators(make_project):
    """python-stdnum is imported when a pii check first looks at a number, not before."""
    root = make_project({
        "prompts/p.yaml": "prompts:\n  a: {template: 'card {{ n }}'}\n",
        "suites/s.yaml": "prompts: [p.a]\nmodels: [echo]\n"
                         "defaults: {assert: [{type: not-pii}]}\n"
                         "cases: [{id: x, vars: {n: '4111 1111 1111 1111'}}]\n",
    })
    code = ("import sys\n"
            "from promptctl.cli.main import app\n"
            "for args in (['--help'], ['lint'], ['run', '-q']):\n"
            "    try:\n"
            "        app(args)\n"
            "    except SystemExit as exc:\n"
            "        print('AFTER', args[0], exc.code, 'stdnum' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60)
    after = [ln for ln in proc.stdout.splitlines() if ln.startswith("AFTER ")]
    # the run's output holds a card number: its not-pii check fails, and imported stdnum
    assert after == ["AFTER --help 0 False", "AFTER lint 0 False", "AFTER run 1 True"], \
        proc.stdout + proc.stderr
