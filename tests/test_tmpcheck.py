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

def test_tmp_path(tmp_path):
    (tmp_path / "kept-if-failed").write_text("x")
    assert not os.environ.get("FAIL")
"""


def _run(tmp_path: Path, leak: bool, fail: bool = False) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "root").mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEAK": "1" if leak else "", "FAIL": "1" if fail else "",
           "TMPDIR": str(tmp_path / "tmp"), "PYTEST_DEBUG_TEMPROOT": str(tmp_path / "root")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.tmpcheck", "-p",
                           "no:cacheprovider", "--rootdir", str(tmp_path), "-c", os.devnull,
                           "-o", "tmp_path_retention_policy=failed", "test_suite.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_clean_session_passes(tmp_path):
    r = _run(tmp_path, leak=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "temporary files left" not in r.stdout
    assert os.listdir(tmp_path / "root") == []  # pytest's per-user folder went with its tmp_path folders


def test_a_failed_tests_tmp_path_is_kept_for_debugging(tmp_path):
    r = _run(tmp_path, leak=False, fail=True)
    assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout + r.stderr
    assert [p.name for p in (tmp_path / "root").glob("pytest-of-*/pytest-*/test_tmp_path0/kept-if-failed")]


def test_a_leak_fails_the_session_and_is_removed(tmp_path):
    r = _run(tmp_path, leak=True)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "3 passed" in r.stdout and "temporary files left" in r.stdout and "$TMPDIR/leaked-" in r.stdout
    assert os.listdir(tmp_path / "tmp") == []  # its session folder went too
