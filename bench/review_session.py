"""How fast the terminal review keeps up with its reviewer: N outputs of an echo suite
labelled by piping N `p` keys into `promptctl review` (each label written to
reviews/<suite>.yaml atomically before the next key is read), and the cost of one
write of a reviews file of N labels.

Usage: python bench/review_session.py [N ...]   (default: 200 1000)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from promptctl.load.project import load_project
from promptctl.load.reviews import Label, Reviews, output_sha256, write_reviews


def project(root: Path, n: int) -> None:
    (root / "prompts").mkdir()
    (root / "suites").mkdir()
    (root / "promptctl.yaml").write_text("models:\n  echo: {provider: echo}\n")
    (root / "prompts" / "t.yaml").write_text("prompts:\n  say: {template: '{{ answer }}'}\n")
    cases = "".join(f"  - {{id: c{i}, vars: {{answer: 'answer x {i}'}}}}\n" for i in range(n))
    (root / "suites" / "s.yaml").write_text(
        "prompts: [t.say]\nmodels: [echo]\ndefaults:\n  assert: [{type: contains, value: x}]\n"
        "cases:\n" + cases)


def main(sizes: list[int]) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            project(root, n)
            env = {**os.environ, "COLUMNS": "120"}
            subprocess.run([sys.executable, "-m", "promptctl", "run", "-q"], cwd=root,
                           env=env, check=True, capture_output=True)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "promptctl", "review"], cwd=root, env=env,
                           input="p\n" * n, text=True, check=True, capture_output=True)
            session = time.perf_counter() - start
            size = (root / "reviews" / "s.yaml").stat().st_size
            proj = load_project(root)
            book = Reviews("s", "reviews/s.yaml")
            for i in range(n):
                out = f"answer x {i}"
                book.put(Label(f"c{i}", "t.say", "echo", output_sha256(out), "pass",
                               "bench@example.com", "2026-12-03T05:00:00Z", output=out))
            start = time.perf_counter()
            write_reviews(proj, book)
            write = time.perf_counter() - start
            print(f"{n:6d} outputs: session {session:6.2f} s ({session / n * 1000:5.1f} ms "
                  f"a key, start-up included) · one write of {n} labels {write * 1000:6.1f} ms"
                  f" · reviews file {size / 1024:.0f} KB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000])
