"""The report never misleads, checked on real searches (issue 30): importance on a basis it states,
the very numbers optuna-dashboard shows for optuna.db; Pareto fronts only where they mean something;
accuracy axes that span the data; value labels that neither touch each other nor drown in lines.

Plots are checked on the matplotlib figures the drawing functions return (limits, artists, text
extents), never on pixels."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pandas as pd
import pytest

from conftest import run

from analysis import compare, load, plots, report
from analysis.optuna_study import MIN_TRIALS, distributions

pytestmark = pytest.mark.slow  # real searches


@pytest.fixture(scope="module")
def complete(tmp_path_factory) -> Path:
    """A real search whose every trial runs its whole (one-epoch) budget: MIN_TRIALS of them,
    the fewest with which importance is computed. The smoke search leaves too few complete."""
    storage = tmp_path_factory.mktemp("complete")
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--num-samples", MIN_TRIALS, "--max-epochs", "1", "--grace-period", "1",
               "--storage-path", storage, "--name", "complete")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "complete"


def _copy(folder: Path, tmp_path: Path) -> Path:
    """A copy to write a report into: the session's folders are shared by other tests."""
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("report", "optuna.db"))
    return copy


def dashboard_importance(folder: Path) -> dict[str, float]:
    """What optuna-dashboard shows as importance for the experiment's optuna.db: its own web API,
    called as the browser calls it, through its WSGI app (no server, no port)."""
    import optuna
    import optuna_dashboard
    storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'optuna.db'}")
    try:
        app = optuna_dashboard.wsgi(storage)
        environ: dict = {}
        setup_testing_defaults(environ)
        study_id = storage.get_study_id_from_name(folder.name)
        environ["PATH_INFO"] = f"/api/studies/{study_id}/param_importances"
        status = []
        body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
        assert status == ["200 OK"], (status, body[:500])
        (objective,) = json.loads(body)["param_importances"]
        return {p["name"]: p["importance"] for p in objective}
    finally:
        storage.engine.dispose()


def test_importance_states_its_basis_and_optuna_dashboard_shows_the_same(smoke_search, complete,
                                                                        tmp_path):
    for source in (smoke_search[0], complete):
        folder = _copy(source, tmp_path)
        readme = report.write(folder).read_text()
        res = load(folder)
        table = pd.read_csv(folder / "report" / "importance.csv")
        done = int((res.trials["status"] == "completed").sum())
        stopped = int((res.trials["status"] == "stopped").sum())
        shown = dashboard_importance(folder)
        if done < MIN_TRIALS:
            # The smoke search: ASHA stops most trials. Their scores after one epoch are no
            # match for four-epoch ones, so they are not ranked, and the report says why.
            assert stopped and table.empty, (done, stopped)
            assert f"No importance: only {done} trial" in readme
            assert f"left out: {stopped} stopped early by ASHA" in readme
            assert not (folder / "report" / "importance.png").exists()
            continue
        assert set(table["parameter"]) == {"optimizer", "learning_rate", "batch_size",
                                           "dropout"}
        assert table["importance"].sum() == pytest.approx(1.0)
        assert f"over the {done} trials that ran the whole budget" in readme
        assert "optuna-dashboard shows the same numbers" in readme
        # the same numbers as the dashboard's, parameter for parameter
        assert dict(zip(table["parameter"], table["importance"])) == pytest.approx(shown)
    assert done >= MIN_TRIALS  # the last folder, `complete`, took the computed branch


def test_pareto_has_no_size_panel_for_one_model_and_no_stopped_trial_on_a_front(
        smoke_search, study, tmp_path):
    # The smoke search: one model, so one size; ASHA stopped most trials after an epoch.
    res = load(smoke_search[0])
    assert res.trials["params"].nunique() == 1
    (panel,) = plots.pareto_panels(res)  # training time only
    assert panel["column"] != "params"
    trials = res.trials.set_index("trial_id")
    assert panel["front"] and set(trials.loc[panel["front"], "status"]) == {"completed"}
    # The cheapest trial is one ASHA stopped: on a front over every trial it would be first.
    cheapest = panel["data"].sort_values(panel["column"]).iloc[0]
    assert cheapest["status"] == "stopped" and cheapest["trial_id"] not in panel["front"]
    fig = plots.pareto(res, tmp_path / "pareto.png")
    (ax,) = fig.axes
    assert "stopped" in [t.get_text() for t in fig.legends[0].get_texts()]  # marked as such
    circled = [c for c in ax.collections if c.get_gid() == "pareto front"]
    assert len(circled) == 1 and len(circled[0].get_offsets()) == len(panel["front"])
    _assert_spans_the_data(ax.get_ylim(), res.trials["val_accuracy"])
    _assert_legible(fig)

    # The study: three models of different sizes, so both panels, every trial completed.
    res = load(study)
    assert res.trials["params"].nunique() == 3
    panels = plots.pareto_panels(res)
    assert [p["column"] == "params" for p in panels] == [True, False]
    fig = plots.pareto(res, tmp_path / "pareto_study.png")
    assert len(fig.axes) == 2
    for p in panels:
        assert p["front"] and set(res.trials.set_index("trial_id").loc[p["front"], "status"]) == {"completed"}
    _assert_legible(fig)


