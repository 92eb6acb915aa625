#!/usr/bin/env python3
"""report.py: turns one run of ci/bench into a table, a verdict and plots; compares two runs.

A run directory (bench/runs/<date>-<host>/) holds, per allocator NAME, NAME.json for round 1
and NAME.rK.json for round K (google-benchmark output: one measurement per benchmark, or the
aggregates of several repetitions), memory-NAME.json (pymt_bench --memory),
footprint-NAME.json (pymt_bench --footprint), status.txt ("NAME ok|unavailable|failed") and
run.txt (command, commit, machine). summary.json carries the same figures in one file; a
published summary (bench/results/) has only that one.

  report.py clean FILE.json        drop machine paths from a google-benchmark file
  report.py summary RUN            write RUN/summary.json
  report.py table RUN [OUT.md]     Markdown: every benchmark with its spread, the kernel's share
                                   (system CPU time and minor page faults per million items,
                                   against glibc), then the verdict
  report.py plot RUN               gnuplot PNG and SVG: ratios to glibc, thread scaling, memory
  report.py publish RUN DEST       summary, table and plots of RUN into DEST (bench/results)
  report.py compare OLD NEW        per benchmark and allocator, new/old, flagged beyond spread
                                   (a note first when the runs were on different machines)

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

ALLOCATORS = ["pymt", "pymt-notcache", "pymt-debug", "pymt-harden", "pymt-preload", "glibc",
              "mimalloc", "jemalloc", "tcmalloc"]
BASE = "glibc"
PEERS = ["mimalloc", "jemalloc", "tcmalloc"]
# Columns of the table after glibc: the contenders first, then pymt's slower modes.
TABLE_COLS = ["pymt", "pymt-preload", "mimalloc", "jemalloc", "tcmalloc", "pymt-notcache",
              "pymt-debug", "pymt-harden"]
# Allocators in the plots: pymt's slower modes would squash everything else against the axis.
PLOT_ALLOCS = ["pymt", "pymt-preload", "glibc", "mimalloc", "jemalloc", "tcmalloc"]
SHORT = {"pymt": "pymt", "pymt-notcache": "notcache", "pymt-debug": "debug",
         "pymt-harden": "harden",
         "pymt-preload": "preload", "glibc": "glibc", "mimalloc": "mimalloc",
         "jemalloc": "jemalloc", "tcmalloc": "tcmalloc"}
LABEL = {"pymt": "pymt", "pymt-notcache": "pymt PYMT_TCACHE=0", "pymt-debug": "pymt debug",
         "pymt-harden": "pymt PYMT_HARDEN=1",
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
    "BM_ProdConsBatch/1/threads:2", "BM_ProdConsBatch/4/threads:8",
    "BM_ReallocString/4096/threads:1",
    "BM_Larson/threads:8",
    "BM_LarsonSuite/threads:8",
    "BM_RpTest/threads:2", "BM_RpTest/threads:8",
    "BM_AllocTest/threads:2",
    "BM_MStress/threads:2", "BM_MStress/threads:8",
    "BM_XMalloc/threads:2",
]

# The getrusage counters of a benchmark (see WallMeter in bench_common.h), which the report
# puts per million items: entry key -> (counter, what the table calls it).
KERNEL = {"sys": ("sys_ms", "system CPU ms"), "flt": ("minflt", "minor page faults")}


# ---- loading a run ---------------------------------------------------------------------------

def kernel_figures(b, entry):
    """Adds sys and flt (per million items of the timed region) to entry, when the benchmark
    b reported the getrusage counters."""
    items = b.get("wall_items")
    if not items:
        return
    for key, (counter, _) in KERNEL.items():
        if counter in b:
            entry[key] = b[counter] * 1e6 / items


def parse_benchmarks(data):
    """{bench: {value, wall, sd, threads, sys, flt}} of one google-benchmark file: value is the
    one measurement, or the median of the repetitions when there were several (sd their
    spread); sys and flt are system CPU ms and minor faults per million items."""
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
                if key == "value":
                    kernel_figures(b, entry)
        else:
            entry["value"] = b["items_per_second"]
            if "wall_items_per_second" in b:
                entry["wall"] = b["wall_items_per_second"]
            kernel_figures(b, entry)
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
    results, memory, footprint, context, status = {}, {}, {}, {}, {}
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
                        name, {"threads": e["threads"], "rounds": [], "wall": [], "sd": [],
                               "sys": [], "flt": []})
                    while len(ent["rounds"]) < r:
                        for k in ("rounds", "wall", "sd", "sys", "flt"):
                            ent[k].append(None)
                    ent["rounds"].append(e["value"])
                    ent["wall"].append(e.get("wall"))
                    ent["sd"].append(e.get("sd"))
                    ent["sys"].append(e.get("sys"))
                    ent["flt"].append(e.get("flt"))
        p = os.path.join(run, "memory-" + alloc + ".json")
        if os.path.exists(p):
            with open(p) as f:
                memory[alloc] = json.load(f)
        p = os.path.join(run, "footprint-" + alloc + ".json")
        if os.path.exists(p):
            with open(p) as f:
                footprint[alloc] = json.load(f)
    if not results and not memory and not footprint:
        return None
    return {"run": os.path.basename(os.path.normpath(run)), "context": context,
            "status": status, "info": read_run_txt(run), "rounds": nrounds,
            "results": results, "memory": memory, "footprint": footprint}


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
            for key in KERNEL:  # zero is a figure here, None is "not reported"
                ks = [k for k in e.get(key, []) if k is not None]
                e[key + "_median"] = statistics.median(ks) if ks else None
            # for compare: the spread within the rounds' repetitions plus between the rounds
            within = [s * s for s in e.get("sd", []) if s]
            var = (statistics.mean(within) if within else 0.0) + (
                statistics.pvariance(vals) if len(vals) > 1 else 0.0)
            e["stddev"] = math.sqrt(var)
    return run


# The call floors (bench_common.h's FloorApi): a workload's loop around two functions that do
# no allocator work, reached through the PLT as every allocator is. Figures of the harness, not
# workloads: no rows in the tables, a section of their own (floor_lines) that sets each
# column's row against the floor of its own processes. Floor -> (the row it bounds, its title).
FLOORS = {"BM_CallFloor/threads:1": ("BM_HotPair/32/threads:1", "hot pair 32 B, 1 thread"),
          "BM_ChurnFloor/1000/threads:1": ("BM_Churn/1000/threads:1",
                                           "churn, 1k live objects, 1 thread")}


def bench_order(results):
    """Benchmark names in registration order, taken from whichever column has most."""
    names = []
    for alloc in ALLOCATORS:
        for n in results.get(alloc, {}):
            if n not in names and n not in FLOORS:
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
    if head == "BM_ProdConsBatch":
        return "producer/consumer pairs, queue indexes per 16 items"
    if head == "BM_ReallocString":
        return "string growth by realloc to %s" % human_bytes(arg)
    if head == "BM_ReallocList":
        return "list growth by realloc to %s" % human_bytes(arg)
    if head == "BM_Larson":
        return "larson: server with thread turnover"
    if head == "BM_LarsonSuite":
        return "larson, the suite's parameters (8-1000 B)"
    if head == "BM_RpTest":
        return "rptest: 8 B-16 KiB, cross-thread batches"
    if head == "BM_AllocTest":
        return "alloc-test: 8 B-16 KiB, own blocks only"
    if head == "BM_MStress":
        return "mstress: mixed sizes, realloc, transfers"
    if head == "BM_XMalloc":
        return "xmalloc: 64 B batches, producer to consumer"
    return w


def row_title(name):
    """A short readable name of one benchmark, thread count included."""
    w, t = split_threads(name)
    parts = w.split("/")
    head, arg = parts[0], (parts[1] if len(parts) > 1 else None)
    if head == "BM_ProdCons":
        return "producer/consumer %s:%s" % (arg, arg)
    if head == "BM_ProdConsBatch":
        return "producer/consumer %s:%s, batched queue" % (arg, arg)
    short = {"BM_HotPair": "hot pair %s" % (arg and human_bytes(arg)),
             "BM_HotPairKeep": "hot pair %s, one kept live" % (arg and human_bytes(arg)),
             "BM_Churn": "churn, %s live objects" % (arg and human_count(arg)),
             "BM_Objects": "object family, %s live" % (arg and human_count(arg)),
             "BM_ReallocString": "realloc growth to %s" % (arg and human_bytes(arg)),
             "BM_ReallocList": "list growth to %s" % (arg and human_bytes(arg)),
             "BM_Larson": "larson",
             "BM_LarsonSuite": "larson, suite sizes",
             "BM_RpTest": "rptest",
             "BM_AllocTest": "alloc-test",
             "BM_MStress": "mstress",
             "BM_XMalloc": "xmalloc"}.get(head, w)
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
                 "after another. Figures are M items/s, the median over the rounds with the "
                 "lowest and highest round in brackets; a ratio is taken between the two "
                 "processes of the same round, then the median and range of those ratios. "
                 "%s" % (n, "" if n == 1 else "s", info.get("measure", "")))
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
    lines += kernel_tables(run, cols)
    lines += footprint_table(run.get("footprint", {}))
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


def fmt_kernel(x):
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def kernel_tables(run, cols):
    """Two tables, system CPU time and minor page faults, per million items of every benchmark
    that reported them, each allocator beside its ratio to glibc."""
    results = run["results"]
    names = [n for n in bench_order(results)
             if any(results.get(a, {}).get(n, {}).get("sys_median") is not None
                    for a in ALLOCATORS)]
    if not names:
        return []
    allocs = ["pymt"] + [a for a in cols if a != "pymt"]
    lines = ["", "The kernel's share (getrusage of the whole process around each timed region: "
             "every thread, exited ones included), per million items, median over the rounds; "
             "in brackets the ratio to glibc's median. System CPU time is charged in scheduler "
             "ticks scaled to the exact runtime, so it resolves to a few ms per 0.1 s "
             "measurement: below about 1 ms per million items at tens of millions of items "
             "per second, the figures are noise. Minor faults count pages touched for the "
             "first time since the allocator mapped them (or mapped them again)."]
    for key, (_, what) in KERNEL.items():
        lines.append("")
        head = ["benchmark", "glibc %s" % what] + [SHORT[a] for a in allocs
                                                   if a in results]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for name in names:
            g = results.get(BASE, {}).get(name, {}).get(key + "_median")
            row = [row_title(name), fmt_kernel(g)]
            for a in allocs:
                if a not in results:
                    continue
                v = results[a].get(name, {}).get(key + "_median")
                cell = fmt_kernel(v)
                if v is not None and g:
                    cell += " (%sx)" % (fmt_ratio(v / g) if v else "0")
                row.append(cell)
            lines.append("| " + " | ".join(row) + " |")
    return lines


def floor_lines(results):
    """A table: each floored row of each column against the floor of its own processes (round
    by round), and what an allocator at the floor would be against the row's fastest peer."""
    floors = [f for f in FLOORS if results.get("pymt", {}).get(f)]
    if not floors:
        return []
    lines = ["", "## Call floors", "",
             "A floor runs a workload's own loop around two functions that do nothing, in a "
             "shared library of their own (bench/call_floor.c) and called through the PLT as "
             "every column calls its allocator: the cost of the loop and the calls alone, which "
             "no allocator beats by more than the few percent that code placement moves a loop. "
             "Each column's row over the floor measured in its own processes, round by round "
             "(median, range); the last line: an allocator at the floor against the row's "
             "fastest peer.", "",
             "| allocator | " + " | ".join("%s / floor" % FLOORS[f][1] for f in floors) + " |",
             "|---|" + "---:|" * len(floors)]
    at_floor = {}
    for a in ["pymt"] + PEERS + [BASE]:
        cells = []
        for f in floors:
            e, fl = results.get(a, {}).get(FLOORS[f][0]), results.get(a, {}).get(f)
            rs = [x / y for x, y in zip(e["rounds"], fl["rounds"]) if x and y] if e and fl else []
            r = (statistics.median(rs), min(rs), max(rs), len(rs)) if rs else None
            at_floor[a, f] = r[0] if r else None
            cells.append(fmt_ratio_cell(r))
        lines.append("| %s | %s |" % (a, " | ".join(cells)))
    best = []
    for f in floors:
        peer = fastest_peer(results, FLOORS[f][0])
        x = at_floor.get((peer, f))
        best.append("%.2fx %s" % (1.0 / x, peer) if x else "n/a")
    lines.append("| at the floor | %s |" % " | ".join(best))
    return lines


