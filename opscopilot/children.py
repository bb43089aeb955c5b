"""How this process hears that a child it started has exited: without a thread per child.

Python 3.11's asyncio waits for each subprocess in a thread of its own (`ThreadedChildWatcher`),
so a batch that runs a tool per ticket started and ended a thread per ticket, and each new
thread took memory from one of glibc's per-thread malloc arenas (up to 8 per core), where
freed blocks stayed: RSS grew ~7 KB per ticket (benchmarks/README.md, issue 11). On Linux
5.3+ the event loop itself can wait: a pid file descriptor becomes readable when its child
exits. Python 3.12 does this by itself; `install()` brings the same to 3.11. Where the kernel
or a seccomp filter refuses `pidfd_open`, the thread per child stays.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_installed_on: object | None = None  # the event loop policy whose watcher install() set


def _pidfd_works() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def install() -> None:
    """Let asyncio's subprocesses in this process be waited for by their event loop (a pidfd
    reader) instead of a thread each; cheap to call before every spawn. A watcher someone else
    chose (not Python's default) is left in place."""
    global _installed_on
    if sys.version_info >= (3, 12) or not sys.platform.startswith("linux"):
        return  # 3.12+ uses pidfds by itself; elsewhere there are none
    policy = asyncio.get_event_loop_policy()
    if policy is _installed_on:
        return
    with _lock:
        if policy is _installed_on:
            return
        _installed_on = policy
        if not _pidfd_works():
            return
        try:
            current = policy.get_child_watcher()
        except (AttributeError, NotImplementedError):  # a policy without child watchers
            return
        if type(current) is asyncio.ThreadedChildWatcher:
            policy.set_child_watcher(_pidfd_watcher())


def _pidfd_watcher() -> asyncio.AbstractChildWatcher:
    # Defined here: subclassing AbstractChildWatcher warns from Python 3.12 on (never reached).
    class PidfdWatcher(asyncio.AbstractChildWatcher):
        """Each child's exit is a reader on the loop that started it, whatever thread that
        loop runs in (Python 3.12's `PidfdChildWatcher`; 3.11's serves one attached loop)."""

        def __init__(self) -> None:
            self._fallback = asyncio.ThreadedChildWatcher()
            self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

        def __enter__(self) -> PidfdWatcher:
            return self

        def __exit__(self, *_: object) -> None:
            pass

        def is_active(self) -> bool:
            return True

        def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
            pass  # each child is watched on the loop running when it was started

        def close(self) -> None:
            self._fallback.close()

        def add_child_handler(self, pid: int, callback: Callable[..., Any], *args: Any) -> None:
            loop = asyncio.get_running_loop()
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:  # out of file descriptors, say: this one waits in a thread
                self._fallback.add_child_handler(pid, callback, *args)
                return
            self._waiting[pid] = (loop, pidfd)
            loop.add_reader(pidfd, self._exited, pid, callback, args)

        def remove_child_handler(self, pid: int) -> bool:
            waiting = self._waiting.pop(pid, None)
            if waiting is None:
                return self._fallback.remove_child_handler(pid)
            loop, pidfd = waiting
            loop.remove_reader(pidfd)
            os.close(pidfd)
            return True

        def _exited(self, pid: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
            waiting = self._waiting.pop(pid, None)
            if waiting is None:
                return
            loop, pidfd = waiting
            loop.remove_reader(pidfd)
            os.close(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:  # reaped elsewhere: as asyncio's own watchers report it
                returncode = 255
            else:
                returncode = os.waitstatus_to_exitcode(status)
            callback(pid, returncode, *args)

    return PidfdWatcher()
