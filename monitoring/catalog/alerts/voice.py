"""The voice platform behind Nginx (first seed): 502s and 5xx from the access log, health probes.

Reads the thresholds and facts of the catalog. Publishes ``RECORDINGS`` and ``ALERTS``.
"""

from __future__ import annotations

from monitoring.catalog import uids
from monitoring.catalog.thresholds import T_VOICE_5XX_RATIO, T_VOICE_502_RATE
from monitoring.model import Alert, Case, Recording, above

_NGINX = 'nginx_http_response_count_total{job="nginx",platform="voice",service="voice-api",method="GET"'
RECORDINGS: list[Recording] = [
    Recording(
        record="platform:nginx_http_5xx:ratio_rate5m",
        group="voice-platform",
        expr='sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx",status=~"5.."}[5m]))'
        ' / sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx"}[5m]))',
        test=Case({f'{_NGINX},status="200"}}': "0+90x20", f'{_NGINX},status="502"}}': "0+10x20"},
             samples=(('platform:nginx_http_5xx:ratio_rate5m{platform="voice",service="voice-api"}', 0.1),)),
    ),
    Recording(
        record="platform:nginx_http_502:rate5m",
        group="voice-platform",
        expr='sum by (host, platform, service) (rate(nginx_http_response_count_total{job="nginx",status="502"}[5m]))',
        test=Case({f'{_NGINX},status="502"}}': "0+60x20"},
             samples=(('platform:nginx_http_502:rate5m{platform="voice",service="voice-api"}', 1),)),
    ),
]

ALERTS: list[Alert] = [
    Alert(
        name="VoiceSiteBadGateway",
        group="voice-platform",
        expr=above("platform:nginx_http_502:rate5m", T_VOICE_502_RATE),
        severity="critical",
        summary="Nginx answers 502 Bad Gateway for the voice platform.",
        description="{{ $labels.service }} returns {{ $value | humanize }} 502 responses per second: Gunicorn is "
        "down or "
        "unreachable.",
        panel=(uids.OVERVIEW, "Voice: 502 responses"),
        fire=Case({f'{_NGINX},status="502"}}': "0+6x20"}, labels={"platform": "voice", "service": "voice-api"},
             value=0.1),
        quiet=Case({f'{_NGINX},status="502"}}': "0+3x20"}),
        for_="1m",
        meaning="Playbook incident 1: nginx cannot reach Gunicorn on port 5002 (master down, all workers busy "
        "or dead, socket gone). Customers see the 502 page.",
        confirm="`systemctl status api.service`; `journalctl -u api.service -n 100`; `lsof -i :5002` should "
        "show gunicorn; `ps aux | grep gunicorn | wc -l` should print 5 (1 master + 4 workers).",
        fix="Check the logs first, then `sudo systemctl restart api.service` (or the platform's "
        "`restart_all.sh`); verify with `curl` + status + logs and write an incident note.",
    ),
    Alert(
        name="VoiceHttp5xxRateHigh",
        group="voice-platform",
        expr=above("platform:nginx_http_5xx:ratio_rate5m", T_VOICE_5XX_RATIO),
        severity="warning",
        summary="Too many voice platform requests fail with 5xx.",
        description="{{ $value | humanizePercentage }} of {{ $labels.service }} requests answered 5xx over 5 minutes.",
        panel=(uids.OVERVIEW, "Voice: 5xx share"),
        fire=Case({f'{_NGINX},status="200"}}': "0+90x20", f'{_NGINX},status="500"}}': "0+10x20"},
             labels={"platform": "voice", "service": "voice-api"}, value=0.1),
        quiet=Case({f'{_NGINX},status="200"}}': "0+96x20", f'{_NGINX},status="500"}}': "0+4x20"}),
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
        group="voice-platform",
        expr='probe_success{job="blackbox_http",service!="mcp-server"} == 0',
        severity="critical",
        summary="A platform health endpoint fails its HTTP probe.",
        description="{{ $labels.service }} health check {{ $labels.instance }} has failed for 1 minute.",
        panel=(uids.OVERVIEW, "Health probes"),
        fire=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5002/health",platform="voice",'
              'service="voice-api"}': "0x10"}),
        quiet=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5002/health",platform="voice",'
              'service="voice-api"}': "1x10"}),
        for_="1m",
        meaning="The blackbox exporter cannot get a 2xx from a `/health` endpoint: the voice API (5002), the "
        "chat API (8001/api/health). The MCP tool server (5556) has its own alert, McpServerDown.",
        confirm="`curl -sv URL` from the Prometheus host; `systemctl status` of the service behind it.",
        fix="Restart the service after reading its journal; if the port is open but slow, see the worker "
        "pool board (all workers busy, listen queue).",
    ),
    Alert(
        name="McpServerDown",
        group="voice-platform",
        expr='probe_success{job="blackbox_http",service="mcp-server"} == 0',
        severity="critical",
        summary="The MCP tool server does not answer its health check.",
        description="MCP tool server {{ $labels.instance }} has failed its health probe for 1 minute: agents cannot "
        "call tools.",
        panel=(uids.OVERVIEW, "Health probes"),
        fire=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
              'service="mcp-server"}': "0x10"}),
        quiet=Case({'probe_success{job="blackbox_http",instance="http://demo-voice:5556/health",platform="voice",'
              'service="mcp-server"}': "1x10"}),
        for_="1m",
        meaning="Playbook incident 5: agents stop calling tools because the MCP server (port 5556) is down.",
        confirm="`curl http://localhost:5556/health`; `systemctl status mcp-server.service`; "
        "`journalctl -u mcp-server.service -n 100`.",
        fix="`sudo systemctl restart mcp-server.service` after reading the journal; if healthy but agents still "
        "do not call tools, check the agent's tool configuration at ElevenLabs.",
    ),
]
