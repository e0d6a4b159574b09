"""`fmnist-desktop --self-test`: prove an installation works, without a display and without Qt.

Meant above all for the packaged app (CI runs it on every build): it imports torch (the lite
edition: onnxruntime, and checks that torch is absent), loads the bundled model, classifies the bundled sample images through the same Predictor the app uses, and
checks the answers. One line per check (`ok   …`, `FAIL …`, `info …`), exit status 0 only when
every check passed. The report is also written to the log folder, because a windowed build on
Windows has no console to print to.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

from fmnist_desktop import APP_ID, __version__
from fmnist_desktop.core.base import edition, paths
from fmnist_desktop.core.base.formats import is_photo_file, recorded_test_accuracy
from fmnist_desktop.core.base.labels import CLASS_NAMES, class_index

SAMPLES_DIR = "resources/samples"
REPORT_NAME = "selftest.txt"
# Sample file names say what they are and what they show: fashion-mnist_<index>_<class>.png are
# Fashion-MNIST test images (the model must get every one right), photo_<index>_<class>.jpg are
# real photos (reported, not required: they are much harder than the data set).
FASHION_MNIST_PREFIX = "fashion-mnist_"
PHOTO_PREFIX = "photo_"
# The real phone photo the shipped photo model must classify right (jeans: unmistakable).
PHOTO_MODEL_SAMPLE = "photo_1_Trouser.jpg"


class _Report:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures = 0

    def line(self, status: str, text: str) -> None:
        if status == "FAIL":
            self.failures += 1
        entry = f"{status:<4} {text}"
        self.lines.append(entry)
        print(entry, flush=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def expected_class(path: Path) -> int | None:
    """The class a sample file shows, from its name (`photo_0_T-shirt_top.jpg` → 0), or None."""
    _kind, _, label = path.stem.partition("_")
    try:
        return class_index(label)
    except KeyError:
        return None


def sample_files(folder: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in folder.iterdir() if is_photo_file(p.name)) if folder.is_dir() else []
    return (
        [p for p in files if p.name.startswith(FASHION_MNIST_PREFIX)],
        [p for p in files if p.name.startswith(PHOTO_PREFIX)],
    )


def _check_samples(report: _Report, predictor, files: list[Path], what: str, required: bool) -> list[int]:
    predictions = predictor.predict_paths(files)
    right = 0
    wrong: list[str] = []
    for path, prediction in zip(files, predictions):
        want = expected_class(path)
        if prediction.error is None and prediction.index == want:
            right += 1
        else:
            got = prediction.error or f"{prediction.label} ({prediction.confidence:.0%})"
            wrong.append(f"{path.name} → {got}")
    status = "ok" if (right == len(files) or not required) else "FAIL"
    if not required and right < len(files):
        status = "info"
    detail = f"; wrong: {', '.join(wrong)}" if wrong else ""
    note = "" if required else " (real photos are harder than the data set; not required)"
    report.line(status, f"classified {what}: {right}/{len(files)} as expected{note}{detail}")
    return [p.index for p in predictions]


def run(report: _Report) -> None:
    started = time.perf_counter()
    frozen = getattr(sys, "frozen", False)
    where = f"bundle at {Path(sys.executable).parent}" if frozen else f"source tree at {paths.source_root()}"
    report.line("info", f"{APP_ID} {__version__} self-test, {where}, Python {platform.python_version()} on {platform.platform()}")

    if not _check_imports(report, started):
        return
    from fmnist_desktop.core.predict.predictor import Predictor

    weights = paths.default_weights_path()
    try:
        predictor = Predictor.from_checkpoint(weights, device="cpu")
    except Exception as exc:
        report.line("FAIL", f"load bundled model {weights}: {_one_line(exc)}")
        return
    meta = predictor.meta
    accuracy = recorded_test_accuracy(getattr(meta, "metrics", None))
    acc_text = f"test acc {accuracy:.1f}%" if accuracy is not None else "test acc not recorded"
    report.line("ok", f"loaded bundled model weights/default.pt (preset {getattr(meta, 'preset', '?')}, {acc_text})")

    # The classes must be the data set's ten in order, or every label the app shows is wrong.
    class_names = tuple(getattr(meta, "class_names", CLASS_NAMES) or CLASS_NAMES)
    if class_names != CLASS_NAMES:
        report.line("FAIL", f"model's class names {class_names} differ from Fashion-MNIST's {CLASS_NAMES}")

    _check_cpu(report, predictor)
    fashion_mnist, photos = sample_files(paths.bundled_path(SAMPLES_DIR))
    if not fashion_mnist:
        report.line("FAIL", f"no Fashion-MNIST sample images in {paths.bundled_path(SAMPLES_DIR)}")
        return
    try:
        cpu_answers = _check_samples(report, predictor, fashion_mnist, "Fashion-MNIST samples", required=True)
        if photos:
            _check_samples(report, predictor, photos, "photo samples", required=False)
    except Exception as exc:
        report.line("FAIL", f"classify the bundled samples: {_one_line(exc)}")
        return

    _check_gpu(report, weights, fashion_mnist, cpu_answers)
    _check_photo_model(report, weights, photos, fashion_mnist)
    report.line("info", f"self-test took {time.perf_counter() - started:.1f} s")


def _check_imports(report: _Report, started: float) -> bool:
    """The engine imports: torch in the full edition; onnxruntime, and no torch, in the lite one."""
    lite = not edition.has_torch()
    try:
        if lite:
            import onnxruntime as engine
        else:
            import torch as engine
            import torchvision
        from fmnist_desktop.core.predict.predictor import Predictor  # noqa: F401
    except Exception as exc:  # a broken bundle shows up here: say what is missing, stop
        report.line("FAIL", f"import {'onnxruntime' if lite else 'torch'} and the app's core: {_one_line(exc)}")
        return False
    took = f"in {time.perf_counter() - started:.1f} s"
    if lite:
        report.line("ok", f"lite edition: imported onnxruntime {engine.__version__} {took}; no torch (answers run on ONNX twins)")
    else:
        report.line("ok", f"imported torch {engine.__version__}, torchvision {torchvision.__version__} {took}")
    return True


def _check_photo_model(report: _Report, fmnist_weights: Path, photos: list[Path], fashion_mnist: list[Path]) -> None:
    """The shipped photo model (weights/photo.pt) together with the 28×28 network, as the app
    uses them: the real phone photo PHOTO_MODEL_SAMPLE must go to the photo model and be
    classified right, and a Fashion-MNIST sample must still go to the 28×28 network. Skipped,
    with a line that says so, only when this installation has no weights/photo.pt. The ImageNet
    weights a photo model's training starts from must be there too."""
    from fmnist_desktop.core.predict.predictor import Predictor

    photo_weights = paths.photo_weights_path()
    if not photo_weights.is_file():
        report.line("info", f"photo model check skipped: no weights/photo.pt in this installation ({photo_weights})")
        return
    sample = next((p for p in photos if p.name == PHOTO_MODEL_SAMPLE), None)
    if sample is None:
        report.line("FAIL", f"photo model: the sample photo {PHOTO_MODEL_SAMPLE} is missing from {SAMPLES_DIR}")
        return
    try:
        predictor = Predictor.from_checkpoints([photo_weights, fmnist_weights], device="cpu")
        photo, fm = predictor.predict_paths([sample, fashion_mnist[0]])
    except Exception as exc:
        report.line("FAIL", f"load and run the photo model weights/photo.pt: {_one_line(exc)}")
        return
    want = expected_class(sample)
    if photo.error is not None or photo.model_kind != "photo" or photo.index != want:
        got = photo.error or f"{photo.label} ({photo.confidence:.0%}) by the {photo.answered_by}"
        report.line("FAIL", f"photo model: {sample.name} → {got}; expected {CLASS_NAMES[want]} by the photo model")
    else:
        report.line("ok", f"photo model weights/photo.pt ({predictor.slots['photo'].meta.name}): {sample.name} → "
                          f"{photo.label} ({photo.confidence:.0%})")
    if fm.error is not None or fm.model_kind != "fmnist":
        report.line("FAIL", f"routing: {fashion_mnist[0].name} went to the {fm.answered_by if fm.ok else fm.error}, "
                            "not the 28×28 network")
    else:
        report.line("ok", f"routing: photos go to the photo model, {fashion_mnist[0].name} to the 28×28 network")
    if not edition.has_torch():
        report.line("info", "lite edition: no ImageNet backbone weights needed (it does not train photo models)")
        return
    try:
        from fmnist_desktop.core.models.photo_net import pretrained_weights_path

        backbone = pretrained_weights_path()
        present = backbone.is_file()
    except Exception as exc:  # noqa: BLE001 — the package missing from a bundle lands here
        backbone, present = _one_line(exc), False
    if present:
        report.line("ok", f"ImageNet backbone weights for training photo models present ({backbone.name})")
    else:
        report.line("FAIL", f"ImageNet backbone weights for training photo models missing: {backbone}")


