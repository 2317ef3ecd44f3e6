"""Never losing a search: interrupted drivers resume, failed trials retry, NaN and corrupt
checkpoints stay local to their trial. Everything here runs real Ray Tune searches."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, report_csv, run

pytestmark = pytest.mark.slow  # real searches, clusters or fault drills

TRIALS, EPOCHS = 4, 8
SEARCH = ["run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
          "--num-samples", TRIALS, "--max-epochs", EPOCHS, "--grace-period", EPOCHS,
          "--max-concurrent", 1, "--ensemble", 1,
          "--checkpoint-every", 1]  # the drills stop trials between checkpoints
# Ray snapshots the experiment every few seconds by default; tests interrupt within seconds.
ENV = {"TUNE_GLOBAL_CHECKPOINT_S": "0.5"}


def _results(folder: Path) -> dict:
    """trial folder -> its reported rows (trial folders without results yet included)."""
    return {d: [json.loads(l) for l in (d / "result.json").read_text().splitlines()]
            if (d / "result.json").exists() else [] for d in folder.glob("trial_*")}


def _interrupt(folder: Path, sig: int, storage: Path, again: int | None = None, args=()
               ) -> tuple[subprocess.Popen, dict]:
    """Start a search (SEARCH and `args`); once one trial has finished and another has two
    checkpoints, send `sig` to the driver (and `again` a second later). Returns the process, with
    `stopped_in` the seconds from the signal to its exit, and the results as they were then."""
    proc = subprocess.Popen([sys.executable, *map(str, SEARCH), *map(str, args),
                             "--storage-path", str(storage)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **ENV})
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        rows = _results(folder)
        finished = [d for d, r in rows.items() if r and "test_accuracy" in r[-1]]
        running = [d for d, r in rows.items() if r and "test_accuracy" not in r[-1]
                   and len(list(d.glob("checkpoint_*"))) >= 2]
        if finished and running and len(rows[running[0]]) <= EPOCHS - 3:
            time.sleep(0.5)  # let Ray's experiment snapshot catch up with the checkpoints
            proc.send_signal(sig)
            sent = time.time()
            snapshot = {d: (d / "result.json").read_text() for d in rows if rows[d]}
            if again is not None:
                time.sleep(1.0)
                proc.send_signal(again)
            proc.wait(timeout=120)
            proc.stopped_in = time.time() - sent
            return proc, snapshot
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the search never had a finished and a running trial at once:\n"
                + (proc.stdout.read() if proc.stdout else ""))


def _check_complete(folder: Path, before: dict, broken: str | None = None) -> pd.DataFrame:
    """After resuming: every trial once, all epochs, finished trials not re-run, report there."""
    assert json.loads((folder / "search.json").read_text())["finished"]
    trials = report_csv(folder / "report" / "trials.csv")
    assert len(trials) == TRIALS and trials["trial_id"].is_unique
    healthy = trials[trials["trial_id"] != broken]
    assert (healthy["status"] == "completed").all() and (healthy["epochs"] == EPOCHS).all()
    trial_dirs = [d for d in folder.glob("trial_*") if (d / "params.json").exists()]
    assert len(trial_dirs) == TRIALS
    # A trial started after Ray's last snapshot of a killed driver may have left a checkpoint
    # folder with no results; the resumed search runs its own trial in its place.
    for ghost in set(folder.glob("trial_*")) - set(trial_dirs):
        assert not (ghost / "result.json").exists()
    for d, text in before.items():
        rows = [json.loads(l) for l in text.splitlines()]
        if "test_accuracy" in rows[-1]:  # finished before the interruption: not touched since
            assert (d / "result.json").read_text() == text, f"{d.name} was re-run"
    assert (folder / "best_test.json").exists()
    return trials


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; SLURM, Kubernetes
def test_sigint_or_sigterm_stops_cleanly_reports_and_resumes_from_checkpoints(tmp_path, sig):
    folder = tmp_path / "basenet"
    proc, before = _interrupt(folder, sig, tmp_path)
    out = proc.stdout.read()
    assert proc.returncode == 128 + sig, out[-3000:]  # 130, 143
    assert proc.stopped_in < 20, proc.stopped_in  # SLURM kills 30 s after its SIGTERM
    last = out.strip().splitlines()[-1]
    assert last.startswith("Interrupted. Continue with: python run_search.py --space basenet")
    assert last.endswith("--resume")
    assert "Tuner.restore" not in out  # Ray Tune's own resume line, for Python users
    if sig == signal.SIGTERM:  # stopping is the same as for SIGINT, whose resume is checked below
        assert "unfinished" in report_csv(folder / "report" / "trials.csv")["status"].values
        return
    partial = report_csv(folder / "report" / "trials.csv")  # analysable right away
    assert "unfinished" in set(partial["status"]) and "completed" in set(partial["status"])

    unfinished = {d: text for d, text in before.items() if "test_accuracy" not in text}
    resumed = run(*SEARCH, "--storage-path", tmp_path, "--resume", env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _check_complete(folder, before)
    for d, text in unfinished.items():  # continued from a checkpoint, not from epoch 1
        iterations = [json.loads(l)["training_iteration"]
                      for l in (d / "result.json").read_text().splitlines()]
        reported_before = len(text.splitlines())
        assert iterations[reported_before] > 1, iterations


def test_a_signal_during_the_last_trial_interrupts_the_search_and_resume_finishes_it(tmp_path):
    """Every trial has been created and the last one runs: SIGTERM stops it, and the search is
    interrupted (exit 143, the resume line, not finished), not reported as done."""
    search = [*SEARCH[:6], "--num-samples", 1, "--max-epochs", 20, "--grace-period", 20,
              "--checkpoint-every", 1, "--ensemble", 1, "--storage-path", tmp_path]
    proc = subprocess.Popen([sys.executable, *map(str, search)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, **ENV})
    deadline = time.time() + 240
    while len(next(iter(_results(tmp_path / "basenet").values()), [])) < 3:
        assert time.time() < deadline and proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, out[-3000:]
    assert out.strip().splitlines()[-1].startswith("Interrupted. Continue with:")
    assert not json.loads((tmp_path / "basenet" / "search.json").read_text())["finished"]
    resumed = run(*search, "--resume", env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = report_csv(tmp_path / "basenet" / "report" / "trials.csv")
    assert list(trials["status"]) == ["completed"] and list(trials["epochs"]) == [20]


@pytest.mark.slow
def test_ctrl_c_before_any_trial_reported_stops_quietly(tmp_path):
    """Ctrl-C as Ray Tune shows its first trials pending (their actors still start): exit 130, the
    report of no finished trials, the resume line, and none of Ray's "Could not fetch metrics"
    warnings (a FileNotFoundError per trial without a result.json)."""
    proc = subprocess.Popen([sys.executable, *map(str, SEARCH), "--storage-path", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[0 of "):  # the console's first progress line: trials created
            proc.send_signal(signal.SIGINT)
            break
    out = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=120) == 130, out[-3000:]
    assert not list((tmp_path / "basenet").glob("trial_*/result.json")), "a trial reported"
    assert "FileNotFoundError" not in out and "Traceback" not in out, out[-3000:]
    assert "Tuner.restore" not in out and "Stop signal received" not in out  # Tune's, for Python
    assert out.strip().splitlines()[-1].startswith("Interrupted. Continue with: ")
    assert "- trials: 0; epochs trained: 0" in (tmp_path / "basenet" / "report" / "README.md"
                                                 ).read_text()


@pytest.mark.slow
def test_a_second_signal_during_the_shutdown_ends_at_once_and_the_search_resumes(tmp_path):
    folder = tmp_path / "basenet"
    proc, before = _interrupt(folder, signal.SIGTERM, tmp_path, again=signal.SIGINT)
    out = proc.stdout.read()
    assert proc.returncode in (130, 143), out[-3000:]  # 143 if the first finished in that second
    assert "Continue with: python run_search.py --space basenet" in out
    resumed = run(*SEARCH, "--storage-path", tmp_path, "--resume", env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _check_complete(folder, before)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_last_trial_lets_the_test_and_the_report_finish(tmp_path, sig, capsys):
    """Once Tuner.fit has returned, every trial has ended: a first Ctrl-C or SIGTERM says so in
    one line and the driver goes on (no KeyboardInterrupt, no stop asked of Ray); a second one
    still ends the process at once."""
    from driver.search import _Stop
    from driver.settings import Settings
    from search_spaces._common import SMOKE_BUDGET

    stop = _Stop(Settings(space="basenet", dataset="digits", budget=SMOKE_BUDGET,
                          storage=str(tmp_path), name="ended"))
    stop.finishing = True
    stop(sig, None)
    assert stop.signal == sig
    err = capsys.readouterr().err
    assert err.strip() == (f"{signal.Signals(sig).name}: the search has ended; its best trials "
                           f"are being tested and its report written (again to stop at once)")


def _tagged(tag: str) -> dict[int, str]:
    """pid -> command line of every live process whose environment holds CNN_SEARCH_TEST_TAG=tag:
    a driver started with it and everything it started, Ray's processes included."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"CNN_SEARCH_TEST_TAG={tag}".encode() in \
                    (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone, or a zombie
            pass
    return {pid: cmd.decode(errors="replace")[:160] for pid, cmd in found.items()}


