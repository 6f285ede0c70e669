"""runbooks.md of a site: one section per alert (meaning, confirm, fix with the site's units), the routing and
secrets of its receivers, the inhibitions and the thresholds its alerts use.

Reads: a ``Catalog`` and the panel URLs. Publishes ``runbooks_md(cat, panels)`` and ``anchor(alert name)``.
"""

from __future__ import annotations

from lookout.monitoring.alertmanager_config import URL_FILE_PLACEHOLDER
from lookout.monitoring.catalog import Catalog, routing
from lookout.monitoring.site import Receiver
from lookout.monitoring.sitebind import FileRef


def anchor(name: str) -> str:
    return name.lower()


def _integrations(r: Receiver | None) -> list[str]:
    if r is None:
        return ["nothing (no `heartbeat` receiver in the site file)"]
    out = [f"webhook (URL in `{w.url}`)" if isinstance(w.url, FileRef) else f"webhook `{w.url}`"
           for w in r.webhooks]
    if r.email:
        out.append(f"e-mail to `{r.email.to}`")
    if r.pagerduty:
        out.append("PagerDuty Events v2")
    if r.telegram:
        out.append("Telegram")
    return out


def _secrets_md(cat: Catalog) -> str:
    rs = cat.site.alerting.receivers
    all_r = [r for r in (rs.page, rs.ticket, rs.heartbeat) if r is not None]
    out = ["Secrets never enter the repository:\n\n"]
    pd = next((r.pagerduty for r in all_r if r.pagerduty), None)
    if pd:
        out.append(f"- PagerDuty: the routing key is read from `{pd.routing_key_file}` (`routing_key_file`); "
                   "mount it as a secret.\n")
    tg = next((r.telegram for r in all_r if r.telegram), None)
    if tg:
        token = routing.TELEGRAM_BOT_TOKEN_PLACEHOLDER
        out.append(
            "- Telegram: Alertmanager 0.25 (Debian 12) has no `bot_token_file` (it arrived in 0.26), so the "
            f"generated file\n  carries the placeholder `bot_token: {token}`. Substitute it from the site's "
            f"`bot_token_file` when deploying,\n  for example `sed -e \"s/{token}/$(cat {tg.bot_token_file})/\" "
            "alertmanager/alertmanager.yml > /etc/alertmanager/alertmanager.yml`;\n  on Alertmanager 0.26 or "
            f"later, replace `bot_token:` with `bot_token_file: {tg.bot_token_file}` instead. Until then\n"
            "  Telegram answers 401 and the other integrations of the receiver still deliver.\n")
    em = next((r.email for r in all_r if r.email and r.email.auth_password_file), None)
    if em:
        out.append(f"- E-mail: the SMTP password is read from `{em.auth_password_file}` (`auth_password_file`).\n")
    files = [str(w.url) for r in all_r for w in r.webhooks if isinstance(w.url, FileRef)]
    if files:
        out.append("- Webhooks: Alertmanager 0.25 has no `url_file` (0.26 has), so a URL given as `url_file` is "
                   f"generated as\n  `{URL_FILE_PLACEHOLDER}<file>`: substitute the file's content when deploying "
                   f"(`{', '.join(sorted(set(files)))}`),\n  or on 0.26 replace `url:` with `url_file: <file>`.\n")
    out.append("- Webhooks: put other authentication in the webhook's `http_config.authorization.credentials_file`."
               "\n")
    return "".join(out)


def routing_md(cat: Catalog) -> str:
    rs = cat.site.alerting.receivers
    quiet = "; held during the quiet hours" if cat.site.alerting.quiet_hours else ""
    return (
        "## Routing, receivers and secrets\n\n"
        "| severity | receiver | what it does |\n|---|---|---|\n"
        f"| `critical` | `page` | {', '.join(_integrations(rs.page))}; repeats every hour |\n"
        f"| `warning` | `ticket` | {', '.join(_integrations(rs.ticket))}; repeats every 12 hours{quiet} |\n"
        "| `info` | `blackhole` | nothing: shown on the boards only |\n"
        f"| `Watchdog` | `heartbeat` | {', '.join(_integrations(rs.heartbeat))} every minute: point a dead man's "
        "switch at it |\n\n"
        "Alerts are grouped by `alertname`, `platform` and `service`. Dashboard links use "
        f"`{cat.site.alerting.grafana_url}`\n(`alerting.grafana_url` in the site file).\n\n"
        + _secrets_md(cat) + "\nInhibitions (a down host or master mutes what follows from it):\n\n"
    )


def thresholds_md(cat: Catalog) -> str:
    out = ["## Thresholds\n\n",
           "Product defaults; override any of them by key under `thresholds:` in the site file (a partial map keeps "
           "the others;\n`capacity_*` come from the capacity check's `thresholds`). Each is written into the alert "
           "expressions and drawn\nas a line on the panels; `used` says whether this site's alerts read it.\n\n",
           "| key | value | unit | used | what |\n|---|---|---|---|---|\n"]
    used = {t.key for a in cat.alerts for t in a.thresholds} | {t.key for s in cat.slos for t in s.thresholds}
    for key, t in cat.thresholds.items():
        out.append(f"| `{key}` | {t} | {t.unit} | {'yes' if key in used else 'no'} | {t.help} |\n")
    return "".join(out) + "\n"


def runbooks_md(cat: Catalog, panels: dict[tuple[str, str], str]) -> str:
    out = [
        "<!-- Generated by `lookout generate` from the site file and monitoring/catalog/; do not edit by hand. -->"
        "\n\n",
        "# Runbooks\n\n",
        f"For the site `{cat.site.name}`. One section per alert: what it means, how to confirm it, how to fix "
        "it. The commands follow the platforms' own playbooks (systemd units, journald, psql, redis-cli) with "
        "the unit names of the site file. Severity decides the route: `critical` pages, `warning` opens a "
        "ticket, `info` is only shown on the boards. Each alert's `runbook_url` points at its section and its "
        "`dashboard_url` at its panel.\n\n"
        "Everything here comes from the site file and `monitoring/catalog/`: to change a threshold, override "
        "it in the site file (see Thresholds below) and run `lookout generate`; to change a `for:` or a text, "
        "edit the catalog. The generated rules, unit tests, dashboards and this file change together (the "
        "tests fail on drift). A threshold is one object: the alert expression and the panel's threshold line "
        "both come from it.\n\n",
        "| alert | severity | receiver | for | group |\n|---|---|---|---|---|\n",
    ]
    for a in cat.alerts:
        out.append(f"| [{a.name}](#{anchor(a.name)}) | {a.severity} | {cat.receiver(a)} | {a.for_} | {a.group} |\n")
    out.append("\n")
    out.append(routing_md(cat))
    out.append("".join(f"- `{r['source_matchers'][0]}` mutes `{r['target_matchers'][0]}` with equal "
                       f"`{', '.join(r['equal'])}`\n" for r in cat.inhibitions) + "\n")
    out.append(thresholds_md(cat))
    for a in cat.alerts:
        out.append(f"## {a.name}\n\n")
        out.append(f"**{a.summary}** Severity `{a.severity}`, fires after `{a.for_}`. "
                   f"[Dashboard panel]({panels[a.panel]}).\n\n")
        out.append(f"```promql\n{a.expr}\n```\n\n")
        out.append(f"**Meaning.** {a.meaning}\n\n**Confirm.** {a.confirm}\n\n**Fix.** {a.fix}\n\n")
    return "".join(out).rstrip() + "\n"
