"""Backups: the newest dump in a directory, and PostgreSQL's WAL archiving.

Reads: the entries of ``dir`` matching ``glob`` (one level, not recursive: a file per dump such as
``pg_dump -Fc`` output, or a directory per dump such as ``pg_dump -Fd``, whose size is the sum of its files),
at most ``max_files`` of them, ordered by modification time; and, unless ``archiver: false``, one row of
``pg_stat_archiver`` with ``archive_mode`` from the database.
Publishes: ``lookout_backup_files``, ``lookout_backup_newest_age_seconds``, ``lookout_backup_newest_size_bytes``,
``lookout_backup_previous_size_bytes`` and ``lookout_backup_expected_interval_seconds`` (the site's promise, for
the board); ``lookout_pg_archiver_enabled`` and, when the database archives, ``lookout_pg_archiver_archived_total``,
``lookout_pg_archiver_failed_total``, ``lookout_pg_archiver_last_archived_age_seconds`` and
``lookout_pg_archiver_failing`` (the last attempt failed: the last failure is newer than the last success).
An empty directory publishes ``lookout_backup_files 0`` and no age; a missing or unreadable directory fails the refresh
(the collector's ``up`` is 0, one log line naming the directory).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from typing import Any, ClassVar

from lookout.exporters import source_errors
from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Snapshot, counter, gauge
from lookout.exporters.collectors._pg import PgCollector, PgSettings, column, number

PARAMS: dict[str, str] = {}
QUERY_DOCS: dict[str, str] = {
    "archiver": "One row: `archive_mode` (text), `archived_count`, `failed_count`, `last_archived_age` and "
    "`last_failed_age` (seconds, NULL when never), `failing` (the last failure is newer than the last success).",
}
QUERIES: dict[str, str] = {
    "archiver": """
SELECT current_setting('archive_mode') AS archive_mode,
       archived_count, failed_count,
       extract(epoch FROM now() - last_archived_time) AS last_archived_age,
       extract(epoch FROM now() - last_failed_time) AS last_failed_age,
       coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) AS failing
