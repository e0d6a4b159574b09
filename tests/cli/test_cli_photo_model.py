"""`fmnist predict`, `evaluate-photos` and `models` with a photo model in the library (issue 20):
by default photos meet the photo model and Fashion-MNIST-style images the 28×28 network, and the
output says which model answered; `--weights FILE` still means that one model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fmnist_desktop.core.base import paths
from fmnist_desktop.core.store.library import ModelLibrary

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "photo_sneaker.jpg"
FM_SAMPLE = REPO / "resources" / "samples" / "fashion-mnist_1_Trouser.png"


def test_predict_routes_photos_to_the_photo_model_and_says_which_model_answered(run_cli, builtin_test_photo_model):
    table = run_cli("predict", PHOTO, FM_SAMPLE)
    assert table.code == 0, table.err
    rows = {Path(line.split("\t")[0]).name: line.split("\t") for line in table.out.splitlines() if "\t" in line}
    assert rows[PHOTO.name][1] == "Sneaker" and rows[PHOTO.name][4] == "photo"
    assert rows[FM_SAMPLE.name][1] == "Trouser" and rows[FM_SAMPLE.name][4] == "28×28"
    # The shipped models go by the app's names for them (issue 18), not their files' own.
    assert "Photo model – Photo model (shipped with the app) and 28×28 network" in table.out

    photo, fm = json.loads(run_cli("predict", "--json", PHOTO, FM_SAMPLE).out)
    assert photo["model"] == {"kind": "photo", "name": "Photo model (shipped with the app)"}
    assert 0 <= photo["none_probability"] < 0.1 and photo["not_sure"] is False and photo["out_of_scope"] is False
    assert fm["model"]["kind"] == "fmnist" and "none_probability" not in fm

    lines = run_cli("predict", "--jsonl", PHOTO).out.splitlines()
    assert json.loads(lines[0])["model"]["kind"] == "photo"


def test_predict_with_weights_uses_that_one_model_for_every_image(run_cli, builtin_test_photo_model):
    only_photo = json.loads(run_cli("predict", "--json", "--weights", builtin_test_photo_model, PHOTO, FM_SAMPLE).out)
    assert [r["model"]["kind"] for r in only_photo] == ["photo", "photo"]
    only_28 = json.loads(run_cli("predict", "--json", "--weights", paths.default_weights_path(), PHOTO, FM_SAMPLE).out)
    assert [r["model"]["kind"] for r in only_28] == ["fmnist", "fmnist"]


def test_predict_without_a_photo_model_still_uses_the_28x28_network(run_cli):  # no photo model: the suite's default
    result = run_cli("predict", "--json", PHOTO)
    assert result.code == 0 and json.loads(result.out)[0]["model"]["kind"] == "fmnist"


def test_evaluate_photos_routes_by_default_and_reports_which_model_answered(run_cli, builtin_test_photo_model, tmp_path):
    folder = tmp_path / "labelled"
    (folder / "7_Sneaker").mkdir(parents=True)
    (folder / "1_Trouser").mkdir()
    (folder / "none").mkdir()
    shutil.copy(PHOTO, folder / "7_Sneaker" / "shoe.jpg")
    shutil.copy(FM_SAMPLE, folder / "1_Trouser" / "fm.png")
    shutil.copy(PHOTO, folder / "none" / "not-one.jpg")  # the fixed head calls it a sure Sneaker

    result = run_cli("evaluate-photos", "--json", folder)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["shoe.jpg"]["model"] == "photo" and by_name["shoe.jpg"]["pred"] == "Sneaker"
    assert by_name["fm.png"]["model"] == "fmnist" and by_name["fm.png"]["pred"] == "Trouser"
    assert report["accuracy"] == 1.0 and report["n"] == 2 and report["n_none"] == 1
    assert report["none_flagged_rate"] == 0.0 and report["confidently_wrong_rate"] == 0.0
    assert [m["kind"] for m in report["models"]] == ["photo", "fmnist"]

    table = run_cli("evaluate-photos", folder)
    assert "Model: Photo model – Photo model (shipped with the app) and 28×28 network" in table.out
    assert "none of the ten: 1 photo, 0.0% called \"not sure\"" in table.out

    one = json.loads(run_cli("evaluate-photos", "--json", "--weights", builtin_test_photo_model, folder).out)
    assert {f["model"] for f in one["files"]} == {"photo"} and one["accuracy"] == 0.5  # the trouser called Sneaker

    refused = run_cli("evaluate-photos", "--pipeline", "notebook", "--weights", builtin_test_photo_model, folder)
    refused.assert_one_error_line("prepares photos for a 28×28 network")


def _rows(out: str) -> dict[str, list[str]]:
    """`fmnist models` rows by id: [mark, kind, ...]."""
    return {line[2:].split()[0]: [line[0]] + line[2:].split()[1:] for line in out.splitlines() if line[:2] in ("* ", "  ")}


def test_models_lists_the_kind_and_the_active_model_of_each_kind(run_cli, builtin_test_photo_model, tmp_path,
                                                                   photo_model_writer):
    second = photo_model_writer(tmp_path / "mine.pt", name="My photo model")
    imported = run_cli("models", "--import", second)
    assert imported.code == 0, imported.err
    [mine] = [e for e in ModelLibrary().entries() if e.name == "My photo model"]

    rows = _rows(run_cli("models").out)
    assert rows["default"][:2] == ["*", "28×28"] and rows["default-photo"][:2] == ["*", "photo"]
    assert rows[mine.id][:2] == [" ", "photo"]

    activated = run_cli("models", "--activate", mine.id)
    assert "Active Photo model: My photo model" in activated.out
    rows = _rows(activated.out)
    assert rows[mine.id][0] == "*" and rows["default"][0] == "*"  # the 28×28 network stays active
    assert rows["default-photo"][0] == " "
    listed = {e["id"]: e for e in json.loads(run_cli("models", "--activate", mine.id, "--json").out)}
    assert listed[mine.id]["kind"] == "photo" and listed[mine.id]["active"] and listed["default"]["active"]

    routed = json.loads(run_cli("predict", "--json", PHOTO).out)
    assert routed[0]["model"] == {"kind": "photo", "name": "My photo model"}
