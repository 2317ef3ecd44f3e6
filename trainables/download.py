"""Trial layer: fetch a file once, resumably and verified; extract a .tgz atomically.

`fetch(url, target, md5=...)` leaves at `target` only a complete, verified file: the bytes go to
`target.part` (a later run continues it with an HTTP Range request), the finished file is checked
(checksum when given, else its size against Content-Length) and only then renamed onto `target`.
An exclusive lock on `target.lock` makes a second process wait and then reuse the file.
`extract(archive, dest)` unpacks into a temporary sibling folder and renames it onto `dest` when
complete. Every failure is a `DownloadError` with a one-line message: what is wrong, how to fix it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from trainables.data import DataError

# name -> (url, md5). The checksums are the ones their publishers' code uses, not computed here:
# - cub200: md5 of CUB_200_2011.tgz as published in ContinualAI/avalanche
#   (avalanche/benchmarks/datasets/cub200/cub200.py, `tgz_md5`) and TDeVries/cub2011_dataset
#   (cub2011.py); the URL is the CaltechDATA record the dataset moved to.
# - pathmnist: url and md5 from the medmnist package itself, MedMNIST/MedMNIST medmnist/info.py
#   (version 3.0.2, INFO["pathmnist"]["url"] and ["MD5"]; 28x28, zenodo record 10519652).
SOURCES = {
    "cub200": ("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
               "97eceeb196236b17998738112f37df78"),
    "pathmnist": ("https://zenodo.org/records/10519652/files/pathmnist.npz?download=1",
                  "a8b06965200029087d5bd730944a56c1"),
}

CHUNK = 1 << 20          # bytes read and hashed at a time
TIMEOUT = 60             # seconds without a byte before a connection counts as dropped


class DownloadError(DataError):
    """A download or extraction failed; the message is one line that says how to fix it."""

    def __init__(self, message: str):
        super().__init__(_one_line(message))


def fetch(url: str, target: Path, *, md5: str | None = None, sha256: str | None = None,
          what: str = "") -> Path:
    """Download `url` to `target` unless a complete, verified `target` is already there."""
    target = Path(target)
    expected = {k: v.lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    with _locked(_sibling(target, ".lock")):
        if target.exists():
            if not expected or _marker_matches(target, expected):
                return target
            got = _hash_file(target, expected)
            if got == expected:
                _write_marker(target, expected)
                return target
            print(f"{target} does not match its checksum ({_describe(expected, got)}); "
                  "downloading it again", file=sys.stdout)
        _download(url, target, expected, what or target.name)
        return target


def extract(archive: Path, dest: Path, *, inner: str | None = None) -> Path:
    """Extract a .tgz/.tar.gz into `dest` atomically: into a temporary sibling folder, moved into
    place only when complete; returns dest (or dest/inner)."""
    archive, dest = Path(archive), Path(dest)
    result = dest / inner if inner else dest
    with _locked(_sibling(dest, ".lock")):
        if not archive.is_file():
            raise DownloadError(f"{archive} not found; run again to download it, "
                                f"or put it there by hand")
        if dest.is_dir() and not any(dest.iterdir()):
            dest.rmdir()                               # an empty folder made by hand holds nothing
        if dest.exists():
            if result.exists():
                return result
            raise DownloadError(f"{dest} exists but has no {inner} in it; "
                                f"delete {dest} and run again to extract {archive.name} afresh")
        for stale in dest.parent.glob(f".{dest.name}.*.extracting"):
            shutil.rmtree(stale, ignore_errors=True)   # left by a killed run; we hold the lock
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(tmp, filter="data")     # refuses absolute paths, .., unsafe links
            if inner and not (tmp / inner).exists():
                raise DownloadError(f"{archive} has no {inner} in it; delete {archive} "
                                    "and run again to download it afresh")
            os.rename(tmp, dest)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise DownloadError(f"cannot extract {archive} into {dest}: it is corrupt or truncated "
                                f"({_reason(e)}); delete {archive} and run again") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# downloading

def _download(url: str, target: Path, expected: dict, what: str) -> None:
    """Fill target.part from `url` (resuming when the server allows), verify, rename onto target."""
    part = _sibling(target, ".part")
    by_hand = f"download {target.name} yourself and put it in {target.parent}"
    for _attempt in range(2):                          # a second go only after discarding the .part
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "hpsearch-fetch/1"})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            # A fresh opener reads the proxy settings now (urlopen caches the first ones it saw).
            response = urllib.request.build_opener().open(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 416 and offset:               # the .part does not fit the file any more
                part.unlink()
                continue
            raise DownloadError(f"cannot download {what} from {url} (HTTP {e.code} {e.reason}); "
                                f"{by_hand}") from e
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            raise DownloadError(f"cannot download {what} from {url} ({_reason(e)}); "
                                f"{by_hand}") from e
        with response:
            start, total = _span(response, offset)
            if start is None:                          # 206 for another range than asked: restart
                part.unlink()
                continue
            hashers = {name: hashlib.new(name) for name in expected}
            if start:
                _feed(part, hashers)                   # hash what is already there, once
            _receive(response, part, start, total, hashers, url, what, by_hand)
        break
    else:
        raise DownloadError(f"cannot resume {what} from {url} (the server refuses every range); "
                            f"delete {part} and run again, or {by_hand}")

    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            part.unlink()
        raise DownloadError(f"download of {what} from {url} stopped after {size} of {total} bytes "
                            f"(connection closed early); run again to resume, or {by_hand}")
    got = {name: h.hexdigest() for name, h in hashers.items()}
    if got != expected:
        for path in (part, target, _sibling(target, ".verified")):
            path.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {target.name} from {url}: "
                            f"{_describe(expected, got)}; the file was deleted, run again to "
                            f"download it afresh, or {by_hand}")
    os.replace(part, target)
    if expected:
        _write_marker(target, expected)


def _span(response, offset: int) -> tuple[int | None, int | None]:
    """(first byte the response holds, full file size or None); start None: unusable 206."""
    length = response.headers.get("Content-Length")
    if response.status != 206:
        return 0, int(length) if length is not None else None
    unit_range, _, full = (response.headers.get("Content-Range") or "").partition("/")
    try:
        first = int(unit_range.split()[-1].split("-")[0])
    except (ValueError, IndexError):
        return None, None
    if first != offset:
        return None, None
    if full.strip().isdigit():
        return first, int(full)
    return first, offset + int(length) if length is not None else None


def _receive(response, part: Path, start: int, total, hashers, url, what, by_hand) -> None:
    """Append the body to `part` (truncated to `start` first), hashing and reporting progress."""
    progress = _Progress(what, url, start, total)
    with open(part, "r+b" if start else "wb") as f:
        f.truncate(start)
        f.seek(start)
        done = start
        try:
            while chunk := response.read1(CHUNK):   # what has arrived, up to CHUNK
                f.write(chunk)
                for h in hashers.values():
                    h.update(chunk)
                done += len(chunk)
                progress.update(done)
        except (OSError, http.client.HTTPException, ValueError) as e:  # reset, timeout, cut chunk
            f.flush()
            raise DownloadError(f"download of {what} from {url} stopped after {done} of "
                                f"{total if total is not None else '?'} bytes ({_reason(e)}); "
                                f"run again to resume, or {by_hand}") from e
        finally:
            progress.close(done)
        f.flush()
        os.fsync(f.fileno())


class _Progress:
    """Bytes done / total, MB/s and time left on stdout: a redrawn line on a terminal, else a line
    per 10% (at most one a second) or every 10 seconds."""

    def __init__(self, what: str, url: str, start: int, total: int | None):
        self.tty = sys.stdout.isatty()
        self.start, self.total = start, total
        self.t0 = self.last = time.monotonic()
        self.next_tenth = 1 + (10 * start // total if total else 0)
        self.shown = -1
        verb = f"resuming at {_mb(start)}" if start else "downloading"
        size = f" ({_mb(total)})" if total else ""
        print(f"{verb} {what}{size} from {url}", file=sys.stdout, flush=True)

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.tty:
            due = now - self.last >= 0.25
        else:
            tenth = 10 * done // self.total if self.total else 0
            due = (tenth >= self.next_tenth and now - self.last >= 1) or now - self.last >= 10
        if due:
            if not self.tty and self.total:
                self.next_tenth = 10 * done // self.total + 1
            self._show(done, now)

    def close(self, done: int) -> None:
        if done != self.shown:
            self._show(done, time.monotonic())
        if self.tty:
            print(file=sys.stdout, flush=True)

    def _show(self, done: int, now: float) -> None:
        self.last, self.shown = now, done
        rate = (done - self.start) / max(now - self.t0, 1e-6)
        text = f"  {_mb(done)}"
        if self.total:
            text += f" / {_mb(self.total)} ({100 * done // self.total}%)"
        text += f", {rate / 1e6:.1f} MB/s"
        if self.total and rate > 0 and done < self.total:
            text += f", {_duration((self.total - done) / rate)} left"
        print(f"\r{text:<72}" if self.tty else text, end="" if self.tty else "\n",
              file=sys.stdout, flush=True)


# ---------------------------------------------------------------------------------------------
# verification

def _hash_file(path: Path, expected: dict) -> dict:
    hashers = {name: hashlib.new(name) for name in expected}
    _feed(path, hashers)
    return {name: h.hexdigest() for name, h in hashers.items()}


def _feed(path: Path, hashers: dict) -> None:
    if hashers:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                for h in hashers.values():
                    h.update(chunk)


def _marker_matches(target: Path, expected: dict) -> bool:
    """Whether target.verified says this very file (same size and mtime) passed these checksums."""
    try:
        marker = json.loads(_sibling(target, ".verified").read_text())
        st = target.stat()
        return marker == {"checksums": expected, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except (OSError, ValueError):
        return False


def _write_marker(target: Path, expected: dict) -> None:
    st = target.stat()
    marker = {"checksums": expected, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = _sibling(target, ".verified.tmp")
    tmp.write_text(json.dumps(marker) + "\n")
    os.replace(tmp, _sibling(target, ".verified"))


def _describe(expected: dict, got: dict) -> str:
    return ", ".join(f"expected {name} {expected[name]}, got {got[name]}" for name in expected)


# ---------------------------------------------------------------------------------------------
# small helpers

@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive flock on `path` (created if needed); other processes wait for it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a")
    except OSError as e:
        raise DownloadError(f"cannot write in {path.parent} ({_reason(e)}); "
                            "make it writable or choose another folder") from e
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    if isinstance(e, urllib.error.URLError) and reason is not None:
        e = reason if isinstance(reason, BaseException) else e
    text = str(e) or type(e).__name__
    return text if type(e).__name__ in text else f"{type(e).__name__}: {text}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