def verdict_lines(run):
    results = run["results"]
    lines = ["## Verdict: pymt against the fastest peer", "",
             "Fastest peer: the highest median among %s in that row. faster / slower: pymt "
             "was ahead / behind in every round; within noise: the rounds disagree. With %d "
             "rounds, two allocators of equal speed get a verdict of faster or slower by "
             "chance %s of the time." % (", ".join(PEERS), run["rounds"],
                                        "%.0f%%" % (100 * 2.0 ** (1 - run["rounds"]))), "",
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
    lines += footprint_verdict(run.get("footprint", {}))
    lines += floor_lines(results)
    return lines


# ---- footprint -----------------------------------------------------------------------------

# Row order of the footprint table: the contenders, then pymt's other modes.
FOOT_ORDER = ["pymt", "pymt-preload", "glibc", "mimalloc", "jemalloc", "tcmalloc",
              "pymt-notcache", "pymt-debug", "pymt-harden"]
# pymt's footprint target: once every thread has exited, RSS within this much of the start.
FOOT_BACK_MIB = 2.0
MIB = 1024.0 * 1024.0


def foot_point(entry):
    """Figures of one thread count of footprint-NAME.json: lists over the workload processes
    (KiB per idle thread; MiB above the start after exit, after one round, after trim), the
    baseline KiB per thread without work, and the notes of what was skipped or failed."""
    n = entry["threads"]
    fig = {"threads": n, "kib": [], "exit": [], "round": [], "trim": [], "base": None,
           "notes": [], "trim_call": ""}
    if "skipped" in entry:
        fig["notes"].append("skipped: " + entry["skipped"])
        return fig
    idle = entry.get("idle", {})
    if "error" in idle:
        fig["notes"].append("baseline: " + idle["error"])
    elif "rss_idle" in idle:
        fig["base"] = (idle["rss_idle"] - idle["rss_start"]) / n / 1024.0
    for w in entry.get("work", []):
        if "error" in w:
            fig["notes"].append(w["error"])
            continue
        b0 = w["rss_start"]
        fig["kib"].append((w["rss_idle"] - b0) / n / 1024.0)
        fig["exit"].append((w["rss_after_join"] - b0) / MIB)
        fig["round"].append((w["rss_after_round"] - b0) / MIB)
        fig["trim"].append((w["rss_after_trim"] - b0) / MIB)
        fig["trim_call"] = w.get("trim_call", "")
    return fig


def foot_points(footprint):
    """{alloc: {threads: figures}} of every allocator in the run."""
    return {a: {e["threads"]: foot_point(e) for e in f.get("runs", [])}
            for a, f in footprint.items()}


def med(vals):
    return statistics.median(vals) if vals else None


def fmt_spread(vals, fmt):
    if not vals:
        return "n/a"
    if len(vals) < 2:
        return fmt % vals[0]
    return (fmt + " (" + fmt + "-" + fmt + ")") % (med(vals), min(vals), max(vals))


def footprint_table(footprint):
    if not footprint:
        return []
    points = foot_points(footprint)
    f0 = next(iter(footprint.values()))
    repeats = sorted({len(e.get("work", [])) for f in footprint.values()
                      for e in f.get("runs", []) if "work" in e})
    lines = ["", "Footprint (one set of processes per allocator and thread count): N threads "
             "each allocate and free %d blocks of every class %d..%d bytes in steps of %d "
             "(one class after the other), then wait, idle, while the main thread reads the "
             "resident set. *KiB per idle thread*: (RSS with the N threads idle - RSS before "
             "the first thread) / N, each thread's stack included; *without work*: the same "
             "process with threads that make no allocator call; *allocator's share*: the "
             "difference. Then every thread is released and joined: *after exit* is RSS in MiB "
             "above the start with no allocator call by the program since; *after one round* "
             "follows %d malloc+free of %d bytes on the main thread; *after trim* the "
             "allocator's own trim call (as in the memory table). Workload figures are the "
             "median of %s processes, lowest and highest in brackets." % (
                 f0.get("blocks_per_class", 600), f0.get("size_min", 16),
                 f0.get("size_max", 512), f0.get("size_step", 16), f0.get("round_ops", 1000),
                 f0.get("round_size", 64), " or ".join(str(r) for r in repeats) or "?"), "",
             "| threads | allocator | KiB per idle thread | allocator's share | without work | "
             "MiB after exit | after one round | after trim |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    counts = sorted({n for per in points.values() for n in per})
    notes = {}  # "N threads: what happened" -> allocators it happened to
    for n in counts:
        figs = [(a, points[a][n]) for a in FOOT_ORDER if n in points.get(a, {})]
        for a, fig in figs:
            for note in fig["notes"]:
                notes.setdefault("%d threads: %s" % (n, note), []).append(a)
        if all(any(x.startswith("skipped") for x in fig["notes"]) for _, fig in figs):
            lines.append("| %d | every allocator | skipped | | | | | |" % n)
            continue
        for a, fig in figs:
            if not fig["kib"]:
                lines.append("| %d | %s | %s | | | | | |" % (
                    n, a, "skipped" if any(x.startswith("skipped") for x in fig["notes"])
                    else "failed"))
                continue
            share = ("%.0f" % (med(fig["kib"]) - fig["base"])) if fig["base"] is not None \
                else "n/a"
            base = ("%.0f" % fig["base"]) if fig["base"] is not None else "n/a"
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
                n, a, fmt_spread(fig["kib"], "%.0f"), share, base,
                fmt_spread(fig["exit"], "%.1f"), fmt_spread(fig["round"], "%.1f"),
                fmt_spread(fig["trim"], "%.1f")))
    if notes:
        lines.append("")
        lines.append("Not measured: " + "; ".join(
            "%s (%s)" % (text, ", ".join(allocs)) for text, allocs in notes.items()) + ".")
    return lines


