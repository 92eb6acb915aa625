"""python_bench.py: allocation-heavy Python workloads, pymt-python against the stock interpreter.

Every workload runs in a fresh process under each configuration, several times; the time is
measured inside the process around the workload only (start-up excluded), and the median is
reported, in one Markdown table with ratios against the baselines of the same run (each ratio
taken run by run, since the configurations take turns: its median and range):

  pymalloc       stock python3.11, CPython's own pymalloc
  malloc         stock python3.11 with PYTHONMALLOC=malloc (glibc for everything)
  pymt           pymt-python (all three domains on pymt)
  embed+pymalloc pymt-python with PYTHONMALLOC=pymalloc: the same binary on CPython's own
                 pymalloc, so pymt/embed+pymalloc compares the two allocators alone
  embed+malloc   pymt-python with PYTHONMALLOC=malloc: the same binary on glibc; against
                 stock malloc it shows what embedding costs by itself (the embedder links
                 Debian's libpython3.11.a, built without the link-time optimisation of the
                 stock binary)
  stock+pymt     stock python3.11 with libpymt-pyhook.so preloaded: pymt in the stock binary,
                 so stock+pymt/pymalloc compares the two allocators in Debian's own build
                 (left out when the hook library is not found)

Usage: python3 python_bench.py --embedder build/release/clients/pymt-python [--runs 5]
         [--python /usr/bin/python3.11] [--only dict_churn,json_roundtrip] [--clock wall|cpu]
         [--pin CPU] [--hook libpymt-pyhook.so (default: beside the embedder)]
         [--pymt-env PYMT_HUGEPAGES=1 ...]
PYMT_* variables of the caller's environment are dropped, so every configuration runs with
pymt's defaults; --pymt-env (repeatable) sets one for the two pymt configurations only.
--pin runs every process on one CPU. On a 2-core machine the threaded queue_pipeline swings
between 0.6 and 2.5 s from run to run unpinned (CPython's GIL passing between threads on two
cores), whatever the allocator; pinned it moves by a few percent. The GIL lets one thread run
Python at a time anyway, so the threads still allocate and free each other's objects.
A ratio below 1.00 means pymt is faster.
"""
import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time


# ---- workloads (run inside the measured interpreter) -------------------------------------
def dict_churn():
    total = 0
    for r in range(60):
        d = {}
        for i in range(20000):
            d[i] = (i, str(i), [i])
        total += len(d)
        del d
    return total


def tuple_list_churn():
    total = 0
    for r in range(40):
        rows = [(i, i + 1.5, (i, -i)) for i in range(30000)]
        cols = list(zip(*rows))
        total += len(cols[0]) + len([t for t in rows if t[0] % 3 == 0])
    return total


def json_roundtrip():
    doc = [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i % 10)],
            "pos": {"x": i * 0.5, "y": -i}} for i in range(2000)]
    total = 0
    for r in range(100):  # 0.12 s with 25 rounds was too short to time on a shared machine
        s = json.dumps(doc)
        back = json.loads(s)
        total += len(back)
    return total


def string_build():
    total = 0
    for r in range(30):
        parts = []
        for i in range(20000):
            parts.append("k%d=%s" % (i, "v" * (i % 50)))
        s = ";".join(parts)
        total += len(s.split(";"))
        total += len(s.upper()) % 7
    return total


def queue_pipeline(nthreads=4, items=60000):
    q_in = queue.Queue(maxsize=1024)
    q_out = queue.Queue()

    def worker():
        while True:
            item = q_in.get()
            if item is None:
                q_out.put(None)
                return
            q_out.put({"k": item[0], "v": [str(x) for x in item[1]]})

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for i in range(items):
        q_in.put((i, tuple(range(i % 16))))
    for _ in threads:
        q_in.put(None)
    done = total = 0
    while done < nthreads:
        x = q_out.get()
        if x is None:
            done += 1
        else:
            total += len(x["v"])
    for t in threads:
        t.join()
    return total


WORKLOADS = {f.__name__: f for f in
             (dict_churn, tuple_list_churn, json_roundtrip, string_build, queue_pipeline)}


def run_one(name):
    fn = WORKLOADS[name]
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps({"workload": name, "wall": wall, "cpu": cpu, "result": result}))


