"""py_workload.py: a deterministic Python workload whose output depends only on the work.

Run by stock python3 with and without LD_PRELOAD=libpymt-malloc.so (the outputs must match)
and by pymt-python. Exercises dicts, lists, tuples, sets, str/bytes building, JSON and pickle
round-trips, sorting, a regular expression, zlib (a C library that mallocs on its own), and
four threads that exchange objects through queue.Queue.
"""
import hashlib
import json
import pickle
import queue
import re
import sys
import threading
import zlib


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def containers():
    d = {}
    for i in range(60000):
        d[("k", i % 5000, str(i))] = [i, i * 2, (i, str(i))]
    s = {v[2] for v in d.values() if v[0] % 3 == 0}
    keys = sorted(d, key=lambda k: (k[1], k[2]))[:1000]
    return len(d), len(s), digest(keys)


def strings():
    parts = []
    for i in range(40000):
        parts.append("%d:%s;" % (i, "x" * (i % 37)))
    text = "".join(parts)
    words = re.findall(r"(\d+):(x{30,})", text)
    blob = text.encode() * 3
    packed = zlib.compress(blob, 6)
    assert zlib.decompress(packed) == blob
    return len(text), len(words), hashlib.sha256(blob).hexdigest()[:16]


def serialise():
    data = [{"id": i, "name": "n%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5),
             "score": i / 7.0} for i in range(20000)]
    j = json.dumps(data, sort_keys=True)
    back = json.loads(j)
    p = pickle.dumps(back, protocol=5)
    again = pickle.loads(p)
    assert again == data
    return len(j), hashlib.sha256(j.encode()).hexdigest()[:16]


def threaded(nthreads=4, items=20000):
    q_in = queue.Queue(maxsize=256)
    q_out = queue.Queue()

    def worker():
        total = 0
        while True:
            item = q_in.get()
            if item is None:
                break
            key, payload = item
            obj = {"key": key, "words": payload.split(","), "n": len(payload)}
            total += obj["n"] + len(obj["words"])
            q_out.put((key, tuple(obj["words"][:3])))
        q_out.put(("done", total))

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for i in range(items):
        q_in.put((i, ",".join(str(i * k) for k in range(i % 20 + 1))))
    for _ in threads:
        q_in.put(None)
    for t in threads:
        t.join()
    results = {}
    grand = 0
    while not q_out.empty():
        key, value = q_out.get()
        if key == "done":
            grand += value
        else:
            results[key] = value
    return len(results), grand, digest(sorted(results.items())[:500])


def main():
    print("containers", *containers())
    print("strings", *strings())
    print("serialise", *serialise())
    print("threaded", *threaded())
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
