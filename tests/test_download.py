"""trainables.download against a real HTTP server on 127.0.0.1: resume, verify, lock, extract."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from http_server import Server
from standins import tgz
from trainables import download
from trainables.download import DownloadError, extract, fetch

BODY = os.urandom(3 * 2**20 + 12345)           # not a multiple of any chunk size
MD5 = hashlib.md5(BODY).hexdigest()
SHA256 = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server():
    s = Server()
    s.files["/data.bin"] = BODY
    yield s
    s.close()


def one_line(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message and "\r" not in message and message.strip() == message, message
    return message


def test_first_fetch_downloads_and_verifies_second_fetch_makes_no_request(server, tmp_path):
    target = tmp_path / "d" / "data.bin"
    assert fetch(server.url("/data.bin"), target, md5=MD5) == target
    assert target.read_bytes() == BODY
    assert server.gets("/data.bin") == [None]
    assert not Path(f"{target}.part").exists()
    assert MD5 in Path(f"{target}.verified").read_text()
    before = len(server.requests)
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert len(server.requests) == before


def test_file_put_by_hand_is_hashed_once_then_trusted_by_marker_until_it_changes(server, tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(BODY)
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert server.requests == []                         # the right file: accepted, no request
    marker = Path(f"{target}.verified")
    assert marker.exists()
    # same size and mtime: the marker is believed, the file is not hashed again
    st = target.stat()
    target.write_bytes(b"x" * len(BODY))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert server.requests == [] and target.read_bytes() == b"x" * len(BODY)
    # another mtime: hashed again, found wrong, downloaded afresh
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert server.gets("/data.bin") == [None]
    assert target.read_bytes() == BODY


def test_checksum_mismatch_deletes_file_and_part_with_one_line_error(server, tmp_path):
    target = tmp_path / "data.bin"
    wrong = "0" * 32
    with pytest.raises(DownloadError) as e:
        fetch(server.url("/data.bin"), target, md5=wrong)
    message = one_line(e)
    assert message.startswith(f"checksum mismatch for data.bin from {server.url('/data.bin')}: "
                              f"expected md5 {wrong}, got {MD5}")
    assert not target.exists() and not Path(f"{target}.part").exists()
    assert not Path(f"{target}.verified").exists()


@pytest.mark.parametrize("checksum", [{"sha256": SHA256}, {}], ids=["sha256", "size-only"])
def test_dropped_connection_keeps_part_and_next_fetch_resumes_with_range(server, tmp_path,
                                                                         checksum):
    target = tmp_path / "data.bin"
    server.drop_after["/data.bin"] = len(BODY) // 2
    with pytest.raises(DownloadError) as e:
        fetch(server.url("/data.bin"), target, **checksum)
    message = one_line(e)
    assert server.url("/data.bin") in message and "resume" in message
    assert str(tmp_path) in message
    part = Path(f"{target}.part")
    assert part.stat().st_size == len(BODY) // 2 and not target.exists()

    fetch(server.url("/data.bin"), target, **checksum)
    assert server.gets("/data.bin") == [None, f"bytes={len(BODY) // 2}-"]
    assert target.read_bytes() == BODY and not part.exists()
    if checksum:
        assert SHA256 in Path(f"{target}.verified").read_text()


def test_server_answering_200_to_range_restarts_from_zero(server, tmp_path):
    target = tmp_path / "data.bin"
    server.drop_after["/data.bin"] = 100_000
    with pytest.raises(DownloadError):
        fetch(server.url("/data.bin"), target, md5=MD5)
    server.ignore_range.add("/data.bin")
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert server.gets("/data.bin") == [None, "bytes=100000-"]
    assert target.read_bytes() == BODY


def test_part_as_long_as_the_file_gets_416_and_is_downloaded_again(server, tmp_path):
    target = tmp_path / "data.bin"
    Path(f"{target}.part").write_bytes(b"y" * len(BODY))   # e.g. killed just before the rename
    fetch(server.url("/data.bin"), target, md5=MD5)
    assert server.gets("/data.bin") == [f"bytes={len(BODY)}-", None]
    assert target.read_bytes() == BODY


def test_corrupt_part_is_never_trusted(server, tmp_path):
    target = tmp_path / "data.bin"
    Path(f"{target}.part").write_bytes(b"z" * 1000)       # not a prefix of the real file
    with pytest.raises(DownloadError) as e:
        fetch(server.url("/data.bin"), target, md5=MD5)
    assert "checksum mismatch" in one_line(e)
    assert not target.exists() and not Path(f"{target}.part").exists()
    fetch(server.url("/data.bin"), target, md5=MD5)         # the next run starts clean
    assert target.read_bytes() == BODY


def _fetch_after_barrier(barrier, url: str, target: str, md5: str) -> None:
    barrier.wait(timeout=60)
    fetch(url, Path(target), md5=md5)


def test_two_processes_fetching_at_once_download_once(server, tmp_path):
    server.delay = 0.02                                     # about 1 s for the body: they overlap
    target = tmp_path / "data.bin"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_fetch_after_barrier,
                         args=(barrier, server.url("/data.bin"), str(target), MD5))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert server.gets("/data.bin") == [None]
    assert hashlib.md5(target.read_bytes()).hexdigest() == MD5
    assert Path(f"{target}.verified").exists()


def test_offline_error_names_url_file_and_folder(tmp_path):
    with socket.socket() as s:                              # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/CUB_200_2011.tgz"
    target = tmp_path / "cub" / "CUB_200_2011.tgz"
    with pytest.raises(DownloadError) as e:
        fetch(url, target, md5=MD5, what="CUB-200-2011")
    message = one_line(e)
    assert message.startswith(f"cannot download CUB-200-2011 from {url} (")
    assert f"download CUB_200_2011.tgz yourself and put it in {target.parent}" in message
    assert not target.exists()


def test_http_error_is_one_line_naming_url(server, tmp_path):
    with pytest.raises(DownloadError) as e:
        fetch(server.url("/missing.bin"), tmp_path / "missing.bin")
    message = one_line(e)
    assert server.url("/missing.bin") in message and "HTTP 404" in message


def test_progress_goes_to_stdout_with_total_rate_and_few_lines(server, tmp_path, capfd):
    """stdout: stderr is for the one error line of a failed run."""
    fetch(server.url("/data.bin"), tmp_path / "data.bin", md5=MD5, what="the data")
    out, err = capfd.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("downloading the data (3.2 MB) from http://127.0.0.1:")
    assert "3.2 MB / 3.2 MB (100%)" in lines[-1] and "MB/s" in lines[-1]
    assert len(lines) <= 4                                  # a fast download: start, (a tick), end


def test_extract_puts_files_in_place_and_returns_inner(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz({"CUB/images/1.jpg": b"one", "CUB/README": b"hi"}))
    dest = tmp_path / "out"
    assert extract(archive, dest, inner="CUB") == dest / "CUB"
    assert (dest / "CUB/images/1.jpg").read_bytes() == b"one"
    assert (dest / "CUB/README").read_bytes() == b"hi"
    assert extract(archive, dest) == dest                   # already there: left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz", "out", "out.lock"]


def test_truncated_archive_raises_and_leaves_no_dest(tmp_path):
    data = tgz({f"x/{i}.bin": os.urandom(200_000) for i in range(5)})
    archive = tmp_path / "a.tgz"
    archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "out"
    with pytest.raises(DownloadError) as e:
        extract(archive, dest)
    message = one_line(e)
    assert f"delete {archive} and run again" in message
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tgz", "out.lock"]


def test_extract_refuses_member_escaping_dest(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz({"ok.txt": b"ok", "../evil.txt": b"evil"}))
    dest = tmp_path / "sub" / "out"
    with pytest.raises(DownloadError) as e:
        extract(archive, dest)
    one_line(e)
    assert not dest.exists()
    assert not (tmp_path / "sub" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_extract_without_expected_inner_folder_raises(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(tgz({"other/file": b"1"}))
    with pytest.raises(DownloadError) as e:
        extract(archive, tmp_path / "out", inner="CUB_200_2011")
    assert "has no CUB_200_2011" in one_line(e)
    assert not (tmp_path / "out").exists()


def test_sources_hold_https_urls_and_md5s():
    assert set(download.SOURCES) == {"cub200", "pathmnist"}
    for url, md5 in download.SOURCES.values():
        assert url.startswith("https://") and re.fullmatch(r"[0-9a-f]{32}", md5)


def test_module_imports_no_tensorflow_keras_or_ray():
    code = ("import sys, trainables.download; heavy = {'tensorflow', 'keras', 'ray'}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(download.__file__).parents[1], timeout=60)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_extract_of_missing_archive_is_one_line_error(tmp_path):
    with pytest.raises(DownloadError) as e:
        extract(tmp_path / "nope.tgz", tmp_path / "out")
    assert f"{tmp_path / 'nope.tgz'} not found" in one_line(e)
    assert not (tmp_path / "out").exists()
