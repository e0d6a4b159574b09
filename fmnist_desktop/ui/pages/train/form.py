"""The Train page's settings form: preset, epochs, batch size, learning rate, augmentation,
validation size and device, and the `RunSettings` it stands for (JSON, so Retrain survives a restart)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

from ....core.base.defaults import DEFAULT_VAL_SIZE

DEVICE_CHOICES = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA (NVIDIA GPU)"), ("mps", "MPS (Apple GPU)"))


@dataclass(frozen=True)
class RunSettings:
    """What the form says; JSON-friendly so it survives restarts (Retrain)."""

    preset: str
    epochs: int
    batch_size: int
    lr: float
    augment: bool
    device: str
    data_dir: str | None = None
    val_size: int = DEFAULT_VAL_SIZE
    photos: str | None = None  # a labelled photo set (labels CSV or class-folder tree) trained on too

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: Any) -> "RunSettings | None":
        if not text:
            return None
        try:
            raw = json.loads(str(text))
            return cls(
                preset=str(raw["preset"]),
                epochs=int(raw["epochs"]),
                batch_size=int(raw["batch_size"]),
                lr=float(raw["lr"]),
                augment=bool(raw["augment"]),
                device=str(raw.get("device", "auto")),
                data_dir=raw.get("data_dir") or None,
                val_size=int(raw.get("val_size", DEFAULT_VAL_SIZE)),
                photos=raw.get("photos") or None,
            )
        except (ValueError, KeyError, TypeError):
            return None


class SettingsForm(QGroupBox):
    """The form. Filled once torch is loaded (`set_choices`); until then it is disabled."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Settings", parent)
        self.presets: dict[str, Any] = {}
        self.devices: dict[str, str] = {}
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.preset_combo = QComboBox(self)
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.setAccessibleName("Preset")
        # Sized to its longest title, on a row of its own (the column's full width), and the page
        # keeps the column at least that wide: no title is ever clipped ("Standard (recommende").
        self.preset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset_combo.currentIndexChanged.connect(self._on_preset_changed)
        preset_label = QLabel("Preset:", self)
        preset_label.setBuddy(self.preset_combo)
        form.addRow(preset_label)
        form.addRow(self.preset_combo)
        self.preset_description = QLabel(self)
        self.preset_description.setObjectName("presetDescription")
        self.preset_description.setWordWrap(True)
        self.preset_description.setStyleSheet("color: #555;")
        form.addRow(self.preset_description)

        self.epochs_spin = QSpinBox(self)
        self.epochs_spin.setObjectName("epochsSpin")
        self.epochs_spin.setAccessibleName("Epochs")
        self.epochs_spin.setRange(1, 500)
        form.addRow("Epochs:", self.epochs_spin)
        self.batch_spin = QSpinBox(self)
        self.batch_spin.setObjectName("batchSizeSpin")
        self.batch_spin.setAccessibleName("Batch size")
        self.batch_spin.setRange(2, 8192)  # BatchNorm needs two images per step
        form.addRow("Batch size:", self.batch_spin)
        self.lr_spin = QDoubleSpinBox(self)
        self.lr_spin.setObjectName("learningRateSpin")
        self.lr_spin.setAccessibleName("Learning rate")
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 10.0)
        self.lr_spin.setSingleStep(0.0005)
        form.addRow("Learning rate:", self.lr_spin)
        self.input_size_spin = QSpinBox(self)
        self.input_size_spin.setObjectName("inputSizeSpin")
        self.input_size_spin.setAccessibleName("Input size")
        self.input_size_spin.setRange(8, 224)
        self.input_size_spin.setSuffix(" px")
        self.input_size_spin.setEnabled(False)
        self.input_size_spin.setToolTip("Fixed by the preset: its network is built for this image size.")
        form.addRow("Input size:", self.input_size_spin)
        self.augment_check = QCheckBox("Augmentation", self)
        self.augment_check.setObjectName("augmentCheck")
        self.augment_check.setAccessibleName("Augmentation")
        form.addRow("", self.augment_check)
        self.val_size_spin = QSpinBox(self)
        self.val_size_spin.setObjectName("valSizeSpin")
        self.val_size_spin.setAccessibleName("Validation images")
        self.val_size_spin.setRange(0, 30000)
        self.val_size_spin.setSingleStep(500)
        self.val_size_spin.setValue(DEFAULT_VAL_SIZE)
        self.val_size_spin.setToolTip("Training images set aside to measure validation loss and accuracy "
                                      "after each epoch (the same ones every run).")
        form.addRow("Validation:", self.val_size_spin)
        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setAccessibleName("Device")
        form.addRow("Device:", self.device_combo)

    def inputs(self) -> list[QWidget]:
        """The widgets the user edits (disabled while a run is going)."""
        return [self.preset_combo, self.epochs_spin, self.batch_spin, self.lr_spin, self.augment_check,
                self.val_size_spin, self.device_combo]

    # ----------------------------------------------------------------- choices (after torchReady)

    def set_choices(self, presets: dict[str, Any], devices: dict[str, str]) -> None:
        self.presets = dict(presets)
        self.devices = dict(devices)
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for name, preset in self.presets.items():
            self.preset_combo.addItem(preset.title, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.blockSignals(False)
        self._fill_devices()

    def _fill_devices(self) -> None:
        self.device_combo.clear()
        model = self.device_combo.model()
        for key, title in DEVICE_CHOICES:
            if key == "mps" and sys.platform != "darwin":
                continue  # Apple GPUs exist only on Macs
            self.device_combo.addItem(title, key)
            index = self.device_combo.count() - 1
            if key == "auto":
                best = "cuda" if "cuda" in self.devices else "mps" if "mps" in self.devices else "cpu"
                tip = f"Uses the fastest device here: {self.devices.get(best, 'CPU')}."
            elif key in self.devices:
                tip = self.devices[key]
            elif key == "cuda":
                tip = "No CUDA GPU is available: this computer has no NVIDIA GPU or its driver is missing."
            else:
                tip = "The Apple GPU (Metal) is not available on this Mac."
            self.device_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
            if key not in self.devices and key != "auto" and isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)

    # ----------------------------------------------------------------- form <-> settings

    def select_preset(self, name: str) -> None:
        index = self.preset_combo.findData(name)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)
            self._on_preset_changed(index)

    @Slot(int)
    def _on_preset_changed(self, index: int) -> None:
        from ....core.models import augment_for

        preset = self.presets.get(self.preset_combo.itemData(index))
        if preset is None:
            return
        self.preset_description.setText(preset.description)
        self.epochs_spin.setValue(preset.epochs)
        self.batch_spin.setValue(preset.batch_size)
        self.lr_spin.setValue(preset.lr)
        self.input_size_spin.setValue(preset.input_size)
        self.augment_check.setChecked(preset.augment != "none")
        self.augment_check.setToolTip(
            f"Random '{augment_for(preset, True)}' augmentation of the training images on every batch.")

    def settings(self, data_dir: str | None) -> RunSettings:
        return RunSettings(
            preset=str(self.preset_combo.currentData()),
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            augment=self.augment_check.isChecked(),
            device=self.device(),
            data_dir=data_dir,
            val_size=self.val_size_spin.value(),
        )

    def device(self) -> str:
        return str(self.device_combo.currentData() or "auto")

    def apply(self, settings: RunSettings) -> None:
        self.select_preset(settings.preset)
        self.epochs_spin.setValue(settings.epochs)
        self.batch_spin.setValue(settings.batch_size)
        self.lr_spin.setValue(settings.lr)
        self.augment_check.setChecked(settings.augment)
        self.val_size_spin.setValue(settings.val_size)
        index = self.device_combo.findData(settings.device)
        usable = index >= 0 and (settings.device == "auto" or settings.device in self.devices)
        self.device_combo.setCurrentIndex(index if usable else max(0, self.device_combo.findData("auto")))


def config_for(settings: RunSettings, presets: dict[str, Any], **extra):
    """The `core.learn.training.TrainConfig` a form's settings stand for."""
    from ....core.models import augment_for
    from ....core.learn.training import TrainConfig

    return TrainConfig(
        preset=settings.preset,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        augment=augment_for(presets[settings.preset], settings.augment),
        device=settings.device,
        data_dir=settings.data_dir,
        val_size=settings.val_size,
        **extra,
    )
