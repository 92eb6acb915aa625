/* base.c: the process-wide helpers every layer may call: writing a message to stderr without
 * stdio or allocation, fatal errors, and assertion failures. Nothing here locks or allocates. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pymt__write_err(const char *msg) {
    size_t len = strlen(msg);
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, msg, len);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        msg += w;
        len -= (size_t)w;
    }
}

void pymt__fatal(const char *msg) {
    pymt__write_err(msg);
    abort();
}

void pymt__assert_fail(const char *expr, const char *file, int line) {
    char msg[512];
    snprintf(msg, sizeof msg, "pymt: assertion failed: %s (%s:%d)\n", expr, file, line);
    pymt__fatal(msg);
}
