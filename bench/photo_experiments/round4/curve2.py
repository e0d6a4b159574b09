exec(open("/work/notes/exp28/grid2.py").read().split("f = mix2 if")[0])
W = [0, .7, .5, .7, .7, .5, 0, .5, .7, .5]
def named_fire(Q, x=0.35):
    NAMED = [906, 457, 451, 806, 836, 837, 531, 409, 530, 892, 826, 879, 711, 629, 464, 658, 824, 552, 893, 679,
             515, 808, 452, 433, 793, 667, 903, 518, 560, 643, 796, 570, 459, 445, 638, 639, 529, 655]
    nm = Q[:, NAMED].max(1); return (nm >= Q.max(1)) & (nm >= x)
def final(s, named=True):
    P = mix2(s["P"], s["Q"], W)
    if not named: return P
    f = named_fire(s["Q"])[:, None] * 0.5
    hot = np.zeros_like(P); hot[:, 10] = 1
    return P * (1 - f) + hot * f
F = {n: final(s) for n, s in sets.items()}
for n, s in sets.items():
    print(n, "mix only", [round(v, 1) for v in metrics(final(s, False), s["y"])[:4]], "mix+named", [round(v, 1) for v in metrics(F[n], s["y"])[:4]], "per class", [None if v != v else round(v) for v in metrics(F[n], s["y"])[4]])
print("thr    " + "  ".join(f"{n}: right/ns/cw/none" for n in sets))
for th in (0.30, 0.35, 0.404, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
    print(f"{th:.3f} " + "  ".join(f"{n}: " + "/".join(f"{v:.1f}" for v in metrics(F[n], s['y'], th)[:4]) for n, s in sets.items()))
Ph = F["held"]; y = sets["held"]["y"]
for target in (0.03, 0.04, 0.05, 0.06):
    for th in np.arange(0.2, 0.99, 0.0025):
        if metrics(Ph, y, th)[2] <= 100 * target: break
    print("cw target", target, "threshold", round(th, 4), {n: [round(v, 1) for v in metrics(F[n], s["y"], th)[:4]] for n, s in sets.items()})
# quantile rule (8% not sure on held)
k = y < 10; th8 = np.quantile(Ph[k, :10].max(1), 0.08); print("8% rule threshold", round(th8, 4), {n: [round(v, 1) for v in metrics(F[n], s["y"], th8)[:4]] for n, s in sets.items()})
