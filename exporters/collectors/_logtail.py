"""Follow a log file across rotations, in bounded reads, handing over complete lines only.

Reads: one file path (``tail -F`` semantics). The file is kept open between reads, so a file renamed away
(logrotate's default ``create``) is read to its end before the new file at the path is opened from its start:
nothing lost, nothing read twice. A file truncated in place (``copytruncate``) is noticed by its size falling
below the offset or by the bytes just before the offset changing (a fingerprint); the lines written between
our last read and the copy are then read from the copy (``<path>.1``) when its bytes at our offset carry
the same fingerprint, so copytruncate loses nothing either unless the copy is already compressed or gone.
Publishes ``LogTail.read() -> list[bytes]`` (complete lines, without the newline, each cut at
``max_line``) and the counters the collector exports. A last line without its newline waits for the next
read (a writer in the middle of a record), except when the file is left for a rotated one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

FINGERPRINT = 64  # bytes before the offset compared to tell a truncated-and-rewritten file from the same one


@dataclass
class TailStats:
    bytes_read: int = 0
    rotations: int = 0
    truncations: int = 0
    lines_cut: int = 0  # lines longer than max_line, shortened
    lost_bytes: int = 0  # lower bound: bytes of a copytruncated file that no copy held


class LogTail:
    def __init__(self, path: str, *, from_start: bool = False, max_read: int = 4 << 20, max_line: int = 16384):
        self.path = path
        self.max_read = max_read
        self.max_line = max_line
        self.fd: int | None = None
        self.ino: tuple[int, int] | None = None
        self.offset = 0
        self.partial = b""
        self.fingerprint = b""
        self.stats = TailStats()
        self.backlog = 0  # bytes known but not read yet (bounded reads)
        self.readable = False
        self._first = not from_start  # the first file found is read from its end (old history is not news)

    # -- the file
    def _open_current(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        st = os.fstat(fd)
        if not _regular(st.st_mode):
            os.close(fd)
            return False
        self.fd, self.ino = fd, (st.st_dev, st.st_ino)
        self.offset = st.st_size if self._first else 0
        self.fingerprint = self._pread(max(0, self.offset - FINGERPRINT), min(self.offset, FINGERPRINT))
        self._first = False
        return True

    def _pread(self, at: int, n: int) -> bytes:
        assert self.fd is not None
        return os.pread(self.fd, n, at) if n > 0 else b""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd = None

    # -- reading
    def read(self) -> list[bytes]:
        """Complete new lines since the last read, at most ``max_read`` bytes of them."""
        lines: list[bytes] = []
        budget = self.max_read
        if self.fd is None and not self._open_current():
            self.readable = False
            self._first = False  # a file appearing later is new: read it whole
            return lines
        self.readable = True
        try:
            st_path = os.stat(self.path)
            at_path = (st_path.st_dev, st_path.st_ino)
        except OSError:
            at_path = None  # renamed away, the new one not created yet: keep reading the old one
        budget = self._check_truncated(lines, budget)
        budget = self._drain(lines, budget)
        if at_path is not None and at_path != self.ino and budget > 0:
            # rotated by rename: the old file is read to its end (above); move to the new one
            size = os.fstat(self.fd).st_size if self.fd is not None else 0
            if self.offset >= size:
                if self.partial:
                    lines.append(self._cut(self.partial))
                    self.partial = b""
                self.close()
                self.stats.rotations += 1
                self._first = False
                if self._open_current():
                    self._drain(lines, budget)
        self._update_backlog()
        return lines

    def _check_truncated(self, lines: list[bytes], budget: int) -> int:
        assert self.fd is not None
        size = os.fstat(self.fd).st_size
        if size >= self.offset:
            n = min(self.offset, FINGERPRINT)
            if self._pread(self.offset - n, n) == self.fingerprint:
                return budget
        # copytruncate: the file starts over. Finish what we had from the copy, then read the file from 0.
        self.stats.truncations += 1
        budget = self._from_copy(lines, budget)
        self.offset, self.fingerprint, self.partial = 0, b"", b""
        return budget

    def _from_copy(self, lines: list[bytes], budget: int) -> int:
        copy = self.path + ".1"
        try:
            fd = os.open(copy, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return budget
        try:
            st = os.fstat(fd)
            n = min(self.offset, FINGERPRINT)
            if not _regular(st.st_mode) or st.st_size < self.offset or \
                    os.pread(fd, n, self.offset - n) != self.fingerprint:
                return budget
            rest = st.st_size - self.offset
            data = os.pread(fd, min(rest, budget), self.offset)
            self.stats.bytes_read += len(data)
            self.stats.lost_bytes += rest - len(data)
            self._split(self.partial + data, lines, final=True)
            return budget - len(data)
        finally:
            os.close(fd)

    def _drain(self, lines: list[bytes], budget: int) -> int:
        while budget > 0:
            data = self._pread(self.offset, min(budget, 1 << 20))
            if not data:
                break
            budget -= len(data)
            self.offset += len(data)
            self.stats.bytes_read += len(data)
            tail = self.fingerprint + data
            self.fingerprint = tail[-FINGERPRINT:]
            self.partial = self._split(self.partial + data, lines)
        return budget

    def _split(self, data: bytes, lines: list[bytes], final: bool = False) -> bytes:
        parts = data.split(b"\n")
        rest = parts.pop()
        lines.extend(self._cut(p) for p in parts)
        if final and rest:
            lines.append(self._cut(rest))
            return b""
        if len(rest) > self.max_line:  # a line without end in sight: keep its head only
            rest = rest[: self.max_line + 1]
        return rest

    def _cut(self, line: bytes) -> bytes:
        if len(line) > self.max_line:
            self.stats.lines_cut += 1
            return line[: self.max_line]
        return line

    def _update_backlog(self) -> None:
        if self.fd is None:
            self.backlog = 0
            return
        self.backlog = max(0, os.fstat(self.fd).st_size - self.offset)


def _regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)
