"""Optional hooks a Celery application installs to make the ``celery`` collector exact.

Reads: the application's broker URL and ``broker_transport_options`` (``global_keyprefix``).
Publishes, via Celery signals:

- ``before_task_publish``: stamps every task message with the header ``lookout_enqueued_at`` (Unix
  time), so ``lookout_celery_queue_oldest_message_age_seconds`` is exact instead of an estimate;
- ``task_success`` (runs in the worker): records the task's last success time in the exporter's
  Redis hash (default ``lookout:celery:last_success``, with the broker's ``global_keyprefix``), so
  ``lookout_celery_task_last_success_timestamp_seconds`` works without ``-E`` task events. One small EVAL
  per successful task; errors are swallowed (monitoring must never fail a task).

Usage, in the module that creates the app::

    from lookout.exporters.celery_hooks import install
    install(app)
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

STAMP_HEADER = "lookout_enqueued_at"
DEFAULT_STATE_KEY = "lookout:celery:last_success"
MAX_HSET_LUA = """
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') or 0
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""

log = logging.getLogger(__name__)


def install(app: Any, *, stamp: bool = True, record_success: bool = True, state_key: str = DEFAULT_STATE_KEY,
            names: set[str] | None = None) -> None:
    """Connect the hooks to ``app``. ``names`` limits success recording to these task names."""
    from celery import signals

    if stamp:

        def _stamp(sender: Any = None, headers: dict[str, Any] | None = None, **_kw: Any) -> None:
            if headers is not None:
                headers.setdefault(STAMP_HEADER, time.time())

        signals.before_task_publish.connect(_stamp, weak=False, dispatch_uid=f"lookout-stamp-{id(app)}")

    if record_success:
        clients: dict[int, Any] = {}

        def _client() -> Any:
            import redis

            pid = os.getpid()  # one client per (forked) process
            if pid not in clients:
                clients.clear()
                clients[pid] = redis.Redis.from_url(app.conf.broker_url, socket_timeout=1, socket_connect_timeout=1)
            return clients[pid]

        def _success(sender: Any = None, **_kw: Any) -> None:
            name = getattr(sender, "name", None)
            if not name or (names is not None and name not in names):
                return
            prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
            try:
                _client().eval(MAX_HSET_LUA, 1, prefix + state_key, name, repr(time.time()))
            except Exception as exc:
                log.debug("lookout: could not record success of %s: %s", name, type(exc).__name__)

        signals.task_success.connect(_success, weak=False, dispatch_uid=f"lookout-success-{id(app)}")
