"""A collector's local checkpoint file: read defensively, written atomically.

Reads and writes one JSON file on the exporter's host (never the user's database). ``read`` refuses
anything that is not a regular file under ``MAX_BYTES`` holding a JSON object of the expected
``format``: the caller gets a ``Rejected`` with a short, bounded reason (``missing``, ``oversized``,
``corrupt``, ``foreign``) and logs it once. ``write`` goes through a temporary file in the same
directory, ``fsync`` and ``os.replace``, so a crash leaves the old checkpoint or the new one, never
half of one. Files are created mode 0600: they hold usage totals, not secrets, but stay private.

``default_dir`` is the exporter's state directory: ``$STATE_DIRECTORY`` (systemd's
``StateDirectory=lookout``, see deploy/systemd/lookout-exporter.service), else none.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from typing import Any

MAX_BYTES = 8 * 1024 * 1024


class Rejected(Exception):
    """The checkpoint cannot be used; ``reason`` is one of a few fixed words (a metric label)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def default_dir() -> str | None:
    d = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return d or None


def read(path: str, fmt: str) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Rejected("missing", "no checkpoint yet") from None
    except OSError as exc:
        raise Rejected("corrupt", f"cannot open: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Rejected("corrupt", "not a regular file")
        if st.st_size > MAX_BYTES:
            raise Rejected("oversized", f"{st.st_size} bytes, more than {MAX_BYTES}")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > MAX_BYTES:  # grew while being read
                raise Rejected("oversized", f"more than {MAX_BYTES} bytes")
            chunks.append(chunk)
    except OSError as exc:
        raise Rejected("corrupt", f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        data = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise Rejected("corrupt", "not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise Rejected("foreign", "not a checkpoint of this collector")
    return data


def write(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically; raises OSError (the caller logs it once and carries on)."""
    body = json.dumps(data, separators=(",", ":")).encode()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable; not fatal where directories cannot be synced
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
