#!/usr/bin/env python3
"""make_corpus.py: write the seed corpus of fuzz_ops (tests/fuzz/corpus/), one small program per
file, each exercising one corner the fuzzer should start from: every allocation kind over the
size-class edges, realloc ladders across 512 in both directions, usable sizes, bursts, a second
thread, trim and flush, the requests that must fail.

The encoding is fuzz_ops.c's (its table `ops` and rd_size); keep the two in step.
    python3 tests/fuzz/make_corpus.py tests/fuzz/corpus
"""
import os
import sys

# low nibble of an operation byte: an index into fuzz_ops.c's table `ops`
ALLOC, FREE, REALLOC, USABLE, TRIM, FLUSH, THREAD, BURST, FREE_RANGE, ERRORS = \
    0, 4, 6, 9, 10, 11, 12, 13, 14, 15
# ALLOC kinds (high nibble)
(MEM_MALLOC, MEM_CALLOC, MEM_REALLOC0, OBJ_MALLOC, OBJ_CALLOC, OBJ_REALLOC0, OBJ_NEW,
 OBJ_NEWVAR) = range(8)

EDGES = [0, 1, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 127, 128, 255, 256, 257, 496, 497, 511,
         512, 513, 1024, 4095, 4096, 4097, 16383, 16384, 16385, 32768, 65535, 65536]


def size(n):
    """The bytes rd_size reads back as n (0 <= n < 16384 + 65536)."""
    if n in EDGES:
        return bytes([EDGES.index(n)])
    if n < 1024:
        return bytes([0x80 | n >> 8, n & 255])
    if n < 16384:
        return bytes([0xC0, n >> 8, n & 255])
    m = n - 16384
    assert 0 <= m < 65536, n
    return bytes([0xE0, m >> 8, m & 255])


def op(code, arg=0):
    return bytes([arg << 4 | code])


def alloc(slot, kind, n=0, el=1, swap=0, basic=0, item=0, nitems=0):
    b = op(ALLOC, kind) + bytes([slot])
    if kind == OBJ_NEWVAR:
        return b + bytes([basic, item, nitems >> 8, nitems & 255])
    b += size(n)
    if kind in (MEM_CALLOC, OBJ_CALLOC):
        b += bytes([el - 1, swap])
    return b


def free(slot):
    return op(FREE) + bytes([slot])


def realloc(slot, n, objmem=1):
    return op(REALLOC, objmem) + bytes([slot]) + size(n)


def usable(slot, extend=1):
    return op(USABLE, extend) + bytes([slot])


def burst(family, count_byte, n, order, keep):
    return op(BURST, family) + bytes([count_byte]) + size(n) + bytes([order, keep])


def thread(nops):
    return op(THREAD) + bytes([nops - 1])


def free_range(first, count):
    return op(FREE_RANGE) + bytes([first, count])


def errors(case, slot=0, extra=0):
    """Case 7 reads two more bytes."""
    return op(ERRORS, case) + bytes([slot]) + (bytes([extra, extra]) if case == 7 else b"")


