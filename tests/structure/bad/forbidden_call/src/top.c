/* top.c: calls malloc, which only sys.c may. */
#include <stdlib.h>

#include "sys.h"
#include "util.h"

int top_run(void) {
    char *p = malloc(16);
    int r = p ? util_inc(p[0] = 1) : 0;
    sys_put(p);
    return r;
}
