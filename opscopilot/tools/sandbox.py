"""The OS sandbox (bubblewrap) every call that runs without a person's decision runs inside.

What a confined program gets: the host's file system read-only, a private empty `/tmp`
(and `/var/tmp`) as its scratch, a fresh `/proc` in its own pid namespace (other processes
and their environments are not there), a minimal `/dev`, no capabilities (opscopilot often
runs as root: without `--cap-drop ALL` root inside could remount `/` read-write), no new
privileges, its own session (no TIOCSTI into the operator's terminal), and it dies with
opscopilot. The operator's secret paths and opscopilot's own home and database are covered
(an empty tmpfs over a folder, /dev/null over a file). The network is off unless the program's
job is a network read (`curl`, `dig`, `ss` …, see `PROGRAMS`); secrets stay hidden then too.

A call the operator approved (per call, by mode `all` or by an exact allow rule) runs as
approved, unsandboxed. The runtime says which calls are unattended with `confined()`; every
process a tool starts inside that block is wrapped by `run_process`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

NET = "net"  # the host's network namespace (a network probe)
PIDS = "pids"  # the host's process list (a process viewer: its job is to see them)
KUBE = "kube"  # ~/.kube stays visible (kubectl's own credentials, nothing else)
DOCKER = "docker"  # the container engine's socket stays reachable
SYSTEMD = "systemd"  # systemd's and the system bus's sockets stay reachable

# What a program needs from the host beyond the default confinement (no network, its own
# pid namespace, every secret path hidden). Programs not listed get the default.
_NETWORK_PROBES = """
    curl wget dig host nslookup drill delv ping ping6 traceroute traceroute6 tracepath mtr
    whois openssl nc ncat ip ifconfig route arp ethtool iptables ip6tables nft iptables-save
    ip6tables-save conntrack tc bridge nmcli chronyc ntpq
