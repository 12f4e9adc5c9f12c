"""`python -m cli`: the strata command (daemons are started this way)."""

import sys

from cli import main

sys.exit(main())
