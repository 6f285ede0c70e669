"""``python -m lookout``: the ``lookout`` command (``lookout.monitoring.cli``)."""

import sys

from lookout.monitoring.cli import main

sys.exit(main())
