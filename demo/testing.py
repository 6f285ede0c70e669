"""Runs ``python -m lookout.demo up`` as a subprocess on free loopback ports: for the tests, the benchmark and the
end-to-end harness.

``DemoProcess(pg_url, redis_url, **settings)`` picks a free port for every server unless given,
``start()`` waits until the control API reports ready, ``fault()`` / ``status()`` use the control API,
``tree()`` lists the supervisor and all its descendants (for CPU and memory), ``stop()`` sends SIGTERM
and waits, ``close()`` also removes the run folder when it made it (logs stay readable between the two).
The demo's processes get ``TMPDIR`` inside the run folder, so what a killed process leaves goes with it.
Also a context manager (``close()`` on exit, and when ``start()`` fails).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from lookout.stack.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
PORTS = ("voice_port", "mcp_port", "chat_port", "control_port", "marketplace_port", "deepseek_port",
         "elevenlabs_port")


class DemoProcess:
    def __init__(self, pg_url: str, redis_url: str, **settings: Any):
        self.settings: dict[str, Any] = {"pg_url": pg_url, "redis_url": redis_url, **settings}
        for name in PORTS:
            self.settings.setdefault(name, free_port())
        self.own_run_dir = not self.settings.get("run_dir")
        if self.own_run_dir:
            self.settings["run_dir"] = tempfile.mkdtemp(prefix="lookout-demo-")
        self.run_dir = Path(self.settings["run_dir"])
        self.proc: subprocess.Popen | None = None

    def url(self, what: str) -> str:
        return f"http://127.0.0.1:{self.settings[what + '_port']}"

    @property
    def control(self) -> str:
        return self.url("control")

    def argv(self) -> list[str]:
        args = [sys.executable, "-m", "lookout.demo", "up"]
        for k, v in self.settings.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        return args

    def start(self, timeout: float = 120) -> DemoProcess:
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        out = open(self.run_dir / "supervisor.out", "ab")  # noqa: SIM115  (kept by the child)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               "TMPDIR": str(self.run_dir / "tmp")}
        self.proc = subprocess.Popen(self.argv(), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                error: Exception = RuntimeError(f"demo exited with {self.proc.returncode}:\n{self.log()}")
                break
            with contextlib.suppress(requests.RequestException, ValueError):
                if self.status(timeout=3).get("ready"):
                    return self
            time.sleep(0.5)
        else:
            self.stop()
            error = TimeoutError(f"demo not ready after {timeout}s:\n{self.log()}")
        self.close()
        raise error

    def log(self, name: str = "supervisor.out", tail: int = 4000) -> str:
        path = self.run_dir / name
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def status(self, timeout: float = 30) -> dict:
        r = requests.get(f"{self.control}/status", timeout=timeout)
        r.raise_for_status()
        return r.json()

    def fault(self, name: str, state: str, value: float | None = None) -> dict:
        r = requests.post(f"{self.control}/faults/{name}", json={"state": state, "value": value}, timeout=60)
        r.raise_for_status()
        return r.json()

    def tree(self) -> list[psutil.Process]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def close(self) -> None:
        """``stop()``, then remove the run folder if this object made it."""
        self.stop()
        if self.own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> DemoProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tree_memory(procs: list[psutil.Process]) -> dict[str, float]:
    """Sum of RSS (counts pages shared by forked workers once per process) and of PSS (shares them out:
    the tree's real footprint), in MB."""
    rss = pss = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            m = p.memory_full_info()
            rss += m.rss
            pss += m.pss
    return {"rss_mb": rss / 2**20, "pss_mb": pss / 2**20, "processes": len(procs)}
