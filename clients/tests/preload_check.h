/* preload_check.h: the one check macro of the C programs run under the drop-in malloc, and
 * the test that they really run under it. They are not linked with pymt and cannot use
 * tests/check.h (which the unit tests link with pymt): CHECK prints the file, line and
 * expression of a failed condition and counts it in `failures`, and the program ends with a
 * non-zero status when it is not zero. */
#ifndef PRELOAD_CHECK_H
#define PRELOAD_CHECK_H

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

/* Is libpymt-malloc.so mapped into this process (LD_PRELOAD took effect)? */
static inline int preload_is_mapped(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "libpymt-malloc.so"))
            found = 1;
    if (f)
        fclose(f);
    return found;
}

#endif /* PRELOAD_CHECK_H */
