"""Train ▸ Tune… (a study on tiny data: trials table, plots, Stop, Make best active…) and the Models page's
ONNX export and local API server."""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.timeout(240)
pytest.importorskip("optuna")


def _tune_dialog(window, folder):
    from fmnist_desktop.ui.settings_keys import DATA_FOLDER

    window.context.settings.setValue(DATA_FOLDER, str(folder))
    window.show_page("train")
    dialog = window.pages["train"].open_tune_dialog()
    dialog.val_size = 100
    dialog.budget_spin.setValue(0)
    dialog.study_edit.setText("gui")
    return dialog


def test_tune_dialog_runs_a_study_shows_trials_and_plots_and_uses_the_best(window_with_model, tiny_idx_dir, qtbot,
                                                                            monkeypatch):
    window = window_with_model
    dialog = _tune_dialog(window, tiny_idx_dir)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=20_000)  # reading the (empty) study
    dialog.trials_spin.setValue(3)
    dialog.start()
    assert dialog.is_running() and not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    assert window.pages["train"].is_busy()  # closing the window would ask first
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=180_000)
    assert dialog.table.rowCount() == 3, dialog.status.text()
    assert "Done (all trials run)" in dialog.status.text()
    assert dialog.plot_labels["history"].has_plot()
    assert dialog.use_best_button.isEnabled()
    from PySide6.QtWidgets import QMessageBox

    # Whether the best of three tiny trials does worse than the active model or not, it is made active.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(dialog.bestUsed, timeout=60_000) as blocker:
        dialog.use_best()
    entry = blocker.args[0]
    assert window.context.active_entry().id == entry.id and entry.test_accuracy is not None
    # Save as preset…: the settings become a preset of the user's, listed on the Train page.
    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "exec", lambda self: (self.setTextValue("my-tuned"), 1)[1])
    dialog.save_best_as_preset()
    combo = window.pages["train"].form.preset_combo
    assert combo.findData("my-tuned") >= 0 and "my-tuned" in dialog.status.text()
    from fmnist_desktop.cli import build_parser

    assert build_parser().parse_args(["train", "--preset", "my-tuned"]).preset == "my-tuned"
    # Stop: the running trial ends within a batch; the study keeps it (as failed) and goes on next time.
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=30_000)
    dialog.trials_spin.setValue(50)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.table.rowCount() >= 3 and "Trial" in dialog.status.text(), timeout=60_000)
    dialog.stop()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=60_000)
    assert "stopped" in dialog.status.text().lower()
    dialog.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_models_page_exports_onnx_and_serves_the_active_model(window_with_model, tmp_path, qtbot):
    pytest.importorskip("fastapi")
    pytest.importorskip("onnxruntime")
    import httpx

    window = window_with_model
    window.show_page("models")
    page = window.pages["models"]
    entry = window.context.active_entry()
    page.export_entry(entry, tmp_path / "m.onnx", "onnx")
    qtbot.waitUntil(lambda: not page.runner.is_running(), timeout=120_000)
    assert (tmp_path / "m.onnx").is_file() and (tmp_path / "m.onnx.json").is_file()
    assert "verified with onnxruntime" in page.banner.text()

    panel = page.serve_panel
    panel.port_spin.setValue(_free_port())
    panel.start()
    qtbot.waitUntil(panel.is_running, timeout=60_000)
    url = panel.url()
    assert url in panel.address.text() and panel.button.text() == "Stop server"
    assert httpx.get(f"{url}/model", timeout=10).json()["name"] == entry.name
    panel.stop()
    qtbot.waitUntil(lambda: not page.tasks["serve"].is_running(), timeout=30_000)
    assert panel.button.text() == "Start server" and not panel.is_running()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def test_tune_dialog_opens_a_shared_study_by_its_storage_url(window_with_model, tiny_idx_dir, tmp_path, qtbot):
    """Issue 19: a study kept in another database (shared by several computers) is opened by URL."""
    import optuna

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    study = optuna.create_study(study_name="team", storage=url, direction="maximize")
    study.set_user_attr("base_preset", "fast")
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    for number, value in enumerate((81.0, 88.5)):
        study.add_trial(optuna.trial.create_trial(params={"lr": 1e-3 * (number + 1)}, distributions={"lr": lr}, value=value))
    dialog = _tune_dialog(window_with_model, tiny_idx_dir)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=20_000)
    dialog.study_edit.setText("team")
    dialog.storage_edit.setText(url)
    dialog.show_study()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=20_000)
    assert "Best: trial 1, 88.50%" in dialog.status.text()
    # A URL that names no database says so in the dialog, in one line.
    dialog.storage_edit.setText("nosuchdb://x")
    dialog.show_study()
    qtbot.waitUntil(lambda: "cannot be opened" in dialog.status.text(), timeout=20_000)
    dialog.close()
