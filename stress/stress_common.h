/* stress_common.h: what every stress program shares. Header only (each program is one file).
 *
 * Command line (every program):
 *   --threads N   worker threads (what a "thread" does is the program's own; see its header)
 *   --ops N       operations per thread (or the program's own unit, said in its header)
 *   --seed N      base seed; each thread's generator is seeded from (seed, thread id)
 *   --seconds N   wall-clock cap: work stops at --ops or --seconds, whichever comes first
 *   --soak        long defaults (minutes, more threads, more operations); explicit flags win
 * The default seed comes from the clock and the pid, so every CI run explores a new one; it is
 * printed in the summary line and in every failure message. A run is not replayed exactly by
 * its seed (threads interleave as they like), but the sizes and choices of each thread are.
 *
 * Blocks: every block a program holds is described by a stress_block record kept outside the
 * block (owner thread id, serial, family, size). The block itself carries a pattern named for
 * its owner and serial:
 *
 *   region = the bytes the program may write (for objects: after the object head)
 *   region >= 16 bytes:
 *   +----------------------+----------------------+---------+---------+-- ... --+
 *   | STRESS_TAG | owner   | serial               | w(2)    | w(3)    |         |   8-byte words,
 *   +----------------------+----------------------+---------+---------+-- ... --+   the last cut
 *   w(k) = h + k * STRESS_STEP, h = mix(owner, serial)                               short
 *   region < 16 bytes: the bytes of w(0), w(1) (no header: there is no room)
 *
 * stress_check() runs before every free and realloc (and when a block is adopted from another
 * thread); on a mismatch it prints the seed, the scenario, the checking thread, the block, the
 * first bad offset with expected vs found bytes, and what the block's header claims, then
 * aborts. A block handed out twice shows up here as a foreign owner/serial in the header.
 * It also checks 16-byte alignment, the object head (ob_refcnt, ob_type, ob_size) and
 * pymt_usable_size (the request in debug mode, a class size for a pool block).
 *
 * Cross-thread hand-off: stress_slots is an array of atomic pointers to records. A thread
 * swaps one of its records (live or empty) into a slot and takes whatever was there (acq_rel
 * exchange: the swap itself carries the record and the block contents to the next thread). Every
 * record is always in exactly one place: a thread's table or a slot; none is lost or doubled.
 *
 * End of run: stress_baseline_take() before the workers start, stress_end_check() after they
 * are joined and every block is freed: it flushes the main thread's cache, then checks with
 * pymt_get_stats that per class blocks_total == in_use + cached + depot + free, that the
 * blocks in use, the large blocks and (debug mode) the live debug blocks are back to their
 * values at start (in debug mode after pushing the quarantine out; see stress_end_check);
 * stress_summary() prints the one summary line. */
#ifndef PYMT_STRESS_COMMON_H
#define PYMT_STRESS_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pymt/pymt.h"

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_ASAN 1
#endif
#endif
#ifndef STRESS_ASAN
#define STRESS_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif
#define STRESS_SANITIZED (STRESS_ASAN || STRESS_TSAN)

/* Helgrind and DRD know pthread synchronisation but not C11 atomics: built with
 * STRESS_HELGRIND=1 (CMake does it when PYMT_VALGRIND is on), each hand-off of the harness's own
 * (the slots, the prodcons ring) tells them about its happens-before edge, so what they still
 * report is inside pymt. Nothing otherwise. */
#if defined(STRESS_HELGRIND) && STRESS_HELGRIND
#include <valgrind/helgrind.h>
#define STRESS_HB_BEFORE(addr) ANNOTATE_HAPPENS_BEFORE(addr)
#define STRESS_HB_AFTER(addr) ANNOTATE_HAPPENS_AFTER(addr)
#else
#define STRESS_HB_BEFORE(addr) ((void)(addr))
#define STRESS_HB_AFTER(addr) ((void)(addr))
#endif

/* ---- options --------------------------------------------------------------------------------- */

typedef struct stress_opts {
    unsigned threads;
    uint64_t ops;
    uint64_t seed;
    double seconds;
    bool soak;
} stress_opts;

/* A program's defaults: CI (short) and soak (long). */
typedef struct stress_defaults {
    unsigned threads, soak_threads;
    uint64_t ops, soak_ops;
    double seconds, soak_seconds;
} stress_defaults;