def _tester_of(driver: int, tag: str) -> int | None:
    """The driver's tester: its child spawned by multiprocessing."""
    for pid, cmd in _tagged(tag).items():
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if int(stat[1]) == driver and "spawn_main" in cmd:
            return pid
    return None


@pytest.fixture(scope="module")
def untested(tmp_path_factory) -> Path:
    """A finished drill search without the test-set probabilities its trials kept: resumed, it
    ends at once and its tester predicts every member of its ensemble."""
    from trainables.evaluate import PROBABILITIES

    storage = tmp_path_factory.mktemp("untested")
    proc = run(*SEARCH, "--storage-path", storage, env=ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for kept in storage.glob(f"basenet/trial_*/checkpoint_*/{PROBABILITIES}"):
        kept.unlink()
    return storage / "basenet"


@pytest.mark.parametrize("when, ending", [
    *(("search", e) for e in ("end", "SIGINT", "SIGINT SIGINT", "SIGTERM", "SIGTERM SIGTERM",
                              "SIGKILL")),
    *(("test", e) for e in ("SIGINT", "SIGINT SIGINT", "SIGKILL", "tester crash"))])
def test_no_process_of_the_search_outlives_it(tmp_path, when, ending, request):
    """However the search ends, nothing it started runs on: not Ray's processes, not the tester
    that scores the best trials once the trials have ended (it ignores SIGINT and SIGTERM, and
    outlived a double Ctrl-C blocked on a pipe). While it tests, a first signal only says so and
    the search ends well; a second ends it at once; a tester killed is replaced. (The tester's
    drills resume a finished search whose trials' kept probabilities are gone, so that the
    tester predicts its whole ensemble.)"""
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    resume = []
    if when == "test":
        shutil.copytree(request.getfixturevalue("untested"), tmp_path / "basenet")
        resume = ["--resume"]
    proc = subprocess.Popen([sys.executable, *map(str, SEARCH), "--ensemble", "2", *resume,
                             "--storage-path", str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **ENV, "CNN_SEARCH_TEST_TAG": tag})
    try:
        deadline = time.time() + 240
        while not (tester := _tester_of(proc.pid, tag) if when == "test" else list(
                tmp_path.glob("basenet/trial_*/result.json"))):
            assert time.time() < deadline and proc.poll() is None, proc.stdout.read()[-3000:]
            time.sleep(0.2)
        if ending == "tester crash":  # killed as the out-of-memory killer would
            os.kill(tester, signal.SIGKILL)
        elif ending != "end":
            for i, name in enumerate(ending.split()):
                time.sleep(i)  # a second signal while the first one's shutdown runs
                proc.send_signal(signal.Signals[name])
        out = proc.communicate(timeout=300)[0]
        ends_well = ending in ("end", "tester crash") or (when, ending) == ("test", "SIGINT")
        assert proc.returncode in ([0] if ends_well else [-9] if ending == "SIGKILL"
                                   else [130, 143]), out[-3000:]
        if proc.returncode == 0:
            assert "Test accuracy: " in out and "ensemble of the 2 best" in out, out[-3000:]
        # After a SIGKILL nothing of the driver's runs to end Ray's processes: the dashboard agent
        # ends by itself once it gives up on the dead GCS (about 30 s; longer on a loaded box).
        deadline = time.time() + (90 if ending == "SIGKILL" else 30)
        while (left := _tagged(tag)) and time.time() < deadline:
            time.sleep(0.5)
        assert not left, left
    finally:
        proc.kill()
        for pid in _tagged(tag):
            os.kill(pid, signal.SIGKILL)


def _files(root: Path, leave_out: Path) -> dict:
    """path -> (size, modification time) of every file under `root` but those in `leave_out`."""
    return {f: (f.stat().st_size, f.stat().st_mtime_ns) for f in root.rglob("*")
            if f.is_file() and leave_out not in f.parents}


def test_a_copied_experiment_resumes_where_it_now_is_and_writes_nowhere_else(tmp_path):
    """An interrupted experiment copied to a new folder (as to another machine, or renamed with
    the original kept) resumes there: every trial it adds lands in the copy, none in the folder
    it started in (Ray's restored search generator names that one), and the resume prints no
    library warning a user cannot act on (Optuna's "already reported" for repeated epochs)."""
    folder = tmp_path / "basenet"
    proc, before = _interrupt(folder, signal.SIGINT, tmp_path)
    assert proc.returncode == 130, proc.stdout.read()[-3000:]
    copy = tmp_path / "copied"
    shutil.copytree(folder, copy)
    untouched = _files(tmp_path, leave_out=copy)

    resumed = run(*SEARCH, "--storage-path", tmp_path, "--name", "copied", "--resume", env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert _files(tmp_path, leave_out=copy) == untouched | {
        tmp_path / ".copied.lock": _files(tmp_path, copy)[tmp_path / ".copied.lock"]}
    _check_complete(copy, {copy / d.name: text for d, text in before.items()})
    output = resumed.stdout + resumed.stderr
    assert "already reported" not in output and "Warning" not in output, output[-3000:]


def test_sigkill_of_the_driver_then_resume_survives_a_corrupt_checkpoint(tmp_path):
    folder = tmp_path / "basenet"
    # No retries (Ray keeps them on resume): each would load the same damaged checkpoints again.
    proc, before = _interrupt(folder, signal.SIGKILL, tmp_path, args=("--max-failures", 0))
    assert proc.returncode == -signal.SIGKILL
    assert not json.loads((folder / "search.json").read_text())["finished"]
    proc_analysis = run("-m", "analysis", folder)  # a killed search can still be analysed
    assert proc_analysis.returncode == 0, proc_analysis.stderr
    # Damage every checkpoint of an unfinished trial, as a disk fault would: that trial fails
    # alone, the others finish. (Falling back to an earlier checkpoint: test_resume_falls_back.)
    unfinished = [d for d, text in before.items() if "test_accuracy" not in text]
    for weights in unfinished[0].glob("checkpoint_*/last.npz"):
        weights.write_bytes(weights.read_bytes()[:100])

    resumed = run(*SEARCH, "--storage-path", tmp_path, "--resume", env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "does not load" in resumed.stdout + resumed.stderr  # it said why, visibly
    trials = _check_complete(folder, before, broken=unfinished[0].name.removeprefix("trial_"))
    # It failed alone (or, if Ray's snapshot pointed at a checkpoint it had already replaced,
    # started over); either way the search finished around it.
    assert trials.set_index("trial_id").loc[unfinished[0].name.removeprefix("trial_"),
                                            "status"] in ("error", "completed")


def test_resume_falls_back_to_an_earlier_checkpoint_when_the_newest_is_truncated(tmp_path):
    import keras
    import numpy as np

    from trainables.loaders import load_digits
    from trainables.train import _resume, _save, compiled_model

    data = load_digits()
    config = {"model": "basenet", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64,
              "dropout": 0.0, "seed": 0}
    model = compiled_model(config, data)
    model.fit(data.x_train[:128] / 255.0, data.y_train[:128], epochs=1, verbose=0)
    for epoch in (1, 2):
        folder = tmp_path / f"checkpoint_00000{epoch}"
        folder.mkdir()
        _save(folder, model, model.get_weights(), {"epoch": epoch, "best_val_accuracy": 0.5,
                                                   "best_monitor": 1.0, "waited": 0})
    newest = tmp_path / "checkpoint_000002" / "last.npz"
    newest.write_bytes(newest.read_bytes()[:100])

    restored, state, best = _resume(tmp_path / "checkpoint_000002", config, data)
    assert state["epoch"] == 1  # the earlier, intact checkpoint
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(restored.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())

    (tmp_path / "checkpoint_000001" / "state.json").write_text("{not json")
    assert _resume(tmp_path / "checkpoint_000002", config, data) is None  # start over
    keras.backend.clear_session()


def test_resume_reads_the_earlier_hdf5_checkpoints_and_rejects_another_models(tmp_path):
    """Checkpoints written before last.npz (Keras's last.weights.h5) still resume, optimizer
    state included; a last.npz whose arrays do not fit the model is not loaded."""
    import numpy as np

    from trainables.loaders import load_digits
    from trainables.train import _resume, _save, compiled_model

    data = load_digits()
    config = {"model": "basenet", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64,
              "dropout": 0.0, "seed": 0}
    model = compiled_model(config, data)
    model.fit(data.x_train[:128] / 255.0, data.y_train[:128], epochs=1, verbose=0)
    state = {"epoch": 1, "best_val_accuracy": 0.5, "best_monitor": 1.0, "waited": 0}
    old = tmp_path / "old" / "checkpoint_000001"
    old.mkdir(parents=True)
    _save(old, model, model.get_weights(), state)
    (old / "last.npz").unlink()
    model.save_weights(old / "last.weights.h5")
    restored, _, _ = _resume(old, config, data)
    for a, b in zip(restored.get_weights() + restored.optimizer.variables,
                    model.get_weights() + model.optimizer.variables):
        np.testing.assert_array_equal(a, b)
    assert int(restored.optimizer.iterations.numpy()) == 4  # 128 samples, fit's batches of 32

    other = tmp_path / "other" / "checkpoint_000001"
    other.mkdir(parents=True)
    _save(other, model, model.get_weights(), state)
    assert _resume(other, {**config, "optimizer": "sgd"}, data) is None  # fewer slots: rejected


def _grid_search(storage: Path, configs: list[dict], max_epochs: int, max_failures: int = 0,
                 callbacks=(), stop=None, **tune_config):
    """A real Tuner over fixed configurations, through the suite's own trainable with the fault
    drills a configuration names (tests/drills.py), in trial processes with the environment a
    search gives them (driver.search.WORKER_ENV)."""
    import ray
    from ray import tune

    from driver.search import WORKER_ENV
    from tests.drills import train_with_faults
    from trainables.loaders import load_digits

    base = {"model": "basenet", "optimizer": "rmsprop", "learning_rate": 1e-3,
            "batch_size": 64, "dropout": 0.0, "seed": 0}
    def pick(spec, key):  # each case overrides some of the base keys
        return spec.config["case"].get(key, base.get(key))

    keys = set(base) | {k for c in configs for k in c}
    derived = {k: tune.sample_from(lambda spec, k=k: pick(spec, k)) for k in keys}
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": WORKER_ENV})
    try:
        tuner = tune.Tuner(
            tune.with_parameters(train_with_faults, data=load_digits(),
                                 max_epochs=max_epochs, checkpoint_every=1),
            param_space={"case": tune.grid_search(configs), **derived},
            tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", **tune_config),
            run_config=tune.RunConfig(name="faults", storage_path=str(storage), verbose=0,
                                      stop=stop, failure_config=tune.FailureConfig(max_failures),
                                      callbacks=list(callbacks)))
        return tuner.fit()
    finally:
        ray.shutdown()


def test_failed_trial_retries_from_its_checkpoint_and_nan_ends_only_its_trial(tmp_path, capsys):
    from driver.console import Console

    results = _grid_search(tmp_path, [
        {"fail_once_at_epoch": 2},                     # raises once, after its epoch-1 checkpoint
        {"optimizer": "adam", "learning_rate": 1e9},   # diverges: the loss turns NaN
        {},                                            # a healthy trial beside them
    ], max_epochs=3, max_failures=1, callbacks=[Console(["case"], live=False)])
    by_case = {tuple(r.config["case"].items()): r for r in results}
    assert len(by_case) == 3
    assert not results.errors, results.errors

    retried = by_case[(("fail_once_at_epoch", 2),)]
    rows = retried.metrics_dataframe
    # Epoch 2 ran again from epoch 1's state (Ray may rewrite result.json from the restored
    # checkpoint on, so epoch 1's row is not always kept).
    assert list(rows["training_iteration"])[-2:] == [2, 3]
    assert "test_accuracy" in retried.metrics
    assert (Path(retried.path) / "error.txt").exists()  # the failure was recorded, then retried

    diverged = by_case[(("optimizer", "adam"), ("learning_rate", 1e9))]
    assert diverged.metrics["diverged"] and diverged.metrics["training_iteration"] < 3
    assert "test_accuracy" not in diverged.metrics
    healthy = by_case[()]
    assert healthy.metrics["training_iteration"] == 3 and "test_accuracy" in healthy.metrics

    # the console's line for each (driver/console.py): the failure and its retry, the NaN
    lines = capsys.readouterr().out.splitlines()

    def line(result, after=""):
        return next(l for l in lines if l.startswith(f"trial {result.metrics['trial_id']} ")
                    and after in l)
    assert line(retried, "failed").endswith(
        "failed in epoch 2 (RuntimeError: injected fault at epoch 2 (fail_once_at_epoch)); "
        "retried from its last checkpoint")
    assert line(retried, "case=").endswith("  3 epochs  val_accuracy "
                                            f"{retried.metrics_dataframe['val_accuracy'].max():.4f}"
                                            "  completed")
    epochs = diverged.metrics["training_iteration"]
    assert line(diverged).endswith(f"  diverged (loss not finite) at epoch {epochs}"), lines
    assert line(healthy).endswith("  completed") and "case={}" in line(healthy)
    assert [l for l in lines if l.startswith("[")][-1].startswith("[3 of 3 trials done, ")


def test_a_reused_trial_process_waits_for_the_stopped_trial_to_end(tmp_path):
    """Tune hands a process whose trial it stopped (ASHA, here a stopper) to the next trial once
    the stopped trial's thread has ended; past TUNE_FUNCTION_THREAD_TIMEOUT_S (Ray's default 2 s)
    it fails the next trial before its first epoch and never retries it: a trial lost on a loaded
    machine. The suite's trial processes wait longer (driver.search.WORKER_ENV): four trials on
    two processes, each thread taking 3 s to end, all train."""
    results = _grid_search(tmp_path, [{"slow_stop_s": 3, "seed": s} for s in range(4)],
                           max_epochs=3, stop={"training_iteration": 1}, reuse_actors=True)
    assert not results.errors, results.errors
    assert sorted(r.metrics["training_iteration"] for r in results) == [1, 1, 1, 1]


@pytest.fixture
def small_disk(tmp_path):
    """A real, small file system (a 48 MB tmpfs, mounted when the tests run as root); its
    mount point."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()[:100]}): the real "
                    f"full-disk drill needs root")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


def test_a_real_full_disk_stops_the_search_cleanly_and_resume_completes_it(small_disk):
    """The storage on a small real file system that the search fills: it stops while a clean
    stop still fits (Ray's snapshot, the report), one line says the folder is full and how to go
    on, exit 2, no traceback; once space is freed, --resume completes the search."""
    from driver import disk

    filler = small_disk / "filler"  # another user's files: 8 MB more than a stop needs is free
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - disk.BASE - 10 * 2**20))
    search = ["run_search.py", "--space", "basenet", "--dataset", "digits",
              "--storage-path", small_disk]  # 24 trials, about 16 MB
    full = run(*search)
    assert full.returncode == 2, full.stdout[-3000:] + full.stderr[-3000:]
    experiment = small_disk / "basenet"
    assert full.stderr.strip().splitlines()[-1].startswith(f"error: {experiment} is full: "), \
        full.stderr[-3000:]
    assert full.stderr.strip().splitlines()[-1].endswith("--resume")
    assert "Traceback" not in full.stdout + full.stderr and "rror" not in full.stdout
    stopped = report_csv(experiment / "report" / "trials.csv")
    assert 0 < (stopped["status"] != "unfinished").sum() < 24, stopped["status"].tolist()

    filler.unlink()
    resumed = run(*search, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = report_csv(experiment / "report" / "trials.csv")
    assert len(trials) == 24 and set(trials["status"]) <= {"completed", "stopped"}
    assert (experiment / "best_test.json").exists()


def _orphan(parent: Path) -> Path:
    """A checkpoint folder as a killed trial process leaves it: named for a process that has
    ended, with a checkpoint's files in it."""
    from trainables import staging
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    folder = parent / f"{staging.PREFIX}{ended.pid}-k1ll3d"
    folder.mkdir()
    for name in ("best.npz", "last.npz", "state.json"):
        (folder / name).write_bytes(b"\0" * 1000)
    return folder


def test_only_the_checkpoint_folders_of_ended_processes_are_removed(tmp_path, monkeypatch):
    from trainables import staging
    monkeypatch.setattr(staging, "_ORPHANS_SWEPT", False)
    orphan = _orphan(tmp_path)
    with staging.folder() as mine:  # this process's, as a trial writes it
        assert Path(mine).name.startswith(f"{staging.PREFIX}{os.getpid()}-")
        theirs = tmp_path / f"{staging.PREFIX}1-x"  # init's: it runs
        others = [tmp_path / "another-program-0", tmp_path / f"{staging.PREFIX}abc-x", theirs]
        for folder in others:
            folder.mkdir()
        own = tmp_path / Path(mine).name
        own.mkdir()
        assert staging.remove_orphans(tmp_path) == [orphan]
        assert all(f.exists() for f in [*others, own]) and not orphan.exists()
        assert staging.remove_orphans(tmp_path) == []  # once per process
        os.rmdir(mine)  # removed meanwhile: leaving the block is no error


def test_checkpoint_every_n_epochs_keeps_the_last_epoch_and_orphans_are_removed(tmp_path):
    """The last epoch is always saved; a trial process removes the checkpoint folders that
    killed ones left in the temporary directory."""
    import tempfile
    orphan = _orphan(Path(tempfile.gettempdir()))
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--num-samples", 2, "--max-epochs", 4, "--grace-period", 4,
               "--checkpoint-every", 3, "--ensemble", 1, "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not orphan.exists()
    for trial in (tmp_path / "basenet").glob("trial_*"):
        epochs = sorted(json.loads((c / "state.json").read_text())["epoch"]
                        for c in trial.glob("checkpoint_*"))
        assert epochs == [3, 4], epochs  # every third epoch, and the last
        assert len((trial / "result.json").read_text().splitlines()) == 4


def test_by_default_a_trial_checkpoints_at_ashas_rungs_and_its_last_epoch(tmp_path):
    """Rungs at epochs 1 and 3 of 6: a trial ASHA stops has the checkpoint of the epoch it stopped
    at, one that runs on keeps its rung's and its last (Ray keeps two); none in between, as
    these epochs take far less than callbacks.CHECKPOINT_PERIOD_S."""
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--num-samples", 4, "--max-epochs", 6, "--grace-period", 1,
               "--reduction-factor", 3, "--ensemble", 1, "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kept = {}
    for trial in (tmp_path / "basenet").glob("trial_*"):
        epochs = len((trial / "result.json").read_text().splitlines())
        kept[epochs] = sorted(json.loads((c / "state.json").read_text())["epoch"]
                              for c in trial.glob("checkpoint_*"))
        assert kept[epochs][-1] == epochs and set(kept[epochs]) <= {1, 3, 6}, (epochs, kept)
    assert kept[6] == [3, 6], kept  # the first trial at each rung always goes on


def test_a_checkpoint_that_cannot_be_written_fails_the_trial_clearly_and_resume_completes_it(
        tmp_path):
    """The folder a checkpoint is written into vanishes just before epoch 2's (a real OSError at
    that very write, tests/drills.py): the trial fails saying what happened and what to do, its
    neighbour finishes, and --resume (Tuner.restore with resume_errored, as run_search.py
    --resume does) completes it. A full disk or a read-only folder raises its OSError at the
    same place."""
    from ray import tune

    from tests.drills import train_with_faults
    from trainables.loaders import load_digits

    results = _grid_search(tmp_path, [{"fail_write_once_at_epoch": 2}, {}], max_epochs=3)
    assert len(results.errors) == 1
    failed = next(r for r in results if r.error is not None)
    message = (Path(failed.path) / "error.txt").read_text()
    assert "cannot write the checkpoint of epoch 2 (No such file or directory: " in message
    assert "free space or make the folder writable, then continue the search with --resume" in \
        message
    assert failed.metrics["training_iteration"] == 1  # epoch 1's checkpoint is there
    import ray
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        resumed = tune.Tuner.restore(
            str(tmp_path / "faults"), resume_errored=True,
            trainable=tune.with_parameters(train_with_faults, data=load_digits(),
                                           max_epochs=3, checkpoint_every=1)).fit()
    finally:
        ray.shutdown()
    assert not resumed.errors
    assert all(r.metrics["training_iteration"] == 3 and "test_accuracy" in r.metrics
               for r in resumed)


def test_a_sigterm_that_lands_in_a_callback_ends_the_trial_process_quietly(capfd):
    """Ray's SIGTERM handler raises SystemExit in a worker's main thread; landing in a callback
    the collector runs (the raylet sends it as Tune releases a trial's resources, whatever the
    process is doing), it printed "Exception ignored ... SystemExit" with a traceback on the
    search's console, and the process ran on. A trial process ends at once, printing nothing;
    other exceptions in callbacks still print. The process is set up as a trial's
    (trainables.train.start_trial)."""
    import ray

    @ray.remote
    class TrialProcess:
        def start(self) -> int:
            import types

            from ray import tune

            from trainables.train import start_trial
            resources = types.SimpleNamespace(required_resources={"CPU": 1})
            tune.get_context = lambda: types.SimpleNamespace(  # this actor is not in a Tuner
                get_trial_resources=lambda: resources)
            start_trial({"seed": 0})
            return os.getpid()

        def collect(self, seconds: float, fail: bool = False) -> None:
            import weakref

            class Garbage:
                pass

            def callback(_):
                time.sleep(seconds)
                if fail:
                    raise ValueError("a callback's own error")

            garbage = Garbage()
            self.ref = weakref.ref(garbage, callback)
            del garbage  # the callback runs here, in the main thread

    tag = f"sigterm-{os.getpid()}"
    ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"CNN_SEARCH_TEST_TAG": tag}})
    try:
        actor = TrialProcess.remote()
        pid = ray.get(actor.start.remote())
        ray.get(actor.collect.remote(0, fail=True))
        actor.collect.remote(30)
        time.sleep(3)  # in the callback
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not (ended := pid not in _tagged(tag)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # Ray forwards the worker's output to this process
    finally:
        ray.shutdown()
    err = capfd.readouterr().err
    assert ended, "the trial process ran on after its SIGTERM"
    assert "ValueError: a callback's own error" in err
    assert "SystemExit" not in err and err.count("Exception ignored") == 1, err