def seeds():
    s = {}
    kinds = {MEM_MALLOC: "mem-malloc", MEM_CALLOC: "mem-calloc", MEM_REALLOC0: "mem-realloc-null",
             OBJ_MALLOC: "obj-malloc", OBJ_CALLOC: "obj-calloc", OBJ_REALLOC0: "obj-realloc-null",
             OBJ_NEW: "obj-new"}
    for kind, name in kinds.items():
        s["alloc-" + name + "-edges"] = b"".join(
            alloc(i, kind, n, el=1 + i % 5, swap=i % 2) for i, n in enumerate(EDGES))
    s["alloc-obj-newvar"] = b"".join(alloc(i, OBJ_NEWVAR, basic=i * 7 % 64, item=i % 17,
                                           nitems=i * 37 % 4096) for i in range(24))
    ladder = [0, 1, 16, 17, 256, 512, 513, 4096, 16385, 65536, 80000, 65535, 513, 512, 497, 384,
              383, 17, 16, 1, 0]
    for fam, name in ((1, "obj"), (0, "mem")):
        s["realloc-%s-ladder" % name] = alloc(0, OBJ_MALLOC if fam else MEM_MALLOC, 0) + b"".join(
            realloc(0, n, fam) for n in ladder)
        s["realloc-%s-from-null" % name] = b"".join(realloc(i, n, fam) for i, n in
                                                    enumerate([0, 17, 512, 513, 16384, 65536]))
    # shrinking within a class: stays while the shrink is under a quarter
    s["realloc-obj-in-place"] = alloc(1, OBJ_MALLOC, 512) + b"".join(
        realloc(1, n) for n in [500, 400, 385, 384, 383, 300, 288, 287, 32, 24, 23, 16, 0])
    # a medium block: stays while the shrink is under half, grows by half when it moves
    s["realloc-obj-in-place-medium"] = alloc(1, OBJ_MALLOC, 4096) + b"".join(
        realloc(1, n) for n in [4095, 3000, 2049, 2048, 1025, 1024, 641, 640, 700, 960, 961, 1000,
                                1300, 2000, 513, 512])
    s["usable-extend"] = b"".join(alloc(i, k, n) + usable(i) for i, (k, n) in enumerate(
        [(OBJ_MALLOC, 1), (OBJ_MALLOC, 17), (OBJ_MALLOC, 500), (OBJ_MALLOC, 513), (MEM_MALLOC, 0),
         (MEM_MALLOC, 100), (OBJ_NEW, 33), (OBJ_CALLOC, 250)])) + realloc(0, 8) + realloc(2, 1000)
    s["usable-then-realloc"] = alloc(3, OBJ_MALLOC, 100) + usable(3) + realloc(3, 90) + \
        usable(3, 0) + realloc(3, 700) + usable(3) + realloc(3, 200)
    for fam, name in ((0, "obj"), (1, "mem"), (2, "new")):
        for order in range(4):
            s["burst-%s-order%d" % (name, order)] = burst(
                fam, 200 + order * 10, [16, 512, 48, 4096][order], order, [0, 3, 7, 0][order])
    s["burst-arena-512"] = burst(0, 255, 512, 0, 0) + op(TRIM) + \
        burst(0, 255, 512, 1, 40) + op(TRIM)
    s["burst-keep-then-trim"] = burst(0, 255, 496, 3, 50) + op(TRIM) + free_range(0, 63) + op(TRIM)
    main = b"".join(alloc(i, OBJ_MALLOC if i % 3 else MEM_MALLOC, [16, 64, 512, 513][i % 4])
                    for i in range(16))
    s["thread-cross-free"] = main + thread(12) + b"".join(free(i) for i in range(0, 8)) + \
        b"".join(alloc(i, OBJ_MALLOC, 32) for i in range(16, 20)) + free_range(8, 8) + op(TRIM)
    s["thread-burst-flush"] = thread(3) + burst(0, 60, 64, 0, 2) + op(FLUSH) + op(TRIM) + \
        free_range(0, 63) + op(FLUSH)
    s["thread-realloc"] = alloc(5, OBJ_MALLOC, 100) + thread(2) + realloc(5, 200) + \
        realloc(5, 20) + realloc(5, 2000) + free(5)
    s["trim-flush-interleaved"] = \
        b"".join(alloc(i, OBJ_MALLOC, 16 * (i + 1)) + op(FLUSH) for i in range(32)) + \
        free_range(0, 32) + op(TRIM) + \
        b"".join(alloc(i, OBJ_MALLOC, 16 * (i + 1)) for i in range(32)) + op(TRIM)
    for case in range(8):
        s["errors-%d" % case] = alloc(0, OBJ_MALLOC, 40) + alloc(1, MEM_MALLOC, 40) + \
            errors(case, 0, 3) + errors(case, 1, 5)
    s["free-range-mixed"] = b"".join(alloc(i, i % 8, EDGES[i % 32], basic=i, item=i % 5, nitems=i)
                                     for i in range(64)) + free_range(60, 20) + free_range(10, 63)
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds()), out))


if __name__ == "__main__":
    main()
