"""The demo's child processes: ``Child`` (one supervised process with its process group) and
``build_children`` (which children each part runs, with which command line and environment).

Each child runs in its own session (process group), logs to ``<run dir>/<name>.log`` and gets SIGTERM if the
supervisor dies (PR_SET_PDEATHSIG). ``write_release`` writes a new REVISION file, as a deploy script does.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from lookout.demo.settings import Settings

log = logging.getLogger("lookout.demo")
ROOT = Path(__file__).resolve().parents[2]

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One supervised child process (with its process group)."""

    def __init__(self, name: str, part: str, argv: list[str], env: dict[str, str], log_path: Path,
                 before_start: Callable[[], None] | None = None):
        self.name, self.part, self.argv, self.env, self.log_path = name, part, argv, env, log_path
        self.before_start = before_start
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.wanted = True
        self.starts = 0
        self.next_start = 0.0
        self.reap_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        if self.before_start:
            self.before_start()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self.pgid = self.proc.pid
        self.starts += 1
        self.reap_at = None
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    def signal_group(self, sig: int) -> None:
        if self.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)

    def kill_master(self) -> None:
        """SIGKILL the master only; its workers notice and exit, leftovers are killed ``reap_at``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reap_at = time.monotonic() + 3

    def workers(self) -> list[psutil.Process]:
        if self.pid is None:
            return []
        try:
            kids = psutil.Process(self.pid).children()
        except psutil.Error:
            return []
        out = []
        for k in kids:
            with contextlib.suppress(psutil.Error):
                if "resource_tracker" not in " ".join(k.cmdline()):
                    out.append(k)
        return out

    def terminate(self) -> None:
        """SIGTERM to the main process only: Gunicorn, Uvicorn and Celery shut their workers down themselves."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        self.pgid = None

    def status(self) -> dict:
        return {"part": self.part, "pid": self.pid, "running": self.running(), "wanted": self.wanted,
                "restarts": max(0, self.starts - 1), "workers": [p.pid for p in self.workers()]}



def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    # fewer malloc arenas: the threaded children (Uvicorn, Celery) otherwise reserve one per thread
    env = {"MALLOC_ARENA_MAX": "2", **os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def write_release(deploy_dir: Path) -> None:
    """A new REVISION file (the site's `release.file`), as a deploy script writes it: a deploy event."""
    deploy_dir.mkdir(parents=True, exist_ok=True)
    tmp = deploy_dir / "REVISION.tmp"
    tmp.write_text(secrets.token_hex(4)[:7] + "\n")
    os.replace(tmp, deploy_dir / "REVISION")


def build_children(s: Settings) -> dict[str, Child]:
    """The children of the parts in ``s.parts``: Gunicorn and the MCP stand-in (voice), Uvicorn, the Celery
    worker and beat (chat). Writes the first release of the voice API."""
    py, host, rd, deploy_dir = sys.executable, s.host, Path(s.run_path), Path(s.deploy_path)
    children: dict[str, Child] = {}

    def add(name: str, part: str, argv: list[str], before_start: Callable[[], None] | None = None,
            **env: str) -> None:
        children[name] = Child(name, part, argv, child_env(s, **env), rd / f"{name}.log", before_start)

    if "voice" in s.parts:
        add("gunicorn", "voice", [
            py, "-m", "gunicorn", "lookout.demo.voice.app:app", "--name", "voice-api", "--preload", "--workers",
            str(s.gunicorn_workers), "--worker-class", "sync", "--bind", f"{host}:{s.voice_port}",
            "--timeout", "30", "--graceful-timeout", "5", "--log-level", "info",
            "--access-logfile", str(rd / "gunicorn-access.log"), "--control-socket", str(rd / "gunicorn.ctl"),
            # the error log the site names (examples/demo.yaml `error_log`): tracebacks are counted from it
            "--error-logfile", str(deploy_dir / "error.log"), "--capture-output"])
        write_release(deploy_dir)
        add("mcp", "voice", [py, "-m", "lookout.demo.voice.mcp", "--host", host, "--port", str(s.mcp_port)])
    if "chat" in s.parts:
        prom = rd / "prometheus-multiproc"

        def fresh_prom_dir() -> None:  # a restarted app starts its counters from zero, as in production
            shutil.rmtree(prom, ignore_errors=True)
            prom.mkdir(parents=True)

        add("uvicorn", "chat", [
            py, "-m", "uvicorn", "lookout.demo.chat.api:app", "--workers", str(s.uvicorn_workers), "--host", host,
            "--port", str(s.chat_port), "--no-access-log", "--log-level", "info",
            "--timeout-graceful-shutdown", "5"], PROMETHEUS_MULTIPROC_DIR=str(prom), before_start=fresh_prom_dir)
        celery = [py, "-m", "celery", "-A", "lookout.demo.chat.tasks"]
        add("celery-worker", "chat", [
            *celery, "worker", "-E", "-P", "prefork", "-c", str(s.celery_concurrency),
            "-n", f"celery-worker@{socket.gethostname()}", "--without-gossip", "--without-mingle", "-l", "INFO"])
        add("celery-beat", "chat", [*celery, "beat", "-s", str(rd / "celerybeat-schedule"), "--pidfile=", "-l", "INFO"])
    return children
