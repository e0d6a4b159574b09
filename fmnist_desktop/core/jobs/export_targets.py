"""Where an export may go and how it is written: refusing unusable targets, the verified write
through a temporary copy, the file's mode, and what an exported file must not carry (the paths of
the machine that exported it).

Used by the 28×28 network's export (core.jobs.export) and the photo model's (core.jobs.photo_export).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from .export_formats import SUFFIXES, ExportError, ExportResult


def _write_verified(out: Path, fmt: str, blob: bytes, terms: dict[str, Any], verify, previous_mode, t0: float
                    ) -> "ExportResult":
    """Verify the export from a temporary copy first, so a bad export never replaces a good file;
    then write it and its contract, both or neither (`_write_pair`). The copy is created new
    (O_EXCL) under a short name of its own: a planted symlink is never followed, and a long
    output name leaves room."""
    tmp = None
    try:
        tmp = _new_temp_file(out.parent, blob, SUFFIXES[fmt])
        check = verify(tmp)
    except OSError as exc:
        raise ExportError(f"Cannot write {out}: {exc.strerror or exc}.") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    if not check.ok:
        raise ExportError(
            f"The exported {fmt} model does not answer like the original ({check.line()}); nothing was written.",
            "Report this with the model file.",
        )
    contract_path = out.with_name(out.name + ".json")
    terms["verification"] = check.to_dict()
    _write_pair(out, blob, contract_path, json.dumps(terms, indent=2, ensure_ascii=False).encode("utf-8"))
    share_like_other_files(out, previous_mode)
    share_like_other_files(contract_path)
    return ExportResult(out, fmt, len(blob), contract_path, check, time.perf_counter() - t0)


def _write_pair(out: Path, blob: bytes, contract_path: Path, contract: bytes) -> None:
    """Write an export and its contract so that both are new or both are as before: each is
    staged as a temporary file beside its target first, the contract is moved into place, then
    the export; if the export cannot be, the previous contract is put back. (The export used to
    be written even when its contract then could not be, while saying the previous file was
    unchanged.)"""
    staged: list[Path] = []
    backup = None
    try:
        try:
            staged = [_new_temp_file(out.parent, contract, ".json"), _new_temp_file(out.parent, blob, out.suffix)]
            backup = _keep_previous(contract_path)
            os.replace(staged[0], contract_path)
        except OSError as exc:
            raise ExportError(f"Cannot write {contract_path}: {exc.strerror or exc}. Nothing was written; "
                              "previous files, if any, are unchanged.") from None
        try:
            os.replace(staged[1], out)
        except OSError as exc:
            _put_back(contract_path, backup)
            raise ExportError(f"Cannot write {out}: {exc.strerror or exc}. Nothing was written; "
                              "previous files, if any, are unchanged.") from None
    finally:
        for path in staged + ([backup] if backup is not None else []):
            path.unlink(missing_ok=True)


def _keep_previous(path: Path) -> Path | None:
    """A hard link to the file at `path` (to put it back), or None when there is none."""
    if not path.is_file():
        return None
    fd, name = tempfile.mkstemp(prefix=".fmnist-previous-", dir=path.parent)
    os.close(fd)
    backup = Path(name)
    backup.unlink()
    os.link(path, backup)
    return backup


def _put_back(path: Path, backup: Path | None) -> None:
    try:
        if backup is None:
            path.unlink(missing_ok=True)
        else:
            os.replace(backup, path)
    except OSError:  # best effort: the export's own error is what the user needs to hear
        pass


# ---------------------------------------------------------------------------------------------
# Where an export may go, and what it must not carry (issue 17, hostile items 10-13)


def check_export_target(out: str | os.PathLike[str], contract: bool = False) -> int | None:
    """Refuse an output that is not a regular file (`/dev/null`, a FIFO, a socket: they were
    replaced by regular files), a read-only file (it was silently replaced), or a name too long
    for the file system; with `contract`, the same for its `<name>.json`. Returns the mode of the
    file being replaced (None when there is none), so the export keeps it."""
    out = Path(out)
    modes = [_check_one_target(path) for path in ((out, out.with_name(out.name + ".json")) if contract else (out,))]
    return modes[0]


def _check_one_target(out: Path) -> int | None:
    from ..base.paths import name_too_long

    try:
        info = os.stat(out)
    except FileNotFoundError:
        info = None
    except OSError as exc:  # ENAMETOOLONG among them
        raise ExportError(f"Cannot write {out.name[:40] + '…' if len(out.name) > 40 else out}: "
                          f"{exc.strerror or exc}.") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ExportError(f"{out} is a folder; give a file name to write.")
        if not stat.S_ISREG(info.st_mode):
            what = ("a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a pipe" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode)
                    else "not a regular file")
            raise ExportError(f"{out} is {what}, not a file; an export is written only to a new or ordinary file.")
        if not os.access(out, os.W_OK) or not info.st_mode & 0o222:  # root may write anyway; it still asks
            raise ExportError(f"{out} is read-only; it was left as it is.",
                              "Choose another name, or make the file writable first if it should be replaced.")
    reason = name_too_long(out)
    if reason:
        raise ExportError(f"Cannot write {out.name[:40]}…: {reason}." if len(out.name) > 40
                          else f"Cannot write {out}: {reason}.")
    return stat.S_IMODE(info.st_mode) if info is not None else None


def share_like_other_files(path: str | os.PathLike[str], mode: int | None = None) -> None:
    """Give a written export the mode of the file it replaced, or else the one a new file gets
    (0666 less the umask): the atomic write's temporary file is 0600, which other users and
    programs could not read."""
    if mode is None:
        from ..base.paths import new_file_mode

        mode = new_file_mode()
    try:
        os.chmod(path, mode)
    except OSError:  # a file system without modes (FAT, some network shares): nothing to keep
        pass


def _new_temp_file(folder: Path, data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=".fmnist-verify-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before it replaces anything
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


_MACHINE_KEYS = ("pkg.torch.onnx.stack_trace",)  # file:line of the exporting machine, home folder included


def _strip_machine_paths(proto) -> None:
    """Remove the exporter's stack traces (absolute paths of this machine) from every node."""
    def clean(graph) -> None:
        for node in graph.node:
            node.doc_string = ""
            keep = [(e.key, e.value) for e in node.metadata_props if e.key not in _MACHINE_KEYS]
            del node.metadata_props[:]
            for key, value in keep:
                entry = node.metadata_props.add()
                entry.key, entry.value = key, value
            for attr in node.attribute:
                if attr.HasField("g"):
                    clean(attr.g)
                for sub in attr.graphs:
                    clean(sub)

    clean(proto.graph)
    for function in proto.functions:
        clean(function)


