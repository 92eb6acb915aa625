/* stress_fork.c: fork() while other threads are inside the allocator.
 *
 * Models: a multithreaded program that spawns subprocesses (a server running helpers, a test
 * runner, Python's multiprocessing with the fork start method). The child inherits the memory
 * of every thread but only the forking one runs: any allocator lock another thread held at the
 * fork instant, and any half-done lock-free hand-off, must not leave the child hung or its
 * heap corrupt. pymt's atfork handlers take its locks around fork for this.
 *
 * Threads: --threads N workers allocate, resize and free in a loop (all three families, pool,
 * medium and large sizes, cross-thread hand-offs through shared slots, now and then
 * pymt_thread_flush, pymt_trim, pymt_get_stats: the calls that take the core, depot, and
 * stats paths). --ops N is the number of forks the main thread makes, one after another while
 * the workers run. Before each fork the main thread holds a few blocks of its own.
 * Each child: checks and frees the inherited blocks of the main thread, allocates, checks and
 * frees a block of every size class, medium blocks (4 KiB, 100 KiB: the system allocator's with
 * PYMT_MEDIUM=0) and one past the medium ceiling (300 KiB), raw-memory blocks, objects of a
 * fixed and a var-sized type, reallocs across the 512-byte threshold, checks the stats accounting
 * identity (the other threads' caches are frozen in the child but still counted), flushes,
 * sometimes trims, and leaves with _exit(0). A failed check aborts the child.
 * Checks: the parent waits for every child and requires exit status 0 (a signal or an abort
 * is a failure, reported with the fork number); a child still running after 30 s is hung: the
 * parent prints its threads' stacks through gdb when it can, kills it and fails (a backstop
 * alarm kills the child 30 s later if the parent is gone); the workers' own pattern checks;
 * at the end the accounting identity and each class's blocks in use (both tiers) back to the
 * start.
 * Sanitizer builds (ASan and TSan): the child and the main thread's inherited blocks stay off
 * the system allocator (no raw memory, nothing over 512 bytes, nothing over 320 in debug mode,
 * whose header and guards take up to 192 bytes of a pool block); in debug mode the workers'
 * blocks too, as the child's frees and trim release what they left in the shared quarantine.
 * ASan replaces malloc with its own allocator, and the libasan of GCC 12 takes none of its
 * locks around fork: a child that calls malloc while a worker held ASan's size-class lock at
 * the fork instant hangs for good (seen here: the child in __asan::Allocator::Allocate ->
 * SizeClassAllocator64::GetFromAllocator -> Mutex::Lock, reached from pymt__sys_malloc for a
 * 4 KiB block). GCC 12's libtsan has the same limit (seen here: a child stuck in
 * __tsan::user_alloc_internal -> SizeClassAllocator64::GetFromAllocator -> Mutex::Lock, reached
 * from pymt__sys_malloc for a 48-byte raw block; and in LargeMmapAllocator::Deallocate, reached
 * from pymt_trim's quarantine flush for a worker's large block). That is the sanitizers' limit,
 * not pymt's; the other builds cover those paths.
 *
 * Defaults: CI  --threads 3 --ops 100 forks --seconds 60 (cap). A fork costs about 5 ms on the
 *           two-core CI machine even with no thread running, 30-120 ms with the workers and
 *           other tests competing for the cores, so the CI figure is small.
 *           soak --threads 8 --ops 100000 forks --seconds 600
 * Example:  stress_fork --threads 6 --ops 2000 --seed 5 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/args.h"
#include "common/block.h"
#include "common/rng.h"
#include "common/run.h"
#include "common/sanitize.h"
#include "common/slots.h"
#include "common/stats.h"
#include "common/thread.h"

#define FK_TABLE 128
#define FK_SLOTS 256
#define FK_MAX_LARGE 8192
#define FK_MAIN_BLOCKS 8
#define FK_HANG_SECONDS 30 /* a child still running after this is hung */

static const pymt_type fk_type = {"fk_fixed", 64, 0};
static const pymt_type fk_vtype = {"fk_var", sizeof(pymt_varobject), 24};

