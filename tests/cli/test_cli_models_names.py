"""`fmnist models` (issue 18 item 8): models of one name are told apart, a rename to a taken name
is refused in one line, and deleting the active model says which model is active now."""

from __future__ import annotations

from fmnist_desktop.core.store.library import ModelLibrary


def test_models_names_stay_unique_and_deleting_the_active_one_says_what_is_active_now(run_cli, small_model):
    first = run_cli("models", "--import", small_model)
    second = run_cli("models", "--import", small_model)
    assert first.code == second.code == 0
    assert "named Small test model (2)." in second.out
    entries = [e for e in ModelLibrary().entries() if not e.builtin]
    assert [e.name for e in entries] == ["Small test model", "Small test model (2)"]

    refused = run_cli("models", "--rename", entries[1].id, "Small test model")
    assert refused.code != 0
    assert "fmnist: error: Another model is already called “Small test model”; choose another name." in refused.err

    assert run_cli("models", "--activate", entries[1].id).code == 0
    deleted = run_cli("models", "--delete", entries[1].id)
    assert deleted.code == 0
    now = ModelLibrary().active("fmnist")
    assert f"The active 28×28 network is now {now.name} ({now.id!r})." in deleted.out
