"""`python -m dataplane.delay`: run the delay element (see dataplane.delay.element)."""

import sys

from dataplane.delay.element import main

sys.exit(main())