/* The run, for failure messages and the summary (one program per process). */
static const char *stress_name = "stress";
static stress_opts stress_cfg;
static struct timespec stress_t0;
static atomic_bool stress_stop_flag;        /* set once the --seconds cap is reached */
static atomic_bool stress_reported;         /* a failure message has been written */
static _Thread_local unsigned stress_tid;   /* 0: main thread; workers set their own */
static pymt_mode stress_mode;               /* pymt_get_mode(), read once by stress_parse */

static inline double stress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double stress_elapsed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - stress_t0.tv_sec) + (double)(ts.tv_nsec - stress_t0.tv_nsec) * 1e-9;
}

/* Print a failure (seed first, then the reason) and abort. Any thread may call it. */
static void stress_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void stress_fail(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_store_explicit(&stress_reported, true, memory_order_relaxed);
    fprintf(stderr,
            "%s: FAIL seed=%" PRIu64 " thread=%u elapsed=%.2fs: %s\n"
            "%s: rerun with: %s --seed %" PRIu64 " --threads %u --ops %" PRIu64 "%s\n",
            stress_name, stress_cfg.seed, stress_tid, stress_elapsed(), msg, stress_name,
            stress_name, stress_cfg.seed, stress_cfg.threads, stress_cfg.ops,
            stress_cfg.soak ? " --soak" : "");
    fflush(stderr);
    abort();
}

/* A crash that is not one of our checks (SIGSEGV inside pymt, an abort from its own report)
 * still names the seed. Only async-signal-safe calls here; then the default action runs.
 * Not installed in sanitizer builds: the sanitizers own these signals and report better. */
static void stress_crash_handler(int sig) {
    char buf[160];
    if (!atomic_load_explicit(&stress_reported, memory_order_relaxed)) {
        /* No snprintf in a handler: format the seed by hand. */
        char num[24];
        int k = 0;
        uint64_t v = stress_cfg.seed;
        do {
            num[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        size_t n = 0;
        const char *parts[] = {stress_name, ": crashed (signal ", sig == SIGSEGV ? "SEGV"
                               : sig == SIGBUS ? "BUS" : "ABRT", ") seed=", NULL};
        for (int i = 0; parts[i]; i++)
            for (const char *c = parts[i]; *c && n < sizeof buf - 30; c++)
                buf[n++] = *c;
        while (k > 0)
            buf[n++] = num[--k];
        buf[n++] = '\n';
        ssize_t w = write(STDERR_FILENO, buf, n);
        (void)w;
    }
    signal(sig, SIG_DFL);
    if (sig == SIGABRT)
        raise(sig); /* abort() would re-raise too; be explicit */
    /* SEGV/BUS: returning re-runs the faulting instruction under the default action. */
}

static void stress_usage(const stress_defaults *d) {
    fprintf(stderr,
            "usage: %s [--threads N] [--ops N] [--seed N] [--seconds N] [--soak]\n"
            "  defaults: --threads %u --ops %" PRIu64 " --seconds %g\n"
            "  --soak:   --threads %u --ops %" PRIu64 " --seconds %g\n",
            stress_name, d->threads, d->ops, d->seconds, d->soak_threads, d->soak_ops,
            d->soak_seconds);
}

static uint64_t stress_parse_u64(const char *flag, const char *s, const stress_defaults *d) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "%s: bad value for %s: '%s'\n", stress_name, flag, s);
        stress_usage(d);
        exit(2);
    }
    return (uint64_t)v;
}

