#!/usr/bin/env python3
"""report.py: turns one run of ci/bench into a table, a verdict and plots; compares two runs.

A run directory (bench/runs/<date>-<host>/) holds, per allocator NAME, NAME.json for round 1
and NAME.rK.json for round K (google-benchmark output: one measurement per benchmark, or the
aggregates of several repetitions), memory-NAME.json (pymt_bench --memory), status.txt
("NAME ok|unavailable|failed") and run.txt (command, commit, machine). summary.json carries
the same figures in one file; a published summary (bench/results/) has only that one.

  report.py clean FILE.json        drop machine paths from a google-benchmark file
  report.py summary RUN            write RUN/summary.json
  report.py table RUN [OUT.md]     Markdown: every benchmark with its spread, then the verdict
  report.py plot RUN               gnuplot PNG and SVG: ratios to glibc, thread scaling, memory
  report.py publish RUN DEST       summary, table and plots of RUN into DEST (bench/results)
  report.py compare OLD NEW        per benchmark and allocator, new/old, flagged beyond spread

How to read the figures. Each round runs every allocator's process once, one after the
other (ci/bench rotates the order from round to round), so a change in the machine's load
falls on all columns alike over the run. A figure is the median over the rounds and its
spread is the lowest and highest round. A ratio is taken round by round, between the two
processes of the same round, and its median and spread are those of the per-round ratios.
pymt against the fastest peer (the peer with the highest median among mimalloc, jemalloc and
tcmalloc) is "faster" only when pymt was ahead in every round, "slower" only when it was
behind in every round, and otherwise "within noise": a sign test, which with 6 rounds calls
two equal allocators different 3% of the time. Python 3 standard library only.
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

ALLOCATORS = ["pymt", "pymt-notcache", "pymt-debug", "pymt-preload", "glibc", "mimalloc",
              "jemalloc", "tcmalloc"]
BASE = "glibc"
PEERS = ["mimalloc", "jemalloc", "tcmalloc"]
# Columns of the table after glibc: the contenders first, then pymt's slower modes.
TABLE_COLS = ["pymt", "pymt-preload", "mimalloc", "jemalloc", "tcmalloc", "pymt-notcache",
              "pymt-debug"]
# Allocators in the plots: pymt's slower modes would squash everything else against the axis.
PLOT_ALLOCS = ["pymt", "pymt-preload", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
SHORT = {"pymt": "pymt", "pymt-notcache": "notcache", "pymt-debug": "debug",
         "pymt-preload": "preload", "glibc": "glibc", "mimalloc": "mimalloc",
         "jemalloc": "jemalloc", "tcmalloc": "tcmalloc"}
LABEL = {"pymt": "pymt", "pymt-notcache": "pymt PYMT_TCACHE=0", "pymt-debug": "pymt debug",
         "pymt-preload": "pymt as drop-in malloc", "glibc": "glibc", "mimalloc": "mimalloc",
         "jemalloc": "jemalloc", "tcmalloc": "tcmalloc"}

# The rows of the verdict and of the summary chart, when the run has them: one or two thread
# counts per workload, the ones a 2-core machine can run without oversubscription (and
# producer/consumer's and larson's larger counts, which are about many threads).
HEADLINE = [
    "BM_HotPair/32/threads:1", "BM_HotPair/32/threads:2",
    "BM_Churn/1000/threads:1", "BM_Churn/1000/threads:2",
    "BM_Churn/100000/threads:1", "BM_Churn/100000/threads:2",
    "BM_Objects/1000/threads:1",
    "BM_ProdCons/1/threads:2", "BM_ProdCons/4/threads:8",
    "BM_ReallocString/4096/threads:1",
    "BM_Larson/threads:8",
]


# ---- loading a run ---------------------------------------------------------------------------

def parse_benchmarks(data):
    """{bench: {value, wall, sd, threads}} of one google-benchmark file: value is the one
    measurement, or the median of the repetitions when there were several (sd their spread)."""
    benches = {}
    for b in data.get("benchmarks", []):
        if "items_per_second" not in b or b.get("error_occurred"):
            continue
        name = b["run_name"].replace("/real_time", "")
        entry = benches.setdefault(name, {"threads": b.get("threads", 1)})
        if b.get("run_type") == "aggregate":
            key = {"median": "value", "stddev": "sd"}.get(b["aggregate_name"])
            if key:
                entry[key] = b["items_per_second"]
                if key == "value" and "wall_items_per_second" in b:
                    entry["wall"] = b["wall_items_per_second"]
        else:
            entry["value"] = b["items_per_second"]
            if "wall_items_per_second" in b:
                entry["wall"] = b["wall_items_per_second"]
    return {n: e for n, e in benches.items() if e.get("value")}


def read_run_txt(run):
    info = {}
    path = os.path.join(run, "run.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info[k.strip()] = v.strip()
    return info


def load_raw(run):
    """The run's figures from its google-benchmark files (None when it has none)."""
    results, memory, context, status = {}, {}, {}, {}
    path = os.path.join(run, "status.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split(None, 1)
                if len(parts) == 2:
                    status[parts[0]] = parts[1].strip()
    # round 1 is NAME.json, round K is NAME.rK.json; an allocator that died has fewer
    last = 1
    for fn in os.listdir(run):
        m = re.match(r"^(.+)\.r(\d+)\.json$", fn)
        if m and m.group(1) in ALLOCATORS:
            last = max(last, int(m.group(2)))
    nrounds = 0
    for alloc in ALLOCATORS:
        rounds = []  # rounds[k] = parsed file of round k+1, or None
        for k in range(1, last + 1):
            p = os.path.join(run, alloc + (".json" if k == 1 else ".r%d.json" % k))
            if not os.path.exists(p):
                rounds.append(None)
                continue
            with open(p) as f:
                data = json.load(f)
            if not context:
                context = data.get("context", {})
            rounds.append(parse_benchmarks(data))
        while rounds and rounds[-1] is None:
            rounds.pop()
        if any(r is not None for r in rounds):
            nrounds = max(nrounds, len(rounds))
            results[alloc] = {}
            for r, parsed in enumerate(rounds):
                for name, e in (parsed or {}).items():
                    ent = results[alloc].setdefault(
                        name, {"threads": e["threads"], "rounds": [], "wall": [], "sd": []})
                    while len(ent["rounds"]) < r:
                        ent["rounds"].append(None)
                        ent["wall"].append(None)
                        ent["sd"].append(None)
                    ent["rounds"].append(e["value"])
                    ent["wall"].append(e.get("wall"))
                    ent["sd"].append(e.get("sd"))
        p = os.path.join(run, "memory-" + alloc + ".json")
        if os.path.exists(p):
            with open(p) as f:
                memory[alloc] = json.load(f)
    if not results and not memory:
        return None
    return {"run": os.path.basename(os.path.normpath(run)), "context": context,
            "status": status, "info": read_run_txt(run), "rounds": nrounds,
            "results": results, "memory": memory}


def load_run(run):
    """A run: from its raw files when it has them, else from its summary.json."""
    raw = load_raw(run)
    if raw is not None:
        return finish(raw)
    path = os.path.join(run, "summary.json")
    if not os.path.exists(path):
        sys.exit("report.py: %s has neither benchmark files nor summary.json" % run)
    with open(path) as f:
        return finish(json.load(f))


def finish(run):
    """Adds median, lo, hi, stddev to every entry of run['results']."""
    for per in run["results"].values():
        for e in per.values():
            vals = [v for v in e["rounds"] if v]
            e["median"] = statistics.median(vals) if vals else None
            e["lo"], e["hi"] = (min(vals), max(vals)) if vals else (None, None)
            walls = [w for w in e.get("wall", []) if w]
            e["wall_median"] = statistics.median(walls) if walls else None
            # for compare: the spread within the rounds' repetitions plus between the rounds
            within = [s * s for s in e.get("sd", []) if s]
            var = (statistics.mean(within) if within else 0.0) + (
                statistics.pvariance(vals) if len(vals) > 1 else 0.0)
            e["stddev"] = math.sqrt(var)
    return run


def bench_order(results):
    """Benchmark names in registration order, taken from whichever column has most."""
    names = []
    for alloc in ALLOCATORS:
        for n in results.get(alloc, {}):
            if n not in names:
                names.append(n)
    return names


def ratio(results, a, b, name):
    """(median, lo, hi, n) of the per-round ratios a/b for one benchmark, or None."""
    ea, eb = results.get(a, {}).get(name), results.get(b, {}).get(name)
    if not ea or not eb:
        return None
    rs = [x / y for x, y in zip(ea["rounds"], eb["rounds"]) if x and y]
    if not rs:
        return None
    return statistics.median(rs), min(rs), max(rs), len(rs)


def fastest_peer(results, name):
    best = None
    for p in PEERS:
        e = results.get(p, {}).get(name)
        if e and e["median"] and (best is None or e["median"] > results[best][name]["median"]):
            best = p
    return best


def verdict(results, name):
    """(peer, (median, lo, hi, n), word) of pymt against the fastest peer, or None."""
    peer = fastest_peer(results, name)
    if peer is None:
        return None
    r = ratio(results, "pymt", peer, name)
    if r is None:
        return None
    med, lo, hi, n = r
    if n < 2:
        word = "one round, no spread"
    elif lo > 1.0:
        word = "faster"
    elif hi < 1.0:
        word = "slower"
    else:
        word = "within noise"
    return peer, r, word


# ---- names ---------------------------------------------------------------------------------

def split_threads(name):
    m = re.match(r"^(.*)/threads:(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, 1)


def human_count(n):
    n = int(n)
    for div, suffix in ((1000000, "M"), (1000, "k")):
        if n >= div and n % div == 0:
            return "%d%s" % (n // div, suffix)
    return str(n)


def human_bytes(n):
    n = int(n)
    return "%d KiB" % (n // 1024) if n >= 1024 and n % 1024 == 0 else "%d B" % n


def workload_title(w):
    """A readable title for a benchmark name without its thread count."""
    parts = w.split("/")
    head, arg = parts[0], (parts[1] if len(parts) > 1 else None)
    if head == "BM_HotPair":
        return "hot pair, %s malloc+free" % human_bytes(arg)
    if head == "BM_HotPairKeep":
        return "hot pair, %s, one block kept live" % human_bytes(arg)
    if head == "BM_Churn":
        return "churn, %s live objects" % human_count(arg)
    if head == "BM_Objects":
        return "object family, %s live objects" % human_count(arg)
    if head == "BM_ProdCons":
        return "producer/consumer pairs"
    if head == "BM_ReallocString":
        return "string growth by realloc to %s" % human_bytes(arg)
    if head == "BM_ReallocList":
        return "list growth by realloc to %s" % human_bytes(arg)
    if head == "BM_Larson":
        return "larson: server with thread turnover"
    return w


def row_title(name):
    """A short readable name of one benchmark, thread count included."""
    w, t = split_threads(name)
    parts = w.split("/")
    head, arg = parts[0], (parts[1] if len(parts) > 1 else None)
    if head == "BM_ProdCons":
        return "producer/consumer %s:%s" % (arg, arg)
    short = {"BM_HotPair": "hot pair %s" % (arg and human_bytes(arg)),
             "BM_HotPairKeep": "hot pair %s, one kept live" % (arg and human_bytes(arg)),
             "BM_Churn": "churn, %s live objects" % (arg and human_count(arg)),
             "BM_Objects": "object family, %s live" % (arg and human_count(arg)),
             "BM_ReallocString": "realloc growth to %s" % (arg and human_bytes(arg)),
             "BM_ReallocList": "list growth to %s" % (arg and human_bytes(arg)),
             "BM_Larson": "larson"}.get(head, w)
    return "%s, %d thread%s" % (short, t, "" if t == 1 else "s")


def headline_rows(results):
    names = bench_order(results)
    rows = [n for n in HEADLINE if n in names]
    return rows or names


# ---- formatting ----------------------------------------------------------------------------

def fmt_rate(x):
    return "%.1f" % (x / 1e6) if x else "n/a"


def fmt_ratio(x):
    if x is None:
        return "n/a"
    if x >= 10:
        return "%.1f" % x
    if x >= 0.1:
        return "%.2f" % x
    return "%.3f" % x


def fmt_ratio_cell(r):
    if r is None:
        return "n/a"
    med, lo, hi, n = r
    if n < 2:
        return fmt_ratio(med) + "x"
    return "%sx (%s-%s)" % (fmt_ratio(med), fmt_ratio(lo), fmt_ratio(hi))


def fmt_rate_cell(e):
    if not e or not e.get("median"):
        return "n/a"
    vals = [v for v in e["rounds"] if v]
    if len(vals) < 2:
        return fmt_rate(e["median"])
    return "%s (%s-%s)" % (fmt_rate(e["median"]), fmt_rate(e["lo"]), fmt_rate(e["hi"]))


def describe(run):
    """The lines that say where, when and how a run was made."""
    ctx, info = run["context"], run.get("info", {})
    lines = []
    when = info.get("date") or ctx.get("date", "?")
    lines.append("Run %s, %s; command `%s`; commit %s." % (
        run["run"], when, info.get("command", "ci/bench"), info.get("commit", "?")))
    load = ctx.get("load_avg", [])
    lines.append("Machine: %s; %s CPUs at %s MHz; %s; load average at the start %s." % (
        info.get("cpu", "?"), ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"),
        info.get("system", "?"), " ".join("%.2f" % x for x in load) or "?"))
    n = run["rounds"]
    lines.append("%d round%s: each round ran every allocator's benchmark process once, one "
                 "after another%s. Figures are M items/s, the median over the rounds with "
                 "the lowest and highest round in brackets; a ratio is taken between the two "
                 "processes of the same round, then the median and range of those ratios. "
                 "%s" % (n, "" if n == 1 else "s",
                         "" if n == 1 else ", the order rotated from round to round",
                         info.get("measure", "")))
    missing = [a for a in ALLOCATORS if a not in run["results"]]
    if missing:
        lines.append("Unavailable or failed: %s." % ", ".join(
            "%s (%s)" % (a, run["status"].get(a, "no result")) for a in missing))
    return lines


def cmd_table(path, out=None):
    run = load_run(path)
    results, memory = run["results"], run["memory"]
    lines = ["# pymt benchmark: %s" % run["run"], ""]
    lines += describe(run)
    lines.append("")
    cols = [a for a in TABLE_COLS if a in results and a != "pymt"]
    head = (["benchmark", "glibc M/s", "pymt M/s", "pymt/glibc"] +
            ["%s/glibc" % SHORT[a] for a in cols] + ["pymt vs fastest peer"])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 2) + ["---"]) + "|")
    base = results.get(BASE, {})
    for name in bench_order(results):
        row = [row_title(name), fmt_rate_cell(base.get(name)),
               fmt_rate_cell(results.get("pymt", {}).get(name)),
               fmt_ratio_cell(ratio(results, "pymt", BASE, name))]
        row += [fmt_ratio_cell(ratio(results, a, BASE, name)) for a in cols]
        v = verdict(results, name)
        row.append("%s %s: %s" % (fmt_ratio_cell(v[1]), v[0], v[2]) if v else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    if memory:
        lines.append("")
        lines.append("Memory (one process per allocator): live blocks of %s bytes; resident set "
                     "in MiB above the baseline taken before the first block; per object = "
                     "(peak - baseline) / blocks; after trim = after the allocator's own trim "
                     "call." % next(iter(memory.values())).get("size"))
        lines.append("")
        lines.append("| allocator | blocks | bytes/object | overhead/object | peak | "
                     "after free | after trim | trim call |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        mib = 1024.0 * 1024.0
        for a in ALLOCATORS:
            m = memory.get(a)
            if not m:
                continue
            b0 = m["rss_baseline"]
            lines.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s |" % (
                a, m["count"], m["bytes_per_object"], m["overhead_per_object"],
                (m["rss_peak"] - b0) / mib, (m["rss_after_free"] - b0) / mib,
                (m["rss_after_trim"] - b0) / mib, m["trim_call"] or "none"))
    if os.path.exists(os.path.join(path, "throughput.png")):
        lines.append("")
        lines.append("![throughput](throughput.png) ![memory](memory.png) "
                     "(also [throughput.svg](throughput.svg), [memory.svg](memory.svg))")
    lines.append("")
    lines += verdict_lines(run)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


def verdict_lines(run):
    results = run["results"]
    lines = ["## Verdict: pymt against the fastest peer", "",
             "Fastest peer: the highest median among %s in that row. faster / slower: pymt "
             "was ahead / behind in every round; within noise: the rounds disagree." % (
                 ", ".join(p for p in PEERS)), "",
             "| workload | pymt M/s | fastest peer | peer M/s | pymt / peer | verdict |",
             "|---|---:|---|---:|---:|---|"]
    counts = {}
    for name in headline_rows(results):
        v = verdict(results, name)
        if not v:
            continue
        peer, r, word = v
        counts[word] = counts.get(word, 0) + 1
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            row_title(name), fmt_rate_cell(results["pymt"].get(name)), peer,
            fmt_rate_cell(results[peer].get(name)), fmt_ratio_cell(r), word))
    lines.append("")
    lines.append("pymt against the fastest peer: " + ", ".join(
        "%s %d" % (w, counts[w]) for w in ("faster", "slower", "within noise",
                                           "one round, no spread") if w in counts) + ".")
    return lines


