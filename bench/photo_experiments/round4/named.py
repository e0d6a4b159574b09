exec(open("/work/notes/exp28/analyse.py").read().split("show(\"shipped\"")[0])
NAMED = [906, 457, 451, 806, 836, 837, 531, 409, 530, 892, 826, 879, 711, 464, 658, 824, 552, 629, 893, 679,
         515, 808, 452, 433, 793, 518, 560, 667, 903, 643, 796, 570, 459, 445, 638, 639, 655, 529]
for x in (0.15, 0.25, 0.35, 0.5):
    row = []
    for n, s in sets.items():
        Q = s["Q"]; top = Q.argmax(1); fire = np.isin(top, NAMED) & (Q.max(1) >= x)
        y = s["y"]; k = y < 10
        P = s["P"]; p10 = P[:, :10]; conf = p10.max(1); flag = (conf < 0.404) | (P[:, 10] >= conf)
        newly = fire & ~flag
        row.append(f"{n}: false {100*fire[k].mean():.1f}% ({fire[k].sum()}, newly {newly[k].sum()}) none fired {fire[y==10].sum()}/{(y==10).sum()} newly {newly[y==10].sum()}")
        if x == 0.25:
            u, c = np.unique(top[fire], return_counts=True)
            row.append("  classes: " + ", ".join(f"{C[a]}:{b}" for a, b in zip(u, c)))
    print(x, " | ".join(row))
