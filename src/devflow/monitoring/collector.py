"""Read a server's metrics in one command, and turn two readings into a sample.

The command prints the kernel's own files (`/proc/stat`, `meminfo`, `loadavg`,
`net/dev`, `diskstats`, `uptime`), the whole-disk list and `df`, each under an
`@section` line. Counters (CPU jiffies, bytes) become percentages and rates
against the previous reading; the server's uptime is the clock, so a reboot
(uptime going back) yields no rates rather than wrong ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devflow.transport.commands import Command

SCRIPT = (
    "LC_ALL=C; export LC_ALL; "
    "echo @stat; head -n 1 /proc/stat; "
    "echo @meminfo; cat /proc/meminfo; "
    "echo @loadavg; cat /proc/loadavg; "
    "echo @netdev; cat /proc/net/dev; "
    "echo @diskstats; cat /proc/diskstats 2>/dev/null; "
    "echo @block; ls /sys/block 2>/dev/null; "
    "echo @uptime; cat /proc/uptime; "
    "echo @df; df -P -k -x tmpfs -x devtmpfs -x squashfs 2>/dev/null; true"
)

VIRTUAL_DISKS = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")


def command() -> Command:
    return Command.script(SCRIPT, label="collect metrics")


class ReadingError(ValueError):
    """The output is not what the collection script prints (not Linux?)."""


@dataclass
class Reading:
    """What one run of the script said: gauges now, and counters to diff later."""

    uptime: float
    cpu_total: int
    cpu_idle: int
    mem_used: int
    mem_total: int
    swap_used: int
    swap_total: int
    load: tuple[float, float, float]
    net_rx: int
    net_tx: int
    disk_read: int
    disk_write: int
    mounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counters(self) -> dict[str, float]:
        return {
            "uptime": self.uptime,
            "cpu_total": self.cpu_total,
            "cpu_idle": self.cpu_idle,
            "net_rx": self.net_rx,
            "net_tx": self.net_tx,
            "disk_read": self.disk_read,
            "disk_write": self.disk_write,
        }


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("@") and " " not in line:
            current = sections.setdefault(line[1:], [])
        elif current is not None and line.strip():
            current.append(line)
    return sections


def parse(output: str) -> Reading:
    sections = _sections(output)
    try:
        cpu = [int(v) for v in sections["stat"][0].split()[1:9]]
        meminfo = {
            line.split(":")[0]: int(line.split()[1]) * 1024
            for line in sections["meminfo"]
            if ":" in line and len(line.split()) >= 2
        }
        load_fields = sections["loadavg"][0].split()
        uptime = float(sections["uptime"][0].split()[0])
    except (KeyError, IndexError, ValueError) as error:
        raise ReadingError(f"unexpected output from the metrics script ({error})") from None
    available = meminfo.get("MemAvailable", meminfo.get("MemFree", 0))
    net_rx = net_tx = 0
    for line in sections.get("netdev", []):
        if ":" not in line:
            continue
        name, values = line.split(":", 1)
        numbers = values.split()
        if name.strip() == "lo" or len(numbers) < 9:
            continue
        net_rx += int(numbers[0])
        net_tx += int(numbers[8])
    whole = set(sections.get("block", []))
    disk_read = disk_write = 0
    for line in sections.get("diskstats", []):
        numbers = line.split()
        if len(numbers) < 10:
            continue
        name = numbers[2]
        if (whole and name not in whole) or name.startswith(VIRTUAL_DISKS):
            continue
        disk_read += int(numbers[5]) * 512
        disk_write += int(numbers[9]) * 512
    return Reading(
        uptime=uptime,
        cpu_total=sum(cpu),
        cpu_idle=cpu[3] + cpu[4],
        mem_total=meminfo.get("MemTotal", 0),
        mem_used=meminfo.get("MemTotal", 0) - available,
        swap_total=meminfo.get("SwapTotal", 0),
        swap_used=meminfo.get("SwapTotal", 0) - meminfo.get("SwapFree", 0),
        load=(float(load_fields[0]), float(load_fields[1]), float(load_fields[2])),
        net_rx=net_rx,
        net_tx=net_tx,
        disk_read=disk_read,
        disk_write=disk_write,
        mounts=_mounts(sections.get("df", [])),
    )


def _mounts(lines: list[str]) -> list[dict[str, Any]]:
    """Filesystems from `df -P -k`, each once (bind mounts repeat their device)."""
    mounts = []
    seen: set[str] = set()
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        device, total, used, mount = parts[0], int(parts[1]), int(parts[2]), parts[5]
        if total == 0 or device in seen:
            continue
        seen.add(device)
        mounts.append({"mount": mount, "used": used * 1024, "total": total * 1024})
    return mounts


def rates(previous: dict[str, float] | None, reading: Reading) -> dict[str, float | None]:
    """CPU % and per-second rates since `previous` (None when there is nothing to compare)."""
    empty: dict[str, float | None] = dict.fromkeys(
        ["cpu_percent", "net_rx_bps", "net_tx_bps", "disk_read_bps", "disk_write_bps"]
    )
    if not previous:
        return empty
    elapsed = reading.uptime - float(previous.get("uptime", 0))
    if elapsed <= 0:
        return empty  # rebooted since: counters started again

    def per_second(key: str) -> float | None:
        delta = reading.counters[key] - float(previous.get(key, 0))
        return delta / elapsed if delta >= 0 else None

    total = reading.cpu_total - float(previous.get("cpu_total", 0))
    idle = reading.cpu_idle - float(previous.get("cpu_idle", 0))
    cpu = round(100.0 * (1 - idle / total), 2) if total > 0 and idle >= 0 else None
    return {
        "cpu_percent": max(0.0, min(100.0, cpu)) if cpu is not None else None,
        "net_rx_bps": per_second("net_rx"),
        "net_tx_bps": per_second("net_tx"),
        "disk_read_bps": per_second("disk_read"),
        "disk_write_bps": per_second("disk_write"),
    }
