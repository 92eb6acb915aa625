/* args.h: the command line every stress program takes.
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
 * A program states its CI and soak defaults in a stress_defaults and calls stress_parse first
 * thing in main; the result is stress_cfg (run.h). */
#ifndef PYMT_STRESS_ARGS_H
#define PYMT_STRESS_ARGS_H

#include <stdint.h>

/* A program's defaults: CI (short) and soak (long). */
typedef struct stress_defaults {
    unsigned threads, soak_threads;
    uint64_t ops, soak_ops;
    double seconds, soak_seconds;
} stress_defaults;

/* Parse argv into stress_cfg, start the run's clock, read pymt's mode, install the crash
 * handler. Accepts "--flag N" and "--flag=N". Exits 2 on a bad command line, 0 after --help. */
void stress_parse(int argc, char **argv, const char *name, const stress_defaults *d);

#endif /* PYMT_STRESS_ARGS_H */
