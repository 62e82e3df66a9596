"""``python -m s2acc`` (and ``accelerate launch -m s2acc``) run the CLI."""

import sys

from s2acc.cli import main

sys.exit(main())
