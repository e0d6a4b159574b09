"""`fmnist models` (list, activate, rename, delete, import) and `fmnist export`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.base.errors import FmnistError
from ..core.base.output_safety import printable
from .console import complain, say, weights_argument, weights_path
from .registry import EXIT_OK, command
from .routing import KIND_COLUMN
from ..core.models.arch_info import FMNIST_KIND, KIND_NAMES, PHOTO_KIND


def _models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activate", metavar="ID",
                   help="make this model the active one of its kind (photo model or 28×28 network)")
    p.add_argument("--rename", nargs=2, metavar=("ID", "NAME"), help="rename a model")
    p.add_argument("--delete", metavar="ID", help="delete a model file from the library")
    p.add_argument("--import", dest="import_file", metavar="FILE", help="copy a model file into the library")
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def _refuse_builtin(model_id: str | None, action: str) -> None:
    """The shipped models stay: the photo model's id was answered "There is no model" although
    `fmnist models` lists it."""
    from ..core.store.library import BUILTIN_PHOTO_ID, RESERVED_IDS

    if model_id in RESERVED_IDS:
        what = "photo model" if model_id == BUILTIN_PHOTO_ID else "model"
        raise FmnistError(f"The built-in {what} cannot be {action} (it ships with the app).")


@command("models", "list the model library (the active model of each kind is marked *)", _models_arguments)
def run_models(args: argparse.Namespace) -> int:
    from ..core.store.library import ModelLibrary

    for model_id, action in ((args.rename[0] if args.rename else None, "renamed"), (args.delete, "deleted")):
        _refuse_builtin(model_id, action)
    library = ModelLibrary()
    try:
        if args.import_file:
            entry = library.import_file(args.import_file)
            say(f"Imported {printable(args.import_file)} as {entry.id!r}, named {printable(entry.name)}.")
        if args.rename:
            library.rename(args.rename[0], args.rename[1])
        if args.delete:
            doomed = library.get(args.delete)
            was_active = library.active(doomed.kind).id == doomed.id
            library.delete(args.delete)
            now = ""
            if was_active:  # say what answers that kind of image from now on
                try:
                    successor = library.active(doomed.kind)
                    now = (f" The active {KIND_NAMES.get(doomed.kind, doomed.kind)} is now "
                           f"{printable(successor.name)} ({successor.id!r}).")
                except FmnistError:
                    now = f" There is no {KIND_NAMES.get(doomed.kind, doomed.kind)} left."
            say(f"Deleted {args.delete!r}.{now}")
        if args.activate:
            activated = library.set_active(args.activate)
            if not args.json:  # stdout stays one JSON document
                say(f"Active {KIND_NAMES.get(activated.kind, activated.kind)}: {printable(activated.name)} "
                    f"({activated.id!r}).")
        entries = library.entries()
        active_ids = set()  # one active model per kind: the photo model and the 28×28 network
        for kind in (PHOTO_KIND, FMNIST_KIND):
            try:
                active_ids.add(library.active(kind).id)
            except FmnistError:
                pass
    finally:
        # A damaged index set aside, vanished or unusable model files: said even when the
        # command itself then fails (an entry that pointed outside the folder, say).
        for notice in library.take_notices():
            complain("note", printable(notice))
        from .console import print_preset_notices

        print_preset_notices()
    if args.json:
        say(json.dumps([
            {"id": e.id, "name": e.name, "kind": e.kind, "path": str(e.path), "builtin": e.builtin,
             "active": e.id in active_ids,
             "preset": e.meta.preset, "test_accuracy": e.test_accuracy, "created": e.meta.created}
            for e in entries
        ], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not entries:
        say("The library is empty. Train a model with: fmnist train --preset fast")
        return EXIT_OK
    width = max(len(printable(e.id)) for e in entries)
    for e in entries:
        acc = f"{e.test_accuracy:6.2f}%" if e.test_accuracy is not None else "      —"
        mark = "*" if e.id in active_ids else " "
        say(f"{mark} {printable(e.id):<{width}}  {KIND_COLUMN.get(e.kind, e.kind):<5}  {acc}  "
            f"{printable(e.meta.preset or e.meta.arch):<9}  {printable(e.meta.created[:10]):<10}  {printable(e.name)}")
    say(f"(kind: photo = photo model, 28×28 = 28×28 network; * = the active model of its kind; models in {library.folder})")
    return EXIT_OK
