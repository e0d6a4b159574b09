"""Issue 28 probe: for the held-out senders, realworld-dev and a catalogue-style copy of the
held-out senders' photos (garment cut out by the app's GrabCut step, put on white), store the
shipped photo model's 11 logits and the frozen ImageNet network's 1000 logits, each for the image
and its mirror. Blocks 0-12 are shared by both networks and computed once."""
import sys, os, time
from pathlib import Path
import numpy as np, torch
from PIL import Image, ImageOps
sys.path.insert(0, "/work/main")
from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender
from fmnist_desktop.core.photo.model_input import load_photo_input, letterbox, to_unit_tensor, DECODE_MAX_SIDE_FACTOR
from fmnist_desktop.core.photo.loading import load_image
from fmnist_desktop.core.photo import prepare_photo
from fmnist_desktop.core.store.checkpoint import load_model
from fmnist_desktop.core.models.photo_net import load_imagenet_backbone
from fmnist_desktop.core.base.labels import CLASS_NAMES
torch.set_num_threads(2)
OUT = Path("/work/notes/exp28/cache"); OUT.mkdir(exist_ok=True)
photo, meta = load_model("/work/main/weights/photo.pt"); photo.eval()
inet = load_imagenet_backbone().eval()
FROM = 13

def catalogue(path):
    img = load_image(path, max_side=448)
    steps = prepare_photo(img)
    m = steps.mask.resize(img.size, Image.BILINEAR)
    a = np.asarray(m) > 127
    if a.mean() < 0.02 or a.all():
        return None
    ys, xs = np.where(a)
    white = Image.new("RGB", img.size, (255, 255, 255))
    comp = Image.composite(img.convert("RGB"), white, m)
    l, t, r, b = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    pad = int(0.08 * max(r - l, b - t))
    box = (max(0, l - pad), max(0, t - pad), min(img.width, r + pad), min(img.height, b + pad))
    crop = comp.crop(box)
    side = max(crop.size)
    sq = Image.new("RGB", (side, side), (255, 255, 255))
    sq.paste(crop, ((side - crop.width) // 2, (side - crop.height) // 2))
    return letterbox(sq, 224)

@torch.no_grad()
def run(images):
    x = to_unit_tensor(images)
    outs = []
    for xx in (x, torch.flip(x, dims=[3])):
        xn = photo.normalise(xx)
        shared = photo.backbone.blocks(photo.backbone.stem(xn), 0, FROM)
        p = photo.head(photo.backbone.head_features(photo.backbone.blocks(shared, FROM)))
        i = inet(xn) if False else inet._fc(inet.head_features(inet.blocks(shared, FROM)))
        feats = inet.head_features(inet.blocks(shared, FROM))
        outs.append((p.numpy(), i.numpy(), feats.numpy().astype(np.float16)))
    return outs

def do(name, items):
    t0 = time.time(); P, I, PM, IM, F, Y, keep = [], [], [], [], [], [], []
    for k in range(0, len(items), 8):
        chunk = items[k:k + 8]; imgs = []; ys = []; names = []
        for path, y, maker in chunk:
            try:
                im = maker(path)
            except Exception as e:
                print("skip", path, e); continue
            if im is None: continue
            imgs.append(im); ys.append(y); names.append(str(path))
        if not imgs: continue
        (p, i, f), (pm, im_, _) = run(imgs)
        P.append(p); I.append(i); PM.append(pm); IM.append(im_); F.append(f); Y += ys; keep += names
        if k % 160 == 0: print(name, k, len(items), f"{time.time()-t0:.0f}s", flush=True)
    np.savez(OUT / f"{name}.npz", photo=np.concatenate(P), imagenet=np.concatenate(I), photo_m=np.concatenate(PM),
             imagenet_m=np.concatenate(IM), feats=np.concatenate(F), y=np.array(Y), files=np.array(keep))
    print(name, "done", len(Y), f"{time.time()-t0:.0f}s load {os.getloadavg()[0]:.1f}", flush=True)

root = Path("/work/shared/realworld-train")
photos = read_labels("/work/main/weights/realworld-train-labels.csv", root)
_, held = split_by_sender(photos)
plain = lambda p: load_photo_input(p, 224)
held_items = [(root / p.file, p.label if not p.is_none else 10, plain) for p in held]
dev_root = Path("/work/shared/realworld-dev")
dev_items = []
for d in sorted(dev_root.iterdir()):
    if d.is_dir():
        idx = int(d.name.split("_")[0])
        for f in sorted(d.iterdir()):
            dev_items.append((f, idx, plain))
which = sys.argv[1:] or ["held", "dev", "cat"]
if "held" in which: do("held", held_items)
if "dev" in which: do("dev", dev_items)
if "cat" in which: do("cat", [(root / p.file, p.label, catalogue) for p in held if not p.is_none and 0 <= p.label < 10])
