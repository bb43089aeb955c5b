"""Where a process's pid means something: its host's name, boot and pid namespace.

A process that records its pid (a batch worker's claim, a turn's owner) records its pid space
beside it, so a dead pid is judged only by a process that can see that process. A machine
with the same hostname (a clone) or a container with a pid namespace of its own sees other
processes under the same numbers: there only the heartbeat or the lease decides.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path


@cache
def pid_space() -> str:
    """`hostname/boot-id/pid-namespace-inode`, or the hostname alone where /proc can't tell."""
    name = socket.gethostname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return f"{name}/{boot}/{namespace}"


def host_name(space: str) -> str:
    """The hostname part of a recorded pid space, for the operator to read."""
    return space.split("/", 1)[0]
