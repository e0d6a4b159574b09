"""Issue 26 item 2: the Evaluate page evaluates the photo model too — on the real photos shipped
with the app (here the three of them the tests meet) and on a labelled folder the user picks —
with its confusion matrix, per-class figures, not-sure and confidently-wrong rates and the photos
behind each cell; and a stopped photo run's banner lands on a page that can evaluate its model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from PySide6.QtCore import Qt


def _sneaker_photo_model(window, name="Shop photo model", make_active=True):
    """A photo model that calls every photo a Sneaker (ImageNet backbone, a fixed head)."""
    import torch

    from fmnist_desktop.core.models.photo_net import PHOTO_ARCH, PhotoNet
    from fmnist_desktop.core.store.checkpoint import CheckpointMeta

    torch.manual_seed(0)
    net = PhotoNet.pretrained().eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([0.0] * 7 + [4.0] + [0.0] * 3))
    meta = CheckpointMeta(name=name, preset="photo-model", arch=PHOTO_ARCH, input_size=224, mean=0.0,
                          std=1.0, metrics={"not_sure_threshold": 0.42, "out_of_scope_threshold": None},
                          training={"augment": "none"})
    entry = window.context.library().add(net, meta)
    window.context.refresh_models()
    if make_active:
        assert window.context.set_active(entry.id)
    return entry


def _labelled_folder(root: Path) -> Path:
    """Two sneakers, one trouser and one thing that is none of the ten, in the evaluate-photos layout."""
    colours = {"7_Sneaker": [(200, 40, 40), (40, 40, 200)], "1_Trouser": [(30, 30, 30)], "none": [(20, 160, 20)]}
    for folder, fills in colours.items():
        (root / folder).mkdir(parents=True)
        for k, fill in enumerate(fills):
            img = Image.new("RGB", (120, 90), (235, 235, 230))
            ImageDraw.Draw(img).rectangle((20, 30, 100, 70), fill=fill)
            img.save(root / folder / f"{folder}-{k}.jpg")
    return root


def _evaluate_page(window, qtbot):
    window.show_page("evaluate")
    page = window.pages["evaluate"]
    qtbot.waitUntil(lambda: page.matrix is not None and window.context.is_torch_ready(), timeout=30_000)
    return page


def _evaluate(page, qtbot):
    with qtbot.waitSignal(page.evaluationFinished, timeout=120_000) as finished:
        qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=10_000)
    return finished.args[0]


def test_the_photo_model_is_evaluated_on_a_labelled_folder_with_its_rates_and_photos(main_window, qtbot, tmp_path):
    _sneaker_photo_model(main_window)
    folder = _labelled_folder(tmp_path / "my-photos")
    page = _evaluate_page(main_window, qtbot)
    page.choice.model_combo.setCurrentIndex(page.choice.model_combo.findData("active:photo"))
    assert page.evaluate_button.text() == "Evaluate on the photos"
    assert page.choice.data_combo.currentText() == "The real photos shipped with the app"
    page.choice.set_photo_folder(folder)

    outcome = _evaluate(page, qtbot)

    assert outcome.photo is not None and outcome.entry.name == "Shop photo model"
    result = outcome.result
    assert len(result.labels) == 3  # the none-of-the-ten photo is not in the ten-class matrix
    assert result.confusion[7, 7] == 2 and result.confusion[1, 7] == 1
    assert page.accuracy_label.text() == "Photo accuracy: 66.7 % (2 of 3)"
    rates = page.rates_label.text()
    assert page.rates_label.isVisible()
    assert "Not sure (below 42.0 % confidence)" in rates and "confidently wrong: 33.3 %" in rates
    assert "1 none-of-the-ten photo" in rates
    assert "Shop photo model" in page.model_label.text() and str(folder) in page.model_label.text()
    assert np.array_equal(page.matrix.confusion, result.confusion) and page.matrix.unit == "photos"
    assert page.metrics_table.item(7, 0).text() == "Sneaker" and page.metrics_table.item(7, 4).text() == "2"

    # The photos behind a cell, in colour, named by their files.
    page.show_cell(1, 7)
    gallery = page.cell_gallery
    assert gallery.gallery_model.rowCount() == 1
    index = gallery.gallery_model.index(0)
    assert "1_Trouser-0.jpg" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert "Trouser mistaken for Sneaker" in page.cell_label.text().replace("<b>", "").replace("</b>", "")
    assert ": 1 photo," in page.cell_label.text()
    pixmap = index.data(Qt.ItemDataRole.DecorationRole)
    assert not pixmap.isNull() and not pixmap.toImage().isGrayscale(), "a photo's thumbnail is in colour"
    assert "of 3 photos are misclassified" in page.misclassified_label.text()


def test_the_photo_model_is_evaluated_on_the_real_photos_shipped_with_the_app(main_window, qtbot):
    _sneaker_photo_model(main_window)
    page = _evaluate_page(main_window, qtbot)
    page.choice.model_combo.setCurrentIndex(page.choice.model_combo.findData("active:photo"))
    outcome = _evaluate(page, qtbot)
    assert outcome.source_description == "the 3 real photos shipped with the app"  # the tests' three
    assert len(outcome.result.labels) == 3 and outcome.result.confusion[:, 7].sum() == 3
    assert page.accuracy_label.text() == "Photo accuracy: 0.0 % (0 of 3)"
    assert "confidently wrong: 100.0 %" in page.rates_label.text()


def test_a_stopped_photo_runs_banner_opens_the_evaluate_page_ready_to_evaluate_it(main_window, qtbot):
    """The banner said "training was stopped; the Evaluate page measures it", but the page could
    only evaluate the active 28×28 network on the test set."""
    from fmnist_desktop.core.jobs.train import RunOutcome
    from fmnist_desktop.ui.pages.train.outcome import show_saved

    entry = _sneaker_photo_model(main_window, name="Photo model (stopped early)", make_active=False)
    train = main_window.pages["train"]
    main_window.show_page("train")
    show_saved(train, RunOutcome(entry=entry, test_accuracy=None, kept_after_stop=True))
    assert "the Evaluate page measures it" in train.banner.text()
    button = train.run_panel.evaluate_button
    assert button.isVisible()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    assert main_window.current_page_key() == "evaluate"
    page = main_window.pages["evaluate"]
    assert page.choice.entry().id == entry.id
    assert page.evaluate_button.text() == "Evaluate on the photos"
    qtbot.waitUntil(lambda: page.evaluate_button.isEnabled() and page.matrix is not None, timeout=30_000)
    outcome = _evaluate(page, qtbot)
    assert outcome.entry.id == entry.id and outcome.photo is not None
    assert "Photo model (stopped early)" in page.model_label.text() and not page.is_stale()


def test_a_folder_without_labelled_photos_says_so_in_the_banner(main_window, qtbot, tmp_path):
    _sneaker_photo_model(main_window)
    empty = tmp_path / "holiday"
    (empty / "misc").mkdir(parents=True)
    page = _evaluate_page(main_window, qtbot)
    page.choice.model_combo.setCurrentIndex(page.choice.model_combo.findData("active:photo"))
    page.choice.set_photo_folder(empty)
    assert page.start_evaluation()
    qtbot.waitUntil(lambda: not page.is_busy(), timeout=30_000)
    message = page.banner.text()
    assert "Evaluation failed" in message and "holiday" in message and "Traceback" not in message, message
    assert page.outcome is None and page.evaluate_button.isEnabled()
