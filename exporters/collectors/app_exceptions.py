"""Python exceptions in the applications' error logs, counted per service and exception class.

Reads: the log files the site names per service (Gunicorn's ``--error-logfile``, Uvicorn or Celery output
redirected to a file), followed across rotations by ``_logtail`` (rename and copytruncate, partial last
lines, at most ``max_read_bytes`` a file per refresh; the rest waits for the next refresh and shows as
backlog). New lines only: history written before the exporter started is not counted.
Publishes ``lookout_app_exceptions_total{service,exception}``: one per Python traceback, named by its final
``ExceptionClass: message`` line. A chained traceback ("During handling of the above exception, another
exception occurred:" / "The above exception was the direct cause of the following exception:") is one
exception, the last one printed (the one that escaped). ``exception`` is bounded: the classes listed in
``classes`` (always published, from 0, so an alert sees the first one), then the first ``max_classes``
other classes seen; any further class counts as ``other``, so the totals stay exact.
Also: whether each service's logs are readable, bytes read, backlog, rotations seen.

Why not mtail (which reads Nginx's access log in the native stack): an mtail program sees one line at a time
and keeps no state between lines except counters, so it can count ``Traceback`` headers or final lines but
cannot tell the final line of a chained traceback from the inner ones it follows, nor a final line from a
log message that merely looks like ``Name: text``; counting a chain once needs the per-file state kept here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lookout.exporters.binding import Duration, setting
from lookout.exporters.collector import Collector, CollectorSettings, Snapshot, counter, gauge
from lookout.exporters.collectors._logtail import LogTail

OTHER = "other"
TRACEBACK = "Traceback (most recent call last):"
CHAINS = ("During handling of the above exception, another exception occurred:",
          "The above exception was the direct cause of the following exception:")
# the final line: a (dotted) class name, then ": message" or nothing; Python 3.11 exception groups add "| "
_FINAL = re.compile(r"^(?:\s*\|\s*)?([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::(?: .*)?)?$")
MAX_CLASS_NAME = 100


@dataclass
class LogSettings:
    service: str = setting(help="Value of the `service` label.", example="voice-api")
    path: str = setting(help="The log file (Gunicorn `--error-logfile`, a Uvicorn or Celery log).",
                        example="/var/log/voice-api/error.log")

    def validate(self) -> None:
        if not self.service.strip():
            raise ValueError("service: must not be empty")
        if not self.path.startswith("/"):
            raise ValueError(f"path: expected an absolute path, got {self.path!r}")


@dataclass
class AppExceptionsSettings(CollectorSettings):
    interval: Duration = setting(Duration(5), help="How often the logs are read.")
    logs: list[LogSettings] = setting([], help="The error logs, one entry per file (a service may have several).")
    classes: list[str] = setting(
        ["ModuleNotFoundError", "ImportError"],
        help="Exception classes always published (from 0, so an alert sees the first one), as printed on the "
        "final line (`ModuleNotFoundError`, `psycopg2.errors.UniqueViolation`).")
    max_classes: int = setting(20, help="Further classes get a label of their own in the order first seen, up "
                                        "to this many; later ones count as `other`.",
                               at_cap='exact: further classes are counted under `exception="other"`.')
    max_read_bytes: int = setting(4 << 20, help="At most this many bytes read per file and refresh; the rest "
                                                "waits for the next refresh (`lookout_app_log_backlog_bytes`).",
                                  at_cap="exact, later: the next refreshes read the rest; "
                                  "`lookout_app_log_backlog_bytes` shows what waits.")
    max_line_bytes: int = setting(16384, help="Longer lines are cut to this length.",
                                  at_cap="exact: a long line is cut, never split (a final line's class is at its "
                                  "start).")
    from_start: bool = setting(False, help="Count what the files hold when the exporter starts (default: new "
                                           "lines only).")

    def validate(self) -> None:
        if not self.logs:
            raise ValueError("logs: at least one log is required")
        paths = [x.path for x in self.logs]
        for i, p in enumerate(paths):
            if p in paths[:i]:
                raise ValueError(f"logs[{i}].path: {p} is already listed")
        for name, lo, hi in (("max_classes", 0, 1000), ("max_read_bytes", 4096, 1 << 30),
                             ("max_line_bytes", 256, 1 << 20)):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ValueError(f"{name}: expected {lo} to {hi}, got {v}")
        for i, c in enumerate(self.classes):
            if not _FINAL.match(c) or ":" in c or len(c) > MAX_CLASS_NAME:
                raise ValueError(f"classes[{i}]: expected a class name such as ImportError, got {c!r}")


@dataclass
class TracebackParser:
    """Turns log lines into the exception classes of the tracebacks they hold (a state machine per file).

    ``feed(line)`` returns classes completed by this line; ``flush()`` the one still pending. A final line is
    held until the next line shows it is not followed by a chained traceback.
    """

    state: str = "idle"  # idle | frames (inside a traceback) | final (a final line seen) | chain (a chain header)
    pending: str | None = None
    stale: bool = False  # the pending class survived one refresh without a following line
    group: bool = False  # an exception group's traceback (printed indented, its final line inside)

    def feed(self, line: str) -> list[str]:
        out: list[str] = []
        self.stale = False
        if self.state == "frames":
            if line.startswith((" ", "\t")) or line.strip() == "":
                inner = line.strip().lstrip("|").strip()
                if self.group and self.pending is None:
                    m = _FINAL.match(inner)
                    if m and m.group(1).endswith("Group") and ":" in inner:
                        self.pending = _name(m.group(1))  # the group's own final line (Python 3.11+)
                return out
            if self.group:  # an exception group is printed indented whole: this line is the next record
                self.state = "final"
                out.extend(self.flush())
            else:
                m = _FINAL.match(line)
                self.pending = _name(m.group(1)) if m else OTHER
                self.state = "final"
                return out
        if self.state in ("final", "chain"):
            text = line.strip()
            if text in CHAINS:
                self.state = "chain"
                return out
            if text == "" and self.state == "chain":
                return out
            if text == TRACEBACK and self.state == "chain":
                self.pending = None  # the chained traceback's own final line replaces it
                self.state, self.group = "frames", False
                return out
            if text == "":  # a blank line may precede a chain header: wait for the next one
                return out
            out.extend(self.flush())
        if line.endswith(TRACEBACK):
            self.state = "frames"
            self.group = line.startswith((" ", "\t")) or "Exception Group" in line
        return out

    def flush(self) -> list[str]:
        done = [self.pending] if self.pending else []
        self.pending, self.state, self.stale = None, "idle", False
        return done

    def tick(self) -> list[str]:
        """End of a refresh: a pending class already pending at the previous one is complete (its writer
        would have written a chain by now)."""
        if self.pending is None:
            return []
        if self.stale:
            return self.flush()
        self.stale = True
        return []


def _name(text: str) -> str:
    return text[:MAX_CLASS_NAME]


@dataclass
class _Log:
    cfg: LogSettings
    tail: LogTail
    parser: TracebackParser = field(default_factory=TracebackParser)


class AppExceptions(Collector[AppExceptionsSettings]):
    name = "app_exceptions"
    Settings = AppExceptionsSettings
    metrics = (
        counter("lookout_app_exceptions_total",
                "Python tracebacks in the service's error logs, by final exception class "
                "(a chained traceback counts once; classes beyond the cap count as other).", "service", "exception"),
        gauge("lookout_app_log_up", "1 when every error log of the service could be opened.", "service"),
        counter("lookout_app_log_read_bytes_total", "Bytes read from the service's error logs.", "service"),
        gauge("lookout_app_log_backlog_bytes", "Bytes written to the service's error logs and not read yet.",
              "service"),
        counter("lookout_app_log_rotations_total",
                "Rotations (rename or copytruncate) of the service's error logs seen.",
                "service"),
        gauge("lookout_app_exceptions_classes_limit", "The cap on exception classes with a label of their own."),
    )
    summary = ("Python exceptions in Gunicorn, Uvicorn and Celery error logs, per service and exception class; "
               "chained tracebacks count once, rotations are followed.")
    example = """
