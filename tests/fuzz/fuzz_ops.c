/* fuzz_ops.c: a libFuzzer target that reads its input as a program of allocator operations and
 * runs it against pymt, checking every block's contents and every documented answer.
 *
 * What it models: a program holding up to NSLOTS live blocks of the three families at once
 *   raw memory     pymt_mem_malloc/calloc/realloc/free
 *   object memory  pymt_object_malloc/calloc/realloc/free
 *   objects        pymt_object_new/newvar/del (each slot keeps the pymt_type its object uses)
 * with sizes from 0 to 80 KiB, biased towards the edges of the size classes and of the pools
 * (0, 1, 15, 16, 17, ..., 512, 513, 4096, 16384, 16385, 65536), and doing to them what programs
 * do: realloc in every direction (grow, shrink, across 512 and the medium ceiling, to 0, from
 * NULL), pymt_usable_size (and then use all of those bytes), pymt_trim, pymt_thread_flush,
 * bursts of thousands of blocks of one size (pools and arenas fill up and empty; a few
 * survivors stay behind in the slots), and
 * runs of operations on a second thread, which frees blocks the first thread allocated and leaves
 * its own behind for the first thread to free (its cache is flushed when it exits). Families
 * are never mixed: that is an error the debug mode reports and aborts on.
 *
 * What it checks: every block is filled with a pattern derived from its slot's serial number and
 * the byte offset; the pattern is checked before each realloc and free, and the kept prefix after
 * each realloc. Object heads (refcount, type, ob_size), calloc zeroing, 16-byte alignment, the
 * usable size (the size class for a pool block, the exact request in debug mode), the
 * in-place rule of pymt_object_realloc for pool blocks, debug mode's 0xCD fill of new bytes,
 * and NULL + errno for requests that must fail. A failed check prints one line starting with
 * "fuzz_ops:" and aborts; AddressSanitizer (pool blocks are poisoned while free and past the
 * request), UBSan, leak detection and the debug mode's own reports catch the rest. Every block
 * is freed at the end of each input, then pymt_trim returns the caches, depots and quarantine,
 * so one input does not leak into the next.
 *
 * Two executables from this file: fuzz_ops (PYMT_MALLOC=pymalloc: pools and thread caches) and
 * fuzz_ops_debug (FUZZ_DEBUG_MODE=1: PYMT_MALLOC=debug, set in LLVMFuzzerInitialize before the
 * first pymt call, since pymt reads its environment once). Other PYMT_ variables pass through
 * (PYMT_TCACHE=0 fuzzes the single-lock core).
 *
 * Input format: a sequence of operations; each starts with one byte whose low 4 bits choose the
 * operation (table `ops` below) and whose high 4 bits are its argument, followed by the bytes
 * the operation reads. Reads past the end give 0, so every input is a valid program.
 *
 * Run it:
 *   cmake --preset fuzz && cmake --build --preset fuzz
 *   ci/fuzz                        both targets, 60 s each, from tests/fuzz/corpus
 *   build/fuzz/tests/fuzz/fuzz_ops -max_len=4096 NEW_DIR tests/fuzz/corpus
 *                                  (reads both directories, writes new inputs to NEW_DIR)
 * Reproduce a crash (ci/fuzz prints the input in base64 and these commands):
 *   build/fuzz/tests/fuzz/fuzz_ops crash-FILE
 *   FUZZ_OPS_TRACE=1 build/fuzz/tests/fuzz/fuzz_ops crash-FILE     (prints each operation)
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pymt/pymt.h"

#ifndef FUZZ_DEBUG_MODE
#define FUZZ_DEBUG_MODE 0
#endif

enum {
    NSLOTS = 64,
    MAX_OPS = 4096,   /* operations per input */
    MAX_THREADS = 4,  /* THREAD operations per input (more run on the calling thread) */
    MAX_BURSTS = 4,   /* BURST operations per input (more are skipped) */
    BURST_MAX = 3061, /* 1 + 255 * 12: more than an arena's worth of 512-byte blocks */
    CLEAN = 0xCD,     /* debug mode's fill of new bytes (pymt.h, README) */
};

