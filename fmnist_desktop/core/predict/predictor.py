"""Classifying images with a trained model.

Every image goes through `photo.prepare_photo`, which turns a real photo into the 28×28 light-
on-black image Fashion-MNIST draws. The rule for images that already look like Fashion-MNIST
lives there, in one place: a 28×28 image whose background is near-black and whose object is
lighter is used exactly as it is (`PhotoSteps.passthrough`); anything else — any other size, or
a 28×28 dark-on-light image — is cropped, inverted and framed. The 28×28 image the model saw is
kept with each prediction (`model_input`) so the user can always see it.

Batch prediction never raises because of one bad file: that item gets `error` (a readable
sentence) and the rest of the batch goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from ..base import verdict as verdict_rules
from ..base.edition import NeedsFullEdition, has_torch
from ..base.errors import FmnistError
from ..base.formats import iter_photo_files
from ..base.labels import CLASS_NAMES
from ..base.output_safety import path_fields, utf8_text
from ..models.arch_info import FMNIST_KIND, KIND_NAMES, PHOTO_KIND, kind_of_arch
from ..photo import PhotoSteps, load_image, prepare_photo
from ..photo.model_input import is_fashion_mnist_style, letterbox
from ..store.answer_probe import NOT_NUMBERS_TEXT
from ..store.library import shipped_name
from ..store.meta import CheckpointMeta
from ..store.twins import find_twin
from .engines import BATCH_SIZE, PHOTO_BATCH, OnnxEngine  # noqa: F401 — BATCH_SIZE, PHOTO_BATCH: importable here

DEFAULT_TOP_K = 3
STREAM_BATCH = 256  # iter_predict_paths yields after this many images...
STREAM_LATENCY_S = 0.5  # ...or after preparing for this long, whichever comes first
PREPARE_WORKERS = max(1, min(2, os.cpu_count() or 1))
PREPARE_AHEAD = 4 * PREPARE_WORKERS  # files being prepared ahead of the one awaited


@dataclass(frozen=True)
class Prediction:
    path: Path | None  # the file, or None for an image given in memory
    index: int  # predicted class index (-1 when `error` is set)
    label: str  # predicted class name ("" when `error` is set)
    confidence: float  # probability of the predicted class, 0..1
    probabilities: tuple[float, ...]  # all 10, in class order
    top_k: list[tuple[str, float]]  # the k most likely (name, probability), best first
    model_input: Image.Image | None  # the 28×28 "L" image the model saw
    steps: PhotoSteps | None  # every preparation step, when kept
    error: str | None = None  # why this image could not be classified
    name: str = ""  # display name (file name, or the name given to predict_images)
    not_sure: bool = False  # confidence below the model's threshold (core.base.verdict)
    out_of_scope: bool = False  # so unsure it may not be one of the ten classes
    threshold: float = verdict_rules.DEFAULT_THRESHOLD  # the levels the verdict was decided with
    out_of_scope_threshold: float | None = None
    # The photo model's 11th output ("none of these"); None for a 28×28 network.
    none_probability: float | None = None
    model_kind: str = FMNIST_KIND  # which model answered: "photo" or "fmnist"
    model_name: str = ""
    thumbnail: Image.Image | None = None  # a small copy of the photo, when asked for (lists)
    # "<model> is answered by torch: <why>" when the model's ONNX twin could not be made; "" when it answered.
    engine_note: str = ""

    @property
    def answered_by(self) -> str:
        """"Photo model – <name>" / "28×28 network – <name>": what the GUI and CLI say answered."""
        kind = KIND_NAMES.get(self.model_kind, self.model_kind)
        return f"{kind} – {self.model_name}" if self.model_name else kind

    @property
    def verdict(self) -> verdict_rules.Verdict:
        """The verdict the Predictor decided: what the CLI prints, the server returns and the GUI shows."""
        return verdict_rules.Verdict(self.index, self.label, self.confidence, self.not_sure, self.out_of_scope)

    def verdict_at(self, threshold: float | None) -> verdict_rules.Verdict:
        """The verdict with the user's own "not sure" threshold (the Predict page's spin box): the
        same rule on the stored probabilities. None: the verdict the Predictor decided."""
        if threshold is None:
            return self.verdict
        return verdict_rules.decide(self.probabilities, threshold, self.out_of_scope_threshold, self.none_probability)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        """Plain JSON values. A file name that is not valid UTF-8 is shown with U+FFFD in "path"
        and "name" and kept exactly, base64-encoded, in "path_bytes"."""
        out = {**path_fields(self.path), "name": utf8_text(self.name)}
        if self.error is not None:
            out["error"] = utf8_text(self.error)
            return out
        out.update(
            label=self.label,
            index=self.index,
            confidence=round(self.confidence, 6),
            not_sure=self.not_sure,
            out_of_scope=self.out_of_scope,
            top_k=[[name, round(p, 6)] for name, p in self.top_k],
            probabilities={name: round(p, 6) for name, p in zip(CLASS_NAMES, self.probabilities)},
            model={"kind": self.model_kind, "name": utf8_text(self.model_name)},
        )
        if self.none_probability is not None:
            out["none_probability"] = round(self.none_probability, 6)
        if self.steps is not None and self.steps.notes:
            out["notes"] = list(self.steps.notes)
        return out


def _failed(path: Path | None, name: str, error: str, thumbnail: Image.Image | None = None) -> Prediction:
    return Prediction(path, -1, "", 0.0, (), [], None, None, error, name, thumbnail=thumbnail)


@dataclass
class _Slot:
    """One model, the engine that runs it (an ONNX twin on onnxruntime, or torch) and the levels
    its verdicts use."""

    engine: Any
    meta: CheckpointMeta
    kind: str
    threshold: float
    out_of_scope_threshold: float | None
    note: str = ""  # why torch answers instead of the model's ONNX twin ("" when the twin does)

    @property
    def model(self):
        """The torch module behind the slot; None when its ONNX twin answers."""
        return self.engine.model

    @classmethod
    def of(cls, engine, meta: CheckpointMeta) -> "_Slot":
        return cls(engine, meta, kind_of_arch(meta.arch), verdict_rules.threshold_of(meta),
                   verdict_rules.out_of_scope_threshold_of(meta))


def _engine(model, meta: CheckpointMeta, device):
    """An engine as it is (OnnxEngine, TorchEngine), or a torch module wrapped in a TorchEngine."""
    if hasattr(model, "photo_probabilities"):
        return model
    from .torch_engine import TorchEngine

    return TorchEngine(model, meta, device)


def _is_cpu(device) -> bool:
    return str(device) == "cpu"


class Predictor:
    """Models loaded once, ready to classify images: one model, or a photo model and a 28×28
    network together, in which case each image goes to the one it suits (`route`): a small grey
    light-on-black image to the 28×28 network, anything else to the photo model. The user never
    picks; each Prediction says which model answered.

    Each model runs on an engine: its ONNX twin on onnxruntime (how the app answers, without
    torch: `from_checkpoints`) or the torch model (a model given in memory, a model whose twin
    cannot be made, a GPU); `torch_notes` says, in one line each, which models torch answers
    and why, for the CLI and the window to show."""

    def __init__(self, model, meta: CheckpointMeta, device="cpu", others: Sequence[tuple[Any, CheckpointMeta]] = ()):
        self.device = device
        first = _Slot.of(_engine(model, meta, device), meta)
        self.slots: dict[str, _Slot] = {first.kind: first}
        for other_model, other_meta in others:
            slot = _Slot.of(_engine(other_model, other_meta, device), other_meta)
            self.slots.setdefault(slot.kind, slot)
        # The first model given is the primary one: its metadata and levels are what a page
        # showing "the model" shows (the spin box, the Evaluate page's name).
        self.model = first.model
        self.meta = meta
        self.class_names = tuple(meta.class_names) if meta.class_names else CLASS_NAMES
        self.threshold = first.threshold
        self.out_of_scope_threshold = first.out_of_scope_threshold
        self.torch_notes: list[str] = []

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device="cpu", make_twin=None) -> "Predictor":
        """Load a model file (CheckpointError if it cannot be used). `device` may be "auto"."""
        return cls.from_checkpoints([path], device, make_twin)

    @classmethod
    def from_checkpoints(cls, paths: Sequence[str | os.PathLike[str]], device="cpu",
                         make_twin: Callable[[Path], Any] | None = None, use_twins: bool = True) -> "Predictor":
        """Load model files (the first is the primary one; at most one of each kind is used). On
        the CPU each answers through its ONNX twin when it has a valid one (`make_twin(path)` makes
        a missing one: core.jobs.twins.ensure_twin); otherwise, on a GPU and with `use_twins=False`
        (the torch pipelines of photo_eval need the torch model), torch answers it."""
        if isinstance(device, str) and device == "auto" and not has_torch():
            device = "cpu"  # the lite edition: onnxruntime on the CPU
        if isinstance(device, str) and device == "auto":
            from ..learn.training import resolve_device

            device = resolve_device("auto")
        loaded, notes = [], {}
        for path in paths:
            engine, meta, note = _load_engine(Path(path), device, make_twin, use_twins)
            meta.name = shipped_name(path) or meta.name  # the app's name for a shipped model, everywhere
            loaded.append((engine, meta))
            if note:
                notes[id(engine)] = note
        (engine, meta), others = loaded[0], loaded[1:]
        predictor = cls(engine, meta, device, others)
        for slot in predictor.slots.values():
            slot.note = notes.get(id(slot.engine), "")
        predictor.torch_notes = [slot.note for slot in predictor.slots.values() if slot.note]
        return predictor

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.slots)

    def route(self, img: Image.Image) -> str:
        """The kind of model that answers `img`: a Fashion-MNIST-style image goes to the 28×28
        network, everything else to the photo model (when each is loaded)."""
        if len(self.slots) == 1:
            return next(iter(self.slots))
        return FMNIST_KIND if is_fashion_mnist_style(img) else PHOTO_KIND

    def probabilities(self, images) -> np.ndarray:
        """Class probabilities (N, 10) for uint8 images (N, 28, 28) in Fashion-MNIST style (a numpy
        array or a torch tensor)."""
        images = np.asarray(images, dtype=np.uint8)
        slot = self.slots.get(FMNIST_KIND) or next(iter(self.slots.values()))
        if slot.kind == PHOTO_KIND:
            rgb = [Image.fromarray(im, "L").convert("RGB") for im in images]
            return slot.engine.photo_probabilities([letterbox(im, slot.meta.input_size) for im in rgb])[:, :10]
        return slot.engine.fmnist_probabilities(images)

    def _load(self, source) -> Image.Image:
        """Decode a file, bytes or PIL image. With a photo model loaded, photos are decoded at
        twice its input size (JPEG draft decoding makes a 12-megapixel photo cheap); the 28×28
        pipeline alone keeps its larger default."""
        if PHOTO_KIND in self.slots:
            return load_image(source, max_side=2 * self.slots[PHOTO_KIND].meta.input_size)
        return load_image(source)

    def _prepare(self, img: Image.Image, keep_steps: bool) -> tuple[str, PhotoSteps | None, Image.Image]:
        """(kind, steps, model input) for a loaded image: the photo model's letterboxed colour
        image, or the 28×28 grey image the Fashion-MNIST pipeline makes."""
        kind = self.route(img)
        if kind == PHOTO_KIND:
            return kind, None, letterbox(img, self.slots[kind].meta.input_size)
        steps = prepare_photo(img)
        return kind, (steps if keep_steps else None), steps.final

    def _finish(self, prepared: list[tuple], top_k: int) -> list[Prediction]:
        """Classify prepared items (path, name, kind, steps, model input, error, thumbnail), each
        by its kind's model, and decide each verdict once."""
        probs_of: dict[int, np.ndarray] = {}
        for kind, slot in self.slots.items():
            idx = [i for i, item in enumerate(prepared) if item[5] is None and item[2] == kind]
            if not idx:
                continue
            if kind == PHOTO_KIND:
                probs = slot.engine.photo_probabilities([prepared[i][4] for i in idx])
            else:
                probs = slot.engine.fmnist_probabilities(np.stack([np.asarray(prepared[i][4], dtype=np.uint8)
                                                                   for i in idx]))
            probs_of.update(zip(idx, probs))
        results = []
        for i, (path, name, kind, steps, model_input, error, thumbnail) in enumerate(prepared):
            if error is not None:
                results.append(_failed(path, name, error, thumbnail))
                continue
            slot = self.slots[kind]
            names = slot.meta.class_names if len(slot.meta.class_names) == len(CLASS_NAMES) else CLASS_NAMES
            full = probs_of[i]
            if not np.isfinite(full).all():  # a model that passed its load probe can still overflow
                results.append(_failed(path, name, f"{name}: {NOT_NUMBERS_TEXT} for this image; nothing to show.",
                                       thumbnail))
                continue
            p, none_p = (full[:10], float(full[10])) if len(full) > 10 else (full, None)
            order = np.argsort(-p, kind="stable")
            best = int(order[0])
            decided = verdict_rules.decide(p, slot.threshold, slot.out_of_scope_threshold, none_p)
            results.append(
                Prediction(
                    path=path,
                    index=best,
                    label=names[best],
                    confidence=float(p[best]),
                    probabilities=tuple(float(v) for v in p),
                    top_k=[(names[int(j)], float(p[int(j)])) for j in order[: max(1, top_k)]],
                    model_input=model_input,
                    steps=steps,
                    error=None,
                    name=name,
                    not_sure=decided.not_sure,
                    out_of_scope=decided.out_of_scope,
                    threshold=slot.threshold,
                    out_of_scope_threshold=slot.out_of_scope_threshold,
                    none_probability=none_p,
                    model_kind=kind,
                    model_name=slot.meta.name,
                    thumbnail=thumbnail,
                    engine_note=slot.note,
                )
            )
        return results

    def predict_images(
        self, images: Sequence[Image.Image], names: Sequence[str] | None = None, top_k: int = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """Classify PIL images (any size or mode), keeping every preparation step."""
        names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
        prepared = []
        for img, name in zip(images, names):
            try:
                kind, steps, model_input = self._prepare(self._load(img), keep_steps=True)
                prepared.append((None, name, kind, steps, model_input, None, None))
            except FmnistError as exc:
                prepared.append((None, name, None, None, None, str(exc), None))
            except Exception as exc:  # noqa: BLE001 — one odd image must not sink the batch
                prepared.append((None, name, None, None, None,
                                 f"{name} could not be prepared ({type(exc).__name__}: {exc}).", None))
        return self._finish(prepared, top_k)

    def predict_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        top_k: int = DEFAULT_TOP_K,
        keep_steps: bool = False,
    ) -> list[Prediction]:
        """Classify image files; folders are expanded (see `iter_image_paths`).

        An unreadable file becomes a Prediction with `error`; it never raises for one file.
        `progress(done, total)` after each file; when `stop` is set, returns the predictions made
        so far. The preparation steps hold full-size photos, so they are kept only with
        `keep_steps=True` (the 28×28 `model_input` is always kept).
        """
        return list(self.iter_predict_paths(paths, progress, stop, top_k, keep_steps))

    def iter_predict_paths(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: Callable[[int, int], None] | None = None,
        stop: threading.Event | None = None,
        top_k: int = DEFAULT_TOP_K,
        keep_steps: bool = False,
        files: Sequence[Path] | None = None,
        thumbnail_size: int | None = None,
    ) -> Iterator[Prediction]:
        """`predict_paths` as a stream, in file order: predictions come out in batches, each as
        soon as its batch is classified (at most STREAM_BATCH images, or what was prepared
        within STREAM_LATENCY_S), so a folder of 20,000 images shows results from the start.
        `files`: the already expanded file list, when the caller has it. `thumbnail_size`: each
        prediction keeps a copy of its photo at most this big (a list's thumbnails), so the
        full-size preparation steps need not be kept."""
        files = list(iter_image_paths(paths)) if files is None else list(files)
        total = len(files)
        # Photos are prepared on PREPARE_WORKERS threads (OpenCV, numpy and Pillow release the
        # GIL in their heavy parts), a few files ahead, in order; a batch is classified and
        # yielded when it is full or has taken STREAM_LATENCY_S.
        with ThreadPoolExecutor(max_workers=PREPARE_WORKERS) as pool:
            ahead: deque = deque()
            submitted = 0
            batch: list = []
            started = time.monotonic()
            done = 0
            while done < total:
                while submitted < total and len(ahead) < PREPARE_AHEAD:
                    ahead.append(pool.submit(self._prepare_file, files[submitted], keep_steps, thumbnail_size))
                    submitted += 1
                if stop is not None and stop.is_set():
                    for future in ahead:
                        future.cancel()
                    break
                batch.append(ahead.popleft().result())
                done += 1
                if progress is not None:
                    progress(done, total)
                if len(batch) >= STREAM_BATCH or done == total or time.monotonic() - started > STREAM_LATENCY_S:
                    yield from self._finish(batch, top_k)
                    batch, started = [], time.monotonic()
            if batch:  # stopped: what was prepared is still classified
                yield from self._finish(batch, top_k)

    def _prepare_file(self, path: Path, keep_steps: bool, thumbnail_size: int | None = None):
        try:
            img = self._load(path)
            kind, steps, model_input = self._prepare(img, keep_steps)
            thumbnail = None
            if thumbnail_size:
                thumbnail = img.copy()
                thumbnail.thumbnail((thumbnail_size, thumbnail_size))
            return (path, path.name, kind, steps, model_input, None, thumbnail)
        except FmnistError as exc:
            return (path, path.name, None, None, None, str(exc), None)
        except MemoryError:  # one huge photo: skip it, the others go on
            return (path, path.name, None, None, None, f"{path.name} could not be prepared: not enough memory for it.", None)
        except Exception as exc:  # noqa: BLE001 — a decoder bug on one file must not stop the batch
            return (path, path.name, None, None, None,
                    f"{path.name} could not be read ({type(exc).__name__}: {exc}).", None)



