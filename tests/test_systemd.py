"""deploy/systemd/: the units for a bare VPS are valid for systemd (``systemd-analyze verify`` when it is
installed) and keep the seeds' hardening: dedicated user, read-only filesystem, environment file for
secrets, restart on failure, loopback-only listeners."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
DROPINS = sorted(UNITS.glob("*.service.d/*.conf"))


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values in order]}}, with backslash continuations joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        assert section, f"key outside a section: {line}"
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out


def test_units_exist() -> None:
    names = {p.name for p in SERVICES}
    assert "lookout-exporter.service" in names
    assert {p.parent.name for p in DROPINS} >= {"prometheus.service.d", "prometheus-alertmanager.service.d"}


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_service_hardening(unit: Path) -> None:
    svc = parse_unit(unit.read_text())["Service"]
    single = {k: v[-1] for k, v in svc.items()}
    assert single.get("User") and single["User"] != "root"
    assert single.get("ProtectSystem") == "strict"
    assert single.get("ProtectHome") in ("yes", "true", "read-only")
    assert single.get("NoNewPrivileges") == "yes"
    assert single.get("PrivateTmp") == "yes"
    assert single.get("ReadOnlyPaths")
    assert single.get("Restart") == "on-failure"
    assert single.get("CapabilityBoundingSet", "x") == ""
    # /metrics stays on loopback
    assert "0.0.0.0" not in single["ExecStart"]


def test_exporter_unit_reads_secrets_from_an_environment_file() -> None:
    svc = parse_unit((UNITS / "lookout-exporter.service").read_text())["Service"]
    assert svc["EnvironmentFile"] == ["/etc/lookout/exporters.env"]
    # no --listen: the generated configuration decides (default 127.0.0.1:9808; another host's file names
    # the address the site gives Prometheus for it)
    assert "--listen" not in svc["ExecStart"][-1]
    assert "--config /etc/lookout/generated/exporters.yaml" in svc["ExecStart"][-1]
    from lookout.exporters.config import DEFAULT_LISTEN

    assert DEFAULT_LISTEN == "127.0.0.1:9808"
    # the units run the console script (pyproject.toml's [project.scripts]), not python -m
    assert svc["ExecStartPre"][-1].startswith("/opt/lookout/venv/bin/lookout-exporter check ")
    assert svc["ExecStart"][-1].startswith("/opt/lookout/venv/bin/lookout-exporter run ")
    example = (UNITS / "exporters.env.example").read_text()
    assert all("=" in line for line in example.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("dropin", DROPINS, ids=lambda p: p.parent.name)
def test_dropins_reset_execstart_and_listen_on_loopback(dropin: Path) -> None:
    svc = parse_unit(dropin.read_text())["Service"]
    assert svc["ExecStart"][0] == "", "a drop-in must clear ExecStart before replacing it"
    cmd = svc["ExecStart"][-1]
    assert "--config.file=/etc/lookout/generated/" in cmd
    assert re.search(r"--web\.listen-address=127\.0\.0\.1:\d+", cmd)


def _verify(args: list[str], env: dict[str, str]) -> str:
    r = subprocess.run(["systemd-analyze", "verify", *args], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # point the binaries at ones that exist here: verify checks that ExecStart is executable. The venv's
    # bin/ is stood in for by stubs named after every program the units run from it (python, console scripts).
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    for name in set(re.findall(r"/opt/lookout/venv/bin/([\w.-]+)", "".join(u.read_text() for u in SERVICES))):
        (venv_bin / name).write_text("#!/bin/sh\nexit 0\n")
        (venv_bin / name).chmod(0o755)
    for unit in SERVICES:
        text = unit.read_text().replace("/opt/lookout/venv/bin/", f"{venv_bin}/")
        text = text.replace("/usr/local/bin/prometheus-nginxlog-exporter", shutil.which("true") or "/bin/true")
        (tmp_path / unit.name).write_text(text)
    out = _verify([str(tmp_path / u.name) for u in SERVICES], dict(os.environ))
    problems = [line for line in out.splitlines() if str(tmp_path) in line]
    assert not problems, out
    # the drop-ins, applied over Debian's own units when those are installed
    for dropin in DROPINS:
        base = Path("/lib/systemd/system") / dropin.parent.name.removesuffix(".d")
        if not base.exists():
            continue
        d = tmp_path / "units" / dropin.parent.name
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(dropin, d / dropin.name)
        out = _verify([str(base)], {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path / 'units'}:"})
        problems = [line for line in out.splitlines() if str(tmp_path) in line]
        assert not problems, out


def test_exporter_unit_bounds_descriptors_above_the_connection_cap() -> None:
    import resource

    from lookout.exporters import server

    svc = parse_unit((ROOT / "deploy" / "systemd" / "lookout-exporter.service").read_text())["Service"]
    limit = int(svc["LimitNOFILE"][-1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
        assert server.connection_limit() + server.RESERVED_FDS <= limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