def cmd_summary(path):
    raw = load_raw(path)
    if raw is None:
        sys.exit("report.py: no benchmark files in %s" % path)
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- plots ---------------------------------------------------------------------------------

def panel_of(name):
    """The plot panel of a benchmark: its name without the thread count; the producer/consumer
    pairs (1:1 on 2 threads, 4:4 on 8) share one panel."""
    w, t = split_threads(name)
    if w.startswith("BM_ProdCons/"):
        return "BM_ProdCons (1:1, 4:4)", t
    return w, t


# Line colours and point types per allocator: the pymt columns in one family of hues.
STYLE = {"pymt": ("#7b2fbf", 7), "pymt-notcache": ("#3aa655", 5), "pymt-debug": ("#6fa8dc", 3),
         "pymt-preload": ("#c51b8a", 11), "glibc": ("#000000", 4), "mimalloc": ("#e69f00", 9),
         "jemalloc": ("#0060c0", 6), "tcmalloc": ("#d01c1c", 13)}


def gp_quote(s):
    return '"' + s.replace('"', "'") + '"'


def cmd_plot(run):
    path = run
    r = load_run(run)
    results, memory = r["results"], r["memory"]
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



# ---- publishing and comparing --------------------------------------------------------------

def cmd_publish(path, dest):
    """Copies what the README shows (table, plots) and summary.json into dest."""
    os.makedirs(dest, exist_ok=True)
    if load_raw(path) is not None:
        cmd_summary(path)
    for fn in ("summary.json", "throughput.png", "throughput.svg", "memory.png", "memory.svg"):
        src = os.path.join(path, fn)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(dest, fn))
    saved = sys.stdout
    sys.stdout = open(os.devnull, "w")
    try:
        cmd_table(path, os.path.join(dest, "latest.md"))
    finally:
        sys.stdout.close()
        sys.stdout = saved


