"""How robust are the repo's own suites on the embedded model? PDR per perturbation.

Copies the repo's project (prompts/, suites/, promptctl.yaml if any) into a work
directory, gives every suite the same set of perturbations at its top level (replacing
a top-level `perturb:` of its own; `--declared` keeps the suites as they are), runs the
real CLI there, `promptctl robust -o robust.json`, and prints per suite and
perturbation: cases, the clean and perturbed pass rates with their 95% intervals, the
drop with the interval that agrees with the paired test, PDR (1 - perturbed / clean),
and the p-value after Holm over the suite's perturbations. The table is Markdown, for
the README's "Robustness" section.

Usage: python bench/robust.py [--workdir DIR] [--declared] [--perturb YAML] [SUITE...]
The first run makes a few hundred model calls (minutes on two cores); the response
cache in WORKDIR/.promptctl makes later runs fast.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# mild to harsh; the families h/perturb ships beyond these are used when present
PERTURB = ["typos", "{type: case, mode: lower, id: lower}",
           "{type: case, mode: upper, id: upper}", "whitespace", "zero-width", "homoglyphs"]
MORE = ["distractor", "filler", "injection"]


def families() -> list[str]:
    """The default set: PERTURB, plus those of MORE this checkout implements."""
    sys.path.insert(0, str(ROOT))
    from promptctl import perturb

    out = list(PERTURB)
    for name in MORE:
        try:
            perturb.check_params(name, {})
        except Exception:  # a family not built yet is left out
            continue
        out.append(name)
    return out


def prepare(workdir: Path, perturb: str | None) -> None:
    """The repo's project in `workdir`; each suite's top-level `perturb:` replaced by
    `perturb` (None: left as written). Text edits, so the suites stay byte-identical
    otherwise (no YAML round trip)."""
    for name in ("prompts", "suites"):
        shutil.rmtree(workdir / name, ignore_errors=True)
        shutil.copytree(ROOT / name, workdir / name)
    if (ROOT / "promptctl.yaml").is_file():
        shutil.copy(ROOT / "promptctl.yaml", workdir / "promptctl.yaml")
    if perturb is None:
        return
    for path in sorted((workdir / "suites").glob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        kept, skipping = [], False
        for line in lines:
            if re.match(r"perturb\s*:", line):
                skipping = True
                continue
            if skipping and (not line.strip() or line[0] in " \t#-"):
                continue
            skipping = False
            kept.append(line)
        kept.append(f"perturb: {perturb}")
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")


def run(workdir: Path, suites: list[str], model: str | None) -> tuple[dict[str, Any], float]:
    out = workdir / "robust.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "promptctl", "robust", *suites, "-q", "-o", str(out)]
    if model:
        cmd += ["-m", model]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not out.is_file():
        sys.exit(f"promptctl robust exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return json.loads(out.read_text()), took


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def table(doc: dict[str, Any]) -> str:
    lines = ["| suite | perturbation | cases | clean [95% CI] | perturbed [95% CI] | "
             "drop [CI] | PDR | p (Holm) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for suite in doc["suites"]:
        for row in suite["perturbations"]:
            clean, pert = row["clean"], row["perturbed"]
            if clean is None or pert is None:
                lines.append(f"| {suite['suite']} | {row['id']} | 0 | - | - | - | - | - |")
                continue
            lo, hi = row["drop_ci"]
            level = "" if row["ci_level"] == 0.95 else f" ({row['ci_level']:.1%})"
            pdr = "n/a" if row["pdr"] is None else f"{row['pdr']:.2f}"
            mark = " *" if row["significant"] else ""
            lines.append(
                f"| {suite['suite']} | {row['id']} | {clean['n']} | {pct(clean['pass_rate'])} "
                f"[{pct(clean['ci'][0])}, {pct(clean['ci'][1])}] | "
                f"{pct(pert['pass_rate'])} [{pct(pert['ci'][0])}, {pct(pert['ci'][1])}] | "
                f"{row['drop'] * 100:+.0f} [{lo * 100:+.0f}, {hi * 100:+.0f}]{level} | "
                f"{pdr} | {row['adjusted_p']:.2g}{mark} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suites", nargs="*", help="suite names (default: all)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / "promptctl-bench-robust")
    parser.add_argument("--declared", action="store_true",
                        help="run the suites' own perturbations, as written")
    parser.add_argument("--perturb", help="a YAML flow list for every suite, e.g. "
                        "'[typos, whitespace]' (default: the built-in set)")
    parser.add_argument("-m", "--model", help="a model (default: the suites', the embedded)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    perturb = None if args.declared else (args.perturb or "[" + ", ".join(families()) + "]")
    prepare(args.workdir, perturb)
    doc, took = run(args.workdir, args.suites, args.model)
    print(table(doc))
    print(f"\n{len(doc['suites'])} suites; * significant at alpha {doc['alpha']} after Holm "
          f"over each suite's perturbations; robust exit {doc['exit_code']}; {took:.0f} s")
    if perturb:
        print(f"perturb: {perturb}")


if __name__ == "__main__":
    main()