enum family { F_NONE, F_MEM, F_OBJMEM, F_OBJECT, F_VAROBJECT };
static const char *const family_names[] = {"none", "pymt_mem", "pymt_object_malloc",
                                           "pymt_object_new", "pymt_object_newvar"};

typedef struct slot {
    unsigned char *p; /* NULL: empty */
    size_t size;      /* bytes the program may use: the request, or the usable size once asked */
    size_t head;      /* leading bytes pymt set (object head), not patterned */
    size_t cls;       /* pool mode, object domain: the block's size class, 0 for a system block */
    uint64_t serial;  /* pattern seed, new for each allocation, kept across realloc */
    int family;
    ptrdiff_t nitems; /* newvar: ob_size */
    pymt_type type;   /* objects: what ob_type points at */
} slot;

/* All state belongs to the input being run; a THREAD operation hands it to a second thread
 * while the first waits in pthread_join, so it is never touched by two threads at once. */
static slot slots[NSLOTS];
static slot burst[BURST_MAX];
static struct {
    const uint8_t *d;
    size_t n, i;
} in;
static uint64_t serial;
static unsigned nops, nthreads, nbursts;
static bool in_thread;
static const char *op_name = "init";
static bool pooled; /* pymalloc mode: object memory up to 512 bytes comes from the pools */
static bool debug;  /* a debug mode: exact usable sizes, 0xCD fill, realloc always moves */
static bool trace;  /* FUZZ_OPS_TRACE=1 */

/* ---- reporting --------------------------------------------------------------------------- */

__attribute__((noreturn, format(printf, 2, 3))) static void fail(const slot *s, const char *fmt,
                                                                 ...) {
    fprintf(stderr, "fuzz_ops: op %u (%s)%s: ", nops, op_name, in_thread ? " on thread 2" : "");
    if (s != NULL)
        fprintf(stderr, "%s %d, %s, size %zu, serial %llu: ",
                s >= slots && s < slots + NSLOTS ? "slot" : "burst block",
                s >= slots && s < slots + NSLOTS ? (int)(s - slots) : (int)(s - burst),
                family_names[s->family], s->size, (unsigned long long)s->serial);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
    if (!trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "op %u%s %s: ", nops, in_thread ? " (thread 2)" : "", op_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- input ------------------------------------------------------------------------------- */

static uint8_t rd8(void) {
    return in.i < in.n ? in.d[in.i++] : 0;
}
static unsigned rd16(void) {
    unsigned hi = rd8();
    return hi << 8 | rd8();
}

/* Sizes: half from the edges (a quarter on them, a quarter within 16 bytes of them), a quarter
 * 0..1023, an eighth 0..16383, an eighth 16 KiB..80 KiB. */
static const uint32_t edges[32] = {
    0,   1,   8,   15,  16,  17,  31,   32,   33,   48,   63,    64,    127,   128,   255,   256,
    257, 496, 497, 511, 512, 513, 1024, 4095, 4096, 4097, 16383, 16384, 16385, 32768, 65535, 65536};
static size_t rd_size(void) {
    unsigned b = rd8();
    switch (b >> 6) {
    case 0: return edges[b & 31];
    case 1: {
        long n = (long)edges[b & 31] + (int8_t)rd8() / 8;
        return n < 0 ? 0 : (size_t)n;
    }
    case 2: return (size_t)(b & 3) << 8 | rd8();
    default: return b & 32 ? 16384 + (size_t)rd16() : rd16() % 16384;
    }
}
static slot *rd_slot(void) {
    return &slots[rd8() % NSLOTS];
}

/* ---- the pattern ------------------------------------------------------------------------- */

/* The pattern loops are the target's own hot spot and not what the fuzzer should learn from:
 * no coverage instrumentation in them (AddressSanitizer still checks their accesses), and not
 * inlined, which would give them their callers' instrumentation. */
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))