def cmd_compare(old, new):
    ro_run, rn_run = load_run(old), load_run(new)
    ro, rn = ro_run["results"], rn_run["results"]
    print("%-40s %-14s %10s %10s %8s %9s  %s" % (
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
            change = n["median"] / o["median"]
            # Beyond the spread: the difference exceeds twice the combined standard deviation
            # of the two (repetitions and rounds), and 2%, below which nothing here resolves.
            sd = math.sqrt(o["stddev"] ** 2 + n["stddev"] ** 2)
            diff = n["median"] - o["median"]
            word = "same"
            if abs(diff) > 2 * sd and abs(change - 1) > 0.02:
                word = "faster" if diff > 0 else "slower"
            counts[word] += 1
            rel = ""
            go, gn = ro.get(BASE, {}).get(name), rn.get(BASE, {}).get(name)
            if alloc != BASE and go and gn and go.get("median") and gn.get("median"):
                rel = "%.3f" % ((n["median"] / gn["median"]) / (o["median"] / go["median"]))
            print("%-40s %-14s %10s %10s %8.3f %9s  %s" % (
                name, alloc, fmt_rate(o["median"]), fmt_rate(n["median"]), change, rel,
                "" if word == "same" else word.upper()))
    print("faster: %d, slower: %d, within spread: %d (old %s, new %s; M items/s; 'vs glibc' is "
          "the change of the ratio to glibc)" % (
              counts["faster"], counts["slower"], counts["same"],
              ro_run["run"], rn_run["run"]))


def cmd_clean(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data.get("context", {})
    if "executable" in ctx:
        ctx["executable"] = os.path.basename(ctx["executable"])
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when piped into head
    if len(argv) >= 3 and argv[1] == "clean":
        cmd_clean(argv[2])
    elif len(argv) == 3 and argv[1] == "summary":
        cmd_summary(argv[2])
    elif len(argv) in (3, 4) and argv[1] == "table":
        cmd_table(argv[2], argv[3] if len(argv) == 4 else None)
    elif len(argv) == 3 and argv[1] == "plot":
        cmd_plot(argv[2])
    elif len(argv) == 4 and argv[1] == "publish":
        cmd_publish(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "compare":
        cmd_compare(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
