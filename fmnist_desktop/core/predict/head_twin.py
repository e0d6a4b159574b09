"""The ONNX twin of a photo model fine-tuned in its head alone, made from its parent's twin without
torch or the `onnx` package (neither is in the lite edition): the same graph with the head's two
initializers replaced in the file's bytes (core.predict.onnx_wire).

Exporting a photo model with torch takes 30–60 s on two cores and needs torch, which the lite
edition does not have; a head fine-tune changes only the linear head (the `Gemm` that reads the
twin's `features` output), so its twin is its parent's with the new weight and bias. It is
verified before it is recorded, like every twin: run by onnxruntime on the bundled sample photos,
its `features` must be the parent twin's and its answers those of the new head on them (with
ImageNet's opinion mixed in as the model does), within `TOLERANCE`. A failure leaves no twin (the
model's twin is then made on first use, as for any model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..base.errors import FmnistError
from ..base.paths import atomic_write_bytes, bundled_path
from ..store import twins
from ..store.meta import CheckpointMeta
from ..store.twins import FEATURES_OUTPUT, IMAGENET_OUTPUT, Twin
from .engines import onnx_session, photo_model_input, softmax
from .onnx_wire import replace_head

TOLERANCE = 1e-5


def _metadata(meta: CheckpointMeta) -> Callable[[str, str], str]:
    """The file's metadata names this model and its "not sure" threshold, not its parent's."""
    import json

    from ..base.verdict import threshold_of

    threshold = float(threshold_of(meta))

    def value(key: str, old: str) -> str:
        if key == "model_name":
            return meta.name
        if key == "not_sure_threshold":
            return repr(threshold)
        if key == "fmnist_contract":
            terms = json.loads(old)
            terms["not_sure_threshold"] = threshold
            terms.setdefault("model", {}).update(name=meta.name, created=meta.created)
            return json.dumps(terms, ensure_ascii=False)
        return old

    return value


def _patched_bytes(parent_onnx: Path, weight: np.ndarray, bias: np.ndarray, meta: CheckpointMeta) -> bytes:
    return replace_head(parent_onnx.read_bytes(), FEATURES_OUTPUT, weight, bias, _metadata(meta))


def _sample_inputs(input_size: int) -> np.ndarray:
    from ..photo import load_image
    from ..photo.model_input import letterbox

    files = sorted(bundled_path("resources/samples").glob("photo_*.jpg"))
    if not files:
        raise FmnistError("The bundled sample photos are missing, so the twin cannot be verified.")
    return photo_model_input([letterbox(load_image(f), input_size) for f in files])


def _verify(parent_twin: Twin, onnx_path: Path, answer, x: np.ndarray) -> dict:
    """Run both twins on `x`; `answer(features, imagenet)` is what the new model must answer."""
    names = list(parent_twin.outputs)
    parent = dict(zip(names, onnx_session(parent_twin.onnx_path).run(names, {"image": x})))
    child = dict(zip(names, onnx_session(onnx_path).run(names, {"image": x})))
    want = answer(parent[FEATURES_OUTPUT], parent.get(IMAGENET_OUTPUT))
    got = softmax(child[names[0]])
    diff = float(np.abs(got - want).max())
    same_features = bool(np.array_equal(child[FEATURES_OUTPUT], parent[FEATURES_OUTPUT]))
    ok = same_features and diff <= TOLERANCE and bool((got.argmax(1) == want.argmax(1)).all())
    return {"runtime": "onnxruntime", "n": int(len(x)), "max_abs_diff": diff, "same_features": same_features,
            "ok": ok, "tolerance": TOLERANCE, "made_from": "parent twin, head replaced"}


def derive_head_twin(source: str | os.PathLike[str], meta: CheckpointMeta, parent_twin: Twin, weight: np.ndarray,
                     bias: np.ndarray, answer) -> Twin:
    """Write and record the twin of the model file `source` (its parent's twin with head (weight,
    bias)); `answer(features, imagenet)`: the new model's probabilities on the parent twin's
    outputs (core.models.opinion_rule.head_probabilities). Raises FmnistError; a twin that does not
    verify is removed."""
    source = Path(source)
    source_sha = twins.file_sha256(source)
    onnx_path, _contract, manifest = twins.twin_files(source)
    manifest.unlink(missing_ok=True)  # no manifest may vouch for an .onnx being replaced
    try:
        atomic_write_bytes(onnx_path, _patched_bytes(parent_twin.onnx_path, weight, bias, meta))
        check = _verify(parent_twin, onnx_path, answer, _sample_inputs(meta.input_size))
    except (OSError, ValueError) as exc:
        onnx_path.unlink(missing_ok=True)
        raise FmnistError(f"The fine-tuned model's ONNX twin could not be made: {exc}") from None
    if not check["ok"]:
        onnx_path.unlink(missing_ok=True)
        raise FmnistError(f"The fine-tuned model's ONNX twin does not answer like it (max difference "
                          f"{check['max_abs_diff']:.1e}); it is made on first use instead.")
    return twins.write_manifest(source, source_sha, onnx_path, meta, parent_twin.kind, check, parent_twin.outputs)
