"""`python -m controller.cli`: the strata command (daemons are started this way)."""

import sys

from controller.cli import main

sys.exit(main())
