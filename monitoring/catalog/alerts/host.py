"""The VPS from node_exporter: up, disk, memory, load.

Reads the site (``Ctx``). Publishes ``recordings(k)`` and ``alerts(k)``; each rule names the site features it
needs (``requires``) and exists only where the site has them.
"""

from __future__ import annotations

import lookout.monitoring.catalog.uids as uids
from lookout.monitoring import values as v
from lookout.monitoring.catalog.context import Ctx
from lookout.monitoring.catalog.series import NODE, num
from lookout.monitoring.model import Alert, Case, Recording, above, below

ROOTFS = f'{NODE},device="/dev/vda1",fstype="ext4",mountpoint="/"'

def recordings(k: Ctx) -> list[Recording]:
    return [
        Recording(
            record="instance:node_filesystem_avail:ratio",
            group="host",
            expr='node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}'
            ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}',
            test=Case({f'node_filesystem_avail_bytes{{{ROOTFS}}}': "5e9x10",
                  f'node_filesystem_size_bytes{{{ROOTFS}}}': "2e10x10"},
                 samples=((f'instance:node_filesystem_avail:ratio{{{NODE},device="/dev/vda1",fstype="ext4",'
                           f'mountpoint="/"}}', 0.25),)),
        ),
        Recording(
            record="instance:node_memory_available:ratio",
            group="host",
            expr="node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            test=Case(
                {f"node_memory_MemAvailable_bytes{{{NODE}}}": "1e9x10",
                 f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"},
                 samples=((f"instance:node_memory_available:ratio{{{NODE}}}", 0.25),)),
        ),
        Recording(
            record="instance:node_load5_per_cpu:ratio",
            group="host",
            expr='node_load5 / on (instance, job) count by (host, instance, job) (node_cpu_seconds_total{mode="idle"})',
            test=Case({f"node_load5{{{NODE}}}": "3x10",
                       f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x10",
                  f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x10"},
                 samples=((f"instance:node_load5_per_cpu:ratio{{{NODE}}}", 1.5),)),
        ),
    ]

