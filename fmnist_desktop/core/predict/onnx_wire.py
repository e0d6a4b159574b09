"""Replacing a photo twin's head and metadata in the ONNX file's bytes, without the `onnx` package.

The lite edition has neither torch nor `onnx` (requirements-lite.txt), yet a head fine-tune's twin
is its parent's with two initializers and a few metadata values changed (core.predict.head_twin).
An .onnx file is a protobuf `ModelProto`; this reads just enough of protobuf's wire format to find
the `Gemm` that reads the `features` output, and to write the message again with that node's
weight and bias (`TensorProto.raw_data`, float32 little-endian) and the named metadata values
replaced. Every other field is copied byte for byte. The result is verified by onnxruntime before
it is recorded (head_twin), like every twin.

Field numbers are onnx.proto's: ModelProto graph=7, metadata_props=14; GraphProto node=1,
initializer=5; NodeProto input=1, op_type=4, attribute=5; AttributeProto name=1, i=3;
TensorProto dims=1, data_type=2, float_data=4, name=8, raw_data=9; StringStringEntryProto key=1,
value=2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..base.errors import FmnistError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
FLOAT = 1  # TensorProto.DataType.FLOAT


@dataclass(frozen=True)
class Field:
    number: int
    wire: int
    value: int | bytes  # a varint's value, else the field's payload
    raw: bytes  # the whole field (tag included), copied as it is when it is not replaced


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise FmnistError("The ONNX file is damaged (a truncated number).")
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def fields(buf: bytes) -> list[Field]:
    """The message's fields, in order; FmnistError for bytes that are not a protobuf message."""
    out, pos = [], 0
    while pos < len(buf):
        start = pos
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire == LENGTH:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            value, pos = buf[pos:pos + width], pos + width
        else:
            raise FmnistError("The ONNX file is damaged (an unknown field type).")
        if pos > len(buf):
            raise FmnistError("The ONNX file is damaged (a truncated field).")
        out.append(Field(number, wire, value, buf[start:pos]))
    return out


def length_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | LENGTH) + _encode_varint(len(payload)) + payload


def _strings(message: list[Field], number: int) -> list[str]:
    return [f.value.decode("utf-8") for f in message if f.number == number and f.wire == LENGTH]


def _head_names(graph: list[Field], features: str) -> tuple[str, str, bool]:
    """(weight, bias, whether the weight is stored as (outputs, inputs)) of the Gemm on `features`."""
    for node in (fields(f.value) for f in graph if f.number == 1 and f.wire == LENGTH):
        inputs = _strings(node, 1)
        if _strings(node, 4) == ["Gemm"] and len(inputs) == 3 and inputs[0] == features:
            trans_b = 0
            for attribute in (fields(f.value) for f in node if f.number == 5 and f.wire == LENGTH):
                if _strings(attribute, 1) == ["transB"]:
                    trans_b = next((f.value for f in attribute if f.number == 3 and f.wire == VARINT), 0)
            return inputs[1], inputs[2], bool(trans_b)
    raise FmnistError("The parent's ONNX twin has no linear head on its features.")


def _dims(tensor: list[Field]) -> tuple[int, ...]:
    dims: list[int] = []
    for f in tensor:
        if f.number == 1 and f.wire == VARINT:
            dims.append(f.value)
        elif f.number == 1 and f.wire == LENGTH:  # packed
            pos = 0
            while pos < len(f.value):
                value, pos = _varint(f.value, pos)
                dims.append(value)
    return tuple(dims)


def _with_data(tensor: list[Field], array: np.ndarray) -> bytes:
    """The tensor with `array` as its raw_data (its dims and float type checked, its other fields kept)."""
    data_type = next((f.value for f in tensor if f.number == 2 and f.wire == VARINT), None)
    if data_type != FLOAT or _dims(tensor) != array.shape:
        raise FmnistError("The new head does not have the shape of the parent's.")
    kept = b"".join(f.raw for f in tensor if f.number not in (4, 9))  # float_data or raw_data: replaced
    return kept + length_field(9, np.ascontiguousarray(array, "<f4").tobytes())


def replace_head(model_bytes: bytes, features: str, weight: np.ndarray, bias: np.ndarray,
                 metadata: Callable[[str, str], str]) -> bytes:
    """`model_bytes` with the head on `features` replaced by (weight (outputs, inputs), bias) and
    each metadata value `v` of key `k` replaced by `metadata(k, v)`. Raises FmnistError."""
    model = fields(model_bytes)
    graph_fields = [f for f in model if f.number == 7 and f.wire == LENGTH]
    if len(graph_fields) != 1:
        raise FmnistError("The parent's ONNX twin has no graph.")
    graph = fields(graph_fields[0].value)
    w_name, b_name, transposed = _head_names(graph, features)
    w = np.asarray(weight, np.float32)
    new = {w_name: w if transposed else w.T, b_name: np.asarray(bias, np.float32)}
    graph_out, replaced = [], set()
    for f in graph:
        if f.number == 5 and f.wire == LENGTH:
            tensor = fields(f.value)
            name = (_strings(tensor, 8) or [""])[0]
            if name in new:
                graph_out.append(length_field(5, _with_data(tensor, new[name])))
                replaced.add(name)
                continue
        graph_out.append(f.raw)
    if replaced != set(new):
        raise FmnistError("The parent's ONNX twin keeps its head's weights outside its graph.")
    model_out = []
    for f in model:
        if f.number == 7 and f.wire == LENGTH:
            model_out.append(length_field(7, b"".join(graph_out)))
        elif f.number == 14 and f.wire == LENGTH:
            entry = fields(f.value)
            key, value = (_strings(entry, 1) or [""])[0], (_strings(entry, 2) or [""])[0]
            model_out.append(length_field(14, length_field(1, key.encode("utf-8"))
                                          + length_field(2, metadata(key, value).encode("utf-8"))))
        else:
            model_out.append(f.raw)
    return b"".join(model_out)
