"""Child processes of the native stack: each in its own session (so stopping it stops its children,
such as Gunicorn's workers), its output in one log file, stopped with SIGTERM then SIGKILL."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port free now, for a server started next.

    Taken below the kernel's ephemeral range when there is room: a port the kernel picked (``bind(0)``) is one it
    also gives to outgoing connections as their local port, and one of those (a test's HTTP client, a scrape)
    took it between this check and the server's bind: "Address already in use" (a demo's stack failed so in a
    full suite run). Never the same port twice from one process."""
    low = _ephemeral_low()
    if low >= 11024:
        rnd = random.SystemRandom()
        for _ in range(64):
            port = rnd.randrange(low - 10000, low)
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: port_open(port, host), timeout, f"something listening on {host}:{port}", interval=0.05)


def kill_process_groups(procs: list[subprocess.Popen]) -> None:
    """SIGCONT (a stopped group would ignore the kill) then SIGKILL every process group, then reap."""
    for p in procs:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, sig)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(10)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        pgid = self.popen.pid  # start_new_session: the child leads its own process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        # whatever is left in the group (a master's workers, a stuck child) gets SIGKILL
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def wait_until(predicate, timeout: float = 60.0, what: str = "condition", procs: list[Proc] | None = None,
               interval: float = 0.2):
    """Poll ``predicate`` until truthy; fail early when one of ``procs`` died."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        for p in procs or []:
            if not p.alive:
                raise RuntimeError(f"{p.name} exited ({p.popen.returncode if p.popen else '?'}) while waiting "
                                   f"for {what}:\n{p.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
