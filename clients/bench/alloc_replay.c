/* alloc_replay.c: pymt-alloc-replay, a recorded CPython allocation stream run against pymt and
 * against CPython's own pymalloc.
 *
 *   PYMT_BENCH_TRACE=/tmp/t.trace pymt-python script.py
 *   pymt-alloc-replay /tmp/t.trace [--alloc pymt|pymalloc|both] [--reps N] [--pairs N]
 *                     [--touch BYTES]
 *
 * The trace (python_trace.h) holds every call of the MEM and OBJ domains of one run, in order.
 * The replay turns its addresses into slots (a block is a slot from its allocation to its
 * free) and runs the calls once as a warm-up, then N times (--reps, default 5), each time
 * freeing at the end what the run left live, and prints the median and fastest time of a
 * repetition's calls, the nanoseconds per call, and per rep the minor page faults and the
 * system time. --alloc pymalloc calls PyObject_Malloc, PyObject_Calloc, PyObject_Realloc and
 * PyObject_Free of the libpython this program links, before any interpreter is initialised,
 * when they are CPython's pymalloc (the default allocator of a build with pymalloc); --alloc
 * pymt calls pymt_object_*. --alloc both (the default) runs the two in turns, each warm-up and
 * reps in a child process of its own, --pairs times (default 7), and prints the median and
 * range of the pairs' ratios pymt / pymalloc. Processes apart, and reps in blocks, so that each
 * allocator runs as it would in a program of its own: a rep does not start with the other
 * allocator's heap in the address space and its data in the CPU caches.
 *
 * After each allocation the first BYTES bytes of the block are written (default 16: a
 * reference count and a type) and a free reads its first byte, as CPython's object set-up and
 * deallocation touch them. pymt runs with the options pymt-python gives it
 * (pymt_python_tables: PYMT_PURGE_MAX=32M unless the environment says otherwise).
 *
 * What it shows: the allocators' own cost on a Python program's exact sequence of sizes,
 * lifetimes and realloc growths, without the interpreter around them. Under `valgrind
 * --tool=cachegrind` (or callgrind), the counts of --reps 2 less those of --reps 1 are one
 * repetition's, and do not move from run to run. Not a test of correctness: each allocator
 * checks its own blocks. A trace of several threads is replayed by one thread, in the order
 * the GIL gave the calls. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pymt/pymt.h"
#include "python_domains.h"
#include "python_trace.h"

/* libpython's object allocator (Include/objimpl.h), declared here to keep Python.h out */
void *PyObject_Malloc(size_t n);
void *PyObject_Calloc(size_t nelem, size_t elsize);
void *PyObject_Realloc(void *p, size_t n);
void PyObject_Free(void *p);

enum { OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_FREE };
typedef struct op {
    uint32_t kind, slot, size;
} op;

typedef struct allocator {
    const char *name;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
} allocator;

static const allocator allocators[] = {
    {"pymt", pymt_object_malloc, pymt_object_calloc, pymt_object_realloc, pymt_object_free},
    {"pymalloc", PyObject_Malloc, PyObject_Calloc, PyObject_Realloc, PyObject_Free},
};

static void die(const char *what) {
    fprintf(stderr, "pymt-alloc-replay: %s\n", what);
    exit(2);
}

/* ---- addresses to slots: an open-addressed map of the live blocks, slots reused LIFO ------- */

typedef struct slot_map {
    uint64_t *key; /* 0: empty */
    uint32_t *val;
    size_t mask;
    uint32_t *free_slots;
    size_t nfree;
    uint32_t nslots;
} slot_map;

static size_t map_find(const slot_map *m, uint64_t k) {
    size_t i = (size_t)((k >> 4) * 0x9e3779b97f4a7c15ull) & m->mask;
    while (m->key[i] != 0 && m->key[i] != k)
        i = (i + 1) & m->mask;
    return i;
}

static uint32_t map_add(slot_map *m, uint64_t k) {
    uint32_t s = m->nfree > 0 ? m->free_slots[--m->nfree] : m->nslots++;
    size_t i = map_find(m, k);
    m->key[i] = k;
    m->val[i] = s;
    return s;
}

