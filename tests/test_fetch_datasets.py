"""CUB-200-2011 and PathMNIST from nothing: fetched from their source (here a real HTTP server on
127.0.0.1 serving small files in the real formats), verified, extracted into the data cache, and
reused without a request; a bad checksum, a dropped connection, two processes at once and no
network each end as they must."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import tarfile

import pytest

from conftest import run
from http_server import Server
from standins import cub, pathmnist
from trainables import datasets, download

# run_search.py with the download sources pointed at the test's server (argv[1], JSON).
PATCHED = ("import json, runpy, sys; import trainables.download as d; "
           "d.SOURCES.update({k: tuple(v) for k, v in json.loads(sys.argv[1]).items()}); "
           "sys.argv = ['run_search.py', *sys.argv[2:]]; "
           "runpy.run_path('run_search.py', run_name='__main__')")


def cub_tgz(tmp_path) -> bytes:
    """CUB_200_2011.tgz as Caltech ships it: CUB_200_2011/ (2011 layout) and attributes.txt."""
    folder = cub(tmp_path / "src" / "CUB_200_2011", "2011", classes=2, train=5, test=2)
    (tmp_path / "src" / "attributes.txt").write_text("1 has_bill_shape::curved\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="CUB_200_2011")
        tar.add(tmp_path / "src" / "attributes.txt", arcname="attributes.txt")
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A server holding both files, the sources pointed at it, an empty data cache."""
    server = Server()
    server.files["/CUB_200_2011.tgz"] = cub_tgz(tmp_path)
    pathmnist(tmp_path / "pm", (20, 6, 6))
    server.files["/pathmnist.npz"] = (tmp_path / "pm" / "pathmnist.npz").read_bytes()
    sources = {name: (server.url(path), hashlib.md5(server.files[path]).hexdigest())
               for name, path in (("cub200", "/CUB_200_2011.tgz"),
                                  ("pathmnist", "/pathmnist.npz"))}
    for name, value in sources.items():
        monkeypatch.setitem(download.SOURCES, name, value)
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNN_SEARCH_DATA", str(cache))
    yield server, sources, cache
    server.close()


def search(sources, cache, tmp_path, *args):
    return run("-c", PATCHED, json.dumps(sources), "--storage-path", tmp_path / "results",
               "--weights", "none", *args, env={"CNN_SEARCH_DATA": str(cache)})


@pytest.mark.slow
def test_first_search_downloads_verifies_extracts_and_trains_the_second_makes_no_request(
        served, tmp_path):
    server, sources, cache = served
    first = search(sources, cache, tmp_path, "--space", "resnet_head", "--smoke-test",
                   "--num-samples", "1", "--max-epochs", "1", "--image-size", "32", "--name", "a")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert server.gets("/CUB_200_2011.tgz") == [None]  # one whole download
    assert (cache / "cub200" / "CUB_200_2011" / "images.txt").is_file()
    assert (tmp_path / "results" / "a" / "report" / "README.md").is_file()
    # Every other CUB space loads the same way (datasets.load, before any trial): the cache
    # serves it, no request.
    data = datasets.load("cub200", image_size=32)
    assert len(data.x_train) == 9 and len(server.requests) == 1


def test_pathmnist_is_fetched_once_into_the_data_cache(served):
    server, _, cache = served
    data = datasets.load("pathmnist")
    assert data.num_classes == 9 and (cache / "pathmnist.npz").is_file()
    assert datasets.load("pathmnist").x_train.shape == data.x_train.shape
    assert server.gets("/pathmnist.npz") == [None]


def test_checksum_mismatch_exits_2_with_one_line_and_leaves_nothing(served, tmp_path,
                                                                    monkeypatch, run_search_main):
    server, sources, cache = served
    monkeypatch.setitem(download.SOURCES, "cub200", (sources["cub200"][0], "0" * 32))
    code, error = run_search_main("--space", "resnet_head", "--image-size", "32", "--weights",
                                  "none", "--storage-path", tmp_path / "results")
    assert code == 2 and error.count("\n") == 1, error
    assert "checksum mismatch for CUB_200_2011.tgz" in error
    assert not [p for p in cache.rglob("*") if p.suffix != ".lock"]
    assert not (tmp_path / "results" / "resnet_head").exists()  # no trial started


def test_connection_dropped_half_way_exits_2_then_the_next_run_resumes_and_loads(
        served, tmp_path, run_search_main):
    server, sources, cache = served
    size = len(server.files["/CUB_200_2011.tgz"])
    server.drop_after["/CUB_200_2011.tgz"] = size // 2
    code, error = run_search_main("--space", "resnet_head", "--image-size", "32", "--weights",
                                  "none", "--storage-path", tmp_path / "results")
    assert code == 2 and error.count("\n") == 1, error
    assert sources["cub200"][0] in error and "run again to resume" in error
    data = datasets.load("cub200", image_size=32)
    assert server.gets("/CUB_200_2011.tgz") == [None, f"bytes={size // 2}-"]
    assert data.num_classes == 2 and len(data.x_test) == 4


def _load_cub(cache, sources, queue):
    import os
    os.environ["CNN_SEARCH_DATA"] = str(cache)
    download.SOURCES.update(sources)
    queue.put(len(datasets.load("cub200", image_size=32).x_train))


def test_two_processes_fetching_at_once_both_succeed_with_one_download(served):
    server, sources, cache = served
    server.delay = 0.05  # slow enough that both are inside fetch at the same time
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load_cub, args=(cache, sources, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(queue.get(timeout=5) for _ in procs) == [9, 9]
    assert server.gets("/CUB_200_2011.tgz") == [None]
    assert sorted(p.name for p in (cache / "cub200").iterdir()) == ["CUB_200_2011",
                                                                   "attributes.txt"]


def test_offline_every_folder_space_exits_2_naming_the_url_the_file_and_the_folder(
        served, tmp_path, run_search_main):
    server, sources, cache = served
    server.close()  # nothing listens any more
    for space, name in (("resnet_head", "CUB_200_2011.tgz"), ("nasnet_pathmnist", "pathmnist.npz")):
        code, error = run_search_main("--space", space, "--weights", "none", "--storage-path",
                                      tmp_path / "results")
        assert code == 2 and error.count("\n") == 1, error
        url = sources["cub200" if name.endswith("tgz") else "pathmnist"][0]
        assert url in error and f"download {name} yourself and put it in {cache}" in error, error
