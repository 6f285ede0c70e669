"""Runs the real exporter (``lookout-exporter``) as a subprocess and reads its output."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, collectors: dict, **top: object) -> Path:
    path.write_text(yaml.safe_dump({**top, "collectors": collectors}, sort_keys=False))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lookout.exporters", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Exposition text -> {(sample name, sorted labels): value}."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text_or_samples, name: str, /, **labels: str) -> float | None:
    ss = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    return ss.get((name, tuple(sorted(labels.items()))))


def promtool_check_metrics(text: str) -> str:
    """Output of ``promtool check metrics`` (empty when clean)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-deps installs Debian's prometheus package"
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    return (r.stdout + r.stderr).strip()


class ExporterProcess:
    def __init__(self, config_path: Path, env: dict[str, str] | None = None, nofile: int | None = None):
        self.port = free_port()
        self.nofile = nofile  # RLIMIT_NOFILE of the exporter process, when set
        self.config_path = config_path
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = config_path.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 20.0) -> None:
        self._log = open(self.log_path, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lookout.exporters", "run", "--config", str(self.config_path),
             "--listen", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env={**os.environ, **self.env}, stdout=self._log, stderr=subprocess.STDOUT, text=True,
            preexec_fn=None if self.nofile is None else self._limit_fds,
        )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exporter exited with {self.proc.returncode}: {self.log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"exporter did not start: {self.log()}")

    def _limit_fds(self) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def metrics(self) -> str:
        r = requests.get(self.url + "/metrics", timeout=5)
        r.raise_for_status()
        return r.text

    def wait_for(self, predicate, timeout: float = 20.0, interval: float = 0.2):
        """Poll /metrics until ``predicate(samples)`` is truthy; return the samples."""
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            last = samples(self.metrics())
            if predicate(last):
                return last
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout}s; last metrics: "
                             f"{ {k: v for k, v in last.items() if not k[0].startswith(('process_', 'python_'))} }")

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Stop and return how long it took."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return time.monotonic() - started


@contextlib.contextmanager
def exporter(config_path: Path, env: dict[str, str] | None = None,
             nofile: int | None = None) -> Iterator[ExporterProcess]:
    p = ExporterProcess(config_path, env, nofile)
    p.start()
    try:
        yield p
    finally:
        p.stop()
