"""The chat center's Celery app: the second seed's four periodic tasks, under their real names.

Run: ``celery -A lookout.demo.chat.tasks worker -E -P prefork -c 2`` and ``celery -A lookout.demo.chat.tasks beat``.
Beat sends (intervals from the settings: the seed's 30 s, 5 min, 2 min, 24 h divided by ``--speed``):
- ``sync_all_sellers``: pulls chats, feedbacks and questions of every active seller account from the
  marketplace API; writes ``chats``, ``messages``, ``interactions`` (``sla_due_at`` from ``sla_rules``),
  ``interaction_events`` and ``sync_state`` (success, attempt, error, consecutive errors). After a
  failed call a marketplace is skipped for the rest of the run (as a client backing off would), so a
  slow or failing API costs at most one timeout per marketplace per run; a run where every call failed
  fails the task. Cursors live in ``runtime_setting``;
- ``check_sla_escalation``: sets ``escalated_at`` on open interactions past their deadline;
- ``analyze_pending_chats``: sends unanalysed chats to DeepSeek's ``/chat/completions`` and records each
  response's ``usage`` in ``llm_usage``; an HTTP error (402 Insufficient Balance...) fails the task;
- ``auto_close_inactive_chats``: closes chats without a message for 10+ days (``runtime_setting``).
"""

from __future__ import annotations

from celery import Celery, signals

from lookout.demo.settings import TASK_INTERVALS, Settings

settings = Settings.from_env()
app = Celery("chatcenter", broker=settings.redis_url)
app.conf.update(
    task_ignore_result=True,
    worker_send_task_events=True,
    task_send_sent_event=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    beat_schedule={name: {"task": name, "schedule": settings.task_interval(name)} for name in TASK_INTERVALS},
)


@signals.worker_init.connect
def _preload(**_: object) -> None:
    import gc

    import lookout.demo.chat.jobs  # noqa: F401  (loaded once, shared by the forked pool processes)

    gc.freeze()  # the collector must not copy the pages the pool processes share


@app.task(name="sync_all_sellers")
def sync_all_sellers() -> dict:
    from lookout.demo.chat import jobs

    return jobs.sync_all_sellers()


@app.task(name="check_sla_escalation")
def check_sla_escalation() -> int:
    from lookout.demo.chat import jobs

    return jobs.check_sla_escalation()


@app.task(name="analyze_pending_chats")
def analyze_pending_chats() -> int:
    from lookout.demo.chat import jobs

    return jobs.analyze_pending_chats()


@app.task(name="auto_close_inactive_chats")
def auto_close_inactive_chats() -> int:
    from lookout.demo.chat import jobs

    return jobs.auto_close_inactive_chats()
