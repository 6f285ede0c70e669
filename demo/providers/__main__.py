"""``python -m lookout.demo.providers``: see ``lookout.demo.providers.cli``."""

import sys

from lookout.demo.providers.cli import main

sys.exit(main())