typedef struct fk_worker {
    pthread_t thread;
    unsigned id;
    stress_block **table;
    uint64_t ops;
} fk_worker;

static stress_slots fk_slots;
static atomic_bool fk_stop;

static bool fk_debug(void) {
    return stress_mode == PYMT_MODE_PYMALLOC_DEBUG || stress_mode == PYMT_MODE_MALLOC_DEBUG;
}

/* Largest request the child makes (and the main thread holds across a fork) under a
 * sanitizer: the block must come from the pools, never from the sanitizer's malloc (see top). */
static size_t fk_pool_max(void) {
    return fk_debug() ? 320 : PYMT_SMALL_REQUEST_THRESHOLD;
}

/* Under a sanitizer in debug mode the workers keep to the pools too: the quarantine is shared,
 * and a free or a pymt_trim in the child releases blocks the workers put there (see top). */
static bool fk_pools_only(void) {
    return STRESS_SANITIZED && fk_debug();
}

/* A worker's request size: stress_rand_size's, past the medium ceiling now and then; pools
 * only, at most fk_pool_max. */
static size_t fk_worker_size(stress_rng *r) {
    if (!fk_pools_only())
        return stress_rand_size(r, FK_MAX_LARGE);
    size_t n = stress_rand_size(r, fk_pool_max());
    return n <= fk_pool_max() ? n : 1 + (size_t)stress_rng_below(r, fk_pool_max());
}

static void fk_alloc_any(stress_block *b, stress_rng *r) {
    bool pools_only = fk_pools_only();
    uint64_t k = stress_rng_below(r, 100);
    if (k < 70 || (k < 85 && pools_only)) /* raw memory is the system allocator's in debug */
        stress_alloc(b, STRESS_OBJMEM, fk_worker_size(r), r);
    else if (k < 85)
        stress_alloc(b, STRESS_MEM, stress_rand_size(r, FK_MAX_LARGE), r);
    else if (k < 92)
        stress_alloc_object(b, &fk_type, 0);
    else /* pools only: 24 + 12 * 24 = 312 bytes at most */
        stress_alloc_object(b, &fk_vtype, (ptrdiff_t)stress_rng_below(r, pools_only ? 13 : 40));
}

/* A block for the main thread to hold across a fork: under a sanitizer, pool blocks only. */
static void fk_alloc_main(stress_block *b, stress_rng *r) {
    if (!STRESS_SANITIZED)
        fk_alloc_any(b, r);
    else if (stress_rng_pct(r, 80))
        stress_alloc(b, STRESS_OBJMEM, 1 + stress_rng_below(r, fk_pool_max()), r);
    else /* 24 + 12 * 24 = 312 bytes at most */
        stress_alloc_object(b, &fk_vtype, (ptrdiff_t)stress_rng_below(r, 13));
}

static void *fk_main(void *arg) {
    fk_worker *w = arg;
    stress_tid = w->id;
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, w->id);
    /* Acquire pairs with main's release when the forks are done. */
    while (!atomic_load_explicit(&fk_stop, memory_order_acquire)) {
        for (int i = 0; i < 128; i++, w->ops++) {
            stress_block **slotp = &w->table[stress_rng_below(&r, FK_TABLE)];
            stress_block *b = *slotp;
            uint64_t k = stress_rng_below(&r, 1000);
            if (!b->p) {
                fk_alloc_any(b, &r);
            } else if (k < 500) {
                stress_free(b);
            } else if (k < 700 && b->fam != STRESS_OBJECT) {
                stress_realloc(b, fk_worker_size(&r));
            } else if (k < 990) {
                stress_block *got = stress_slots_swap(&fk_slots, stress_rng_below(&r, FK_SLOTS), b);
                *slotp = got;
                if (got->p)
                    stress_free(got);
            } else if (k < 995) {
                pymt_thread_flush();
            } else if (k < 997) {
                (void)pymt_trim();
            } else {
                pymt_stats s;
                stress_get_stats(&s);
            }
        }
    }
    for (int i = 0; i < FK_TABLE; i++)
        if (w->table[i]->p)
            stress_free(w->table[i]);
    return NULL;
}

