"""Fine-tune with my photos, photo model: the torch path (as the app ran it before issue 25 item 3)
against the numpy path (`core.jobs.photo_finetune.finetune_photo_head` now), side by side in one run.

    nice -n 10 .venv/bin/python bench/bench_photo_finetune_numpy.py \
        [--photos 20] [--draws 0 1 2 3 4] [--photo-root /work/shared/realworld-train]

The kept photos are `--photos` photos of the senders that bench/bench_photo_finetune_quality.py
draws its corrections from (the held-out senders not in resources/real-photos; labels from
weights/realworld-train-labels.csv), drawn with seed 0; the other photos of those senders and the
80 real photos shipped with the app measure the effect. Both paths start from weights/photo.pt with
weights/photo-replay.npz, the same recipe (`HeadRecipe()`), and each in its own fresh app folder:

- torch: the model loaded with torch, the photos' views (torchvision's ColorJitter) through the
  torch backbone, the head trained by torch (bench/head_finetune_torch.py, one thread, as the app
  did), measured on the 80 shipped photos by torch, the model copied and `torch.save`d, then its
  ONNX twin exported with torch (what the app's first answer with it did);
- numpy: the model file read without torch, the views (Pillow's colour jitter) through the
  model's ONNX twin (its `features` output; made first, with torch, and not timed: the app has it
  already, since it answers with it), the head in numpy, measured on the 80 shipped photos, the
  model written without torch and its twin made from the parent's.

"cold": no embedding stored; "stored": the same fine-tune again, as after the photos were kept
(the Predict page stores their embeddings then). Then, for each of `--draws` draws of kept photos,
each path's head (views and head as above, nothing written) on the pool's other photos and on
the 80: photos named right, from the same clean-view embeddings for every head. Prints wall time
per phase and the load.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh_home() -> None:
    os.environ["FMNIST_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="fmnist-bench-ft-")


def torch_path(model_path: Path, kept, replay_path: Path, shipped, save: bool = True) -> tuple[dict, object]:
    """The fine-tune as the app ran it with torch; returns (seconds per phase, the new head)."""
    import torch

    from fmnist_desktop.core.data import photo_features, photo_views
    from fmnist_desktop.core.data.torch_backbone import TorchBackbone
    from fmnist_desktop.core.jobs.photo_finetune import (AUGMENTED_VIEWS, SimpleExample, kept_photos_store,
                                                         load_replay, measuring_store, named_right, photo_embeddings)
    from fmnist_desktop.core.jobs.twins import make_twin
    from fmnist_desktop.core.store.checkpoint import load_model, save_checkpoint
    from head_finetune_torch import train_head

    seconds, t = {}, time.perf_counter()
    net, meta = load_model(model_path)
    backbone = TorchBackbone(net)
    seconds["load the model"] = time.perf_counter() - t
    real_view, photo_views.augmented_view = photo_views.augmented_view, photo_features.augmented_view  # torch's jitter
    try:
        t = time.perf_counter()
        mine = photo_embeddings(backbone, kept, kept_photos_store(backbone, AUGMENTED_VIEWS), AUGMENTED_VIEWS)
        seconds["embed the kept photos"] = time.perf_counter() - t
    finally:
        photo_views.augmented_view = real_view
    t = time.perf_counter()
    replay = load_replay(replay_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run = train_head(net.head.float(), mine.features, mine.labels, *replay)
    torch.set_num_threads(threads)
    seconds["train the head"] = time.perf_counter() - t
    t = time.perf_counter()
    got = photo_embeddings(backbone, [SimpleExample(p, label) for p, label in shipped], measuring_store(backbone), 0)
    with torch.inference_mode():
        for head in (run.head, net.head):
            logits = head(torch.from_numpy(got.features[:, 0]))
            named_right(net.opinion.mix_probabilities(logits, torch.from_numpy(got.imagenet)).exp().numpy(), got.labels)
    seconds["measure against the parent"] = time.perf_counter() - t
    w, b = run.head.weight.detach().numpy().copy(), run.head.bias.detach().numpy().copy()
    if not save:
        return seconds, (w, b)
    t = time.perf_counter()
    model = copy.deepcopy(net)
    model.head.load_state_dict(run.head.state_dict())
    out = Path(os.environ["FMNIST_DESKTOP_HOME"]) / "tuned-torch.pt"
    save_checkpoint(out, model.eval(), meta)
    seconds["write the model"] = time.perf_counter() - t
    t = time.perf_counter()
    make_twin(out)
    seconds["its ONNX twin (export)"] = time.perf_counter() - t
    return seconds, (w, b)


def numpy_path(model_path: Path, kept, replay_path: Path, shipped, save: bool = True) -> tuple[dict, object]:
    from fmnist_desktop.core.jobs.photo_finetune import finetune_photo_head
    from fmnist_desktop.core.jobs.run_record import save_head_run
    from fmnist_desktop.core.store.library import ModelLibrary

    seconds, t = {}, time.perf_counter()
    run = finetune_photo_head(model_path, kept, replay=replay_path, measuring=("shipped", "the 80", shipped))
    seconds["fine-tune (read, embed, train, measure)"] = time.perf_counter() - t
    if not save:
        return seconds, (run.model.weight, run.model.bias)
    t = time.perf_counter()
    save_head_run(run, ModelLibrary())
    seconds["write the model and its twin"] = time.perf_counter() - t
    return seconds, (run.model.weight, run.model.bias)


def accuracy(model, head, photos) -> int:
    from fmnist_desktop.core.jobs.photo_finetune import named_right

    w, b = head
    return named_right(model.probabilities(w, b, photos.features[:, 0], photos.imagenet), photos.labels)


def eval_embeddings(model, photos, folder: Path):
    """Clean-view embeddings (and ImageNet's opinion) by the model's twin, kept in `folder`."""
    from fmnist_desktop.core.data.photo_embeddings import EmbeddingStore, embedding_key, opinion_key
    from fmnist_desktop.core.jobs.photo_finetune import PhotoStores, photo_embeddings

    b = model.backbone
    imagenet = opinion_key(b, 224)
    stores = PhotoStores(EmbeddingStore(folder / embedding_key(b, 224, 1)),
                         None if imagenet is None else EmbeddingStore(folder / imagenet, dtype="float32"))
    return photo_embeddings(b, photos, stores, 0)


def quality(model_path, model, pool, n_kept, replay, shipped, draws) -> None:
    """For each draw of kept photos: the held-out and shipped photos each path's head names right."""
    from fmnist_desktop.core.jobs.photo_finetune import SimpleExample

    folder = Path(tempfile.mkdtemp(prefix="fmnist-bench-ft-eval-"))
    homes = {name: tempfile.mkdtemp(prefix=f"fmnist-bench-ft-{name}-") for name in ("torch", "numpy")}
    shipped_x = eval_embeddings(model, [SimpleExample(p, label) for p, label in shipped], folder)
    parent = (model.weight, model.bias)
    print("| draw | held out | parent | torch path | numpy path | shipped 80: parent | torch path | numpy path |")
    print("|---|---|---|---|---|---|---|---|")
    totals = np.zeros(6, int)
    for seed in draws:
        order = np.random.default_rng(seed).permutation(len(pool))
        kept, held = [pool[i] for i in order[:n_kept]], [pool[i] for i in order[n_kept:]]
        held_x = eval_embeddings(model, held, folder)
        heads = {}
        for name, path in (("torch", torch_path), ("numpy", numpy_path)):
            os.environ["FMNIST_DESKTOP_HOME"] = homes[name]
            heads[name] = path(model_path, kept, replay, shipped, save=False)[1]
        row = [accuracy(model, h, held_x) for h in (parent, heads["torch"], heads["numpy"])]
        row += [accuracy(model, h, shipped_x) for h in (parent, heads["torch"], heads["numpy"])]
        totals += row
        print(f"| {seed} | {len(held_x.labels)} | " + " | ".join(map(str, row)) + " |", flush=True)
    print("| all | | " + " | ".join(map(str, totals)) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=20)
    ap.add_argument("--photo-root", type=Path, default=Path("/work/shared/realworld-train"))
    ap.add_argument("--draws", type=int, nargs="*", default=[0, 1, 2, 3, 4], help="seeds of the quality draws")
    args = ap.parse_args()
    from bench_photo_finetune_quality import load_pool

    from fmnist_desktop.core.jobs.twins import ensure_twin
    from fmnist_desktop.core.predict.photo_score import shipped_photos
    from fmnist_desktop.core.predict.photo_twin import open_photo_model

    print(f"load average at start: {load()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="fmnist-bench-ft-model-"))
    model_path = work / "photo.pt"
    model_path.write_bytes((ROOT / "weights/photo.pt").read_bytes())
    replay = ROOT / "weights/photo-replay.npz"
    fresh_home()
    ensure_twin(model_path)  # the app answers with it: it is there before any fine-tune
    pool = load_pool(args.photo_root, 0)
    order = np.random.default_rng(0).permutation(len(pool))
    kept = [pool[i] for i in order[:args.photos]]
    shipped = shipped_photos(ROOT / "resources/real-photos")
    print(f"{len(kept)} kept photos of {len(pool)} (classes {sorted(int(p.label) for p in kept)})", flush=True)
    for name, path in (("torch", torch_path), ("numpy", numpy_path)):
        fresh_home()
        for scenario in ("cold", "stored"):
            started = time.perf_counter()
            seconds, _head = path(model_path, kept, replay, shipped)
            total = time.perf_counter() - started
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
            print(f"{name:5} {scenario:6}: {total:6.1f} s  ({phases}); load {load()}", flush=True)
    model = open_photo_model(model_path, ensure_twin)
    quality(model_path, model, pool, args.photos, replay, shipped, args.draws)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