def iter_image_paths(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files named explicitly, as given (even without an image extension, so the user hears
    why one cannot be read); folders expanded by `formats.iter_photo_files`."""
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            yield from iter_photo_files(path)
        else:
            yield path


def _load_engine(path: Path, device, make_twin, use_twins: bool = True) -> tuple[Any, CheckpointMeta, str | None]:
    """(engine, meta, note) for one model file: its ONNX twin on the CPU, else torch, with a one-line
    note saying why torch answers it (None when the twin answers, or on a GPU, where torch is asked for)."""
    reason = None
    if use_twins and _is_cpu(device):
        twin = find_twin(path)
        if twin is None and make_twin is not None:
            try:
                twin = make_twin(path)
            except NeedsFullEdition:
                raise  # the lite edition: no torch to answer it either
            except FmnistError as exc:
                from ..store.checkpoint import read_meta

                read_meta(path)  # a model file that does not load says so (CheckpointError), as before
                reason = str(exc).rstrip(".")
        if twin is not None:
            try:
                return OnnxEngine(twin), twin.meta, None
            except FmnistError as exc:
                reason = str(exc).rstrip(".")
    if not has_torch():
        raise NeedsFullEdition(f"{path.name} cannot be answered without its ONNX twin ({reason or 'none found'}); "
                               "answering it with PyTorch needs the full edition of the app.")
    from ..store.checkpoint import load_model

    model, meta = load_model(path, device)
    note = None if reason is None else f"{shipped_name(path) or meta.name} is answered by torch: {reason}."
    return _engine(model, meta, device), meta, note
