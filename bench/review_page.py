"""The size of the review page (promptctl/reports/review_html.py) for N outputs, and the
time real headless Chromium takes to open it, label one output and download the labels
(tests/helpers/cdp.py). Each output: a system and a user message of ~400 characters, a
600-character output, two assertions, one judge reason.

Usage: python bench/review_page.py [N ...]   (default: 40 500 2000)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.cdp import Browser

from promptctl.gate.labels import LabelView, ReviewItem
from promptctl.load.reviews import output_sha256
from promptctl.reports.review_html import write_review_page
from promptctl.results import AssertionResult, CallRecord


def items(n: int) -> list[ReviewItem]:
    out = []
    for i in range(n):
        text = (f"Answer {i}: " + "the quick brown fox jumps over the lazy dog. " * 14)[:600]
        rec = CallRecord(
            suite="support", case=f"c{i:05d}", prompt="support.triage", model="smollm2",
            repeat=0, params={},
            messages=[{"role": "system", "content": "You triage tickets. " * 20},
                      {"role": "user", "content": f"Ticket {i}: " + "my order is late. " * 22}],
            output=text, passed=i % 3 != 0,
            assertions=[AssertionResult("contains", i % 3 != 0, 1.0, "expected 'refund'"),
                        AssertionResult("llm-rubric", True, 0.8, "polite and on topic")])
        view = LabelView("unlabelled", None, "pass" if rec.passed else "fail")
        out.append(ReviewItem("support", rec.case, rec.prompt, rec.model, text,
                              output_sha256(text), view, [rec]))
    return out


def main(sizes: list[int]) -> None:
    print(f"{'outputs':>8} {'page KB':>9} {'bytes/output':>13} {'write ms':>9} "
          f"{'open+click+download s':>22}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            page = Path(tmp) / f"review-{n}.html"
            start = time.perf_counter()
            write_review_page(page, items(n), run_id=f"bench{n}", by="bench")
            write_ms = (time.perf_counter() - start) * 1000
            size = page.stat().st_size
            with Browser(download_dir=Path(tmp) / f"dl{n}") as b:
                start = time.perf_counter()
                tab = b.open(page)
                tab.click("#pass")
                tab.click("#save")
                b.wait_download(30)
                browser_s = time.perf_counter() - start
            print(f"{n:>8} {size / 1024:>9.0f} {size / n:>13.0f} {write_ms:>9.0f} "
                  f"{browser_s:>22.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [40, 500, 2000])
