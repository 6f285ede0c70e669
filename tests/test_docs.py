"""Generated documentation is committed and must match the code."""

from __future__ import annotations

import subprocess
import sys

from tests.support.exporter import ROOT


def test_generated_docs_are_fresh():
    r = subprocess.run([sys.executable, "-m", "exporters.docs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_collector_has_a_docstring_summary_and_example():
    from exporters.collectors import all_classes

    for cls in all_classes():
        module = sys.modules[cls.__module__]
        assert module.__doc__ and len(module.__doc__) > 40, f"{cls.name}: module docstring"
        assert cls.summary.strip(), f"{cls.name}: summary"
        assert getattr(cls, "example", "").strip(), f"{cls.name}: example"
        names = [m.name for m in cls.metrics]
        assert len(names) == len(set(names)), f"{cls.name}: duplicate metric"


def test_every_collector_example_is_a_valid_config(tmp_path, monkeypatch):
    """The examples shown in docs/configuration.md load without error."""
    import re

    import yaml

    from exporters import config
    from exporters.collectors import all_classes

    for cls in all_classes():
        text = cls.example
        for var in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text):
            monkeypatch.setenv(var, "example-value")
        data = yaml.safe_load(text)
        assert isinstance(data, dict) and cls.name in data, f"{cls.name}: example must be under its name"
        for key, _path in re.findall(r"^\s*(\w+_file):\s*(\S+)", text, re.M):
            data[cls.name][key] = str(tmp_path / key)
            (tmp_path / key).write_text("example-secret\n")
            (tmp_path / key).chmod(0o600)
        p = tmp_path / f"{cls.name}.yaml"
        p.write_text(yaml.safe_dump({"collectors": data}))
        cfg = config.load(p)
        assert cls.name in cfg.collectors
