/* run.c: the run's state, its clock, the failure message and the crash handler (run.h). */
#include "run.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sanitize.h"

const char *stress_name = "stress";
stress_opts stress_cfg;
struct timespec stress_t0;
atomic_bool stress_stop_flag;
atomic_bool stress_reported;
_Thread_local unsigned stress_tid;
pymt_mode stress_mode;
size_t stress_tier_max = PYMT_SMALL_REQUEST_THRESHOLD;

double stress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double stress_elapsed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - stress_t0.tv_sec) + (double)(ts.tv_nsec - stress_t0.tv_nsec) * 1e-9;
}

void stress_fail(const char *fmt, ...) {
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

void stress_catch_crashes(void) {
    if (!STRESS_SANITIZED) {
        signal(SIGSEGV, stress_crash_handler);
        signal(SIGBUS, stress_crash_handler);
        signal(SIGABRT, stress_crash_handler);
    }
}

bool stress_time_up(void) {
    if (atomic_load_explicit(&stress_stop_flag, memory_order_relaxed))
        return true;
    if (stress_cfg.seconds > 0 && stress_elapsed() >= stress_cfg.seconds) {
        atomic_store_explicit(&stress_stop_flag, true, memory_order_relaxed);
        return true;
    }
    return false;
}
