/* api_objmem.c: object memory, pymt_object_malloc/calloc/realloc/free (the PyObject_Malloc
 * family), and pymt_usable_size. malloc and free are the inline fast paths of objmem.h; the
 * others check their sizes, initialise if need be, and call object memory's backend table. */
#include <errno.h>

#include "objmem.h"

PYMT_API void *pymt_object_malloc(size_t n) {
    return pymt__objmem_malloc(n);
}

PYMT_API void pymt_object_free(void *p) {
    pymt__objmem_free(p);
}

PYMT_API void *pymt_object_calloc(size_t nelem, size_t elsize) {
    size_t n;
    if (pymt__unlikely(!pymt__calloc_size(nelem, elsize, &n)))
        return NULL;
    pymt__ensure_init();
    return pymt__table_objmem->calloc(pymt__table_objmem->ctx, nelem, elsize);
}

PYMT_API void *pymt_object_realloc(void *p, size_t n) {
    if (pymt__unlikely(n > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__ensure_init();
    return pymt__table_objmem->realloc(pymt__table_objmem->ctx, p, n);
}

PYMT_API size_t pymt_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    pymt__ensure_init();
    return pymt__table_objmem->usable(pymt__table_objmem->ctx, p);
}