def _assert_spans_the_data(limits, values) -> None:
    """The data fill most of the axis: 0.955 and 0.986 must not look alike."""
    values = pd.Series(values, dtype=float).dropna()
    low, high = limits
    assert low <= values.min() and values.max() <= high, (limits, values.tolist())
    assert values.max() - values.min() >= 0.75 * (high - low), (limits, values.tolist())


def test_comparison_accuracy_axis_spans_the_data(smoke_search, complete, tmp_path):
    table = compare([smoke_search[0], complete])
    fig = plots.comparison(table, tmp_path / "comparison.png")
    (ax,) = fig.axes
    shown = table[["val_accuracy", "test_accuracy", "reference_test_accuracy"]].stack().dropna()
    assert len(shown) >= 4  # val and test of both searches
    _assert_spans_the_data(ax.get_xlim(), shown)
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(shown)  # every number a dot
    _assert_legible(fig)


def _texts(fig):
    """(text, extent in pixels) of every text the figure draws: visible, not empty, and for a
    tick label, its tick inside the axis's range (matplotlib keeps, undrawn, ticks beyond it)."""
    from matplotlib.axis import XTick, YTick
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text
    canvas = FigureCanvasAgg(fig)  # the closed figure's own canvas no longer renders
    canvas.draw()
    renderer = canvas.get_renderer()
    undrawn = set()
    for tick in fig.findobj(lambda a: isinstance(a, (XTick, YTick))):
        axis = tick.axes.xaxis if isinstance(tick, XTick) else tick.axes.yaxis
        low, high = sorted(axis.get_view_interval())
        slack = 1e-9 * (high - low)
        if not low - slack <= tick.get_loc() <= high + slack:
            undrawn |= {id(tick.label1), id(tick.label2)}
    return [(t, t.get_window_extent(renderer)) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in undrawn
            and (t.axes is None or t.axes.get_visible())]


def _assert_legible(fig) -> None:
    """Every text lies inside the figure, and no two of them overlap."""
    texts = _texts(fig)
    box = fig.bbox.padded(1)  # a pixel for rounding
    outside = [t.get_text() for t, e in texts
               if not (box.x0 <= e.x0 and e.x1 <= box.x1 and box.y0 <= e.y0 and e.y1 <= box.y1)]
    assert not outside, outside
    touching = [(a.get_text(), b.get_text()) for (a, ea), (b, eb)
                in itertools.combinations(texts, 2) if ea.overlaps(eb)]
    assert not touching, touching


def test_parallel_and_slice_labels_are_legible(smoke_search, study, complete, tmp_path):
    for folder in (smoke_search[0], study, complete):
        res = load(folder)
        dists, _ = distributions(res)
        searched = {k: d for k, d in dists.items() if not d.single()}
        _assert_legible(plots.slices(res, tmp_path / f"{folder.name}_slice.png", searched))
        fig = plots.parallel(res, tmp_path / f"{folder.name}.png", searched)
        _assert_legible(fig)
        (ax, _colorbar) = fig.axes
        lines = max(line.get_zorder() for line in ax.get_lines())
        labels = [t for t in ax.texts if t.get_text().strip()]
        assert len(labels) >= 2 * (len(searched) + 1)  # each axis says what its ends are
        for label in labels:  # drawn above the trials' lines, on a box that hides them
            box = label.get_bbox_patch()
            assert label.get_zorder() > lines and box is not None, label.get_text()
            assert box.get_facecolor()[:3] == (1.0, 1.0, 1.0) and box.get_alpha() >= 0.8
