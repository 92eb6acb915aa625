/* objmem.c: the slow continuations of object memory's inline fast paths (objmem.h). */
#include "objmem.h"

#include <errno.h>

void *pymt__objmem_malloc_slow(size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    return pymt__table_objmem->malloc(pymt__table_objmem->ctx, n);
}

void pymt__objmem_free_slow(void *p) {
    if (p == NULL)
        return;
    pymt__ensure_init();
    pymt__table_objmem->free(pymt__table_objmem->ctx, p);
}
