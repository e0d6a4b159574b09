"""A JPEG whose header holds hundreds of EXIF segments, opened on the Predict page (issue 12,
hostile item 4). Pillow joined them with `bytes +=` while holding the GIL: 2,000 segments took
121 s and the window froze (its timers starved, Stop did nothing). Now the header is walked
first and the file refused at once; the GUI thread's timer never stalls."""

from __future__ import annotations

import io
import struct
import time

import pytest
from PIL import Image
from PySide6.QtCore import QTimer

pytestmark = pytest.mark.timeout(180)


def _jpeg_with_exif_segments(count: int, payload_bytes: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(out, "JPEG")
    jpeg = out.getvalue()
    body = b"Exif\x00\x00" + b"\x00" * (payload_bytes - 6)
    return jpeg[:2] + (b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body) * count + jpeg[2:]


def test_an_exif_bomb_is_refused_at_once_and_the_window_stays_responsive(window_with_model, qtbot, tmp_path):
    path = tmp_path / "exif.jpg"
    path.write_bytes(_jpeg_with_exif_segments(600, 60_000))  # 36 MB: ~10 s in Pillow before the fix
    page = window_with_model.pages["predict"]
    window_with_model.show_page("predict")
    # The models' ONNX twins are made first, so that this test times the bomb alone (making a
    # twin runs in a child process: tests/core/test_twin_process.py times that).
    from fmnist_desktop.core.jobs.twins import ensure_twin

    for entry in window_with_model.context.active_entries():
        ensure_twin(entry.path)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    started = time.perf_counter()
    try:
        with qtbot.waitSignal(page.predictionShown, timeout=60_000):
            page.predict_paths([str(path)])
        qtbot.wait(50)
    finally:
        timer.stop()
    assert time.perf_counter() - started < 5.0
    assert "more than 16 EXIF segments" in page.single.guess_label.text()  # shown once, in the view
    assert max(gaps) < 1.0, f"the GUI thread stalled for {max(gaps):.1f} s"
