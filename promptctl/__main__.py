"""`python -m promptctl`. `python -m` puts the working directory first on the import
path, and that directory is usually the project under test (in CI, maybe a hostile
pull request): a `yaml.py` or `typer.py` there would be imported by promptctl itself.
So it comes off the path before anything else is imported; the project's own modules
(python checks) are imported only in worker processes.

`promptctl lint` on an unchanged tree is answered from its cache before the CLI (typer)
is imported at all (cli/lint_fast.py)."""

import os
import sys

if sys.path and not getattr(sys.flags, "safe_path", False) and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

if sys.argv[1:2] == ["lint"]:  # (after the path fix above)
    from .cli.lint_fast import answer_from_cache

    code = answer_from_cache(sys.argv[2:])
    if code is not None:
        raise SystemExit(code)

from .cli.main import main  # (after the path fix above)

main()
