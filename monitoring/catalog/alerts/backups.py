"""Backups, from the ``backups`` collector: a missed backup, a backup much smaller than the previous one, WAL
archiving failing.

Reads the site (``Ctx``): the backups check's directory and expected interval (the thresholds derive from it).
Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it needs (``requires``).
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import X, num
from lookout.monitoring.model import Alert, Case, Recording, promql


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    found = k.site.check("backups")
    where = f"`{found[1].get('dir')}`" if found else "the backup directory"
    db = found[0].name if found else "app"
    late, page = float(t.backup_age_seconds.value), float(t.backup_age_page_seconds.value)
    shrink = float(t.backup_shrink_ratio.value)
    job = "the backup job (its cron entry or systemd timer, and its log)"
    return [
        Alert(
            name="BackupMissing",
            requires=("backups",),
            group="backups",
            expr=promql("lookout_backup_newest_age_seconds > {late} or lookout_backup_files == 0",
                        late=t.backup_age_seconds),
            severity="warning",
            summary="No backup newer than the expected interval.",
            description="The newest backup is {{ $value | humanizeDuration }} old (0: none found).",
            panel=(uids.DB_OPS, "Newest backup age"),
            value=v.duration("since the newest backup"),
            fire=Case({f"lookout_backup_newest_age_seconds{{{X}}}": f"{num(late + 60)}x10",
                       f"lookout_backup_files{{{X}}}": "3x10"}, labels={"job": "lookout", "instance": "exporters:9808"},
                      value=late + 60),
            quiet=Case({f"lookout_backup_newest_age_seconds{{{X}}}": f"{num(late)}x10",
                        f"lookout_backup_files{{{X}}}": "3x10"}),
            for_="1m",
            meaning=f"The {db} database's backup job did not write a new backup to {where} within its expected "
            "interval plus a margin. The second seed lists \"no automated backups\" as a known risk: until the next "
            "good backup, a lost disk loses everything since the last one.",
            confirm=f"`ls -lt {where.strip('`')} | head`; {job}; the disk it writes to (HostDiskSpaceLow?).",
            fix="Run the backup job by hand and read its error (credentials, disk full, pg_dump version older than "
            "the server); then fix the schedule. The alert resolves with the next backup.",
        ),
        Alert(
            name="BackupMissedTwice",
            requires=("backups",),
            group="backups",
            expr=promql("lookout_backup_newest_age_seconds > {page}", page=t.backup_age_page_seconds),
            severity="critical",
            summary="Two backups in a row are missing.",
            description="The newest backup is {{ $value | humanizeDuration }} old: two expected backups are missing.",
            panel=(uids.DB_OPS, "Newest backup age"),
            value=v.duration("since the newest backup"),
            fire=Case({f"lookout_backup_newest_age_seconds{{{X}}}": f"{num(page + 60)}x10"}, value=page + 60),
            quiet=Case({f"lookout_backup_newest_age_seconds{{{X}}}": f"{num(page)}x10"}),
            for_="1m",
            meaning="The backup job has failed twice (or stopped): BackupMissing was not acted on, and the data at "
            "risk keeps growing.",
            confirm=f"As for BackupMissing: `ls -lt {where.strip('`')} | head`; {job}.",
            fix="Take a backup now by hand (`pg_dump -Fc`), to another disk if this one is the problem; then fix "
            "the job as for BackupMissing.",
        ),
        Alert(
            name="BackupSmallerThanPrevious",
            requires=("backups",),
            group="backups",
            expr=promql("lookout_backup_newest_size_bytes / (lookout_backup_previous_size_bytes > 0) < {ratio}",
                        ratio=t.backup_shrink_ratio),
            severity="warning",
            summary="The newest backup is much smaller than the previous one.",
            description="The newest backup is {{ $value | humanizePercentage }} of the previous one's size.",
            panel=(uids.DB_OPS, "Newest backup size / previous"),
            value=v.ratio("of the previous backup's size"),
            fire=Case({f"lookout_backup_newest_size_bytes{{{X}}}": "1e6x10",
                       f"lookout_backup_previous_size_bytes{{{X}}}": "1e7x10"},
                      labels={"job": "lookout", "instance": "exporters:9808"}, value=0.1),
            quiet=Case({f"lookout_backup_newest_size_bytes{{{X}}}": f"{num(shrink * 1e7)}x10",
                        f"lookout_backup_previous_size_bytes{{{X}}}": "1e7x10"}),
            meaning="A dump cut short (disk full, the job killed, a timeout) or a database that lost most of its "
            "data: either way the newest backup would not restore what the previous one did.",
            confirm=f"`ls -l {where.strip('`')}`; `pg_restore -f /dev/null <newest>` fails on a truncated custom "
            "dump; compare table row counts with the previous dump (`pg_restore --list`).",
            fix="Delete or quarantine the truncated file so it is never restored by mistake, free the disk or fix "
            "the job, and take a new backup. If the database itself shrank, find out why before the next backup "
            "rotates the good one away.",
        ),
        Alert(
            name="PostgresWalArchivingFailing",
            requires=("backups",),
            group="backups",
            expr="lookout_pg_archiver_failing == 1 and increase(lookout_pg_archiver_failed_total[10m]) > 0",
            severity="warning",
            summary="PostgreSQL cannot archive WAL files.",
            description="WAL archiving fails on the database read by {{ $labels.instance }}: the last attempt failed "
            "and failures keep coming.",
            panel=(uids.DB_OPS, "WAL archiving"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_pg_archiver_failing{{{X}}}": "1x15",
                       f"lookout_pg_archiver_failed_total{{{X}}}": "0+3x15"},
                      labels={"job": "lookout", "instance": "exporters:9808"}, value=1),
            quiet=Case({f"lookout_pg_archiver_failing{{{X}}}": "0x15",
                        f"lookout_pg_archiver_failed_total{{{X}}}": "0+3x15"}),
            for_="5m",
            meaning="`archive_command` fails: point-in-time recovery stops at the last archived file, and the "
            "unarchived WAL piles up in pg_wal until the disk is full (then PostgreSQL stops).",
            confirm="`SELECT * FROM pg_stat_archiver;`; the PostgreSQL log shows the command's error "
            "(`archive command failed with exit code ...`); `df -h` of pg_wal and of the archive.",
            fix="Fix what the command writes to (mount, credentials, space); PostgreSQL retries by itself and "
            "the alert resolves with the next archived file. Never delete files from pg_wal by hand.",
        ),
    ]
