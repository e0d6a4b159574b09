"""Issue 18 item 8 (core parts): saved files get the user's umask, library names are unique, and
the shipped models have one name in the app and the Local API."""

from __future__ import annotations

import os
import stat

import pytest

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.base.errors import FmnistError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_every_atomic_save_gives_a_new_file_the_users_umask_and_keeps_an_old_files_mode(tmp_path):
    fresh = tmp_path / "predictions.csv"
    paths.atomic_write_text(fresh, "a,b\n")
    assert _mode(fresh) == 0o666 & ~_umask()  # not mkstemp's 0600
    kept = tmp_path / "kept.csv"
    kept.write_text("old")
    kept.chmod(0o640)
    paths.atomic_write_text(kept, "new")
    assert kept.read_text() == "new" and _mode(kept) == 0o640


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_the_librarys_model_files_are_readable_by_others_too(tmp_path, small_model):
    from fmnist_desktop.core.store.library import ModelLibrary

    entry = ModelLibrary(tmp_path / "lib").import_file(small_model)
    assert _mode(entry.path) == 0o666 & ~_umask()


def test_models_of_one_name_get_numbered_and_a_rename_to_a_taken_name_is_refused(tmp_path, small_model):
    from fmnist_desktop.core.store.library import ModelLibrary

    library = ModelLibrary(tmp_path / "lib")
    first = library.import_file(small_model)
    second = library.import_file(small_model)
    third = library.import_file(small_model, name="Small test model")
    assert [first.name, second.name, third.name] == ["Small test model", "Small test model (2)", "Small test model (3)"]
    assert [e.name for e in ModelLibrary(tmp_path / "lib").entries() if not e.builtin] == [
        "Small test model", "Small test model (2)", "Small test model (3)"]
    with pytest.raises(FmnistError, match="already called “Small test model”"):
        library.rename(second.id, "small TEST model")
    builtin = library.builtin()
    if builtin is not None:
        with pytest.raises(FmnistError, match="already called"):
            library.rename(second.id, builtin.name)
    assert library.rename(second.id, "Small test model (2)").name == "Small test model (2)"  # its own name
    assert library.rename(second.id, "Sunday shirts").name == "Sunday shirts"


def test_the_shipped_models_have_the_apps_name_in_the_api_too(shipped_photo_model):
    """The app lists "Default model (shipped with the app)"; the API said the file's own name
    ("Fashion-MNIST + real photos")."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from fmnist_desktop.core.store.library import ModelLibrary
    from fmnist_desktop.serve.app import ServeSettings
    from fmnist_desktop.serve.server import load_app

    library = ModelLibrary()
    net, photo = library.builtin("fmnist"), library.builtin("photo")
    if net is None:
        pytest.skip("no weights/default.pt in this checkout")
    app, predictor = load_app([photo.path, net.path], ServeSettings(threads=1))
    with TestClient(app) as client:
        assert client.get("/model").json()["name"] == photo.name
        assert client.get("/health").json()["model"] == photo.name
    assert sorted(slot.meta.name for slot in predictor.slots.values()) == sorted([photo.name, net.name])