def alerts(k: Ctx) -> list[Alert]:
    t = k.t
    vcpus, mem, disk = k.host_size
    warn, crit = float(t.disk_free_warning.value), float(t.disk_free_critical.value)
    memav, load = float(t.memory_available.value), float(t.load_per_cpu.value)
    return [
        Alert(
            name="HostDown",
            group="host",
            expr='up{job="node"} == 0',
            severity="critical",
            summary="The host's node exporter is unreachable.",
            description="Host {{ $labels.instance }} does not answer for 1 minute; alerts that follow from it are "
            "muted.",
            panel=(uids.HOST, "Host up"),
            value=v.NO_VALUE,
            fire=Case({f"up{{{NODE}}}": "0x10"}),
            quiet=Case({f"up{{{NODE}}}": "1x10"}), for_="1m",
            meaning="The VPS (or its node exporter) is down: every service on it is down too, so the alerts "
            "that follow are inhibited (same `host`).",
            confirm="`ping`/`ssh` the VPS; the provider's console.",
            fix="Reboot from the provider's console; after boot check `systemctl --failed`.",
        ),
        Alert(
            name="HostDiskSpaceLow",
            group="host",
            expr=below("instance:node_filesystem_avail:ratio", t.disk_free_warning),
            severity="warning",
            summary="A filesystem is running out of space.",
            description="{{ $labels.mountpoint }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} "
            "free.",
            panel=(uids.HOST, "Disk free"),
            value=v.ratio("free"),
            fire=Case({f'node_filesystem_avail_bytes{{{ROOTFS}}}': f"{num(warn * 2 / 3 * 2e10)}x10",
                  f'node_filesystem_size_bytes{{{ROOTFS}}}': "2e10x10"},
                 labels={"job": "node", "instance": "node-exporter:9100", "device": "/dev/vda1", "fstype": "ext4",
                         "mountpoint": "/"}, value=round(warn * 2 / 3, 9)),
            quiet=Case({f'node_filesystem_avail_bytes{{{ROOTFS}}}': f"{num(warn * 2e10)}x10",
                  f'node_filesystem_size_bytes{{{ROOTFS}}}': "2e10x10"}),
            for_="5m",
            meaning=f"The {disk} GB disk fills (logs, PostgreSQL, Prometheus data). At 0% PostgreSQL stops.",
            confirm="`df -h`; `sudo du -xh / --max-depth=2 | sort -h | tail`; `journalctl --disk-usage`.",
            fix="`sudo journalctl --vacuum-size=200M`; rotate nginx/app logs; lower Prometheus retention.",
        ),
        Alert(
            name="HostDiskSpaceCritical",
            group="host",
            expr=below("instance:node_filesystem_avail:ratio", t.disk_free_critical),
            severity="critical",
            summary="A filesystem is almost full.",
            description="{{ $labels.mountpoint }} on {{ $labels.instance }} has only {{ $value | humanizePercentage }} "
            "free.",
            panel=(uids.HOST, "Disk free"),
            value=v.ratio("free"),
            fire=Case({f'node_filesystem_avail_bytes{{{ROOTFS}}}': f"{num(crit / 2 * 2e10)}x10",
                  f'node_filesystem_size_bytes{{{ROOTFS}}}': "2e10x10"},
                 labels={"job": "node", "instance": "node-exporter:9100", "device": "/dev/vda1", "fstype": "ext4",
                         "mountpoint": "/"}, value=crit / 2),
            quiet=Case({f'node_filesystem_avail_bytes{{{ROOTFS}}}': f"{num(crit * 2e10)}x10",
                  f'node_filesystem_size_bytes{{{ROOTFS}}}': "2e10x10"}),
            for_="2m",
            meaning="Writes are about to fail: PostgreSQL will refuse transactions, Redis cannot persist.",
            confirm="`df -h`.",
            fix="Free space now (see HostDiskSpaceLow), then plan a bigger disk.",
        ),
        Alert(
            name="HostMemoryLow",
            group="host",
            expr=below("instance:node_memory_available:ratio", t.memory_available),
            severity="warning",
            summary="The host is running out of memory.",
            description="{{ $labels.instance }} has {{ $value | humanizePercentage }} of its memory available.",
            panel=(uids.HOST, "Memory available"),
            value=v.ratio("of memory available"),
            fire=Case(
                {f"node_memory_MemAvailable_bytes{{{NODE}}}": f"{num(memav / 2 * 4e9)}x10",
                 f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"},
                 labels={"job": "node", "instance": "node-exporter:9100"}, value=memav / 2),
            quiet=Case({f"node_memory_MemAvailable_bytes{{{NODE}}}": f"{num(memav * 4e9)}x10",
                  f"node_memory_MemTotal_bytes{{{NODE}}}": "4e9x10"}),
            for_="5m",
            meaning=f"Less than {t.memory_available.value:.0%} of the {mem} GB is available: the OOM killer will "
            "pick a worker, Redis or PostgreSQL.",
            confirm="`free -m`; `ps aux --sort=-rss | head`; `dmesg -T | grep -i oom`.",
            fix="Lower worker counts or Celery concurrency, set Redis `maxmemory`, or upgrade the VPS (8 GB).",
        ),
        Alert(
            name="HostLoadHigh",
            group="host",
            expr=above("instance:node_load5_per_cpu:ratio", t.load_per_cpu),
            severity="warning",
            summary="The host's CPUs are saturated.",
            description="{{ $labels.instance }} has a 5-minute load of {{ $value | humanize }} per vCPU.",
            panel=(uids.HOST, "Load per vCPU"),
            value=v.amount("load per vCPU"),
            fire=Case({f"node_load5{{{NODE}}}": f"{num(3 * load)}x20",
                       f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x20",
                  f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x20"}, at="15m",
                 labels={"job": "node", "instance": "node-exporter:9100"}, value=1.5 * load),
            quiet=Case({f"node_load5{{{NODE}}}": f"{num(2 * load)}x20",
                        f'node_cpu_seconds_total{{{NODE},cpu="0",mode="idle"}}': "0+60x20",
                  f'node_cpu_seconds_total{{{NODE},cpu="1",mode="idle"}}': "0+60x20"}, at="15m"),
            for_="10m",
            meaning=f"More runnable tasks than {vcpus} vCPU can serve: requests queue, latency grows.",
            confirm="`top`/`htop`; which process uses the CPU; the worker-pool busy panel.",
            fix=f"Find the hot process; reduce workers on a {vcpus} vCPU box or upgrade ({2 * vcpus} CPU).",
        ),
    ]
