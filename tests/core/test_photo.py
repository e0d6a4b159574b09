"""core.photo: loading odd files safely, and each step of the photo -> Fashion-MNIST pipeline."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fmnist_desktop.core import photo
from fmnist_desktop.core.base.errors import ImageLoadError
from fmnist_desktop.core.photo import FRAME, load_image, prepare_photo

REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


def tshirt(size=(300, 400), bg=(245, 245, 240), fg=(30, 30, 60), margin=40) -> Image.Image:
    """A dark T-shirt-like shape (body + sleeves) on a plain background, taller than wide."""
    w, h = size
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    d.rectangle([w * 0.3, margin, w * 0.7, h - margin], fill=fg)  # body
    d.polygon([(w * 0.3, margin), (w * 0.08, margin + h * 0.2), (w * 0.18, margin + h * 0.3), (w * 0.3, margin + h * 0.2)], fill=fg)
    d.polygon([(w * 0.7, margin), (w * 0.92, margin + h * 0.2), (w * 0.82, margin + h * 0.3), (w * 0.7, margin + h * 0.2)], fill=fg)
    return img


def bbox(a: np.ndarray, thr: int = 0):
    rows, cols = np.flatnonzero((a > thr).any(1)), np.flatnonzero((a > thr).any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


# ---------------------------------------------------------------------------------- loading


def test_zero_byte_text_and_truncated_files_give_one_readable_line(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    jpeg = encoded(tshirt(), "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpeg[: len(jpeg) // 3])
    for path, words in ((empty, "empty"), (text, "not an image"), (cut, "truncated"),
                        (tmp_path / "missing.jpg", "does not exist"), (tmp_path, "folder")):
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        message = str(info.value)
        assert words in message and "\n" not in message and "Traceback" not in message


def test_bomb_limit_is_kept_and_reported(monkeypatch):
    data = encoded(Image.new("RGB", (100, 100), "white"), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="too large") as info:
        load_image(data)
    assert "10,000 pixels" in str(info.value) or "pixels" in str(info.value)


def test_huge_photo_is_downscaled_on_load_and_processed():
    # 10000x10000 is above Pillow's warning threshold but below its hard limit: it must load,
    # come back small (JPEG draft decoding), and go through the pipeline.
    big = Image.new("RGB", (10000, 10000), (250, 250, 250))
    ImageDraw.Draw(big).rectangle([3000, 1000, 7000, 9000], fill=(20, 20, 20))
    data = encoded(big, "JPEG", quality=70)
    del big
    img = load_image(data)
    assert max(img.size) <= photo.LOAD_MAX_SIDE
    final = np.asarray(prepare_photo(img).final)
    top, bottom, left, right = bbox(final, 20)
    assert bottom - top >= 27  # the long (vertical) edge fills the frame
    assert 10 <= right - left <= 17  # aspect 1:2 kept


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    upright = Image.new("RGB", (120, 200), "white")
    ImageDraw.Draw(upright).rectangle([10, 10, 50, 60], fill="black")  # marker top-left
    # What a camera stores for each orientation tag, given the upright scene.
    stored = {
        1: upright,
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = load_image(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert img.size == upright.size
    grey = np.asarray(img.convert("L"), dtype=np.float32)
    assert grey[10:60, 10:50].mean() < 40 and grey[-60:, -50:].mean() > 215


def test_sixteen_bit_cmyk_palette_and_grey_alpha_modes_load():
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    img16 = load_image(encoded(Image.fromarray(ramp), "PNG"))
    arr16 = np.asarray(img16.convert("L"))
    assert img16.mode == "RGB" and arr16.max() >= 250 and arr16.min() <= 5  # scaled, not clipped

    cmyk = load_image(encoded(tshirt().convert("CMYK"), "JPEG"))
    assert cmyk.mode == "RGB" and np.asarray(cmyk)[5, 5].mean() > 200  # white stays white

    pal = tshirt().convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.info["transparency"] = pal.getpixel((0, 0))
    gif = load_image(encoded(pal, "GIF", transparency=pal.getpixel((0, 0))))
    assert gif.mode == "RGBA" and np.asarray(gif)[0, 0, 3] == 0

    la = Image.new("LA", (50, 50), (128, 0))
    assert load_image(encoded(la, "PNG")).mode == "RGBA"


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    img = load_image(data)
    r, g, b = np.asarray(img)[20, 20][:3]
    assert r > 200 and b < 50


# ---------------------------------------------------------------------------------- pipeline


def test_dark_garment_on_light_background_becomes_bright_on_black_filling_the_frame():
    steps = prepare_photo(tshirt())
    final = np.asarray(steps.final)
    assert final.shape == (FRAME, FRAME) and steps.final.mode == "L"
    assert steps.inverted
    assert final[0, 0] == final[0, -1] == final[-1, 0] == final[-1, -1] == 0
    assert final[14, 14] > 150  # the dark body is bright after inversion
    top, bottom, left, right = bbox(final)
    assert (top, bottom) == (0, 28)  # long edge touches the frame, as in Fashion-MNIST
    assert abs((left + right) / 2 - 14) <= 1  # centred


def test_garment_on_dark_background_is_found_and_mask_matches_object():
    img = tshirt(bg=(40, 25, 20), fg=(150, 170, 210))
    steps = prepare_photo(img)
    mask = np.asarray(steps.mask) > 0
    truth = np.asarray(tshirt(bg=(0, 0, 0), fg=(255, 255, 255)).resize(steps.mask.size).convert("L")) > 127
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.9
    final = np.asarray(steps.final)
    assert final[0, 0] == 0 and final[14, 14] > 60


def test_busy_two_colour_background_is_removed():
    img = tshirt(fg=(20, 90, 40))
    stripes = Image.new("RGB", img.size, (200, 40, 60))
    d = ImageDraw.Draw(stripes)
    for x in range(0, img.width, 30):
        d.rectangle([x, 0, x + 14, img.height], fill=(230, 200, 120))
    mask = np.asarray(tshirt(bg=(0, 0, 0), fg=(255, 255, 255)).convert("L")) > 127
    composed = Image.composite(img, stripes, Image.fromarray((mask * 255).astype(np.uint8)))
    steps = prepare_photo(composed)
    got = np.asarray(steps.mask) > 0
    truth = np.asarray(Image.fromarray(mask).resize(steps.mask.size)) > 0
    assert (got & truth).sum() / (got | truth).sum() > 0.85


def test_transparent_png_uses_alpha_as_mask():
    rgba = Image.new("RGBA", (200, 300), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([40, 20, 160, 280], fill=(90, 60, 50, 255))
    steps = prepare_photo(load_image(encoded(rgba, "PNG")))
    assert any("transparent" in n for n in steps.notes)
    mask = np.asarray(steps.mask) > 0
    truth = np.asarray(rgba.getchannel("A").resize(steps.mask.size)) > 127
    assert (mask & truth).sum() / (mask | truth).sum() > 0.95
    final = np.asarray(steps.final)
    assert final[0, 0] == 0 and final[14, 14] > 150


def test_object_touching_the_border_is_kept_whole():
    img = Image.new("RGB", (200, 300), (240, 240, 240))
    ImageDraw.Draw(img).rectangle([70, 0, 130, 299], fill=(40, 40, 40))  # trouser leg, top to bottom
    final = np.asarray(prepare_photo(img).final)
    top, bottom, left, right = bbox(final, 30)
    assert (top, bottom) == (0, 28)
    assert 5 <= right - left <= 8  # 60/300 of 28 = 5.6: the aspect survives (soft edges add a pixel)


def test_blank_and_tiny_images_give_an_empty_frame_and_a_note():
    for img in (Image.new("RGB", (300, 200), (128, 128, 128)), Image.new("RGB", (1, 1), "white")):
        steps = prepare_photo(img)
        assert np.asarray(steps.final).max() == 0 and steps.final.size == (FRAME, FRAME)
        assert any("blank" in n for n in steps.notes)


def test_fashion_mnist_style_input_passes_through_unchanged():
    rng = np.random.default_rng(0)
    item = np.zeros((28, 28), np.uint8)
    item[2:26, 8:20] = rng.integers(90, 255, size=(24, 12))
    steps = prepare_photo(Image.fromarray(item))
    assert steps.passthrough and not steps.inverted
    assert np.array_equal(np.asarray(steps.final), item)


def _fm_test_images(n):
    if not (REAL_DATA / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("real Fashion-MNIST files not installed")
    raw = gzip.open(REAL_DATA / "t10k-images-idx3-ubyte.gz").read()
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:n]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("background", [(255, 255, 255), (200, 220, 240), (235, 200, 150)])
def test_packshot_made_from_fashion_mnist_round_trips(background):
    """Undo the dataset's recipe (upscale, invert onto a light background) and redo it: the
    pipeline must give back nearly the original 28x28 image."""
    corr = []
    for item in _fm_test_images(40):
        big = Image.fromarray(item).resize((280, 280), Image.Resampling.BICUBIC)
        a = np.asarray(big, dtype=np.float32)
        packshot = np.empty((280, 280, 3), np.float32)
        alpha = np.clip(a / 40.0, 0, 1)[..., None]  # the item's own pixels are opaque
        packshot[:] = (1 - alpha) * np.array(background, np.float32) + alpha * (255 - a)[..., None]
        photo_ = Image.new("RGB", (360, 360), background)  # a packshot has a margin around the item
        photo_.paste(Image.fromarray(packshot.clip(0, 255).astype(np.uint8)), (40, 40))
        final = np.asarray(prepare_photo(photo_).final, np.float32)
        corr.append(_best_shifted_correlation(final, item.astype(np.float32)))
    # A garment that is nearly white in the packshot (nearly black in the dataset) is partly
    # indistinguishable from the background, as it was for the dataset's own trimming.
    assert np.median(corr) > 0.93 and np.mean(np.array(corr) > 0.8) > 0.9


def _best_shifted_correlation(a, b):
    """Correlation allowing a one-pixel misalignment (resampling twice moves edges by < 1 px)."""
    best = -1.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            shifted = np.roll(np.roll(a, dy, 0), dx, 1)
            best = max(best, float(np.corrcoef(shifted.ravel(), b.ravel())[0, 1]))
    return best


def confetti_scene():
    """A white T-shirt on confetti of 40 colours (no handful of colours describes the border)."""
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, size=(40, 3))
    blocks = palette[rng.integers(0, 40, size=(20, 15))].astype(np.uint8)
    confetti = Image.fromarray(blocks).resize((300, 400), Image.Resampling.NEAREST)
    shape = np.asarray(tshirt(bg=(0, 0, 0), fg=(255, 255, 255)).convert("L")) > 127
    composed = Image.composite(tshirt(fg=(250, 250, 250)), confetti, Image.fromarray((shape * 255).astype(np.uint8)))
    return composed, shape


def test_very_busy_background_is_removed():
    composed, shape = confetti_scene()
    steps = prepare_photo(composed)
    got = np.asarray(steps.mask) > 0
    truth = np.asarray(Image.fromarray(shape).resize(steps.mask.size)) > 0
    assert (got & truth).sum() / (got | truth).sum() > 0.7


def striped_scene():
    """A green T-shirt on a red/yellow striped bedspread."""
    img = tshirt(fg=(20, 90, 40))
    stripes = Image.new("RGB", img.size, (200, 40, 60))
    d = ImageDraw.Draw(stripes)
    for x in range(0, img.width, 30):
        d.rectangle([x, 0, x + 14, img.height], fill=(230, 200, 120))
    shape = np.asarray(tshirt(bg=(0, 0, 0), fg=(255, 255, 255)).convert("L")) > 127
    return Image.composite(img, stripes, Image.fromarray((shape * 255).astype(np.uint8))), shape


def test_rectangle_fallback_segments_from_the_centre_and_implausible_masks_are_recognised():
    composed, shape = striped_scene()
    work = np.asarray(composed.resize((120, 160)), dtype=np.float32)
    got = photo.clean_mask(photo.rectangle_mask(work, photo.estimate_background(work)))
    truth = np.asarray(Image.fromarray(shape).resize((120, 160))) > 0
    start = np.zeros_like(truth)
    start[19:141, 14:106] = True  # the centred rectangle it starts from (12% inset)

    def iou(m):
        return (m & truth).sum() / (m | truth).sum()

    assert photo.mask_is_plausible(got) and iou(got) > 0.85 and iou(got) > iou(start) + 0.2
    everything = np.ones((160, 120), bool)
    frame_only = ~np.pad(np.ones((140, 100), bool), 10)
    assert not photo.mask_is_plausible(everything) and not photo.mask_is_plausible(frame_only)


def test_faint_object_keeps_its_grey_level_unless_contrast_stretch_is_asked_for():
    # A light-grey garment on white is faint after inversion, as in Fashion-MNIST.
    img = tshirt(fg=(190, 190, 190))
    plain = np.asarray(prepare_photo(img).final, dtype=np.float32)
    stretched = np.asarray(prepare_photo(img, stretch_contrast=True).final, dtype=np.float32)
    assert 40 <= plain[14, 14] <= 90  # 255 - 190 = 65
    assert stretched[14, 14] > 1.5 * plain[14, 14]
    assert np.percentile(stretched[stretched > 0], 95) == pytest.approx(photo.TARGET_FOREGROUND_P95, abs=12)


# ------------------------------------------------------------ GrabCut on busy backgrounds


def garment_on(background: np.ndarray, garment_rgb, seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """The T-shirt shape in `garment_rgb` over a (400, 300, 3) background, both with a little
    sensor noise; returns the photo and the true object mask."""
    noise = np.random.default_rng(seed)
    shape = np.asarray(tshirt(bg=(0, 0, 0), fg=(255, 255, 255)).convert("L")) > 127
    garment = np.array(garment_rgb, np.float32) + noise.normal(0, 4, background.shape)
    scene = np.where(shape[..., None], garment, background + noise.normal(0, 4, background.shape))
    return Image.fromarray(scene.clip(0, 255).astype(np.uint8)), shape


def stripes(colours, period: int) -> np.ndarray:
    """Vertical stripes, `period` px each, cycling through `colours` (a bedspread or a rug)."""
    cols = (np.arange(300) // period) % len(colours)
    return np.broadcast_to(np.array(colours, np.float32)[cols][None], (400, 300, 3)).copy()


def mask_iou_with(steps, shape) -> float:
    got = np.asarray(steps.mask) > 0
    truth = np.asarray(Image.fromarray(shape).resize(steps.mask.size)) > 0
    return float((got & truth).sum() / (got | truth).sum())


BUSY_STRIPES = stripes([(220, 60, 60), (240, 240, 240), (60, 60, 200), (240, 200, 40), (30, 30, 30)], 6)
GREY_STRIPES = stripes([(200, 200, 200), (120, 120, 120)], 12)


@pytest.mark.parametrize("background, garment", [
    (BUSY_STRIPES, (90, 140, 90)),  # thin stripes in five colours: no colour describes the border
    (GREY_STRIPES, (150, 150, 160)),  # a grey garment between the bedspread's two greys
], ids=["busy-stripes", "close-to-background-colour"])
def test_grabcut_finds_the_garment_where_the_colour_mask_alone_fails(monkeypatch, background, garment):
    pytest.importorskip("cv2")
    scenes = [garment_on(background, garment, seed) for seed in range(3)]
    with_grabcut = [prepare_photo(img) for img, _ in scenes]
    assert any("GrabCut" in n for steps in with_grabcut for n in steps.notes)
    again = prepare_photo(scenes[0][0])
    assert np.array_equal(np.asarray(again.final), np.asarray(with_grabcut[0].final))  # deterministic

    # Without OpenCV (not installed, or a broken build) the pipeline still answers, with the
    # colour mask alone, as it did before GrabCut: much worse on these scenes.
    monkeypatch.setitem(sys.modules, "cv2", None)
    assert photo.grabcut(np.zeros((40, 30, 3), np.float32)) is None
    colour_only = [prepare_photo(img) for img, _ in scenes]
    assert not any("GrabCut" in n for steps in colour_only for n in steps.notes)

    new = np.array([mask_iou_with(steps, shape) for steps, (_, shape) in zip(with_grabcut, scenes)])
    old = np.array([mask_iou_with(steps, shape) for steps, (_, shape) in zip(colour_only, scenes)])
    assert (new >= old - 0.02).all() and new.mean() >= old.mean() + 0.15 and new.max() > 0.9


def test_grabcut_does_not_swallow_high_contrast_stripes_next_to_a_light_garment():
    # A light garment on wide red/white stripes: the colour mask is right, and GrabCut's
    # smoothness must not merge the white stripes touching the sleeves into the garment.
    pytest.importorskip("cv2")
    img, shape = garment_on(stripes([(180, 70, 80), (230, 230, 225)], 30), (215, 210, 200))
    assert mask_iou_with(prepare_photo(img), shape) > 0.9


def test_plain_background_never_runs_grabcut(monkeypatch):
    # A studio backdrop is separated exactly by colour; GrabCut would only round off thin parts.
    def refuse(*args, **kwargs):
        raise AssertionError("GrabCut ran on a plain background")

    monkeypatch.setattr(photo.segmentation, "grabcut", refuse)  # segment_object calls it there
    steps = prepare_photo(tshirt())
    assert steps.inverted and not any("GrabCut" in n for n in steps.notes)


def test_grabcut_trimap_seeds():
    img, shape = striped_scene()  # a green T-shirt on red/yellow stripes
    work = np.asarray(img.resize((120, 160)), dtype=np.float32)
    bg = photo.estimate_background(work)
    mask = np.asarray(Image.fromarray(shape).resize((120, 160))) > 0
    mask[0:20, 50:70] = True  # a hanger: the object touches the top edge
    trimap = photo.grabcut_trimap(work, bg, mask)
    assert trimap.dtype == np.uint8 and trimap.shape == mask.shape
    assert set(np.unique(trimap[mask])) <= {photo.GC_FGD, photo.GC_PR_FGD}  # the mask is never certain background
    assert (trimap[mask] == photo.GC_FGD).any()  # its core far from the border colours is certain object
    assert (trimap[:4][~mask[:4]] == photo.GC_BGD).all() and (trimap[-4:] == photo.GC_BGD).all()
    assert (trimap[0, 50:70] != photo.GC_BGD).all()  # where the object touches the frame it stays object
    assert photo.is_plain_background(photo.estimate_background(np.asarray(tshirt(), np.float32)))
    assert not photo.is_plain_background(bg)


def test_opencv_is_not_imported_at_start_up_and_its_fallbacks_give_the_same_image():
    # The window must open before heavy imports: importing the photo and predict modules never
    # loads OpenCV; the first photo does (mask cleaning uses it). Without OpenCV the numpy/Pillow
    # fallbacks give the very same 28x28 image on a plain packshot.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from PIL import Image, ImageDraw\n"
        "from fmnist_desktop.core import photo, predict\n"
        "print('cv2' in sys.modules)\n"
        "img = Image.new('RGB', (200, 300), (245, 245, 240))\n"
        "ImageDraw.Draw(img).rectangle([60, 40, 140, 260], fill=(30, 30, 60))\n"
        "ImageDraw.Draw(img).ellipse([90, 100, 110, 120], fill=(245, 245, 240))\n"
        "with_cv2 = np.asarray(photo.prepare_photo(img).final)\n"
        "print('cv2' in sys.modules)\n"
        "sys.modules['cv2'] = None\n"
        "without = np.asarray(photo.prepare_photo(img).final)\n"
        "print(bool(np.array_equal(with_cv2, without)), int(with_cv2.max()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    at_import, after_photo, same = out.stdout.split("\n")[:3]
    assert at_import == "False" and after_photo == "True"
    assert same.split()[0] == "True" and int(same.split()[1]) > 100
