import json, sys, numpy as np
C = json.load(open("/work/notes/exp28/inet_classes.json"))
D = "/work/notes/exp28/cache/"
def sm(z): z = z - z.max(1, keepdims=True); e = np.exp(z); return e / e.sum(1, keepdims=True)
def load(n):
    d = np.load(D + n + ".npz"); return {k: d[k] for k in d.files}
sets = {n: load(n) for n in sys.argv[1:] or ["held", "dev", "cat"]}
TH = 0.404
def metrics(P, y, th=TH):
    p10 = P[:, :10]; best = p10.argmax(1); conf = p10.max(1)
    flag = (conf < th) | (P[:, 10] >= conf)
    k = y < 10
    right = (best == y)[k].mean(); ns = flag[k].mean(); cw = ((best != y) & ~flag)[k].mean()
    nf = flag[y == 10].mean() if (y == 10).any() else float("nan")
    per = [100 * (best[(y == c)] == c).mean() if (y == c).any() else np.nan for c in range(10)]
    return 100 * right, 100 * ns, 100 * cw, 100 * nf, per
def show(tag, sets_P):
    out = []
    for n, (P, y) in sets_P.items():
        r, ns, cw, nf, per = metrics(P, y)
        out.append(f"{n}: right {r:.1f} ns {ns:.1f} cw {cw:.1f} none {nf:.1f} | " + " ".join(f"{v:.0f}" for v in per))
    print(f"{tag:28s} " + "  ||  ".join(out))
for n, s in sets.items():
    s["P"] = sm(s["photo"]); s["Q"] = sm(s["imagenet"]); s["Pm"] = sm(s["photo_m"]); s["Qm"] = sm(s["imagenet_m"])
show("shipped", {n: (s["P"], s["y"]) for n, s in sets.items()})
show("shipped+mirror", {n: ((s["P"] + s["Pm"]) / 2, s["y"]) for n, s in sets.items()})
# top ImageNet classes per FM class on held-out
if "--top" in sys.argv[0:1] or True:
    s = sets.get("held")
    if s is not None:
        for c in range(11):
            idx = s["y"] == c
            top = s["Q"][idx].argmax(1)
            u, cnt = np.unique(top, return_counts=True)
            o = np.argsort(-cnt)[:8]
            print(c, idx.sum(), ", ".join(f"{C[u[i]]}:{cnt[i]}" for i in o))
