"""The hardening tests run their windows offscreen. Their fixtures (a small model file
`seed_model_file`, the in-process `fmnist` runner, the main-window factory) are in tests/conftest.py."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
