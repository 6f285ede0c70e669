"""``python -m exporters``: see ``exporters.cli``."""

import sys

from exporters.cli import main

sys.exit(main())
