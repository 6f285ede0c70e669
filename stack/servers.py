"""Throwaway PostgreSQL and Redis for ``python -m stack up`` when no URLs are given: Debian's
PostgreSQL (initdb + pg_ctl, as user postgres when run as root) and redis-server on free ports, data in
the run directory, removed on stop."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from stack.procs import Proc, free_port, port_open, wait_until


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    raise FileNotFoundError(f"{name} not found: install PostgreSQL (scripts/install-deps)")


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self, base: Path, max_connections: int = 100):
        self.base = base
        self.datadir = base / "data"
        self.port = free_port()
        self.max_connections = max_connections

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o777)
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres", "-A", "trust",
                                     "-E", "UTF8", "--no-sync", "--locale=C"]), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(_as_postgres([
            _pg_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.base / "postgres.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={self.max_connections} "
            "-c shared_buffers=64MB", "start",
        ]), check=True, stdout=subprocess.DEVNULL)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]),
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.proc = Proc("redis", [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(base),
                                   # a limit, as in production, so memory-vs-maxmemory has a value
                                   "--maxmemory", "64mb"],
                         base / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.proc.start()
        wait_until(lambda: port_open(self.port), 15, "redis-server", [self.proc])

    def stop(self) -> None:
        self.proc.stop()
        shutil.rmtree(self.base, ignore_errors=True)
