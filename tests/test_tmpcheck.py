"""The session's temporary-directory check (``tests.support.tmpcheck``) on a tiny suite run by pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
import os, tempfile

def test_clean():
    with tempfile.TemporaryDirectory(prefix="fine-"):
        pass

def test_leaks():
    if os.environ.get("LEAK"):
        tempfile.mkdtemp(prefix="leaked-")
"""


def _run(tmp_path: Path, leak: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEAK": "1" if leak else "", "TMPDIR": str(tmp_path / "tmp")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.tmpcheck", "-p",
                           "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull, "test_suite.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_clean_session_passes(tmp_path):
    r = _run(tmp_path, leak=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "temporary files left" not in r.stdout


def test_a_leak_fails_the_session_and_is_removed(tmp_path):
    r = _run(tmp_path, leak=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 passed" in r.stdout and "temporary files left" in r.stdout and "$TMPDIR/leaked-" in r.stdout
    assert os.listdir(tmp_path / "tmp") == []  # its session folder went too
