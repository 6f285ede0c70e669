"""Throwaway PostgreSQL and Redis on free loopback ports, for ``python -m lookout.stack up`` (when no URLs are given),
the tests' session servers and the benchmarks: one launcher for all of them.

Debian's PostgreSQL (initdb + pg_ctl, as user postgres when run as root) and redis-server, data, socket
and log in a base directory that ``close()`` removes. ``stop()``/``start()`` keep the data, so a test can
restart a server. ``postgres_server()``/``redis_server()`` give one in a fresh temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lookout.stack.procs import Proc, free_port, port_open, wait_until


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL program (Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin)."""
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (scripts/install-deps)")


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    """A cluster in ``base/data``, its socket and log in ``base``; initdb on the first ``start()``."""

    user = "postgres"

    def __init__(self, base: Path, max_connections: int = 100, port: int | None = None,
                 shared_buffers: str = "64MB"):
        self.base = base
        self.datadir = base / "data"
        self.port = port or free_port()
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers

    @property
    def url(self) -> str:
        return self.dsn()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        if not (self.datadir / "PG_VERSION").exists():
            self.base.mkdir(parents=True, exist_ok=True)
            os.chmod(self.base, 0o777)  # user postgres writes its socket and log here
            subprocess.run(as_postgres([pg_bin("initdb"), "-D", str(self.datadir), "-U", self.user, "-A", "trust",
                                        "-E", "UTF8", "--no-sync", "--locale=C"]),
                           check=True, stdout=subprocess.DEVNULL)
        subprocess.run(as_postgres([
            pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.base / "postgres.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections} "
            f"-c shared_buffers={self.shared_buffers}", "start",
        ]), check=True, stdout=subprocess.DEVNULL)

    def create_database(self, name: str, schema_sql: str | None = None) -> str:
        """A new, empty database (an older one of that name is dropped), with ``schema_sql`` run in it."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        if schema_sql:
            with psycopg.connect(self.dsn(name), autocommit=True) as conn:
                conn.execute(schema_sql)
        return self.dsn(name)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        """Stop at once and remove every file of the cluster."""
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """redis-server without persistence, working directory and log in ``base``."""

    def __init__(self, base: Path, port: int | None = None, maxmemory: str | None = None,
                 password: str | None = None):
        self.base = base
        self.port = port or free_port()
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(base)]
        if maxmemory:
            argv += ["--maxmemory", maxmemory]
        if password:
            argv += ["--requirepass", password]
        self.proc = Proc("redis", argv, base / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.proc.start()
        wait_until(lambda: port_open(self.port), 15, "redis-server", [self.proc], interval=0.05)

    def stop(self) -> None:
        self.proc.stop(timeout=5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(max_connections: int = 60) -> Iterator[Postgres]:
    """A started cluster in a new temporary directory, removed on exit."""
    server = Postgres(Path(tempfile.mkdtemp(prefix="pgtest-")), max_connections)
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def redis_server() -> Iterator[Redis]:
    """A started Redis in a new temporary directory, removed on exit."""
    server = Redis(Path(tempfile.mkdtemp(prefix="redistest-")))
    try:
        server.start()
        yield server
    finally:
        server.close()
