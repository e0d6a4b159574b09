"""After a study: its best settings as a preset, its best model into the model library, and the
study's plots and table. Names also importable from core.jobs.tuning.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..base.errors import FmnistError
from ..models.presets import Preset
from ..store.user_presets import get_preset
from .study_storage import (
    DEFAULT_STUDY,
    TrialRecord,
    _import_optuna,
    best_model_path,
    best_record,
    load_study,
    study_names,
    trial_records,
)
from .tuning_space import DEFAULT_BASE, trial_preset

if TYPE_CHECKING:
    import optuna

    from ..data.fashion_mnist import Split

def best_as_preset(study: str = DEFAULT_STUDY, name: str | None = None, storage: str | None = None) -> Preset:
    """The study's best settings as a complete Preset (named `name`, default "<base>-tuned")."""
    s = load_study(study, storage)
    best = best_record(trial_records(s))
    if best is None:
        raise FmnistError(f"The study {study!r} has no finished trial yet.", "Run more trials.")
    base = get_preset(s.user_attrs.get("base_preset", DEFAULT_BASE))
    return trial_preset(base, best.params, name=name, title=name)


def save_best_to_library(
    study: str = DEFAULT_STUDY,
    test_split: "Split | None" = None,
    name: str | None = None,
    progress=None,
    stop=None,
    storage: str | None = None,
):
    """Add the study's best model to the model library (with its test accuracy when
    `test_split` is given and the evaluation is not stopped). Returns the new ModelEntry.
    `storage`: the study's storage, to check that this machine holds the shared study's best
    trial (in a study shared by several machines, the worker that ran it saved it)."""
    from ..store.checkpoint import load_model
    from ..store.library import ModelLibrary
    from . import evaluate as evaluate_job
    from .runs import FinishedRun, save_run
    from .state import PlainState

    path = best_model_path(study)
    if not path.is_file():
        raise FmnistError(f"The study {study!r} has no saved best model yet.", "Run fmnist tune until a trial finishes.")
    model, meta = load_model(path)
    _check_holds_best(study, storage, meta)
    result = None
    if test_split is not None:
        state = PlainState(stop, on_progress=lambda _f, _m, done, total: progress and done is not None
                           and progress(done, total))
        done = evaluate_job.run(evaluate_job.EvaluateInputs(path, test_split=(test_split, None)), state)
        if done is not None:
            model, result = done.model, done.result
            meta.metrics = dict(meta.metrics, test_accuracy=result.accuracy, test_loss=result.loss)
    score = f" – {result.accuracy:.2f}%" if result is not None else ""
    meta.name = name or f"{meta.name}{score}"
    return save_run(FinishedRun(model, meta, test=result), ModelLibrary())


def _check_holds_best(study: str, storage: str | None, meta) -> None:
    """FmnistError when the shared study's best trial is not the one whose model is here."""
    if study not in study_names(storage):
        return
    s = load_study(study, storage)
    best = best_record(trial_records(s))
    here = meta.training.get("tuning") if isinstance(meta.training, dict) else None
    if best is None or not isinstance(here, dict) or here.get("trial") == best.number:
        return
    holder = s.user_attrs.get("best_model") or {}
    where = f" on {holder.get('host')} ({holder.get('path')})" if holder.get("trial") == best.number else ""
    raise FmnistError(
        f"The study {study!r}'s best trial is {best.number} ({best.value:.2f}%), but this computer holds the "
        f"model of trial {here.get('trial')}: the best one was trained by another worker{where}.",
        "Add it to the library on that machine, or copy its file here.",
    )


_PLOT_LOCK = threading.Lock()
PLOTS = ("history", "importance", "intermediate")


def render_plots(study: "optuna.Study", dpi: int = 100) -> dict[str, bytes]:
    """Optuna's matplotlib plots of the study as PNG bytes: "history" (optimization history),
    "importance" (parameter importance, from 2 finished trials with 2+ varying settings) and
    "intermediate" (each trial's validation accuracy per epoch, pruned ones stopping early).
    A plot that cannot be drawn yet is left out. Safe in a worker thread: it draws with Agg
    (the app's own charts draw through their Qt canvases, not pyplot)."""
    import io

    import matplotlib
    import matplotlib.pyplot as plt

    optuna = _import_optuna()
    import warnings

    vis = optuna.visualization.matplotlib
    makers = {
        "history": vis.plot_optimization_history,
        "importance": vis.plot_param_importances,
        "intermediate": vis.plot_intermediate_values,
    }
    out: dict[str, bytes] = {}
    with _PLOT_LOCK:
        if matplotlib.get_backend().lower() != "agg":
            plt.switch_backend("agg")
        complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        for key, make in makers.items():
            if key == "importance" and len(complete) < 2:
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # ExperimentalWarning
                    ax = make(study)
            except Exception:  # noqa: BLE001 — e.g. importance with one distinct value: no plot yet
                plt.close("all")
                continue
            ax = ax.flat[0] if hasattr(ax, "flat") else ax
            fig = ax.figure
            fig.set_size_inches(7, 4.2)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            plt.close(fig)
            out[key] = buf.getvalue()
    return out


def trial_table(records: list[TrialRecord] | tuple[TrialRecord, ...]) -> list[dict[str, Any]]:
    """JSON-friendly rows for `fmnist tune --json` and the dialog's table."""
    best = best_record(records)
    return [dict(r.to_dict(), best=best is not None and r.number == best.number) for r in records]