/* The child: everything through the allocator once, then _exit. */
static void fk_child(stress_block *inherited, uint64_t nfork) {
    alarm(FK_HANG_SECONDS + 30); /* the parent's deadline comes first; this one if it is gone */
    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed ^ 0xF0F0F0F0u, nfork);
    for (int i = 0; i < FK_MAIN_BLOCKS; i++)
        stress_free(&inherited[i]);
    stress_block b[PYMT_NUM_SIZE_CLASSES + 10];
    memset(b, 0, sizeof b);
    size_t max = STRESS_SANITIZED ? fk_pool_max() : PYMT_SMALL_REQUEST_THRESHOLD;
    for (int c = 0; c < PYMT_NUM_SIZE_CLASSES; c++)
        if ((size_t)(c + 1) * PYMT_ALIGNMENT <= max)
            stress_alloc(&b[c], STRESS_OBJMEM, (size_t)(c + 1) * PYMT_ALIGNMENT, &r);
    int n = PYMT_NUM_SIZE_CLASSES;
    if (!STRESS_SANITIZED) {
        stress_alloc(&b[n++], STRESS_OBJMEM, 4096, &r);
        stress_alloc(&b[n++], STRESS_OBJMEM, 100 * 1024, &r);
        stress_alloc(&b[n++], STRESS_MEM, 48, &r);
        stress_alloc(&b[n++], STRESS_MEM, 64 * 1024, &r);
        stress_alloc(&b[n++], STRESS_OBJMEM, 300 * 1024, &r); /* past the medium ceiling */
        stress_alloc_object(&b[n++], &fk_vtype, 30); /* 24 + 720 bytes: past the threshold */
        stress_realloc(&b[0], 600);                     /* pool -> medium tier (or system) */
        stress_realloc(&b[PYMT_NUM_SIZE_CLASSES], 200); /* medium tier (or system) -> pool */
        stress_realloc(&b[PYMT_NUM_SIZE_CLASSES + 3], 100); /* raw, 64 KiB -> 100 bytes */
    } else {
        stress_realloc(&b[0], 300); /* pool -> pool, another class */
    }
    stress_alloc_object(&b[n++], &fk_type, 0);
    stress_alloc_object(&b[n++], &fk_vtype, 3);
    pymt_stats s;
    stress_get_stats(&s);
    stress_check_accounting(&s, "in a forked child");
    for (int i = n - 1; i >= 0; i--)
        if (b[i].p)
            stress_free(&b[i]);
    pymt_thread_flush();
    if (nfork % 4 == 0)
        (void)pymt_trim();
    stress_get_stats(&s);
    stress_check_accounting(&s, "in a forked child after frees");
    _exit(0);
}

/* Print the stacks of every thread of pid to stderr through gdb, if there is one: a hung child
 * then says where it waits (a lock of pymt's, or one of the C library's or a sanitizer's). */
static void fk_dump_stacks(pid_t pid) {
    char spid[24];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    fprintf(stderr, "stress_fork: the stacks of the hung child %s (gdb -p %s):\n", spid, spid);
    fflush(stderr);
    pid_t g = fork();
    if (g == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execlp("gdb", "gdb", "-p", spid, "-batch", "-nx", "-ex", "thread apply all bt",
               (char *)NULL);
        static const char msg[] = "stress_fork: cannot run gdb: no stacks\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(127);
    }
    int st;
    if (g > 0)
        while (waitpid(g, &st, 0) < 0 && errno == EINTR)
            ;
}

/* Wait for child pid: true with its status in *st, false when it is still running after
 * FK_HANG_SECONDS (then its stacks are printed and it is killed and reaped). */
