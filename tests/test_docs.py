"""Generated documentation is committed and must match the code."""

from __future__ import annotations

import subprocess
import sys

from tests.support.exporter import ROOT


def test_generated_docs_are_fresh():
    r = subprocess.run([sys.executable, "-m", "lookout.exporters.docs", "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_every_collector_has_a_docstring_summary_and_example():
    from lookout.exporters.collectors import all_classes

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

    from lookout.exporters import config
    from lookout.exporters.collectors import all_classes

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


# caps whose behaviour another branch is changing; each names where that happens
CAPS_PENDING: dict[tuple[str, str], str] = {}


def test_every_cap_says_what_happens_at_it():
    """A setting named max_* bounds what is read or labelled: it declares ``at_cap`` (listed under Caps)."""
    import dataclasses
    import typing

    from lookout.exporters.collectors import all_classes
    from lookout.exporters.docs import caps

    declared = {(c, k.rsplit(".", 1)[-1]) for c, k, _d, _w in caps(all_classes())}

    def names(cls, seen=()):
        for f in dataclasses.fields(cls):
            yield f.name
            for tp in (typing.get_type_hints(cls)[f.name], *typing.get_args(typing.get_type_hints(cls)[f.name])):
                if dataclasses.is_dataclass(tp) and tp not in seen:
                    yield from names(tp, (*seen, tp))

    found = {(cls.name, n) for cls in all_classes() for n in names(cls.Settings) if n.startswith("max_")}
    # durations and sizes that bound no data (an age window, a call length) are not caps
    found -= {("sla", "max_age"), ("credits", "max_call_length")}
    missing = found - declared - set(CAPS_PENDING)
    assert not missing, f"caps without at_cap: {sorted(missing)}"
    assert set(CAPS_PENDING) <= found - declared, "stale CAPS_PENDING entry"
