"""`python -m flags`: the flags2-compatible downloader command line."""

import sys

from flags.cli import main

sys.exit(main())