def footprint_verdict(footprint):
    """Per thread count: pymt against jemalloc per idle thread, and against every peer after
    the threads exited, with when pymt's memory came back (medians)."""
    points = foot_points(footprint)
    pymt = points.get("pymt")
    if not pymt:
        return []
    peers = [BASE] + PEERS
    lines = ["", "Footprint against the targets (medians): no more per idle thread than "
             "jemalloc; after every thread exited, within %g MiB of the start without a trim "
             "call, at the latest after one round of malloc+free on the main thread, and "
             "below every peer at the same point:" % FOOT_BACK_MIB, ""]
    for n in sorted(pymt):
        fig = pymt[n]
        if not fig["kib"]:
            lines.append("- %d threads: pymt not measured (%s)." % (n, "; ".join(fig["notes"])))
            continue
        kib = med(fig["kib"])
        je = points.get("jemalloc", {}).get(n)
        if je and je["kib"]:
            jk = med(je["kib"])
            per = "%.0f KiB per idle thread against jemalloc's %.0f (%.2fx): target %s" % (
                kib, jk, kib / jk if jk > 0 else float("inf"), "met" if kib <= jk else "missed")
        else:
            per = "%.0f KiB per idle thread (jemalloc not measured)" % kib
        ex, rd, tr = med(fig["exit"]), med(fig["round"]), med(fig["trim"])
        if ex <= FOOT_BACK_MIB:
            back = "back without any call"
        elif rd <= FOOT_BACK_MIB:
            back = "back after one round of malloc+free on the main thread"
        elif tr <= FOOT_BACK_MIB:
            back = "back only after %s" % (fig["trim_call"] or "the trim call")
        else:
            back = "not back even after %s" % (fig["trim_call"] or "the trim call")
        others, below_all = [], True
        for p in peers:
            pf = points.get(p, {}).get(n)
            if pf and pf["exit"]:
                pe, pr = med(pf["exit"]), med(pf["round"])
                below = ex < pe and rd < pr
                below_all = below_all and below
                others.append("%s %.1f / %.1f (%s)" % (p, pe, pr, "pymt below" if below
                                                       else "pymt not below"))
        lines.append("- %d threads: pymt %s. After exit pymt is %.1f MiB above the start "
                     "(%.1f after one round, %.1f after %s): %s; target %s. Peers after exit "
                     "/ after one round, MiB: %s." % (
                         n, per, ex, rd, tr, fig["trim_call"] or "no trim call", back,
                         "met" if rd <= FOOT_BACK_MIB and below_all else "missed",
                         ", ".join(others) or "none measured"))
    return lines


