"""Throwaway real servers for the tests: PostgreSQL (initdb + pg_ctl) and Redis on free ports.

Each test session (each xdist worker) starts its own; tests that stop or break a server start a
private one with the same helpers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stack.procs import free_port, port_open, wait_until
from stack.servers import _as_postgres, _pg_bin  # one place knows how to run PostgreSQL's tools

__all__ = ["free_port", "kill_process_groups", "postgres_server", "redis_server", "wait_port"]


def kill_process_groups(procs: list[subprocess.Popen]) -> None:
    """SIGCONT (a stopped group would ignore the kill) then SIGKILL every process group, then reap."""
    for p in procs:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, sig)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(10)


def wait_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: port_open(port, host), timeout, f"something listening on {host}:{port}", interval=0.05)


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    user: str = "postgres"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        log = self.datadir.parent / "postgres.log"
        subprocess.run(
            _as_postgres([
                _pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-w", "-t", "30",
                "-o", f"-p {self.port} -k {self.datadir.parent} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=60 -c shared_buffers=64MB",
                "start",
            ]),
            check=True, stdout=subprocess.DEVNULL,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def create_database(self, name: str, schema_sql: str | None = None) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        if schema_sql:
            with psycopg.connect(self.dsn(name), autocommit=True) as conn:
                conn.execute(schema_sql)
        return self.dsn(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    os.chmod(base, 0o777)
    datadir = base / "data"
    subprocess.run(
        _as_postgres([_pg_bin("initdb"), "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--no-sync", "--locale=C"]),
        check=True, stdout=subprocess.DEVNULL,
    )
    server = PostgresServer(datadir, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class RedisServer:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    d = Path(tempfile.mkdtemp(prefix="redistest-"))
    server = RedisServer(free_port(), d)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(d, ignore_errors=True)
