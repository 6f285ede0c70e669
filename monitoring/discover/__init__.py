"""``lookout discover``: a starter site file written from what runs on this host.

Reads (only reads, each with a timeout; nothing on the host is changed): the process table and sockets
(``host``), worker pools (``pools``), Celery's broker, queues and beat schedule (``celery``), HTTP health and
metrics endpoints on the discovered ports (``http``), local PostgreSQL and Redis (``datastores``), Nginx's
access logs (``nginx``).
Publishes: ``discover(...) -> Findings``: what the site file will say (``writer`` renders it as commented
YAML, a summary table or JSON). Secrets (passwords in URLs) stay in memory: the findings hold ``${VAR}``
references and redacted URLs for output.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from lookout.exporters.collectors import _servers
from lookout.monitoring.discover import celery as celery_mod
from lookout.monitoring.discover import datastores, http, nginx
from lookout.monitoring.discover.host import Host, disk_text, memory_text
from lookout.monitoring.discover.pools import Pool, find_pools

# programs whose ports are not the platform's HTTP services (lookout's own parts: its console scripts and
# ``python -m lookout.*``, whose program is "lookout"; system daemons)
NOT_SERVICES = {"prometheus", "alertmanager", "prometheus-alertmanager", "grafana-server", "grafana", "mtail",
                "node_exporter", "prometheus-node-exporter", "blackbox_exporter", "prometheus-blackbox-exporter",
                "postgres_exporter", "prometheus-postgres-exporter", "redis_exporter", "prometheus-redis-exporter",
                "lookout-exporter", "lookout", "sshd", "systemd", "systemd-resolved", "containerd",
                "dockerd", "docker-proxy", "chronyd", "rpcbind", "master", "exim4", "cupsd", "victoria-metrics",
                "vmagent", "loki", "promtail", "grafana-agent", "otelcol", "otelcol-contrib", "telegraf"}
MAX_PROBED = 32


@dataclass
class Row:
    """One line of the summary: what was found, and what discover could not decide."""

    what: str
    name: str
    found: str
    undecided: list[str] = field(default_factory=list)


@dataclass
class ServiceOut:
    name: str
    kind: str
    platform: str
    match: str | None = None
    port: int | None = None
    workers: int | None = None
    workers_comment: str | None = None
    health_url: str | None = None
    metrics_path: str | None = None
    nginx_log: bool = False
    unit: str | None = None
    cwd: str | None = None
    commented: str | None = None  # written commented out, with this reason


@dataclass
class DatabaseOut:
    name: str
    platform: str
    dsn: str
    dsn_comment: str | None
    version: str | None
    unit: str | None
    checks: dict[str, str | None]  # check -> None (enabled) or the reason it is left commented


@dataclass
class RedisOut:
    name: str
    url: str
    url_comment: str | None
    unit: str | None
    version: str | None = None
    queues: list[str] | None = None  # set when it is the Celery broker
    beat: dict[str, str] = field(default_factory=dict)  # task -> duration text
    beat_comments: list[str] = field(default_factory=list)
    where: tuple[str, int, int] | None = None  # the broker's host, port and db (not written)


@dataclass
class Findings:
    host: str
    vcpus: int
    memory: str
    disk: str
    services: list[ServiceOut] = field(default_factory=list)
    databases: list[DatabaseOut] = field(default_factory=list)
    redis: list[RedisOut] = field(default_factory=list)
    nginx_notes: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def _name(text: str, fallback: str = "app") -> str:
    n = re.sub(r"[^a-z0-9_.\-]+", "-", text.lower()).strip("-._")
    return n if n and n[0].isalnum() else fallback


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}-{i}", i + 1
    taken.add(out)
    return out


def _service_name(p: Pool) -> str:
    if p.unit and not p.unit.startswith(("session-", "user@")):
        return _name(p.unit.removesuffix(".service"))
    base = _name((p.app or _servers.program(p.args) or p.kind).split(":")[0].replace(".", "-"))
    if p.kind == "celery_worker":
        return f"{base}-worker"
    if p.kind == "celery_beat":
        return f"{base}-beat"
    return base


def discover(root: str = "/proc", ask_app: bool = True) -> Findings:
    host = Host.scan(root)
    hostname = _name(socket.gethostname().split(".")[0], "host-1")
    f = Findings(hostname, os.cpu_count() or 1, memory_text(root), disk_text("/"))
    pools = find_pools(host)
    taken: set[str] = set()
    platform_of_cwd: dict[str | None, str] = {}

    def platform(cwd: str | None) -> str:
        if cwd not in platform_of_cwd:
            base = _name(os.path.basename(cwd or "") or "app")
            platform_of_cwd[cwd] = base if base not in ("root", "home", "tmp", "") else "app"
        return platform_of_cwd[cwd]

    envs: dict[int, dict[str, str]] = {}
    env_from: dict[int, int] = {}  # pid -> the process its environment was read from, when another
    for p in pools:
        env, source = host.env_or_neighbour(p.pid)
        if env:
            envs[p.pid] = env
            if source is not None and source != p.pid:
                env_from[p.pid] = source

    # --- pools and their HTTP endpoints
    nginx_found = nginx.find_nginx(host)
    proxied = {port for n in nginx_found for port in n.upstream_ports}
    pool_ports: set[int] = set()
    for p in sorted(pools, key=lambda p: (p.kind, p.app or "", p.ports, p.match or "")):
        s = ServiceOut(_unique(_service_name(p), taken), p.kind, platform(p.cwd), match=p.match,
                       workers=p.workers if p.kind != "celery_beat" else None, unit=p.unit, cwd=p.cwd)
        s.workers_comment = (f"running now; {p.workers_source}" if any(u.startswith("workers:") for u in p.undecided)
                             else p.workers_source)
        undecided = [u for u in p.undecided if not u.startswith("workers:")] + \
                    [u for u in p.undecided if u.startswith("workers:")]
        if p.ports:
            s.port = p.ports[0]
            pool_ports.update(p.ports)
            if len(p.ports) > 1:
                undecided.append(f"listens on {', '.join(map(str, p.ports))}: port {s.port} written")
            ls = p.listens[0]
            if ls.loopback_reachable:
                pr = http.probe(s.port)
                s.health_url = f"http://127.0.0.1:{s.port}{pr.health}" if pr.health else None
                s.metrics_path = pr.metrics
                if pr.health is None:
                    paths = ", ".join(http.HEALTH_PATHS)
                    undecided.append(f"no health endpoint answered 2xx on port {s.port} ({paths})")
            else:
                undecided.append(f"bound to {ls.address}: not probed (discover only probes loopback)")
            s.nginx_log = s.port in proxied
        elif p.kind in ("gunicorn", "uvicorn"):
            undecided.append("no listening TCP socket found (a Unix socket, or its fds are unreadable)")
        same_kind = [q for q in pools if q.kind == p.kind]
        if p.match is None and len(same_kind) > 1 and p.kind != "celery_beat":
            s.commented = f"{len(same_kind)} {p.kind} masters run here and no text tells this one apart: set `match`"
        f.services.append(s)
        found = [f"app {p.app}" if p.app else "",
                 f"{p.running} workers running" if p.kind != "celery_beat" else "",
                 f"port {s.port}" if s.port else "", f"unit {p.unit}" if p.unit else "",
                 f"health {s.health_url}" if s.health_url else "",
                 f"metrics {s.metrics_path}" if s.metrics_path else ""]
        f.rows.append(Row(p.kind.replace("_", " "), s.name, ", ".join(x for x in found if x), undecided))

    # --- Celery
    reds = datastores.find_redis(host)
    _celery(f, host, pools, envs, env_from, ask_app, reds)

    # --- other HTTP services on the host
    _other_http(f, host, pools, taken, pool_ports, platform)

    # --- data stores
    _redis(f, reds)
    pgs = datastores.find_postgres(host, envs)
    _postgres(f, pgs, pools, envs, platform, f.services[0].platform if f.services else "app")

    # --- Nginx
    for n in nginx_found:
        for log in n.logs:
            state = "parsed by the nginx_log exporter" if log.parsed else "NOT parsed by the nginx_log exporter"
            undecided = [f"add to the http block: {log.fix}"] if log.fix else []
            f.rows.append(Row("nginx", log.path, f"log_format {log.format}: {state}; config {n.config}", undecided))
            f.nginx_notes.append(f"Nginx access log {log.path} (log_format {log.format}): {state}")
            if log.fix:
                f.nginx_notes.append(f"  add: {log.fix}")
        if n.note:
            f.rows.append(Row("nginx", n.config, "", [n.note]))
    return f


def _celery(f: Findings, host: Host, pools: list[Pool], envs: dict[int, dict[str, str]], env_from: dict[int, int],
            ask_app: bool, reds: list[datastores.RedisFound]) -> None:
    celery_pools = [p for p in pools if p.kind in ("celery_worker", "celery_beat")]
    if not celery_pools:
        return
    broker, source, env_of = None, "", None
    for p in sorted(celery_pools, key=lambda p: (p.kind != "celery_worker", p.pid)):
        url, src = celery_mod.broker_of(p.args, envs.get(p.pid))
        if url:
            broker, source, env_of = url, src, envs.get(p.pid)
            break
    beat_pools = [p for p in celery_pools if p.kind == "celery_beat"]
    answer = None
    undecided: list[str] = []
    asked = beat_pools[0] if beat_pools else (celery_pools[0] if broker is None else None)
    if asked is not None:
        python = host.python_of(asked.pid)
        if asked.pid in env_from:
            undecided.append(f"environment: unreadable (a process title hides it), taken from the process with "
                             f"the same working directory ({_servers.program(host.args[env_from[asked.pid]])})")
        if not ask_app:
            undecided.append("beat schedule: not asked (--no-ask-app)")
        elif not asked.app or not python:
            undecided.append("beat schedule: the app or its interpreter is unknown")
        else:
            if asked.pid not in envs:
                undecided.append("environment: unreadable (run as the app's user or root, or a process title hides "
                                 "it): the app is asked without it")
            env = envs.get(asked.pid, {})
            answer = celery_mod.ask_app(python, asked.app, asked.cwd, env, owner=host.owner(asked.pid))
            if answer.error:
                undecided.append(f"beat schedule: {answer.error}")
            elif broker is None and answer.broker:
                broker, source, env_of = answer.broker, "the app's configuration", env
    placeholder_url = None
    if broker is None:
        # last resort: the local Redis a Celery process is connected to (password and db number unknown)
        local = {r.port: r for r in reds}
        for p in celery_pools:
            for addr, port in host.connected(p.pid):
                if port in local and (addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1")):
                    broker, source = f"redis://127.0.0.1:{port}/0", "its connection to the local Redis"
                    note = local[port].note or ""
                    if "password" in note:
                        placeholder_url = f"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{port}/0"
                    undecided.append(f"broker: found by the worker's connection to port {port}; the database "
                                     "number (0 written) and any password are unknown")
                    break
            if broker:
                break
    if broker is None:
        f.rows.append(Row("celery", "broker", "", ["broker URL not found on the command line, in the environment "
                                                   "or the app: add redis[].url by hand", *undecided]))
        for s in f.services:
            if s.kind in ("celery_worker", "celery_beat"):
                s.commented = "no broker found (redis[].celery is required)"
        return
    if not broker.startswith(("redis://", "rediss://")):
        f.rows.append(Row("celery", "broker", celery_mod.redacted(broker), ["only a Redis broker is watched"]))
        for s in f.services:
            if s.kind in ("celery_worker", "celery_beat"):
                s.commented = "the broker is not Redis"
        return
    url, comment = celery_mod.site_url(broker, env_of)
    if placeholder_url:
        url, comment = placeholder_url, "the Redis wants a password: set $REDIS_PASSWORD in the exporter's environment"
    queues = sorted({q for p in celery_pools if p.kind == "celery_worker" for q in celery_mod.queues_of(p.args)})
    qsource = "-Q on the worker's command line"
    if not queues:
        queues = _broker_queues(broker)
        qsource = "bound on the broker"
    if not queues:
        queues = [answer.default_queue if answer and answer.default_queue else "celery"]
        qsource = "the default queue"
    beat: dict[str, str] = {}
    beat_comments: list[str] = []
    if answer and not answer.error:
        names = celery_mod.short_names(answer.beat)
        for k, e in answer.beat.items():
            if e.get("seconds"):
                beat[names[k]] = celery_mod.duration_text(float(e["seconds"]))
            else:
                beat_comments.append(f"{names[k]}: a {e.get('kind')} schedule has no fixed interval, not watched")
    if beat_pools and not beat:
        for s in f.services:
            if s.kind == "celery_beat":
                s.commented = "its schedule is unknown (a celery_beat service needs redis[].celery.beat_schedule)"
    rd = RedisOut("broker", url, comment, None, queues=queues, beat=beat, beat_comments=beat_comments,
                  where=celery_mod.host_port_db(broker))
    f.redis.append(rd)
    found = f"{celery_mod.redacted(broker)} (from {source}); queues {', '.join(queues)} ({qsource})"
    if beat:
        found += "; beat: " + ", ".join(f"{k} every {v}" for k, v in beat.items())
    f.rows.append(Row("celery", "broker", found, undecided + beat_comments))


def _broker_queues(url: str) -> list[str]:
    """Queues bound in kombu's ``_kombu.binding.<exchange>`` sets (not events' or remote control's)."""
    try:
        import redis

        r = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        try:
            queues = set()
            for i, k in enumerate(r.scan_iter(match="_kombu.binding.*", count=200)):
                if i >= 200:
                    break
                exchange = k.decode(errors="replace").removeprefix("_kombu.binding.")
                if exchange == "celeryev" or exchange.endswith(".pidbox"):
                    continue
                for m in list(r.smembers(k))[:200]:
                    q = m.decode(errors="replace").split("\x06\x16")[-1]
                    if q and not q.endswith(".pidbox") and not q.startswith("celeryev."):
                        queues.add(q)
            return sorted(queues)
        finally:
            r.close()
    except Exception:
        return []


