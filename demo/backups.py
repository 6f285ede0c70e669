"""The demo's backup job: a dump of the voice database every ``--backup-interval`` seconds (default: the site
file's ``checks.backups.expected_interval``, the interval its monitoring expects).

Reads: the voice database (with ``pg_dump -Fc`` when the machine has it, else a plain ``COPY`` of each table:
the demo's container image has no PostgreSQL client) and the ``miss-backup`` fault switch.
Writes: ``<backup dir>/voice-<UTC time>.dump``, written under a hidden temporary name and renamed when
complete (the backups collector ignores hidden files), keeping the newest ``KEEP``.
Publishes: ``BackupJob`` (a thread), started by the supervisor with the voice part.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from lookout.demo import db, site_facts
from lookout.demo.faults import FaultStore
from lookout.demo.settings import Settings

log = logging.getLogger("lookout.demo.backups")
KEEP = 5
FAULT = "miss-backup"


def _pg_dump() -> str | None:
    found = shutil.which("pg_dump")
    if found:
        return found
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    return str(dirs[0]) if dirs else None


def dump(url: str, target: Path) -> None:
    """One backup of ``url`` at ``target``, complete or absent."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tool = _pg_dump()
        if tool:
            # the password through the environment: never on a command line (`ps`) or in an error message
            params = conninfo_to_dict(url)
            password = params.pop("password", None)
            env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
            done = subprocess.run([tool, "-Fc", "-f", str(tmp), "-d", make_conninfo(**params)], timeout=120,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if done.returncode:
                raise RuntimeError(f"pg_dump exited {done.returncode}: "
                                   f"{(done.stderr.strip().splitlines() or [''])[-1][:300]}")
        else:
            with db.connect(url, "demo-backup") as conn, open(tmp, "wb") as out:
                tables = [r[0] for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
                for t in tables:
                    out.write(f"-- table {t}\n".encode())
                    with conn.cursor().copy(f'COPY public."{t}" TO STDOUT') as copy:
                        for chunk in copy:
                            out.write(chunk)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class BackupJob(threading.Thread):
    def __init__(self, settings: Settings, faults: FaultStore, stop: threading.Event):
        super().__init__(name="demo-backups", daemon=True)
        self.s, self.faults, self.stop_event = settings, faults, stop
        self.dir = Path(settings.backup_path)
        self.due = 0.0  # monotonic time of the next run: at once
        self.interval = settings.backup_interval or site_facts.backup_interval()

    def run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        missed = False
        while not self.stop_event.wait(0.5):
            if self.faults.active(FAULT):
                missed = True
                continue
            if time.monotonic() < self.due and not missed:
                continue
            missed = False
            self.due = time.monotonic() + self.interval
            name = f"voice-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.dump"
            try:
                dump(self.s.voice_db, self.dir / name)
            except (OSError, RuntimeError, subprocess.SubprocessError, psycopg.Error) as exc:
                # a failed run is what the monitoring must see, not a dead thread; psycopg's and pg_dump's
                # messages name the server, never the password
                log.warning("backup failed: %s", (str(exc).splitlines() or [type(exc).__name__])[0])
                continue
            for old in sorted(self.dir.glob("voice-*.dump"))[:-KEEP]:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()
