"""core.store.logs: logging is set up once per process; write_log uses that set-up."""

from __future__ import annotations

import logging

from fmnist_desktop.core.store import logs


def test_write_log_uses_the_configured_handler_without_setting_it_up_again(monkeypatch):
    configured = logs.configure(logs.CLI_LOG)
    calls = []
    real_configure = logs.configure
    monkeypatch.setattr(logs, "configure", lambda *a, **k: calls.append(a) or real_configure(*a, **k))

    assert logs.write_log("first traceback") == configured
    assert logs.write_log("second traceback", logs.CLI_LOG) == configured
    assert calls == []
    text = configured.read_text(encoding="utf-8")
    assert "first traceback" in text and "second traceback" in text
    handlers = [h for h in logging.getLogger(logs.PACKAGE_LOGGER).handlers if getattr(h, "_fmnist", False)]
    assert len(handlers) == 1


def test_write_log_sets_logging_up_when_nothing_did():
    where = logs.write_log("a traceback before anything configured logging")
    assert where == logs.log_path(logs.APP_LOG)
    assert "before anything configured" in where.read_text(encoding="utf-8")