def _other_http(f: Findings, host: Host, pools: list[Pool], taken: set[str], pool_ports: set[int],
                platform) -> None:
    skip = set()
    for p in pools:
        skip |= {p.pid} | host.descendants(p.pid)
    probed = 0
    seen_ports: set[int] = set(pool_ports)
    for pid in sorted(host.procs):
        if pid in skip:
            continue
        st = host.procs[pid]
        prog = _servers.program(host.args.get(pid, [])) or st.comm
        if prog in NOT_SERVICES or st.comm in ("postgres", "redis-server", "nginx") or prog.endswith("_exporter"):
            continue
        parent = host.procs.get(st.ppid)
        if parent and host.args.get(st.ppid) == host.args.get(pid):
            continue  # a fork of a server already looked at
        for ls in host.listening(pid):
            if ls.port in seen_ports or not ls.loopback_reachable or probed >= MAX_PROBED:
                continue
            seen_ports.add(ls.port)
            probed += 1
            pr = http.probe(ls.port)
            if not pr.answered:
                continue
            unit = host.unit(pid)
            base = _name(unit.removesuffix(".service")) if unit else _name(f"{prog}-{ls.port}")
            if pr.health is None:
                f.rows.append(Row("http", f"port {ls.port}", f"{prog} answers HTTP on port {ls.port}",
                                  ["no health endpoint answered 2xx: not written"]))
                continue
            s = ServiceOut(_unique(base, taken), "http", platform(host.cwd(pid)), port=ls.port,
                           health_url=f"http://127.0.0.1:{ls.port}{pr.health}", metrics_path=pr.metrics, unit=unit,
                           cwd=host.cwd(pid))
            f.services.append(s)
            f.rows.append(Row("http", s.name, f"{prog} on port {ls.port}, health {pr.health}"
                              + (f", metrics {pr.metrics}" if pr.metrics else ""), []))