app_exceptions:
  logs:
    - {service: voice-api, path: /var/log/voice-api/error.log}
"""

    def __init__(self, settings: AppExceptionsSettings):
        super().__init__(settings)
        s = settings
        self.logs = [_Log(c, LogTail(c.path, from_start=s.from_start, max_read=s.max_read_bytes,
                                     max_line=s.max_line_bytes)) for c in s.logs]
        self.services = list(dict.fromkeys(c.service for c in s.logs))
        self.fixed = list(dict.fromkeys(s.classes))
        self.extra: list[str] = []  # classes given a label, in the order first seen
        self.counts: dict[tuple[str, str], int] = {}

    def _label(self, cls: str) -> str:
        if cls in self.fixed or cls in self.extra:
            return cls
        s = self.settings
        if cls != OTHER and len(self.extra) < s.max_classes:
            self.extra.append(cls)
            return cls
        return OTHER

    def refresh(self, snap: Snapshot) -> None:
        s = self.settings
        up = dict.fromkeys(self.services, 1)
        for log in self.logs:
            found: list[str] = []
            rotations = log.tail.stats.rotations + log.tail.stats.truncations
            for raw in log.tail.read():
                found.extend(log.parser.feed(raw.decode("utf-8", "replace").rstrip("\r")))
            if log.tail.stats.rotations + log.tail.stats.truncations != rotations:
                found.extend(log.parser.flush())  # a traceback does not continue into the next file
            found.extend(log.parser.tick())
            for cls in found:
                key = (log.cfg.service, self._label(cls))
                self.counts[key] = self.counts.get(key, 0) + 1
            if not log.tail.readable:
                up[log.cfg.service] = 0
        for svc in self.services:
            mine = [x.tail for x in self.logs if x.cfg.service == svc]
            snap.add("lookout_app_log_up", up[svc], service=svc)
            snap.add("lookout_app_log_read_bytes_total", sum(t.stats.bytes_read for t in mine), service=svc)
            snap.add("lookout_app_log_backlog_bytes", sum(t.backlog for t in mine), service=svc)
            snap.add("lookout_app_log_rotations_total", sum(t.stats.rotations + t.stats.truncations for t in mine),
                     service=svc)
            for cls in self.fixed:
                self.counts.setdefault((svc, cls), 0)
        for (svc, cls), n in sorted(self.counts.items()):
            snap.add("lookout_app_exceptions_total", n, service=svc, exception=cls)
        snap.add("lookout_app_exceptions_classes_limit", s.max_classes)

    def stop(self) -> None:
        for log in self.logs:
            log.tail.close()


COLLECTOR = AppExceptions