# ---- driver --------------------------------------------------------------------------------
def measure_once(cmd, env, name, clock):
    out = subprocess.run(cmd + [os.path.abspath(__file__), "--run", name], env=env,
                         check=True, capture_output=True, text=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    return rec[clock], rec["result"]


def measure(configs, name, runs, clock):
    """The times of each configuration, run by run; the configurations take turns, run after
    run, so a change in the machine's load falls on all of them alike."""
    times = {label: [] for label, _, _ in configs}
    results = set()
    for _ in range(runs):
        for label, cmd, env in configs:
            t, r = measure_once(cmd, env, name, clock)
            times[label].append(t)
            results.add(r)
    if len(results) != 1:
        raise SystemExit("%s: runs disagree on the result: %s" % (name, results))
    return times


def ratio_cell(ta, tb):
    """a/b of the runs taken pair by pair (a run's a against the same run's b): the median,
    and the range when there are several runs."""
    rs = sorted(x / y for x, y in zip(ta, tb))
    if len(rs) == 1:
        return "%.2f" % rs[0]
    return "%.2f (%.2f-%.2f)" % (statistics.median(rs), rs[0], rs[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--embedder", help="path of pymt-python")
    ap.add_argument("--python", default="/usr/bin/python3.11")
    ap.add_argument("--hook", help="libpymt-pyhook.so (default: the one beside --embedder)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--pin", type=int, default=None, metavar="CPU",
                    help="run every measured process on this CPU only")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: process CPU time (all threads), steadier "
                         "on a machine shared with other work")
    ap.add_argument("--pymt-env", action="append", default=[], metavar="PYMT_VAR=VALUE",
                    help="set this variable for pymt and stock+pymt (repeatable)")
    args = ap.parse_args()
    if args.run:
        run_one(args.run)
        return 0
    if not args.embedder:
        ap.error("--embedder is required")
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})  # inherited by every process started below
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHONMALLOC", "PYTHONDEVMODE", "PYMT_"))}
    pymt_env = {}
    for item in args.pymt_env:
        name, eq, value = item.partition("=")
        if not eq or not name.startswith("PYMT_"):
            ap.error("--pymt-env wants PYMT_NAME=VALUE, not %r" % item)
        pymt_env[name] = value
    configs = [
        ("pymalloc", [args.python], base),
        ("malloc", [args.python], dict(base, PYTHONMALLOC="malloc")),
        ("pymt", [args.embedder], dict(base, **pymt_env)),
        ("embed+pymalloc", [args.embedder], dict(base, PYTHONMALLOC="pymalloc")),
        ("embed+malloc", [args.embedder], dict(base, PYTHONMALLOC="malloc")),
    ]
    hook = args.hook or os.path.join(os.path.dirname(os.path.abspath(args.embedder)),
                                     "libpymt-pyhook.so")
    if os.path.exists(hook):
        configs.append(("stock+pymt", [args.python],
                        dict(base, LD_PRELOAD=os.path.abspath(hook), **pymt_env)))
    elif args.hook:
        ap.error("%s: not found" % args.hook)
    labels = [label for label, _, _ in configs]
    ratios = [("pymt", "pymalloc"), ("pymt", "malloc"), ("pymt", "embed+pymalloc")]
    if "stock+pymt" in labels:
        ratios += [("stock+pymt", "pymalloc"), ("stock+pymt", "malloc")]
    names = [n for n in WORKLOADS if not args.only or n in args.only.split(",")]
    print("median of %d runs, %s seconds inside the process (start-up excluded)%s; ratios "
          "taken run by run (median, range); below 1: pymt faster\n" % (
              args.runs, args.clock, "" if args.pin is None else ", pinned to CPU %d" % args.pin))
    print("| workload | " + " | ".join("%s s" % l for l in labels) + " | " +
          " | ".join("%s/%s" % r for r in ratios) + " |")
    print("|---|" + "---:|" * (len(labels) + len(ratios)))
    for name in names:
        t = measure(configs, name, args.runs, args.clock)
        print("| %s | " % name + " | ".join("%.3f" % statistics.median(t[l]) for l in labels) +
              " | " + " | ".join(ratio_cell(t[a], t[b]) for a, b in ratios) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
