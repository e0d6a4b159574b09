"""core.jobs.runs: what a finished run becomes is the same whichever face of the app trained it."""

from __future__ import annotations

import pytest

from fmnist_desktop.core.jobs import runs
from fmnist_desktop.core.jobs import finetune
from fmnist_desktop.core.store.checkpoint import CheckpointMeta, save_checkpoint
from fmnist_desktop.core.data.fashion_mnist import load_dataset
from fmnist_desktop.core.store.library import ModelLibrary
from fmnist_desktop.core.learn.training import Finished, TrainConfig, run_training


class _NeverStopped:
    def is_set(self) -> bool:
        return False

    def set_progress(self, *args, **kwargs) -> None:  # the GUI's TaskState, as far as the recipe needs it
        pass


@pytest.fixture
def tiny_run(tiny_idx_dir):
    data = load_dataset(tiny_idx_dir, val_size=100)
    finished = run_training(TrainConfig(preset="seed", epochs=1, batch_size=64, val_size=100, device="cpu",
                                        data_dir=tiny_idx_dir), data)
    assert isinstance(finished, Finished)
    return finished, data


def test_gui_and_cli_trained_models_have_the_same_metadata_fields(tiny_idx_dir, tiny_run):
    from fmnist_desktop import cli

    assert cli.main(["train", "--preset", "seed", "--epochs", "1", "--batch-size", "64", "--val-size", "100",
                     "--device", "cpu", "--data", str(tiny_idx_dir)]) == 0
    library = ModelLibrary()
    cli_meta = library.active().meta

    finished, data = tiny_run
    outcome = runs.after_training(library, "train")(finished, data, _NeverStopped())  # the Train page's step
    gui_meta = outcome.entry.meta

    assert set(gui_meta.metrics) == set(cli_meta.metrics)
    assert set(gui_meta.training) == set(cli_meta.training)
    assert {"test_accuracy", "test_loss", "val_accuracy", "val_loss", "train_accuracy"} <= set(gui_meta.metrics)
    assert {"kind", "device", "elapsed_s", "data_source", "n_train", "n_val", "epochs", "preset"} <= set(gui_meta.training)
    assert gui_meta.training["kind"] == cli_meta.training["kind"] == "train"
    # Named by the same rule: preset title, epochs, test accuracy.
    from fmnist_desktop.core.store.user_presets import get_preset

    title = get_preset("seed").title
    # (the second model of one name in the library is told apart by a number, issue 18)
    assert gui_meta.name.removesuffix(" (2)") == runs.run_name(title, 1, gui_meta.metrics["test_accuracy"])
    assert cli_meta.name == runs.run_name(title, 1, cli_meta.metrics["test_accuracy"])


def test_a_failed_evaluation_still_describes_the_run(tiny_run, monkeypatch):
    from fmnist_desktop.core.learn import evaluation

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(evaluation, "evaluate", out_of_memory)
    finished, data = tiny_run
    run = runs.finish_run(finished, data)
    assert run.test is None and run.test_accuracy is None
    assert run.evaluation_error.startswith("Out of memory")
    assert "test_accuracy" not in run.meta.metrics and run.meta.history


def test_finetuning_scores_the_new_model_on_the_test_set_once(tiny_run, tmp_path, monkeypatch):
    from fmnist_desktop.core.learn import evaluation

    finished, data = tiny_run
    before = save_checkpoint(tmp_path / "before.pt", finished.model, CheckpointMeta.for_preset("seed", "before"))
    tuned = Finished(model=finished.model, history=finished.history, elapsed_s=1.0, device="cpu",
                     config=TrainConfig(preset="seed", epochs=1, device="cpu", init_checkpoint=str(before)))
    test_passes = []
    real_evaluate, real_split_accuracy = evaluation.evaluate, finetune._split_accuracy

    def counting_evaluate(model, split, *args, **kwargs):
        test_passes.append(("evaluate", id(model)))
        return real_evaluate(model, split, *args, **kwargs)

    def counting_split_accuracy(runner, images, labels, stop=None):
        if images is data.test.images:
            test_passes.append(("compare", id(getattr(runner, "model", runner))))
        return real_split_accuracy(runner, images, labels, stop)

    monkeypatch.setattr(evaluation, "evaluate", counting_evaluate)
    monkeypatch.setattr(finetune, "_split_accuracy", counting_split_accuracy)
    run = runs.finish_run(tuned, data, kind=runs.KIND_FINETUNE, examples=[])
    assert run.finetune_report is not None
    # One pass for the new model (the evaluation), one for the model before fine-tuning.
    assert [kind for kind, _ in test_passes] == ["evaluate", "compare"], test_passes
    assert run.finetune_report.after_fashion_mnist == pytest.approx(run.test_accuracy / 100)
    assert run.meta.training["kind"] == "finetune" and "finetune" in run.meta.metrics