/* Byte i of a block is byte i % 8 of its word i / 8: a base word mixed from the block's serial
 * plus the word's index times an odd constant, so bytes copied to the wrong offset or from
 * another block do not match. */
#define PAT_STEP 0xBF58476D1CE4E5B9ull
static inline uint64_t pat_base(uint64_t ser) {
    uint64_t x = (ser + 1) * 0x9E3779B97F4A7C15ull;
    return x ^ x >> 29;
}
static inline unsigned char pat_byte(uint64_t ser, size_t i) {
    uint64_t w = pat_base(ser) + (uint64_t)(i / 8) * PAT_STEP;
    unsigned char b[8];
    memcpy(b, &w, 8);
    return b[i % 8];
}
NO_COVERAGE static void pat_fill(const slot *s, size_t from, size_t to) {
    unsigned char *p = s->p;
    uint64_t ser = s->serial;
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        p[i] = pat_byte(ser, i);
    uint64_t w = pat_base(ser) + (uint64_t)(i / 8) * PAT_STEP;
    for (; i + 8 <= to; i += 8, w += PAT_STEP)
        memcpy(p + i, &w, 8);
    for (; i < to; i++)
        p[i] = pat_byte(ser, i);
}
/* Offset of the first byte in [from, to) that does not hold the pattern, or SIZE_MAX. */
NO_COVERAGE static size_t pat_find(const slot *s, size_t from, size_t to) {
    const unsigned char *p = s->p;
    uint64_t ser = s->serial;
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        if (p[i] != pat_byte(ser, i))
            return i;
    uint64_t w = pat_base(ser) + (uint64_t)(i / 8) * PAT_STEP;
    for (; i + 8 <= to; i += 8, w += PAT_STEP) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != w)
            break;
    }
    for (; i < to; i++)
        if (p[i] != pat_byte(ser, i))
            return i;
    return SIZE_MAX;
}
static void pat_check(const slot *s, size_t from, size_t to, const char *when) {
    size_t bad = pat_find(s, from, to);
    if (bad != SIZE_MAX)
        fail(s, "%s: byte %zu of [%zu, %zu) is 0x%02x, the pattern says 0x%02x", when, bad, from,
             to, s->p[bad], pat_byte(s->serial, bad));
}
/* Offset of the first byte in [from, to) that is not v, or SIZE_MAX. */
NO_COVERAGE static size_t byte_find(const unsigned char *p, size_t from, size_t to,
                                    unsigned char v) {
    const uint64_t w = 0x0101010101010101ull * v;
    size_t i = from;
    for (; i < to && i % 8 != 0; i++)
        if (p[i] != v)
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x != w)
            break;
    }
    for (; i < to; i++)
        if (p[i] != v)
            return i;
    return SIZE_MAX;
}
static void byte_check(const slot *s, size_t from, size_t to, unsigned char v, const char *what) {
    size_t bad = byte_find(s->p, from, to, v);
    if (bad != SIZE_MAX)
        fail(s, "byte %zu of [%zu, %zu) is 0x%02x, %s should be 0x%02x", bad, from, to, s->p[bad],
             what, v);
}

/* ---- blocks ------------------------------------------------------------------------------ */

static size_t round16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

/* The pools' ceiling: 512 bytes, or the medium tier's while it is on (set in init). */
static size_t pool_max = PYMT_SMALL_REQUEST_THRESHOLD;

/* The block of a pool request of n (1..pool_max) bytes: 16-byte steps up to 512, then four
 * medium classes per doubling (pymt.h), worked out here by rounding up to a quarter step. */
