/* preload_threads.c: a threaded C program that only uses malloc/free/realloc/calloc, run
 * under LD_PRELOAD=libpymt-malloc.so (and, for comparison, without it).
 *
 * Models a server: rounds of worker threads, each allocating a mix of sizes (mostly small,
 * some above the pool threshold, some aligned), filling every block with a pattern (thread id,
 * serial), handing half of them to the next thread through a mutex-protected ring, freeing
 * what it receives after checking the pattern, and reallocating some on the way. Threads are
 * created and joined every round (so caches of exiting threads are exercised), and one round
 * in four forks a child that allocates and frees on its own.
 *
 * Checks: every pattern intact (else "corrupt block" and exit 1); the checksum of the work
 * printed at the end is the same with and without the preload; with --rss-check, the resident
 * size after the last round stays within a bound of the size after the first rounds (the live
 * set is the same in each round, so growth would be a leak or unbounded retention).
 *
 * Usage: preload_threads [--threads N] [--rounds N] [--seconds S] [--ops N] [--rss-check]
 *   --seconds S keeps running rounds until S seconds have passed (the soak test).
 * Example: LD_PRELOAD=build/release/clients/libpymt-malloc.so preload_threads --threads 8 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { RING = 256 };

typedef struct block {
    uint32_t owner;
    uint32_t serial;
    size_t size;
    /* pattern bytes follow */
} block;

typedef struct ring {
    pthread_mutex_t lock;
    block *slot[RING];
    unsigned head, tail;
} ring;

static int nthreads = 4;
static long ops = 20000;
static ring *rings;
static volatile int corrupt;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static unsigned char pattern_byte(uint32_t owner, uint32_t serial, size_t i) {
    return (unsigned char)(owner * 131u + serial * 7u + (unsigned)i);
}

static void fill(block *b, uint32_t owner, uint32_t serial, size_t size) {
    b->owner = owner;
    b->serial = serial;
    b->size = size;
    unsigned char *d = (unsigned char *)(b + 1);
    for (size_t i = 0; i < size - sizeof *b; i++)
        d[i] = pattern_byte(owner, serial, i);
}

/* Check the pattern; returns the byte sum (0 and sets corrupt on a mismatch). */
static uint64_t verify(const block *b) {
    const unsigned char *d = (const unsigned char *)(b + 1);
    uint64_t sum = 0;
    for (size_t i = 0; i < b->size - sizeof *b; i++) {
        if (d[i] != pattern_byte(b->owner, b->serial, i)) {
            fprintf(stderr, "corrupt block %p owner %u serial %u byte %zu\n", (const void *)b,
                    b->owner, b->serial, i);
            corrupt = 1;
            return 0;
        }
        sum += d[i];
    }
    return sum;
}

static size_t pick_size(uint64_t *s) {
    uint64_t r = rng_next(s);
    if (r % 16 == 0)
        return 513 + (size_t)(r >> 8) % 8000; /* above the pool threshold */
    return sizeof(block) + 1 + (size_t)(r >> 8) % 480;
}

static block *alloc_block(uint64_t *s, uint32_t owner, uint32_t serial) {
    size_t size = pick_size(s);
    block *b;
    uint64_t how = rng_next(s) % 8;
    if (how == 0) {
        b = calloc(1, size);
    } else if (how == 1) {
        void *p = NULL;
        b = posix_memalign(&p, 64, size) == 0 ? p : NULL;
    } else {
        b = malloc(size);
    }
    if (!b) {
        fprintf(stderr, "allocation of %zu bytes failed\n", size);
        exit(1);
    }
    fill(b, owner, serial, size);
    return b;
}

typedef struct worker_arg {
    uint32_t id;
    uint64_t seed;
    uint64_t sum;
} worker_arg;

