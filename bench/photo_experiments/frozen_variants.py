"""Frozen pooled features (cache *_in16.pt) + linear 11-way head: which label/weight variants help
the held-out senders (choice) — dev only reported."""
import csv, sys, json, numpy as np, torch
sys.path.insert(0, "/work/main")
from fmnist_desktop.core.data.labelled_photos import read_labels, split_by_sender
torch.manual_seed(0); torch.set_num_threads(2)
C = "/work/photo/cache"
rows = {r["file"]: r for r in csv.DictReader(open("/work/main/weights/realworld-train-labels.csv"))}
photos = read_labels("/work/main/weights/realworld-train-labels.csv", "/work/shared/realworld-train", check_files=False)
train, val = split_by_sender(photos)
Xtr = torch.load(f"{C}/train_in16.pt").float(); ytr = torch.from_numpy(np.load(f"{C}/train_labels.npy"))
isfm = torch.from_numpy(np.load(f"{C}/train_isfm.npy"))
Xv = torch.load(f"{C}/val_in16.pt").float(); yv = np.load(f"{C}/val_labels.npy")
Xd = torch.load(f"{C}/dev_in16.pt").float(); yd = np.load(f"{C}/dev_labels.npy")
n_items = len(train) + 5000; views = len(ytr) // n_items
assert views * n_items == len(ytr), (len(ytr), n_items)
reason = [rows[p.file]["reason"].lower() for p in train] + [""] * 5000
reason = reason * views
vreason = [rows[p.file]["reason"].lower() for p in val]
src = [rows[p.file]["source_label"] for p in train] + [""] * 5000
src = src * views
is_boot = np.array(["boot" in r for r in reason]); v_boot = np.array(["boot" in r for r in vreason])
none_shoe = np.array([s == "Shoes" for s in src]) & (ytr.numpy() == 10)

def report(p11, y, T=None, keep=None):
    if keep is not None: p11, y = p11[keep], y[keep]
    known = y < 10; p10 = p11[:, :10]; pred = p10.argmax(1); conf = p10.max(1)
    per = [round(100 * (pred[known][y[known] == c] == c).mean(), 1) if (y[known] == c).any() else None for c in range(10)]
    if T is None: T = float(np.quantile(conf[known], 0.08))
    flag = (conf < T) | (p11[:, 10] >= conf)
    r = dict(acc=round(100 * (pred[known] == y[known]).mean(), 1), ns=round(100 * flag[known].mean(), 1),
             cw=round(100 * ((pred[known] != y[known]) & ~flag[known]).mean(), 1))
    if (~known).any(): r["none"] = round(100 * flag[~known].mean(), 1)
    r["per"] = per
    return T, r

def fit(y, w, epochs=12, lr=2e-3, X_all=None):
    X_all = Xtr if X_all is None else X_all
    head = torch.nn.Linear(1280, 11); opt = torch.optim.AdamW(head.parameters(), lr, weight_decay=1e-4)
    keep = y >= 0; X = X_all[keep]; Y = y[keep]; W = w[keep]
    counts = torch.bincount(Y, minlength=11).float(); cw = (counts.sum() / 11 / counts.clamp(min=1))
    for ep in range(epochs):
        perm = torch.randperm(len(Y))
        for k in range(0, len(Y), 256):
            i = perm[k:k + 256]
            loss = (torch.nn.functional.cross_entropy(head(torch.nn.functional.dropout(X[i], 0.2)), Y[i], weight=cw, reduction="none") * W[i]).mean()
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return head(Xv).softmax(1).numpy(), head(Xd).softmax(1).numpy()

variants = {}
y0 = ytr.clone(); w0 = torch.ones(len(y0))
variants["A baseline"] = (y0, w0, yv)
y = y0.clone(); y[torch.from_numpy(is_boot & (y0.numpy() == 10))] = -1
yvb = yv.copy(); yvb[v_boot & (yv == 10)] = -1
variants["B boots none->skip"] = (y, w0, yvb)
y = y0.clone(); y[torch.from_numpy(is_boot & (y0.numpy() == 10))] = 9
yvc = yv.copy(); yvc[v_boot & (yv == 10)] = 9
variants["C boots none->Ankle boot"] = (y, w0, yvc)
w = w0.clone(); w[torch.from_numpy(none_shoe)] = 0.3
variants["D none shoes weight 0.3"] = (y0, w, yv)
w = w0.clone(); w[isfm & (y0 == 9)] = 3.0
variants["E FM ankle boots x3"] = (y0, w, yv)
import os
if os.path.exists(f"{C}/fm_colour_in16.npy"):
    col = torch.from_numpy(np.load(f"{C}/fm_colour_in16.npy")).float()
    base_i = len(train)
    XF = Xtr.clone()
    for v in (1, 2):
        XF[v * n_items + base_i: v * n_items + base_i + 5000] = col[v - 1]
    XG = Xtr.clone(); g = torch.Generator().manual_seed(1)
    for v in (1, 2):
        pick = torch.rand(5000, generator=g) < 0.5
        rows_ = v * n_items + base_i + torch.nonzero(pick).squeeze(1)
        XG[rows_] = col[v - 1][pick]
    variants["F FM colour (all augmented views)"] = (y0, w0, yv, XF)
    variants["G FM colour (half)"] = (y0, w0, yv, XG)
y = y0.clone(); y[torch.from_numpy(none_shoe)] = -1
v_none_shoe = np.array([rows[p.file]["source_label"] == "Shoes" for p in val]) & (yv == 10)
yvh = yv.copy(); yvh[v_none_shoe] = -1
variants["H none shoes -> skip (val none-shoes out too)"] = (y, w0, yvh)
variants["H2 none shoes -> skip (val none-shoes kept)"] = (y, w0, yv)
y = y0.clone(); y[torch.from_numpy(is_boot & (y0.numpy() == 10))] = -1
w = w0.clone(); w[torch.from_numpy(none_shoe)] = 0.5
variants["I boots skip + none shoes 0.5"] = (y, w, yvb)
only = sys.argv[1:]
for name, (y, w, yval, *rest) in variants.items():
    if only and name[0] not in only: continue
    keep = yval >= 0; RV = []; RD = []
    for seed in range(3):
        torch.manual_seed(seed)
        pv, pd = fit(y, w, X_all=rest[0] if rest else None)
        T, rv = report(pv, yval, keep=keep); _, rd = report(pd, yd, T); RV.append(rv); RD.append(rd)
    avg = lambda rs: {k: (round(float(np.mean([r[k] for r in rs])), 1) if k != "per" else
                          [None if rs[0][k][c] is None else round(float(np.mean([r[k][c] for r in rs])), 1) for c in range(10)])
                      for k in rs[0]}
    print(name, "(mean of 3 seeds)\n  held-out", json.dumps(avg(RV)), "\n  dev     ", json.dumps(avg(RD)), flush=True)
