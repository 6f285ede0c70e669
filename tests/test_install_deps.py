"""scripts/install-deps on a production server: it starts and stops nothing of the host's.

The script runs for real with only its install step stubbed: ``PATH`` holds the few tools it needs plus
stand-ins for ``apt-get`` (records its calls and what policy-rc.d answered while it ran) and ``id``
(root), so every Debian package looks missing and no network is used. ``LOOKOUT_ROOT`` puts
policy-rc.d (and systemd's run folder) into the test's temporary folder: the machine's own
``/usr/sbin/policy-rc.d`` is never written (checked).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lookout.stack.procs import port_open

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-deps"
BASH = shutil.which("bash") or "/bin/bash"
REAL_POLICY = Path("/usr/sbin/policy-rc.d")
TOOLS = ("ls", "mkdir", "dirname", "mv", "rm", "chmod", "grep", "awk", "sort", "comm", "cat", "sleep")
HOST_POLICY = "#!/bin/sh\n# the host's own\nexit 0\n"
# stand-ins that only record a call: a script that signals or stops processes by name shows up in the log
# (names split so that test_nothing_kills_by_name_or_pattern does not find them here)
RECORDERS = ("p" + "kill", "kill" + "all", "pgrep", "pidof", "fuser", "systemctl", "service", "invoke-rc.d",
             "start-stop-daemon")

# records each call, and what policy-rc.d answers about starting a service while the install runs;
# APT_STUB_MODE: ok, fail (the install exits 100), hang (sleeps until interrupted)
APT_STUB = """#!/bin/sh
echo "$*" >> "$APT_STUB_LOG"
[ "$1" = install ] || exit 0
"$LOOKOUT_ROOT/usr/sbin/policy-rc.d" prometheus.service start
echo "policy-rc.d: $?" >> "$APT_STUB_LOG"
if [ -n "$DPKG_STUB_DIR" ]; then
  for p in "$@"; do case "$p" in -*|install) ;; *) echo "$p" >> "$DPKG_STUB_DIR/installed" ;; esac; done
fi
case "$APT_STUB_MODE" in
  fail) exit 100 ;;
  hang) exec sleep 120 ;;
esac
"""


# dpkg-query -W lists $DPKG_STUB_DIR/installed as installed packages, -L PKG prints $DPKG_STUB_DIR/PKG.list
DPKG_QUERY_STUB = """#!/bin/sh
case "$1" in
  -W) while read -r p; do echo "ii  $p"; done < "$DPKG_STUB_DIR/installed" ;;
  -L) cat "$DPKG_STUB_DIR/$2.list" 2>/dev/null ;;
esac
"""


def _snapshot(path: Path) -> tuple | None:
    if not path.exists():
        return None
    st = path.stat()
    return path.read_bytes(), st.st_mode, st.st_mtime_ns, st.st_ino


@pytest.fixture(autouse=True)
def real_policy_untouched() -> Iterator[None]:
    before = _snapshot(REAL_POLICY)
    yield
    assert _snapshot(REAL_POLICY) == before, "the machine's /usr/sbin/policy-rc.d was changed"
    assert not list(REAL_POLICY.parent.glob("policy-rc.d.lookout-*"))


class Setup:
    """A temporary root holding policy-rc.d, the stub tools, and the log of apt-get calls."""

    def __init__(self, tmp: Path, host_policy: bool):
        self.tmp = tmp
        self.root = tmp / "root"
        self.policy = self.root / "usr" / "sbin" / "policy-rc.d"
        self.policy.parent.mkdir(parents=True)
        if host_policy:
            self.policy.write_text(HOST_POLICY)
            self.policy.chmod(0o750)
        self.before = _snapshot(self.policy)
        self.log = tmp / "apt.log"
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        (self.bin / "apt-get").write_text(APT_STUB)
        (self.bin / "id").write_text("#!/bin/sh\necho 0\n")
        for name in RECORDERS:
            (self.bin / name).write_text(f'#!/bin/sh\necho "called: {name} $*" >> "$APT_STUB_LOG"\n')
        for stub in ("apt-get", "id", *RECORDERS):
            (self.bin / stub).chmod(0o755)

    def env(self, mode: str) -> dict[str, str]:
        return {**os.environ, "PATH": str(self.bin), "LOOKOUT_ROOT": str(self.root),
                "APT_STUB_LOG": str(self.log), "APT_STUB_MODE": mode, "DPKG_STUB_DIR": str(self.tmp / "dpkg")}

    def run(self, mode: str = "ok") -> subprocess.CompletedProcess[str]:
        return subprocess.run([BASH, str(SCRIPT)], env=self.env(mode), capture_output=True, text=True, timeout=60)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def assert_restored(self) -> None:
        assert _snapshot(self.policy) == self.before
        assert sorted(p.name for p in self.policy.parent.iterdir()) == (["policy-rc.d"] if self.before else [])
        assert not (self.root / "usr" / "sbin" / "policy-rc.d.lookout-saved").exists()


def _alive(pid: int, started: float) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        p = psutil.Process(pid)
        return p.create_time() == started and p.status() != psutil.STATUS_ZOMBIE
    return False


LISTENER = """
import socket, sys, time
s = socket.socket()
try:
    s.bind(("127.0.0.1", 9090))
