"""lookout: Prometheus exporters, dashboards, alerts and a test stack for small AI-agent SaaS platforms.

One namespace for everything installed: ``lookout.exporters``, ``lookout.dashboards``, ``lookout.monitoring``,
``lookout.stack`` and ``lookout.demo``. The wheel holds them under ``lookout/`` (setup.py maps each to its
folder). A checkout keeps those folders at the repository's top level, beside this one; there, a finder added
to ``sys.meta_path`` resolves exactly those five names to ``<repository>/<name>``, so ``python -m
lookout.exporters`` works from the root without installing anything and nothing else of the repository
(``tests``, ``bench``) becomes part of the package. Code only ever imports the ``lookout.`` names: a bare
``exporters`` would be a second copy of every module (tests/test_packaging.py checks).
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import ModuleSpec, PathFinder

__version__ = "0.1.0"

PARTS = ("dashboards", "demo", "exporters", "monitoring", "stack")

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


class _CheckoutFinder:
    """``lookout.<part>`` -> ``<repository>/<part>``; deeper names follow from the part's ``__path__``."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        parent, _, part = name.partition(".")
        if parent != __name__ or part not in PARTS:
            return None
        return PathFinder.find_spec(name, [_ROOT])


# the wheel has lookout/exporters/; a checkout has exporters/ beside lookout/
_CHECKOUT = not os.path.isdir(os.path.join(_HERE, "exporters")) and os.path.isfile(
    os.path.join(_ROOT, "exporters", "__init__.py"))
if _CHECKOUT and not any(getattr(f, "__name__", "") == "_CheckoutFinder" for f in sys.meta_path):  # once
    sys.meta_path.append(_CheckoutFinder)  # type: ignore[arg-type]
