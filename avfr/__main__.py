"""`python -m avfr`: the same as the installed `avfr` command."""

import sys

from avfr.cli import main

sys.exit(main())