def _without_debug_files(blob: bytes) -> bytes:
    """A TorchScript archive without its `*.debug_pkl` entries: they map the code to the source
    files it was traced from, by absolute path. `torch.jit.load` does not need them."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(blob))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".debug_pkl"):
                dst.writestr(info, src.read(info.filename))
    return buf.getvalue()


def torchscript_file_bytes(model, example, terms: dict[str, Any]) -> bytes:
    """`model` traced on `example` as a TorchScript archive carrying the contract `terms` as the
    extra file `fmnist.json`, without the debug entries that name this machine's paths. The same
    for both kinds of model; an exporter failure becomes one readable ExportError."""
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated upstream but still the TorchScript format
            traced = torch.jit.trace(model, example, check_trace=False)
            torch.jit.save(traced, buf, _extra_files={"fmnist.json": json.dumps(terms, ensure_ascii=False)})
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"TorchScript export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    return _without_debug_files(buf.getvalue())


def onnx_file_bytes(model, example, output_name: str | list[str], max_batch: int, doc_string: str,
                    props: dict[str, str]) -> bytes:
    """torch's ONNX exporter on `model` (batch dimension dynamic up to `max_batch`), with our
    producer name, description and metadata, without this machine's paths, checked by onnx.
    Both kinds of model export through here; each says what goes into its metadata.
    `output_name`: one name, or a name per output of a model that returns a tuple."""
    output_names = [output_name] if isinstance(output_name, str) else list(output_name)
    import warnings

    import torch

    from .export_formats import INPUT_NAME, ONNX_HINT, OPSET

    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's ONNX exporter is built on it)
    except ImportError as exc:
        raise ExportError("Exporting to ONNX needs the onnx and onnxscript packages, which are not installed.", ONNX_HINT) from exc
    with tempfile.TemporaryDirectory(prefix="fmnist-onnx-") as folder:
        path = Path(folder) / "model.onnx"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    model, (example,), str(path), input_names=[INPUT_NAME], output_names=output_names,
                    opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                    dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=max_batch)},),
                )
        except Exception as exc:  # noqa: BLE001 — the exporter's errors are long; one line for the user
            raise ExportError(f"The ONNX exporter failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        proto = onnx.load(str(path))
    proto.producer_name = "fmnist-desktop"
    proto.doc_string = doc_string
    del proto.metadata_props[:]
    for key, value in {**props, "opset": str(OPSET)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    _strip_machine_paths(proto)  # no absolute paths of this machine in a file given to others
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
