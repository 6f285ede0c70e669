"""Nginx on the host, for ``lookout discover``: its access logs and whether the log exporter parses them.

Reads: the master's command line (``-c FILE``, else ``/etc/nginx/nginx.conf``) and that file with its
``include``s (at most ``MAX_FILES`` files of ``MAX_BYTES`` each, read through the master's root so a
containerised Nginx is read too when permitted); ``log_format``, ``access_log`` and ``proxy_pass``
directives.
Publishes: ``find_nginx(host) -> list[NginxFound]`` and the pure ``parse_config``: each access log's path,
its format, whether the format is one the nginx_log exporter parses (the ``combined`` default or a format
that starts like it, as ``lookout``), the line to add when it is not, and the loopback ports it proxies to.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

from lookout.monitoring.discover.host import Host

MAX_FILES = 50
MAX_BYTES = 1 << 20
# what stack/data/nginx.mtail parses: the start of the combined format
PARSED_PREFIX = '$remote_addr - $remote_user [$time_local] "$request" $status '
LOOKOUT_FORMAT = ("log_format lookout '$remote_addr - $remote_user [$time_local] \"$request\" $status "
                  "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time $upstream_response_time';")


@dataclass
class AccessLog:
    path: str
    format: str
    parsed: bool
    fix: str | None = None  # the lines to add when not parsed


@dataclass
class NginxFound:
    pid: int
    config: str
    unit: str | None
    logs: list[AccessLog] = field(default_factory=list)
    upstream_ports: list[int] = field(default_factory=list)
    note: str | None = None


def _statements(text: str) -> list[list[str]]:
    """Directives as word lists (comments dropped, quotes kept together); blocks flattened."""
    text = re.sub(r"#[^\n]*", "", text)
    out, words = [], []
    for tok in re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};'\"]+", text):
        if tok in ("{", "}", ";"):
            if words:
                out.append(words)
            words = []
        else:
            words.append(tok)
    return out


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


def parse_config(texts: list[str]) -> tuple[list[AccessLog], list[int]]:
    formats: dict[str, str] = {"combined": PARSED_PREFIX + '$body_bytes_sent "$http_referer" "$http_user_agent"'}
    logs: list[tuple[str, str]] = []
    ports: set[int] = set()
    for text in texts:
        for st in _statements(text):
            if st[0] == "log_format" and len(st) >= 3:
                rest = st[2:]
                if rest[0].startswith("escape="):
                    rest = rest[1:]
                formats[st[1]] = "".join(_unquote(x) for x in rest)
            elif st[0] == "access_log" and len(st) >= 2 and st[1] != "off":
                fmt = st[2] if len(st) >= 3 and "=" not in st[2] else "combined"
                logs.append((_unquote(st[1]), fmt))
            elif st[0] == "proxy_pass" and len(st) >= 2:
                m = re.match(r"https?://(127\.0\.0\.1|localhost|\[::1\]):(\d+)", st[1])
                if m:
                    ports.add(int(m.group(2)))
    if not logs:
        logs.append(("/var/log/nginx/access.log", "combined"))  # Nginx's built-in default
    out = []
    for path, fmt in sorted(set(logs)):
        parsed = formats.get(fmt, "").startswith(PARSED_PREFIX)
        fix = None if parsed else f"{LOOKOUT_FORMAT}  access_log {path} lookout;"
        out.append(AccessLog(path, fmt, parsed, fix))
    return out, sorted(ports)


def _read_tree(root: str, path: str) -> tuple[list[str], str | None]:
    texts, todo, seen, note = [], [path], set(), None
    while todo and len(seen) < MAX_FILES:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(root + p, "rb") as f:
                text = f.read(MAX_BYTES).decode(errors="replace")
        except OSError as exc:
            note = f"cannot read {p} ({exc.strerror})"
            continue
        texts.append(text)
        for st in _statements(text):
            if st[0] == "include" and len(st) >= 2:
                pattern = _unquote(st[1])
                if not pattern.startswith("/"):
                    pattern = os.path.join(os.path.dirname(path), pattern)
                todo.extend(sorted(g[len(root):] for g in glob.glob(root + pattern)))
    if todo:
        note = f"more than {MAX_FILES} configuration files: the rest were not read"
    return texts, note


def find_nginx(host: Host) -> list[NginxFound]:
    out = []
    for pid in sorted(host.procs):
        args = host.args.get(pid, [])
        if not args or not args[0].startswith("nginx: master process"):
            continue
        words = " ".join(args).split()
        conf = words[words.index("-c") + 1] if "-c" in words[:-1] else "/etc/nginx/nginx.conf"
        root = f"{host.root}/{pid}/root"
        if not os.access(root + "/", os.R_OK):
            root = ""
        texts, note = _read_tree(root, conf)
        logs, ports = parse_config(texts)
        out.append(NginxFound(pid, conf, host.unit(pid), logs, ports, note))
    return out
