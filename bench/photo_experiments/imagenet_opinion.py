import sys; sys.path.insert(0, "/work/photo")
import numpy as np, torch, json
from fmnist_desktop.core.models.photo_net import load_imagenet_backbone
base = load_imagenet_backbone()
C = "/work/photo/cache"
CLOTHING = [399,400,411,414,465,474,501,502,514,568,578,608,610,614,617,630,636,652,697,735,748,770,774,788,834,841,869,887,728,893,655,689,601,842,638]
STRICT = [399,400,414,474,501,502,514,568,578,608,610,614,617,630,636,697,735,748,770,774,834,841,869]
for name in ("val", "dev"):
    f = torch.load(f"{C}/{name}_in16.pt")
    y = np.load(f"{C}/{name}_labels.npy")
    with torch.no_grad(): p = base._fc(f.float()).softmax(1).numpy()
    np.save(f"{C}/imagenet_{name}.npy", p)
    for lst, nm in ((CLOTHING, "wide"), (STRICT, "strict")):
        mass = p[:, lst].sum(1)
        for thr in (0.2, 0.35, 0.5):
            low = mass < thr
            print(name, nm, thr, "known flagged %.3f" % low[y < 10].mean(), "none flagged %.3f" % (low[y == 10].mean() if (y == 10).any() else float('nan')))
