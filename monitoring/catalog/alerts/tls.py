"""TLS endpoints from the blackbox exporter: certificate expiry and failed handshakes.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import DAY
from lookout.monitoring.model import Alert, Case, Recording, below


def recordings(k: Ctx) -> list[Recording]:
    return []


def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    return [
        Alert(
            name="TlsCertificateExpiringSoon",
            requires=("tls",),
            group="host",
            # last_over_time: an expired certificate fails the verifying probe and its expiry series vanishes;
            # the last value keeps this alert firing (TlsProbeFailed says why) instead of resolving at expiry
            expr=below("(last_over_time(probe_ssl_earliest_cert_expiry[1d]) - time()) / 86400", t.tls_expiry_days),
            severity="warning",
            summary=f"A TLS certificate expires within {t.tls_expiry_days} days.",
            description="The certificate of {{ $labels.instance }} expires in {{ $value | humanize }} days.",
            panel=(uids.OVERVIEW, "TLS certificate expiry (days)"),
            value=v.amount("days"),
            fire=Case({'probe_ssl_earliest_cert_expiry{job="blackbox_tls",instance="demo-chat:8001"}':
                  f"{5 * DAY + 600}x3 _x17"}, at="10m", value=5),  # still firing 7 minutes after the series stopped
            quiet=Case(
                {'probe_ssl_earliest_cert_expiry{job="blackbox_tls",instance="demo-chat:8001"}':
                 f"{14 * DAY + 600}x20"},
                 at="10m"),
            for_="5m",
            meaning="Let's Encrypt renews at 30 days left: 14 days left means certbot's renewal is failing.",
            confirm="`sudo certbot certificates`; `sudo systemctl list-timers | grep certbot`; certbot's log.",
            fix="`sudo certbot renew --dry-run` shows the error (DNS, port 80 blocked by the firewall, nginx config).",
        ),
        Alert(
            name="TlsProbeFailed",
            requires=("tls",),
            group="host",
            expr='probe_success{job="blackbox_tls"} == 0',
            severity="warning",
            summary="A TLS endpoint fails its handshake or certificate check.",
            description="The TLS probe of {{ $labels.instance }} has failed for 15 minutes: expired, untrusted or "
            "missing "
            "certificate, or no TLS on the port.",
            panel=(uids.OVERVIEW, "Health probes"),
            value=v.NO_VALUE,
            fire=Case({'probe_success{job="blackbox_tls",instance="demo-chat:8001",platform="chatcenter",'
                  'service="chat-api"}': "0x20"}, at="20m"),
            quiet=Case({'probe_success{job="blackbox_tls",instance="demo-chat:8001",platform="chatcenter",'
                  'service="chat-api"}': "1x20"}, at="20m"),
            for_="15m",  # longer than a certificate swap or a reload; the healthy e2e check (3 min) cannot trip it
            meaning="The blackbox exporter verifies the certificate (`insecure_skip_verify: false`): the probe fails "
            "when the certificate expired, does not match the name, is not trusted, or the port speaks no TLS. "
            "Browsers and API clients fail the same way. An expired certificate also removes the expiry series, "
            "so this alert covers what TlsCertificateExpiringSoon can no longer measure.",
            confirm="`openssl s_client -connect HOST:443 -servername HOST </dev/null | openssl x509 -noout -dates "
            "-subject`; the blackbox exporter's `/probe?module=tls_connect&target=HOST:443&debug=true`.",
            fix="Renew (`sudo certbot renew`) and reload nginx; fix the certificate chain or name; check that nginx "
            "listens with TLS on the probed port.",
        ),
    ]
