"""Run the command line: `python -m glue_helpers --help`."""

import sys

from .cli import main

sys.exit(main())
