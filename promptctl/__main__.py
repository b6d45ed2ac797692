"""`python -m promptctl`. `python -m` puts the working directory first on the import
path, and that directory is usually the project under test (in CI, maybe a hostile
pull request): a `yaml.py` or `typer.py` there would be imported by promptctl itself.
So it comes off the path before anything else is imported; the project's own modules
(python checks) are imported only in worker processes."""

import os
import sys

if sys.path and not getattr(sys.flags, "safe_path", False) and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from .cli.main import main  # (after the path fix above)

main()
