"""``python -m demo.providers``: see ``demo.providers.cli``."""

import sys

from demo.providers.cli import main

sys.exit(main())
