"""Packaging: the repository's top-level folders install as one namespace, ``lookout.*``.

The folders stay where they are (``exporters/``, ``dashboards/``...); ``package_dir`` maps ``lookout.<folder>``
to each, with every subpackage found in it, so site-packages gets a single top-level ``lookout/``. The rest of
the metadata (dependencies, console scripts, package data) is in pyproject.toml.
"""

from setuptools import find_packages, setup

PARTS = ("dashboards", "demo", "exporters", "monitoring", "stack")  # lookout.PARTS, for the checkout's finder

package_dir = {"lookout": "lookout"}
packages = ["lookout"]
for part in PARTS:
    package_dir[f"lookout.{part}"] = part
    packages += [f"lookout.{part}", *(f"lookout.{part}.{sub}" for sub in find_packages(part))]

setup(package_dir=package_dir, packages=packages)
