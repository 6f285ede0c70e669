"""A pytest plugin: the test session leaves nothing in the temporary directory.

The controller (not an xdist worker, which inherits its environment) creates ``lookout-tests-*`` in the
temporary directory and points ``TMPDIR`` at it before any test runs, so every ``mkdtemp`` of the tests,
the demo, the stack and the servers they start lands there. At the end of the session the folder must be
empty: anything left fails the run, listed, and is then removed. pytest's own ``tmp_path`` folders stay
where they were (``PYTEST_DEBUG_TEMPROOT``), kept for failed tests only (``tmp_path_retention_policy``); the
per-user folder pytest puts them in (``pytest-of-<user>``) is removed when this session created it and it is
left empty (every test passed).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import tempfile
from pathlib import Path

import pytest

SESSION_TMP = pytest.StashKey[Path]()
USER_ROOT = pytest.StashKey[Path]()  # pytest's per-user folder, when it did not exist before this session


def _pytest_user_root() -> Path | None:
    """Where pytest puts its numbered ``tmp_path`` folders (``_pytest.tmpdir``: ``pytest-of-<user>``)."""
    try:
        user = getpass.getuser()
    except (ImportError, OSError, KeyError):
        return None
    return Path(os.environ["PYTEST_DEBUG_TEMPROOT"]).resolve() / f"pytest-of-{user}"


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    user_root = _pytest_user_root()
    if user_root is not None and not user_root.exists():
        config.stash[USER_ROOT] = user_root
    d = Path(tempfile.mkdtemp(prefix="lookout-tests-"))
    d.chmod(0o1777)  # like /tmp itself: servers running as another user (PostgreSQL under root) write here too
    os.environ["TMPDIR"] = str(d)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    config.stash[SESSION_TMP] = d


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    d = session.config.stash.get(SESSION_TMP, None)
    if d is None:
        return
    user_root = session.config.stash.get(USER_ROOT, None)
    if user_root is not None:  # after pytest's own tmpdir plugin (trylast) removed the session's folder
        with contextlib.suppress(OSError):  # only when empty: a failed test's folder is kept there for debugging
            user_root.rmdir()
    # pymp-*: multiprocessing's own folder of a process the fault tests SIGKILL on purpose (it removes it only at
    # a clean exit); it goes with the session folder below and is not counted as a leak of ours.
    left = sorted(p.name for p in d.iterdir() if not p.name.startswith("pymp-")) if d.is_dir() else []
    shutil.rmtree(d, ignore_errors=True)
    if left and exitstatus != pytest.ExitCode.INTERRUPTED:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line("")
            tr.write_sep("=", "temporary files left by the session (now removed)", red=True)
            for name in left:
                tr.write_line(f"  $TMPDIR/{name}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
