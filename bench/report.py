#!/usr/bin/env python3
"""report.py: turns one run of ci/bench into a table and plots, and compares two runs.

A run directory (bench/results/<date>-<host>/) holds, per allocator NAME, NAME.json (the
google-benchmark output with repetitions aggregated: median, mean, stddev, cv) and
memory-NAME.json (pymt_bench --memory), plus status.txt ("NAME ok|unavailable|failed").

  report.py clean FILE.json        drop machine paths from a google-benchmark file
  report.py table RUN [OUT.md]     Markdown: pymt throughput and every column's ratio to glibc
  report.py plot RUN               gnuplot PNG and SVG: throughput against threads, memory bars
  report.py compare OLD NEW        per benchmark and allocator, new/old, flagged beyond spread

Python 3 standard library only. Ratios are only taken within one run (same machine, same
binary, processes run one after the other), never across runs; compare shows both the raw
change and the change of the ratio to glibc, which cancels most of a machine's drift.
"""
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys

ALLOCATORS = ["pymt", "pymt-notcache", "pymt-debug", "pymt-harden", "pymt-preload", "glibc",
              "mimalloc", "jemalloc", "tcmalloc"]
BASE = "glibc"


def load_run(run):
    """{alloc: {bench: {median, stddev, cv, threads}}}, {alloc: memory dict}, context, status."""
    results, memory, context, status = {}, {}, {}, {}
    path = os.path.join(run, "status.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    status[parts[0]] = parts[1].strip()
    for alloc in ALLOCATORS:
        # NAME.json, then NAME.r2.json, NAME.r3.json... when ci/bench ran several rounds.
        paths = [os.path.join(run, alloc + ".json")]
        r = 2
        while os.path.exists(os.path.join(run, "%s.r%d.json" % (alloc, r))):
            paths.append(os.path.join(run, "%s.r%d.json" % (alloc, r)))
            r += 1
        rounds = []
        for path in paths:
            if not os.path.exists(path):
                continue
            with open(path) as f:
                data = json.load(f)
            if not context:
                context = data.get("context", {})
            rounds.append(parse_benchmarks(data))
        if rounds:
            results[alloc] = merge_rounds(rounds)
        path = os.path.join(run, "memory-" + alloc + ".json")
        if os.path.exists(path):
            with open(path) as f:
                memory[alloc] = json.load(f)
    return results, memory, context, status


def parse_benchmarks(data):
    """{bench: {median, mean, stddev, cv, wall_median..., threads}} of one google-benchmark file."""
    benches = {}
    for b in data.get("benchmarks", []):
        if "items_per_second" not in b or b.get("error_occurred"):
            continue
        name = b["run_name"].replace("/real_time", "")
        entry = benches.setdefault(name, {"threads": b.get("threads", 1)})
        if b.get("run_type") == "aggregate":
            entry[b["aggregate_name"]] = b["items_per_second"]
            if "wall_items_per_second" in b:
                entry["wall_" + b["aggregate_name"]] = b["wall_items_per_second"]
        else:  # a run without repetitions: its one figure is the median
            entry["median"] = b["items_per_second"]
            if "wall_items_per_second" in b:
                entry["wall_median"] = b["wall_items_per_second"]
    return benches


def merge_rounds(rounds):
    """One set of figures from several rounds (processes run at different times): the median
    of the rounds' medians; the spread adds the within-round and between-round variances."""
    if len(rounds) == 1:
        return rounds[0]
    merged = {}
    for name in rounds[0]:
        entries = [r[name] for r in rounds if name in r and r[name].get("median")]
        if not entries:
            continue
        meds = sorted(e["median"] for e in entries)
        med = statistics.median(meds)
        within = statistics.mean([e.get("stddev", 0.0) ** 2 for e in entries])
        between = statistics.pvariance(meds) if len(meds) > 1 else 0.0
        sd = math.sqrt(within + between)
        out = {"threads": entries[0]["threads"], "median": med, "stddev": sd,
               "cv": sd / med if med else 0.0, "rounds": len(entries)}
        walls = [e["wall_median"] for e in entries if "wall_median" in e]
        if walls:
            out["wall_median"] = statistics.median(walls)
        merged[name] = out
    return merged


def bench_order(results):
    """Benchmark names in registration order, taken from whichever column has most."""
    names = []
    for alloc in ALLOCATORS:
        for n in results.get(alloc, {}):
            if n not in names:
                names.append(n)
    return names


def fmt_rate(x):
    return "%.1f M/s" % (x / 1e6) if x is not None else "n/a"


def cmd_clean(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data.get("context", {})
    if "executable" in ctx:
        ctx["executable"] = os.path.basename(ctx["executable"])
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def cmd_table(run, out=None):
    results, memory, ctx, status = load_run(run)
    lines = []
    rel = os.path.basename(os.path.normpath(run))
    lines.append("# pymt benchmark: %s" % rel)
    lines.append("")
    mode = ctx.get("bench_mode", "?")
    load = ctx.get("load_avg", [])
    lines.append("Mode %s; %s CPUs at %s MHz; load average at the start %s; one process per "
                 "allocator, run one after another; ratios are to the glibc column of this run."
                 % (mode, ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"),
                    " ".join("%.2f" % x for x in load) or "?"))
    nrounds = max([e.get("rounds", 1) for r in results.values() for e in r.values()] or [1])
    if nrounds > 1:
        lines.append("%d rounds: every allocator's process ran %d times, interleaved; figures are "
                     "the median of the rounds, cv combines the spread within and between "
                     "rounds." % (nrounds, nrounds))
    missing = [a for a in ALLOCATORS if a not in results]
    if missing:
        lines.append("Unavailable or failed: %s." % ", ".join(
            "%s (%s)" % (a, status.get(a, "no result")) for a in missing))
    lines.append("Throughput is the median of the repetitions of google-benchmark's items_per_second "
                 "(items of all threads over the mean of the threads' timed intervals); cv is the "
                 "spread of the repetitions; 'pymt wall' is the same items over the wall-clock "
                 "time from the start barrier to the last thread's end, which is lower when "
                 "threads outnumber cores and some finish early.")
    lines.append("")
    cols = [a for a in ALLOCATORS if a in results]
    head = (["benchmark", "pymt", "pymt cv", "pymt wall", "glibc"] +
            ["%s/glibc" % a for a in cols if a != BASE])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    base = results.get(BASE, {})
    for name in bench_order(results):
        pym = results.get("pymt", {}).get(name, {})
        gl = base.get(name, {})
        row = [name, fmt_rate(pym.get("median")),
               "%.1f%%" % (100 * pym["cv"]) if "cv" in pym else "",
               fmt_rate(pym.get("wall_median")), fmt_rate(gl.get("median"))]
        for a in cols:
            if a == BASE:
                continue
            x = results[a].get(name, {}).get("median")
            g = gl.get("median")
            row.append("%.2fx" % (x / g) if x and g else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    if memory:
        lines.append("")
        lines.append("Memory: live blocks of %s bytes; resident set in MiB above the baseline "
                     "taken before the first block; per object = (peak - baseline) / blocks; "
                     "after trim = after the allocator's own trim call." % (
                         next(iter(memory.values())).get("size")))
        lines.append("")
        lines.append("| allocator | blocks | bytes/object | overhead/object | peak | "
                     "after free | after trim | trim call |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        mib = 1024.0 * 1024.0
        for a in ALLOCATORS:
            m = memory.get(a)
            if not m:
                continue
            base = m["rss_baseline"]
            lines.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s |" % (
                a, m["count"], m["bytes_per_object"], m["overhead_per_object"],
                (m["rss_peak"] - base) / mib, (m["rss_after_free"] - base) / mib,
                (m["rss_after_trim"] - base) / mib, m["trim_call"] or "none"))
    if os.path.exists(os.path.join(run, "throughput.png")):
        lines.append("")
        lines.append("Plots: [throughput](%s/throughput.svg) ![throughput](%s/throughput.png), "
                     "[memory](%s/memory.svg) ![memory](%s/memory.png)" % (rel, rel, rel, rel))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def split_threads(name):
    m = re.match(r"^(.*)/threads:(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 1)


def panel_of(name):
    """The plot panel of a benchmark: its name without the thread count; the producer/consumer
    pairs (1:1 on 2 threads, 4:4 on 8) share one panel."""
    w, t = split_threads(name)
    if w.startswith("BM_ProdCons/"):
        return "BM_ProdCons (1:1, 4:4)", t
    return w, t


# Line colours and point types per allocator: the pymt columns in one family of hues.
STYLE = {"pymt": ("#7b2fbf", 7), "pymt-notcache": ("#3aa655", 5), "pymt-debug": ("#6fa8dc", 3),
         "pymt-harden": ("#b07aa1", 2), "pymt-preload": ("#c51b8a", 11), "glibc": ("#000000", 4),
         "mimalloc": ("#e69f00", 9), "jemalloc": ("#0060c0", 6), "tcmalloc": ("#d01c1c", 13)}


def gp_quote(s):
    return '"' + s.replace('"', "'") + '"'


def cmd_plot(run):
    results, memory, _, _ = load_run(run)
    if shutil.which("gnuplot") is None:
        sys.stderr.write("report.py: gnuplot not found, no plots\n")
        return
    pdir = os.path.join(run, "plot")
    os.makedirs(pdir, exist_ok=True)
    # One panel per workload (benchmark without its thread count), one line per allocator.
    panels = []
    for name in bench_order(results):
        w, _ = panel_of(name)
        if w not in panels:
            panels.append(w)
    cols = [a for a in ALLOCATORS if a in results]
    datafiles = {}
    for i, w in enumerate(panels):
        fn = "panel%02d.dat" % i
        with open(os.path.join(pdir, fn), "w") as f:
            f.write("# %s: threads then M items/s per allocator: %s\n" % (w, " ".join(cols)))
            by_threads = {}
            for a in cols:
                for n, entry in results[a].items():
                    pw, t = panel_of(n)
                    if pw == w:
                        by_threads.setdefault(t, {})[a] = entry.get("median")
            for t in sorted(by_threads):
                vals = []
                for a in cols:
                    v = by_threads[t].get(a)
                    vals.append("%.4f" % (v / 1e6) if v else "NaN")
                f.write("%d %s\n" % (t, " ".join(vals)))
        datafiles[w] = fn
    ncols = 3
    nrows = max(1, math.ceil(len(panels) / ncols))
    gp = []
    for term, ext, size in (("pngcairo", "png", "1500,%d" % (330 * nrows)),
                            ("svg", "svg", "1500,%d" % (330 * nrows))):
        if term == "pngcairo":
            gp.append("set terminal pngcairo noenhanced size %s font ',9'" % size)
        else:
            gp.append("set terminal svg noenhanced size %s font 'sans,9'" % size)
        gp.append("set output %s" % gp_quote("../throughput." + ext))
        gp.append("set multiplot layout %d,%d title %s" % (
            nrows, ncols, gp_quote("throughput against threads (M items/s, median); "
                                   + os.path.basename(os.path.normpath(run)))))
        gp.append("set logscale x 2; set xlabel 'threads'; set ylabel 'M items/s'")
        gp.append("set xrange [0.8:10]; set xtics (1, 2, 4, 8)")
        gp.append("set key outside right top vertical font ',7' samplen 2")
        gp.append("set grid; set yrange [0:*]")
        for w in panels:
            gp.append("set title %s" % gp_quote(w))
            plots = ["%s using 1:%d with linespoints lw 1.5 lc rgb '%s' pt %d title %s" % (
                gp_quote(datafiles[w]), j + 2, STYLE[a][0], STYLE[a][1], gp_quote(a))
                for j, a in enumerate(cols)]
            gp.append("plot " + ", ".join(plots))
        gp.append("unset multiplot")
        gp.append("unset logscale x; unset xlabel; set autoscale x; set xtics autofreq")
    if memory:
        with open(os.path.join(pdir, "memory.dat"), "w") as f:
            f.write("# allocator overhead/object(bytes) peak after_free after_trim (MiB over baseline)\n")
            mib = 1024.0 * 1024.0
            for a in ALLOCATORS:
                m = memory.get(a)
                if m:
                    base = m["rss_baseline"]
                    f.write("%s %.3f %.1f %.1f %.1f\n" % (
                        a, m["overhead_per_object"], (m["rss_peak"] - base) / mib,
                        (m["rss_after_free"] - base) / mib, (m["rss_after_trim"] - base) / mib))
        m0 = next(iter(memory.values()))
        odd = ["%s %d" % (a, m["count"]) for a, m in memory.items() if m["count"] != m0["count"]]
        title = "%d live blocks of %d bytes%s" % (
            m0["count"], m0["size"], " (" + ", ".join(odd) + ")" if odd else "")
        for term, ext in (("pngcairo noenhanced size 1200,450 font ',9'", "png"),
                          ("svg noenhanced size 1200,450 font 'sans,9'", "svg")):
            gp += [
                "set terminal " + term,
                "set output %s" % gp_quote("../memory." + ext),
                "set multiplot layout 1,2 title %s" % gp_quote(title),
                "unset logscale; set grid ytics; set yrange [0:*]; set key inside top right font ',8'",
                "set style data histograms; set style histogram clustered gap 1",
                "set style fill solid 0.8 border -1; set boxwidth 0.9; set xtics rotate by -30",
                "set title 'overhead per object (bytes above the request)'; set ylabel 'bytes'",
                "plot 'memory.dat' using 2:xtic(1) title 'overhead/object'",
                "set title 'resident set above the baseline (MiB)'; set ylabel 'MiB'",
                "plot 'memory.dat' using 3:xtic(1) title 'peak', '' using 4 title 'after free',"
                " '' using 5 title 'after trim'",
                "unset multiplot",
            ]
    with open(os.path.join(pdir, "plots.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", "plots.gp"], cwd=pdir, check=True)


def cmd_compare(old, new):
    ro, _, _, _ = load_run(old)
    rn, _, _, _ = load_run(new)
    print("%-44s %-14s %10s %10s %8s %9s  %s" % (
        "benchmark", "allocator", "old", "new", "new/old", "vs glibc", "verdict"))
    counts = {"faster": 0, "slower": 0, "same": 0}
    for alloc in ALLOCATORS:
        if alloc not in ro or alloc not in rn:
            continue
        for name in bench_order(rn):
            o = ro[alloc].get(name)
            n = rn[alloc].get(name)
            if not o or not n or not o.get("median") or not n.get("median"):
                continue
            ratio = n["median"] / o["median"]
            # Beyond the spread: the difference exceeds twice the combined standard deviation
            # of the two sets of repetitions (and 2%, below which nothing here is resolvable).
            sd = math.sqrt(o.get("stddev", 0.0) ** 2 + n.get("stddev", 0.0) ** 2)
            diff = n["median"] - o["median"]
            verdict = "same"
            if abs(diff) > 2 * sd and abs(ratio - 1) > 0.02:
                verdict = "faster" if diff > 0 else "slower"
            counts[verdict] += 1
            rel = ""
            go, gn = ro.get(BASE, {}).get(name), rn.get(BASE, {}).get(name)
            if alloc != BASE and go and gn and go.get("median") and gn.get("median"):
                rel = "%.3f" % ((n["median"] / gn["median"]) / (o["median"] / go["median"]))
            print("%-44s %-14s %10s %10s %8.3f %9s  %s" % (
                name, alloc, fmt_rate(o["median"]).replace(" M/s", ""),
                fmt_rate(n["median"]).replace(" M/s", ""), ratio, rel,
                "" if verdict == "same" else verdict.upper()))
    print("faster: %d, slower: %d, within spread: %d (old %s, new %s; M items/s; 'vs glibc' is "
          "the change of the ratio to glibc)" % (
              counts["faster"], counts["slower"], counts["same"],
              os.path.basename(os.path.normpath(old)), os.path.basename(os.path.normpath(new))))


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    if len(argv) >= 3 and argv[1] == "clean":
        cmd_clean(argv[2])
    elif len(argv) in (3, 4) and argv[1] == "table":
        cmd_table(argv[2], argv[3] if len(argv) == 4 else None)
    elif len(argv) == 3 and argv[1] == "plot":
        cmd_plot(argv[2])
    elif len(argv) == 4 and argv[1] == "compare":
        cmd_compare(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