/* Parse argv into stress_cfg. Accepts "--flag N" and "--flag=N". Exits 2 on a bad command line. */
static void stress_parse(int argc, char **argv, const char *name, const stress_defaults *d) {
    stress_name = name;
    clock_gettime(CLOCK_MONOTONIC, &stress_t0);
    bool soak = false;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--soak") == 0)
            soak = true;
    stress_cfg.soak = soak;
    stress_cfg.threads = soak ? d->soak_threads : d->threads;
    stress_cfg.ops = soak ? d->soak_ops : d->ops;
    stress_cfg.seconds = soak ? d->soak_seconds : d->seconds;
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    stress_cfg.seed = ((uint64_t)rt.tv_sec * 1000003u) ^ (uint64_t)rt.tv_nsec ^
                      ((uint64_t)getpid() << 32);
    stress_cfg.seed %= 1000000000000ull; /* short enough to retype */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--soak") == 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            stress_usage(d);
            exit(0);
        }
        static const char *const flags[] = {"--threads", "--ops", "--seed", "--seconds"};
        int which = -1;
        const char *val = NULL;
        for (int f = 0; f < 4; f++) {
            size_t fl = strlen(flags[f]);
            if (strncmp(a, flags[f], fl) == 0 && (a[fl] == '=' || a[fl] == '\0')) {
                which = f;
                if (a[fl] == '=')
                    val = a + fl + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                break;
            }
        }
        if (which < 0 || !val) {
            fprintf(stderr, "%s: unknown or incomplete argument '%s'\n", name, a);
            stress_usage(d);
            exit(2);
        }
        uint64_t v = stress_parse_u64(flags[which], val, d);
        switch (which) {
        case 0:
            if (v < 1 || v > 4096) {
                fprintf(stderr, "%s: --threads must be 1..4096\n", name);
                exit(2);
            }
            stress_cfg.threads = (unsigned)v;
            break;
        case 1: stress_cfg.ops = v; break;
        case 2: stress_cfg.seed = v; break;
        default: stress_cfg.seconds = (double)v; break;
        }
    }
    stress_mode = pymt_get_mode();
    if (!STRESS_SANITIZED) {
        signal(SIGSEGV, stress_crash_handler);
        signal(SIGBUS, stress_crash_handler);
        signal(SIGABRT, stress_crash_handler);
    }
}

/* True once the --seconds cap has passed. Workers call it every few hundred operations. */
static inline bool stress_time_up(void) {
    if (atomic_load_explicit(&stress_stop_flag, memory_order_relaxed))
        return true;
    if (stress_cfg.seconds > 0 && stress_elapsed() >= stress_cfg.seconds) {
        atomic_store_explicit(&stress_stop_flag, true, memory_order_relaxed);
        return true;
    }
    return false;
}

/* ---- per-thread PRNG: xoshiro256** seeded through splitmix64 ------------------------------- */

typedef struct stress_rng {
    uint64_t s[4];
} stress_rng;

static inline uint64_t stress_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One independent stream per (seed, stream): stream is the thread id. */
static inline void stress_rng_init(stress_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = stress_splitmix64(&x);
}

static inline uint64_t stress_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t stress_rng_next(stress_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = stress_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = stress_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) (n > 0); Lemire's multiply-shift, bias below 2^-32 for our n. */
static inline uint64_t stress_rng_below(stress_rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)stress_rng_next(r) * n) >> 64);
}

/* True with probability pct/100. */
static inline bool stress_rng_pct(stress_rng *r, unsigned pct) {
    return stress_rng_below(r, 100) < pct;
}

/* A request size for object memory: every class equally often, plenty just around the
 * threshold, some above it up to max_large, a few zero-byte requests.
 *   ~2%  0
 *   ~70% 1..512: a class (16 B .. 512 B) uniformly, then a size inside it
 *   ~10% 496..528 (the last class and the first sizes past the threshold)
 *   rest 513..max_large */
static inline size_t stress_rand_size(stress_rng *r, size_t max_large) {
    uint64_t k = stress_rng_below(r, 100);
    if (k < 2)
        return 0;
    if (k < 72) {
        size_t cls = (size_t)stress_rng_below(r, PYMT_NUM_SIZE_CLASSES);
        return cls * PYMT_ALIGNMENT + 1 + (size_t)stress_rng_below(r, PYMT_ALIGNMENT);
    }
    if (k < 82)
        return 496 + (size_t)stress_rng_below(r, 33);
    if (max_large <= PYMT_SMALL_REQUEST_THRESHOLD)
        return 1 + (size_t)stress_rng_below(r, PYMT_SMALL_REQUEST_THRESHOLD);
    return PYMT_SMALL_REQUEST_THRESHOLD + 1 +
           (size_t)stress_rng_below(r, max_large - PYMT_SMALL_REQUEST_THRESHOLD);
}

/* ---- barrier --------------------------------------------------------------------------------- */

typedef struct stress_barrier {
    pthread_barrier_t b;
} stress_barrier;

static inline void stress_barrier_init(stress_barrier *b, unsigned n) {
    int e = pthread_barrier_init(&b->b, NULL, n);
    if (e)
        stress_fail("pthread_barrier_init(%u): %s", n, strerror(e));
}

