"""Children are waited for by the event loop that started them, not by a thread each
(issue 11: a thread per tool subprocess grew a batch's C heap ticket after ticket)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import anyio
import pytest

from opscopilot import children
from opscopilot.tools.process import run_process

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not children._pidfd_works(),
    reason="no pidfd_open here: asyncio keeps its thread per child",
)

EXIT_WITH = [sys.executable, "-c", "import sys; print('out'); sys.exit(int(sys.argv[1]))"]


@pytest.fixture
def thread_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every thread started while the test runs."""
    started: list[str] = []
    start = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    monkeypatch.setattr(threading.Thread, "start", counting)
    return started


async def _exit_codes(count: int) -> list[int | None]:
    results = [await run_process([*EXIT_WITH, str(n % 3)]) for n in range(count)]
    assert all(result.content.startswith("out") for result in results)
    return [result.exit_code for result in results]


def test_tool_subprocesses_start_no_thread_and_keep_their_exit_codes(thread_starts):
    assert anyio.run(_exit_codes, 6) == [0, 1, 2, 0, 1, 2]
    assert thread_starts == []


def test_a_loop_in_another_thread_waits_for_its_own_children(thread_starts):
    codes: list[list[int | None]] = []
    worker = threading.Thread(target=lambda: codes.append(anyio.run(_exit_codes, 3)))
    worker.start()
    worker.join()
    assert codes == [[0, 1, 2]]
    assert len(thread_starts) == 1  # the test's own thread, none per child


def test_a_child_whose_pidfd_cannot_be_had_is_waited_for_in_a_thread(
    thread_starts, monkeypatch: pytest.MonkeyPatch
):
    children.install()
    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12+ waits with its own watcher")

    def refused(pid: int) -> int:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(os, "pidfd_open", refused)
    assert anyio.run(_exit_codes, 2) == [0, 1]
    assert len(thread_starts) == 2


def test_a_watcher_chosen_elsewhere_is_left_in_place():
    if sys.version_info >= (3, 12):
        pytest.skip("child watchers are Python 3.11's")
    policy = asyncio.DefaultEventLoopPolicy()
    chosen = asyncio.PidfdChildWatcher()
    policy.set_child_watcher(chosen)
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(policy)
    try:
        children.install()
        assert policy.get_child_watcher() is chosen
    finally:
        asyncio.set_event_loop_policy(previous)
