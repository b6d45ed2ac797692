"""Perturbations of a var's text, seeded: the built-in families of `perturb:` (issue 15).

The package owns the families and their params, nothing else: the loader
(promptctl/load/) reads `perturb:` from YAML, calls `check_params` at validate time
(turning a PerturbSpecError into a UserError at file:line), makes one rng per
(seed, suite, case, perturbation, var) with `seeded_rng`, and calls `apply`. The
`custom` family (user code) is the loader's, run in the worker pool: nothing here runs
user code, opens a file or touches the network.

Each family is a function `fn(text, rng, **params) -> str` in the module of its group:
`chars` (typos, case, whitespace, zero-width, homoglyphs), `words` (synonyms, filler,
distractor), `instructions` (injection, encoding), `fairness` (counterfactual); their
params are declared in each module's `PARAMS`. The modules are imported on first use.
Algorithms, params and examples: docs/perturb.md.

Pure: the same text, params and rng state give the same text on every machine and
Python >= 3.10 (promptctl/perturb/base.py lists the invariants).
"""

from __future__ import annotations

import hashlib
import importlib
import random
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import quote, suggest
from .base import PerturbSpecError
from .params import check

__all__ = ["FAMILIES", "PerturbSpecError", "apply", "check_params", "seeded_rng"]

FAMILIES: dict[str, str] = {
    "typos": "promptctl.perturb.chars:typos",
    "case": "promptctl.perturb.chars:case",
    "whitespace": "promptctl.perturb.chars:whitespace",
    "zero-width": "promptctl.perturb.chars:zero_width",
    "homoglyphs": "promptctl.perturb.chars:homoglyphs",
    "synonyms": "promptctl.perturb.words:synonyms",
    "filler": "promptctl.perturb.words:filler",
    "distractor": "promptctl.perturb.words:distractor",
    "injection": "promptctl.perturb.instructions:injection",
    "encoding": "promptctl.perturb.instructions:encoding",
    "counterfactual": "promptctl.perturb.fairness:counterfactual",
}


def _module(family: str) -> Any:
    target = FAMILIES.get(family) if isinstance(family, str) else None
    if target is None:
        did = suggest(family, FAMILIES) if isinstance(family, str) else None
        raise PerturbSpecError(
            f"unknown perturbation family {quote(family, 60)}" + (f" ({did})" if did else ""),
            key="type", hint="families: " + ", ".join(FAMILIES)
            + ", custom (a function path.py:fn)")
    return importlib.import_module(target.partition(":")[0])


def _function(family: str) -> Callable[..., str]:
    fn: Callable[..., str] = getattr(_module(family), FAMILIES[family].partition(":")[2])
    return fn


def check_params(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated params with defaults filled in; PerturbSpecError for an unknown family
    (with a did-you-mean), an unknown key, or a bad value (range, type). `params` are
    the family's own keys only: `type`, `id`, `vars`, `seed` and `max_drop` are the
    loader's."""
    module = _module(family)
    checked = check(family, module.PARAMS[family], params)
    post = getattr(module, "CHECKS", {}).get(family)
    return post(checked, params) if post else checked


def apply(family: str, text: str, params: Mapping[str, Any], rng: random.Random) -> str:
    """The perturbed text; params as check_params returned them. Pure: same text,
    params and rng state -> same result on every machine and Python >= 3.10."""
    return _function(family)(text, rng, **params)


def seeded_rng(*parts: str | int) -> random.Random:
    """random.Random seeded by the sha256 of the parts joined with NUL (e.g. seed,
    suite, case id, perturbation id, var name): the loader's one way to make an rng."""
    joined = "\0".join(str(part) for part in parts).encode("utf-8", "surrogatepass")
    return random.Random(int.from_bytes(hashlib.sha256(joined).digest(), "big"))
