"""The running release of each service, so that deploys show on every board and in alert notifications.

Reads, per service, whichever source the site configures:

- ``git_dir``: a source checkout (its work tree or ``.git``; a ``.git`` file of a worktree is followed). The
  files are read directly, never through ``git`` (no subprocess to hang, no hooks, no config run): ``HEAD``,
  the ref it names (loose, then ``packed-refs``), and the last line of the ``logs/HEAD`` reflog for when
  HEAD moved (a `git pull`, `git checkout`); without a reflog, the ref file's modification time.
- ``file``: a release file (e.g. ``REVISION`` written by the deploy script or rsync): its first line is the
  revision, its modification time the deploy time.
- ``process``: text of the master's command line (e.g. ``gunicorn: master [voice-api]``): the master's
  start time is the deploy time (a deploy = a restart), and the revision its start time in UTC.

Publishes ``lookout_app_release_info{service,revision}`` (1) and ``lookout_app_release_timestamp_seconds{service}``: a
change of the timestamp is a deploy (the dashboards' annotations; the alert notifications' "started N min
after deploy"). A source that cannot be read publishes ``lookout_app_release_up{service} 0`` and no release; every read
is bounded in size.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, gauge, info
from lookout.exporters.collectors._procfs import CLK_TCK, ProcReader

MAX_READ = 65536  # bytes of any one git file or release file (packed-refs of a big repository: its head)
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_REV = re.compile(r"[^A-Za-z0-9._+\-:/]")  # what a revision label may hold; the rest becomes "_"
SHORT = 7


@dataclass
class ReleaseSettings:
    service: str = setting(help="Value of the `service` label.", example="voice-api")
    git_dir: str | None = setting(None, help="The service's source checkout (work tree or its `.git`).",
                                  example="/srv/voice-api")
    file: str | None = setting(None, help="A release file: its first line is the revision, its modification "
                                          "time the deploy time.", example="/srv/voice-api/REVISION")
    process: str | None = setting(None, help="Text of the master process's command line: its start time is "
                                             "the deploy time.", example="gunicorn: master [voice-api]")

    def validate(self) -> None:
        if not self.service.strip():
            raise ValueError("service: must not be empty")
        given = [k for k in ("git_dir", "file", "process") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"{self.service}: expected exactly one of git_dir, file, process, got "
                             f"{', '.join(given) or 'none'}")
        for k in ("git_dir", "file"):
            v = getattr(self, k)
            if v and not v.startswith("/"):
                raise ValueError(f"{k}: expected an absolute path, got {v!r}")


@dataclass
class ReleasesSettings(CollectorSettings):
    interval: Duration = setting(Duration(15), help="How often the sources are read.")
    services: list[ReleaseSettings] = setting([], help="The services and where their release is read.")
    proc_root: str = setting("/proc", help="Where the host's procfs is (for `process`).")

    def validate(self) -> None:
        if not self.services:
            raise ValueError("services: at least one service is required")
        names = [s.service for s in self.services]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(f"services[{i}].service: {n} is already listed")


class SourceError(Exception):
    pass


def _read(path: str, limit: int = MAX_READ) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror}") from None
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def revision_label(text: str) -> str:
    text = text.strip()[:64]
    return _REV.sub("_", text) or "unknown"


def git_dir_of(path: str) -> str:
    """The git directory of a work tree or of a ``.git`` path (``gitdir:`` files of worktrees followed)."""
    dot = os.path.join(path, ".git")
    if os.path.isdir(dot):
        return dot
    if os.path.isfile(dot):
        line = _read(dot, 4096).decode(errors="replace").strip()
        if not line.startswith("gitdir:"):
            raise SourceError(f"{dot}: not a gitdir file")
        target = line.removeprefix("gitdir:").strip()
        return target if os.path.isabs(target) else os.path.normpath(os.path.join(path, target))
    if os.path.isfile(os.path.join(path, "HEAD")):
        return path
    raise SourceError(f"{path}: not a git checkout")


def git_release(path: str) -> tuple[str, float]:
    """(short revision, time HEAD last moved) of a checkout, from its files."""
    gd = git_dir_of(path)
    head = _read(os.path.join(gd, "HEAD"), 4096).decode(errors="replace").strip()
    ref_file = os.path.join(gd, "HEAD")
    if head.startswith("ref:"):
        ref = head.removeprefix("ref:").strip()
        if ".." in ref.split("/") or not ref.startswith("refs/"):
            raise SourceError(f"{gd}/HEAD: unexpected ref {ref!r}")
        common = gd
        cd = os.path.join(gd, "commondir")  # a worktree's refs live in the main git directory
        if os.path.isfile(cd):
            c = _read(cd, 4096).decode(errors="replace").strip()
            common = c if os.path.isabs(c) else os.path.normpath(os.path.join(gd, c))
        sha = None
        for base in dict.fromkeys((gd, common)):
            loose = os.path.join(base, ref)
            if os.path.isfile(loose):
                sha, ref_file = _read(loose, 4096).decode(errors="replace").strip(), loose
                break
        if sha is None:
            packed = os.path.join(common, "packed-refs")
            if os.path.isfile(packed):
                for line in _read(packed, 1 << 20).decode(errors="replace").splitlines():
                    parts = line.split(" ", 1)
                    if len(parts) == 2 and parts[1] == ref:
                        sha, ref_file = parts[0], packed
                        break
        if sha is None:
            raise SourceError(f"{gd}: {ref} not found (a repository without commits?)")
    else:
        sha = head
    if not _SHA.match(sha):
        raise SourceError(f"{gd}: HEAD is not a commit id")
    return sha[:SHORT], _head_moved(gd, ref_file)


def _head_moved(gd: str, ref_file: str) -> float:
    """The time of the reflog's last entry (``<old> <new> Name <email> <epoch> <tz>\\tmessage``), else the
    modification time of the file HEAD resolved through."""
    log = os.path.join(gd, "logs", "HEAD")
    try:
        size = os.path.getsize(log)
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC)
        try:
            tail = os.pread(fd, 4096, max(0, size - 4096))
        finally:
            os.close(fd)
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b"\t", 1)[0].decode(errors="replace")
        m = re.search(r"> (\d{9,11}) [+-]\d{4}$", last)
        if m:
            return float(m.group(1))
    except OSError:
        pass
    try:
        return os.stat(ref_file).st_mtime
    except OSError as exc:
        raise SourceError(f"{ref_file}: {exc.strerror}") from None


def file_release(path: str) -> tuple[str, float]:
    data = _read(path, 4096)
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror}") from None
    first = data.decode(errors="replace").splitlines()[0] if data.strip() else ""
    if not first.strip():
        raise SourceError(f"{path}: empty release file")
    return revision_label(first), mtime


def boot_time(proc_root: str) -> float:
    for line in _read(f"{proc_root}/stat", 1 << 20).decode(errors="replace").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise SourceError(f"{proc_root}/stat: no btime")


def process_release(proc: ProcReader, text: str, btime: float) -> tuple[str, float]:
    """The oldest process whose command line holds ``text`` and whose parent's does not (the master)."""
    procs = proc.scan()
    matching: dict[int, int] = {}
    for pid, st in procs.items():
        if not st.alive:
            continue
        try:
            cmd = " ".join(proc.cmdline(pid))
        except OSError:
            continue
        if text in cmd:
            matching[pid] = st.start_ticks
    masters = [(ticks, pid) for pid, ticks in matching.items() if procs[pid].ppid not in matching]
    if not masters:
        raise SourceError(f"no process whose command line holds {text!r}")
    ticks, _ = min(masters)
    started = btime + ticks / CLK_TCK
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)), round(started, 2)


