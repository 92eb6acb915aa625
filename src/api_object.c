/* api_object.c: objects, pymt_object_new/newvar/del (the PyObject_New family): typed objects on
 * object memory, through the objects' backend table (the same as object memory's, except in
 * debug mode, where the blocks are tagged as objects). The thread cache's bins come first, as
 * for object memory (objmem.h): they are in use only where the objects' table is the pools
 * backend, and a miss goes through the objects' table. The size is checked for overflow
 * before any arithmetic reaches the allocator; the head (refcount 1, type, and ob_size for var
 * objects) is set here. */
#include <errno.h>

#include "objmem.h"

static void *object_alloc(size_t n) {
    void *p = pymt__objmem_pop(n);
    if (pymt__likely(p != NULL))
        return p;
    pymt__ensure_init();
    return pymt__table_object->malloc(pymt__table_object->ctx, n);
}

PYMT_API pymt_object *pymt_object_new(const pymt_type *type) {
    if (pymt__unlikely(type == NULL || type->tp_basicsize < sizeof(pymt_object))) {
        errno = EINVAL;
        return NULL;
    }
    if (pymt__unlikely(type->tp_basicsize > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt_object *op = object_alloc(type->tp_basicsize);
    if (pymt__unlikely(op == NULL))
        return NULL;
    op->ob_refcnt = 1;
    op->ob_type = type;
    return op;
}

PYMT_API pymt_varobject *pymt_object_newvar(const pymt_type *type, ptrdiff_t n) {
    if (pymt__unlikely(type == NULL || type->tp_basicsize < sizeof(pymt_varobject))) {
        errno = EINVAL;
        return NULL;
    }
    size_t items, size;
    if (pymt__unlikely(n < 0 ||
                       __builtin_mul_overflow((size_t)n, type->tp_itemsize, &items) ||
                       __builtin_add_overflow(items, type->tp_basicsize, &size) ||
                       __builtin_add_overflow(size, (size_t)PYMT__ALIGNMENT - 1, &size) ||
                       (size &= ~(size_t)(PYMT__ALIGNMENT - 1)) > PTRDIFF_MAX)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt_varobject *op = object_alloc(size);
    if (pymt__unlikely(op == NULL))
        return NULL;
    op->ob_base.ob_refcnt = 1;
    op->ob_base.ob_type = type;
    op->ob_size = n;
    return op;
}

PYMT_API void pymt_object_del(void *op) {
    if (pymt__objmem_push(op))
        return;
    if (op == NULL)
        return;
    pymt__ensure_init();
    pymt__table_object->free(pymt__table_object->ctx, op);
}