static size_t class_block(size_t n) {
    if (n <= PYMT_SMALL_REQUEST_THRESHOLD)
        return round16(n);
    size_t step = PYMT_SMALL_REQUEST_THRESHOLD / 4;
    while (8 * step <= n - 1)
        step *= 2;
    return (n + step - 1) / step * step;
}

/* Does a pool block of class cls stay in place for a request of want bytes (pymt.h)? When
 * want fits and shrinks it by less than a quarter (up to 512 bytes) or half (medium). */
static bool realloc_stays(size_t cls, size_t want) {
    return want <= cls && 4 * want > (cls > PYMT_SMALL_REQUEST_THRESHOLD ? 2 : 3) * cls;
}

/* The class a pool block of class cls (0: not a pool block) lands in when realloc moves it to
 * hold want <= pool_max bytes (pymt.h): growing past its class, it asks for a quarter (up to
 * 512 bytes) or half (medium) more than cls within its tier (512 bytes, or pool_max), unless
 * want would then be too small to stay in that class; otherwise the class of want. */
static size_t class_after_realloc(size_t cls, size_t want) {
    size_t more = cls + (cls > PYMT_SMALL_REQUEST_THRESHOLD ? cls / 2 : cls / 4);
    if (cls == 0 || want <= cls || want >= more)
        return class_block(want);
    size_t lim = want <= PYMT_SMALL_REQUEST_THRESHOLD ? PYMT_SMALL_REQUEST_THRESHOLD : pool_max;
    size_t c = class_block(more < lim ? more : lim);
    return realloc_stays(c, want) ? c : class_block(want);
}

/* The head pymt wrote into an object. */
static void head_check(const slot *s, const char *when) {
    if (s->family == F_OBJECT || s->family == F_VAROBJECT) {
        const pymt_object *o = (const pymt_object *)s->p;
        if (o->ob_refcnt != 1 || o->ob_type != &s->type)
            fail(s, "%s: object head changed (refcnt %ld, type %p, expected 1, %p)", when,
                 (long)o->ob_refcnt, (const void *)o->ob_type, (const void *)&s->type);
        if (s->family == F_VAROBJECT && ((const pymt_varobject *)s->p)->ob_size != s->nitems)
            fail(s, "%s: ob_size %td, expected %td", when, ((const pymt_varobject *)s->p)->ob_size,
                 s->nitems);
    }
}

/* The whole block as the program left it: object head and pattern. */
static void block_check(const slot *s, const char *when) {
    head_check(s, when);
    pat_check(s, s->head, s->size, when);
}

/* A block just allocated into s (p, size, head, family, type set): check what pymt promised,
 * then give it a new serial and fill it. */
static void block_new(slot *s, bool zeroed) {
    if (s->p == NULL)
        fail(s, "allocation failed (errno %d)", errno);
    if ((uintptr_t)s->p % PYMT_ALIGNMENT != 0)
        fail(s, "block %p is not aligned to %d bytes", (void *)s->p, PYMT_ALIGNMENT);
    if (zeroed)
        byte_check(s, 0, s->size, 0, "calloc memory");
    else if (debug)
        byte_check(s, s->head, s->size, CLEAN, "new memory in debug mode");
    bool objdomain = s->family != F_MEM;
    s->cls = pooled && objdomain && s->size <= pool_max ? class_block(s->size ? s->size : 1) : 0;
    s->serial = ++serial;
    head_check(s, "new object");
    pat_fill(s, s->head, s->size);
}

static void block_free(slot *s) {
    block_check(s, "before free");
    switch (s->family) {
    case F_MEM: pymt_mem_free(s->p); break;
    case F_OBJMEM: pymt_object_free(s->p); break;
    default: pymt_object_del(s->p); break;
    }
    s->p = NULL;
    s->family = F_NONE;
}

static void slot_clear(slot *s) {
    if (s->p != NULL)
        block_free(s);
}