static void *worker(void *argp) {
    worker_arg *a = argp;
    uint64_t s = a->seed | 1;
    enum { KEEP = 64 };
    block *keep[KEEP] = {0};
    ring *out = &rings[(a->id + 1) % (uint32_t)nthreads];
    ring *in = &rings[a->id];
    for (long i = 0; i < ops && !corrupt; i++) {
        unsigned k = (unsigned)(rng_next(&s) % KEEP);
        if (keep[k]) {
            a->sum += verify(keep[k]);
            if (rng_next(&s) % 4 == 0) {
                /* grow or shrink through realloc, then refill */
                size_t size = pick_size(&s);
                block *nb = realloc(keep[k], size);
                if (!nb)
                    exit(1);
                fill(nb, a->id, (uint32_t)i, size);
                keep[k] = nb;
                continue;
            }
            if (rng_next(&s) % 2 == 0) {
                /* The owner counts a handed-over block; the receiver only checks it, so the
                 * checksum does not depend on the interleaving. */
                a->sum += verify(keep[k]);
                pthread_mutex_lock(&out->lock);
                if (out->head - out->tail < RING) {
                    out->slot[out->head++ % RING] = keep[k];
                    keep[k] = NULL;
                }
                pthread_mutex_unlock(&out->lock);
            }
            if (keep[k]) {
                free(keep[k]);
                keep[k] = NULL;
            }
        } else {
            keep[k] = alloc_block(&s, a->id, (uint32_t)i);
        }
        /* take what the previous thread handed over */
        block *got = NULL;
        pthread_mutex_lock(&in->lock);
        if (in->head != in->tail)
            got = in->slot[in->tail++ % RING];
        pthread_mutex_unlock(&in->lock);
        if (got) {
            verify(got);
            free(got);
        }
    }
    for (unsigned k = 0; k < KEEP; k++) {
        if (keep[k]) {
            a->sum += verify(keep[k]);
            free(keep[k]);
        }
    }
    return NULL;
}

static uint64_t run_round(unsigned round) {
    pthread_t *t = malloc(sizeof *t * (size_t)nthreads);
    worker_arg *args = calloc((size_t)nthreads, sizeof *args);
    for (int i = 0; i < nthreads; i++) {
        args[i].id = (uint32_t)i;
        args[i].seed = 0x9E3779B97F4A7C15ull * (round * 977u + (unsigned)i + 1);
        if (pthread_create(&t[i], NULL, worker, &args[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    }
    pid_t child = -1;
    if (round % 4 == 3) {
        /* fork while the workers allocate: the child must find the allocator usable */
        child = fork();
        if (child == 0) {
            uint64_t s = 12345;
            uint64_t sum = 0;
            for (int i = 0; i < 2000; i++) {
                block *b = alloc_block(&s, 999, (uint32_t)i);
                sum += verify(b);
                free(b);
            }
            _exit(sum && !corrupt ? 0 : 1);
        }
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    if (child > 0) {
        int st = 0;
        if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "forked child failed (status %d)\n", st);
            exit(1);
        }
    }
    uint64_t sum = 0;
    for (int i = 0; i < nthreads; i++)
        sum += args[i].sum;
    /* drain the rings */
    for (int i = 0; i < nthreads; i++) {
        while (rings[i].head != rings[i].tail) {
            block *b = rings[i].slot[rings[i].tail++ % RING];
            verify(b);
            free(b);
        }
        rings[i].head = rings[i].tail = 0;
    }
    free(args);
    free(t);
    return sum;
}

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int rounds = 8;
    double seconds = 0;
    int rss_check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--rss-check"))
            rss_check = 1;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--rounds N] [--seconds S] [--ops N] "
                            "[--rss-check]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || rounds < 1 || ops < 1)
        return 2;
    rings = calloc((size_t)nthreads, sizeof *rings);
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&rings[i].lock, NULL);

    double start = now_seconds();
    uint64_t sum = 0;
    size_t rss_warm = 0, rss_max = 0;
    unsigned done = 0;
    for (;;) {
        sum += run_round(done);
        done++;
        if (corrupt)
            return 1;
        size_t rss = rss_bytes();
        if (done == 3)
            rss_warm = rss;
        if (rss > rss_max)
            rss_max = rss;
        if (seconds > 0 ? now_seconds() - start >= seconds && done >= 4 : (int)done >= rounds)
            break;
    }
    size_t rss_end = rss_bytes();
    /* Deterministic for given arguments (rounds, not seconds): compared with and without the
     * preload. A --seconds run prints the number of rounds too, so it is not compared. */
    if (seconds > 0)
        printf("rounds %u checksum %llu\n", done, (unsigned long long)sum);
    else
        printf("threads %d rounds %d ops %ld checksum %llu\n", nthreads, rounds, ops,
               (unsigned long long)sum);
    if (rss_check) {
        /* The live set of every round is the same; allow the warm figure to double plus
         * 16 MiB of slack for per-thread caches and arena reserve. */
        size_t bound = 2 * rss_warm + ((size_t)16 << 20);
        fprintf(stderr, "rss after round 3: %zu KiB, max %zu KiB, end %zu KiB (bound %zu KiB)\n",
                rss_warm >> 10, rss_max >> 10, rss_end >> 10, bound >> 10);
        if (rss_warm == 0 || rss_max > bound) {
            fprintf(stderr, "resident size grew past the bound\n");
            return 1;
        }
    }
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_destroy(&rings[i].lock);
    free(rings);
    return 0;
}
