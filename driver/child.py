"""Driver layer: the driver's own child processes (the tester, the feature extractor, the weights
check), each one spawned process that dies with the driver, however the driver ends."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor


def pool(initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A one-process pool, spawned (no fork of a process that holds Ray's threads), whose
    process ends with this one: a double Ctrl-C, os._exit or SIGKILL of the driver leaves no
    child behind, blocked on a pipe no one reads. Its stderr goes to /dev/null: TensorFlow's
    start-up lines (oneDNN, CUDA probing), which no log level silences, and Keras's warnings
    would otherwise land among the driver's; its errors still reach the driver, raised by the
    futures."""
    import multiprocessing
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start, initargs=(os.getpid(), initializer))


def _start(parent: int, initializer: Callable[[], None] | None) -> None:
    die_with(parent)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    if initializer is not None:
        initializer()


def die_with(parent: int) -> None:
    """End this process when `parent` ends. On Linux the kernel sends SIGKILL (PR_SET_PDEATHSIG;
    the driver spawns its children from the main thread, whose end it watches); elsewhere a
    thread checks once a second that the parent is still this process's parent."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)
        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
    if os.getppid() != parent:  # it ended before the watch began
        os._exit(1)


def kill_descendants() -> None:
    """SIGKILL every process this one started, and theirs (the tester; a local Ray's GCS, raylet,
    dashboard agent and workers): for a driver that ends at once. Ray's processes would notice
    the driver's end themselves, but its dashboard agent then reports to the GCS, already gone,
    and retries for a minute. Linux reads /proc; elsewhere the driver's spawned children."""
    import signal
    if not os.path.isdir("/proc"):
        import multiprocessing
        for process in multiprocessing.active_children():
            process.kill()
        return
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{entry}/stat").read() if entry.isdigit() else ""
        except OSError:
            continue
        if stat:
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        found += (kids := children.get(todo.pop(), []))
        todo += kids
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
