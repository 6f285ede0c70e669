"""The provider client's deadline covers the whole request, not only the answer: name resolution, the TCP
connect and the TLS handshake too (tests/test_llm_http.py covers dripped headers and bodies).

Local TLS servers on 127.0.0.1 with a throwaway self-signed certificate (``openssl`` CLI): one answers
normally (the control), one accepts TCP and never says a word of the handshake, one drips a genuine
handshake one byte every 0.2 s, which no per-read timeout ever trips. Each client runs in a thread
with a generous join: on a client without the whole-request deadline the call would not end for minutes.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lookout.exporters.collectors._http import HttpClient, HttpError

KEY = "sk-deadline-test-key"
DEADLINE = 1.5


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl CLI missing (Debian package openssl)"
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return crt, key


class TlsServer:
    """A TLS endpoint on 127.0.0.1 whose behaviour is ``mode``: "ok" (answers ``{"ok": true}``), "stall"
    (accepts TCP, never handshakes) or "drip" (a real handshake, sent one byte every ``drip`` seconds)."""

    def __init__(self, cert: tuple[Path, Path], mode: str, drip: float = 0.2):
        self.mode, self.drip = mode, drip
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*map(str, cert))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)  # so that the accepting thread sees ``stop``
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.dripped = 0
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            if self.mode != "stall":  # stall: the connection is kept, and nothing is ever sent
                t = threading.Thread(target=getattr(self, "_" + self.mode), args=(conn,), daemon=True)
                self.threads.append(t)
                t.start()

    def _ok(self, conn: socket.socket) -> None:
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := tls.recv(4096)):
                    data += chunk
                body = b'{"ok": true}'
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass

    def _drip(self, conn: socket.socket) -> None:
        """Play the server's side of the handshake through memory, and hand its bytes out slowly."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        conn.settimeout(self.drip)
        pending = b""
        try:
            while not self.stop.is_set():
                try:
                    data = conn.recv(65536)
                    if not data:
                        return
                    incoming.write(data)
                except TimeoutError:
                    pass
                with contextlib.suppress(ssl.SSLWantReadError):
                    tls.do_handshake()
                pending += outgoing.read()
                if pending:
                    conn.sendall(pending[:1])
                    pending = pending[1:]
                    self.dripped += 1
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for c in self.conns:
            c.close()
        for t in self.threads:
            t.join(5)


def _call(client: HttpClient, path: str = "/user/balance", limit: float = 20.0) -> tuple[object, float]:
    """Run ``get_json`` in a thread; return what it returned or raised, and how long it took."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(client.get_json(path))
        except Exception as exc:  # the test inspects whatever came out
            outcome.append(exc)

    started = time.monotonic()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    took = time.monotonic() - started
    assert outcome, f"the request was still running after {limit:g}s (the deadline is {client.deadline:g}s)"
    return outcome[0], took


def _client(url: str, cert: tuple[Path, Path], **kw: object) -> HttpClient:
    # a connect timeout far above the deadline: the deadline alone must end each request
    opts = {"retries": 0, "connect_timeout": 30, "read_timeout": 30, "deadline": DEADLINE, **kw}
    c = HttpClient(url, {"Authorization": f"Bearer {KEY}"}, **opts)  # type: ignore[arg-type]
    c.session.verify = str(cert[0])  # trust the throwaway certificate
    return c


@pytest.fixture
def tls_server(cert):
    servers: list[TlsServer] = []

    def make(mode: str) -> TlsServer:
        servers.append(TlsServer(cert, mode))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_a_normal_tls_answer_is_unaffected(tls_server, cert):
    server = tls_server("ok")
    result, _ = _call(_client(server.url, cert))
    assert not isinstance(result, Exception), result
    assert result.status == 200 and result.data == {"ok": True}  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["stall", "drip"])
def test_tls_handshake_is_bounded_by_the_deadline(tls_server, cert, mode):
    server = tls_server(mode)
    result, took = _call(_client(server.url, cert))
    assert isinstance(result, HttpError) and "deadline" in str(result), result
    assert KEY not in str(result)
    assert DEADLINE - 0.2 < took < DEADLINE + 2, took
    if mode == "drip":
        assert server.dripped > 0  # the handshake was under way, not refused


def test_retries_do_not_restart_a_dripping_handshake(tls_server, cert):
    # a deadline that passes is not retried: the refresh ends near one deadline, not retries + 1 of them
    server = tls_server("drip")
    result, took = _call(_client(server.url, cert, retries=2))
    assert isinstance(result, HttpError) and "deadline" in str(result), result
    assert took < DEADLINE + 2, took
    assert len(server.conns) == 1


def test_name_resolution_is_bounded_by_the_deadline(monkeypatch, tls_server, cert):
    server = tls_server("ok")
    port = int(server.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def hanging_resolver(host, *a, **kw):
        if host == "provider.example":
            time.sleep(8)  # a resolver that does not answer
        return real("127.0.0.1" if host == "provider.example" else host, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    result, took = _call(_client(f"https://provider.example:{port}", cert))
    assert isinstance(result, HttpError) and "deadline" in str(result), result
    assert took < DEADLINE + 2, took


def test_a_hung_resolver_holds_one_thread_however_many_refreshes(monkeypatch):
    """While DNS hangs, refreshes share the one lookup running for the host (an uninterruptible
    ``getaddrinfo`` each would pile up a thread per refresh per collector): each fails at its deadline
    with the phase named, and the lookup's answer serves the next refresh once the resolver recovers."""
    from lookout.stack.httpd import LocalServer, QuietHandler

    class Ok(QuietHandler):
        def do_GET(self) -> None:
            self.send_json(200, {"ok": True})

    server = LocalServer(Ok).start()
    real = socket.getaddrinfo
    release = threading.Event()
    lookups: list[str] = []

    def hanging_resolver(host, *a, **kw):
        if host == "hung.example":
            lookups.append(host)
            release.wait(30)  # a resolver that does not answer until the test lets it
            host = "127.0.0.1"
        return real(host, *a, **kw)

    def resolver_threads() -> int:
        return sum(t.name == "resolve hung.example" for t in threading.enumerate())

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    url = f"http://hung.example:{server.port}"
    # two collectors calling the same provider, retries on: none of it may start another lookup
    clients = [HttpClient(url, {"Authorization": f"Bearer {KEY}"}, retries=2, backoff=0.01, deadline=0.2)
               for _ in range(2)]
    try:
        for _ in range(15):
            for c in clients:
                result, took = _call(c, limit=5)
                assert isinstance(result, HttpError), result
                assert "deadline (name resolution of hung.example still pending)" in str(result), result
                assert KEY not in str(result)
                assert took < 0.2 + 1, took
            assert resolver_threads() <= 1
        assert lookups == ["hung.example"]  # 30 refreshes, one lookup
    finally:
        release.set()
    try:
        deadline = time.monotonic() + 5
        while resolver_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert resolver_threads() == 0
        result, _ = _call(clients[0])
        assert not isinstance(result, Exception), result
        assert result.status == 200 and result.data == {"ok": True}  # type: ignore[attr-defined]
    finally:
        server.stop()
