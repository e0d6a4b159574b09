"""The ONNX twin of a photo model fine-tuned in its head alone, made from its parent's twin without
torch: the same graph with the head's two initializers replaced (onnx's numpy helpers).

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

import numpy as np

from ..base.errors import FmnistError
from ..base.paths import atomic_write_bytes, bundled_path
from ..store import twins
from ..store.meta import CheckpointMeta
from ..store.twins import FEATURES_OUTPUT, IMAGENET_OUTPUT, Twin
from .engines import onnx_session, photo_model_input, softmax

TOLERANCE = 1e-5


def _head_initializers(graph) -> tuple[object, object, bool]:
    """(weight initializer, bias initializer, whether the weight is stored as (outputs, features))
    of the Gemm that reads the `features` output."""
    inits = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Gemm" and node.input and node.input[0] == FEATURES_OUTPUT and len(node.input) == 3:
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            if node.input[1] in inits and node.input[2] in inits:
                return inits[node.input[1]], inits[node.input[2]], bool(trans_b)
    raise FmnistError("The parent's ONNX twin has no linear head on its features.")


def _describe(proto, meta: CheckpointMeta) -> None:
    """The file's metadata names this model and its "not sure" threshold, not its parent's."""
    import json

    from ..base.verdict import threshold_of

    for entry in proto.metadata_props:
        if entry.key == "model_name":
            entry.value = meta.name
        elif entry.key == "not_sure_threshold":
            entry.value = repr(float(threshold_of(meta)))
        elif entry.key == "fmnist_contract":
            terms = json.loads(entry.value)
            terms["not_sure_threshold"] = float(threshold_of(meta))
            terms.setdefault("model", {}).update(name=meta.name, created=meta.created)
            entry.value = json.dumps(terms, ensure_ascii=False)


def _patched_bytes(parent_onnx: Path, weight: np.ndarray, bias: np.ndarray, meta: CheckpointMeta) -> bytes:
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(parent_onnx))
    _describe(proto, meta)
    w_init, b_init, transposed = _head_initializers(proto.graph)
    w = np.asarray(weight, np.float32) if transposed else np.asarray(weight, np.float32).T
    if tuple(w_init.dims) != w.shape or tuple(b_init.dims) != np.shape(bias):
        raise FmnistError("The new head does not have the shape of the parent's.")
    w_init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w), w_init.name))
    b_init.CopyFrom(numpy_helper.from_array(np.asarray(bias, np.float32), b_init.name))
    return proto.SerializeToString()


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
