"""The voice platform behind Nginx (first seed): 502s and 5xx from the access log, health probes.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import num
from lookout.monitoring.model import Alert, Case, Recording, above

_NGINX = 'nginx_http_response_count_total{job="nginx",platform="voice",service="voice-api",method="GET"'
def recordings(k: Ctx) -> list[Recording]:
    return [
        Recording(
            record="platform:nginx_http_5xx:ratio_rate5m",
            requires=("nginx",),
            group="voice-platform",
            expr='sum by (host, platform, service) '
            '(rate(nginx_http_response_count_total{job="nginx",status=~"5.."}[5m]))'
            ' / sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx"}[5m]))',
            test=Case({f'{_NGINX},status="200"}}': "0+90x20", f'{_NGINX},status="502"}}': "0+10x20"},
                 samples=(('platform:nginx_http_5xx:ratio_rate5m{platform="voice",service="voice-api"}', 0.1),)),
        ),
        Recording(
            record="platform:nginx_http_502:rate5m",
            requires=("nginx",),
            group="voice-platform",
            expr='sum by (host, platform, service) '
            '(rate(nginx_http_response_count_total{job="nginx",status="502"}[5m]))',
            test=Case({f'{_NGINX},status="502"}}': "0+60x20"},
                 samples=(('platform:nginx_http_502:rate5m{platform="voice",service="voice-api"}', 1),)),
        ),
    ]

def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    mcp = ',service!="mcp-server"' if k.has("mcp") else ""  # the MCP server has its own alert
    r502 = float(t.voice_502_rate.value)
    bad, ok = min(99.0, 200 * float(t.voice_5xx_ratio.value)), 100 * float(t.voice_5xx_ratio.value)  # per 100
    behind = k.first("gunicorn", "uvicorn", "http", nginx=True)
    server = behind.kind if behind is not None and behind.kind != "http" else "gunicorn"
    unit = behind.unit if behind is not None and behind.unit else "<unit>"
    port = behind.port if behind is not None and behind.port else "<port>"
    workers = behind.workers if behind is not None else None
    m = next((x for x in k.site.services if x.name == "mcp-server" and x.health_url), None)
    mcp_url = m.health_url if m else "<health url>"
    mcp_unit = m.unit if m and m.unit else "<unit>"
    mcp_port = m.port if m and m.port else "<port>"
    probed = next((x for x in k.site.services if x.health_url and x.name != "mcp-server"), None)
    probe = ('probe_success{job="blackbox_http",instance="http://demo-voice:5002/health",platform="voice",'
             'service="voice-api"}' if probed is None else
             f'probe_success{{job="blackbox_http",instance="{probed.health_url}",platform="{probed.platform}",'
             f'service="{probed.name}"}}')
    return [
        Alert(
            name="VoiceSiteBadGateway",
            requires=("nginx",),
            group="voice-platform",
            expr=above("platform:nginx_http_502:rate5m", t.voice_502_rate),
            severity="critical",
            summary="Nginx answers 502 Bad Gateway for the voice platform.",
            description="{{ $labels.service }} returns {{ $value | humanize }} 502 responses per second: Gunicorn is "
            "down or "
            "unreachable.",
            panel=(uids.OVERVIEW, "Voice: 502 responses"),
            value=v.amount("502 responses/s"),
            fire=Case({f'{_NGINX},status="502"}}': f"0+{num(2 * r502 * 60)}x20"},
                      labels={"platform": "voice", "service": "voice-api"}, value=2 * r502),
            quiet=Case({f'{_NGINX},status="502"}}': f"0+{num(r502 * 60 * 0.9)}x20"}),  # float rates: just under
            for_="1m",
            meaning=f"Playbook incident 1: nginx cannot reach {server.capitalize()} on port {port} (master down, "
            "all workers busy or dead, socket gone). Customers see the 502 page.",
            confirm=f"`systemctl status {unit}`; `journalctl -u {unit} -n 100`; `lsof -i :{port}` should "
            f"show {server}" + (f"; `ps aux | grep {server} | wc -l` should print {workers + 1} (1 master + {workers} "
                                "workers)." if workers else "."),
            fix=f"Check the logs first, then `sudo systemctl restart {unit}` (or the platform's "
            "`restart_all.sh`); verify with `curl` + status + logs and write an incident note.",
        ),
        Alert(
            name="VoiceHttp5xxRateHigh",
            requires=("nginx",),
            group="voice-platform",
            expr=above("platform:nginx_http_5xx:ratio_rate5m", t.voice_5xx_ratio),
            severity="warning",
            summary="Too many voice platform requests fail with 5xx.",
            description="{{ $value | humanizePercentage }} of {{ $labels.service }} requests answered 5xx over 5 "
            "minutes.",
            panel=(uids.OVERVIEW, "Voice: 5xx share"),
            value=v.ratio("of requests answered 5xx"),
            fire=Case({f'{_NGINX},status="200"}}': f"0+{num(100 - bad)}x20",
                       f'{_NGINX},status="500"}}': f"0+{num(bad)}x20"},
                      labels={"platform": "voice", "service": "voice-api"}, value=bad / 100),
            quiet=Case({f'{_NGINX},status="200"}}': f"0+{num(101 - ok)}x20",
                        f'{_NGINX},status="500"}}': f"0+{num(ok - 1)}x20"}),
            for_="5m",
            meaning="Playbook incident 2: Flask raises (500) or Gunicorn times out (502/504) on a share of "
            "requests above the threshold.",
            confirm="`tail -n 200 /var/log/<app>/gunicorn-error.log | grep -i 'error\\|exception\\|traceback'` "
            "(your Gunicorn error log); nginx `error.log`.",
            fix="On `ModuleNotFoundError`: reinstall requirements in the venv and restart the service. Otherwise "
            "roll back the last deploy or fix the exception; restart with the platform's restart script.",
        ),
        Alert(
            name="ServiceProbeFailed",
            requires=("probes",),
            group="probes",
            expr=f'probe_success{{job="blackbox_http"{mcp}}} == 0',
            severity="critical",
            summary="A platform health endpoint fails its HTTP probe.",
            description="{{ $labels.service }} health check {{ $labels.instance }} has failed for 1 minute.",
            panel=(uids.OVERVIEW, "Health probes"),
            value=v.NO_VALUE,
            fire=Case({probe: "0x10"}),
            quiet=Case({probe: "1x10"}),
            for_="1m",
            meaning="The blackbox exporter cannot get a 2xx from a health endpoint: "
            + ", ".join(f"{x.name} (`{x.health_url}`)" for x in k.site.services
                        if x.health_url and not (k.has("mcp") and x.name == "mcp-server"))
            + (". The MCP tool server has its own alert, McpServerDown." if k.has("mcp") else "."),
            confirm="`curl -sv URL` from the Prometheus host; `systemctl status` of the service behind it.",
            fix="Restart the service after reading its journal; if the port is open but slow, see the worker "
            "pool board (all workers busy, listen queue).",
        ),
        Alert(
            name="McpServerDown",
            requires=("mcp",),
            group="voice-platform",
            expr='probe_success{job="blackbox_http",service="mcp-server"} == 0',
            severity="critical",
            summary="The MCP tool server does not answer its health check.",
            description="MCP tool server {{ $labels.instance }} has failed its health probe for 1 minute: agents "
            "cannot "
            "call tools.",
            panel=(uids.OVERVIEW, "Health probes"),
            value=v.NO_VALUE,
            fire=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
                  'service="mcp-server"}': "0x10"}),
            quiet=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
                  'service="mcp-server"}': "1x10"}),
            for_="1m",
            meaning=f"Playbook incident 5: agents stop calling tools because the MCP server (port {mcp_port}) is "
            "down.",
            confirm=f"`curl {mcp_url}`; `systemctl status {mcp_unit}`; `journalctl -u {mcp_unit} -n 100`.",
            fix=f"`sudo systemctl restart {mcp_unit}` after reading the journal; if healthy but agents still "
            "do not call tools, check the agent's tool configuration at ElevenLabs.",
        ),
    ]
