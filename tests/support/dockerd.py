"""A private Docker engine for the tests: Debian's ``dockerd`` (20.10) started as root in a temporary folder.

No network of any kind: ``--bridge=none``, no iptables, no IP forwarding or masquerading, and every
container must be run with ``network_mode="none"`` (``DockerEngine.run`` enforces it). There is no
registry either: the only image is imported from Debian's static busybox (``busybox_image``).
The engine manages its own containerd under the exec-root. dockerd runs as a child subreaper, so the
shims containerd daemonizes stay its descendants; ``docker_engine()`` stops it, ends by pid the
descendants it had (remembered at start, after each ``run`` and before each stop) that are left,
unmounts and removes the folder, even when the test failed. ``get_only_proxy`` stands in for a socket
proxy (GET on ``/_ping``, ``/version``, ``/containers/json``, ``/containers/{id}/json`` and ``/events``
only), on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psutil

from lookout.stack.httpd import LocalServer, QuietHandler

# dockerd's own process becomes a child subreaper (kept across exec): the orphans of its tree (the
# containerd shims, which daemonize) are re-parented to it, not to init, so they stay its descendants
SUBREAPER_EXEC = ("import ctypes, os, sys\n"
                  "if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER\n"
                  "    sys.exit(f'prctl: {os.strerror(ctypes.get_errno())}')\n"
                  "os.execv(sys.argv[1], sys.argv[1:])\n")
IMAGE = "lookout-test-busybox:latest"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "true", "false", "cat", "head", "tail", "dd", "echo", "kill", "ls")


class DockerEngine:
    def __init__(self, root: Path):
        self.root = root  # short: unix socket paths are limited to 107 bytes
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "dockerd.log"
        self.tree: dict[tuple[int, float], psutil.Process] = {}  # every descendant seen, ended in cleanup()

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, wait: float = 60.0) -> None:
        dockerd = shutil.which("dockerd")
        assert dockerd, "dockerd missing: scripts/install-deps installs Debian's docker.io (as root)"
        assert os.geteuid() == 0, "the Docker engine of the tests needs root"
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "x").mkdir(exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUBREAPER_EXEC, dockerd,
             "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
             "--bridge=none", "--userland-proxy=false", "--shutdown-timeout=2",
             "--exec-opt", "native.cgroupdriver=cgroupfs",
             "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "x"),
             "--pidfile", str(self.root / "docker.pid"), "-H", self.url],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}: {self.log()[-3000:]}")
            if self.socket.exists():
                with contextlib.suppress(Exception), contextlib.closing(self.client(timeout=5)) as c:
                    c.ping()
                    self.remember_tree()  # its containerd: known even if dockerd dies before stop()
                    return
            time.sleep(0.2)
        raise TimeoutError(f"dockerd did not answer within {wait}s: {self.log()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop: the engine stops its containers (keeping them) and its containerd."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.remember_tree()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, timeout: float = 30) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, version="auto", timeout=timeout)

    def busybox_image(self) -> str:
        with contextlib.closing(self.client()) as c:
            c.api.import_image_from_data(busybox_rootfs(), repository=IMAGE.split(":")[0], tag="latest")
        return IMAGE

    def run(self, client: docker.DockerClient, command: list[str], **kw: Any):
        """``containers.run`` detached, never with a network."""
        assert kw.setdefault("network_mode", "none") == "none", "test containers never get a network"
        container = client.containers.run(IMAGE, command, detach=True, **kw)
        self.remember_tree()  # its shim
        return container

    def remember_tree(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                for p in psutil.Process(self.proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self.tree[(p.pid, p.create_time())] = p

    def cleanup(self) -> None:
        """After ``stop``: end what the engine left behind (by pid), unmount and remove the folder."""
        self.remember_tree()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        left = [p for p in self.tree.values() if p.is_running()]  # is_running: same pid and start time
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(left, timeout=10)
        for mount in sorted(_mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def busybox_rootfs() -> bytes:
    """A tar of a root filesystem holding Debian's static busybox and symlinks to its applets."""
    assert BUSYBOX.exists(), "/bin/busybox missing: scripts/install-deps installs busybox-static"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point.startswith(prefix):
                out.append(mount_point)
    return out


@contextlib.contextmanager
def docker_engine() -> Iterator[DockerEngine]:
    """A running private engine with the busybox image imported; stopped and removed afterwards."""
    engine = DockerEngine(Path(tempfile.mkdtemp(prefix="dx-", dir="/tmp")))
    try:
        engine.start()
        engine.busybox_image()
        yield engine
    finally:
        with contextlib.suppress(Exception), contextlib.closing(engine.client(timeout=10)) as c:
            for container in c.containers.list(all=True):
                container.remove(force=True)
        engine.stop()
        engine.cleanup()


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


ALLOWED = re.compile(r"^(/v[\d.]+)?/(_ping|version|events|containers/json|containers/[\w.-]+/json)(\?|$)")


@contextlib.contextmanager
def get_only_proxy(engine: DockerEngine) -> Iterator[tuple[str, list[str]]]:
    """A stand-in for a socket proxy on 127.0.0.1: GET on the allowed paths only, 403 otherwise.

    Yields its ``tcp://`` URL and the list of refused ``METHOD path`` (empty when the client behaved).
    """
    refused: list[str] = []
    sock_path = str(engine.socket)

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _refuse(self) -> None:
            refused.append(f"{self.command} {self.path}")
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_HEAD = _refuse

        def do_GET(self) -> None:
            if not ALLOWED.match(self.path):
                self._refuse()
                return
            upstream = _UnixHTTPConnection(sock_path, timeout=None)
            try:
                upstream.request("GET", self.path, headers={"Host": "docker"})
                resp = upstream.getresponse()
                self.send_response(resp.status)
                for key, val in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, val)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                while data := resp.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client went away (an event stream closed)
            finally:
                upstream.close()
            self.close_connection = True

    with LocalServer(Handler, poll_interval=0.1) as server:
        yield f"tcp://127.0.0.1:{server.port}", refused