/* Allocate into s. kind: 0 mem_malloc, 1 mem_calloc, 2 mem_realloc(NULL), 3 object_malloc,
 * 4 object_calloc, 5 object_realloc(NULL), 6 object_new (n: basicsize), all of n bytes;
 * 7 object_newvar (reads its own parameters). */
static void alloc_into(slot *s, unsigned kind, size_t n) {
    slot_clear(s);
    bool zeroed = false;
    s->head = 0;
    s->nitems = 0;
    if (kind < 6) {
        s->family = kind < 3 ? F_MEM : F_OBJMEM;
        if (kind % 3 == 1) {
            size_t el = 1 + rd8() % 64, nel = n / el;
            if (rd8() & 1) {
                size_t t = el;
                el = nel;
                nel = t;
            }
            n = nel * el;
            s->p = kind < 3 ? pymt_mem_calloc(nel, el) : pymt_object_calloc(nel, el);
            zeroed = true;
            say("%s_calloc(%zu, %zu)", kind < 3 ? "mem" : "object", nel, el);
        } else if (kind % 3 == 2) {
            s->p = kind < 3 ? pymt_mem_realloc(NULL, n) : pymt_object_realloc(NULL, n);
            say("%s_realloc(NULL, %zu)", kind < 3 ? "mem" : "object", n);
        } else {
            s->p = kind < 3 ? pymt_mem_malloc(n) : pymt_object_malloc(n);
            say("%s_malloc(%zu)", kind < 3 ? "mem" : "object", n);
        }
        s->size = n;
    } else if (kind == 6) {
        s->type =
            (pymt_type){"fuzz_ops.object", n < sizeof(pymt_object) ? sizeof(pymt_object) : n, 0};
        s->family = F_OBJECT;
        s->head = sizeof(pymt_object);
        s->p = (unsigned char *)pymt_object_new(&s->type);
        s->size = s->type.tp_basicsize;
        say("object_new(basicsize %zu)", s->type.tp_basicsize);
    } else {
        size_t basic = sizeof(pymt_varobject) + rd8() % 64 * 8, item = rd8() % 17;
        s->nitems = (ptrdiff_t)(rd16() % 4096);
        s->type = (pymt_type){"fuzz_ops.varobject", basic, item};
        s->family = F_VAROBJECT;
        s->head = sizeof(pymt_varobject);
        s->p = (unsigned char *)pymt_object_newvar(&s->type, s->nitems);
        s->size = round16(basic + (size_t)s->nitems * item);
        say("object_newvar(basicsize %zu, itemsize %zu, %td)", basic, item, s->nitems);
    }
    block_new(s, zeroed);
}

static void realloc_slot(slot *s, unsigned arg) {
    size_t n = rd_size();
    if (s->p == NULL) {
        alloc_into(s, arg & 1 ? 5 : 2, n); /* realloc(NULL, n) */
        return;
    }
    if (s->family != F_MEM && s->family != F_OBJMEM)
        return; /* objects have no realloc */
    say("%s_realloc(slot %d: %zu -> %zu)", s->family == F_MEM ? "mem" : "object", (int)(s - slots),
        s->size, n);
    block_check(s, "before realloc");
    unsigned char *q =
        s->family == F_MEM ? pymt_mem_realloc(s->p, n) : pymt_object_realloc(s->p, n);
    if (q == NULL)
        fail(s, "realloc to %zu failed (errno %d)", n, errno);
    if ((uintptr_t)q % PYMT_ALIGNMENT != 0)
        fail(s, "realloc to %zu gave %p, not aligned to %d bytes", n, (void *)q, PYMT_ALIGNMENT);
    size_t want = n ? n : 1, old = s->size;
    if (s->cls != 0 && want <= pool_max) {
        /* pymt.h: a pool block stays when the request fits its class and shrinks it by less
         * than a quarter (small) or half (medium), and moves otherwise (the new block exists
         * before the old is freed) */
        bool stay = realloc_stays(s->cls, want);
        if ((q == s->p) != stay)
            fail(s, "realloc of a %zu-byte pool block to %zu %s", s->cls, n,
                 stay ? "moved it" : "kept it in place");
    }
    if (s->family == F_OBJMEM && pooled && q == s->p &&
        (s->cls != 0) != (want <= pool_max))
        fail(s, "realloc to %zu kept a %s block in place", n, s->cls ? "pool" : "system");
    if (s->family == F_OBJMEM && pooled && (q != s->p || n > pool_max))
        s->cls = n <= pool_max ? class_after_realloc(s->cls, want) : 0;
    s->p = q;
    s->size = n;
    pat_check(s, 0, old < n ? old : n, "kept prefix after realloc");
    if (n > old) {
        if (debug)
            byte_check(s, old, n, CLEAN, "new memory after realloc in debug mode");
        pat_fill(s, old, n);
    }
}

