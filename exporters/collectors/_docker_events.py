"""Follows Docker's event stream (``GET /events``) in a background thread for the ``containers`` collector.

Reads: container events matching the given filters, one JSON object per line.
Publishes: each event to a callback, and ``connected`` (True while a stream is open).

Nothing is lost across a reconnect while the engine keeps running: Docker keeps recent events in
memory, so the stream is reopened with ``since`` set to the last event seen (or to the engine's clock
at the previous connect) and replayed events already handled are skipped by their ``timeNano``.
Events of an engine restart that happened before the old engine closed the stream are lost.
The stream is also reopened after ``idle_timeout`` without a byte, because a half-open TCP connection
(a socket proxy re-created) would otherwise block forever. Reconnect attempts back off from 0.5 s
up to ``max_backoff``. ``stop()`` shuts the socket down, so it returns at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import docker
from docker.types import CancellableStream

log = logging.getLogger("lookout.exporters.collectors.containers")


class EventListener:
    def __init__(
        self,
        make_client: Callable[[], docker.APIClient],
        filters: dict[str, list[str]],
        on_event: Callable[[dict[str, Any]], None],
        *,
        connect_timeout: float = 5.0,
        idle_timeout: float = 300.0,
        max_backoff: float = 15.0,
    ):
        self._make_client = make_client
        self._filters = json.dumps({k: v for k, v in filters.items() if v})
        self._on_event = on_event
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._max_backoff = max(0.5, max_backoff)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream: CancellableStream | None = None
        self._thread: threading.Thread | None = None
        self._last_event_ns: int | None = None  # watermark from events: replayed ones are skipped
        self._connected_ns: int | None = None  # engine clock at the last connect, when no event yet
        self.connected = False
        self.connects = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="containers-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        self.connected = False

    def _run(self) -> None:
        backoff = 0.5
        failing = False
        while not self._stop.is_set():
            opened = time.monotonic()
            try:
                self._follow()
                # the engine closed the stream (shutdown) or it went idle: reopen; too short a
                # stream counts as a failure so that a proxy closing at once does not make us spin
                ok = time.monotonic() - opened > 1.0
            except Exception as exc:
                ok = False
                if not failing and not self._stop.is_set():
                    log.warning("docker event stream: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:300])
            self.connected = False
            if self._stop.is_set():
                break
            if ok:
                backoff, failing = 0.5, False
                continue
            failing = True
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _follow(self) -> None:
        api = self._make_client()
        try:
            params = {"filters": self._filters}
            since = self._last_event_ns or self._connected_ns
            if since is not None:
                params["since"] = f"{since // 10**9}.{since % 10**9:09d}"
            resp = api.get(
                f"{api.base_url}/v{api.api_version}/events",
                params=params,
                stream=True,
                timeout=(self._connect_timeout, self._idle_timeout),
            )
            if resp.status_code != 200:
                msg = resp.text[:200].strip()
                resp.close()
                raise ConnectionError(f"GET /events returned {resp.status_code}: {msg}")
            stream = CancellableStream(self._lines(resp), resp)
            with self._lock:
                if self._stop.is_set():
                    stream.close()
                    return
                self._stream = stream
            if self._last_event_ns is None:
                self._connected_ns = _date_ns(resp.headers.get("Date")) or self._connected_ns
            self.connected = True
            self.connects += 1
            if self.connects > 1:
                log.info("docker event stream reconnected")
            for event in stream:
                ns = int(event.get("timeNano") or 0)
                if self._last_event_ns is not None and ns <= self._last_event_ns:
                    continue  # replayed after a reconnect, already counted
                self._last_event_ns = max(ns, self._last_event_ns or 0)
                self._on_event(event)
        finally:
            with self._lock:
                self._stream = None
            with contextlib.suppress(Exception):
                api.close()

    @staticmethod
    def _lines(resp: Any) -> Iterator[dict[str, Any]]:
        for line in resp.iter_lines():
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def _date_ns(header: str | None) -> int | None:
    """The engine's clock from the HTTP ``Date`` header (whole seconds, written after the stream subscribed).

    Replaying from it may count an event of the last second before the first connect, never miss one.
    """
    if not header:
        return None
    try:
        return int(parsedate_to_datetime(header).timestamp()) * 10**9
    except (TypeError, ValueError):
        return None
