/* pymemcompat.h: the Python 2.3 memory API spelled onto pymt, so code written against the
 * three Python families compiles against pymt unchanged:
 *
 *   raw memory     PyMem_Malloc / PyMem_Realloc / PyMem_Free      -> pymt_mem_*
 *                  PyMem_New / PyMem_Resize / PyMem_Del (typed)
 *   object memory  PyObject_Malloc / PyObject_Realloc / PyObject_Free -> pymt_object_*
 *   objects        PyObject_New / PyObject_NewVar / PyObject_Del   -> pymt_object_new/newvar/del
 *
 * The types follow: PyObject is pymt_object, PyVarObject is pymt_varobject, PyTypeObject is
 * pymt_type (tp_name, tp_basicsize, tp_itemsize and nothing else), Py_ssize_t is ptrdiff_t.
 * PyObject_HEAD / PyObject_VAR_HEAD open an object struct the modern way (one ob_base member).
 * As in Python, do not mix the families: in debug mode (PYMT_MALLOC=debug) pymt reports a block
 * freed through the wrong family and aborts.
 *
 * As in Python, the functions' names are names of functions: PyMem_Free or PyObject_Del can be
 * stored as a pointer (a type's free slot, a cleanup callback). The typed forms (PyMem_New,
 * PyObject_New, ...) and the upper-case ones are macros taking arguments, as in Python.
 *
 * This header stands in for Python.h: it cannot be used in a file that includes Python.h, in
 * either order (it stops with #error if Python.h came first, and poisons PyAPI_FUNC, which
 * Python.h defines early and code rarely tests, where the compiler supports it, if Python.h
 * comes after). PY_VERSION and Py_PYTHON_H stay undefined, so code built with and without
 * Python can still ask which it has. */
#ifndef PYMT_PYMEMCOMPAT_H
#define PYMT_PYMEMCOMPAT_H

#if defined(Py_PYTHON_H) || defined(PY_VERSION)
#error "pymt/pymemcompat.h maps the Python memory API onto pymt: it cannot be used together with Python.h (include one or the other)"
#else

#include "pymt.h"

#include <stddef.h>
#include <stdint.h>

typedef ptrdiff_t Py_ssize_t;
#define PY_SSIZE_T_MAX PTRDIFF_MAX

typedef pymt_object PyObject;
typedef pymt_varobject PyVarObject;
typedef pymt_type PyTypeObject;

/* Static type objects: `{PyVarObject_HEAD_INIT(NULL, 0) "mod.Name", sizeof(Obj), 0}` works,
 * as pymt_type has no head of its own; the members after tp_itemsize do not exist here. */
#define PyVarObject_HEAD_INIT(type, size)
#define PyObject_HEAD PyObject ob_base;
#define PyObject_VAR_HEAD PyVarObject ob_base;
#define Py_REFCNT(op) (((PyObject *)(op))->ob_refcnt)
#define Py_TYPE(op) ((PyTypeObject *)((PyObject *)(op))->ob_type)
#define Py_SIZE(op) (((PyVarObject *)(op))->ob_size)

/* Raw memory. */
#define PyMem_Malloc pymt_mem_malloc
#define PyMem_Realloc pymt_mem_realloc
#define PyMem_Free pymt_mem_free
#define PyMem_MALLOC(n) pymt_mem_malloc(n)
#define PyMem_REALLOC(p, n) pymt_mem_realloc((p), (n))
#define PyMem_FREE(p) pymt_mem_free(p)
/* Typed raw memory: n items of type; NULL when n * sizeof(type) would overflow. */
#define PyMem_New(type, n)                                                                   \
    ((size_t)(n) > (size_t)PY_SSIZE_T_MAX / sizeof(type)                                     \
         ? (type *)NULL                                                                      \
         : (type *)pymt_mem_malloc((size_t)(n) * sizeof(type)))
#define PyMem_Resize(p, type, n)                                                             \
    ((p) = (size_t)(n) > (size_t)PY_SSIZE_T_MAX / sizeof(type)                               \
               ? (type *)NULL                                                                \
               : (type *)pymt_mem_realloc((p), (size_t)(n) * sizeof(type)))
#define PyMem_NEW(type, n) PyMem_New(type, n)
#define PyMem_RESIZE(p, type, n) PyMem_Resize(p, type, n)
#define PyMem_Del pymt_mem_free
#define PyMem_DEL(p) pymt_mem_free(p)

/* Object memory. */
#define PyObject_Malloc pymt_object_malloc
#define PyObject_Realloc pymt_object_realloc
#define PyObject_Free pymt_object_free
#define PyObject_MALLOC(n) pymt_object_malloc(n)
#define PyObject_REALLOC(p, n) pymt_object_realloc((p), (n))
#define PyObject_FREE(p) pymt_object_free(p)

/* Objects: allocated with the type's sizes, head initialised (refcount 1, type, size). */
#define PyObject_New(type, typeobj) ((type *)pymt_object_new(typeobj))
#define PyObject_NewVar(type, typeobj, n) ((type *)pymt_object_newvar((typeobj), (n)))
#define PyObject_Del pymt_object_del
#define PyObject_NEW(type, typeobj) PyObject_New(type, typeobj)
#define PyObject_NEW_VAR(type, typeobj, n) PyObject_NewVar(type, typeobj, n)
#define PyObject_DEL(op) pymt_object_del(op)

/* Python.h after this header: PyAPI_FUNC, which its pyport.h defines before any function is
 * declared, is poisoned, so the compiler stops there, pointing here. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC poison PyAPI_FUNC
#endif

#endif /* Python.h not included */

#endif /* PYMT_PYMEMCOMPAT_H */
