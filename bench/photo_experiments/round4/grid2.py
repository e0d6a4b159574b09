exec(open("/work/notes/exp28/mix.py").read().split("for n, s in sets.items(): s[\"M\"]")[0])
import itertools, os
KEEP_NONE = os.environ.get("KEEP_NONE", "1") == "1"
def mix2(P, Q, w, mp=MAP):
    w = np.broadcast_to(np.asarray(w, float), (10,))
    m = mass(Q, mp) * w
    a = m.sum(1, keepdims=True)
    tot = P[:, :10].sum(1, keepdims=True)
    r = P[:, :10] / tot
    out = P.copy(); out[:, :10] = ((1 - a) * r + m) * tot
    return out
f = mix2 if KEEP_NONE else mix
res = []
for wg, ws, wt, wp in itertools.product((0, .2, .35, .5, .7), (0, .35, .5, .7, .9), (0, .2, .35, .5), (0, .2, .35, .5)):
    w = [wt, wg, wp, wg, wg, ws, 0, ws, wg, ws]
    r = {n: metrics(f(s["P"], s["Q"], w), s["y"]) for n, s in sets.items()}
    score = np.mean([r[n][0] for n in sets if n != "dev"])
    res.append((score, r["held"][2] + r["cat"][2], wg, ws, wt, wp, r))
res.sort(key=lambda t: (-t[0], t[1]))
for score, cw, wg, ws, wt, wp, r in res[:10]:
    print(f"sel {score:.2f} cw {cw:.1f} wg {wg} ws {ws} wt {wt} wp {wp} :: " + " | ".join(f"{n} {m[0]:.1f}/{m[1]:.1f}/{m[2]:.1f}/{m[3]:.1f}" for n, m in r.items()))
