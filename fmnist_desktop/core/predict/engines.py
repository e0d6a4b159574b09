"""What runs a model for the Predictor: an ONNX twin on onnxruntime (`OnnxEngine`, torch-free, the
way the app answers) or the torch model itself (`predict.torch_engine.TorchEngine`, for a model
that has no twin, or a GPU).

Both take what the Predictor prepared and give the same numbers (within 1e-5, tests/core/
test_twins.py): a 28×28 network's ten probabilities for uint8 (N, 28, 28) Fashion-MNIST-style
images, a photo model's eleven softmax probabilities for letterboxed RGB images. The preparation
below repeats core.learn.transforms.to_model_input and core.photo.model_input.to_unit_tensor in
numpy, operation for operation, so the twin sees what the torch model sees.
"""

from __future__ import annotations

import importlib.util
import os
import threading

import numpy as np
from PIL import Image

from ..base.errors import FmnistError
from ..store.answer_probe import answers_are_finite, probe_array, refusal
from ..store.twins import Twin

BATCH_SIZE = 256  # 28×28 images per run
# Photos per run. On onnxruntime a batch of 8 costs about what 8 single runs do (2 cores, load 7:
# 65 ms against 61 ms a photo, file to verdict; load 14: 295 against 341 ms): it is kept for the
# folder path, where it keeps the model's runs few (bench/engine_bench.py, docs/BENCHMARKS.md).
PHOTO_BATCH = 8
# onnxruntime's threads, chosen by measurement (bench/engine_bench.py --ort-sweep, the photo model
# alone at batch 1 on the 2-core machine at load 7): 1 or 2 threads without spinning 31 ms; with
# spinning 36 / 60 ms; 4 threads (more than the cores) 39 ms, and 110 ms spinning. So: one thread
# per core the process may use, at most 4, and no spinning: a spinning pool on a busy machine
# takes the cores it waits for from the work it waits on (the collapse torch's pool shows).
MAX_INTRA_OP_THREADS = 4
THREADS_ENV = "FMNIST_ORT_THREADS"  # override for measuring


def intra_op_threads() -> int:
    override = os.environ.get(THREADS_ENV, "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_INTRA_OP_THREADS, count))


def onnx_session(path, threads: int | None = None, spinning: bool = False):
    """An onnxruntime session on the CPU with the app's thread settings."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise FmnistError("Answering with an ONNX twin needs onnxruntime, which is not installed.") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or intra_op_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own types; a damaged file is a FmnistError
        raise FmnistError(f"onnxruntime cannot load {os.path.basename(str(path))}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None


def _aa_bilinear_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights of torch's bilinear interpolation with antialias=True
    (align_corners=False), which is PIL's triangle filter widened by the scale."""
    scale = size_in / size_out
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    weights = np.zeros((size_out, size_in), np.float32)
    for i in range(size_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), size_in)
        w = np.array([max(0.0, 1.0 - abs((j + lo - center + 0.5) * invscale)) for j in range(hi - lo)], np.float64)
        total = w.sum()
        weights[i, lo:hi] = (w / total if total else w).astype(np.float32)
    return weights


def fmnist_model_input(images: np.ndarray, input_size: int, mean: float, std: float) -> np.ndarray:
    """uint8 (N, 28, 28) → the 28×28 network's float32 input (N, 1, S, S), as
    core.learn.transforms.to_model_input makes it."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[-1] != input_size or x.shape[-2] != input_size:
        rows = _aa_bilinear_weights(x.shape[-2], input_size)
        cols = _aa_bilinear_weights(x.shape[-1], input_size)
        x = np.einsum("ij,ncjk,lk->ncil", rows, x, cols, optimize=True).astype(np.float32)
        x = np.clip(np.rint(x), 0, 255)
    x = x * np.float32(1.0 / 255.0)
    return np.ascontiguousarray((x - np.float32(mean)) / np.float32(std), dtype=np.float32)


def photo_model_input(images: list[Image.Image]) -> np.ndarray:
    """Letterboxed RGB images → float32 (N, 3, S, S) in 0..1, as core.photo.model_input.to_unit_tensor."""
    batch = np.stack([np.asarray(im, dtype=np.uint8) for im in images]).astype(np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) / np.float32(255)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float32)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def check_answers(session, twin: Twin) -> None:
    """The load-time probe of `weights_check.check_answers`, run by onnxruntime on the twin (the
    answer path has no torch): `answer_probe.probe_array` in (the twin of a 28×28 network takes the
    standardised image; a photo model's, RGB 0..1), and every answer must be a finite number, else
    the model is refused (CheckpointError, one line) before it answers anything."""
    outputs = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: probe_array(twin.meta)})[0]
    if not answers_are_finite(outputs):
        raise refusal(twin.source)


class OnnxEngine:
    """A model's ONNX twin on onnxruntime."""

    runtime = "onnxruntime"
    model = None  # no torch module behind it

    def __init__(self, twin: Twin, threads: int | None = None, lazy: bool = True):
        self.twin = twin
        self.meta = twin.meta
        self._threads = threads
        self._session = None
        self._lock = threading.Lock()  # one run at a time: the pool's threads are the parallelism
        if importlib.util.find_spec("onnxruntime") is None:
            raise FmnistError("onnxruntime is not installed")
        if not lazy:
            self.session  # noqa: B018 — load now (a damaged file fails here, not at the first image)

    @property
    def session(self):
        """The onnxruntime session, loaded on first use: a batch of 28×28 images never loads the
        photo model. Its answers are probed as it loads (`check_answers`)."""
        with self._lock:
            if self._session is None:
                session = onnx_session(self.twin.onnx_path, self._threads)
                check_answers(session, self.twin)
                self._session = session
            return self._session

    def _run(self, x: np.ndarray) -> np.ndarray:
        session = self.session
        with self._lock:
            return session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: x})[0]

    def fmnist_probabilities(self, images: np.ndarray) -> np.ndarray:
        meta = self.meta
        out = [self._run(fmnist_model_input(images[k:k + BATCH_SIZE], meta.input_size, meta.mean, meta.std))
               for k in range(0, len(images), BATCH_SIZE)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 10), np.float32)

    def photo_probabilities(self, images: list[Image.Image]) -> np.ndarray:
        out = [softmax(self._run(photo_model_input(images[k:k + PHOTO_BATCH])))
               for k in range(0, len(images), PHOTO_BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 11), np.float32)