static void usable_slot(slot *s, unsigned arg) {
    if (s->p == NULL)
        return;
    size_t u = pymt_usable_size(s->p);
    say("usable_size(slot %d, size %zu) = %zu", (int)(s - slots), s->size, u);
    /* Debug mode reports the request, except that object memory serves malloc(0) and
     * realloc(NULL, 0) as requests of 1 byte before the debug layer sees them. */
    bool exact = u == s->size || (s->size == 0 && s->family == F_OBJMEM && u == 1);
    if (debug ? !exact : u < s->size)
        fail(s, "pymt_usable_size says %zu", u);
    if (s->cls != 0 && u != s->cls)
        fail(s, "pymt_usable_size says %zu for a block of the %zu-byte class", u, s->cls);
    if (arg & 1) { /* the program may use all of it */
        pat_fill(s, s->size, u);
        s->size = u;
    }
}

/* count blocks of one size allocated, then freed in some order; every k-th may stay behind in
 * an empty slot (not objects: their type lives in burst[]). */
static void burst_run(unsigned arg) {
    int fam = arg % 3 == 0 ? F_OBJMEM : arg % 3 == 1 ? F_MEM : F_OBJECT;
    size_t count = 1 + (size_t)rd8() * 12, n = rd_size();
    unsigned order = rd8() % 4, keep = rd8() % 16;
    if (n > 4096)
        n = 513 + n % 3584;
    if (nbursts++ >= MAX_BURSTS)
        return;
    say("%zu x %s(%zu), free order %u, keep every %u", count, family_names[fam], n, order, keep);
    for (size_t i = 0; i < count; i++) {
        slot *b = &burst[i];
        b->family = fam;
        b->head = 0;
        if (fam == F_OBJECT) {
            b->type =
                (pymt_type){"fuzz_ops.burst", n < sizeof(pymt_object) ? sizeof(pymt_object) : n, 0};
            b->head = sizeof(pymt_object);
            b->size = b->type.tp_basicsize;
            b->p = (unsigned char *)pymt_object_new(&b->type);
        } else {
            b->size = n;
            b->p = fam == F_MEM ? pymt_mem_malloc(n) : pymt_object_malloc(n);
        }
        block_new(b, false);
    }
    size_t next_slot = 0;
    for (size_t j = 0; j < count; j++) {
        size_t i = order == 0   ? j
                   : order == 1 ? count - 1 - j
                   : order == 2 ? (j < (count + 1) / 2 ? 2 * j : 2 * (j - (count + 1) / 2) + 1)
                                : (j * 97) % count; /* a permutation unless 97 divides count */
        slot *b = &burst[i];
        if (b->p == NULL)
            continue; /* (j * 97) % count repeated an index */
        if (keep != 0 && fam != F_OBJECT && i % keep == 0) {
            while (next_slot < NSLOTS && slots[next_slot].p != NULL)
                next_slot++;
            if (next_slot < NSLOTS) {
                block_check(b, "burst block kept");
                slots[next_slot++] = *b;
                b->p = NULL;
                continue;
            }
        }
        block_free(b);
    }
    for (size_t i = 0; i < count; i++) /* the indices order 3 skipped */
        if (burst[i].p != NULL)
            block_free(&burst[i]);
}