/* Returns true in exactly one of the waiting threads (the "serial" one). */
static inline bool stress_barrier_wait(stress_barrier *b) {
    int e = pthread_barrier_wait(&b->b);
    if (e != 0 && e != PTHREAD_BARRIER_SERIAL_THREAD)
        stress_fail("pthread_barrier_wait: %s", strerror(e));
    return e == PTHREAD_BARRIER_SERIAL_THREAD;
}

static inline void stress_barrier_destroy(stress_barrier *b) {
    pthread_barrier_destroy(&b->b);
}

/* ---- blocks: records, pattern fill and check ----------------------------------------------- */

enum stress_family {
    STRESS_EMPTY = 0,
    STRESS_MEM = 1,    /* pymt_mem_*           */
    STRESS_OBJMEM = 2, /* pymt_object_malloc.. */
    STRESS_OBJECT = 3  /* pymt_object_new/newvar/del */
};

static inline const char *stress_family_name(int fam) {
    switch (fam) {
    case STRESS_MEM: return "pymt_mem";
    case STRESS_OBJMEM: return "pymt_object_malloc";
    case STRESS_OBJECT: return "pymt_object_new";
    default: return "empty";
    }
}

typedef struct stress_block {
    void *p;                /* NULL: empty record */
    size_t size;            /* bytes requested (objects: basicsize + n * itemsize) */
    const pymt_type *type;  /* objects only */
    ptrdiff_t nitems;       /* var-size objects only */
    uint64_t serial;        /* per-owner serial of the fill */
    uint32_t owner;         /* thread id that wrote the pattern */
    uint8_t fam;            /* enum stress_family */
} stress_block;

#define STRESS_TAG 0x5354520000000000ull  /* "STR" in the top bytes of the owner word */
#define STRESS_STEP 0x9E3779B97F4A7C15ull /* odd: consecutive words differ in every byte lane */

static _Thread_local uint64_t stress_serial_next; /* each thread numbers its own fills */

static inline uint64_t stress_pattern_seed(uint32_t owner, uint64_t serial) {
    uint64_t x = ((uint64_t)owner << 40) ^ serial ^ 0x243F6A8885A308D3ull;
    return stress_splitmix64(&x);
}

/* Word k of the pattern of (owner, serial) over a region of len bytes. */
static inline uint64_t stress_pattern_word(uint32_t owner, uint64_t serial, uint64_t h, size_t k,
                                           size_t len) {
    if (len >= 16) {
        if (k == 0)
            return STRESS_TAG | owner;
        if (k == 1)
            return serial;
    }
    return h + (uint64_t)k * STRESS_STEP;
}

/* Offset of the writable region inside the block. */
static inline size_t stress_region_off(const stress_block *b) {
    if (b->fam != STRESS_OBJECT)
        return 0;
    return b->type->tp_itemsize ? sizeof(pymt_varobject) : sizeof(pymt_object);
}

static inline void stress_fill_region(unsigned char *q, size_t len, uint32_t owner,
                                      uint64_t serial) {
    uint64_t h = stress_pattern_seed(owner, serial);
    size_t k = 0;
    for (; (k + 1) * 8 <= len; k++) {
        uint64_t w = stress_pattern_word(owner, serial, h, k, len);
        memcpy(q + k * 8, &w, 8);
    }
    if (k * 8 < len) {
        uint64_t w = stress_pattern_word(owner, serial, h, k, len);
        memcpy(q + k * 8, &w, len - k * 8); /* little-endian: the low bytes */
    }
}

/* Write the current thread's pattern with a fresh serial over the block's region. */
static inline void stress_fill(stress_block *b) {
    b->owner = stress_tid;
    b->serial = ++stress_serial_next;
    size_t off = stress_region_off(b);
    if (b->size > off)
        stress_fill_region((unsigned char *)b->p + off, b->size - off, b->owner, b->serial);
}

static void stress_mismatch(const stress_block *b, const char *what, size_t off, size_t len,
                            const unsigned char *expect, const unsigned char *found)
    __attribute__((noreturn));
