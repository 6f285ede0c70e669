"""Starts and stops the whole stack natively, and answers questions about it (for the e2e tests).

Starts, each on a free 127.0.0.1 port and logging into the run directory: PostgreSQL and Redis (unless
URLs are given), the demo (``python -m demo up``), our exporter (``python -m exporters run`` with
``deploy/compose/exporters.yaml``, addresses and intervals given as environment variables), Debian's
node/postgres/redis/blackbox exporters, the Nginx access-log stand-in when available (the same Nginx serves
the demo chat API over HTTPS with a self-signed certificate made at start, for the blackbox_tls probe), the
stand-in pager (``stack.receiver``), two clustered ``prometheus-alertmanager`` and ``prometheus``, with the
repository's configuration rewritten by ``stack.render`` (addresses only, plus shortened intervals when
asked).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml

from stack import render
from stack.procs import Proc, free_port, port_open, wait_until
from stack.receiver import Recorder
from stack.servers import Postgres, Redis

ROOT = render.ROOT
PY = sys.executable
DEMO_SECRETS = ROOT / "deploy" / "compose" / "demo-secrets"
CLOSED_PORT = "127.0.0.1:9"  # discard: privileged, nothing listens there


@dataclass
class Options:
    run_dir: Path | None = None
    pg_url: str | None = None  # server URL (any database); voice and chatcenter databases are created on it
    redis_url: str | None = None
    demo: bool = True
    demo_args: list[str] = field(default_factory=list)
    exporters_config: Path = ROOT / "deploy" / "compose" / "exporters.yaml"
    exporters_env: dict[str, str] = field(default_factory=dict)  # e.g. interval overrides
    prometheus_config: Path = ROOT / "prometheus" / "prometheus.yml"
    alertmanager_config: Path = ROOT / "alertmanager" / "alertmanager.yml"
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    alertmanager_timers: dict[str, str] | None = None
    pg_max_connections: int = 100
    start_timeout: float = 120.0
    # run the demo and our exporter in a private PID namespace (root only), so that the worker-pool
    # collector sees this demo's Gunicorn/Uvicorn/Celery and not those of other demos on the host
    isolate_pids: bool = True


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/bin") / name, Path("/usr/sbin") / name)
                                       if p.exists()), None)


def _http_ok(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url, timeout=2).status_code < 500
    return False


class Stack:
    def __init__(self, opts: Options | None = None):
        self.opts = opts or Options()
        self.own_run_dir = self.opts.run_dir is None
        self.run_dir = Path(self.opts.run_dir or tempfile.mkdtemp(prefix="lookout-stack-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o755)  # PostgreSQL runs as user postgres when we are root
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}
        self.addresses: dict[str, str] = {}
        self.notes: list[str] = []  # what the native stack does differently from compose
        self.pg: Postgres | None = None
        self.redis: Redis | None = None
        self.recorder: Recorder | None = None
        self.pg_url = self.opts.pg_url
        self.redis_url = self.opts.redis_url
        self.voice_db = self.chat_db = ""
        self.prometheus_conf: dict[str, Any] = {}
        self.alertmanager_conf: dict[str, Any] = {}
        self._ns_pid: int | None = None  # init of the private PID namespace, when isolating
        self.tls_cert: Path | None = None  # the demo chat API's self-signed certificate, when served over HTTPS
        self.extra_targets: dict[str, list[dict[str, Any]]] = {}  # static configs only the native stack has

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _proc(self, name: str, argv: list[str], env: dict[str, str] | None = None, isolated: bool = False) -> Proc:
        if isolated and self._ns_pid:
            argv = ["nsenter", "-t", str(self._ns_pid), "-p", "-m", "--", *argv]
        p = Proc(name, argv, self.run_dir / "logs" / f"{name}.log", env or {}, cwd=ROOT)
        self.procs[name] = p
        p.start()
        return p

    def _port(self, name: str) -> int:
        self.ports[name] = free_port()
        return self.ports[name]

    def start(self) -> None:
        t0 = time.monotonic()
        self._start_datastores()
        if self.opts.isolate_pids:
            self._start_pid_namespace()
        if self.opts.demo:
            for k in ("voice", "mcp", "chat", "control", "marketplace", "deepseek", "elevenlabs"):
                self._port(f"demo-{k}")
            self._start_nginx()
            self._start_demo()
        self._start_exporters()
        self._start_standard_exporters()
        self._start_alerting()
        self._start_prometheus()
        self.started_in = time.monotonic() - t0

    def stop(self) -> None:
        # reverse order: Prometheus first, so nothing fires while the sources go away
        for name in reversed(list(self.procs)):
            self.procs[name].stop()
        if self.recorder:
            self.recorder.stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.stop()
        if self.own_run_dir and not os.environ.get("LOOKOUT_STACK_KEEP"):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ---- components -------------------------------------------------------------------------------
    def _start_pid_namespace(self) -> None:
        unshare, nsenter = _which("unshare"), _which("nsenter")
        if os.geteuid() != 0 or not (unshare and nsenter):
            self.notes.append("no private PID namespace (needs root, unshare, nsenter): the worker-pool collector "
                              "also sees other Gunicorn/Uvicorn/Celery masters matching its `match`")
            return
        # PID 1 of the namespace reaps orphans (killed masters leave workers behind); when it exits the
        # kernel kills everything left in the namespace
        init = ("import os, signal, sys, time\n"
                "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
                "while True:\n"
                "    try:\n        os.wait()\n"
                "    except ChildProcessError:\n        time.sleep(0.5)\n")
        holder = self._proc("pid-namespace", [unshare, "--pid", "--fork", "--mount-proc", PY, "-c", init])
        children = Path(f"/proc/{holder.popen.pid}/task/{holder.popen.pid}/children")  # type: ignore[union-attr]
        pid = wait_until(lambda: children.exists() and children.read_text().split(), 10, "the PID namespace",
                         [holder], interval=0.05)
        self._ns_pid = int(pid[0])

    def _start_datastores(self) -> None:
        if not self.pg_url:
            self.pg = Postgres(self.run_dir / "postgres", self.opts.pg_max_connections)
            self.pg.start()
            self.pg_url = self.pg.url
        if not self.redis_url:
            self.redis = Redis(self.run_dir / "redis")
            self.redis.start()
            self.redis_url = self.redis.url
        self.voice_db = self._create_db("voice")
        self.chat_db = self._create_db("chatcenter")

    def _create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True, connect_timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        return urlunsplit(urlsplit(self.pg_url or "")._replace(path=f"/{name}"))

    def _start_demo(self) -> None:
        ports = {k.removeprefix("demo-"): p for k, p in self.ports.items() if k.startswith("demo-")}
        argv = [PY, "-m", "demo", "up", "--voice-pg-url", self.voice_db, "--chat-pg-url", self.chat_db,
                "--pg-url", self.voice_db, "--redis-url", self.redis_url or "",
                "--run-dir", str(self.run_dir / "demo")]
        for k in ("voice", "mcp", "chat", "control", "marketplace", "deepseek", "elevenlabs"):
            argv += [f"--{k}-port", str(ports[k])]
        if "nginx" in self.ports:
            # calls reach the voice app through Nginx, so its access log sees them (and answers 502)
            argv += ["--voice-url", f"http://127.0.0.1:{self.ports['nginx']}"]
        argv += self.opts.demo_args
        demo = self._proc("demo", argv, isolated=True)
        self.addresses.update({
            "demo-voice:5002": f"127.0.0.1:{ports['voice']}",
            "demo-voice:5556": f"127.0.0.1:{ports['mcp']}",
            "demo-chat:8001": f"127.0.0.1:{ports['chat']}",
        })
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{ports['voice']}/health")
                   and _http_ok(f"http://127.0.0.1:{ports['chat']}/api/health")
                   and _http_ok(f"http://127.0.0.1:{ports['mcp']}/health"),
                   self.opts.start_timeout, "the demo's voice, MCP and chat servers", [demo], interval=0.5)

    def exporter_env(self) -> dict[str, str]:
        """Environment for deploy/compose/exporters.yaml: the addresses of this stack's sources."""
        p = self.ports
        env = {
            "VOICE_DATABASE_URL": self.voice_db,
            "CHATCENTER_DATABASE_URL": self.chat_db,
            "CELERY_BROKER_URL": self.redis_url or "",
            "VOICE_HTTP_PORT": str(p.get("demo-voice", 5002)),
            "CHAT_HTTP_PORT": str(p.get("demo-chat", 8001)),
            "DEEPSEEK_API_URL": f"http://127.0.0.1:{p['demo-deepseek']}" if "demo-deepseek" in p else "",
            "ELEVENLABS_API_URL": f"http://127.0.0.1:{p['demo-elevenlabs']}" if "demo-elevenlabs" in p else "",
            "DEEPSEEK_API_KEY_FILE": self._private_secret("deepseek_api_key"),
            "ELEVENLABS_API_KEY_FILE": self._private_secret("elevenlabs_api_key"),
            "WB_FEEDBACKS_TOKEN_FILE": str(DEMO_SECRETS / "wb_token"),
        }
        env.update(self.opts.exporters_env)
        return env

    def _private_secret(self, name: str) -> str:
        """A copy of a demo secret only its owner reads: the exporter refuses world-readable secret files."""
        target = self.run_dir / "secrets" / name
        target.parent.mkdir(mode=0o700, exist_ok=True)
        target.write_bytes((DEMO_SECRETS / name).read_bytes())
        target.chmod(0o600)
        return str(target)

    def _exporters_config(self) -> Path:
        """The configuration as given, minus the collectors whose source does not exist here."""
        conf = yaml.safe_load(self.opts.exporters_config.read_text())
        collectors = conf.get("collectors", {})
        docker_sock = Path("/var/run/docker.sock")
        if "containers" in collectors and not (docker_sock.exists() or os.environ.get("DOCKER_HOST")):
            collectors["containers"]["enabled"] = False
            self.notes.append("containers collector disabled: no Docker engine (the native stack runs no containers)")
            return render.dump(conf, self.run_dir / "exporters.yaml")
        return self.opts.exporters_config

    def _start_exporters(self) -> None:
        port = self._port("exporters")
        config = self._exporters_config()
        proc = self._proc("exporters", [PY, "-m", "exporters", "run", "--config", str(config),
                                        "--listen", f"127.0.0.1:{port}"], self.exporter_env(), isolated=True)
        self.addresses["exporters:9808"] = f"127.0.0.1:{port}"
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "our exporter's /healthz", [proc])

    def _start_standard_exporters(self) -> None:
        started: list[tuple[Proc, int, str]] = []
        node = _which("prometheus-node-exporter")
        if node:
            port = self._port("node-exporter")
            started.append((self._proc("node-exporter", [node, f"--web.listen-address=127.0.0.1:{port}"]), port,
                            "/metrics"))
            self.addresses["node-exporter:9100"] = f"127.0.0.1:{port}"
        pgx = _which("prometheus-postgres-exporter")
        if pgx:
            port = self._port("postgres-exporter")
            dsn = self.pg_url + ("&" if "?" in (self.pg_url or "") else "?") + "sslmode=disable"
            started.append((self._proc("postgres-exporter", [pgx, f"--web.listen-address=127.0.0.1:{port}"],
                                       {"DATA_SOURCE_NAME": dsn}), port, "/metrics"))
            self.addresses["postgres-exporter:9187"] = f"127.0.0.1:{port}"
        rx = _which("prometheus-redis-exporter")
        if rx:
            port = self._port("redis-exporter")
            started.append((self._proc("redis-exporter", [rx, f"-redis.addr={self.redis_url}",
                                                          f"-web.listen-address=127.0.0.1:{port}"]), port, "/metrics"))
            self.addresses["redis-exporter:9121"] = f"127.0.0.1:{port}"
        bb = _which("prometheus-blackbox-exporter")
        if bb:
            port = self._port("blackbox-exporter")
            started.append((self._proc("blackbox-exporter", [
                bb, f"--config.file={self._blackbox_config()}",
                f"--web.listen-address=127.0.0.1:{port}"]), port, "/metrics"))
            self.addresses["blackbox-exporter:9115"] = f"127.0.0.1:{port}"
        for proc, port, path in started:
            wait_until(lambda port=port, path=path: _http_ok(f"http://127.0.0.1:{port}{path}"), 30,
                       f"{proc.name} on {port}", [proc])

    def _blackbox_config(self) -> Path:
        """deploy/compose/blackbox.yml, its TLS module trusting the demo's self-signed certificate.

        The certificate is added as the module's CA (``ca_file``) rather than skipping verification, so the
        probe verifies the chain and the name as it does against a real platform, and reads the expiry.
        """
        src = ROOT / "deploy" / "compose" / "blackbox.yml"
        if not self.tls_cert:
            return src
        conf = yaml.safe_load(src.read_text())
        conf["modules"]["tls_connect"]["tcp"].setdefault("tls_config", {})["ca_file"] = str(self.tls_cert)
        return render.dump(conf, self.run_dir / "blackbox.yml")

    def _self_signed_certificate(self) -> tuple[Path, Path] | None:
        """A 90-day self-signed certificate for 127.0.0.1 (and the compose name demo-chat), via the openssl CLI."""
        openssl = _which("openssl")
        if not openssl:
            self.notes.append("openssl not installed: the demo chat API has no HTTPS, blackbox_tls finds no "
                              "certificate")
            return None
        d = self.run_dir / "tls"
        d.mkdir(parents=True, exist_ok=True)
        cert, key = d / "demo-chat.crt", d / "demo-chat.key"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90",
                        "-subj", "/CN=demo-chat", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:demo-chat",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
        return cert, key

    def _tls_server(self) -> str:
        """The Nginx server block terminating HTTPS for the demo chat API (empty without a certificate)."""
        pair = self._self_signed_certificate()
        if not pair:
            return ""
        self.tls_cert, key = pair
        port, chat = self._port("demo-chat-tls"), self.ports["demo-chat"]
        from monitoring import catalog  # the repository's catalog; imported here, where only the native stack needs it

        # the generated configuration has no TLS target (the compose demo serves no HTTPS): add this one, with the
        # labels the chat API's other targets carry
        self.extra_targets["blackbox_tls"] = [{"targets": [f"127.0.0.1:{port}"], "labels": {
            "platform": "chatcenter", "host": catalog.HOST, "service": "chat-api"}}]
        self.notes.append("blackbox_tls probes the demo chat API over HTTPS (Nginx, self-signed certificate made "
                          "at start and trusted by the probe's tls_connect module as its CA)")
        return f"""
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {self.tls_cert};
    ssl_certificate_key {key};
    access_log off;
    location / {{ proxy_pass http://127.0.0.1:{chat}; }}
  }}"""

    def _start_nginx(self) -> None:
        """The voice platform's Nginx, and mtail standing in for the access-log exporter."""
        nginx, mtail = _which("nginx"), _which("mtail")
        if not (nginx and mtail):
            self.notes.append("nginx/mtail not installed (scripts/install-deps): no `nginx` target, the voice "
                              "traffic goes straight to Gunicorn, and the chat API has no HTTPS for blackbox_tls")
            return
        d = self.run_dir / "nginx"
        for sub in ("tmp", "logs"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        access = d / "logs" / "access.log"
        access.touch()
        port, voice = self._port("nginx"), self.ports["demo-voice"]
        # the log format of deploy/compose/demo-nginx.conf, which nginxlog.yml and nginx.mtail parse
        log_format = re.search(r"log_format lookout (.*?);", (ROOT / "deploy/compose/demo-nginx.conf").read_text(),
                               re.S).group(1)
        temp = " ".join(f"{k}_temp_path {d / 'tmp' / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                      "scgi"))
        (d / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {d / 'nginx.pid'};
error_log {d / 'logs' / 'error.log'} warn;
events {{ worker_connections 256; }}
http {{
  {temp}
  log_format lookout {log_format};
  access_log {access} lookout;
  server {{
    listen 127.0.0.1:{port};
    location = /nginx-health {{ access_log off; return 200 "ok"; }}
    location / {{
      proxy_pass http://127.0.0.1:{voice};
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }}
  }}{self._tls_server()}
}}
""")
        n = self._proc("nginx", [nginx, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "logs" / "error.log")])
        mport = self._port("nginx-log-exporter")
        m = self._proc("nginx-log-exporter", [
            mtail, "-progs", str(ROOT / "stack" / "data"), "-logs", str(access), "-address", "127.0.0.1",
            "-port", str(mport), "-emit_prog_label=false", "-logtostderr"])
        self.addresses["nginx-log-exporter:4040"] = f"127.0.0.1:{mport}"
        self.addresses["demo-nginx:8080"] = f"127.0.0.1:{port}"
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/nginx-health"), 30, "nginx", [n])
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{mport}/metrics"), 30, "mtail", [m])
        self.notes.append("nginx-log-exporter: Debian has no prometheus-nginxlog-exporter; mtail (Debian) reads "
                          "the access log of a real Nginx in front of the demo's Gunicorn and exports the same "
                          "nginx_http_response_count_total{method,status}")

    def _start_alerting(self) -> None:
        self.recorder = Recorder(known_alerts=self.alert_names())
        self.recorder.start()
        am = _which("prometheus-alertmanager")
        if not am:
            raise FileNotFoundError("prometheus-alertmanager not found: run scripts/install-deps")
        web = [self._port("alertmanager-1"), self._port("alertmanager-2")]
        gossip = [free_port(), free_port()]
        self.addresses["alertmanager-1:9093"] = f"127.0.0.1:{web[0]}"
        self.addresses["alertmanager-2:9093"] = f"127.0.0.1:{web[1]}"
        self.alertmanager_source = self.opts.alertmanager_config.read_text()
        self.alertmanager_conf = render.render_alertmanager(
            self.opts.alertmanager_config, self.addresses, pager_url=self.recorder.url,
            secrets_dir=self.run_dir / "secrets", timers=self.opts.alertmanager_timers)
        path = render.dump(self.alertmanager_conf, self.run_dir / "alertmanager" / "alertmanager.yml")
        procs = []
        for i in (0, 1):
            name = f"alertmanager-{i + 1}"
            procs.append(self._proc(name, [
                am, f"--config.file={path}", f"--storage.path={self.run_dir / name}",
                f"--web.listen-address=127.0.0.1:{web[i]}",
                f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.advertise-address=127.0.0.1:{gossip[i]}",
                f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                # a two-member cluster on one host settles in a second: don't wait the default minute
                "--cluster.settle-timeout=5s", "--cluster.pushpull-interval=10s", "--cluster.gossip-interval=100ms",
            ]))
        for i, p in enumerate(procs):
            wait_until(lambda i=i: _http_ok(f"http://127.0.0.1:{web[i]}/-/ready"), 30, p.name, [p])

    def _start_prometheus(self) -> None:
        prom = _which("prometheus")
        if not prom:
            raise FileNotFoundError("prometheus not found: run scripts/install-deps")
        port = self._port("prometheus")
        self.addresses["prometheus:9090"] = f"127.0.0.1:{port}"
        self.prometheus_source = self.opts.prometheus_config.read_text()
        unmapped = render.unmapped_addresses(render.rewrite_addresses(
            yaml.safe_load(self.opts.prometheus_config.read_text()), self.addresses), self.addresses)
        if unmapped:
            # never let Prometheus resolve a compose name through DNS: point it at a closed loopback port
            self.addresses.update({a: CLOSED_PORT for a in unmapped})
            self.notes.append(f"no native counterpart, scraped as down: {', '.join(sorted(unmapped))}")
        self.prometheus_conf = render.render_prometheus(
            self.opts.prometheus_config, self.addresses, scrape_interval=self.opts.scrape_interval,
            evaluation_interval=self.opts.evaluation_interval, extra_targets=self.extra_targets)
        path = render.dump(self.prometheus_conf, self.run_dir / "prometheus" / "prometheus.yml")
        argv = [prom, f"--config.file={path}", f"--storage.tsdb.path={self.run_dir / 'prometheus' / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"]
        if self.opts.evaluation_interval:
            # alerts evaluated before the Alertmanagers are discovered are dropped, then resent only after
            # this delay (default 1m): keep it in step with the shortened evaluation interval
            argv.append(f"--rules.alert.resend-delay={self.opts.evaluation_interval}")
        p = self._proc("prometheus", argv)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/-/ready"), 60, "prometheus", [p])

    # ---- questions --------------------------------------------------------------------------------
    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def alertmanager_url(self, i: int = 1) -> str:
        return f"http://127.0.0.1:{self.ports[f'alertmanager-{i}']}"

    def alert_rules(self) -> dict[str, dict[str, Any]]:
        """alertname -> rule (first one seen), from the rule files Prometheus loads."""
        conf = self.prometheus_conf or render.render_prometheus(self.opts.prometheus_config, {})
        out: dict[str, dict[str, Any]] = {}
        for f in render.rule_files(conf):
            for g in (yaml.safe_load(f.read_text()) or {}).get("groups", []):
                for r in g.get("rules", []):
                    if "alert" in r:
                        out.setdefault(r["alert"], {**r, "_group_interval": g.get("interval")})
        return out

    def alert_names(self) -> set[str]:
        if not self.opts.prometheus_config.exists():
            return set()
        return set(self.alert_rules())

    def api(self, path: str, **params: Any) -> Any:
        r = requests.get(self.prometheus_url + path, params=params, timeout=10)
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("/api/v1/query", query=expr)["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self.api("/api/v1/targets", state="active")["activeTargets"]

    def firing(self) -> dict[str, list[dict[str, Any]]]:
        """alertname -> alerts in state firing, as Prometheus sees them."""
        out: dict[str, list[dict[str, Any]]] = {}
        for a in self.api("/api/v1/alerts")["alerts"]:
            if a["state"] == "firing":
                out.setdefault(a["labels"]["alertname"], []).append(a)
        return out

    def pending_or_firing(self) -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in self.api("/api/v1/alerts")["alerts"]}

    def fault(self, name: str, on: bool, value: float | None = None) -> subprocess.CompletedProcess[str]:
        argv = [PY, "-m", "demo", "fault", name, "on" if on else "off",
                "--control-port", str(self.ports["demo-control"])]
        if value is not None and on:
            argv += ["--value", str(value)]
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"demo fault {name} {'on' if on else 'off'}: {r.stdout}{r.stderr}")
        return r

    def describe(self) -> dict[str, Any]:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        if self.recorder:
            urls["pager (stand-in)"] = self.recorder.url + "/notifications"
        return {"run_dir": str(self.run_dir), "urls": urls, "postgres": self.pg_url, "redis": self.redis_url,
                "notes": self.notes}

    def dump_describe(self) -> str:
        return json.dumps(self.describe(), indent=2)


def port_in_use(port: int) -> bool:
    return port_open(port)