def cmd_summary(path):
    raw = load_raw(path)
    if raw is None:
        sys.exit("report.py: no benchmark files in %s" % path)
    with open(os.path.join(path, "summary.json"), "w") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
        f.write("\n")


# ---- plots ---------------------------------------------------------------------------------

# Per allocator: colour, gnuplot point type, line width, point size, dash type. pymt is the
# one strong, thick red line; peers get well separated hues (the Okabe-Ito palette).
STYLE = {"pymt": ("#d62728", 7, 3.0, 1.6, 1), "pymt-preload": ("#cc79a7", 6, 1.5, 1.2, 2),
         "glibc": ("#444444", 4, 1.5, 1.1, 1), "mimalloc": ("#0072b2", 9, 1.5, 1.3, 1),
         "jemalloc": ("#009e73", 5, 1.5, 1.1, 1), "tcmalloc": ("#e69f00", 13, 1.5, 1.3, 1),
         "pymt-notcache": ("#999999", 3, 1, 1, 3), "pymt-debug": ("#999999", 2, 1, 1, 4),
         "pymt-harden": ("#999999", 1, 1, 1, 5)}


def gp_quote(s):
    return '"' + s.replace('"', "'") + '"'


def gp_style(a, points_only=False):
    c, pt, lw, ps, dt = STYLE[a]
    return "lc rgb '%s' pt %d lw %.1f ps %.1f dt %d" % (c, pt, lw, ps, dt)


