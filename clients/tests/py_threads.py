"""py_threads.py: a threaded pipeline on pymt-python that checks its own results.

Three stages connected by queue.Queue: producers build dicts, lists and strings; transformers
take them apart and build tuples and new strings; consumers check and drop them. Every object
is created on one thread and freed on another, while the GIL switches threads every few
microseconds (sys.setswitchinterval) so the allocator sees frequent interleaving. A thread that
finds a wrong value raises, and the script exits 1.
Usage: pymt-python py_threads.py [items]
"""
import gc
import queue
import sys
import threading

N_PRODUCERS = 3
N_TRANSFORMERS = 3
N_CONSUMERS = 2


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    sys.setswitchinterval(1e-5)
    q1 = queue.Queue(maxsize=512)
    q2 = queue.Queue(maxsize=512)
    errors = []
    totals = [0] * N_CONSUMERS
    lock = threading.Lock()

    def guard(fn):
        def run(*args):
            try:
                fn(*args)
            except BaseException as e:  # report from any thread
                with lock:
                    errors.append(repr(e))
        return run

    @guard
    def producer(pid):
        for i in range(pid, items, N_PRODUCERS):
            obj = {"i": i, "s": "v%d" % i * (i % 9 + 1), "l": list(range(i % 40))}
            q1.put(obj)

    @guard
    def transformer():
        while True:
            obj = q1.get()
            if obj is None:
                q2.put(None)
                return
            i = obj["i"]
            if obj["s"] != "v%d" % i * (i % 9 + 1) or obj["l"] != list(range(i % 40)):
                raise AssertionError("bad object %d" % i)
            q2.put((i, sum(obj["l"]), obj["s"].upper(), tuple(obj["l"][::2])))

    @guard
    def consumer(cid, n_stops):
        stops = 0
        while stops < n_stops:
            t = q2.get()
            if t is None:
                stops += 1
                continue
            i, s, up, tup = t
            if s != sum(range(i % 40)) or up != ("V%d" % i) * (i % 9 + 1) or len(tup) != (i % 40 + 1) // 2:
                raise AssertionError("bad tuple %d" % i)
            totals[cid] += i
            if i % 5000 == 0:
                gc.collect()

    producers = [threading.Thread(target=producer, args=(p,)) for p in range(N_PRODUCERS)]
    transformers = [threading.Thread(target=transformer) for _ in range(N_TRANSFORMERS)]
    # Each transformer sends one stop; the consumers share them out.
    stops = [N_TRANSFORMERS // N_CONSUMERS + (1 if c < N_TRANSFORMERS % N_CONSUMERS else 0)
             for c in range(N_CONSUMERS)]
    consumers = [threading.Thread(target=consumer, args=(c, stops[c])) for c in range(N_CONSUMERS)]
    for t in producers + transformers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in transformers:
        q1.put(None)
    for t in transformers + consumers:
        t.join()
    expect = items * (items - 1) // 2
    if errors or sum(totals) != expect:
        print("FAILED", errors[:3], sum(totals), expect)
        return 1
    print("py_threads: %d items through %d threads ok" %
          (items, N_PRODUCERS + N_TRANSFORMERS + N_CONSUMERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