static void stress_mismatch(const stress_block *b, const char *what, size_t off, size_t len,
                            const unsigned char *expect, const unsigned char *found) {
    char e[64], f[64], claim[96] = "";
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) {
        snprintf(e + 3 * i, 4, "%02x ", expect[i]);
        snprintf(f + 3 * i, 4, "%02x ", found[i]);
    }
    e[3 * n] = f[3 * n] = '\0';
    size_t roff = stress_region_off(b);
    if (b->size >= roff + 16) {
        uint64_t w0, w1;
        memcpy(&w0, (const unsigned char *)b->p + roff, 8);
        memcpy(&w1, (const unsigned char *)b->p + roff + 8, 8);
        if ((w0 & 0xFFFFFF0000000000ull) == STRESS_TAG)
            snprintf(claim, sizeof claim, "; the block's header names owner=%u serial=%" PRIu64,
                     (unsigned)(w0 & 0xFFFFFFFFu), w1);
        else
            snprintf(claim, sizeof claim,
                     "; the block's header is not a stress header (0x%016" PRIx64 ")", w0);
    }
    stress_fail("%s mismatch: block=%p family=%s size=%zu owner=%u serial=%" PRIu64
                " at offset %zu: expected [%s] found [%s]%s",
                what, b->p, stress_family_name(b->fam), b->size, b->owner, b->serial, off, e, f,
                claim);
}

/* Check the first len bytes of the region against the block's (owner, serial) pattern. */
static inline void stress_check_prefix(const stress_block *b, const void *p, size_t len) {
    size_t off = stress_region_off(b);
    size_t full = b->size > off ? b->size - off : 0;
    if (len > full)
        len = full;
    if (len == 0)
        return;
    const unsigned char *q = (const unsigned char *)p + off;
    uint64_t h = stress_pattern_seed(b->owner, b->serial);
    for (size_t k = 0; k * 8 < len; k++) {
        uint64_t w = stress_pattern_word(b->owner, b->serial, h, k, full), got = 0;
        size_t n = len - k * 8 < 8 ? len - k * 8 : 8;
        memcpy(&got, q + k * 8, n);
        if (n < 8)
            w &= (1ull << (8 * n)) - 1;
        if (got != w) {
            size_t i = 0;
            while (((const unsigned char *)&w)[i] == ((const unsigned char *)&got)[i])
                i++;
            unsigned char ew[8], fw[8];
            memcpy(ew, &w, 8);
            memcpy(fw, &got, 8);
            stress_mismatch(b, "pattern", off + k * 8 + i, n - i, ew + i, fw + i);
        }
    }
}

/* Full check of a live block: alignment, usable size, object head, whole pattern. */
static inline void stress_check(const stress_block *b) {
    if (!b->p)
        stress_fail("check of an empty record");
    if ((uintptr_t)b->p % PYMT_ALIGNMENT)
        stress_fail("block %p (%s, %zu bytes) is not aligned to %d", b->p,
                    stress_family_name(b->fam), b->size, PYMT_ALIGNMENT);
    /* pymt_usable_size: the requested size in debug mode (objects: rounded up to 16), the
     * size class for a pool block, at least the request on the system allocator. */
    size_t us = pymt_usable_size(b->p);
    bool debug = stress_mode == PYMT_MODE_PYMALLOC_DEBUG || stress_mode == PYMT_MODE_MALLOC_DEBUG;
    bool ok = us >= b->size;
    if (debug && b->fam != STRESS_OBJECT)
        ok = us == b->size || (b->size == 0 && us <= PYMT_ALIGNMENT);
    else if (debug)
        ok = ok && us < b->size + PYMT_ALIGNMENT;
    else if (stress_mode == PYMT_MODE_PYMALLOC && b->fam != STRESS_MEM &&
             b->size <= PYMT_SMALL_REQUEST_THRESHOLD)
        ok = ok && us % PYMT_ALIGNMENT == 0 && us <= PYMT_SMALL_REQUEST_THRESHOLD;
    if (!ok)
        stress_fail("block %p (%s, %zu bytes): pymt_usable_size says %zu", b->p,
                    stress_family_name(b->fam), b->size, us);
    if (b->fam == STRESS_OBJECT) {
        const pymt_object *o = (const pymt_object *)b->p;
        if (o->ob_type != b->type || o->ob_refcnt != 1)
            stress_fail("object %p (%s): head changed: ob_type=%p (expected %p) "
                        "ob_refcnt=%" PRIdPTR,
                        b->p, b->type->tp_name, (const void *)o->ob_type, (const void *)b->type,
                        o->ob_refcnt);
        if (b->type->tp_itemsize && ((const pymt_varobject *)b->p)->ob_size != b->nitems)
            stress_fail("object %p (%s): ob_size=%td, expected %td", b->p, b->type->tp_name,
                        ((const pymt_varobject *)b->p)->ob_size, b->nitems);
    }
    stress_check_prefix(b, b->p, b->size);
}

