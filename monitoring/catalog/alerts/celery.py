"""Celery: queues, live workers, periodic tasks of the beat schedule, task failures.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import X, _x, num
from lookout.monitoring.model import Alert, Case, Recording, above, below


def recordings(k: Ctx) -> list[Recording]:
    return [
        Recording(
            record="task:lookout_celery_periodic_staleness:intervals",
            requires=("beat",),
            group="celery",
            expr="(time() - lookout_celery_task_last_success_timestamp_seconds)"
            " / lookout_celery_periodic_task_interval_seconds"
            " and lookout_celery_task_last_success_timestamp_seconds > 0",
            test=Case({f'lookout_celery_task_last_success_timestamp_seconds{{{X},name="sync_all_sellers"}}': "300x20",
                  f'lookout_celery_periodic_task_interval_seconds{{{X},name="sync_all_sellers"}}': "30x20"},
                 samples=((f'task:lookout_celery_periodic_staleness:intervals{{{X},name="sync_all_sellers"}}', 10),)),
        ),
        Recording(
            record="task:lookout_celery_task_failure:ratio_rate5m",
            requires=("celery",),
            group="celery",
            expr="sum by (host, name) (rate(lookout_celery_task_failed_total[5m]))"
            " / (sum by (host, name) (rate(lookout_celery_task_succeeded_total[5m]))"
            " + sum by (host, name) (rate(lookout_celery_task_failed_total[5m])))",
            test=Case({f'lookout_celery_task_failed_total{{{X},name="analyze_pending_chats"}}': "0+1x20",
                  f'lookout_celery_task_succeeded_total{{{X},name="analyze_pending_chats"}}': "0+3x20"},
                 samples=(('task:lookout_celery_task_failure:ratio_rate5m{name="analyze_pending_chats"}', 0.25),)),
        ),
    ]

def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    worker, beat = k.unit("celery_worker"), k.unit("celery_beat")
    backlog, wait = float(t.celery_backlog.value), float(t.celery_wait_seconds.value)
    return [
        Alert(
            name="CeleryQueueBacklog",
            requires=("celery",),
            group="celery",
            # `_other` sums the queues folded beyond max_queues: its size says nothing about one queue's backlog
            expr=above('celery_queue_length{queue_name!="_other"}', t.celery_backlog),
            severity="warning",
            summary="A Celery queue is backing up.",
            description="Queue {{ $labels.queue_name }} holds {{ $value | humanize }} ready messages for 5 minutes.",
            panel=(uids.CELERY, "Queue length"),
            value=v.count("messages") + v.companion(
                "lookout_celery_queue_oldest_message_age_seconds", ("instance", "queue_name"), ", oldest ",
                "humanizeDuration"),
            # the age series answers the companion value's query: the page reads "…, oldest 7m 0s"
            fire=Case({f"celery_queue_length{_x(queue_name='celery')}": f"{num(1.5 * backlog)}x10",
                       f"lookout_celery_queue_oldest_message_age_seconds{_x(queue_name='celery')}": "420x10"},
                      labels={"job": "lookout", "instance": "exporters:9808", "queue_name": "celery"},
                      value=1.5 * backlog),
            quiet=Case({f"celery_queue_length{_x(queue_name='celery')}": f"{num(backlog)}x10",
                        f"celery_queue_length{_x(queue_name='_other')}": f"{num(3 * backlog)}x10"}),
            for_="5m",
            meaning="Tasks are produced faster than the workers run them (too few workers, slow tasks, or a "
            "stuck worker).",
            confirm="`celery -A APP inspect active`; `redis-cli llen celery`; the waiting-age panel.",
            fix=f"Restart a stuck worker (`sudo systemctl restart {worker}`); raise concurrency if "
            "CPU allows; find the slow task in the runtime panel.",
        ),
        Alert(
            name="CeleryTaskWaitingTooLong",
            requires=("celery",),
            group="celery",
            expr=above("lookout_celery_queue_oldest_message_age_seconds", t.celery_wait_seconds),
            severity="warning",
            summary="Celery tasks wait too long before a worker picks them up.",
            description="The oldest message in {{ $labels.queue_name }} has waited {{ $value | humanizeDuration }}.",
            panel=(uids.CELERY, "Oldest message age"),
            value=v.duration("waiting"),
            fire=Case({f"lookout_celery_queue_oldest_message_age_seconds{_x(queue_name='celery')}":
                       f"{num(2 * wait)}x10"},
                      value=2 * wait),
            quiet=Case({f"lookout_celery_queue_oldest_message_age_seconds{_x(queue_name='celery')}":
                        f"{num(wait)}x10"}),
            for_="2m",
            meaning="Work is delayed: marketplace sync every 30 s and SLA escalation every 5 min run late. "
            "`_other` is the oldest message of the queues folded beyond max_queues (CeleryQueuesFolded).",
            confirm="The queue-length and workers panels; `celery -A APP inspect active` for long tasks.",
            fix="As for CeleryQueueBacklog; a dead worker shows in CeleryNoLiveWorker.",
        ),
        Alert(
            name="CeleryQueuesFolded",
            requires=("celery",),
            group="celery",
            expr="lookout_celery_queues_folded > 0",
            severity="warning",
            summary="Some Celery queues have no series of their own.",
            description="{{ $value | humanize }} queues beyond max_queues on {{ $labels.instance }} are summed into "
            'queue_name="_other".',
            panel=(uids.CELERY, "Queues folded or not read"),
            value=v.count("queues folded into _other"),
            fire=Case({f"lookout_celery_queues_folded{{{X}}}": "50x20"}, at="15m", value=50),
            quiet=Case({f"lookout_celery_queues_folded{{{X}}}": "0x20"}, at="15m"),
            for_="10m",
            meaning="More queues exist than `max_queues`: the shallowest are read and summed into `_other`, so "
            "totals stay exact, but a queue inside `_other` has no backlog alert of its own (the waiting-age "
            "alert still covers their oldest message).",
            confirm="`lookout_celery_queues_discovered` and `lookout_celery_queues_folded` on the Celery board; "
            "`redis-cli --scan --pattern '_kombu.binding.*'` for the bindings that declare them.",
            fix="Raise `max_queues` in the exporter's celery settings, or name the queues that matter in "
            "`queues` (configured queues always get their own series).",
        ),
        Alert(
            name="CeleryQueuesUnread",
            requires=("celery",),
            group="celery",
            expr="lookout_celery_queues_unread > 0",
            severity="warning",
            summary="Some Celery queues are not read: queue totals are lower bounds.",
            description="{{ $value | humanize }} queues beyond max_discovered_queues on {{ $labels.instance }} "
            "are not read.",
            panel=(uids.CELERY, "Queues folded or not read"),
            value=v.count("queues not read"),
            fire=Case({f"lookout_celery_queues_unread{{{X}}}": "30x20"}, value=30),
            quiet=Case({f"lookout_celery_queues_unread{{{X}}}": "0x20"}),
            for_="5m",
            meaning="The broker binds more queues than `max_discovered_queues`: those beyond it are not read, so "
            "queue lengths, the backlog and waiting-age alerts miss their messages.",
            confirm="`lookout_celery_queues_discovered` against `max_discovered_queues`; stale bindings left by "
            "temporary queues (`redis-cli smembers _kombu.binding.celery`).",
            fix="Remove stale bindings, or raise `max_discovered_queues` (each queue adds about 4 list reads "
            "per refresh).",
        ),
        Alert(
            name="CeleryNoLiveWorker",
            requires=("celery",),
            group="celery",
            expr=below("lookout_celery_workers", t.celery_live_workers),
            severity="critical",
            summary="No Celery worker is alive.",
            description="{{ $labels.instance }} sees no Celery worker heartbeat: background tasks do not run.",
            panel=(uids.CELERY, "Live workers"),
            value=v.count("live workers"),
            fire=Case({f"lookout_celery_workers{{{X}}}": "0x10"}),
            quiet=Case({f"lookout_celery_workers{{{X}}}": f"{num(t.celery_live_workers.value)}x10"}), for_="1m",
            meaning="No worker sends heartbeats: marketplace sync, chat analysis and SLA escalation have stopped; "
            "beat keeps queueing tasks that nobody runs.",
            confirm=f"`sudo systemctl status {worker}`; `sudo journalctl -u {worker} -n 100`; "
            "`celery -A APP inspect ping`.",
            fix="Restart the worker unit after reading the journal (import error, broker URL, OOM).",
        ),
        Alert(
            name="CeleryWorkerDown",
            requires=("celery",),
            group="celery",
            expr="celery_worker_up == 0",
            severity="warning",
            summary="A known Celery worker stopped sending heartbeats.",
            description="Worker {{ $labels.hostname }} has stopped sending heartbeats.",
            panel=(uids.CELERY, "Live workers"),
            value=v.NO_VALUE,
            fire=Case({f"celery_worker_up{_x(hostname='celery@vps')}": "0x10"}),
            quiet=Case({f"celery_worker_up{_x(hostname='celery@vps')}": "1x10"}), for_="1m",
            meaning="One worker died or hangs (SIGKILL, OOM); others may still run tasks.",
            confirm="`celery -A APP inspect ping`; the unit's journal; `dmesg | grep -i oom`.",
            fix="Restart the worker unit; if it was OOM-killed, lower concurrency or the task's memory use.",
        ),
        Alert(
            name="CeleryPeriodicTaskStale",
            requires=("beat",),
            group="celery",
            expr=above("task:lookout_celery_periodic_staleness:intervals",
                       t.periodic_stale_intervals),
            severity="warning",
            summary="A periodic Celery task has not succeeded for 3 intervals.",
            description="{{ $labels.name }} has not succeeded for {{ $value | humanize }} of its intervals.",
            panel=(uids.CELERY, "Periodic tasks: intervals since last success"),
            value=v.amount("intervals without a success"),
            fire=Case({f"lookout_celery_task_last_success_timestamp_seconds{_x(name='sync_all_sellers')}": "1x20",
                  f"lookout_celery_periodic_task_interval_seconds{_x(name='sync_all_sellers')}": "30x20"}, at="10m",
                 labels={"job": "lookout", "instance": "exporters:9808", "name": "sync_all_sellers"}, value=599 / 30),
            quiet=Case({f"lookout_celery_task_last_success_timestamp_seconds{_x(name='sync_all_sellers')}": "0+60x20",
                  f"lookout_celery_periodic_task_interval_seconds{_x(name='sync_all_sellers')}": "30x20"}, at="10m"),
            for_="1m",
            meaning="Beat stopped sending the task, or every run fails: "
            + ", ".join(f"`{name}` every {v:g} s" for name, v in k.site.periodic_tasks.items())
            + ". A stale `sync_all_sellers` means chats are not synced; a stale `check_sla_escalation` means breaches "
            "are not escalated.",
            confirm=f"`sudo systemctl status {beat}`; the task's failures on the Celery board; "
            "the worker's journal for the task's traceback.",
            fix=f"Restart beat (`sudo systemctl restart {beat}`) if it stopped; fix the task if it fails.",
        ),
        Alert(
            name="CeleryTaskFailureRateHigh",
            requires=("celery",),
            group="celery",
            expr=above("task:lookout_celery_task_failure:ratio_rate5m", t.celery_failure_ratio),
            severity="warning",
            summary="A Celery task fails too often.",
            description="{{ $value | humanizePercentage }} of {{ $labels.name }} runs failed over 5 minutes.",
            panel=(uids.CELERY, "Task failure share"),
            value=v.ratio("of runs failed"),
            fire=Case({f"lookout_celery_task_failed_total{_x(name='analyze_pending_chats')}": "0+1x20",
                  f"lookout_celery_task_succeeded_total{_x(name='analyze_pending_chats')}": "0+3x20"},
                 labels={"name": "analyze_pending_chats"}, value=0.25),
            quiet=Case({f"lookout_celery_task_failed_total{_x(name='analyze_pending_chats')}": "0+1x20",
                  f"lookout_celery_task_succeeded_total{_x(name='analyze_pending_chats')}": "0+9x20"}),
            for_="5m",
            meaning="A task raises on a share of its runs: a provider answering 402/429/5xx, a schema change, a bug.",
            confirm="The worker's journal for the traceback; provider panels (LLM, marketplace).",
            fix="Fix the cause; failed periodic runs recover on the next schedule.",
        ),
    ]
