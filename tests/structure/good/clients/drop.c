/* drop.c: a drop-in client. It defines malloc, which the C library defines too, so the
 * library's sys.c calling malloc is not a reference into clients/; client_helper is. */
#include <stddef.h>

#include "drop.h"

static char drop_arena[4096];
static size_t drop_used;

void *malloc(size_t n) {
    void *p = drop_arena + drop_used;
    drop_used += (n + 15) & ~(size_t)15;
    return p;
}

int client_helper(void) { return 7; }
