"""Speed of the photo model (issue 20, "Fast"): file -> verdict for single phone photos, a folder
of photos, and a folder of 28×28 PNGs through `fmnist predict --jsonl`.

    nice -n 19 .venv/bin/python bench/bench_photo_model.py [--weights PHOTO.pt] [--fmnist-weights FILE]
        [--photos DIR] [--limit N] [--pngs 2000] [--data DIR]

(a) Single photos: each photo of DIR (default ../shared/realworld-dev, phone photos) goes file ->
    verdict alone through `Predictor.predict_paths([file])`, one at a time, as a dropped photo
    does, with the photo model and the 28×28 network loaded together (routing). Prints each
    file -> verdict and the median / 90th percentile ms. Baseline in the same run: the 28×28
    pipeline alone (background removal, crop, invert) on the same photos.
(b) Folder of photos: `Predictor.iter_predict_paths` over the same photos: photos/s; baseline the
    28×28 pipeline alone on the same folder.
(c) Folder of 28×28 PNGs (Fashion-MNIST style): --pngs images written from the test IDX (--data,
    or the usual places) or, without it, the bundled samples (downscaled to 28×28), classified by
    `fmnist predict --jsonl` in a subprocess with the photo model and the 28×28 network active:
    images/s (wall time including start-up, and from the first result on). Baseline: the same
    command with `--weights` the 28×28 network alone (how it ran before the photo model).

Targets (issue 20): (a) median <= 40 ms, p90 <= 60 ms; (b) >= 40 photos/s; (c) >= 500 images/s,
on 2 cores. The load average is printed with the figures: a shared machine slows everything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fmnist_desktop.core.base.formats import iter_photo_files  # noqa: E402
from fmnist_desktop.core.predict.predictor import Predictor  # noqa: E402


def load_avg() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def default_models(photo: str | None, fmnist: str | None) -> tuple[Path, Path]:
    from fmnist_desktop.core.store.library import ModelLibrary

    library = ModelLibrary()
    photo_path = Path(photo) if photo else library.active("photo").path
    fmnist_path = Path(fmnist) if fmnist else library.active("fmnist").path
    return photo_path, fmnist_path


def single_photos(predictor: Predictor, files: list[Path], show: bool) -> list[float]:
    """ms from file to verdict for each photo, one at a time (the first photo once more, untimed, to warm up)."""
    predictor.predict_paths(files[:1])
    times = []
    for f in files:
        t0 = time.perf_counter()
        [r] = predictor.predict_paths([f])
        verdict = r.verdict.describe() if r.ok else f"error: {r.error}"
        times.append((time.perf_counter() - t0) * 1e3)
        if show:
            print(f"  {f.parent.name}/{f.name} -> {verdict} [{r.model_kind if r.ok else '-'}] {times[-1]:.0f} ms")
    return times


def folder_rate(predictor: Predictor, files: list[Path]) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = sum(1 for r in predictor.iter_predict_paths(files, files=files) if r.ok)
    return n / (time.perf_counter() - t0), n


def write_pngs(folder: Path, n: int, data: str | None) -> str:
    """n 28×28 Fashion-MNIST-style PNGs in `folder`; returns where they came from."""
    from PIL import Image

    try:
        from fmnist_desktop.core.data.fashion_mnist import load_test_split

        split, source = load_test_split(data)
        images, what = split.images.numpy(), f"the test IDX ({source.description})"
    except Exception:  # noqa: BLE001 — no data set here: the bundled samples, downscaled
        samples = sorted((REPO / "resources" / "samples").glob("fashion-mnist_*.png"))
        images = np.stack([np.asarray(Image.open(p).convert("L").resize((28, 28), Image.NEAREST)) for p in samples])
        what = "the bundled samples (downscaled to 28×28, repeated)"
    for i in range(n):
        Image.fromarray(images[i % len(images)]).save(folder / f"img_{i:05d}.png")
    return what


def jsonl_rate(folder: Path, n: int, env: dict[str, str], extra: list[str]) -> tuple[float, float, dict[str, int]]:
    """(images/s over the whole command, images/s from the first result on, answers by model kind)."""
    command = [sys.executable, "-m", "fmnist_desktop.cli", "predict", "--jsonl", *extra, str(folder)]
    t0 = time.perf_counter()
    first = None
    kinds: dict[str, int] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env) as proc:
        for line in proc.stdout:
            if first is None:
                first = time.perf_counter()
            kind = json.loads(line).get("model", {}).get("kind", "?")
            kinds[kind] = kinds.get(kind, 0) + 1
    end = time.perf_counter()
    streamed = n / (end - first) if first is not None and end > first else float("nan")
    return n / (end - t0), streamed, kinds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", help="the photo model (default: the library's active photo model)")
    p.add_argument("--fmnist-weights", help="the 28×28 network (default: the library's active one)")
    p.add_argument("--photos", default=str(REPO.parent / "shared" / "realworld-dev"), help="folder of phone photos")
    p.add_argument("--limit", type=int, default=0, help="use only N photos, evenly spread over the folder (0: all)")
    p.add_argument("--pngs", type=int, default=2000, help="28×28 PNGs for part (c) (default 2000)")
    p.add_argument("--data", help="folder with the Fashion-MNIST test files for part (c)")
    p.add_argument("--quiet", action="store_true", help="do not print file -> verdict lines")
    args = p.parse_args(argv)

    photo_path, fmnist_path = default_models(args.weights, args.fmnist_weights)
    files = sorted(iter_photo_files(Path(args.photos)))
    if args.limit:  # spread over the classes' folders, not the first folder's photos
        files = files[:: max(1, len(files) // args.limit)][: args.limit]
    if not files:
        print(f"no photos in {args.photos}", file=sys.stderr)
        return 2
    print(f"photo model: {photo_path}\n28×28 network: {fmnist_path}\nphotos: {len(files)} from {args.photos}")
    print(f"torch threads {__import__('torch').get_num_threads()}, {os.cpu_count()} CPUs; {load_avg()}")

    routed = Predictor.from_checkpoints([photo_path, fmnist_path])
    baseline = Predictor.from_checkpoint(fmnist_path)

    print("\n(a) single photos, file -> verdict, one at a time (photo model + 28×28 network, routed)")
    times = single_photos(routed, files, show=not args.quiet)
    base_times = single_photos(baseline, files, show=False)
    print(f"  photo model:                 median {statistics.median(times):6.1f} ms, p90 {percentile(times, 90):6.1f} ms"
          f"   (target <= 40 / 60)")
    print(f"  baseline 28×28 pipeline:     median {statistics.median(base_times):6.1f} ms, "
          f"p90 {percentile(base_times, 90):6.1f} ms   {load_avg()}")

    print("\n(b) folder of photos through iter_predict_paths")
    rate, n = folder_rate(routed, files)
    base_rate, _ = folder_rate(baseline, files)
    print(f"  photo model:                 {rate:6.1f} photos/s ({n} photos)   (target >= 40)")
    print(f"  baseline 28×28 pipeline:     {base_rate:6.1f} photos/s   {load_avg()}")

    print(f"\n(c) {args.pngs} 28×28 PNGs through `fmnist predict --jsonl`")
    with tempfile.TemporaryDirectory(prefix="bench-pngs-") as tmp:
        folder = Path(tmp) / "pngs"
        folder.mkdir()
        what = write_pngs(folder, args.pngs, args.data)
        print(f"  images from {what}")
        # The photo model and the 28×28 network active in a library of their own (so the
        # command's default, routing, uses exactly the models measured above).
        home = Path(tmp) / "home"
        env = {**os.environ, "FMNIST_DESKTOP_HOME": str(home), "PYTHONPATH": str(REPO)}
        os.environ["FMNIST_DESKTOP_HOME"] = str(home)
        from fmnist_desktop.core.store.library import ModelLibrary

        library = ModelLibrary()
        for path in (photo_path, fmnist_path):
            library.set_active(library.import_file(path).id)
        os.environ.pop("FMNIST_DESKTOP_HOME")
        whole, streamed, kinds = jsonl_rate(folder, args.pngs, env, [])
        print(f"  photo model + 28×28 network: {whole:6.0f} images/s whole command, {streamed:6.0f} from the first "
              f"result on; answered by {kinds}   (target >= 500)")
        base_whole, base_streamed, _ = jsonl_rate(folder, args.pngs, env, ["--weights", str(fmnist_path)])
        print(f"  baseline --weights 28×28:    {base_whole:6.0f} images/s whole command, {base_streamed:6.0f} from "
              f"the first result on   {load_avg()}")
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
