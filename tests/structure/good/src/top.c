/* top.c: the API layer, includes both layers below. */
#include "sys.h"
#include "util.h"

int top_run(void) {
    void *p = sys_get(16);
    base_say();
    sys_put(p);
    return util_inc(base_twice(1));
}
