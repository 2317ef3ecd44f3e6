"""Trial layer: where a trial writes a checkpoint before Ray copies it into the experiment.

A folder of its own in the temporary directory, named for the process (hpsuite-checkpoint-PID-*),
removed once Ray has copied it. A process that ends while it writes or reports one (SIGKILL, a
crash, a second Ctrl-C, Ray ending an actor whose trial Tune has just stopped) cannot remove it: a
few MB for BaseNet, about 0.4 GB for a fine-tuned ResNet50, in a /tmp that may live in memory.
So every trial process, as it starts, removes the folders of processes that no longer run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "hpsuite-checkpoint-"
# Process-wide: whether this process has removed the orphans it found (remove_orphans, once).
_ORPHANS_SWEPT = False


def folder() -> tempfile.TemporaryDirectory:
    """A checkpoint's folder, removed as the `with` block ends (Ray has copied it by then); a
    folder already gone (removed as an orphan under a reused PID) is no error."""
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-",
                                       ignore_cleanup_errors=True)


def remove_orphans(parent: Path | None = None) -> list[Path]:
    """Once per process: remove the checkpoint folders in `parent` (the temporary directory) of
    processes that no longer run; the folders removed."""
    global _ORPHANS_SWEPT
    # os.kill(pid, 0) asks only POSIX whether a process runs
    if _ORPHANS_SWEPT or os.name != "posix":
        return []
    _ORPHANS_SWEPT = True
    removed = []
    for path in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = path.name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _runs(int(pid)):
            shutil.rmtree(path, ignore_errors=True)  # another user's: not ours to remove
            if not path.exists():
                removed.append(path)
    return removed


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
