"""system_info: load, cores, memory, disks and top processes, read straight from /proc."""

from __future__ import annotations

import os
import pwd
import time
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from opscopilot.tools.base import Classification, OutputCallback, Tool, ToolResult

_PSEUDO_FS = {
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "pstore",
    "bpf",
    "tracefs",
    "debugfs",
    "securityfs",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "nsfs",
    "rpc_pipefs",
    "efivarfs",
    "ramfs",
    "squashfs",
    "selinuxfs",
    "fuse.gvfsd-fuse",
    "fuse.portal",
    "tmpfs",
    "devfs",
    "overlay-lower",
}
_SAMPLE_S = 0.25


class SystemInfoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top: int = Field(5, ge=1, le=50, description="How many top processes to list.")


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def memory() -> dict[str, int]:
    """/proc/meminfo figures in bytes."""
    figures: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            figures[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    total = figures.get("MemTotal", 0)
    available = figures.get("MemAvailable", figures.get("MemFree", 0))
    return {
        "total": total,
        "available": available,
        "used": total - available,
        "swap_total": figures.get("SwapTotal", 0),
        "swap_used": figures.get("SwapTotal", 0) - figures.get("SwapFree", 0),
    }


def disks() -> list[dict[str, Any]]:
    """Usage of every real mounted file system (one line per device)."""
    seen: set[str] = set()
    result = []
    for line in _read("/proc/mounts").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        device, mountpoint, fstype = fields[0], fields[1].replace("\\040", " "), fields[2]
        if fstype in _PSEUDO_FS or device in seen:
            continue
        try:
            vfs = os.statvfs(mountpoint)
        except OSError:
            continue
        if vfs.f_blocks == 0:
            continue
        seen.add(device)
        total = vfs.f_blocks * vfs.f_frsize
        free = vfs.f_bavail * vfs.f_frsize
        used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
        result.append(
            {
                "mount": mountpoint,
                "device": device,
                "fstype": fstype,
                "total": total,
                "used": used,
                "free": free,
                "used_percent": round(100 * used / max(used + free, 1), 1),
                "inodes_used_percent": round(100 * (vfs.f_files - vfs.f_ffree) / vfs.f_files, 1)
                if vfs.f_files
                else None,
            }
        )
    return result


def _process_times() -> dict[int, tuple[str, int, int, int]]:
    """pid -> (name, cpu ticks, rss bytes, uid) for every process we can see."""
    page = os.sysconf("SC_PAGE_SIZE")
    processes = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = _read(f"/proc/{entry.name}/stat")
            uid = entry.stat().st_uid
        except OSError:
            continue  # the process ended while we looked
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        processes[int(entry.name)] = (name, ticks, int(fields[21]) * page, uid)
    return processes


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def top_processes(count: int) -> dict[str, list[dict[str, Any]]]:
    """Top processes by CPU (sampled over a quarter second) and by resident memory."""
    hertz = os.sysconf("SC_CLK_TCK")
    before = _process_times()
    started = time.monotonic()
    time.sleep(_SAMPLE_S)
    after = _process_times()
    elapsed = max(time.monotonic() - started, 1e-3)
    rows = []
    for pid, (name, ticks, rss, uid) in after.items():
        previous = before.get(pid)
        delta = ticks - previous[1] if previous and previous[0] == name else 0
        rows.append(
            {
                "pid": pid,
                "name": name,
                "user": _user(uid),
                "cpu_percent": round(100 * delta / hertz / elapsed, 1),
                "rss": rss,
            }
        )
    by_cpu = sorted(rows, key=lambda r: (r["cpu_percent"], r["rss"]), reverse=True)[:count]
    by_rss = sorted(rows, key=lambda r: r["rss"], reverse=True)[:count]
    return {"by_cpu": by_cpu, "by_memory": by_rss, "count": len(rows)}  # type: ignore[dict-item]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def collect(count: int = 5) -> dict[str, Any]:
    load = _read("/proc/loadavg").split()
    uptime_s = float(_read("/proc/uptime").split()[0])
    uname = os.uname()
    return {
        "hostname": uname.nodename,
        "kernel": f"{uname.sysname} {uname.release}",
        "uptime_s": uptime_s,
        "load": [float(x) for x in load[:3]],
        "cores": os.cpu_count() or 1,
        "memory": memory(),
        "disks": disks(),
        "processes": top_processes(count),
    }


def render(info: dict[str, Any]) -> str:
    """The figures as the compact text block the model reads."""
    mem = info["memory"]
    days, rest = divmod(int(info["uptime_s"]), 86400)
    lines = [
        f"host {info['hostname']} ({info['kernel']}), up {days}d {rest // 3600}h {rest % 3600 // 60}m",
        "load " + " ".join(f"{x:.2f}" for x in info["load"]) + f" on {info['cores']} cores",
        f"memory {_size(mem['used'])} used of {_size(mem['total'])} "
        f"({100 * mem['used'] / max(mem['total'], 1):.0f}%), {_size(mem['available'])} available; "
        f"swap {_size(mem['swap_used'])} of {_size(mem['swap_total'])}",
        "disks:",
    ]
    for disk in info["disks"]:
        inodes = (
            f", inodes {disk['inodes_used_percent']}%"
            if disk["inodes_used_percent"] is not None
            else ""
        )
        lines.append(
            f"  {disk['mount']} ({disk['fstype']}) {_size(disk['used'])} of "
            f"{_size(disk['total'])} used ({disk['used_percent']}%), "
            f"{_size(disk['free'])} free{inodes}"
        )
    processes = info["processes"]
    lines.append(f"top processes by cpu (of {processes['count']}):")
    lines += [
        f"  {p['pid']:>7} {p['user']:<10} {p['cpu_percent']:>5.1f}% "
        f"{_size(p['rss']):>10}  {p['name']}"
        for p in processes["by_cpu"]
    ]
    lines.append("top processes by memory:")
    lines += [
        f"  {p['pid']:>7} {p['user']:<10} {p['cpu_percent']:>5.1f}% "
        f"{_size(p['rss']):>10}  {p['name']}"
        for p in processes["by_memory"]
    ]
    return "\n".join(lines)


class SystemInfoTool(Tool):
    name = "system_info"
    in_process = True  # reads /proc and statvfs itself
    description = "Load averages, cores, memory, disk usage and the top processes of this host."
    args_model = SystemInfoArgs

    def classify(self, arguments: dict[str, Any]) -> Classification:
        return Classification(
            "read", "reads /proc", tool=self.name, command=self.name, subjects=(self.name,)
        )

    async def run(
        self,
        args: BaseModel | dict[str, Any],
        *,
        on_output: OutputCallback | None = None,
        approved_shell: bool = False,
    ) -> ToolResult:
        parsed = self.validate(args)
        assert isinstance(parsed, SystemInfoArgs)
        started = time.monotonic()
        try:
            info = await anyio.to_thread.run_sync(collect, parsed.top)
        except OSError as exc:
            return ToolResult(status="error", content=f"cannot read system figures: {exc}")
        return ToolResult(
            status="ok",
            content=render(info),
            data=info,
            duration_s=round(time.monotonic() - started, 3),
        )