class Releases(Collector[ReleasesSettings]):
    name = "releases"
    Settings = ReleasesSettings
    metrics = (
        info("lookout_app_release_info", "The release each service runs (1); `revision` is a short commit id, the "
             "release file's first line, or the master's start time.", "service"),
        gauge("lookout_app_release_timestamp_seconds", "When the running release was deployed (HEAD moved, the release "
              "file was written, the master started): a change is a deploy.", "service"),
        gauge("lookout_app_release_up", "1 when the service's release source could be read.", "service"),
    )
    summary = ("The running release of each service (git checkout, release file or master start time) and when "
               "it was deployed: deploy annotations on the boards, \"after deploy\" in notifications.")
    example = """
releases:
  services:
    - {service: voice-api, git_dir: /srv/voice-api}
    - {service: chat-api, file: /srv/chat-api/REVISION}
    - {service: celery-worker, process: "celery -A app worker"}
"""

    def __init__(self, settings: ReleasesSettings):
        super().__init__(settings)
        self.proc = ProcReader(settings.proc_root)
        self.errors: dict[str, str] = {}

    def read(self, s: ReleaseSettings) -> tuple[str, float]:
        if s.git_dir:
            return git_release(s.git_dir)
        if s.file:
            return file_release(s.file)
        assert s.process
        cfg = self.settings
        return process_release(self.proc, s.process, boot_time(cfg.proc_root))

    def refresh(self, snap: Snapshot) -> None:
        cfg = self.settings
        snap.declare("lookout_app_release_info")
        snap.declare("lookout_app_release_timestamp_seconds")
        for s in cfg.services:
            try:
                rev, ts = self.read(s)
            except (SourceError, OSError, ValueError) as exc:
                self.errors[s.service] = str(exc)
                snap.add("lookout_app_release_up", 0, service=s.service)
                continue
            self.errors.pop(s.service, None)
            snap.add("lookout_app_release_up", 1, service=s.service)
            snap.add_info("lookout_app_release_info", {"revision": rev}, service=s.service)
            snap.add("lookout_app_release_timestamp_seconds", ts, service=s.service)


COLLECTOR = Releases
