"""core.store.user_photos: the labelled photo store and the teach-and-fine-tune flow (tiny data)."""

from __future__ import annotations

import io

import numpy as np
import torch
import pytest
from PIL import Image, ImageDraw

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.jobs import finetune
from fmnist_desktop.core.store import user_photos
from fmnist_desktop.core.base.errors import FmnistError, ImageLoadError
from fmnist_desktop.core.store.user_photos import add_example, delete, list_examples, relabel, split_examples


def garment_photo(label: int, seed: int) -> Image.Image:
    """A dark object on a light, slightly noisy background. Class 1 is a tall thin bar
    (a trouser leg), class 3 a wide block; the noise makes every photo's bytes different."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(225, 250, size=(240, 240, 3)).astype(np.uint8)
    img = Image.fromarray(bg)
    d = ImageDraw.Draw(img)
    jitter = int(rng.integers(-8, 9))
    if label == 1:
        d.rectangle([105 + jitter, 20, 135 + jitter, 220], fill=(30, 30, 70))
    else:
        d.rectangle([30, 80 + jitter, 210, 160 + jitter], fill=(60, 30, 30))
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_add_keeps_the_original_file_in_its_class_folder_and_deduplicates(tmp_path):
    photo = tmp_path / "IMG_0001.JPG"
    garment_photo(1, 0).save(photo, "JPEG")
    ex = add_example(photo, 1)
    assert ex.path.parent == paths.user_photos_dir() / "1_Trouser"
    assert ex.path.suffix == ".jpg" and ex.path.read_bytes() == photo.read_bytes()
    again = add_example(photo, 1)
    assert again == ex and len(list_examples()) == 1
    moved = add_example(photo, "Dress")  # the same photo labelled differently: relabelled
    assert moved.label == 3 and moved.path.parent.name == "3_Dress" and not ex.path.exists()
    assert [e.label for e in list_examples()] == [3]


def test_in_memory_images_are_stored_as_png_and_bad_input_is_refused(tmp_path):
    ex = add_example(garment_photo(3, 1), 3)
    assert ex.path.suffix == ".png" and Image.open(ex.path).size == (240, 240)
    text = tmp_path / "note.png"
    text.write_text("not a photo")
    with pytest.raises(ImageLoadError):
        add_example(text, 0)
    with pytest.raises(FmnistError):
        add_example(garment_photo(3, 2), 12)
    assert len(list_examples()) == 1


def test_relabel_and_delete():
    ex = add_example(png_bytes(garment_photo(1, 3)), 0)
    assert ex.label_name == "T-shirt/top"
    ex = relabel(ex, 1)
    assert list_examples() == [ex] and ex.path.parent.name == "1_Trouser"
    delete(ex)
    assert list_examples() == []
    delete(ex)  # deleting twice is harmless


def test_kept_out_split_is_deterministic_and_about_one_in_five():
    for i in range(40):
        add_example(png_bytes(garment_photo(1 if i % 2 else 3, 100 + i)), 1 if i % 2 else 3)
    examples = list_examples()
    train, kept = split_examples(examples)
    assert len(train) + len(kept) == 40 and 2 <= len(kept) <= 16
    assert split_examples(list(reversed(examples)))[1] == list(reversed(kept))
    # Adding more photos never moves an existing photo between the two sides.
    add_example(png_bytes(garment_photo(1, 999)), 1)
    assert set(kept) <= set(split_examples(list_examples())[1])


def test_teach_and_fine_tune_end_to_end_on_tiny_data(tiny_idx_dir, tmp_path):
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta, load_model, save_checkpoint
    from fmnist_desktop.core.data.fashion_mnist import load_dataset
    from fmnist_desktop.core.learn.training import Finished, TrainConfig, run_training

    data = load_dataset(tiny_idx_dir, val_size=100)
    base = run_training(TrainConfig(preset="fast", epochs=1, device="cpu"), data)
    assert isinstance(base, Finished)
    before_path = save_checkpoint(tmp_path / "before.pt", base.model, CheckpointMeta.for_preset("fast", "base"))

    for i in range(20):
        label = 1 if i % 2 else 3
        add_example(png_bytes(garment_photo(label, 500 + i)), label)
    examples = list_examples()
    assert split_examples(examples)[1], "the fixture photos should include kept-out ones"

    config = finetune.finetune_config(before_path, examples, epochs=3, copies=4, weight=5,
                                         lr_scale=1.0, device="cpu")
    extra_images, extra_labels, weight = config.extra_train
    assert extra_images.dtype.__str__() == "torch.uint8" and tuple(extra_images.shape[1:]) == (28, 28)
    assert len(extra_labels) == len(split_examples(examples)[0]) * 4 and weight == 5.0
    assert str(config.init_checkpoint) == str(before_path)

    tuned = run_training(config, data)
    assert isinstance(tuned, Finished), getattr(tuned, "message", tuned)
    after_path = save_checkpoint(tmp_path / "after.pt", tuned.model, CheckpointMeta.for_preset("fast", "tuned"))
    load_model(after_path)

    report = finetune.before_after_report(before_path, after_path, examples, test_split=data.test)
    assert report.n_user_kept_out == len(split_examples(examples)[1])
    # The tiny patterns never contain these shapes' classes the way the photos draw them, so
    # before fine-tuning the photos are mostly wrong; afterwards the kept-out ones are right.
    assert report.after_user >= 0.8 and report.after_user > report.before_user
    assert 0.0 <= report.after_fashion_mnist <= 1.0
    assert any("kept-out" in line for line in report.lines())


def test_fine_tune_without_photos_says_what_to_do(tmp_path):
    with pytest.raises(FmnistError, match="no photos"):
        finetune.finetune_config(tmp_path / "missing.pt", [])


def test_before_after_comparison_ends_at_the_next_batch_once_stopped():
    """Stop (or closing the window) must not wait for two models × 10,000 images."""
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta
    from fmnist_desktop.core.data.fashion_mnist import Split
    from fmnist_desktop.core.models import build_model

    pair = (build_model("seed_cnn").eval(), CheckpointMeta.for_preset("seed", "untrained"))
    test_split = Split(torch.randint(0, 256, (5000, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (5000,)))

    class StopAfter:  # set from the second check on: the user pressed Stop during the first batch
        def __init__(self):
            self.checks = 0

        def is_set(self):
            self.checks += 1
            return self.checks > 1

    stop = StopAfter()
    assert finetune.before_after_report(pair, pair, [], test_split=test_split, stop=stop) is None
    assert stop.checks == 2, "one batch of the first model, then it stopped"
    finished = finetune.before_after_report(pair, pair, [], test_split=test_split)
    assert finished is not None and finished.before_fashion_mnist == finished.after_fashion_mnist


def test_finetune_readiness_counts_only_photos_it_can_train_on(tmp_path):
    """Issue 12 item 1: one photo (kept out for measuring) made an enabled Fine-tune that then failed."""
    from pathlib import Path

    from fmnist_desktop.core.store.user_photos import MIN_FINETUNE_PHOTOS, Example, finetune_readiness

    kept = Example(Path("a.png"), 0, "00000000aaaa")  # 0 % 5 == 0: kept out
    trainable = [Example(Path(f"{i}.png"), 1, f"{i:08x}bbbb") for i in (1, 2, 3, 4, 6)]
    assert kept.kept_out and not any(e.kept_out for e in trainable)
    one = finetune_readiness([kept])
    assert not one.can_run and one.n_train == 0 and one.n_kept_out == 1
    assert one.needed >= MIN_FINETUNE_PHOTOS  # new photos may be kept out too: it asks for enough
    assert one.button_text().startswith("Fine-tune (needs ") and "kept out" in one.explanation()
    almost = finetune_readiness([kept, *trainable[:MIN_FINETUNE_PHOTOS - 1]])
    assert almost.needed == 2 and "needs 2 more photos" in almost.button_text()
    ready = finetune_readiness([kept, *trainable])
    assert ready.can_run and ready.needed == 0 and ready.button_text() == "Fine-tune with my photos"