def scaling_panels(results):
    """[(title, kind, [(x, xlabel, bench name)])] for every workload run at several thread
    counts; producer/consumer is one panel of its pairs, as categories."""
    panels, seen = [], {}
    for name in bench_order(results):
        w, t = split_threads(name)
        if w.startswith(("BM_ProdCons/", "BM_ProdConsBatch/")):
            key = w.split("/")[0]
            k = int(w.split("/")[1])
            point = (k, "%d:%d (%d threads)" % (k, k, t), name)
        else:
            key = w
            point = (t, str(t), name)
        if key not in seen:
            seen[key] = len(panels)
            panels.append((workload_title(w), "pairs" if key.startswith("BM_ProdCons") else "threads",
                           []))
        panels[seen[key]][2].append(point)
    return [p for p in panels if len(p[2]) > 1]


def cmd_plot(path):
    run = load_run(path)
    results, memory = run["results"], run["memory"]
    if shutil.which("gnuplot") is None:
        sys.stderr.write("report.py: gnuplot not found, no plots\n")
        return
    pdir = os.path.join(path, "plot")
    os.makedirs(pdir, exist_ok=True)
    allocs = [a for a in PLOT_ALLOCS if a in results]
    gp = []
    if BASE in results and "pymt" in results:
        gp += throughput_script(run, pdir, allocs)
    if memory:
        gp += memory_script(memory, pdir)
    with open(os.path.join(pdir, "plots.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", "plots.gp"], cwd=pdir, check=True)


