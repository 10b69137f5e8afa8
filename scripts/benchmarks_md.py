#!/usr/bin/env python3
"""BENCHMARKS.md's figures, generated from ONE crisis-suite run.

    cargo bench --bench crisis -- --out target/crisis-run
    python3 scripts/benchmarks_md.py target/crisis-run/results.json > section.md
    python3 scripts/benchmarks_md.py --into BENCHMARKS.md target/crisis-run/results.json

Every figure printed comes from the one results.json given: the header names
its machine, CPU model, commit, date, load and command; the tables give each
cell's median over the run's repetitions, the repetition spread, and the
ratio to the best peer taken within that run. Nothing is carried over from
another run or machine, so a section can always be reproduced by re-running
its command on a similar machine.

With --into FILE, the section replaces the text between the markers
`<!-- generated:begin -->` and `<!-- generated:end -->` in FILE (they are
added at the top, after the first heading, if missing). Hand-written prose
that interprets the figures goes outside the markers; older runs are moved
by hand into their own dated sections.
"""
import json
import statistics
import sys

BEGIN = "<!-- generated:begin (scripts/benchmarks_md.py; do not edit by hand) -->"
END = "<!-- generated:end -->"


def fmt(value, unit):
    if value is None:
        return "-"
    if "ops_per_s" in unit:
        return f"{value / 1e6:.2f}M/s"
    if unit.endswith("_ns") or unit == "ns_per_op":
        if value >= 1e6:
            return f"{value / 1e6:.2f} ms"
        if value >= 1e3:
            return f"{value / 1e3:.1f} µs"
        return f"{value:.1f} ns"
    if unit == "bytes_per_entry":
        return f"{value:.1f} B"
    return f"{value:.3g}"


def ratio(q):
    return "-" if q is None else f"{q:.2f}x"


def spread(fig, unit):
    """Max-min over the median of the repetitions, in percent."""
    lo, hi, mid = fig.get(unit + "_min_rep"), fig.get(unit + "_max_rep"), fig.get(unit)
    if lo is None or hi is None or not mid:
        return "-"
    return f"{100 * (hi - lo) / mid:.0f}%"


def header(r, path):
    m = r.get("machine", {})
    p = r.get("params", {})
    lines = [
        f"### Run of {r.get('date')}, commit `{r.get('commit')}`{' (dirty tree)' if r.get('dirty') else ''}",
        "",
        f"- Command: `{r.get('command')}` (results: `{path}`)",
        f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('os', '?')}",
        f"- Load average at start / end: {m.get('load_average_at_start', '?')} / {m.get('load_average_at_end', '?')}",
        f"- Profile: {r.get('profile')}, {p.get('reps', '?')} repetitions per cell, "
        f"{p.get('entries', '?')} entries, {p.get('duration_ms', '?')} ms per repetition, "
        f"threads {p.get('threads', '?')}; {r.get('seconds', 0):.0f} s in all",
        f"- Hasher: {p.get('hasher', '?')}",
    ]
    if r.get("not_a_measurement"):
        lines.append(f"- **Not a measurement:** {r['not_a_measurement']}")
    if r.get("failures"):
        lines.append(f"- Failures: {r['failures']}")
    return lines


def ours_summary(r):
    """One row per scenario and thread count: each of our maps' ratio to the best peer."""
    ours = [m["name"] for m in r.get("maps", []) if m.get("ours")]
    out = [
        "#### Our maps against the best peer (ratio within this run; >1 = ours better)",
        "",
        "| scenario | threads | " + " | ".join(ours) + " | best peer |",
        "|---|---:|" + "---:|" * len(ours) + "---|",
    ]
    for s in r["scenarios"]:
        if s["key"].startswith("G-"):
            continue
        unit, hib = s["headline"], s.get("higher_is_better", True)
        by_t = {}
        for row in s.get("rows", []):
            if row.get("status") == "ok":
                by_t.setdefault(row.get("threads"), []).append(row)
        for t, rows in sorted(by_t.items(), key=lambda kv: kv[0] or 0):
            peers = [x for x in rows if not x.get("ours") and x["figures"].get(unit) is not None]
            best = None
            if peers:
                pick = max if hib else min
                best = pick(peers, key=lambda x: x["figures"][unit])
            cells = []
            for name in ours:
                row = next((x for x in rows if x["name"] == name), None)
                cells.append(ratio(row.get("vs_best_peer")) if row else "-")
            b = f"{best['name']} ({fmt(best['figures'][unit], unit)})" if best else "-"
            out.append(f"| {s['key']} | {t if t is not None else '-'} | " + " | ".join(cells) + f" | {b} |")
    return out


