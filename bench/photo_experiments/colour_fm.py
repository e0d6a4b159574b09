"""Pooled frozen features of Fashion-MNIST training views made photo-like: the object tinted a
material colour (shaded by its own grey), on a coloured background, then the usual augmentation."""
import sys, random, time, numpy as np, torch
sys.path.insert(0, "/work/main")
from PIL import Image
from fmnist_desktop.core.data.fashion_mnist import read_idx
from fmnist_desktop.core.data.photo_features import augmented_view
from fmnist_desktop.core.photo.model_input import to_unit_tensor
from fmnist_desktop.core.models.photo_net import load_imagenet_backbone
torch.set_num_threads(2)
fm_x = read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").numpy()
fm_y = read_idx("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").numpy()
rs = np.random.RandomState(0)
fm_idx = np.concatenate([rs.choice(np.where(fm_y == c)[0], 500, replace=False) for c in range(10)])
MATERIALS = [(25, 25, 28), (60, 40, 30), (110, 70, 40), (160, 120, 80), (200, 180, 150), (40, 50, 80),
             (120, 120, 125), (230, 230, 230), (150, 30, 40), (70, 90, 60)]

def colourised(img28, rng, size=224):
    v = np.asarray(Image.fromarray(img28, "L").resize((size, size), Image.BILINEAR), np.float32) / 255
    alpha = np.clip(v * 4, 0, 1)[..., None]
    base = np.array(rng.choice(MATERIALS) if rng.random() < 0.7 else [rng.randint(0, 255) for _ in range(3)], np.float32)
    base = np.clip(base * rng.uniform(0.8, 1.2), 0, 255)
    shade = (0.45 + 0.75 * v)[..., None]  # FM's own light/dark: folds, soles, laces
    obj = np.clip(base * shade, 0, 255)
    bg = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    if rng.random() < 0.6:  # light floors/walls/tables are most common
        bg = 255 - (255 - bg) * 0.35
    ramp = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(0.9, 1.1), size, dtype=np.float32)
    bgimg = bg * (ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None])
    out = bgimg * (1 - alpha) + obj * alpha
    out += np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(0, 6), out.shape).astype(np.float32)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")

if __name__ == "__main__":
    if sys.argv[1:] == ["show"]:
        rng = random.Random(1)
        ims = [augmented_view(colourised(fm_x[fm_idx[c * 500 + k]], rng), 224, rng) for c in range(10) for k in range(4)]
        sheet = Image.new("RGB", (224 * 8, 224 * 5))
        for j, im in enumerate(ims): sheet.paste(im, ((j % 8) * 224, (j // 8) * 224))
        sheet.resize((112 * 8, 112 * 5)).save("/work/photo/exp6/colour_sheet.png"); sys.exit()
    net = load_imagenet_backbone().eval()
    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1); std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    feats = np.zeros((2, 5000, 1280), np.float16); t = time.time()
    with torch.inference_mode():
        for view in (1, 2):
            for k in range(0, 5000, 16):
                ims = []
                for i in range(k, min(k + 16, 5000)):
                    rng = random.Random(77 * 1_000_003 + view * 7_919 + i)
                    ims.append(augmented_view(colourised(fm_x[fm_idx[i]], rng), 224, rng))
                x = ((to_unit_tensor(ims) - mean) / std).contiguous(memory_format=torch.channels_last)
                feats[view - 1, k:k + len(ims)] = net.head_features(net.blocks(net.stem(x))).numpy()
                if k % 800 == 0: print(view, k, "%.0fs" % (time.time() - t), flush=True)
    np.save("/work/photo/cache/fm_colour_in16.npy", feats); print("done %.0fs" % (time.time() - t))
