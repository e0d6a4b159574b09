"""core.jobs: the task functions the pages start, run here without Qt (`run(inputs, state)`)."""

from __future__ import annotations


from fmnist_desktop.core.jobs import train
from fmnist_desktop.core.jobs.state import PlainState
from fmnist_desktop.core.learn.training import TrainConfig


def _run_training(config, max_batch_rate_hz=20.0, stop_after_batches=None):
    """`train.run` with a PlainState; the (name, event) pairs it handed over, in order."""
    events = []

    def on_partial(event):
        events.append((type(event).__name__, event))
        if stop_after_batches and sum(1 for n, _ in events if n == "BatchEnd") == stop_after_batches:
            state.stop.set()

    state = PlainState(on_partial=on_partial)
    train.run(train.TrainInputs(config, max_batch_rate_hz=max_batch_rate_hz), state)
    return events


def test_training_loads_data_trains_and_hands_on_events_in_order(tiny_idx_dir):
    config = TrainConfig(preset="seed", epochs=2, batch_size=32, val_size=100, device="cpu", data_dir=tiny_idx_dir)
    names = [name for name, _ in _run_training(config, max_batch_rate_hz=1000)]
    assert names[0] == "DataLoaded" and names[1] == "Started"
    assert names[-1] == "Finished"
    assert names.count("EpochEnd") == 2 and "Failed" not in names and "Cancelled" not in names


def test_training_throttles_batch_events_and_stops(tiny_idx_dir):
    config = TrainConfig(preset="seed", epochs=500, batch_size=8, val_size=100, device="cpu", data_dir=tiny_idx_dir)
    events = _run_training(config, max_batch_rate_hz=2, stop_after_batches=3)
    batches = [event for name, event in events if name == "BatchEnd"]
    cancelled = [event for name, event in events if name == "Cancelled"]
    assert len(batches) >= 3
    assert len(cancelled) == 1 and cancelled[0].epoch < 500
    # At 2 events/s, consecutive forwarded batches are ≥ 0.5 s apart in the trainer's clock,
    # except the last batch of an epoch, which is always forwarded.
    mid_epoch = [b for b in batches if b.batch < b.batches]
    gaps = [b.elapsed_s - a.elapsed_s for a, b in zip(mid_epoch, mid_epoch[1:])]
    assert all(gap >= 0.45 for gap in gaps), gaps


def test_training_reports_a_missing_data_set_as_failed(tmp_path):
    events = _run_training(TrainConfig(preset="seed", epochs=1, data_dir=tmp_path / "nothing-here"))
    failures = [event for name, event in events if name == "Failed"]
    assert len(failures) == 1 and "does not exist" in failures[0].message and failures[0].advice


def test_the_after_step_runs_on_the_finished_run_and_its_value_arrives_last(tiny_idx_dir):
    config = TrainConfig(preset="seed", epochs=1, batch_size=64, val_size=100, device="cpu", data_dir=tiny_idx_dir)
    seen = []
    state = PlainState()
    train.run(train.TrainInputs(config, after=lambda finished, data, st: seen.append(finished) or "saved"), state)
    assert type(seen[0]).__name__ == "Finished"
    assert isinstance(state.partial_results[-1], train.AfterTraining) and state.partial_results[-1].value == "saved"


# --------------------------------------------------------------------------- evaluate a model file
def test_evaluating_a_model_file_on_the_test_split_and_stopping(small_model, tiny_idx_dir):
    from fmnist_desktop.core.jobs import evaluate

    state = PlainState()
    done = evaluate.run(evaluate.EvaluateInputs(small_model, tiny_idx_dir), state)
    assert len(done.split) == 200 and done.result.confusion.sum() == 200
    assert done.meta.preset == "fast" and done.source.description
    assert state.progress[2] == state.progress[3] == 200  # the last report: every image done

    again = evaluate.run(evaluate.EvaluateInputs(small_model, test_split=(done.split, done.source)), PlainState())
    assert again.result.accuracy == done.result.accuracy  # a split already read is reused

    stopped = PlainState()
    stopped.stop.set()
    assert evaluate.run(evaluate.EvaluateInputs(small_model, tiny_idx_dir), stopped) is None


# --------------------------------------------------------------------------- classify photos
def _photo_folder(root):
    from PIL import Image, ImageDraw

    for rel in ("a.png", "sub/b.jpg", ".hidden/c.png", "notes.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".txt"):
            path.write_text("not a photo")
            continue
        img = Image.new("RGB", (60, 80), (240, 240, 240))
        ImageDraw.Draw(img).rectangle([15, 10, 45, 70], fill=(30, 30, 30))
        img.save(path)
    (root / "broken.png").write_bytes(b"not a png")
    return root


def test_classifying_a_folder_streams_groups_in_file_order_and_skips_known_files(small_model, tmp_path):
    from fmnist_desktop.core.jobs import classify
    from fmnist_desktop.core.predict.predictor import Predictor

    folder = _photo_folder(tmp_path / "photos")
    loads = []

    def load():
        loads.append(1)
        return Predictor.from_checkpoint(small_model)

    state = PlainState()
    total, skipped = classify.run(classify.ClassifyInputs([str(folder)], load), state)
    rows = [c for group in state.partial_results for c in group]
    assert (total, skipped) == (3, 0) and loads == [1]
    assert [c.shown for c in rows] == ["a.png", "broken.png", "sub/b.jpg"]  # hidden and non-photo files left out
    assert rows[1].prediction.error and not rows[0].prediction.error
    assert rows[0].prediction.thumbnail.size[0] <= 40 and rows[0].prediction.steps is None

    again = PlainState()
    known = frozenset(c.path for c in rows[:2])
    assert classify.run(classify.ClassifyInputs([str(folder)], load, known), again) == (1, 2)
    assert [c.shown for group in again.partial_results for c in group] == ["sub/b.jpg"]


def test_classifying_one_photo_keeps_every_step(small_model, tmp_path):
    from fmnist_desktop.core.jobs import classify
    from fmnist_desktop.core.predict.predictor import Predictor

    folder = _photo_folder(tmp_path / "photos")
    predictor = Predictor.from_checkpoint(small_model)
    prediction, steps, source = classify.classify_one(predictor, "single-path", str(folder / "a.png"))
    assert prediction.ok and steps.final.size == (28, 28) and source == str(folder / "a.png")
    pasted, pasted_steps, image = classify.classify_one(predictor, "single-bytes", (folder / "a.png").read_bytes())
    assert pasted.name == "Pasted image" and pasted.probabilities == prediction.probabilities
    broken, no_steps, _ = classify.classify_one(predictor, "single-path", str(folder / "broken.png"))
    assert broken.error and no_steps is None
