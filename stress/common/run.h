/* run.h: the run's state, its clock, and the failure message.
 *
 * One program per process: the run's name, its options (stress_cfg, filled by stress_parse in
 * args.c), the mode pymt runs in, and each thread's id are globals that every check and every
 * failure message reads. stress_fail() prints the seed first, then the reason and the command
 * line that reruns the case, and aborts; a crash that is not one of our checks (SIGSEGV inside
 * pymt, an abort from its own report) still names the seed through the handler that
 * stress_catch_crashes() installs. The --seconds cap is a flag that stress_time_up() sets once
 * the wall clock passes it. */
#ifndef PYMT_STRESS_RUN_H
#define PYMT_STRESS_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pymt/pymt.h"

typedef struct stress_opts {
    unsigned threads;
    uint64_t ops;
    uint64_t seed;
    double seconds;
    bool soak;
} stress_opts;

/* The run, for failure messages and the summary. */
extern const char *stress_name;
extern stress_opts stress_cfg;
extern struct timespec stress_t0;
extern atomic_bool stress_stop_flag;        /* set once the --seconds cap is reached */
extern atomic_bool stress_reported;         /* a failure message has been written */
extern _Thread_local unsigned stress_tid;   /* 0: main thread; workers set their own */
extern pymt_mode stress_mode;               /* pymt_get_mode(), read once by stress_parse */
extern size_t stress_tier_max;              /* the largest request the pools serve: 512, or
                                               PYMT_MEDIUM_REQUEST_THRESHOLD with the medium
                                               tier (stress_parse) */

/* Seconds on the monotonic clock; since stress_t0 (the start of stress_parse). */
double stress_now(void);
double stress_elapsed(void);

/* Print a failure (seed first, then the reason) and abort. Any thread may call it. */
void stress_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Install the crash handler for SIGSEGV, SIGBUS and SIGABRT (not in sanitizer builds: the
 * sanitizers own these signals and report better). */
void stress_catch_crashes(void);

/* True once the --seconds cap has passed. Workers call it every few hundred operations. */
bool stress_time_up(void);

#endif /* PYMT_STRESS_RUN_H */