/* Allocate a block of the raw or object-memory family (malloc or, sometimes, calloc), check
 * a calloc'ed block is zero, fill it. Returns false (record left empty) only on ENOMEM. */
static inline bool stress_alloc(stress_block *b, int fam, size_t size, stress_rng *r) {
    bool zero = stress_rng_pct(r, 15);
    void *p;
    if (zero) {
        size_t el = 1 + (size_t)stress_rng_below(r, 4), nel = (size + el - 1) / el;
        if (size <= PYMT_SMALL_REQUEST_THRESHOLD && nel * el > PYMT_SMALL_REQUEST_THRESHOLD)
            el = 1, nel = size; /* do not round a pool-sized request past the threshold */
        size = nel * el;
        p = fam == STRESS_MEM ? pymt_mem_calloc(nel, el) : pymt_object_calloc(nel, el);
    } else {
        p = fam == STRESS_MEM ? pymt_mem_malloc(size) : pymt_object_malloc(size);
    }
    if (!p)
        stress_fail("%s(%zu) returned NULL (errno %d)", zero ? "calloc" : "malloc", size, errno);
    if (zero)
        for (size_t i = 0; i < size; i++)
            if (((unsigned char *)p)[i])
                stress_fail("calloc'ed block %p (%s, %zu bytes) has byte %zu = 0x%02x", p,
                            stress_family_name(fam), size, i, ((unsigned char *)p)[i]);
    b->p = p;
    b->size = size;
    b->fam = (uint8_t)fam;
    b->type = NULL;
    b->nitems = 0;
    stress_fill(b);
    return true;
}

/* Allocate an object of type t (nitems used when t is var-sized), fill after its head. */
static inline void stress_alloc_object(stress_block *b, const pymt_type *t, ptrdiff_t nitems) {
    void *p;
    size_t size;
    if (t->tp_itemsize) {
        pymt_varobject *v = pymt_object_newvar(t, nitems);
        if (!v)
            stress_fail("pymt_object_newvar(%s, %td) returned NULL (errno %d)", t->tp_name, nitems,
                        errno);
        if (v->ob_size != nitems)
            stress_fail("pymt_object_newvar(%s, %td): ob_size=%td", t->tp_name, nitems, v->ob_size);
        p = v;
        size = t->tp_basicsize + (size_t)nitems * t->tp_itemsize;
    } else {
        p = pymt_object_new(t);
        if (!p)
            stress_fail("pymt_object_new(%s) returned NULL (errno %d)", t->tp_name, errno);
        size = t->tp_basicsize;
        nitems = 0;
    }
    const pymt_object *o = p;
    if (o->ob_refcnt != 1 || o->ob_type != t)
        stress_fail("new object %p (%s): ob_refcnt=%" PRIdPTR " ob_type=%p", p, t->tp_name,
                    o->ob_refcnt, (const void *)o->ob_type);
    b->p = p;
    b->size = size;
    b->fam = STRESS_OBJECT;
    b->type = t;
    b->nitems = nitems;
    stress_fill(b);
}

/* Check, resize (raw or object-memory family), check the kept prefix, refill as ours. */
static inline void stress_realloc(stress_block *b, size_t newsize) {
    stress_check(b);
    void *np = b->fam == STRESS_MEM ? pymt_mem_realloc(b->p, newsize)
                                    : pymt_object_realloc(b->p, newsize);
    if (!np)
        stress_fail("realloc(%p, %zu -> %zu, %s) returned NULL (errno %d)", b->p, b->size, newsize,
                    stress_family_name(b->fam), errno);
    size_t keep = b->size < newsize ? b->size : newsize;
    stress_block old = *b;
    old.p = np;
    /* The kept bytes still carry the old pattern, computed over the old size. */
    stress_check_prefix(&old, np, keep);
    b->p = np;
    b->size = newsize;
    stress_fill(b);
}

