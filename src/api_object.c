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

/* Each entry point is a fast path without a stack frame (a pop or a push on the thread's bin,
 * the head written) and, out of line, the whole call again with every check: bad arguments,
 * an empty or full bin, a size past the small classes, another mode. */

static PYMT__NOINLINE pymt_object *object_new_slow(const pymt_type *type) {
    if (type == NULL || type->tp_basicsize < sizeof(pymt_object)) {
        errno = EINVAL;
        return NULL;
    }
    if (type->tp_basicsize > PTRDIFF_MAX) {
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

PYMT_API pymt_object *pymt_object_new(const pymt_type *type) {
    if (pymt__likely(type != NULL)) {
        size_t n = type->tp_basicsize;
        if (pymt__likely(n - sizeof(pymt_object) <= PYMT__SMALL_MAX - sizeof(pymt_object))) {
            pymt_object *op = pymt__tcache_pop(pymt__size_to_class(n), n);
            if (pymt__likely(op != NULL)) {
                op->ob_refcnt = 1;
                op->ob_type = type;
                return op;
            }
        }
    }
    return object_new_slow(type);
}

static PYMT__NOINLINE pymt_varobject *object_newvar_slow(const pymt_type *type, ptrdiff_t n) {
    if (type == NULL || type->tp_basicsize < sizeof(pymt_varobject)) {
        errno = EINVAL;
        return NULL;
    }
    size_t items, size;
    if (n < 0 || __builtin_mul_overflow((size_t)n, type->tp_itemsize, &items) ||
        __builtin_add_overflow(items, type->tp_basicsize, &size) ||
        __builtin_add_overflow(size, (size_t)PYMT__ALIGNMENT - 1, &size) ||
        (size &= ~(size_t)(PYMT__ALIGNMENT - 1)) > PTRDIFF_MAX) {
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

PYMT_API pymt_varobject *pymt_object_newvar(const pymt_type *type, ptrdiff_t n) {
    size_t items, size;
    if (pymt__likely(type != NULL && n >= 0 && type->tp_basicsize >= sizeof(pymt_varobject)) &&
        !__builtin_mul_overflow((size_t)n, type->tp_itemsize, &items) &&
        !__builtin_add_overflow(items, type->tp_basicsize, &size) &&
        pymt__likely(size <= PYMT__SMALL_MAX)) {
        size = (size + PYMT__ALIGNMENT - 1) & ~(size_t)(PYMT__ALIGNMENT - 1);
        pymt_varobject *op = pymt__tcache_pop(pymt__size_to_class(size), size);
        if (pymt__likely(op != NULL)) {
            op->ob_base.ob_refcnt = 1;
            op->ob_base.ob_type = type;
            op->ob_size = n;
            return op;
        }
    }
    return object_newvar_slow(type, n);
}

static PYMT__NOINLINE void object_del_slow(void *op) {
    if (op == NULL)
        return;
    pymt__ensure_init();
    pymt__table_object->free(pymt__table_object->ctx, op);
}

PYMT_API void pymt_object_del(void *op) {
    if (pymt__likely(pymt__objmem_push(op)))
        return;
    object_del_slow(op);
}
