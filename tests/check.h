/* check.h: the small test framework of the pymt unit tests (header only, one per test binary).
 *
 * A test file defines cases as plain functions and lists them in a table:
 *
 *   static void realloc_keeps_contents(void) { CHECK(p != NULL); CHECK_EQ(a, b); ... }
 *   static const check_case cases[] = { CHECK_CASE(realloc_keeps_contents), ... };
 *   CHECK_MAIN(cases)
 *
 * The binary runs every case in order and exits non-zero when one failed; `test_x NAME` runs
 * one case only, printing nothing but failures. Cases whose name starts with "child_" are not
 * run by default: they are bodies for check_spawn_self(), which re-executes this binary for one
 * case in a fresh process (with environment variables set or removed), the only way to see the
 * allocator before first use.
 *
 *   CHECK(cond)        records a failure with file:line and the expression, goes on
 *   CHECK_EQ(a, b)     the same, printing both values (as unsigned integers)
 *   REQUIRE(cond)      records a failure and returns from the current function
 *   CHECK_SKIP(why)    marks the case skipped and returns (e.g. under a sanitizer)
 *   check_fork(fn, arg, buf, cap)        runs fn(arg) in a forked child, stderr into buf
 *   check_spawn_self(case, env, buf, cap) runs one case in a fresh process, stderr into buf
 *   check_rss_bytes(), check_vm_bytes()  resident and virtual size from /proc/self/statm
 *   check_minor_faults()                 minor page faults of this process so far
 *   check_stats_text()                   what pymt_print_stats writes, as a string to free()
 *
 * Both child helpers return the wait status (use WIFEXITED/WIFSIGNALED); a child exits 0 when
 * it recorded no failure, 1 otherwise, and is killed by SIGALRM after CHECK_CHILD_TIMEOUT s. */
#ifndef PYMT_TESTS_CHECK_H
#define PYMT_TESTS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pymt/pymt.h"

/* Sanitizer builds: RSS and address-space tests mean nothing there and are skipped, and ASan's
 * own allocator is not fork-safe while other threads call malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_ASAN 1
#endif
#endif
#ifndef CHECK_ASAN
#define CHECK_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define CHECK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CHECK_TSAN 1
#endif
#endif
#ifndef CHECK_TSAN
#define CHECK_TSAN 0
#endif
#define CHECK_SANITIZED (CHECK_ASAN || CHECK_TSAN)

#define CHECK_CHILD_TIMEOUT 120

typedef struct check_case {
    const char *name;
    void (*fn)(void);
} check_case;

#define CHECK_CASE(fn) {#fn, fn}

static int check_failures;     /* failures recorded by the current case */
static int check_skipped;      /* the current case called CHECK_SKIP */
static const char *check_self; /* argv[0], for check_spawn_self */

static inline void check_fail_at(const char *file, int line, const char *what) {
    check_failures++;
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    fflush(stderr);
}

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond))                                                                         \
            check_fail_at(__FILE__, __LINE__, #cond);                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        uintmax_t check_a_ = (uintmax_t)(a), check_b_ = (uintmax_t)(b);                      \
        if (check_a_ != check_b_) {                                                          \
            check_fail_at(__FILE__, __LINE__, #a " == " #b);                                 \
            fprintf(stderr, "    left %" PRIuMAX ", right %" PRIuMAX "\n", check_a_, check_b_); \
        }                                                                                    \
    } while (0)

#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            check_fail_at(__FILE__, __LINE__, #cond);                                        \
            return;                                                                          \
        }                                                                                    \
    } while (0)

#define CHECK_SKIP(why)                                                                      \
    do {                                                                                     \
        check_skipped = 1;                                                                   \
        fprintf(stderr, "    skipped: %s\n", why);                                           \
        return;                                                                              \
    } while (0)

/* ---- children ------------------------------------------------------------------------------ */

/* Read everything from fd into buf (NUL-terminated, truncated to cap - 1). */
static inline void check_drain(int fd, char *buf, size_t cap) {
    size_t len = 0;
    char sink[512];
    for (;;) {
        char *dst = len + 1 < cap ? buf + len : sink;
        size_t room = len + 1 < cap ? cap - 1 - len : sizeof sink;
        ssize_t got = read(fd, dst, room);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (dst == buf + len)
            len += (size_t)got;
    }
    if (cap > 0)
        buf[len] = '\0';
}

/* Start a child with its stderr on a pipe; returns the pid (0 in the child), -1 on error. */
static inline pid_t check_fork_piped(int *rfd) {
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        alarm(CHECK_CHILD_TIMEOUT);
        return 0;
    }
    close(fds[1]);
    *rfd = fds[0];
    return pid;
}