/* Check and free through the block's own family; the record becomes empty. */
static inline void stress_free(stress_block *b) {
    stress_check(b);
    switch (b->fam) {
    case STRESS_MEM: pymt_mem_free(b->p); break;
    case STRESS_OBJMEM: pymt_object_free(b->p); break;
    case STRESS_OBJECT: pymt_object_del(b->p); break;
    default: stress_fail("free of a record with family %d", b->fam);
    }
    memset(b, 0, sizeof *b);
}

/* ---- slots: cross-thread hand-off of records ------------------------------------------------- */

typedef struct stress_slots {
    size_t n;
    _Atomic(stress_block *) *slot;
    stress_block *store; /* n empty records the slots start with */
} stress_slots;

static inline void stress_slots_init(stress_slots *s, size_t n) {
    s->n = n;
    s->slot = calloc(n, sizeof *s->slot);
    s->store = calloc(n, sizeof *s->store);
    if (!s->slot || !s->store)
        stress_fail("out of memory for %zu slots", n);
    for (size_t i = 0; i < n; i++)
        atomic_init(&s->slot[i], &s->store[i]);
}

/* Put mine into slot i, take what was there. acq_rel: the release publishes mine (record and
 * block contents) to the next taker; the acquire pairs with the previous swapper's release. */
static inline stress_block *stress_slots_swap(stress_slots *s, size_t i, stress_block *mine) {
    STRESS_HB_BEFORE(&s->slot[i]);
    stress_block *got = atomic_exchange_explicit(&s->slot[i], mine, memory_order_acq_rel);
    STRESS_HB_AFTER(&s->slot[i]);
    return got;
}

/* After the workers are joined: free every block still in a slot. */
static inline size_t stress_slots_drain(stress_slots *s) {
    size_t freed = 0;
    for (size_t i = 0; i < s->n; i++) {
        stress_block *b = atomic_load_explicit(&s->slot[i], memory_order_acquire);
        if (b && b->p) {
            stress_free(b);
            freed++;
        }
    }
    return freed;
}

static inline void stress_slots_destroy(stress_slots *s) {
    free(s->slot);
    free(s->store);
    s->slot = NULL;
    s->store = NULL;
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct stress_baseline {
    size_t in_use;      /* pool blocks in use, all classes */
    size_t large;       /* object-family blocks on the system allocator */
    size_t debug[3];    /* live debug blocks: raw, object memory, objects */
} stress_baseline;

static inline void stress_get_stats(pymt_stats *s) {
    memset(s, 0, sizeof *s);
    if (pymt_get_stats(s, sizeof *s) != 0)
        stress_fail("pymt_get_stats failed (errno %d)", errno);
    if (s->struct_size < sizeof *s)
        stress_fail("pymt_get_stats filled %zu bytes of %zu", s->struct_size, sizeof *s);
}

static inline size_t stress_stats_in_use(const pymt_stats *s) {
    size_t n = 0;
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        n += s->classes[c].blocks_in_use;
    return n;
}

/* Per class: blocks_total == in_use + cached + depot + free (exact when nothing else runs). */
static inline void stress_check_accounting(const pymt_stats *s, const char *when) {
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++) {
        const pymt_class_stats *k = &s->classes[c];
        size_t sum = k->blocks_in_use + k->blocks_cached + k->blocks_depot + k->blocks_free;
        if (k->blocks_total != sum)
            stress_fail("%s: class %d (%zu B): blocks_total %zu != in_use %zu + cached %zu + "
                        "depot %zu + free %zu (= %zu)",
                        when, c, k->block_size, k->blocks_total, k->blocks_in_use,
                        k->blocks_cached, k->blocks_depot, k->blocks_free, sum);
        if (k->block_size != (size_t)(c + 1) * PYMT_ALIGNMENT)
            stress_fail("%s: class %d reports block_size %zu", when, c, k->block_size);
    }
}

static inline void stress_baseline_take(stress_baseline *b) {
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "at start");
    b->in_use = stress_stats_in_use(&s);
    b->large = s.large_in_use;
    b->debug[0] = s.debug_blocks_raw;
    b->debug[1] = s.debug_blocks_objmem;
    b->debug[2] = s.debug_blocks_object;
}

