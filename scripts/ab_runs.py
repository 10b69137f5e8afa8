#!/usr/bin/env python3
"""A/B of two builds over several crisis runs each: medians of our maps'
per-run ratios to the best peer, Go-shape geometric means, C6 writer impact.

    python3 scripts/ab_runs.py 'runs/old*/results.json' 'runs/new*/results.json'
"""
import json, statistics, glob, math, sys
def load(p):
    r=json.load(open(p)); out={}; c6={}
    for s in r['scenarios']:
        for row in s['rows']:
            if row.get('status')!='ok': continue
            if row.get('ours'):
                out[(s['key'],row['threads'],row['name'])]=row.get('vs_best_peer')
            if s['key']=='C6':
                c6[(row['threads'],row['name'])]=row['figures'].get('writer_impact_pct')
    return r,out,c6
olds=[load(p) for p in sorted(glob.glob(sys.argv[1]))]
news=[load(p) for p in sorted(glob.glob(sys.argv[2]))]
print("old runs:", [(r['commit'], r['date'], r['machine']['load_average_at_start']) for r,_,_ in olds])
print("new runs:", [(r['commit'], r['date'], r['machine']['load_average_at_start']) for r,_,_ in news])
def med(runs,k):
    v=[o.get(k) for _,o,_ in runs if o.get(k) is not None]
    return (statistics.median(v), min(v), max(v)) if v else None
keys=sorted(news[0][1], key=lambda k:(k[2]!='ShardMap',k[0].startswith('G-'),k[0],k[1]))
print("\n| map | scenario | threads | old (median of %d) | new (median of %d, min-max) |" % (len(olds),len(news)))
print("|---|---|---:|---:|---:|")
for k in keys:
    if k[0].startswith('G-'): continue
    o=med(olds,k); n=med(news,k)
    print(f"| {k[2]} | {k[0]} | {k[1]} | {o[0]:.2f}x | {n[0]:.2f}x ({n[1]:.2f}-{n[2]:.2f}) |")
# Go shapes geometric mean of ratio to best peer per map and thread count
print("\nGo shapes, geometric mean over the 24 shapes of the ratio to the best Rust peer (median run):")
for name in ('ShardMap','AtomicPtrMap'):
    for t in (1,2,4):
        for label,runs in (('old',olds),('new',news)):
            vals=[]
            for k in keys:
                if k[0].startswith('G-') and k[2]==name and k[1]==t:
                    m=med(runs,k)
                    if m and m[0]>0: vals.append(m[0])
            if vals:
                g=math.exp(sum(math.log(x) for x in vals)/len(vals))
                print(f"  {name} {t}t {label}: geomean {g:.2f}x, worst {min(vals):.2f}x, shapes >=1: {sum(v>=1 for v in vals)}/{len(vals)}")
print("\nC6 writer impact % (median):")
for t in (1,2,4):
    for name in ('ShardMap','AtomicPtrMap','scc::HashMap','dashmap','papaya'):
        o=[c.get((t,name)) for _,_,c in olds if c.get((t,name)) is not None]
        n=[c.get((t,name)) for _,_,c in news if c.get((t,name)) is not None]
        if n: print(f"  {t}t {name}: old {statistics.median(o):.1f}%  new {statistics.median(n):.1f}% ({min(n):.1f}-{max(n):.1f})")