/* The slot of k, removed from the map; UINT32_MAX when k is not live (allocated before the
 * trace began). Linear probing's deletion: later keys of the cluster move back. */
static uint32_t map_take(slot_map *m, uint64_t k) {
    size_t i = map_find(m, k);
    if (m->key[i] == 0)
        return UINT32_MAX;
    uint32_t s = m->val[i];
    m->free_slots[m->nfree++] = s;
    for (size_t j = (i + 1) & m->mask;; j = (j + 1) & m->mask) {
        m->key[i] = 0;
        if (m->key[j] == 0)
            break;
        size_t home = (size_t)((m->key[j] >> 4) * 0x9e3779b97f4a7c15ull) & m->mask;
        /* j's key may fill the hole at i unless its home lies cyclically in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            m->key[i] = m->key[j];
            m->val[i] = m->val[j];
            i = j;
        }
    }
    return s;
}

/* Read the trace at path and turn it into ops over slots; *nslots: the slots used. */
static op *load(const char *path, size_t *nops, uint32_t *nslots, size_t *unmatched) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0)
        die("cannot open the trace");
    size_t nrec = (size_t)st.st_size / sizeof(trace_rec);
    if ((size_t)st.st_size % sizeof(trace_rec) != 0 || nrec == 0)
        die("not a trace (its size is not a whole number of records)");
    trace_rec *rec = malloc(nrec * sizeof *rec);
    op *ops = malloc(nrec * sizeof *ops);
    size_t cap = 16;
    while (cap < 2 * nrec)
        cap *= 2;
    slot_map m = {calloc(cap, sizeof(uint64_t)), malloc(cap * sizeof(uint32_t)), cap - 1,
                  malloc(nrec * sizeof(uint32_t)), 0, 0};
    if (rec == NULL || ops == NULL || m.key == NULL || m.val == NULL || m.free_slots == NULL)
        die("out of memory");
    if (fread(rec, sizeof *rec, nrec, f) != nrec)
        die("cannot read the trace");
    fclose(f);
    size_t n = 0;
    *unmatched = 0;
    for (size_t i = 0; i < nrec; i++) {
        const trace_rec *r = &rec[i];
        switch (r->op) {
        case TRACE_MALLOC:
        case TRACE_CALLOC:
            if (r->ptr != 0)
                ops[n++] = (op){r->op == TRACE_MALLOC ? OP_MALLOC : OP_CALLOC, map_add(&m, r->ptr), r->size};
            break;
        case TRACE_REALLOC_OLD: {
            if (i + 1 == nrec || rec[i + 1].op != TRACE_REALLOC_NEW)
                die("a realloc record without its result");
            const trace_rec *out = &rec[++i];
            if (out->ptr == 0)
                break; /* failed: the old block stays */
            uint32_t s = r->ptr != 0 ? map_take(&m, r->ptr) : UINT32_MAX;
            if (r->ptr != 0 && s == UINT32_MAX)
                ++*unmatched; /* grows a block from before the trace: replayed as a malloc */
            if (s == UINT32_MAX) {
                /* realloc(NULL, n) stays a realloc (of a slot that is NULL); one of a block
                 * from before the trace becomes a malloc */
                ops[n++] = (op){r->ptr == 0 ? OP_REALLOC : OP_MALLOC, map_add(&m, out->ptr), out->size};
            } else {
                m.nfree--; /* the slot stays with the block */
                size_t j = map_find(&m, out->ptr);
                m.key[j] = out->ptr;
                m.val[j] = s;
                ops[n++] = (op){OP_REALLOC, s, out->size};
            }
            break;
        }
        case TRACE_FREE: {
            if (r->ptr == 0)
                break;
            uint32_t s = map_take(&m, r->ptr);
            if (s == UINT32_MAX)
                ++*unmatched;
            else
                ops[n++] = (op){OP_FREE, s, 0};
            break;
        }
        default:
            die("not a trace (an unknown record)");
        }
    }
    *nops = n;
    *nslots = m.nslots;
    free(rec);
    free(m.key);
    free(m.val);
    free(m.free_slots);
    return ops;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One repetition: every op, then a free of each slot still live. Returns the seconds the ops
 * took (the final frees not counted). */
static double run(const allocator *a, const op *ops, size_t nops, void **slot, uint32_t nslots,
                  size_t touch, uint64_t *sink) {
    uint64_t acc = 0;
    double t0 = now();
    for (size_t i = 0; i < nops; i++) {
        const op *o = &ops[i];
        void *p;
        switch (o->kind) {
        case OP_MALLOC:
        case OP_CALLOC:
            p = o->kind == OP_MALLOC ? a->malloc(o->size) : a->calloc(1, o->size);
            if (p == NULL)
                die("out of memory during the replay");
            memset(p, (int)i, o->size < touch ? o->size : touch);
            slot[o->slot] = p;
            break;
        case OP_REALLOC:
            p = a->realloc(slot[o->slot], o->size);
            if (p == NULL)
                die("out of memory during the replay");
            acc += *(unsigned char *)p;
            slot[o->slot] = p;
            break;
        default:
            p = slot[o->slot];
            acc += *(unsigned char *)p;
            a->free(p);
            slot[o->slot] = NULL;
        }
    }
    double t = now() - t0;
    for (uint32_t s = 0; s < nslots; s++)
        if (slot[s] != NULL) {
            a->free(slot[s]);
            slot[s] = NULL;
        }
    *sink += acc;
    return t;
}

/* Median of t[0..n) (sorts t). */
static double median(double *t, size_t n) {
    qsort(t, n, sizeof *t, cmp_double);
    return t[n / 2];
}

typedef struct replay {
    const op *ops;
    size_t nops;
    void **slot;
    uint32_t nslots;
    size_t touch;
    long reps;
} replay;

/* What one block of reps measured: the median and fastest rep, and per rep the minor page
 * faults and the system time (getrusage over the counted reps). */
typedef struct block_figures {
    double median, min, faults, sys;
} block_figures;

static volatile uint64_t sink_keep; /* the bytes read, so that the reads stay */

/* One warm-up repetition, not counted, then reps counted ones. */
static block_figures run_block(const allocator *a, const replay *r) {
    double *t = malloc((size_t)r->reps * sizeof *t);
    if (t == NULL)
        die("out of memory");
    uint64_t sink = 0;
    (void)run(a, r->ops, r->nops, r->slot, r->nslots, r->touch, &sink);
    struct rusage u0, u1;
    getrusage(RUSAGE_SELF, &u0);
    for (long i = 0; i < r->reps; i++)
        t[i] = run(a, r->ops, r->nops, r->slot, r->nslots, r->touch, &sink);
    getrusage(RUSAGE_SELF, &u1);
    block_figures f;
    f.median = median(t, (size_t)r->reps);
    f.min = t[0];
    f.faults = (double)(u1.ru_minflt - u0.ru_minflt) / (double)r->reps;
    f.sys = ((double)(u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) +
             (double)(u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) * 1e-6) / (double)r->reps;
    free(t);
    sink_keep = sink;
    return f;
}

/* run_block in a child process, so that each allocator starts from a process of its own (and
 * none finds the other's heap in its address space); the parent reads the figures. */
static block_figures run_block_apart(const allocator *a, const replay *r) {
    int fd[2];
    if (pipe(fd) != 0)
        die("pipe failed");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        close(fd[0]);
        block_figures f = run_block(a, r);
        _exit(write(fd[1], &f, sizeof f) == (ssize_t)sizeof f ? 0 : 1);
    }
    close(fd[1]);
    block_figures f;
    ssize_t got = read(fd[0], &f, sizeof f);
    close(fd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)sizeof f)
        die("a replay process failed");
    return f;
}

