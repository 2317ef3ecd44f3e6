"""Trial layer: a CPU trial's process pinned to cores of its own.

Ray's CPUs are logical: it counts them but does not say which cores a trial may use, so with two
one-CPU trials on two cores the scheduler moves their threads (Python driving Keras, TensorFlow's
compute thread, tf.data's) between the cores, and each move leaves a cache cold. A trial process
that claims cores for its lifetime (an exclusive lock per core, which the kernel releases when the
process ends, so a crashed actor frees its cores) and pins every thread to them keeps its caches:
two trials at a time on the 2-core development box ran faster in every pair measured
(docs/benchmarks.md, "Mechanisms in the code"); one at a time was unchanged. When every core of the
process's allowed set is claimed (more trial processes than cores, or another search on the same
machine), a process stays unpinned, as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# A process-wide cache: the open lock files of the cores this process claimed. A claim lasts while
# its file is open, so each stays here until the process ends.
_HELD_CORES: list = []


def lock_folder() -> Path:
    return Path(tempfile.gettempdir()) / f"hpsuite-cores-{os.getuid()}"


def claim(cpus: int, folder: Path | None = None) -> list[int]:
    """Claim `cpus` cores of this process's allowed set that no other live process holds, and
    pin every thread of this process to them; the cores, or [] (and nothing pinned) when fewer
    are free or the platform cannot pin (macOS)."""
    import fcntl

    if not hasattr(os, "sched_setaffinity"):
        return []
    folder = folder or lock_folder()
    folder.mkdir(parents=True, exist_ok=True)
    claimed = []
    for core in sorted(os.sched_getaffinity(0)):
        if len(claimed) == cpus:
            break
        try:
            lock = open(folder / f"core_{core}.lock", "a")
        except OSError:  # another user's lock file, a read-only folder: not ours to take
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live process
            lock.close()
            continue
        claimed.append((core, lock))
    if len(claimed) < cpus:
        for _, lock in claimed:
            lock.close()  # closing releases the lock
        return []
    cores = {core for core, _ in claimed}
    for thread in os.listdir("/proc/self/task"):  # threads made later inherit their maker's set
        try:
            os.sched_setaffinity(int(thread), cores)
        except OSError:  # the thread ended meanwhile
            pass
    _HELD_CORES.extend(lock for _, lock in claimed)
    return sorted(cores)
