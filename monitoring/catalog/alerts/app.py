"""Application exceptions (tracebacks in the services' error logs) and deploys.

Reads the site (``Ctx``): services with an ``error_log`` (feature ``app_exceptions``) or a ``release``
(feature ``releases``). Publishes ``recordings(k)``, ``alerts(k)`` and ``deploy_note(k, for_)``: the text every
alert description ends with, which names a deploy that happened shortly before the alert started ("Started
3m 0s after deploy abc1234 of voice-api."), read from ``lookout_app_release_timestamp_seconds`` when the alert fires.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import _x
from lookout.monitoring.model import Alert, Case, Recording, above

IMPORT_ERRORS = "ModuleNotFoundError|ImportError"
RELEASES = ("max by (service, revision) (lookout_app_release_timestamp_seconds * on (instance, service) "
            "group_left (revision) lookout_app_release_info)")


def _labels(k: Ctx) -> dict[str, str]:
    s = next((x for x in k.site.services if x.error_log), None)
    return {"host": s.host if s else "vps-1", "service": s.name if s else "voice-api"}


def recordings(k: Ctx) -> list[Recording]:
    L = _labels(k)
    return [
        Recording(
            record="service:lookout_app_exceptions:increase5m",
            requires=("app_exceptions",),
            group="app",
            expr="sum by (host, service) (increase(lookout_app_exceptions_total[5m]))",
            test=Case({f"lookout_app_exceptions_total{_x(**L, exception='ValueError')}": "0+1x10"}, at="10m",
                      samples=((f'service:lookout_app_exceptions:increase5m{{host="{L["host"]}",service="{L["service"]}"}}',
                                5),)),
        ),
    ]


def alerts(k: Ctx) -> list[Alert]:
    if not k.has("app_exceptions"):
        return []
    t = k.t
    L = _labels(k)
    unit = k.unit("gunicorn", "uvicorn", "celery_worker")
    log = next((s.error_log for s in k.site.services if s.error_log), "<error log>")
    n = int(t.app_exceptions_5m.value)
    return [
        Alert(
            name="AppImportError",
            requires=("app_exceptions",),
            group="app",
            expr="sum by (host, service, exception) "
                 f'(increase(lookout_app_exceptions_total{{exception=~"{IMPORT_ERRORS}"}}[5m])) > 0',
            severity="critical",
            summary="The application raises ModuleNotFoundError or ImportError: a deploy broke it.",
            description="{{ $labels.service }} raised {{ $value | humanize }} {{ $labels.exception }} in 5 minutes.",
            panel=(uids.WORKER_POOLS, "Exceptions by class"),
            value=v.count("import errors in 5 min"),
            fire=Case({f"lookout_app_exceptions_total{_x(**L, exception='ModuleNotFoundError')}":
                       "0 0 0 1 2 3 4 5 6 7 8"},
                      at="5m", labels={**L, "exception": "ModuleNotFoundError"}, value=3),
            quiet=Case({f"lookout_app_exceptions_total{_x(**L, exception='ModuleNotFoundError')}": "0x10",
                        f"lookout_app_exceptions_total{_x(**L, exception='ValueError')}": "0+5x10"}),
            meaning="Code that runs cannot import a module: the release was deployed without its dependency "
            "(`pip install -r requirements.txt` not run, a new package missing from the virtualenv) or with a "
            "typo in an import. Every request reaching that code fails with 500 (the first seed's incident 2).",
            confirm=f"`grep -n -B2 -A20 -E 'ModuleNotFoundError|ImportError' {log} | tail -60` names the module; the "
            "deploy annotation on the boards (and this notification) names the release that brought it.",
            fix=f"Install the missing dependency into the service's virtualenv and `sudo systemctl restart {unit}`, "
            "or roll back: check out the previous revision and restart.",
        ),
        Alert(
            name="AppExceptionRateHigh",
            requires=("app_exceptions",),
            group="app",
            expr=above("service:lookout_app_exceptions:increase5m", t.app_exceptions_5m),
            severity="warning",
            summary="A service logs many Python exceptions.",
            description="{{ $labels.service }} logged {{ $value | humanize }} exceptions in 5 minutes.",
            panel=(uids.WORKER_POOLS, "Exceptions per service (5 min)"),
            value=v.count("exceptions in 5 min"),
            fire=Case({f"lookout_app_exceptions_total{_x(**L, exception='ValueError')}": "0+4x30"}, at="20m",
                      labels=L, value=20),
            quiet=Case({f"lookout_app_exceptions_total{_x(**L, exception='ValueError')}": f"0+{n / 5 - 0.2:g}x30"},
                       at="20m"),
            for_="10m",
            meaning=f"More than {n} tracebacks in 5 minutes for 10 minutes: requests or tasks fail with 500 or "
            "retries (a database error, a provider's API changed, a bug in the last release).",
            confirm=f"The exceptions-by-class panel names the class; `grep -n -A20 Traceback {log} | tail -80` "
            "shows where.",
            fix="Fix the cause the traceback names; if it began with a deploy (see the annotation), roll back first.",
        ),
    ]


def deploy_note(k: Ctx, for_seconds: float) -> str:
    """Appended to every alert's description when the site reads releases: names each deploy that happened
    within the site's ``alerting.deploy_window`` before the alert started (its `for:` ago), with how long before."""
    if not k.has("releases"):
        return ""
    window = int(k.site.alerting.deploy_window)
    start = f"(time() - {int(for_seconds)})" if for_seconds else "time()"
    query = f"({start} - {RELEASES}) >= 0 <= {window}"
    return ('{{ with query "' + query + '" }}{{ range . }} Started {{ .Value | humanizeDuration }} after deploy '
            "{{ .Labels.revision }} of {{ .Labels.service }}.{{ end }}{{ end }}")
