#!/usr/bin/env python3
"""Markdown tables from one or more crisis-suite runs (results.json files).

    python3 scripts/crisis_table.py run1/results.json run2/results.json run3/results.json

For every scenario, thread count and map it prints the median over the runs
of the headline figure and of the ratio to the best peer, where each ratio
was taken within its own run (never across runs). The header names each
run's machine, CPU model, commit and date, so a table never mixes runs
without saying so.
"""
import json
import statistics
import sys
from collections import defaultdict


def fmt_headline(value, unit):
    if value is None:
        return "-"
    if unit == "ops_per_s":
        return f"{value / 1e6:.2f}M"
    if unit.endswith("_ns"):
        return f"{value / 1e3:.1f} µs" if value >= 1e3 else f"{value:.0f} ns"
    return f"{value:.3g}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    print(f"{len(runs)} run(s):\n")
    for p, r in zip(paths, runs):
        m = r.get("machine", {})
        print(
            f"- `{p}`: {r.get('date')}, commit {r.get('commit')}"
            f"{' (dirty)' if r.get('dirty') else ''}, profile {r.get('profile')}, "
            f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, load at start {m.get('load_average_at_start', '?')}"
        )
    print()
    # (scenario key) -> (threads, map name) -> [(headline, ratio)]
    table = defaultdict(lambda: defaultdict(list))
    meta = {}
    order = []
    for r in runs:
        for s in r["scenarios"]:
            key = s["key"]
            if key not in meta:
                meta[key] = (s.get("title", ""), s.get("headline", ""), s.get("higher_is_better", True))
                order.append(key)
            for row in s.get("rows", []):
                if row.get("status") != "ok":
                    continue
                fig = row.get("figures", {})
                table[key][(row.get("threads"), row["name"], row.get("ours", False))].append(
                    (fig.get(s.get("headline")), row.get("vs_best_peer"))
                )
    for key in order:
        title, unit, hib = meta[key]
        print(f"### {key} {title}\n")
        print(f"| threads | map | {unit} (median) | vs best peer (median of per-run ratios) | runs |")
        print("|---:|---|---:|---:|---:|")
        for (threads, name, ours), vals in sorted(
            table[key].items(), key=lambda kv: (kv[0][0] or 0, not kv[0][2], kv[0][1])
        ):
            heads = [v for v, _ in vals if v is not None]
            ratios = [q for _, q in vals if q is not None]
            h = statistics.median(heads) if heads else None
            q = statistics.median(ratios) if ratios else None
            star = " *" if ours else ""
            qs = f"{q:.2f}x" if q is not None else "-"
            if ratios and len(ratios) > 1:
                qs += f" ({min(ratios):.2f}-{max(ratios):.2f})"
            print(f"| {threads if threads is not None else '-'} | {name}{star} | {fmt_headline(h, unit)} | {qs} | {len(vals)} |")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
