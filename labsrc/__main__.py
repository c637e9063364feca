"""`python -m labsrc` is `gil-lab`."""

import sys

from labsrc.cli import main

sys.exit(main())
