"""A password in a `fmnist tune --storage` URL never reaches a message or a log (issue 27 item 11),
even in URLs no parser accepts (a bad port, an unclosed "[::1"); the documented postgresql://
form uses the driver the [tune] extra installs."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

SECRET = "S3cretPW"


@pytest.mark.parametrize("url", [
    f"postgresql://me:{SECRET}@127.0.0.1:abc/tune",
    f"postgresql://me:{SECRET}@[::1/tune",
    f"postgresql:/me:{SECRET}@127.0.0.1/tune",  # not a URL at all: refused, still masked
])
def test_storage_passwords_are_masked_in_the_error_line_and_the_log(run_cli, tiny_idx_dir, url):
    from fmnist_desktop.core.store import logs

    result = run_cli("tune", "--storage", url, "--trials", "1", "--data", tiny_idx_dir, "--val-size", "100")
    line = result.assert_one_error_line("me:***@")
    assert SECRET not in result.out + result.err, line
    log = logs.log_path(logs.CLI_LOG)
    assert not log.exists() or SECRET not in log.read_text(encoding="utf-8")


def test_log_lines_and_tracebacks_mask_storage_passwords():
    from fmnist_desktop.core.store import logs

    path = logs.write_log(f"Traceback …\nValueError: bad URL 'postgresql+psycopg2://me:{SECRET}@db:x/tune'")
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text and "postgresql+psycopg2://me:***@db:x/tune" in text


def test_mask_passwords_keeps_what_is_not_a_password():
    from fmnist_desktop.core.base.url_secrets import mask_passwords

    assert mask_passwords("sqlite:////home/me/studies.db") == "sqlite:////home/me/studies.db"
    assert mask_passwords("postgresql://me@db/tune") == "postgresql://me@db/tune"
    assert mask_passwords("mysql://u:p@ss@db/x and more") == "mysql://u:***@db/x and more"


def test_the_documented_postgresql_form_uses_the_installed_driver(monkeypatch):
    import importlib.util

    from fmnist_desktop.core.jobs.study_storage import with_installed_driver

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    if real("psycopg2") is None:
        pytest.skip("psycopg2 (the [tune] extra's driver) is not installed")
    assert with_installed_driver("postgresql://me:pw@db/tune") == "postgresql+psycopg2://me:pw@db/tune"
    assert with_installed_driver("postgresql+psycopg://me:pw@db/tune") == "postgresql+psycopg://me:pw@db/tune"
    assert with_installed_driver("sqlite:///x.db") == "sqlite:///x.db"
