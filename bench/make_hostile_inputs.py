"""Build the size-limit inputs of issue 12 (docs/RELIABILITY.md, "Peak memory of the size-limit
cases") into a folder, then measure each with /usr/bin/time -v:

    .venv/bin/python bench/make_hostile_inputs.py /tmp/hostile     # ~30 s, ~1.2 GB peak, ~20 MB on disk
    FMNIST_DESKTOP_HOME=$(mktemp -d) /usr/bin/time -v .venv/bin/python -m fmnist_desktop.cli models --import /tmp/hostile/bomb.pt
    ... evaluate --data /tmp/hostile/idxbomb, predict /tmp/hostile/padded.png, predict /tmp/hostile/big13000.png|.jpg

Needs the real Fashion-MNIST test labels (Debian's dataset-fashion-mnist) for the IDX case.
"""
import io, sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/hostile"); out.mkdir(parents=True, exist_ok=True)
from fmnist_desktop.core.store.checkpoint import CheckpointMeta
from fmnist_desktop.core.models import build_model

# 1. .pt holding a deflated 2 GiB storage referenced by the weights
if not (out / "bomb.pt").exists():
    raw = out / "bomb-raw.pt"
    meta = CheckpointMeta.for_preset("seed", "bomb").to_dict()
    state = build_model("seed_cnn").state_dict()
    state["padding"] = torch.empty(512 * 1024 * 1024)  # 2 GiB, pages never touched
    torch.save({"format": "fmnist-desktop", "format_version": 1, "state_dict": state, "meta": meta}, raw)
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out / "bomb.pt", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            with src.open(info) as r, dst.open(info.filename, "w", force_zip64=True) as w:
                while chunk := r.read(1 << 24):
                    w.write(chunk)
    raw.unlink()
print("bomb.pt", (out / "bomb.pt").stat().st_size)

# 2. train/test images .gz: legit header (10000x28x28) followed by ~2 GB of zeros, gzip
d = out / "idxbomb"; d.mkdir(exist_ok=True)
src = Path("/usr/share/datasets/fashion-mnist")
for stem in ("t10k-labels-idx1-ubyte",):
    (d / f"{stem}.gz").write_bytes((src / f"{stem}.gz").read_bytes())
if not (d / "t10k-images-idx3-ubyte.gz").exists():
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(bytes([0, 0, 8, 3]) + np.array([10000, 28, 28], ">u4").tobytes())]
    chunk = bytes(1 << 24)
    for _ in range(128):  # 2 GiB
        parts.append(c.compress(chunk))
    parts.append(c.flush())
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"".join(parts))
print("idx bomb", (d / "t10k-images-idx3-ubyte.gz").stat().st_size)

# 3. 10x10 PNG padded to 3 GB (sparse)
b = io.BytesIO(); Image.new("L", (10, 10), 200).save(b, "PNG")
with open(out / "padded.png", "wb") as f:
    f.write(b.getvalue()); f.truncate(3_000_000_000)

# 4. real 13000x13000 PNG and JPEG (a dark garment-like block on white)
if not (out / "big13000.jpg").exists():
    img = Image.new("RGB", (13000, 13000), (240, 240, 240))
    img.paste((30, 30, 90), (3000, 2000, 10000, 11000))
    img.save(out / "big13000.png", compress_level=1)
    img.save(out / "big13000.jpg", quality=85)
    del img
for name in ("big13000.png", "big13000.jpg"):
    print(name, (out / name).stat().st_size)