def throughput_script(run, pdir, allocs):
    results = run["results"]
    rows = headline_rows(results)
    nrows = len(rows)
    # Summary chart data: one file per allocator, "y median lo hi" (ratios to glibc).
    ratio_allocs = [a for a in allocs if a != BASE]
    offsets = {a: 0.32 - 0.64 * i / max(1, len(ratio_allocs) - 1)
               for i, a in enumerate(ratio_allocs)}
    lo_all, hi_all = 1.0, 1.0
    for a in ratio_allocs:
        with open(os.path.join(pdir, "ratio-%s.dat" % a), "w") as f:
            f.write("# y, %s/glibc: median lo hi over the rounds\n" % a)
            for i, name in enumerate(rows):
                r = ratio(results, a, BASE, name)
                if r:
                    f.write("%.3f %.5f %.5f %.5f\n" % (nrows - i + offsets[a], r[0], r[1], r[2]))
                    lo_all, hi_all = min(lo_all, r[1]), max(hi_all, r[2])
    xmin = 2 ** math.floor(math.log2(lo_all * 0.9))
    xmax = 2 ** math.ceil(math.log2(hi_all * 1.1))
    xtics = []
    x = xmin
    while x <= xmax * 1.001:
        xtics.append('"%sx" %g' % (("%g" % x) if x >= 1 else "1/%d" % round(1 / x), x))
        x *= 2
    # Scaling panels: one file per panel and allocator, "x median lo hi" in M items/s.
    panels = scaling_panels(results)
    for i, (title, kind, points) in enumerate(panels):
        for a in allocs:
            with open(os.path.join(pdir, "scale%02d-%s.dat" % (i, a)), "w") as f:
                f.write("# %s, %s: %s median lo hi (M items/s)\n" % (title, a, kind))
                for xv, _, name in sorted(points):
                    e = results[a].get(name)
                    if e and e["median"]:
                        f.write("%d %.4f %.4f %.4f\n" % (xv, e["median"] / 1e6, e["lo"] / 1e6,
                                                         e["hi"] / 1e6))
    # Layout, top to bottom: title, summary chart with the one legend on its right, rows of
    # 3 scaling panels.
    ncols = 3
    prow = math.ceil(len(panels) / ncols)
    width = 1500
    title_px, sum_px, panel_px = 70, 90 + 34 * max(nrows, 7), 330
    height = title_px + sum_px + panel_px * prow
    ctx = run["context"]
    when = (run.get("info", {}).get("date") or ctx.get("date", ""))[:10]
    title = ("Which allocator? Throughput relative to glibc (top) and against threads "
             "(below); median and range of %d round%s (%s, %s CPUs)" % (run["rounds"], "" if run["rounds"] == 1 else "s", when,
                                ctx.get("num_cpus", "?")))
    gp = []
    for term, ext in (("pngcairo noenhanced font 'sans,11'", "png"),
                      ("svg noenhanced font 'sans,11'", "svg")):
        gp.append("set terminal %s size %d,%d background rgb 'white'" % (term, width, height))
        gp.append("set output %s" % gp_quote("../throughput." + ext))
        gp.append("set multiplot")
        gp.append("set label 1 %s at screen 0.5, screen %.4f center font ',15'" % (
            gp_quote(title), 1 - 28.0 / height))
        gp.append("set label 2 %s at screen 0.5, screen %.4f center font ',10'" % (
            gp_quote("one benchmark process per allocator per round; bars span the lowest to "
                     "the highest round; right of the dashed line = faster than glibc; higher "
                     "= faster"), 1 - 52.0 / height))
        # summary chart
        h = sum_px / height
        gp.append("set origin 0, %.4f; set size 1, %.4f" % (1 - (title_px + sum_px) / height, h))
        gp.append("set lmargin 34; set rmargin 44; set tmargin 1; set bmargin 3.5")
        gp.append("set logscale x 2; set xrange [%g:%g]; set yrange [0.4:%g]" % (
            xmin, xmax, nrows + 0.6))
        gp.append("set xtics (%s) font ',11'" % ", ".join(xtics))
        gp.append("set ytics (%s) font ',11' scale 0" % ", ".join(
            "%s %d" % (gp_quote(row_title(n)), nrows - i) for i, n in enumerate(rows)))
        gp.append("set xlabel 'throughput / glibc throughput (log scale)'; unset ylabel")
        gp.append("set grid xtics lc rgb '#dddddd'")
        gp.append("set key at screen 0.97, screen %.4f right center vertical font ',12' "
                  "spacing 1.5 samplen 3 box opaque" % (1 - (title_px + sum_px / 2.0) / height))
        for i in range(nrows - 1):
            gp.append("set arrow %d from graph 0, first %.1f to graph 1, first %.1f nohead "
                      "lc rgb '#cccccc' lw 1" % (10 + i, nrows - i - 0.5, nrows - i - 0.5))
        gp.append("set arrow 9 from 1, graph 0 to 1, graph 1 nohead lc rgb '#444444' lw 2 dt 2")
        # the legend lists pymt first; glibc is the dashed line here, a line in the panels
        entries = ["'ratio-%s.dat' using 2:1:3:4 with xerrorbars %s notitle" % (a, gp_style(a))
                   for a in reversed(ratio_allocs)]  # pymt last: drawn on top
        entries += ["NaN with linespoints %s title %s" % (
            gp_style(a), gp_quote(LABEL[a] + (" (dashed line at 1x)" if a == BASE else "")))
            for a in allocs]
        gp.append("plot " + ", ".join(entries))
        gp.append("unset arrow; unset label; unset logscale x; set autoscale")
        gp.append("set ytics autofreq font ',10' scale 1; set xtics font ',10'")
        gp.append("set lmargin 9; set rmargin 2; set tmargin 2; set bmargin 3.5")
        # scaling panels
        pw, ph = 1.0 / ncols, panel_px / height
        for i, (ptitle, kind, points) in enumerate(panels):
            r, c = divmod(i, ncols)
            gp.append("set origin %.4f, %.4f; set size %.4f, %.4f" % (
                c * pw, 1 - (title_px + sum_px) / height - (r + 1) * ph, pw, ph))
            gp.append("set title %s font ',12'" % gp_quote(ptitle))
            xs = sorted(p[0] for p in points)
            if kind == "pairs":
                gp.append("unset logscale x; set xrange [%g:%g]" % (xs[0] - 0.5 * (xs[-1] - xs[0]),
                                                                   xs[-1] + 0.5 * (xs[-1] - xs[0])))
                gp.append("set xtics (%s)" % ", ".join(
                    "%s %d" % (gp_quote(lbl), xv) for xv, lbl, _ in sorted(points)))
                gp.append("set xlabel 'producer:consumer pairs'")
                how = "yerrorbars"
            else:
                gp.append("set logscale x 2; set xrange [%g:%g]" % (xs[0] / 1.3, xs[-1] * 1.3))
                gp.append("set xtics (%s)" % ", ".join("%d" % xv for xv in xs))
                gp.append("set xlabel 'threads (%s cores)'" % ctx.get("num_cpus", "?"))
                how = "yerrorlines"
            gp.append("set ylabel 'M items/s'; set yrange [0:*]; set grid; unset key")
            gp.append("plot " + ", ".join(
                "'scale%02d-%s.dat' using 1:2:3:4 with %s %s notitle" % (i, a, how, gp_style(a))
                for a in reversed(allocs)))
            gp.append("unset logscale x; unset title")
        gp.append("unset multiplot; set border; set tics; unset key")
        gp.append("set autoscale; set xtics autofreq; set ytics autofreq")
    return gp