int main(int argc, char **argv) {
    const char *usage = "usage: pymt-alloc-replay TRACE [--alloc pymt|pymalloc|both] [--reps N] "
                        "[--pairs N] [--touch BYTES]";
    const char *path = NULL;
    int which = 2; /* both */
    long reps = 5, pairs = 7, touch = 16;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--alloc") == 0 && i + 1 < argc) {
            const char *name = argv[++i];
            which = strcmp(name, "pymt") == 0 ? 0 : strcmp(name, "pymalloc") == 0 ? 1
                  : strcmp(name, "both") == 0 ? 2 : -1;
            if (which < 0)
                die("--alloc takes pymt, pymalloc or both");
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = strtol(argv[++i], NULL, 10);
            if (reps < 1 || reps > 1000)
                die("--reps takes 1 to 1000");
        } else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = strtol(argv[++i], NULL, 10);
            if (pairs < 1 || pairs > 1000)
                die("--pairs takes 1 to 1000");
        } else if (strcmp(argv[i], "--touch") == 0 && i + 1 < argc) {
            touch = strtol(argv[++i], NULL, 10);
            if (touch < 1 || touch > (1L << 30))
                die("--touch takes 1 to 2^30 bytes");
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            die(usage);
        }
    }
    if (path == NULL)
        die(usage);
    /* pymt set up as pymt-python sets it up (its tables choose the library's options for
     * CPython), before its first allocation; the replay itself calls pymt_object_* */
    PyMemAllocatorEx raw, obj;
    pymt_python_tables(&raw, &obj);
    size_t unmatched;
    replay r = {.touch = (size_t)touch, .reps = reps};
    op *ops = load(path, &r.nops, &r.nslots, &unmatched);
    r.ops = ops;
    r.slot = calloc(r.nslots ? r.nslots : 1, sizeof *r.slot);
    if (r.slot == NULL)
        die("out of memory");
    printf("%zu calls, at most %u blocks live, %zu calls on blocks from before the trace "
           "(frees skipped, reallocs run as mallocs)\n", r.nops, r.nslots, unmatched);
    double per = 1e9 / (double)(r.nops ? r.nops : 1);
    if (which != 2) {
        block_figures f = run_block(&allocators[which], &r);
        printf("%-8s %ld reps after one warm-up: min %.4f s, median %.4f s, %.1f ns per call; "
               "per rep %.0f minor faults, %.1f ms system\n", allocators[which].name, reps, f.min,
               f.median, f.median * per, f.faults, f.sys * 1e3);
    } else {
        /* pairs of processes, pymt's then pymalloc's, each a warm-up and reps: the ratio of a
         * pair's medians is taken seconds apart, so a machine whose speed drifts moves both
         * sides alike */
        double *m[2], *flt[2], *sys[2], *ratio = malloc((size_t)pairs * sizeof(double));
        for (int k = 0; k < 2; k++) {
            m[k] = malloc((size_t)pairs * sizeof(double));
            flt[k] = malloc((size_t)pairs * sizeof(double));
            sys[k] = malloc((size_t)pairs * sizeof(double));
            if (m[k] == NULL || flt[k] == NULL || sys[k] == NULL)
                die("out of memory");
        }
        if (ratio == NULL)
            die("out of memory");
        for (long i = 0; i < pairs; i++) {
            for (int k = 0; k < 2; k++) {
                block_figures f = run_block_apart(&allocators[k], &r);
                m[k][i] = f.median;
                flt[k][i] = f.faults;
                sys[k][i] = f.sys;
            }
            ratio[i] = m[0][i] / m[1][i];
        }
        for (int k = 0; k < 2; k++) {
            double med = median(m[k], (size_t)pairs);
            printf("%-8s %ld processes of %ld reps after one warm-up: medians %.4f-%.4f s, median "
                   "%.4f s, %.1f ns per call; per rep %.0f minor faults, %.1f ms system "
                   "(medians)\n", allocators[k].name, pairs, reps, m[k][0], m[k][pairs - 1], med,
                   med * per, median(flt[k], (size_t)pairs), median(sys[k], (size_t)pairs) * 1e3);
            free(m[k]);
            free(flt[k]);
            free(sys[k]);
        }
        double med = median(ratio, (size_t)pairs);
        printf("pymt / pymalloc, pair by pair: median %.3f (%.3f-%.3f)\n", med, ratio[0],
               ratio[pairs - 1]);
        free(ratio);
    }
    free(ops);
    free(r.slot);
    return 0;
}