static inline int check_reap(pid_t pid, int rfd, char *buf, size_t cap) {
    check_drain(rfd, buf, cap);
    close(rfd);
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

/* Run fn(arg) in a forked child (which inherits this process's allocator state); the child's
 * stderr goes to buf. Returns the wait status, or -1 when the fork failed. */
static inline int check_fork(void (*fn)(void *), void *arg, char *buf, size_t cap) {
    int rfd;
    pid_t pid = check_fork_piped(&rfd);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        check_failures = 0;
        fn(arg);
        fflush(stderr);
        _exit(check_failures ? 1 : 0);
    }
    return check_reap(pid, rfd, buf, cap);
}

/* Run case `name` of this binary in a fresh process. env lists "NAME=VALUE" to set and "NAME"
 * to remove, ending with NULL. Returns the wait status, or -1 when the fork failed. */
static inline int check_spawn_self(const char *name, const char *const *env, char *buf,
                                   size_t cap) {
    int rfd;
    pid_t pid = check_fork_piped(&rfd);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        for (; env && *env; env++) {
            const char *eq = strchr(*env, '=');
            if (eq) {
                char key[128];
                size_t klen = (size_t)(eq - *env);
                if (klen >= sizeof key)
                    _exit(126);
                memcpy(key, *env, klen);
                key[klen] = '\0';
                setenv(key, eq + 1, 1);
            } else {
                unsetenv(*env);
            }
        }
        char *const argv[] = {(char *)check_self, (char *)name, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return check_reap(pid, rfd, buf, cap);
}

/* Print a child's status and stderr (after a failed check on it). */
static inline void check_show_child(const char *what, int status, const char *err) {
    if (WIFSIGNALED(status))
        fprintf(stderr, "    %s: killed by signal %d\n", what, WTERMSIG(status));
    else if (WIFEXITED(status))
        fprintf(stderr, "    %s: exit %d\n", what, WEXITSTATUS(status));
    else
        fprintf(stderr, "    %s: status %d\n", what, status);
    if (err && *err)
        fprintf(stderr, "    --- its stderr ---\n%s    ---\n", err);
}

#define CHECK_CHILD_EXIT0(what, status, err)                                                 \
    do {                                                                                     \
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {                              \
            check_fail_at(__FILE__, __LINE__, what " exits 0");                              \
            check_show_child(what, status, err);                                             \
        }                                                                                    \
    } while (0)

/* ---- process memory ------------------------------------------------------------------------ */

static inline bool check_statm(size_t *vm, size_t *rss) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return false;
    unsigned long size = 0, resident = 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        return false;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *vm = (size_t)size * page;
    *rss = (size_t)resident * page;
    return true;
}

static inline size_t check_rss_bytes(void) {
    size_t vm = 0, rss = 0;
    check_statm(&vm, &rss);
    return rss;
}

/* Minor page faults of this process so far (getrusage). */
static inline long check_minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static inline size_t check_vm_bytes(void) {
    size_t vm = 0, rss = 0;
    check_statm(&vm, &rss);
    return vm;
}

/* Is the page at a mapped readable, as /proc/self/maps says? (Reserved address space, such as
 * pymt's arena range where no arena lives, is a mapping too, PROT_NONE: not readable.) errno
 * ENOMEM when not. */
static inline bool check_readable(uintptr_t a) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        check_fail_at(__FILE__, __LINE__, "/proc/self/maps cannot be read");
        return false;
    }
    char line[512];
    bool r = false;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo && a < hi) {
            r = perms[0] == 'r';
            break;
        }
    }
    fclose(f);
    if (!r)
        errno = ENOMEM;
    return r;
}

/* Shuffle the n indexes of idx (Fisher-Yates over a 64-bit LCG): the same order for the same
 * seed on every run, so a test's figures repeat. */
