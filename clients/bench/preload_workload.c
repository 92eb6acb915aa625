/* preload_workload.c: a plain malloc/free workload for comparing preloaded allocators
 * (preload_bench.sh runs it under glibc, libpymt-malloc.so, mimalloc, jemalloc, tcmalloc).
 *
 *   local    each thread keeps a window of 512 live blocks and replaces a random one per
 *            step: free the old block, malloc a new one (16..512 bytes, 1 in 32 up to 4 KiB),
 *            write its first and last byte. Models a program's private churn.
 *   xthread  threads are paired; each allocates batches of 64 blocks and hands them to its
 *            partner, who frees them: every block is freed by a thread that did not allocate
 *            it (remote frees, the case thread caches find hardest).
 * Prints one line: workload, threads, operations (malloc+free pairs), seconds (wall clock
 * from the first worker's start after the barrier to the last worker's end), and millions of
 * pairs per second.
 * Usage: preload_workload local|xthread THREADS OPS_PER_THREAD */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long ops;
static pthread_barrier_t start_barrier;
/* Each worker's start (after the barrier) and end; the run time is from the first start to
 * the last end, so a main thread that is slow to wake up does not shorten it. */
static double *t_start, *t_end;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick(uint64_t *s) {
    uint64_t r = rng(s);
    if ((r & 31) == 0)
        return 513 + (size_t)(r >> 8) % 3584;
    return 16 + (size_t)(r >> 8) % 497;
}

static void *alloc_touch(size_t n) {
    unsigned char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc failed\n");
        exit(1);
    }
    p[0] = 1;
    p[n - 1] = 2;
    return p;
}

static void *local_worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t s = (uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull + 1;
    enum { W = 512 };
    void *win[W];
    for (int i = 0; i < W; i++)
        win[i] = alloc_touch(pick(&s));
    pthread_barrier_wait(&start_barrier);
    t_start[id] = now();
    for (long i = 0; i < ops; i++) {
        unsigned k = (unsigned)(rng(&s) % W);
        free(win[k]);
        win[k] = alloc_touch(pick(&s));
    }
    t_end[id] = now();
    for (int i = 0; i < W; i++)
        free(win[i]);
    return NULL;
}

/* xthread: a single-producer single-consumer ring of batches per direction. */
enum { BATCH = 64, SLOTS = 16 };
typedef struct channel {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void **batch[SLOTS];
    unsigned head, tail;
} channel;
typedef struct pair_arg {
    unsigned id;
    channel *out, *in;
} pair_arg;

static void channel_put(channel *c, void **b) {
    pthread_mutex_lock(&c->lock);
    while (c->head - c->tail == SLOTS)
        pthread_cond_wait(&c->cond, &c->lock);
    c->batch[c->head++ % SLOTS] = b;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void **channel_get(channel *c) {
    pthread_mutex_lock(&c->lock);
    while (c->head == c->tail)
        pthread_cond_wait(&c->cond, &c->lock);
    void **b = c->batch[c->tail++ % SLOTS];
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return b;
}

static void *xthread_worker(void *argp) {
    pair_arg *a = argp;
    uint64_t s = (uint64_t)(a->id + 1) * 0x9E3779B97F4A7C15ull + 1;
    long batches = ops / BATCH;
    pthread_barrier_wait(&start_barrier);
    t_start[a->id] = now();
    for (long i = 0; i < batches; i++) {
        void **b = malloc(BATCH * sizeof *b);
        for (int j = 0; j < BATCH; j++)
            b[j] = alloc_touch(pick(&s));
        channel_put(a->out, b);
        void **got = channel_get(a->in);
        for (int j = 0; j < BATCH; j++)
            free(got[j]);
        free(got);
    }
    t_end[a->id] = now();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s local|xthread THREADS OPS_PER_THREAD\n", argv[0]);
        return 2;
    }
    const char *kind = argv[1];
    int nthreads = atoi(argv[2]);
    ops = atol(argv[3]);
    int xthread = strcmp(kind, "xthread") == 0;
    if (nthreads < 1 || ops < BATCH || (!xthread && strcmp(kind, "local") != 0) ||
        (xthread && nthreads % 2 != 0)) {
        fprintf(stderr, "bad arguments (xthread needs an even thread count)\n");
        return 2;
    }
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    pair_arg *pa = calloc((size_t)nthreads, sizeof *pa);
    channel *ch = calloc((size_t)nthreads, sizeof *ch);
    t_start = calloc((size_t)nthreads, sizeof *t_start);
    t_end = calloc((size_t)nthreads, sizeof *t_end);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads);
    for (int i = 0; i < nthreads; i++) {
        pthread_mutex_init(&ch[i].lock, NULL);
        pthread_cond_init(&ch[i].cond, NULL);
    }
    for (int i = 0; i < nthreads; i++) {
        int rc;
        if (xthread) {
            int partner = i ^ 1;
            pa[i].id = (unsigned)i;
            pa[i].out = &ch[partner];
            pa[i].in = &ch[i];
            rc = pthread_create(&t[i], NULL, xthread_worker, &pa[i]);
        } else {
            rc = pthread_create(&t[i], NULL, local_worker, (void *)(uintptr_t)i);
        }
        if (rc != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    double first = t_start[0], last = t_end[0];
    for (int i = 1; i < nthreads; i++) {
        first = t_start[i] < first ? t_start[i] : first;
        last = t_end[i] > last ? t_end[i] : last;
    }
    double dt = last - first;
    long total = xthread ? (ops / BATCH) * BATCH * nthreads : ops * nthreads;
    printf("%s %d %ld %.4f %.2f\n", kind, nthreads, total, dt, total / dt / 1e6);
    free(t);
    free(pa);
    free(ch);
    free(t_start);
    free(t_end);
    return 0;
}