static inline const char *stress_mode_name(pymt_mode m) {
    switch (m) {
    case PYMT_MODE_PYMALLOC: return "pymalloc";
    case PYMT_MODE_MALLOC: return "malloc";
    case PYMT_MODE_PYMALLOC_DEBUG: return "pymalloc_debug";
    case PYMT_MODE_MALLOC_DEBUG: return "malloc_debug";
    default: return "?";
    }
}

/* Larger than the debug quarantine (src/debug.c keeps 4096 blocks): see stress_end_check. */
#define STRESS_QUARANTINE_PUSH 8192

/* After every worker is joined and every block freed: flush the main thread's cache, check the
 * accounting and that everything came back; returns the stats for the caller's own checks. */
static inline pymt_stats stress_end_check(const stress_baseline *b) {
    pymt_thread_flush();
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "at end");
    if (s.debug_blocks_raw != b->debug[0] || s.debug_blocks_objmem != b->debug[1] ||
        s.debug_blocks_object != b->debug[2])
        stress_fail("at end: live debug blocks raw/objmem/object %zu/%zu/%zu, at start %zu/%zu/%zu",
                    s.debug_blocks_raw, s.debug_blocks_objmem, s.debug_blocks_object, b->debug[0],
                    b->debug[1], b->debug[2]);
    size_t pushed = 0;
    if (s.mode == PYMT_MODE_PYMALLOC_DEBUG || s.mode == PYMT_MODE_MALLOC_DEBUG) {
        /* Debug mode keeps freed blocks in a quarantine, still allocated underneath (so
         * counted in blocks_in_use and large_in_use), and the API has no call that empties it.
         * Push the workers' blocks out with fresh one-byte blocks: afterwards the quarantine
         * holds only those, all of one class, and every other count must be exact. */
        pushed = STRESS_QUARANTINE_PUSH;
        for (size_t i = 0; i < pushed; i++) {
            void *p = pymt_object_malloc(1);
            if (!p)
                stress_fail("at end: pymt_object_malloc(1) returned NULL");
            pymt_object_free(p);
        }
        pymt_thread_flush();
        stress_get_stats(&s);
        stress_check_accounting(&s, "at end, after pushing out the debug quarantine");
    }
    size_t in_use = stress_stats_in_use(&s);
    if (in_use > b->in_use + pushed || in_use < b->in_use)
        stress_fail("at end: %zu pool blocks in use, %zu at start (all blocks were freed%s)",
                    in_use, b->in_use, pushed ? "; debug quarantine pushed out" : "");
    if (in_use != b->in_use) {
        /* Debug mode: the excess must be the fresh blocks, all in one class. */
        int classes = 0;
        for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
            classes += s.classes[c].blocks_in_use != 0;
        if (b->in_use == 0 && classes > 1)
            stress_fail("at end: %zu pool blocks in use over %d classes after pushing out the "
                        "debug quarantine with %zu one-byte blocks (expected one class)",
                        in_use, classes, pushed);
    }
    if (s.large_in_use != b->large)
        stress_fail("at end: large_in_use %zu, %zu at start", s.large_in_use, b->large);
    return s;
}

/* The one summary line: "<name>: OK seed=... <detail>". */
static inline void stress_summary(const pymt_stats *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void stress_summary(const pymt_stats *s, const char *fmt, ...) {
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("%s: OK seed=%" PRIu64 " threads=%u ops=%" PRIu64 " mode=%s tcache=%d%s elapsed=%.2fs "
           "arenas_highwater=%zu %s\n",
           stress_name, stress_cfg.seed, stress_cfg.threads, stress_cfg.ops,
           stress_mode_name(s->mode), s->tcache_enabled,
           atomic_load_explicit(&stress_stop_flag, memory_order_relaxed) ? " (stopped by --seconds)"
                                                                         : "",
           stress_elapsed(), s->arenas_highwater, detail);
    fflush(stdout);
}

/* ---- threads --------------------------------------------------------------------------------- */

static inline void stress_thread_create(pthread_t *t, void *(*fn)(void *), void *arg) {
    int e = pthread_create(t, NULL, fn, arg);
    if (e)
        stress_fail("pthread_create: %s", strerror(e));
}

static inline void stress_thread_join(pthread_t t) {
    int e = pthread_join(t, NULL);
    if (e)
        stress_fail("pthread_join: %s", strerror(e));
}

#endif /* PYMT_STRESS_COMMON_H */
