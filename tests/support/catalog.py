"""The demo site's catalog, as the committed generated files are built from it (examples/demo.yaml)."""

from __future__ import annotations

from pathlib import Path

from lookout.monitoring.catalog import Catalog, build
from lookout.monitoring.site import Site, load_site

ROOT = Path(__file__).resolve().parents[2]
# every site file of examples/ (config.yaml is an exporter configuration, not a site)
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "config.yaml")
DEMO: Site = load_site(ROOT / "examples" / "demo.yaml")
c: Catalog = build(DEMO)