static inline void check_shuffle(size_t *idx, size_t n, uint64_t seed) {
    for (size_t i = n - 1; i > 0; i--) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        size_t j = (size_t)((seed >> 33) % (i + 1));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* ---- pymt helpers -------------------------------------------------------------------------- */

/* Block size of a request served from the pools (1..512; 0 is served as 1). */
/* The block a pool request of n bytes gets: multiples of 16 up to 512, then the medium classes
 * (four per doubling, listed out here rather than computed as pymt computes them). */
static inline size_t check_class_size(size_t n) {
    static const size_t medium[] = {640,  768,  896,  1024, 1280,  1536,  1792,
                                    2048, 2560, 3072, 3584, 4096,  5120,  6144,
                                    7168, 8192, 10240, 12288, 14336, 16384};
    if (n <= 512)
        return n == 0 ? 16 : (n + 15) / 16 * 16;
    for (size_t i = 0; i < sizeof medium / sizeof medium[0]; i++)
        if (n <= medium[i])
            return medium[i];
    return 0; /* not a pool request */
}

static inline bool check_aligned(const void *p) {
    return ((uintptr_t)p % PYMT_ALIGNMENT) == 0;
}

/* Totals over the size classes. */
typedef struct check_totals {
    size_t total, in_use, cached, depot, free;
} check_totals;

/* Every pool class in one numbering: pymalloc's 32, then the medium tier's. */
#define CHECK_ALL_CLASSES (PYMT_NUM_SIZE_CLASSES + PYMT_NUM_MEDIUM_CLASSES)
static inline const pymt_class_stats *check_class_at(const pymt_stats *s, int c) {
    return c < PYMT_NUM_SIZE_CLASSES ? &s->classes[c]
                                     : &s->medium_classes[c - PYMT_NUM_SIZE_CLASSES];
}

static inline check_totals check_sum_classes(const pymt_stats *s) {
    check_totals t = {0, 0, 0, 0, 0};
    for (int c = 0; c < CHECK_ALL_CLASSES; c++) {
        const pymt_class_stats *k = check_class_at(s, c);
        t.total += k->blocks_total;
        t.in_use += k->blocks_in_use;
        t.cached += k->blocks_cached;
        t.depot += k->blocks_depot;
        t.free += k->blocks_free;
    }
    return t;
}

/* Check the block accounting of every class (valid when no other thread allocates). */
#define CHECK_STATS_ADD_UP(s)                                                                \
    do {                                                                                     \
        for (int check_c_ = 0; check_c_ < CHECK_ALL_CLASSES; check_c_++) {                   \
            const pymt_class_stats *k_ = check_class_at((s), check_c_);                      \
            if (k_->blocks_total != k_->blocks_in_use + k_->blocks_cached + k_->blocks_depot + \
                                        k_->blocks_free) {                                   \
                check_fail_at(__FILE__, __LINE__,                                            \
                              "blocks_total == in_use + cached + depot + free");             \
                fprintf(stderr,                                                              \
                        "    class %d: total %zu, in_use %zu, cached %zu, depot %zu, "       \
                        "free %zu\n",                                                        \
                        check_c_, k_->blocks_total, k_->blocks_in_use, k_->blocks_cached,    \
                        k_->blocks_depot, k_->blocks_free);                                  \
            }                                                                                \
        }                                                                                    \
    } while (0)

static inline pymt_stats check_stats(void) {
    pymt_stats s;
    memset(&s, 0, sizeof s);
    if (pymt_get_stats(&s, sizeof s) != 0)
        check_fail_at(__FILE__, __LINE__, "pymt_get_stats(&s, sizeof s) == 0");
    return s;
}

/* True when blocks of object memory come from the pools without debug decoration, so pool
 * geometry and per-class statistics can be checked exactly. */
static inline bool check_plain_pools(void) {
    return pymt_get_mode() == PYMT_MODE_PYMALLOC;
}

/* The largest object-memory request the pools serve: the medium ceiling while the medium tier
 * is on, pymalloc's 512 bytes otherwise. */
static inline size_t check_pool_max(void) {
    return pymt_medium_enabled() ? PYMT_MEDIUM_REQUEST_THRESHOLD : PYMT_SMALL_REQUEST_THRESHOLD;
}

/* ---- runner -------------------------------------------------------------------------------- */

/* What pymt_print_stats writes, as one string (free() it); NULL when it cannot be captured. */
static inline char *check_stats_text(void) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    pymt_print_stats(f);
    fclose(f);
    return text;
}

static inline int check_run(const check_case *cases, size_t ncases, int argc, char **argv) {
    check_self = argv[0];
    int passed = 0, failed = 0, skipped = 0;
    bool found = false;
    bool quiet = argc > 1; /* one case (often a child): stderr carries only failures */
    for (size_t i = 0; i < ncases; i++) {
        const char *name = cases[i].name;
        if (argc > 1 ? strcmp(argv[1], name) != 0 : strncmp(name, "child_", 6) == 0)
            continue;
        found = true;
        check_failures = 0;
        check_skipped = 0;
        if (!quiet)
            fprintf(stderr, "[ RUN  ] %s\n", name);
        cases[i].fn();
        fflush(stdout);
        if (check_failures) {
            failed++;
            fprintf(stderr, "[ FAIL ] %s (%d checks)\n", name, check_failures);
        } else if (check_skipped) {
            skipped++;
            if (!quiet)
                fprintf(stderr, "[ SKIP ] %s\n", name);
        } else {
            passed++;
            if (!quiet)
                fprintf(stderr, "[  OK  ] %s\n", name);
        }
    }
    if (!found) {
        fprintf(stderr, "no case named %s\n", argc > 1 ? argv[1] : "(any)");
        return 2;
    }
    if (!quiet)
        fprintf(stderr, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#define CHECK_MAIN(table)                                                                    \
    int main(int argc, char **argv) {                                                        \
        return check_run(table, sizeof(table) / sizeof((table)[0]), argc, argv);             \
    }

#endif /* PYMT_TESTS_CHECK_H */
