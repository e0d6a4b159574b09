import sys, time, numpy as np, torch
sys.path.insert(0, "/work/main")
torch.set_num_threads(2)
from fmnist_desktop.core.data.fashion_mnist import load_test_split
from fmnist_desktop.core.data.photo_features import fashion_mnist_photo
from fmnist_desktop.core.photo.model_input import letterbox, to_unit_tensor
from fmnist_desktop.core.store.checkpoint import load_model
m, meta = load_model(sys.argv[1]); m = m.to(memory_format=torch.channels_last)
split, _ = load_test_split("/usr/share/datasets/fashion-mnist")
n = int(sys.argv[2]) if len(sys.argv) > 2 else len(split)
x, y = split.images.numpy()[:n], split.labels.numpy()[:n]
for invert in (False, True):
    preds = []
    t = time.time()
    with torch.inference_mode():
        for k in range(0, n, 8):
            imgs = [letterbox(fashion_mnist_photo(a, invert, 224), 224) for a in x[k:k + 8]]
            preds.append(m(to_unit_tensor(imgs))[:, :10].argmax(1).numpy())
    p = np.concatenate(preds)
    print(f"{'inverted (dark on white)' if invert else 'as it is (light on black)'}: {100 * (p == y).mean():.2f}% of {n} test images ({time.time() - t:.0f} s)", flush=True)