FROM pg_stat_archiver""",
}
DEFAULT_EXPECTED_INTERVAL = 86400.0  # a nightly dump
DIR_ENTRIES_CAP = 1000  # files summed inside one dump directory (pg_dump -Fd writes one per table)


class BackupDirError(source_errors.SourceError):
    """The backup directory cannot be listed; one line naming it."""


@dataclass(kw_only=True)
class BackupsSettings(PgSettings):
    QUERIES: ClassVar[tuple[str, ...]] = tuple(QUERIES)

    dir: str = setting(help="Directory the backups are written to (read on the exporter's host).",
                       example="/var/backups/postgresql")
    glob: str = setting("*", help="Shell pattern of one backup's name in `dir`, e.g. `app-*.dump`.")
    expected_interval: Duration = setting(
        Duration(DEFAULT_EXPECTED_INTERVAL), help="How often a new backup is expected (the backup job's "
        "schedule); published as `lookout_backup_expected_interval_seconds`, the alerts' yardstick.")
    archiver: bool = setting(True, help="Also read WAL archiving from `pg_stat_archiver` (when `archive_mode` "
                             "is on).")
    max_files: int = setting(10000, help="Most directory entries looked at; more make the refresh fail.",
                             at_cap="refused: the refresh fails with one line naming `max_files` (the collector's "
                             "`lookout_collector_up` is 0), never a count that silently stops.")

    def validate(self) -> None:
        super().validate()
        if not self.dir.strip():
            raise ValueError("dir: must not be empty")
        if not self.glob.strip() or "/" in self.glob:
            raise ValueError("glob: expected a file name pattern such as `*.dump` (no `/`)")
        if float(self.expected_interval) < 1:
            raise ValueError("expected_interval: must be at least 1s")
        if not 1 <= self.max_files <= 1_000_000:
            raise ValueError("max_files: must be between 1 and 1000000")


@dataclass(frozen=True)
class Dump:
    name: str
    mtime: float
    size: int


def _size(path: str, st: os.stat_result) -> int:
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    with os.scandir(path) as it:
        for i, e in enumerate(it):
            if i >= DIR_ENTRIES_CAP:
                break
            try:
                if e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:  # removed meanwhile
                continue
    return total


def list_dumps(directory: str, pattern: str, max_files: int) -> list[Dump]:
    """The backups in ``directory`` matching ``pattern``, newest first."""
    found: list[Dump] = []
    try:
        with os.scandir(directory) as it:
            for i, e in enumerate(it):
                if i >= max_files:
                    raise BackupDirError(f"backups: more than {max_files} entries in {directory} (max_files)")
                if e.name.startswith(".") or not fnmatch.fnmatchcase(e.name, pattern):
                    continue  # hidden: a dump still being written under a temporary name
                try:
                    st = e.stat(follow_symlinks=False)
                    found.append(Dump(e.name, st.st_mtime, _size(e.path, st)))
                except OSError:  # removed between listing and stat: not a backup any more
                    continue
    except BackupDirError:
        raise
    except OSError as exc:
        raise BackupDirError(f"backups: cannot list {directory}: {exc.strerror or type(exc).__name__}") from None
    return sorted(found, key=lambda d: (d.mtime, d.name), reverse=True)


class BackupsCollector(PgCollector[BackupsSettings]):
    name = "backups"
    Settings = BackupsSettings
    DEFAULT_QUERIES = QUERIES
    metrics = (
        gauge("lookout_backup_files", "Backups found in the directory (entries matching the glob)."),
        gauge("lookout_backup_newest_age_seconds", "Age of the newest backup (from its modification time)."),
        gauge("lookout_backup_newest_size_bytes", "Size of the newest backup (a directory: the sum of its files)."),
        gauge("lookout_backup_previous_size_bytes", "Size of the backup before the newest one."),
        gauge("lookout_backup_expected_interval_seconds", "How often a new backup is expected (configured)."),
        gauge("lookout_pg_archiver_enabled", "1 when the database's archive_mode is on (or always), else 0."),
        counter("lookout_pg_archiver_archived_total", "WAL files archived since the statistics were reset."),
        counter("lookout_pg_archiver_failed_total",
                "Failed attempts to archive a WAL file since the statistics were reset."),
        gauge("lookout_pg_archiver_last_archived_age_seconds", "Time since the last WAL file was archived."),
        gauge("lookout_pg_archiver_failing", "1 when the last archiving attempt failed (last failure newer than last "
              "success)."),
    )
    summary = (
        "The newest backup's age and size beside the previous one's, and WAL archiving from `pg_stat_archiver`: "
        "the second seed's known risk, \"no automated backups\", watched."
    )
    example = """
backups:
  dsn: ${APP_DATABASE_URL}
  dir: /var/backups/postgresql
  glob: "app-*.dump"
  expected_interval: 24h
"""

    def __init__(self, settings: BackupsSettings):
        super().__init__(settings)
        self.clock_seconds = lambda: self.clock().timestamp()

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        now = self.clock_seconds()
        dumps = list_dumps(s.dir, s.glob, s.max_files)
        snap.add("lookout_backup_files", len(dumps))
        snap.add("lookout_backup_expected_interval_seconds", float(s.expected_interval))
        for spec in self.metrics:
            snap.declare(spec.name)
        if dumps:
            snap.add("lookout_backup_newest_age_seconds", max(0.0, now - dumps[0].mtime))
            snap.add("lookout_backup_newest_size_bytes", dumps[0].size)
        if len(dumps) > 1:
            snap.add("lookout_backup_previous_size_bytes", dumps[1].size)
        if s.archiver:
            self._archiver(snap)

    def _archiver(self, snap: Snapshot) -> None:
        rows = self.source.run("archiver", params={})["archiver"]
        row: dict[str, Any] = rows[0] if rows else {}
        mode = str(column(row, "archive_mode", self.name, "archiver")) if rows else "off"
        on = mode in ("on", "always")
        snap.add("lookout_pg_archiver_enabled", 1.0 if on else 0.0)
        if not on:
            return
        snap.add("lookout_pg_archiver_archived_total", number(column(row, "archived_count", self.name, "archiver")))
        snap.add("lookout_pg_archiver_failed_total", number(column(row, "failed_count", self.name, "archiver")))
        age = column(row, "last_archived_age", self.name, "archiver")
        if age is not None:
            snap.add("lookout_pg_archiver_last_archived_age_seconds", max(0.0, number(age)))
        snap.add("lookout_pg_archiver_failing", 1.0 if column(row, "failing", self.name, "archiver") else 0.0)


COLLECTOR = BackupsCollector
