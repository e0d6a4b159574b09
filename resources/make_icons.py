"""Draw the app icon: a light T-shirt on a dark rounded square, as Fashion-MNIST shows clothes.

Run from the repository root (`python resources/make_icons.py`); it rewrites resources/icons/:
PNGs at 16–512 px, a multi-size .ico (Windows) and an .icns (macOS). Every size is drawn at 4×
and downsampled with Lanczos, so the edges stay smooth; the small sizes use a thicker silhouette
with fewer details so the shirt still reads at 16 px.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ICON_DIR = Path(__file__).resolve().parent / "icons"
NAME = "fmnist-desktop"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SUPERSAMPLE = 4

BACKGROUND_TOP = (44, 62, 80)  # slate blue, fading to near-black like a Fashion-MNIST frame
BACKGROUND_BOTTOM = (16, 22, 30)
SHIRT = (243, 244, 246)
SHIRT_SHADE = (196, 204, 214)
COLLAR = (150, 160, 174)

# The T-shirt outline on a 1×1 canvas, clockwise from the left side of the neck. The collar is a
# half-ellipse added between the two neck points.
_LEFT_NECK = (0.385, 0.215)
_RIGHT_NECK = (0.615, 0.215)
_BODY = [
    (0.800, 0.285),  # right shoulder, top of the sleeve
    (0.905, 0.470),  # sleeve, outer bottom corner
    (0.775, 0.530),  # sleeve, inner bottom corner
    (0.715, 0.455),  # armpit
    (0.720, 0.830),  # hem, right
    (0.280, 0.830),  # hem, left
    (0.285, 0.455),
    (0.225, 0.530),
    (0.095, 0.470),
    (0.200, 0.285),
]


def _collar(depth: float, steps: int = 24) -> list[tuple[float, float]]:
    """Points of the neckline dipping `depth` below the neck points, left to right."""
    import math

    (x0, y0), (x1, _) = _LEFT_NECK, _RIGHT_NECK
    cx, rx = (x0 + x1) / 2, (x1 - x0) / 2
    return [(cx - rx * math.cos(math.pi * i / steps), y0 + depth * math.sin(math.pi * i / steps)) for i in range(steps + 1)]


def _scaled(points, size: int, inset: float = 0.0) -> list[tuple[float, float]]:
    # `inset` shrinks the drawing towards the centre; small icons use a little less margin.
    return [((0.5 + (x - 0.5) * (1 - inset)) * size, (0.5 + (y - 0.5) * (1 - inset)) * size) for x, y in points]


def draw_icon(size: int) -> Image.Image:
    big = size * SUPERSAMPLE
    small = size <= 32

    # Rounded square with a vertical gradient.
    gradient = Image.new("RGB", (1, big))
    for y in range(big):
        t = y / max(big - 1, 1)
        gradient.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(BACKGROUND_TOP, BACKGROUND_BOTTOM)))
    gradient = gradient.resize((big, big))
    mask = Image.new("L", (big, big), 0)
    margin = 0 if small else round(big * 0.04)
    ImageDraw.Draw(mask).rounded_rectangle(
        (margin, margin, big - 1 - margin, big - 1 - margin), radius=round(big * 0.2), fill=255
    )
    icon = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    icon.paste(gradient, (0, 0), mask)

    # The shirt; at small sizes it fills more of the square and drops the shading.
    inset = -0.12 if small else 0.0
    # At 16–32 px a curved neckline is a pixel or two; a shallow notch keeps the shape readable.
    neckline = [_LEFT_NECK, (0.5, 0.29), _RIGHT_NECK] if small else _collar(0.075)
    outline = _scaled(neckline + _BODY, big, inset)

    if not small:
        shadow = Image.new("L", (big, big), 0)
        ImageDraw.Draw(shadow).polygon([(x, y + big * 0.02) for x, y in outline], fill=110)
        shadow = shadow.filter(ImageFilter.GaussianBlur(big * 0.02))
        icon.paste((0, 0, 0), (0, 0), Image.composite(shadow, Image.new("L", (big, big), 0), mask))

    draw = ImageDraw.Draw(icon)
    draw.polygon(outline, fill=SHIRT)
    if not small:
        # Sleeve seams and a collar band give the shirt some form at large sizes.
        seam_w = max(1, round(big * 0.012))
        for side in (-1, 1):
            x_arm = 0.5 + side * 0.215
            seam = _scaled([(0.5 + side * 0.115, 0.215), (x_arm, 0.455)], big)
            draw.line(seam, fill=SHIRT_SHADE, width=seam_w)
        collar = _scaled(_collar(0.075), big)
        draw.line(collar, fill=COLLAR, width=max(1, round(big * 0.018)), joint="curve")
        hem = _scaled([(0.285, 0.795), (0.715, 0.795)], big)
        draw.line(hem, fill=SHIRT_SHADE, width=seam_w)

    return icon.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    images = {size: draw_icon(size) for size in SIZES}
    for size, image in images.items():
        image.save(ICON_DIR / f"{NAME}-{size}.png", optimize=True)
    # The unsuffixed PNG is what the running app sets as its window icon.
    images[256].save(ICON_DIR / f"{NAME}.png", optimize=True)
    # Pillow builds the .ico's and .icns's size sets by resizing the largest image it is given;
    # passing the hand-drawn small sizes keeps them (ICO via append_images, ICNS picks the
    # nearest it was given).
    ico_sizes = [(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]
    images[256].save(ICON_DIR / f"{NAME}.ico", sizes=ico_sizes, append_images=[images[s] for s in (16, 24, 32, 48, 64, 128)])
    # ICNS goes up to 1024 px (512 px at 2×); drawing that size beats letting Pillow upscale 512.
    draw_icon(1024).save(ICON_DIR / f"{NAME}.icns", append_images=[images[s] for s in (16, 32, 64, 128, 256, 512)])
    print(f"wrote {len(SIZES) + 3} files to {ICON_DIR}")


if __name__ == "__main__":
    main()
