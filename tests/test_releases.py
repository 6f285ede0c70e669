"""Deploys as events (``releases``): a temporary git repository whose HEAD moves (commit, checkout, a worktree,
packed refs), a release file rewritten, and a Gunicorn master restarted, each seen as a new release."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lookout.exporters.collector import Snapshot
from lookout.exporters.collectors.releases import Releases, ReleaseSettings, ReleasesSettings
from lookout.exporters.config import ConfigError, build_dataclass
from tests.support.servers import free_port, wait_port
from tests.test_worker_pools import BIN, Spawner, spawn  # noqa: F401 (fixture)

GIT = shutil.which("git")


def release(c: Releases) -> dict[str, tuple[str | None, float | None, float]]:
    """service -> (revision, timestamp, up)."""
    snap = Snapshot(c.metrics)
    c.refresh(snap)
    out: dict[str, list] = {}
    for fam in snap.families():
        for s in fam.samples:
            row = out.setdefault(s.labels["service"], [None, None, 0.0])
            if s.name == "lookout_app_release_info":
                row[0] = s.labels["revision"]
            elif s.name == "lookout_app_release_timestamp_seconds":
                row[1] = s.value
            elif s.name == "lookout_app_release_up":
                row[2] = s.value
    return {k: tuple(v) for k, v in out.items()}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "HOME": str(repo.parent)}
    return subprocess.run([GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env,
                          timeout=30).stdout.strip()


def test_git_head_moves(tmp_path: Path):
    assert GIT, "git missing: scripts/install-deps"
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    c = Releases(ReleasesSettings(services=[ReleaseSettings(service="voice-api", git_dir=str(repo))]))
    assert release(c)["voice-api"] == (None, None, 0)  # no commit yet: not a release, not a crash
    (repo / "app.py").write_text("v1\n")
    git(repo, "add", "app.py")
    git(repo, "commit", "-qm", "v1")
    first = git(repo, "rev-parse", "HEAD")
    rev, ts, up = release(c)["voice-api"]
    assert (rev, up) == (first[:7], 1) and abs(ts - time.time()) < 60
    # a deploy: `git pull` moves HEAD (here a commit, a second later so the reflog's time differs)
    time.sleep(1.1)
    (repo / "app.py").write_text("v2\n")
    git(repo, "commit", "-qam", "v2")
    second = git(repo, "rev-parse", "HEAD")
    rev2, ts2, _ = release(c)["voice-api"]
    assert rev2 == second[:7] and ts2 > ts
    # packed refs, a rollback by checkout of the first commit (detached HEAD)
    git(repo, "pack-refs", "--all")
    assert release(c)["voice-api"][0] == second[:7]
    time.sleep(1.1)
    git(repo, "checkout", "-q", first)
    rev3, ts3, _ = release(c)["voice-api"]
    assert rev3 == first[:7] and ts3 > ts2
    # a worktree: `.git` is a file pointing at the main repository's worktrees/<name>
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "other", str(wt), "main")
    c2 = Releases(ReleasesSettings(services=[ReleaseSettings(service="w", git_dir=str(wt))]))
    assert release(c2)["w"][0] == second[:7]


def test_release_file_and_bad_sources(tmp_path: Path):
    f = tmp_path / "REVISION"
    f.write_text("v1.4.2 built by ci\n")
    c = Releases(ReleasesSettings(services=[
        ReleaseSettings(service="chat-api", file=str(f)),
        ReleaseSettings(service="gone", file=str(tmp_path / "missing")),
        ReleaseSettings(service="notgit", git_dir=str(tmp_path))]))
    got = release(c)
    assert got["chat-api"][0] == "v1.4.2_built_by_ci" and got["chat-api"][2] == 1
    assert got["gone"] == (None, None, 0) and got["notgit"] == (None, None, 0)
    os.utime(f, (time.time() + 5, time.time() + 5))
    f.write_text("v1.4.3\n")
    assert release(c)["chat-api"][0] == "v1.4.3"
    with pytest.raises(ConfigError, match=r"services\[0\]: voice-api: expected exactly one of"):
        build_dataclass(ReleasesSettings, {"services": [{"service": "voice-api", "file": "/a", "process": "x"}]},
                        "releases")


def test_restarted_gunicorn_master_is_a_deploy(spawn: Spawner, tmp_path: Path):  # noqa: F811
    app = spawn.app("rel")
    port = free_port()

    def start():
        p = spawn([str(BIN / "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", app])
        wait_port(port)
        return p

    master = start()
    c = Releases(ReleasesSettings(services=[ReleaseSettings(service="voice-api", process=app)]))
    rev, ts, up = release(c)["voice-api"]
    assert up == 1 and abs(ts - time.time()) < 30
    assert release(c)["voice-api"] == (rev, ts, 1)  # stable while the master runs (its workers are not masters)
    master.terminate()
    master.wait(timeout=30)
    time.sleep(1.1)
    start()
    rev2, ts2, _ = release(c)["voice-api"]
    assert ts2 > ts and rev2 != rev
