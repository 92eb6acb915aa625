/* top.c: snprintf into a buffer of known size, which _FORTIFY_SOURCE turns into
 * __snprintf_chk. No file of this fixture may call snprintf. */
#include <stdio.h>

#include "sys.h"
#include "util.h"

int top_run(int x) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", x);
    return util_inc(buf[0]);
}