except OSError:
    sys.exit(3)
s.listen()
print("listening", flush=True)
time.sleep(600)
"""


def _listener_on_9090(tmp: Path) -> tuple[subprocess.Popen | None, int | None]:
    """Our own process on 9090, named like the Debian service mtail; else whatever holds 9090 already
    (its pid, when this user may see it). Either way the set-up must leave it alone."""
    exe = tmp / "svc" / "mtail"
    exe.symlink_to(os.path.realpath(sys.executable))
    p = subprocess.Popen([str(exe), "-c", LISTENER], stdout=subprocess.PIPE, text=True, start_new_session=True)
    if p.stdout.readline().strip() == "listening":
        return p, p.pid
    assert p.wait(10) == 3, "the listener failed for another reason than a taken port"
    holders = [c.pid for c in psutil.net_connections("tcp")
               if c.status == psutil.CONN_LISTEN and c.laddr.port == 9090 and c.pid]
    return None, (holders[0] if holders else None)


def test_install_leaves_the_hosts_services_running(tmp_path):
    """A process named like a Debian service and one listening on 9090 keep running, with the same pids."""
    setup = Setup(tmp_path, host_policy=True)
    (tmp_path / "svc").mkdir()
    fake = tmp_path / "svc" / "prometheus"
    shutil.copy2(shutil.which("sleep"), fake)
    ours = [subprocess.Popen([str(fake), "600"], start_new_session=True)]
    try:
        listener, holder = _listener_on_9090(tmp_path)
        if listener is not None:
            ours.append(listener)
        watched = [p.pid for p in ours] + ([holder] if listener is None and holder else [])
        started = {pid: psutil.Process(pid).create_time() for pid in watched}
        assert psutil.Process(ours[0].pid).name() == "prometheus"

        r = setup.run()
        assert r.returncode == 0, r.stderr
        calls = setup.calls()
        assert calls[0].startswith("update") and calls[1].startswith("install -y")
        assert {"prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "mtail",
                "victoria-metrics"} <= set(calls[1].split())
        assert calls[2] == "policy-rc.d: 101", "services could start during the install"
        assert calls[3:] == [], "the set-up must not look for, signal or stop processes"
        setup.assert_restored()

        for pid, t in started.items():
            assert _alive(pid, t), f"pid {pid} ({psutil.Process(pid).name() if psutil.pid_exists(pid) else '?'}) ended"
        assert port_open(9090)
    finally:
        for p in ours:
            p.kill()
            p.wait(10)


@pytest.mark.parametrize("host_policy", [True, False], ids=["host-policy", "no-policy"])
def test_policy_restored_after_a_failed_install(tmp_path, host_policy):
    setup = Setup(tmp_path, host_policy)
    r = setup.run("fail")
    assert r.returncode == 100
    assert setup.calls()[-1] == "policy-rc.d: 101"
    setup.assert_restored()


@pytest.mark.parametrize("host_policy", [True, False], ids=["host-policy", "no-policy"])
def test_policy_restored_after_an_interrupted_install(tmp_path, host_policy):
    """Ctrl-C during apt-get (SIGINT to the process group): the trap restores policy-rc.d, exit 130."""
    setup = Setup(tmp_path, host_policy)
    p = subprocess.Popen([BASH, str(SCRIPT)], env=setup.env("hang"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "policy-rc.d: 101" not in setup.calls():
            assert time.monotonic() < deadline and p.poll() is None, "the stub install never ran"
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(30) == 130
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)
    setup.assert_restored()


def test_a_killed_run_is_restored_by_the_next(tmp_path):
    """SIGKILL cannot be trapped: the next run puts the host's policy-rc.d back before anything else."""
    setup = Setup(tmp_path, host_policy=True)
    p = subprocess.Popen([BASH, str(SCRIPT)], env=setup.env("hang"), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while "policy-rc.d: 101" not in setup.calls():
        assert time.monotonic() < deadline and p.poll() is None, "the stub install never ran"
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(10)
    assert "exit 101" in setup.policy.read_text()
    assert setup.run().returncode == 0
    setup.assert_restored()


def test_units_installed_here_are_disabled_at_boot(tmp_path):
    """On a systemd host, the units of the packages just installed are disabled (not stopped: none runs);
    those of packages that were already there, and template units, are left alone."""
    setup = Setup(tmp_path, host_policy=True)
    (setup.root / "run" / "systemd" / "system").mkdir(parents=True)
    dpkg = tmp_path / "dpkg"
    dpkg.mkdir()
    (dpkg / "installed").write_text("bash\nredis-server\n")
    (dpkg / "redis-server.list").write_text("/lib/systemd/system/redis-server.service\n")
    (dpkg / "prometheus.list").write_text("/usr/bin/prometheus\n/lib/systemd/system/prometheus.service\n")
    (dpkg / "mtail.list").write_text("/usr/lib/systemd/system/mtail.service\n/usr/lib/systemd/system/mtail@.service\n"
                                     "/usr/lib/systemd/system/mtail.socket\n")
    (setup.bin / "dpkg-query").write_text(DPKG_QUERY_STUB)
    (setup.bin / "dpkg-query").chmod(0o755)
    r = setup.run()
    assert r.returncode == 0, r.stderr
    disabled = [c for c in setup.calls() if c.startswith("called:")]
    assert disabled == ["called: systemctl disable --quiet mtail.service mtail.socket prometheus.service"]
    setup.assert_restored()


def test_nothing_kills_by_name_or_pattern():
    """Scripts, CI, tests, benchmarks, the stack and the demo end only what they started, by pid or group."""
    banned = re.compile(r"\b(" + "|".join(["p" + "kill", "kill" + "all", "fuser\\s+-k", "kill\\s+-s?\\w*\\s*\\$\\(p"
                                             + "(grep|idof)"]) + r")\b")
    offenders = []
    for folder in ("scripts", ".ci", "tests", "bench", "stack", "demo"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                with contextlib.suppress(UnicodeDecodeError):
                    for n, line in enumerate(path.read_text().splitlines(), 1):
                        if banned.search(line):
                            offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_port_9090_check_tolerates_a_taken_port(tmp_path):
    """The 9090 helper itself: a taken port gives its holder (here us, when it was free), not a failure."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 9090))
            s.listen()
            mine = True
        except OSError as e:
            assert e.errno == errno.EADDRINUSE
            mine = False
        (tmp_path / "svc").mkdir()
        listener, holder = _listener_on_9090(tmp_path)
        assert listener is None
        if mine:
            assert holder == os.getpid()