"""
_PROCESS_VIEWERS = "ps pgrep pidof top htop pstree pmap pwdx"
_SOCKET_VIEWERS = "ss netstat lsof fuser"  # host sockets and the processes owning them
_KUBE_CLIENTS = "kubectl helm"  # their own ~/.kube and the cluster's API over the network
_CONTAINER_CLIENTS = "docker podman crictl ctr nerdctl"
_SYSTEMD_CLIENTS = "hostnamectl timedatectl localectl loginctl systemd-analyze"

PROGRAMS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_NETWORK_PROBES.split(), frozenset({NET})),
    **dict.fromkeys(_PROCESS_VIEWERS.split(), frozenset({PIDS})),
    "systemctl": frozenset({PIDS, SYSTEMD}),
    "resolvectl": frozenset({NET, SYSTEMD}),
    "networkctl": frozenset({NET, SYSTEMD}),
    **dict.fromkeys(_CONTAINER_CLIENTS.split(), frozenset({DOCKER})),
    **dict.fromkeys(_SYSTEMD_CLIENTS.split(), frozenset({SYSTEMD})),
    **dict.fromkeys(_SOCKET_VIEWERS.split(), frozenset({NET, PIDS})),
    **dict.fromkeys(_KUBE_CLIENTS.split(), frozenset({NET, KUBE})),
}
# Words that run the command after them; their own options are the policy's business (it
# has judged the call before it gets here), here they are only stepped over.
_WRAPPERS = frozenset(
    (
        "sudo", "doas", "env", "nice", "ionice", "timeout", "time", "stdbuf", "chrt",
        "taskset", "nohup", "setsid", "command", "unbuffer", "xargs", "watch",
    )
)  # fmt: skip
_WRAPPER_VALUE = re.compile(r"^(-.*|[A-Za-z_][A-Za-z0-9_]*=.*|\d+(\.\d+)?[smhd]?)$", re.DOTALL)

# Under each home folder: credentials of ssh, clouds, kube, gpg, container registries, VCS,
# package registries, password stores, shell histories.
_HOME_SECRETS = (
    ".ssh", ".aws", ".azure", ".config/gcloud", ".kube", ".gnupg", ".docker", ".netrc",
    ".git-credentials", ".pgpass", ".my.cnf", ".npmrc", ".pypirc", ".vault-token",
    ".config/gh", ".config/hub", ".config/doctl", ".config/rclone", ".terraform.d",
    ".password-store", ".local/share/keyrings", ".boto", ".s3cfg", ".oci", ".cargo/credentials",
    ".cargo/credentials.toml", ".gem/credentials", ".config/op", ".bash_history",
    ".zsh_history", ".python_history", ".psql_history", ".mysql_history", ".lesshst",
    ".viminfo", ".local/share/opscopilot", ".config/opscopilot",
)  # fmt: skip
_SYSTEM_SECRETS = (
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssl/private",
    "/etc/sudoers", "/etc/sudoers.d", "/run/user", "/run/secrets", "/var/run/secrets",
    "/var/lib/opscopilot",
)  # fmt: skip
_SCRATCH = ("/tmp", "/var/tmp")
# Sockets of daemons that act as root for whoever connects: a read-only file system does not
# stop a program from asking them to change things, so only their own clients reach them.
_DAEMON_SOCKETS = {
    DOCKER: (
        "/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock",
        "/run/crio/crio.sock", "/run/k3s/containerd/containerd.sock",
    ),
    SYSTEMD: ("/run/systemd/private", "/run/dbus/system_bus_socket", "/run/systemd/io.systemd.*"),
}  # fmt: skip


@dataclass(frozen=True)
class SandboxStatus:
    """Whether confined calls can run on this host, and if not, one line saying why."""

    available: bool
    reason: str
    binary: str | None = None


class SandboxUnavailable(Exception):
    """The call must run confined and this host cannot confine it."""


_confined: ContextVar[bool] = ContextVar("opscopilot_confined", default=False)


@contextlib.contextmanager
def confined(enabled: bool = True) -> Iterator[None]:
    """Every process started inside this block (by any tool) runs in the sandbox."""
    token = _confined.set(enabled)
    try:
        yield
    finally:
        _confined.reset(token)


def is_confined() -> bool:
    return _confined.get()


def bwrap_path() -> str | None:
    """`OPSCOPILOT_BWRAP` > config.toml `[sandbox] bwrap` > `bwrap` on PATH."""
    configured = os.environ.get("OPSCOPILOT_BWRAP")
    if not configured:
        try:
            from opscopilot import config

            configured = config.section("sandbox").get("bwrap")
        except Exception:  # a broken config is reported by its own command; here: the default
            configured = None
    if configured:
        return str(configured)
    return shutil.which("bwrap")


def status() -> SandboxStatus:
    """Probe the sandbox once per binary (a real confined `true`), cached for the process."""
    return _probe(bwrap_path())


@cache
def _probe(binary: str | None) -> SandboxStatus:
    if binary is None:
        return SandboxStatus(
            False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
        )
    if not os.access(binary, os.X_OK):
        return SandboxStatus(False, f"bubblewrap not found at {binary}", binary)
    argv = [binary, *_base_args(network=False, host_pids=False), "--chdir", "/", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, f"bubblewrap cannot start: {exc}", binary)
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = detail[-1] if detail else f"exit code {done.returncode}"
        if "namespace" in why.lower() or "permitted" in why.lower():
            why += " (user namespaces may be disabled: kernel.unprivileged_userns_clone)"
        return SandboxStatus(False, f"bubblewrap does not work here: {why}", binary)
    return SandboxStatus(True, "bubblewrap works", binary)


def program_of(argv: Sequence[str]) -> str:
    """The program a command line runs once wrappers (`sudo`, `timeout 5`, `env X=1` …) are
    stepped over; an unclear word ends the walk, which only ever means less is granted."""
    index = 0
    while index < len(argv):
        name = os.path.basename(argv[index])
        if name in _WRAPPERS:
            index += 1
            while index < len(argv) and _WRAPPER_VALUE.match(argv[index]):
                index += 1
            continue
        return name
    return ""


def needs_of(program: str) -> frozenset[str]:
    return PROGRAMS.get(program, frozenset())


def _base_args(*, network: bool, host_pids: bool) -> list[str]:
    args = [
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--new-session", "--die-with-parent",
        "--cap-drop", "ALL",
    ]  # fmt: skip
    if not host_pids:
        args.append("--unshare-pid")
    if not network:
        args.append("--unshare-net")
    for scratch in _SCRATCH:
        if os.path.isdir(scratch):
            args += ["--tmpfs", scratch]
    return args


_NOT_HOMES = ("/bin", "/sbin", "/usr", "/dev", "/proc", "/sys", "/lib")


def _homes() -> set[str]:
    """The home folders of this host's accounts (system accounts' /usr/sbin and the like,
    or "/nonexistent", are not homes)."""
    homes = {os.path.expanduser("~")}
    with contextlib.suppress(Exception):
        homes.update(entry.pw_dir for entry in pwd.getpwall())
    return {
        home
        for home in homes
        if home not in ("", "/")
        and not any(home == top or home.startswith(top + "/") for top in _NOT_HOMES)
        and os.path.isdir(home)
    }


def _opscopilot_paths() -> list[str]:
    paths = []
    with contextlib.suppress(Exception):
        from opscopilot import config

        paths += [str(config.config_dir()), str(config.data_dir())]
        db = str(config.db_path())
        paths += [db, db + "-wal", db + "-shm", db + "-journal"]
    store = os.environ.get("OPSCOPILOT_STORE", "")
    if store.startswith("sqlite:///"):
        db = store.removeprefix("sqlite://")
        paths += [db, db + "-wal", db + "-shm", db + "-journal"]
    return paths


def _existing(path: str) -> str | None:
    """The path to cover: itself, or where its symlink leads; None when there is nothing."""
    try:
        if not os.path.islink(path):
            os.lstat(path)
            return path
    except OSError:
        return None
    target = os.path.realpath(path)
    return target if os.path.exists(target) else None


_HIDDEN_TTL_S = 1.0  # a burst of calls (a batch) looks the paths up once a second
_hidden_cache: dict[tuple[object, ...], tuple[float, list[str]]] = {}


def hidden_paths(program: str = "") -> list[str]:
    """Every existing secret path this program must not see (symlinks followed)."""
    needs = needs_of(program)
    key = (needs, *(os.environ.get(v) for v in ("HOME", "OPSCOPILOT_HOME", "OPSCOPILOT_STORE")))
    cached = _hidden_cache.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _HIDDEN_TTL_S:
        return cached[1]
    paths = _find_hidden(needs)
    _hidden_cache[key] = (now, paths)
    return paths


def _find_hidden(needs: frozenset[str]) -> list[str]:
    candidates = list(_SYSTEM_SECRETS) + _opscopilot_paths()
    for need, sockets in _DAEMON_SOCKETS.items():
        if need not in needs:
            candidates += [found for pattern in sockets for found in glob.glob(pattern)]
    for home in _homes():
        try:
            names = set(os.listdir(home))  # one read per home instead of a stat per secret
        except OSError:
            continue
        candidates += [
            os.path.join(home, rel) for rel in _HOME_SECRETS if rel.split("/", 1)[0] in names
        ]
    with contextlib.suppress(OSError):
        candidates += [
            os.path.join("/etc/ssh", name)
            for name in os.listdir("/etc/ssh")
            if name.startswith("ssh_host_") and name.endswith("_key")
        ]
    visible = {os.path.join(home, ".kube") for home in _homes()} if KUBE in needs else set()
    found = {
        path
        for candidate in candidates
        if candidate not in visible and (path := _existing(candidate)) is not None
    }
    # A folder hidden whole hides what is under it: covering both would fail on the inner one.
    ordered = sorted(found)
    return [p for p in ordered if not any(p.startswith(q + "/") for q in ordered if q != p)]


def wrap(argv: Sequence[str], cwd: str | None = None) -> list[str]:
    """The bwrap command line that runs `argv` confined in `cwd` (default: the current one)."""
    state = status()
    if not state.available or state.binary is None:
        raise SandboxUnavailable(state.reason)
    program = program_of(argv)
    needs = needs_of(program)
    args = [state.binary, *_base_args(network=NET in needs, host_pids=PIDS in needs)]
    cwd = os.path.realpath(cwd or os.getcwd())
    if any(cwd.startswith(s + "/") for s in _SCRATCH):
        args += ["--ro-bind", cwd, cwd]  # a folder under /tmp stays where the call asked to be
    for path in hidden_paths(program):
        if os.path.isdir(path):
            args += ["--tmpfs", path]  # empty and private: what is written there vanishes
        else:
            args += ["--ro-bind", "/dev/null", path]
    args += ["--setenv", "TMPDIR", "/tmp", "--chdir", cwd, "--", *argv]
    return args


def gate(decision: Any, tool: Any) -> Any:
    """A policy decision, made to ask where the call would run unattended and this host has
    no sandbox for it (tools that start no program, `in_process`, need none)."""
    if decision.action != "run" or decision.standing or getattr(tool, "in_process", False):
        return decision
    state = status()
    if state.available:
        return decision
    return dataclasses.replace(
        decision, action="ask", reason=f"no OS sandbox on this host ({state.reason}), so it asks"
    )
