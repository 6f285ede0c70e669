"""Monitoring itself: the heartbeat, scrape targets and the lookout exporter's collectors.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.scrape import watched_jobs
from lookout.monitoring.catalog.series import _x
from lookout.monitoring.model import Alert, Case, Recording


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    jobs = watched_jobs(k)
    return [
        Alert(
            name="Watchdog",
            group="lookout-meta",
            expr="vector(1)",
            severity="info",
            summary="The alerting pipeline is working; this alert always fires.",
            description="Heartbeat from Prometheus through Alertmanager to the dead man's switch (value {{ $value | "
            "humanize }}).",
            panel=(uids.OVERVIEW, "Firing alerts"),
            value=v.NO_VALUE,
            fire=Case({}, at="1m", labels={}, value=1),
            quiet=None,
            meaning="Always firing. Alertmanager sends it to the heartbeat receiver every minute; the receiver "
            "(a dead man's switch such as healthchecks.io or the relay) raises an alarm when it stops arriving.",
            confirm="Open Alertmanager (`http://127.0.0.1:9093`) and check that Watchdog is listed; "
            "`amtool alert query alertname=Watchdog`.",
            fix="If the heartbeat stopped: Prometheus or Alertmanager is down, or they cannot reach each other. "
            "`systemctl status prometheus prometheus-alertmanager` (or `docker compose ps`), then their logs.",
        ),
        Alert(
            name="TargetDown",
            group="lookout-meta",
            expr="up == 0",
            severity="warning",
            summary="A scrape target does not answer Prometheus.",
            description="{{ $labels.job }} target {{ $labels.instance }} has been down for 2 minutes.",
            panel=(uids.OVERVIEW, "Scrape targets up"),
            value=v.NO_VALUE,
            fire=Case({'up{job="redis",instance="redis-exporter:9121"}': "0x10"}, value=0),
            quiet=Case({'up{job="redis",instance="redis-exporter:9121"}': "1x10"}),
            for_="2m",
            meaning="Prometheus cannot scrape an exporter or app: everything it publishes is missing, so other "
            "alerts about it cannot fire.",
            confirm="Prometheus > Status > Targets shows the error; `curl -s http://TARGET/metrics | head`.",
            fix="Start the exporter or app (`systemctl restart NAME` / `docker compose up -d NAME`); check its "
            "journal (`journalctl -u NAME -n 100`) and the firewall between Prometheus and the target.",
        ),
        Alert(
            name="TargetAbsent",
            group="lookout-meta",
            expr=" or ".join(f'absent(up{{job="{j}"}})' for j in jobs),
            severity="warning",
            summary="A scrape job has no target at all.",
            description="Prometheus has no target for job {{ $labels.job }}: the scrape configuration lost it.",
            panel=(uids.OVERVIEW, "Scrape targets up"),
            value=v.NO_VALUE,
            fire=Case({f'up{{job="{j}",instance="x"}}': "1x10" for j in jobs[:-1]}, labels={"job": jobs[-1]},
                      value=1),
            quiet=Case({f'up{{job="{j}",instance="x"}}': "1x10" for j in jobs}),
            for_="5m",
            meaning="A job the dashboards and alerts rely on is not scraped at all (not even failing), so its "
            "`up` series is absent and TargetDown cannot fire for it.",
            confirm="Prometheus > Status > Targets: the job is missing. `promtool check config prometheus.yml`.",
            fix="Restore the job in `prometheus/prometheus.yml` (it is generated: "
            "`python -m lookout.monitoring generate`) "
            "and reload Prometheus (`curl -X POST http://127.0.0.1:9090/-/reload`).",
        ),
        Alert(
            name="ExporterCollectorDown",
            group="lookout-meta",
            expr="lookout_collector_up == 0",
            severity="warning",
            summary="A lookout collector cannot read its source.",
            description="Collector {{ $labels.collector }} on {{ $labels.instance }} has failed for 3 minutes; its "
            "gauges are gone.",
            panel=(uids.OVERVIEW, "Collectors up"),
            value=v.NO_VALUE,
            fire=Case({f"lookout_collector_up{_x(collector='celery')}": "0x10"}),
            quiet=Case({f"lookout_collector_up{_x(collector='celery')}": "1x10"}),
            for_="3m",
            meaning="One collector of the lookout exporter fails to refresh (source down, bad credentials, query "
            "error or timeout). The exporter keeps serving; the collector's gauges are dropped.",
            confirm="The exporter's log says why, once per state change: `journalctl -u lookout-exporter -n 50` "
            "(or `docker compose logs exporters`). `lookout-exporter once --config FILE` runs every collector once.",
            fix="Fix the source (database, Redis, provider API) or the collector's settings "
            "(docs/configuration.md); the collector recovers on its next refresh.",
        ),
    ]