def memory_script(memory, pdir):
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
    gp = []
    for term, ext in (("pngcairo noenhanced size 1200,500 font ',10'", "png"),
                      ("svg noenhanced size 1200,500 font 'sans,10'", "svg")):
        gp += [
            "set terminal " + term,
            "set output %s" % gp_quote("../memory." + ext),
            "set multiplot layout 1,2 title %s font ',12'" % gp_quote(title),
            "set tmargin 4; set bmargin 7; unset xlabel",
            "unset logscale; set grid ytics; set yrange [0:*]; set key inside top right font ',9'",
            "set style data histograms; set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1; set boxwidth 0.9; set xtics rotate by -30",
            "set title 'overhead per object (bytes above the request)'; set ylabel 'bytes'",
            "plot 'memory.dat' using 2:xtic(1) title 'overhead/object'",
            "set title 'resident set above the baseline (MiB)'; set ylabel 'MiB'",
            "plot 'memory.dat' using 3:xtic(1) title 'peak', '' using 4 title 'after free',"
            " '' using 5 title 'after trim'",
            "unset multiplot",
        ]
    return gp


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


def machine(run):
    """What a run's figures depend on besides the code: processor, CPUs, clock."""
    ctx, info = run.get("context", {}), run.get("info", {})
    return "%s, %s CPUs at %s MHz" % (info.get("cpu", "?"), ctx.get("num_cpus", "?"),
                                       ctx.get("mhz_per_cpu", "?"))


def cmd_compare(old, new):
    ro_run, rn_run = load_run(old), load_run(new)
    ro, rn = ro_run["results"], rn_run["results"]
    mo, mn = machine(ro_run), machine(rn_run)
    if mo != mn:
        # A VM that moved to another host changes every column at once, and not by the same
        # factor: a change of machine read as a change of code cost a session once.
        print("note: the two runs were made on different machines (old: %s; new: %s): M "
              "items/s and new/old say little about the code; the 'vs glibc' column, each "
              "ratio to glibc in its own run, says more, and an A/B of two builds on one "
              "machine settles it" % (mo, mn))
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
