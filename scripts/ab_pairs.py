#!/usr/bin/env python3
"""Summary of scripts/ab_pairs.sh: for each scenario and thread count,
AtomicPtrMap's median ops/s in the old and new runs, how many pairs the new
build won, and the median ratio to the best peer (taken within each run).

    python3 scripts/ab_pairs.py OUTDIR
"""
import glob, json, statistics, sys


def rows(path):
    r = json.load(open(path))
    out = {}
    for s in r["scenarios"]:
        for row in s["rows"]:
            if row.get("name") == "AtomicPtrMap" and row.get("status") == "ok":
                out[(s["key"], row["threads"])] = (row["figures"].get("ops_per_s"), row.get("vs_best_peer"))
    return r["commit"], out


def runs(out, side):
    paths = sorted(glob.glob(f"{out}/{side}-*/results.json"), key=lambda p: int(p.split("-")[-1].split("/")[0]))
    return [rows(p) for p in paths]


out = sys.argv[1]
old, new = runs(out, "old"), runs(out, "new")
print(f"old {old[0][0][:12]} ({len(old)} runs), new {new[0][0][:12]} ({len(new)} runs)")
for key in sorted(old[0][1]):
    a = [r[key] for _, r in old if key in r and r[key][0]]
    b = [r[key] for _, r in new if key in r and r[key][0]]
    wins = sum(1 for x, y in zip(a, b) if y[0] > x[0])
    ma, mb = statistics.median(x[0] for x in a), statistics.median(y[0] for y in b)
    qa, qb = statistics.median(x[1] for x in a), statistics.median(y[1] for y in b)
    print(f"{key[0]:10s} {key[1]}t  {ma / 1e6:6.2f}M -> {mb / 1e6:6.2f}M ops/s  (new wins {wins}/{len(b)})  ratio {qa:.2f} -> {qb:.2f}")