/* Requests that must fail, and the calls that must do nothing. Case arg % 8. */
static void expect_null(void *p, int err, const char *what) {
    if (p != NULL || errno != err)
        fail(NULL, "%s gave %p, errno %d; expected NULL, errno %d", what, p, errno, err);
    errno = 0;
}
static void errors_run(unsigned arg) {
    const size_t big = (size_t)PTRDIFF_MAX + 1;
    static const pymt_type small = {"fuzz_ops.small", sizeof(pymt_object) - 1, 0};
    static const pymt_type novar = {"fuzz_ops.novar", sizeof(pymt_object), 8};
    static const pymt_type var = {"fuzz_ops.var", sizeof(pymt_varobject), 8};
    static const pymt_type huge = {"fuzz_ops.huge", sizeof(pymt_varobject), SIZE_MAX / 4};
    slot *s = rd_slot();
    say("case %u", arg % 8);
    errno = 0;
    switch (arg % 8) {
    case 0: expect_null(pymt_object_malloc(big), ENOMEM, "object_malloc(PTRDIFF_MAX + 1)"); break;
    case 1: expect_null(pymt_mem_malloc(SIZE_MAX), ENOMEM, "mem_malloc(SIZE_MAX)"); break;
    case 2:
        expect_null(pymt_object_calloc(SIZE_MAX / 8 + 1, 16), ENOMEM, "object_calloc overflowing");
        break;
    case 3:
        expect_null(pymt_mem_calloc(3, big / 2), ENOMEM, "mem_calloc(3, PTRDIFF_MAX / 2)");
        break;
    case 4:
        if (s->p == NULL || (s->family != F_MEM && s->family != F_OBJMEM))
            break;
        expect_null(s->family == F_MEM ? pymt_mem_realloc(s->p, big)
                                       : pymt_object_realloc(s->p, big),
                    ENOMEM, "realloc(p, PTRDIFF_MAX + 1)");
        block_check(s, "after a failed realloc"); /* left untouched */
        break;
    case 5:
        expect_null(pymt_object_realloc(NULL, big), ENOMEM,
                    "object_realloc(NULL, PTRDIFF_MAX + 1)");
        expect_null(pymt_mem_realloc(NULL, big), ENOMEM, "mem_realloc(NULL, PTRDIFF_MAX + 1)");
        break;
    case 6:
        expect_null(pymt_object_new(&small), EINVAL, "object_new(basicsize 15)");
        expect_null(pymt_object_new(NULL), EINVAL, "object_new(NULL)");
        expect_null(pymt_object_newvar(&novar, 1), EINVAL, "object_newvar(basicsize 16)");
        expect_null(pymt_object_newvar(NULL, 1), EINVAL, "object_newvar(NULL, 1)");
        break;
    default:
        expect_null(pymt_object_newvar(&var, -1 - (ptrdiff_t)rd8()), ENOMEM,
                    "object_newvar(n < 0)");
        expect_null(pymt_object_newvar(&huge, 4 + rd8()), ENOMEM, "object_newvar overflowing");
        break;
    }
    pymt_mem_free(NULL);
    pymt_object_free(NULL);
    pymt_object_del(NULL);
    if (pymt_usable_size(NULL) != 0)
        fail(NULL, "pymt_usable_size(NULL) is not 0");
}

/* ---- the interpreter --------------------------------------------------------------------- */

enum op { ALLOC, FREE, REALLOC, USABLE, TRIM, FLUSH, THREAD, BURST, FREE_RANGE, ERRORS };
static const char *const op_names[] = {"alloc", "free",   "realloc", "usable",     "trim",
                                       "flush", "thread", "burst",   "free_range", "errors"};