def go_shapes(r):
    rows_out = []
    shapes = [s for s in r["scenarios"] if s["key"].startswith("G-")]
    if not shapes:
        return rows_out
    ours = [m["name"] for m in r.get("maps", []) if m.get("ours")]
    ref = r.get("go_reference") or {}
    rows_out += [
        "#### Go's sync.Map benchmark shapes (ns/op, median of the repetitions)",
        "",
        "Ratio = best peer's ns/op over ours (>1 = ours faster).",
    ]
    if ref.get("provenance"):
        rows_out.append(f"Go reference columns: {ref['provenance']}")
    if ref.get("cpu_warning"):
        rows_out.append(f"**{ref['cpu_warning']}**")
    # Go's ns/op by column label, shape (Go's name) and GOMAXPROCS.
    columns = [c for c in ref.get("columns", []) if c.get("ns_per_op")]
    go_cols = [c["label"] for c in columns]
    rows_out += [
        "",
        "| shape | threads | " + " | ".join(f"{n} ns/op (ratio)" for n in ours)
        + " | best peer | " + " | ".join(go_cols) + (" |" if go_cols else "|"),
        "|---|---:|" + "---:|" * len(ours) + "---|" + "---:|" * len(go_cols),
    ]
    for s in shapes:
        by_t = {}
        for row in s.get("rows", []):
            if row.get("status") == "ok":
                by_t.setdefault(row.get("threads"), []).append(row)
        for t, rows in sorted(by_t.items(), key=lambda kv: kv[0] or 0):
            cells = []
            for name in ours:
                row = next((x for x in rows if x["name"] == name), None)
                if row is None:
                    cells.append("-")
                else:
                    cells.append(f"{fmt(row['figures'].get('ns_per_op'), 'ns_per_op')} ({ratio(row.get('vs_best_peer'))})")
            peers = [x for x in rows if not x.get("ours") and x["figures"].get("ns_per_op") is not None]
            best = min(peers, key=lambda x: x["figures"]["ns_per_op"]) if peers else None
            b = f"{best['name']} {fmt(best['figures']['ns_per_op'], 'ns_per_op')}" if best else "-"
            shape = s["key"][2:]
            g = [fmt((c["ns_per_op"].get(shape) or {}).get(str(t)), "ns_per_op") for c in columns]
            rows_out.append(
                f"| {s['title']} | {t} | " + " | ".join(cells) + f" | {b} |" + ("".join(f" {x} |" for x in g))
            )
    return rows_out


def scenario_tables(r):
    out = ["#### Every map, every cell", ""]
    for s in r["scenarios"]:
        if s["key"].startswith("G-"):
            continue
        unit = s["headline"]
        out += [
            f"##### {s['key']} {s.get('title', '')}: {unit} ({'higher' if s.get('higher_is_better', True) else 'lower'} is better)",
            "",
            f"| threads | map | {unit} (median) | spread over reps | vs best peer |",
            "|---:|---|---:|---:|---:|",
        ]
        for row in sorted(
            (x for x in s.get("rows", []) if x.get("status") == "ok"),
            key=lambda x: (x.get("threads") or 0, not x.get("ours"), x["name"]),
        ):
            f = row.get("figures", {})
            star = " *" if row.get("ours") else ""
            out.append(
                f"| {row.get('threads') if row.get('threads') is not None else '-'} | {row['name']}{star} | "
                f"{fmt(f.get(unit), unit)} | {spread(f, unit)} | {ratio(row.get('vs_best_peer'))} |"
            )
        skipped = [x for x in s.get("rows", []) if x.get("status") != "ok"]
        for x in skipped:
            out.append(f"| {x.get('threads')} | {x['name']} | {x.get('status')}: {x.get('error') or ''} | | |")
        out.append("")
    return out


def verdict(r):
    v = r.get("verdict")
    if not v:
        return []
    out = ["#### The suite's verdict for this run", ""]
    for fam in v:
        out.append(f"- **{fam.get('family')}**: use {fam.get('use_of_ours', '-')}")
        for f in fam.get("findings", []):
            out.append(f"  - {f}")
    out.append("")
    return out


def section(path):
    r = json.load(open(path))
    lines = [BEGIN, ""] + header(r, path) + [""] + verdict(r) + ours_summary(r) + [""]
    lines += go_shapes(r) + [""] + scenario_tables(r) + [END]
    return "\n".join(lines) + "\n"


def main(argv):
    into = None
    if len(argv) >= 2 and argv[0] == "--into":
        into, argv = argv[1], argv[2:]
    if len(argv) != 1:
        sys.exit(__doc__)
    text = section(argv[0])
    if into is None:
        sys.stdout.write(text)
        return
    doc = open(into).read()
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + text.rstrip("\n") + tail
    else:
        first, _, body = doc.partition("\n")
        doc = first + "\n\n" + text + "\n" + body
    open(into, "w").write(doc)


if __name__ == "__main__":
    main(sys.argv[1:])