static bool fk_wait(pid_t pid, int *st) {
    double deadline = stress_now() + FK_HANG_SECONDS;
    struct timespec nap = {0, 200000}; /* 0.2 ms, doubling to 3.2: most children take 5-100 ms */
    for (;;) {
        pid_t got = waitpid(pid, st, WNOHANG);
        if (got == pid)
            return true;
        if (got < 0 && errno != EINTR)
            stress_fail("waitpid: %s", strerror(errno));
        if (stress_now() > deadline)
            break;
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 2000000)
            nap.tv_nsec *= 2;
    }
    fk_dump_stacks(pid);
    kill(pid, SIGKILL);
    while (waitpid(pid, st, 0) < 0 && errno == EINTR)
        ;
    return false;
}

int main(int argc, char **argv) {
    static const stress_defaults d = {.threads = 3, .soak_threads = 8, .ops = 100,
                                      .soak_ops = 100000, .seconds = 60, .soak_seconds = 600};
    stress_parse(argc, argv, "stress_fork", &d);
    stress_baseline base;
    stress_baseline_take(&base);

    unsigned nt = stress_cfg.threads;
    fk_worker *w = calloc(nt, sizeof *w);
    stress_block *recs = calloc((size_t)nt * FK_TABLE, sizeof *recs);
    stress_block **tables = calloc((size_t)nt * FK_TABLE, sizeof *tables);
    if (!w || !recs || !tables)
        stress_fail("out of memory");
    stress_slots_init(&fk_slots, FK_SLOTS);
    for (unsigned i = 0; i < nt; i++) {
        w[i].id = i + 1;
        w[i].table = tables + (size_t)i * FK_TABLE;
        for (int j = 0; j < FK_TABLE; j++)
            w[i].table[j] = &recs[(size_t)i * FK_TABLE + j];
        stress_thread_create(&w[i].thread, fk_main, &w[i]);
    }

    stress_rng r;
    stress_rng_init(&r, stress_cfg.seed, 0);
    stress_block mine[FK_MAIN_BLOCKS];
    memset(mine, 0, sizeof mine);
    uint64_t forks = 0; /* each child that fails its checks fails the run */
    double child_wait = 0;
    for (; forks < stress_cfg.ops; forks++) {
        if (stress_time_up())
            break;
        for (int i = 0; i < FK_MAIN_BLOCKS; i++) {
            if (mine[i].p)
                stress_free(&mine[i]);
            fk_alloc_main(&mine[i], &r);
        }
        fflush(NULL); /* nothing buffered is written twice */
        pid_t pid = fork();
        if (pid < 0)
            stress_fail("fork %" PRIu64 ": %s", forks + 1, strerror(errno));
        if (pid == 0)
            fk_child(mine, forks + 1);
        double t = stress_now();
        int st;
        bool hung = !fk_wait(pid, &st);
        child_wait += stress_now() - t;
        if (hung)
            stress_fail("child of fork %" PRIu64 " (pid %d) hung for %d s (a lock held at fork?);"
                        " its threads' stacks are above when gdb could attach",
                        forks + 1, (int)pid, FK_HANG_SECONDS);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (WIFSIGNALED(st))
                stress_fail("child of fork %" PRIu64 " (pid %d) died of signal %d (%s)", forks + 1,
                            (int)pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
            stress_fail("child of fork %" PRIu64 " (pid %d) exited with status %d", forks + 1,
                        (int)pid, WEXITSTATUS(st));
        }
    }
    /* Release pairs with the workers' acquire: they stop after the last fork. */
    atomic_store_explicit(&fk_stop, true, memory_order_release);
    uint64_t ops = 0;
    for (unsigned i = 0; i < nt; i++) {
        stress_thread_join(w[i].thread);
        ops += w[i].ops;
    }
    for (int i = 0; i < FK_MAIN_BLOCKS; i++)
        if (mine[i].p)
            stress_free(&mine[i]);
    size_t drained = stress_slots_drain(&fk_slots);
    pymt_stats s = stress_end_check(&base);
    stress_summary(&s,
                   "forks=%" PRIu64 " mean_child_ms=%.2f"
                   " worker_ops=%" PRIu64 " drained_by_main=%zu",
                   forks, forks ? child_wait * 1000 / (double)forks : 0.0, ops,
                   drained);
    stress_slots_destroy(&fk_slots);
    free(tables);
    free(recs);
    free(w);
    return 0;
}