static const enum op ops[16] = {ALLOC,   ALLOC,  ALLOC, ALLOC, FREE,   FREE,  REALLOC,    REALLOC,
                                REALLOC, USABLE, TRIM,  FLUSH, THREAD, BURST, FREE_RANGE, ERRORS};

static void run_ops(unsigned limit);

static void *thread_main(void *arg) {
    in_thread = true;
    run_ops(*(unsigned *)arg);
    in_thread = false;
    return NULL; /* the thread's cache goes back at exit, before pthread_join returns */
}

static void run_one(void) {
    unsigned b = rd8(), arg = b >> 4;
    enum op op = ops[b & 15];
    op_name = op_names[op];
    switch (op) {
    case ALLOC: {
        slot *s = rd_slot();
        alloc_into(s, arg & 7, (arg & 7) < 7 ? rd_size() : 0);
        break;
    }
    case FREE: {
        slot *s = rd_slot();
        if (s->p != NULL) {
            say("slot %d (%s, %zu)", (int)(s - slots), family_names[s->family], s->size);
            block_free(s);
        }
        break;
    }
    case REALLOC: realloc_slot(rd_slot(), arg); break;
    case USABLE: usable_slot(rd_slot(), arg); break;
    case TRIM: say("released %zu", pymt_trim()); break;
    case FLUSH:
        say("pymt_thread_flush");
        pymt_thread_flush();
        break;
    case THREAD: {
        unsigned k = 1 + rd8() % 64;
        if (in_thread || nthreads >= MAX_THREADS) {
            run_ops(k);
            break;
        }
        nthreads++;
        say("the next %u operations", k);
        pthread_t t;
        int err = pthread_create(&t, NULL, thread_main, &k);
        if (err != 0)
            fail(NULL, "pthread_create: error %d", err);
        pthread_join(t, NULL);
        break;
    }
    case BURST: burst_run(arg); break;
    case FREE_RANGE: {
        unsigned first = rd8() % NSLOTS, count = rd8() % NSLOTS;
        say("slots %u..%u", first, first + count);
        for (unsigned i = 0; i < count; i++)
            slot_clear(&slots[(first + i) % NSLOTS]);
        break;
    }
    case ERRORS: errors_run(arg); break;
    }
}

static void run_ops(unsigned limit) {
    for (unsigned k = 0; k < limit && in.i < in.n && nops < MAX_OPS; k++) {
        nops++;
        run_one();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    /* pymt reads PYMT_MALLOC once, at its first call: this is before it */
    setenv("PYMT_MALLOC", FUZZ_DEBUG_MODE ? "debug" : "pymalloc", 1);
    pymt_mode m = pymt_get_mode();
    pooled = m == PYMT_MODE_PYMALLOC;
    if (pymt_medium_enabled())
        pool_max = PYMT_MEDIUM_REQUEST_THRESHOLD;
    debug = m == PYMT_MODE_PYMALLOC_DEBUG || m == PYMT_MODE_MALLOC_DEBUG;
    if (FUZZ_DEBUG_MODE ? m != PYMT_MODE_PYMALLOC_DEBUG : m != PYMT_MODE_PYMALLOC)
        fail(NULL, "pymt runs in mode %d, not the one this target set", (int)m);
    const char *t = getenv("FUZZ_OPS_TRACE");
    trace = t != NULL && *t == '1';
    fprintf(stderr, "fuzz_ops: PYMT_MALLOC=%s, thread caches %s\n",
            FUZZ_DEBUG_MODE ? "debug" : "pymalloc", pymt_tcache_enabled() ? "on" : "off");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    in.d = data;
    in.n = size;
    in.i = 0;
    serial = 0;
    nops = nthreads = nbursts = 0;
    run_ops(MAX_OPS);
    op_name = "end of input";
    for (int i = 0; i < NSLOTS; i++)
        slot_clear(&slots[i]);
    pymt_trim(); /* caches, depots, quarantine: the next input starts from the same place */
    return 0;
}
