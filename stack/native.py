"""Starts and stops the whole stack natively, and answers questions about it (for the e2e tests).

Reads a site file (``examples/demo.yaml`` by default). Starts, each on a free 127.0.0.1 port and logging
into the run directory: with the demo, PostgreSQL and Redis (unless URLs are given), the demo (``python -m
demo up``) and its Nginx with the access-log stand-in (the same Nginx serves the demo chat API over HTTPS
with a self-signed certificate made at start, for the blackbox_tls probe); then our exporter, Debian's
node/postgres/redis/blackbox exporters, the stand-in pager (``lookout.stack.receiver``) and Grafana
(``lookout.stack.boards``: the runbook and dashboard links), two clustered
``prometheus-alertmanager`` and ``prometheus``. Their configuration is what ``lookout generate`` writes for
the site with this machine's addresses (``lookout.stack.native_site``), into ``<run dir>/generated``, used as is
(GOGC from its lookout.env, as the systemd drop-ins and compose read it);
only the Alertmanager timers may be shortened for tests.
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

from lookout.monitoring import build, store
from lookout.monitoring.site import Site, SiteError, load_site
from lookout.monitoring.sitebind import FileRef
from lookout.stack.boards import Boards
from lookout.stack.native_site import CLOSED_PORT, Local, localize, with_ha
from lookout.stack.procs import Proc, free_port, wait_until
from lookout.stack.receiver import Recorder
from lookout.stack.servers import Postgres, Redis

ROOT = build.ROOT
PY = sys.executable
DEMO_SECRETS = ROOT / "deploy" / "compose" / "demo-secrets"
DEMO_SITE = ROOT / "examples" / "demo.yaml"
HA_SITE = ROOT / "examples" / "ha.yaml"  # the demo's platforms, watched by an HA pair and a long-term store
STORES = ("victoriametrics",)


@dataclass
class Options:
    run_dir: Path | None = None
    pg_url: str | None = None  # server URL (any database); voice and chatcenter databases are created on it
    redis_url: str | None = None
    site: Path = DEMO_SITE  # what runs: its generated files are used as they are
    demo: bool = True
    demo_args: list[str] = field(default_factory=list)
    exporters_env: dict[str, str] = field(default_factory=dict)  # the ${VAR}s the site's DSNs and keys name
    scrape_interval: str | None = None
    evaluation_interval: str | None = None
    alertmanager_timers: dict[str, str] | None = None
    # test speed knobs, applied to the site before generation (lookout.stack.native_site)
    exporter_intervals: dict[str, str] = field(default_factory=dict)  # collector -> refresh interval
    beat_speed: float = 1.0  # the demo's --speed: the exporter's view of the beat schedule compresses with it
    check_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # collector -> settings merged in
    pg_max_connections: int = 100
    start_timeout: float = 120.0
    # run the demo and our exporter in a private PID namespace (root only), so that the worker-pool
    # collector sees this demo's Gunicorn/Uvicorn/Celery and not those of other demos on the host
    isolate_pids: bool = True
    # scale-out (docs/scaling.md): an HA pair of Prometheus replicas, and the long-term store they write to
    ha: bool = False
    store: str | None = None
    ruler_for: dict[str, str] = field(default_factory=dict)  # test speed: alertname -> vmalert `for`, on a copy
    admin_api: bool = False  # bench: Prometheus' TSDB snapshot API (the head written as a block, to size it)
    # bench: False runs Prometheus and the Alertmanagers at Go's default GOGC instead of the site's
    # (monitoring.gogc), the baseline bench/bench_cost.py compares with
    site_gogc: bool = True


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
        self.notes: list[str] = []  # what the native stack does differently from compose
        self.pg: Postgres | None = None
        self.redis: Redis | None = None
        self.recorder: Recorder | None = None
        self.boards: Boards | None = None  # the stand-in Grafana the links in notifications open
        self.pg_url = self.opts.pg_url
        self.redis_url = self.opts.redis_url
        self.voice_db = self.chat_db = ""
        self.prometheus_conf: dict[str, Any] = {}
        self.alertmanager_conf: dict[str, Any] = {}
        self._ns_pid: int | None = None  # init of the private PID namespace, when isolating
        self.tls_cert: Path | None = None  # the demo chat API's self-signed certificate, when served over HTTPS
        self.site: Site | None = None  # the site as it runs here (lookout.stack.native_site)
        self.generated = self.run_dir / "generated"  # what `lookout generate` writes for it

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

    def _proc(self, name: str, argv: list[str], env: dict[str, str] | None = None, isolated: bool = False,
              cwd: Path = ROOT) -> Proc:
        if isolated and self._ns_pid:
            argv = ["nsenter", "-t", str(self._ns_pid), "-p", "-m", "--", *argv]
        # temporary files in the run folder: what a killed process leaves (pymp-*, ...) goes with it
        tmp = self.run_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        tmp.chmod(0o1777)
        p = Proc(name, argv, self.run_dir / "logs" / f"{name}.log", {"TMPDIR": str(tmp), **(env or {})}, cwd=cwd)
        self.procs[name] = p
        p.start()
        return p

    def _port(self, name: str) -> int:
        self.ports[name] = free_port()
        return self.ports[name]

    def start(self) -> None:
        t0 = time.monotonic()
        try:
            site = load_site(self.opts.site)
        except SiteError as exc:
            raise RuntimeError(f"{self.opts.site}: {exc}") from None
        if self.opts.store and self.opts.store not in STORES:
            raise RuntimeError(f"--store: expected one of {', '.join(STORES)}, got {self.opts.store!r}")
        if self.opts.ha or self.opts.store:
            site = with_ha(site, max(2, site.prometheus_replicas) if self.opts.ha else site.prometheus_replicas,
                           self.opts.store)
        if self.opts.demo:
            self._start_datastores()
        if self.opts.isolate_pids and self.opts.demo:
            self._start_pid_namespace()  # the site's own processes run outside: the exporter must see them
        if self.opts.demo:
            for k in ("voice", "mcp", "chat", "control", "marketplace", "deepseek", "elevenlabs"):
                self._port(f"demo-{k}")
            self._start_nginx()
            self._start_demo()
        self.recorder = Recorder()
        self.recorder.start()
        self.boards = Boards(self.generated)
        self.boards.start()
        self._generate(site)
        self._start_exporters()
        self._start_standard_exporters()
        self._start_alerting()
        self._start_store()
        self._start_prometheus()
        self._start_ruler()
        self.started_in = time.monotonic() - t0

    def _generate(self, site: Site) -> None:
        """The site with this machine's addresses, and every file `lookout generate` writes for it."""
        for name in ("exporters", "alertmanager-1", "alertmanager-2", "prometheus"):
            self._port(name)
        for i in range(1, site.prometheus_replicas):
            self._port(f"prometheus-{i + 1}")
        if site.long_term_store:
            self._port("victoriametrics")
            self._port("vmalert")
        exporters = {"lookout": f"127.0.0.1:{self.ports['exporters']}"}
        for name, binary in (("node", "prometheus-node-exporter"), ("postgres", "prometheus-postgres-exporter"),
                             ("redis", "prometheus-redis-exporter"), ("blackbox", "prometheus-blackbox-exporter")):
            if _which(binary):
                exporters[name] = f"127.0.0.1:{self._port(f'{name}-exporter')}"
        if "nginx-log-exporter" in self.ports:
            exporters["nginx_log"] = f"127.0.0.1:{self.ports['nginx-log-exporter']}"
        local = Local(
            exporters=exporters, prometheus=f"127.0.0.1:{self.ports['prometheus']}",
            alertmanagers=(f"127.0.0.1:{self.ports['alertmanager-1']}", f"127.0.0.1:{self.ports['alertmanager-2']}"),
            blackbox=exporters.pop("blackbox", CLOSED_PORT), pager_url=self.recorder.url if self.recorder else None,
            grafana_url=self.boards.url if self.boards else None,
            secrets_dir=self.run_dir / "secrets", demo_dir=self.run_dir / "demo",
            demo_ports={k: v for k, v in self.ports.items() if k.startswith("demo-")},
            tls_port=self.ports.get("demo-chat-tls"),
            scrape_interval=_seconds(self.opts.scrape_interval),
            evaluation_interval=_seconds(self.opts.evaluation_interval),
            exporter_intervals=self.opts.exporter_intervals, beat_speed=self.opts.beat_speed,
            check_settings=self.opts.check_settings,
            prometheus_peers=tuple(f"127.0.0.1:{self.ports[f'prometheus-{i + 1}']}"
                                   for i in range(1, site.prometheus_replicas)),
            store=f"127.0.0.1:{self.ports['victoriametrics']}" if "victoriametrics" in self.ports else None,
            ruler=f"127.0.0.1:{self.ports['vmalert']}" if "vmalert" in self.ports else None)
        self.site = localize(site, local, demo=self.opts.demo)
        missing = sorted(n for n, a in self.site.exporters_on(self.site.monitoring_host).items() if a == CLOSED_PORT)
        if missing:
            self.notes.append(f"not installed, scraped as down: {', '.join(missing)} exporter")
        others = [h.name for h in self.site.exporter_hosts if h.name != self.site.monitoring_host.name]
        if others:
            self.notes.append(f"exporters of the other hosts ({', '.join(others)}) are not started here")
        build.write_dir(build.site_files(self.site), self.generated)
        if self.recorder:
            self.recorder.known_alerts = set(self.alert_names())

    def stop(self) -> None:
        # reverse order: Prometheus first, so nothing fires while the sources go away
        for name in reversed(list(self.procs)):
            self.procs[name].stop()
        if self.recorder:
            self.recorder.stop()
        if self.boards:
            self.boards.stop()
        if self.redis:
            self.redis.close()
        if self.pg:
            self.pg.close()
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
            # a limit, as in production, so memory-vs-maxmemory has a value
            self.redis = Redis(self.run_dir / "redis", maxmemory="64mb")
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
        argv = [PY, "-m", "lookout.demo", "up", "--voice-pg-url", self.voice_db, "--chat-pg-url", self.chat_db,
                "--pg-url", self.voice_db, "--redis-url", self.redis_url or "",
                "--run-dir", str(self.run_dir / "demo")]
        for k in ("voice", "mcp", "chat", "control", "marketplace", "deepseek", "elevenlabs"):
            argv += [f"--{k}-port", str(ports[k])]
        if "nginx" in self.ports:
            # calls reach the voice app through Nginx, so its access log sees them (and answers 502)
            argv += ["--voice-url", f"http://127.0.0.1:{self.ports['nginx']}"]
        argv += self.opts.demo_args
        demo = self._proc("demo", argv, isolated=True)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{ports['voice']}/health")
                   and _http_ok(f"http://127.0.0.1:{ports['chat']}/api/health")
                   and _http_ok(f"http://127.0.0.1:{ports['mcp']}/health"),
                   self.opts.start_timeout, "the demo's voice, MCP and chat servers", [demo], interval=0.5)

    def exporter_env(self) -> dict[str, str]:
        """The variables the demo site's DSNs, URLs and key files name: this stack's sources."""
        p = self.ports
        env: dict[str, str] = {}
        if self.opts.demo:
            env = {
                "VOICE_DATABASE_URL": self.voice_db,
                "CHATCENTER_DATABASE_URL": self.chat_db,
                "CELERY_BROKER_URL": self.redis_url or "",
                "DEEPSEEK_API_URL": f"http://127.0.0.1:{p['demo-deepseek']}",
                "ELEVENLABS_API_URL": f"http://127.0.0.1:{p['demo-elevenlabs']}",
                "DEEPSEEK_API_KEY_FILE": self._private_secret("deepseek_api_key"),
                "ELEVENLABS_API_KEY_FILE": self._private_secret("elevenlabs_api_key"),
                "WB_FEEDBACKS_TOKEN_FILE": str(DEMO_SECRETS / "wb_token"),
                "DEMO_BACKUP_DIR": str(self.run_dir / "demo" / "backups"),  # the demo's backup job writes there
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

    def _start_exporters(self) -> None:
        port = self.ports["exporters"]
        config = self.generated / "exporters.yaml"
        if not config.exists():
            self.notes.append("the site gives the monitoring host no collector: lookout-exporter not started")
            return
        proc = self._proc("exporters", [PY, "-m", "lookout.exporters", "run", "--config", str(config),
                                        "--listen", f"127.0.0.1:{port}"], self.exporter_env(), isolated=True)
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "our exporter's /healthz", [proc])

    def _source(self, ref: str) -> str:
        """A DSN or URL of the site (``${VAR}`` or ``*_file``), read as the exporter reads it, for the standard
        exporters of the same source."""
        env = self.exporter_env()

        def var(m: re.Match[str]) -> str:
            return env.get(m.group(1)) or os.environ.get(m.group(1)) or m.group(2) or ""

        text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", var, str(ref))
        if isinstance(ref, FileRef):
            with contextlib.suppress(OSError):
                return Path(text).read_text().strip()
            return ""
        return text

    def _start_standard_exporters(self) -> None:
        assert self.site is not None
        wanted = self.site.exporters_on(self.site.monitoring_host)
        started: list[tuple[Proc, int, str]] = []
        node = _which("prometheus-node-exporter")
        if node and "node" in wanted:
            port = self.ports["node-exporter"]
            started.append((self._proc("node-exporter", [node, f"--web.listen-address=127.0.0.1:{port}"]), port,
                            "/metrics"))
        pgx = _which("prometheus-postgres-exporter")
        if pgx and "postgres" in wanted:
            # the demo's server, or the site's first database on the monitoring host
            db = next(d for d in self.site.databases if d.host == self.site.monitoring_host.name)
            url = (self.pg_url if self.opts.demo else self._source(db.dsn)) or ""
            dsn = url + ("" if "sslmode=" in url else ("&" if "?" in url else "?") + "sslmode=disable")
            port = self.ports["postgres-exporter"]
            started.append((self._proc("postgres-exporter", [pgx, f"--web.listen-address=127.0.0.1:{port}"],
                                       {"DATA_SOURCE_NAME": dsn}), port, "/metrics"))
        rx = _which("prometheus-redis-exporter")
        if rx and "redis" in wanted:
            r = next(r for r in self.site.redis if r.host == self.site.monitoring_host.name)
            port = self.ports["redis-exporter"]
            started.append((self._proc("redis-exporter", [rx, f"-redis.addr={self._source(r.url)}",
                                                          f"-web.listen-address=127.0.0.1:{port}"]), port, "/metrics"))
        bb = _which("prometheus-blackbox-exporter")
        if bb:
            port = self.ports["blackbox-exporter"]
            started.append((self._proc("blackbox-exporter", [
                bb, f"--config.file={self._blackbox_config()}",
                f"--web.listen-address=127.0.0.1:{port}"]), port, "/metrics"))
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
        return _dump(conf, self.run_dir / "blackbox.yml")

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
        # the demo site has no TLS target (the compose demo serves no HTTPS): here the chat API gets this one as
        # its tls_host (lookout.stack.native_site)
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
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{port}/nginx-health"), 30, "nginx", [n])
        wait_until(lambda: _http_ok(f"http://127.0.0.1:{mport}/metrics"), 30, "mtail", [m])
        self.notes.append("nginx-log-exporter: Debian has no prometheus-nginxlog-exporter; mtail (Debian) reads "
                          "the access log of a real Nginx in front of the demo's Gunicorn and exports the same "
                          "nginx_http_response_count_total{method,status}")

    def _go_env(self, variable: str) -> dict[str, str]:
        """``GOGC`` for Prometheus or the Alertmanagers: ``variable`` of the generated lookout.env, as the systemd
        drop-ins and compose read it."""
        if not self.opts.site_gogc:
            return {"GOGC": "100"}  # Go's default, whatever this process's environment says
        for line in (self.generated / "lookout.env").read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name == variable:
                return {"GOGC": value}
        return {}

    def _start_alerting(self) -> None:
        assert self.site is not None
        am = _which("prometheus-alertmanager")
        if not am:
            raise FileNotFoundError("prometheus-alertmanager not found: run scripts/install-deps")
        web = [self.ports["alertmanager-1"], self.ports["alertmanager-2"]]
        gossip = [free_port(), free_port()]
        path = self.generated / "alertmanager" / "alertmanager.yml"
        self.alertmanager_conf = yaml.safe_load(path.read_text())
        if self.opts.alertmanager_timers:
            # test speed: the one change to a generated file, on a copy beside it (templates resolve alike)
            _walk_routes(self.alertmanager_conf["route"], lambda r: r.update(
                {k: v for k, v in self.opts.alertmanager_timers.items() if k in r}))  # type: ignore[union-attr]
            self.alertmanager_conf["route"].update(self.opts.alertmanager_timers)
            path = _dump(self.alertmanager_conf, path.with_name("alertmanager-fast.yml"))
            self.notes.append(f"Alertmanager timers shortened for tests: {self.opts.alertmanager_timers}")
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
                f"--web.external-url={self.site.alertmanager_external_url}",
            ], {"TZ": self.site.alerting.timezone,  # the times in notifications: the site's zone
                **self._go_env("ALERTMANAGER_GOGC")}))
        for i, p in enumerate(procs):
            wait_until(lambda i=i: _http_ok(f"http://127.0.0.1:{web[i]}/-/ready"), 30, p.name, [p])

    def _start_prometheus(self) -> None:
        assert self.site is not None
        prom = _which("prometheus")
        if not prom:
            raise FileNotFoundError("prometheus not found: run scripts/install-deps")
        assert self.site is not None
        procs = []
        for i in range(self.site.prometheus_replicas):
            name = "prometheus" if i == 0 else f"prometheus-{i + 1}"
            path = self.generated / "prometheus" / ("prometheus.yml" if i == 0 else f"prometheus-{i + 1}.yml")
            if i == 0:
                self.prometheus_conf = yaml.safe_load(path.read_text())
            argv = [prom, f"--config.file={path}", f"--storage.tsdb.path={self.run_dir / f'{name}-data'}",
                    f"--web.listen-address=127.0.0.1:{self.ports[name]}", "--web.enable-lifecycle",
                    # the first replica's address is the one in the site (and in every alert's source link)
                    "--web.external-url=" + (self.site.prometheus_external_url if i == 0
                                             else f"http://127.0.0.1:{self.ports[name]}")]
            if self.opts.admin_api:
                argv.append("--web.enable-admin-api")
            if self.opts.evaluation_interval:
                # alerts evaluated before the Alertmanagers are discovered are dropped, then resent only after
                # this delay (default 1m): keep it in step with the shortened evaluation interval
                argv.append(f"--rules.alert.resend-delay={self.opts.evaluation_interval}")
            procs.append(self._proc(name, argv, self._go_env("PROMETHEUS_GOGC")))
        for p in procs:
            wait_until(lambda p=p: _http_ok(f"http://127.0.0.1:{self.ports[p.name]}/-/ready"), 60, p.name, [p])
        if self.site.prometheus_replicas > 1:
            self.notes.append(f"HA: {self.site.prometheus_replicas} Prometheus replicas scrape the same targets "
                              "(external label `replica`, dropped from alerts and by the store)")

    def _start_store(self) -> None:
        """VictoriaMetrics single-node with the generated flags (dedup, retention, relabelling)."""
        assert self.site is not None
        if not self.site.long_term_store:
            return
        vm = _which("victoria-metrics")
        if not vm:
            raise FileNotFoundError("victoria-metrics not found: run scripts/install-deps")
        args = store.read_args((self.generated / "victoriametrics" / "victoria-metrics.args").read_text())
        p = self._proc("victoriametrics", [vm, *args, f"-storageDataPath={self.run_dir / 'victoriametrics-data'}"],
                       cwd=self.generated)
        wait_until(lambda: _http_ok(f"{self.store_url}/health"), 60, "victoria-metrics", [p])

    def _start_ruler(self) -> None:
        assert self.site is not None
        args_file = self.generated / "vmalert" / "vmalert.args"
        if not self.site.long_term_store or not args_file.exists():
            return
        vmalert = _which("vmalert")
        if not vmalert:
            raise FileNotFoundError("vmalert not found: run scripts/install-deps")
        args = store.read_args(args_file.read_text())
        if self.opts.ruler_for:
            # test speed: the one change to vmalert's generated rules, on copies beside them
            fast = []
            for a in args:
                if a.startswith("-rule="):
                    src = self.generated / a.removeprefix("-rule=")
                    conf = yaml.safe_load(src.read_text())
                    for g in conf["groups"]:
                        for r in g["rules"]:
                            if r.get("alert") in self.opts.ruler_for:
                                r["for"] = self.opts.ruler_for[r["alert"]]
                    a = f"-rule={_dump(conf, src.parent.parent / 'rules-fast' / src.name)}"
                fast.append(a)
            args = fast
            self.notes.append(f"vmalert `for` shortened for tests: {self.opts.ruler_for}")
        p = self._proc("vmalert", [vmalert, *args], cwd=self.generated)
        wait_until(lambda: _http_ok(f"{self.ruler_url}/health"), 60, "vmalert", [p])

    # ---- questions --------------------------------------------------------------------------------
    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def replica_url(self, i: int) -> str:
        """Prometheus replica ``i`` (1: the first, ``prometheus_url``)."""
        return f"http://127.0.0.1:{self.ports['prometheus' if i == 1 else f'prometheus-{i}']}"

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['victoriametrics']}"

    @property
    def ruler_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['vmalert']}"

    def alertmanager_url(self, i: int = 1) -> str:
        return f"http://127.0.0.1:{self.ports[f'alertmanager-{i}']}"

    def rule_files(self) -> list[Path]:
        """The rule files the generated prometheus.yml loads (its paths are relative to it)."""
        prom = self.generated / "prometheus" / "prometheus.yml"
        conf = yaml.safe_load(prom.read_text()) if prom.exists() else {}
        return sorted({f for pattern in conf.get("rule_files", []) for f in prom.parent.glob(pattern)})

    def alert_rules(self) -> dict[str, dict[str, Any]]:
        """alertname -> rule (first one seen), from the rule files the generated prometheus.yml loads."""
        out: dict[str, dict[str, Any]] = {}
        for f in self.rule_files():
            for g in (yaml.safe_load(f.read_text()) or {}).get("groups", []):
                for r in g.get("rules", []):
                    if "alert" in r:
                        out.setdefault(r["alert"], {**r, "_group_interval": g.get("interval")})
        return out

    def alert_names(self) -> set[str]:
        return set(self.alert_rules())

    def api(self, path: str, base: str | None = None, **params: Any) -> Any:
        """GET a Prometheus-API path of the first replica (or of ``base``: another replica, the store)."""
        r = requests.get((base or self.prometheus_url) + path, params=params, timeout=10)
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def query(self, expr: str, base: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return self.api("/api/v1/query", base, query=expr, **params)["result"]

    def targets(self) -> list[dict[str, Any]]:
        return self.api("/api/v1/targets", state="active")["activeTargets"]

    def firing(self, base: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """alertname -> alerts in state firing, as Prometheus (or the replica at ``base``) sees them."""
        out: dict[str, list[dict[str, Any]]] = {}
        for a in self.api("/api/v1/alerts", base)["alerts"]:
            if a["state"] == "firing":
                out.setdefault(a["labels"]["alertname"], []).append(a)
        return out

    def pending_or_firing(self) -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in self.api("/api/v1/alerts")["alerts"]}

    def fault(self, name: str, on: bool, value: float | None = None) -> subprocess.CompletedProcess[str]:
        argv = [PY, "-m", "lookout.demo", "fault", name, "on" if on else "off",
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
        if self.boards:
            urls["runbooks (stand-in Grafana)"] = self.boards.url + "/public/runbooks/index.html"
        return {"run_dir": str(self.run_dir), "urls": urls, "postgres": self.pg_url, "redis": self.redis_url,
                "notes": self.notes}

    def dump_describe(self) -> str:
        return json.dumps(self.describe(), indent=2)


def _seconds(text: str | None) -> float | None:
    from lookout.exporters.config import Duration

    return None if text is None else float(Duration.parse(text))


def _dump(conf: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path


def _walk_routes(route: dict[str, Any], fn: Any) -> None:
    fn(route)
    for child in route.get("routes", []) or []:
        _walk_routes(child, fn)
