/* args.c: parsing the command line (args.h). */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

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

void stress_parse(int argc, char **argv, const char *name, const stress_defaults *d) {
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
    if (pymt_medium_enabled())
        stress_tier_max = PYMT_MEDIUM_REQUEST_THRESHOLD;
    stress_catch_crashes();
}
