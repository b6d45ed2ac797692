"""Run artifacts as written: a records.jsonl line and a prompt's digest are what the json
module makes of them, whichever encoder wrote them."""

from __future__ import annotations

import datetime
import enum
import json
import math
import sys

import pytest

from promptctl.results import digest
from promptctl.run.scoring import prompt_digest
from promptctl.run.store import record_line


class Colour(enum.Enum):
    RED = "red"


class Text(str):
    pass


def json_line(data):
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def same_value(a, b):
    """Equal, NaN equal to NaN (what json writes for it reads back as NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return a == b


RECORD = {"suite": "s", "case": "c-1", "repeat": 0, "output": "héllo\n\"x\"\u2028\x00\x7f",
          "passed": True, "score": 0.1, "cost": 1e-05, "latency_ms": 1e16, "error": None,
          "assertions": [{"type": "contains", "score": 1.0, "reason": "ok"}],
          "params": {"temperature": 0.0, "stop": ["a"], "seed": -(2**63),
                     "response_format": {"schema": {"type": "object"}}},
          "tokens": {"prompt": 2**64 - 1, "completion": 0}}


@pytest.mark.parametrize("change", [
    {},
    {"score": math.nan}, {"cost": math.inf}, {"latency_ms": -math.inf},  # orjson: null
    {"params": {"seed": 2**64}}, {"params": {"seed": -(2**63) - 1}},  # past 64 bits
    {"params": {1: "int key"}}, {"params": {None: "null key"}},
    {"params": {"when": datetime.date(2024, 1, 2)}},  # json refuses it: so must we
    {"params": {"colour": Colour.RED}}, {"params": {"t": (1, 2)}},
    {"params": {"x": Text("a str subclass")}}, {"tokens": {"prompt": math.nan}},
    {"output": "a lone surrogate \ud800"},
])
def test_a_record_line_reads_back_as_json_s_would(change):
    data = {**RECORD, **change}
    try:
        expected = json_line(data)
    except (TypeError, ValueError) as exc:  # json refuses it: the line is refused alike
        with pytest.raises(type(exc)):
            record_line(data)
        return
    line = record_line(data)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert same_value(json.loads(line), json.loads(expected))
    if change:  # anything orjson would write otherwise: json's own bytes
        assert line == expected


def test_a_prompt_digest_is_results_digest_for_every_code_point():
    texts = ["".join(chr(c) for c in range(start, min(start + 512, sys.maxunicode + 1))
                     if not 0xD800 <= c <= 0xDFFF)
             for start in range(0, sys.maxunicode + 1, 512)]
    for text in texts:
        messages = [{"role": "system", "content": text}, {"role": "user", "content": "q"}]
        assert prompt_digest(messages) == digest(messages)
    odd = [{"role": "user", "content": Text("x"), "name": 1}]  # not text only: digest's
    assert prompt_digest(odd) == digest(odd)
    assert prompt_digest([]) == digest([])
    keyed = [{"role": "user", 2: "x"}]  # keys json cannot sort: refused alike
    with pytest.raises(TypeError):
        digest(keyed)
    with pytest.raises(TypeError):
        prompt_digest(keyed)
