"""`python -m jaxdl` runs the `jaxdl` command."""

import sys

from jaxdl.cli import main

sys.exit(main())
