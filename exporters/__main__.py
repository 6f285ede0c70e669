"""``lookout-exporter``: see ``lookout.exporters.cli``."""

import sys

from lookout.exporters.cli import main

sys.exit(main())
