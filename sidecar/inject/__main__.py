"""`python -m sidecar.inject` is `sidecar inject`."""

import sys

from sidecar.inject.commands import main

sys.exit(main())
