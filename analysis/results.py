"""Analysis layer: A Ray Tune experiment folder -> pandas DataFrames, read from the files Ray
writes.

    from analysis import load
    res = load("results/basenet")
    res.trials      # one row per trial, best validation accuracy first
    res.epochs      # one row per trial and epoch
    res.skipped     # [(file, reason)] for every damaged file or line that was left out

Each trial folder holds params.json (its config) and result.json (one JSON line per reported
epoch); the suite adds search.json (space, dataset, budget, reference) and best_test.json (the best
trial's test score, and that of the ensemble of the best trials). Nothing here imports Ray,
TensorFlow or the suite's search spaces: a folder is analysed from its files alone, anywhere,
finished or not.

`res.trials` columns (stable; config columns sit between `best_epoch` and `val_accuracy`):

    trial_id       str      Ray's trial id
    status         str      completed (ran its budget, tested), stopped (by ASHA), diverged (loss
                            turned NaN), error (failed, not recovered), unfinished (the search was
                            interrupted while it ran), not started (the search ended before it did)
    epochs         int64    epochs reported
    best_epoch     Int64    the epoch of the best validation score (<NA> without epochs)
    <config>       as in params.json: float64, int64, bool or str; object where a conditional
                   parameter is missing in some trials (missing values are NaN / None)
    val_accuracy   float64  at the best epoch (best by the search's metric and mode)
    val_loss       float64  at the best epoch
    accuracy       float64  training accuracy at the best epoch
    loss           float64  training loss at the best epoch
    test_accuracy  float64  reported by a trial that completed its budget, else NaN
    test_loss      float64  likewise
    params         Int64    the model's parameter count (<NA> without epochs)
    training_time_s float64 seconds of training: result.json's last time_total_s (0.0 without
                            epochs; NaN where that number is damaged)
    started        datetime64[us, UTC]  when the trial started (NaT without epochs, or where
                            result.json's timestamp is damaged)
    diverged       bool     some epoch reported diverged (a NaN loss)
    retried        bool     Ray restarted it after a failure (error.txt, or repeated epochs)
    failed_epoch   Int64    the epoch it failed in: the first NaN epoch (diverged), the one after
                            the last reported (error), the one its error names or else the one
                            it was resumed at (retried); <NA>
    error          str      error.txt's exception line, "" when Ray wrote none
    checkpoint     str      its newest intact checkpoint folder, "" when none
    config         object   params.json as a dict; {} for a trial that Ray failed before it
                            started, whose folder holds error.txt alone

`res.epochs` columns: trial_id (str), epoch (int64, Ray's training_iteration), loss, accuracy,
val_loss, val_accuracy, training_time_s (float64; seconds of training up to the end of that
epoch), diverged (bool). A trial resumed from a checkpoint repeats the epochs after it: the latest
report of each epoch is kept.

A damaged file never raises, except search.json: without it the folder is not an experiment and
load() raises ExperimentError (a ValueError) with one line naming the file. Otherwise what cannot be
read is left out and listed in `res.skipped`: a damaged params.json (the config is then taken from
result.json's rows where there are any), unreadable result.json lines, a damaged best_test.json, a
damaged checkpoint (the trial's `checkpoint` is then its newest intact one).
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]
STATUSES = ["completed", "stopped", "diverged", "error", "unfinished", "not started"]
TRIAL_FILES = ("params.json", "result.json", "error.txt")  # a folder with one of them is a trial

TRIAL_COLUMNS = {  # the fixed columns of res.trials and their dtypes; config columns go between
    "trial_id": "str", "status": "str", "epochs": "int64", "best_epoch": "Int64",
    "val_accuracy": "float64", "val_loss": "float64", "accuracy": "float64", "loss": "float64",
    "test_accuracy": "float64", "test_loss": "float64", "params": "Int64",
    "training_time_s": "float64", "started": "datetime64[us, UTC]", "diverged": "bool",
    "retried": "bool", "failed_epoch": "Int64",
    "error": "str", "checkpoint": "str", "config": "object",
}
HEAD = ["trial_id", "status", "epochs", "best_epoch"]
EPOCH_COLUMNS = {"trial_id": "str", "epoch": "int64", "loss": "float64", "accuracy": "float64",
                 "val_loss": "float64", "val_accuracy": "float64", "training_time_s": "float64",
                 "diverged": "bool"}


class ExperimentError(ValueError):
    """The folder cannot be read as an experiment at all (search.json missing or damaged)."""


@dataclass
class Results:
    folder: Path
    search: dict            # search.json: space, dataset, budget, seed, started, finished, ...
    trials: pd.DataFrame    # one row per trial (columns above)
    epochs: pd.DataFrame    # one row per trial and epoch
    best_test: dict | None  # best_test.json, when the search got that far and it is readable;
                            # its "ensemble" (trial_ids, test_accuracy, test_loss) when tested
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why it was left out)

    @property
    def name(self) -> str:
        """The experiment's name: its folder's (search.json's `name`, unless it was renamed)."""
        return self.folder.resolve().name

    @property
    def space(self) -> str:
        return self.search["space"]

    @property
    def dataset(self) -> str:
        return self.search["dataset"]

    @property
    def metric(self) -> str:
        return _metric(self.search)

    @property
    def mode(self) -> str:
        return "min" if self.search.get("mode") == "min" else "max"

    @property
    def finished(self) -> bool:
        return bool(self.search.get("finished"))

    @property
    def model(self) -> str:
        """The space's model (or family), from search.json; older folders: the trials' model."""
        if isinstance(self.search.get("model"), str):
            return self.search["model"]
        models = {c.get("model") for c in self.trials["config"]} if len(self.trials) else set()
        models.discard(None)
        return str(models.pop()) if len(models) == 1 else ", ".join(sorted(map(str, models)))

    @property
    def reference(self) -> tuple[float | None, str]:
        """The report's test accuracy for this space on this dataset, and where it comes from."""
        ref = self.search.get("reference")
        if not isinstance(ref, dict):
            return None, "unknown: search.json records no reference (a search run before it did)"
        acc = ref.get("test_accuracy")
        acc = float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else None
        return acc, str(ref.get("source") or "")

    @property
    def table_reference(self) -> dict | list | None:
        """A study's table of the report's numbers (search.json's table_reference), else None."""
        ref = self.search.get("table_reference")
        return ref if isinstance(ref, (dict, list)) else None


# --- reading files that may be damaged --------------------------------------------------------

def _read_json(path: Path, kind: type = dict):
    """(value, None) or (None, why it cannot be used)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    if not data.strip():
        return None, "empty"
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as e:
        return None, f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
    if not isinstance(value, kind):
        return None, f"a JSON {type(value).__name__}, not an object"
    return value, None


def _metric(search: dict) -> str:
    """The metric the search optimised (search.json), one of METRICS; else val_accuracy."""
    return search["metric"] if search.get("metric") in METRICS else "val_accuracy"


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def read_search(folder) -> dict:
    """search.json as a dict; ExperimentError (one line, naming the file) when it is unusable."""
    folder = Path(folder)
    path = folder / "search.json"
    if not folder.is_dir():
        raise ExperimentError(f"{folder} is not a folder")
    search, why = _read_json(path)
    if why == "missing":
        raise ExperimentError(f"{folder} is not an experiment of this suite (no search.json)")
    if why is None:
        missing = [k for k in ("space", "dataset") if not isinstance(search.get(k), str)]
        if missing:
            why = f"no {' or '.join(missing)} in it"
    if why:
        raise ExperimentError(f"cannot read {path}: {why}; the experiment cannot be analysed "
                              "without it (restore it from a copy)")
    if not isinstance(search.get("budget"), dict):
        search["budget"] = {}
    return search


def _read_rows(path: Path, rel: str, skipped: list) -> list[dict]:
    """result.json's rows in file order; unreadable lines are left out and listed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        skipped.append((rel, f"cannot be read ({e.strerror or e})"))
        return []
    rows, bad = [], []
    lines = data.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad.append((number, "not JSON"))
            continue
        if not isinstance(row, dict):
            bad.append((number, f"a JSON {type(row).__name__}, not an object"))
        elif isinstance(row.get("training_iteration"), bool) or not isinstance(
                row.get("training_iteration"), int):
            bad.append((number, "no training_iteration"))
        else:
            wrong = [m for m in METRICS + ["time_total_s", "test_accuracy"]
                     if row.get(m) is not None
                     and (isinstance(row[m], bool) or not isinstance(row[m], (int, float)))]
            wrong += [m for m in ("accuracy", "val_accuracy", "test_accuracy")
                      if m not in wrong and not 0 <= _number(row.get(m, 0)) <= 1]
            wrong += [m for m in ("time_total_s",) if m not in wrong
                      and not 0 <= _number(row.get(m, 0)) < 1e9]
            for m in wrong:
                row[m] = math.nan
            if wrong:
                bad.append((number, f"{', '.join(wrong)} not a number or out of range "
                                    "(read as NaN)"))
            rows.append(row)
    if bad:
        shown = "; ".join(f"line {n}: {why}" for n, why in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        last = (" (the line a killed process was writing?)"
                if len(bad) == 1 and rows and bad[0][0] == len(lines) else "")
        skipped.append((rel, f"{len(bad)} of {len(lines)} lines left out: {shown}{more}{last}"))
    return rows


def _checkpoint(trial_dir: Path, folder: Path, skipped: list) -> str:
    """The newest intact checkpoint folder; damaged newer ones are listed."""
    for ckpt in sorted(trial_dir.glob("checkpoint_*"), reverse=True):
        rel = str(ckpt.relative_to(folder))
        if not ckpt.is_dir():
            skipped.append((rel, "not a folder"))
            continue
        if not any((ckpt / f).exists()
                   for f in ("state.json", "best.npz", "last.npz", "last.weights.h5")):
            skipped.append((rel, "holds none of state.json, best.npz, last.npz; an "
                                 "earlier checkpoint is used"))
            continue
        state, why = _read_json(ckpt / "state.json")
        if why and why != "missing":
            skipped.append((f"{rel}/state.json", why + "; an earlier checkpoint is used"))
            continue
        best = ckpt / "best.npz"
        if best.exists() and not zipfile.is_zipfile(best):
            skipped.append((f"{rel}/best.npz", "truncated or not an .npz; an earlier checkpoint "
                                               "is used"))
            continue
        return str(ckpt)
    return ""


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Failure)\b.*")


def error_line(text: str) -> str:
    """The exception line of a traceback Ray wrote: the last `SomeError: ...` line, else the
    last non-empty line."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else ""


def trial_status(row: dict, finished: bool, errored: bool, done: bool) -> str:
    """How a trial ended (STATUSES), from its row's diverged, test_accuracy and epochs; also the
    search's console (driver/console.py) for a trial as it ends."""
    if row["diverged"]:
        return "diverged"
    if not math.isnan(row["test_accuracy"]):
        return "completed"
    if errored:
        return "error"
    if done and row["epochs"]:  # Ray marks the result with which ASHA stopped a trial as done
        return "stopped"
    if finished:
        return "stopped" if row["epochs"] else "not started"
    return "unfinished"


def _trial(trial_dir: Path, folder: Path, search: dict, skipped: list):
    """(trial row, epoch rows) of one trial folder, or None when it holds nothing usable."""
    rel = str(trial_dir.relative_to(folder))
    rows = _read_rows(trial_dir / "result.json", f"{rel}/result.json", skipped)
    config, why = _read_json(trial_dir / "params.json")
    if why == "missing" and not rows and (trial_dir / "error.txt").exists():
        config, why = {}, None  # Ray failed it before it started: its error is all there is
    if why:
        from_rows = next((r["config"] for r in rows if isinstance(r.get("config"), dict)), None)
        if from_rows is None:
            if why != "missing" or rows:
                skipped.append((f"{rel}/params.json", f"{why}; trial left out (no config)"))
            return None
        config = from_rows
        skipped.append((f"{rel}/params.json", f"{why}; its config was read from result.json"))
    trial_id = next((r["trial_id"] for r in rows if isinstance(r.get("trial_id"), str)),
                    trial_dir.name.removeprefix("trial_"))
    metric = _metric(search)
    sign = -1 if search.get("mode") == "min" else 1

    iterations = [r["training_iteration"] for r in rows]
    by_epoch = {r["training_iteration"]: r for r in rows}  # the latest report of each epoch
    epochs = [{"trial_id": trial_id, "epoch": it,
               **{m: _number(by_epoch[it].get(m)) for m in METRICS},
               "training_time_s": _number(by_epoch[it].get("time_total_s")),
               "diverged": bool(by_epoch[it].get("diverged"))} for it in sorted(by_epoch)]

    def score(r):
        v = _number(r.get(metric))
        return -math.inf if math.isnan(v) else sign * v
    # a tie goes to the later epoch, as the trainable keeps its best weights
    best = max(reversed([by_epoch[it] for it in sorted(by_epoch)]), key=score, default={})
    last = rows[-1] if rows else {}
    error_file = trial_dir / "error.txt"
    error = ""
    if error_file.exists():
        try:
            error = error_line(error_file.read_text(errors="replace")) or "error.txt is empty"
        except OSError as e:
            error = f"error.txt cannot be read ({e.strerror or e})"
    repeated = any(b <= a for a, b in zip(iterations, iterations[1:]))
    diverged_at = next((e["epoch"] for e in epochs if e["diverged"]), None)
    tested = next((r for r in reversed(rows) if "test_accuracy" in r), {})
    params = next((r.get("params") for r in rows[::-1] if isinstance(r.get("params"), int)
                   and not isinstance(r.get("params"), bool)), None)
    first = rows[0] if rows else {}
    started = _number(first.get("timestamp")) - _number(first.get("time_this_iter_s"))
    # a date, not Unix seconds, for whoever reads the table; a damaged number is no date
    started = pd.Timestamp(started, unit="s", tz="UTC") if 0 <= started < 1e11 else pd.NaT
    row = {
        "trial_id": trial_id, "epochs": len(by_epoch),
        "best_epoch": best.get("training_iteration"),
        **{k: v for k, v in config.items() if k not in TRIAL_COLUMNS},
        **{m: _number(best.get(m)) for m in METRICS},
        "test_accuracy": _number(tested.get("test_accuracy")),
        "test_loss": _number(tested.get("test_loss")),
        "params": params,
        "training_time_s": _number(last.get("time_total_s")) if rows else 0.0,
        "started": started,
        "diverged": diverged_at is not None,
        "error": error,
        "checkpoint": _checkpoint(trial_dir, folder, skipped),
        "config": config,
    }
    completed = not math.isnan(row["test_accuracy"])
    row["retried"] = repeated or (bool(error) and (completed or bool(iterations)
                                                   and iterations[0] > 1))
    row["status"] = trial_status(row, bool(search.get("finished")), bool(error),
                                 bool(last.get("done")))
    if row["status"] == "diverged":
        row["failed_epoch"] = diverged_at
    elif row["status"] == "error":  # it failed in the epoch after its last report
        row["failed_epoch"] = (max(by_epoch) if by_epoch else 0) + 1
    elif row["retried"]:  # as its error says (the suite's own errors name the epoch), else the
        # epoch it was resumed at: a repeated one, or the first one left
        named = re.search(r"\bepoch (\d+)\b", error or "")
        row["failed_epoch"] = int(named[1]) if named else next(
            (b for a, b in zip(iterations, iterations[1:]) if b <= a),
            iterations[0] if iterations else None)
    else:
        row["failed_epoch"] = None
    result_file = trial_dir / "result.json"
    if search.get("finished") and result_file.exists() and not result_file.stat().st_size:
        skipped.append((f"{rel}/result.json", "empty although the search finished"))
    return row, epochs


def _frame(rows: list[dict], columns: dict, extra: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame with the documented columns (in order, `extra` after the head) and dtypes."""
    extra = extra or []
    order = HEAD + extra + [c for c in columns if c not in HEAD] if columns is TRIAL_COLUMNS \
        else list(columns)
    df = pd.DataFrame(rows, columns=order)
    for c, t in columns.items():  # a column of NaT alone is a date without a time zone
        if t.startswith("datetime64"):
            df[c] = pd.to_datetime(df[c], utc=True)
    return df.astype({c: t for c, t in columns.items()})


def load(folder) -> Results:
    """Read an experiment folder. Raises ExperimentError only when search.json is unusable."""
    folder = Path(folder)
    search = read_search(folder)
    skipped: list[tuple[str, str]] = []
    trials, epochs = [], []
    for trial_dir in sorted(p for p in folder.iterdir() if p.is_dir()
                            and any((p / f).exists() for f in TRIAL_FILES)):
        got = _trial(trial_dir, folder, search, skipped)
        if got:
            trials.append(got[0])
            epochs += got[1]

    best_test, why = _read_json(folder / "best_test.json")
    if why is None and (math.isnan(_number(best_test.get("test_accuracy")))
                        or not isinstance(best_test.get("trial_id"), str)):
        best_test, why = None, "no test_accuracy or trial_id in it"
    if why and why != "missing":
        skipped.append(("best_test.json", f"{why}; the best trial's own test score is used"))
    ensemble = best_test.get("ensemble") if best_test else None
    if ensemble is not None and not (isinstance(ensemble, dict)
                                     and isinstance(ensemble.get("trial_ids"), list)
                                     and not math.isnan(_number(ensemble.get("test_accuracy")))):
        del best_test["ensemble"]
        skipped.append(("best_test.json", "its ensemble has no test_accuracy or trial_ids; "
                                          "left out"))

    extra = list(dict.fromkeys(k for t in trials for k in t if k not in TRIAL_COLUMNS))
    trials_df = _frame(trials, TRIAL_COLUMNS, extra)
    if len(trials_df):
        trials_df = trials_df.sort_values(_metric(search),
                                          ascending=search.get("mode") == "min",
                                          na_position="last", kind="stable")
    return Results(folder, search, trials_df.reset_index(drop=True),
                   _frame(epochs, EPOCH_COLUMNS), best_test, skipped)


def ranked_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with a result (diverged and result-less ones excluded), highest validation
    accuracy first, a tie in `trials`' order."""
    usable = trials[~trials["diverged"] & trials["val_accuracy"].notna()] if len(trials) else trials
    return usable.sort_values("val_accuracy", ascending=False, kind="stable")


def best_trial(trials: pd.DataFrame) -> dict | None:
    """The first of `ranked_trials`: the highest validation accuracy."""
    ranked = ranked_trials(trials)
    if ranked.empty:
        return None
    row = ranked.iloc[0]
    return {"trial_id": row["trial_id"], "config": row["config"],
            "val_accuracy": float(row["val_accuracy"]), "checkpoint": row["checkpoint"]}
