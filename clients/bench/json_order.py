"""json_order.py: does a long-running program's heap keep its order? Run inside the measured
interpreter, e.g.

    build/release/clients/pymt-python clients/bench/json_order.py [--rounds 300]
    PYTHONMALLOC=pymalloc build/release/clients/pymt-python clients/bench/json_order.py
    PYTHONMALLOC=malloc LD_PRELOAD=libjemalloc.so.2 build/release/clients/pymt-python ...

The workload is python_bench.py's JSON round trip (2000 records dumped and parsed again each
round), run for many rounds in one process. At a few rounds it looks at the records just
parsed: "near" is the share of consecutive records whose dicts (then their name strings,
then their inner dicts) lie within 512 bytes of each other, "pages" the 4 KiB pages the 2000
dicts (then names) occupy. A fresh heap hands out neighbouring blocks (near close to 1);
an allocator whose caches hand blocks out in the order they were freed loses that order
round after round, and the rounds slow down as the parsed records spread over more lines.
The last line gives the CPU time of each tenth of the run in milliseconds, and the last three
tenths over the first three.
"""
import argparse
import json
import time


def near(objs):
    a = [id(o) for o in objs]
    return sum(1 for x, y in zip(a, a[1:]) if abs(x - y) <= 512) / (len(a) - 1)


def pages(objs):
    return len({id(o) >> 12 for o in objs})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    doc = [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i % 10)],
            "pos": {"x": i * 0.5, "y": -i}} for i in range(2000)]
    n = args.rounds
    looks = {0, 1, 5, n // 15, n // 5, n // 2, n - 1}
    tenth = max(1, n // 10)
    spent = []
    t0 = time.process_time()
    for r in range(n):
        s = json.dumps(doc)
        back = json.loads(s)
        if r in looks:
            t = time.process_time()
            dicts, names, inner = back, [d["name"] for d in back], [d["pos"] for d in back]
            print("round %4d  near %.2f / %.2f / %.2f  pages %d / %d" % (
                r, near(dicts), near(names), near(inner), pages(dicts), pages(names)))
            del dicts, names, inner
            t0 += time.process_time() - t  # the look is not the workload's time
        if r % tenth == tenth - 1:
            t = time.process_time()
            spent.append((t - t0) * 1000)
            t0 = t
    late = sum(spent[-3:]) / sum(spent[:3]) if len(spent) >= 6 else float("nan")
    print("ms per tenth: %s  late/early %.2f" % (" ".join("%.0f" % x for x in spent), late))


if __name__ == "__main__":
    main()