def _check_cpu(report: _Report, predictor) -> None:
    """The model really runs on the CPU: its weights are there and a blank image gives ten finite
    probabilities that add up to one (a broken torch build or BLAS library fails here)."""
    import numpy as np

    try:
        model = getattr(predictor, "model", None)
        # A model answered by its ONNX twin runs on onnxruntime's CPU provider: no torch weights to ask.
        where = {str(p.device) for p in model.parameters()} if model is not None else {"cpu"}
        probabilities = np.asarray(predictor.probabilities(np.zeros((1, 28, 28), np.uint8)), dtype=float)
    except Exception as exc:
        report.line("FAIL", f"device cpu: {_one_line(exc)}")
        return
    if where != {"cpu"}:
        report.line("FAIL", f"device cpu: the model's weights are on {', '.join(sorted(where))}")
    elif probabilities.shape != (1, len(CLASS_NAMES)) or not np.isfinite(probabilities).all() \
            or abs(float(probabilities.sum()) - 1.0) > 1e-3:
        report.line("FAIL", f"device cpu: a blank image gave probabilities {probabilities.round(3).tolist()}")
    else:
        report.line("ok", "device cpu: the model runs and gives ten probabilities that add up to one")


def _check_gpu(report: _Report, weights: Path, files: list[Path], cpu_answers: list[int]) -> None:
    """When a CUDA GPU is present, the same samples must get the same answers on it."""
    if not edition.has_torch():
        report.line("info", "lite edition: answers run on the CPU through onnxruntime; no GPU check")
        return
    import torch

    from fmnist_desktop.core.predict.predictor import Predictor

    try:
        available = torch.cuda.is_available()
    except Exception as exc:  # a driver/library mismatch must not read as "no GPU"
        report.line("FAIL", f"query CUDA: {_one_line(exc)}")
        return
    if not available:
        report.line("info", "no CUDA GPU found; GPU check skipped (the app trains on the CPU)")
        return
    try:
        name = torch.cuda.get_device_name(0)
        gpu_answers = [p.index for p in Predictor.from_checkpoint(weights, device="cuda").predict_paths(files)]
    except Exception as exc:
        report.line("FAIL", f"classify on the GPU: {_one_line(exc)}")
        return
    if gpu_answers == cpu_answers:
        report.line("ok", f"device cuda ({name}): same answers as the CPU on {len(files)} samples")
    else:
        report.line("FAIL", f"device cuda ({name}): answers differ from the CPU's: {gpu_answers} vs {cpu_answers}")


def main() -> int:
    report = _Report()
    try:
        run(report)
    except Exception as exc:  # the self-test itself must never end in a traceback
        report.line("FAIL", f"self-test stopped unexpectedly: {_one_line(exc)}")
    verdict = "self-test FAILED" if report.failures else "self-test passed"
    report.lines.append(verdict)
    print(verdict, flush=True)
    try:
        paths.atomic_write_text(paths.logs_dir() / REPORT_NAME, "\n".join(report.lines) + "\n")
    except Exception:  # a read-only or full disk must not turn a passed self-test into a failure
        pass
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