def _redis(f: Findings, found: list[datastores.RedisFound]) -> None:
    broker = f.redis[0] if f.redis else None
    bhp = broker.where if broker is not None else None
    names: set[str] = {"broker"} if broker else set()
    for r in found:
        local_broker = broker is not None and bhp is not None and bhp[1] == r.port and \
            bhp[0] in ("127.0.0.1", "localhost", "::1")
        undecided = [r.note] if r.note else []
        if local_broker and broker is not None:
            broker.unit, broker.version = r.unit, r.version
            broker.name = "redis" if len(found) == 1 else f"redis-{r.port}"
            f.rows.append(Row("redis", broker.name, f"port {r.port}, version {r.version or 'unknown'}, Celery broker"
                              + (f", unit {r.unit}" if r.unit else ""), undecided))
            continue
        name = _unique("redis" if len(found) == 1 else f"redis-{r.port}", names)
        f.redis.append(RedisOut(name, f"redis://127.0.0.1:{r.port}/0", None, r.unit, r.version))
        f.rows.append(Row("redis", name, f"port {r.port}, version {r.version or 'unknown'}"
                          + (f", unit {r.unit}" if r.unit else ""), undecided))


def _postgres(f: Findings, found: list[datastores.PostgresFound], pools: list[Pool],
              envs: dict[int, dict[str, str]], platform, default_platform: str) -> None:
    names: set[str] = set()
    enabled: dict[str, str] = {}
    cwd_of = {p.pid: p.cwd for p in pools}
    for pg in found:
        dbs_found = ", ".join(d.name for d in pg.databases) or "no database described"
        f.rows.append(Row("postgresql", f"port {pg.port}", f"version {pg.version or 'unknown'}; {dbs_found}"
                          + (f"; unit {pg.unit}" if pg.unit else ""), [pg.note] if pg.note else []))
        for d in pg.databases:
            name = _unique(_name(d.name, "db"), names)
            plat = default_platform
            if d.dsn_var:
                users = sorted(pid for pid, env in envs.items() if d.dsn_var in env)
                if users:
                    plat = platform(cwd_of.get(users[0]))
                dsn, comment = f"${{{d.dsn_var}}}", (f"the app's own URL (${d.dsn_var}): better a read-only role; "
                                                    "give the exporter that variable")
            else:
                var = f"{name.upper().replace('-', '_').replace('.', '_')}_DB_PASSWORD"
                dsn, comment = celery_mod.site_url(d.dsn, None, placeholder=var)
                comment = comment or "connected without a password: better a read-only role (docs/site.md)"
            checks: dict[str, str | None] = {}
            missing_all = d.checks()
            for check, missing in missing_all.items():
                if not d.tables:
                    checks[check] = "tables not read (could not connect)"
                elif missing:
                    checks[check] = f"tables missing: {', '.join(missing)}"
                elif check in enabled:
                    checks[check] = f"already enabled on database {enabled[check]} (one database per check)"
                else:
                    checks[check] = None
                    enabled[check] = name
            f.databases.append(DatabaseOut(name, plat, dsn, comment, pg.version, pg.unit, checks))
            on = [c for c, why in checks.items() if why is None]
            off = [f"{c}: {why}" for c, why in checks.items() if why is not None]
            f.rows.append(Row("database", name, f"port {pg.port}; checks enabled: {', '.join(on) or 'none'}", off))
