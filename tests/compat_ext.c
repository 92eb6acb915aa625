/* compat_ext.c: an extension module's memory handling as written for Python 2.3, built against
 * pymt through pymt/pymemcompat.h alone (no pymt_ name appears below). test_compat.c drives it.
 * The "module" keeps a raw-memory string buffer, object-memory scratch records and two object
 * types, one fixed-size and one variable-size, each freed through its own family. */
#include "pymt/pymemcompat.h"

#include <stddef.h>
#include <string.h>

#include "compat_ext.h"

/* Code built with and without Python may ask which it has: the header leaves PY_VERSION and
 * Py_PYTHON_H undefined, and testing them is allowed. */
#if defined(PY_VERSION) || defined(Py_PYTHON_H)
#error "pymemcompat.h defines Python.h's macros"
#endif

typedef struct {
    PyObject_HEAD
    double value;
} FloatObject;

typedef struct {
    PyObject_VAR_HEAD
    long items[1];
} VectorObject;

static PyTypeObject Float_Type = {PyVarObject_HEAD_INIT(NULL, 0) "compat.Float",
                                  sizeof(FloatObject), 0};
static PyTypeObject Vector_Type = {PyVarObject_HEAD_INIT(NULL, 0) "compat.Vector",
                                   offsetof(VectorObject, items), sizeof(long)};

static FloatObject *float_new(double v) {
    FloatObject *op = PyObject_New(FloatObject, &Float_Type);
    if (op != NULL)
        op->value = v;
    return op;
}

static VectorObject *vector_new(Py_ssize_t n) {
    VectorObject *op = PyObject_NewVar(VectorObject, &Vector_Type, n);
    if (op != NULL)
        for (Py_ssize_t i = 0; i < n; i++)
            op->items[i] = (long)i * 3;
    return op;
}

int compat_ext_run(void) {
    int failures = 0;

    /* raw memory: a growing string buffer */
    char *buf = PyMem_Malloc(8);
    if (buf == NULL)
        return 1;
    strcpy(buf, "pymt");
    char *bigger = PyMem_Realloc(buf, 4096);
    if (bigger == NULL) {
        PyMem_Free(buf);
        return 1;
    }
    buf = bigger;
    failures += strcmp(buf, "pymt") != 0;
    PyMem_Free(buf);

    long *counts = PyMem_New(long, 16);
    if (counts == NULL)
        return 1;
    for (int i = 0; i < 16; i++)
        counts[i] = i;
    PyMem_Resize(counts, long, 64);
    if (counts == NULL)
        return 1;
    failures += counts[15] != 15;
    PyMem_Del(counts);

    /* object memory: small records */
    void *rec[32];
    for (int i = 0; i < 32; i++) {
        rec[i] = PyObject_Malloc((size_t)(i + 1) * 8);
        if (rec[i] == NULL)
            return 1;
        memset(rec[i], i, (size_t)(i + 1) * 8);
    }
    for (int i = 0; i < 32; i += 2) {
        unsigned char *r = PyObject_Realloc(rec[i], (size_t)(i + 1) * 24);
        if (r == NULL)
            return 1;
        failures += r[0] != (unsigned char)i;
        rec[i] = r;
    }
    for (int i = 0; i < 32; i++)
        PyObject_Free(rec[i]);

    /* objects */
    FloatObject *f = float_new(2.5);
    VectorObject *v = vector_new(10);
    if (f == NULL || v == NULL)
        return 1;
    failures += Py_REFCNT(f) != 1 || Py_TYPE(f) != &Float_Type || f->value != 2.5;
    failures += Py_TYPE(v) != &Vector_Type || Py_SIZE(v) != 10 || v->items[9] != 27;
    PyObject_Del(f);
    PyObject_Del(v);

    /* the functions as pointers, as a type's free slot or a cleanup callback holds them, and
     * the type of an object as a plain PyTypeObject pointer */
    void *(*raw_alloc)(size_t) = PyMem_Malloc;
    void (*raw_free)(void *) = PyMem_Free, (*raw_del)(void *) = PyMem_Del;
    void *(*obj_alloc)(size_t) = PyObject_Malloc;
    void *(*obj_realloc)(void *, size_t) = PyObject_Realloc;
    void (*obj_free)(void *) = PyObject_Free, (*obj_del)(void *) = PyObject_Del;
    void *(*raw_realloc)(void *, size_t) = PyMem_Realloc;
    char *s = raw_realloc(raw_alloc(4), 40);
    void *t = obj_realloc(obj_alloc(8), 80), *u = raw_alloc(1), *w = obj_alloc(1);
    if (s == NULL || t == NULL || u == NULL || w == NULL)
        return 1;
    raw_free(s);
    raw_del(u);
    obj_free(t);
    obj_free(w);
    FloatObject *h = float_new(3.0);
    if (h == NULL)
        return 1;
    PyTypeObject *tp = Py_TYPE(h);
    failures += tp != &Float_Type;
    obj_del(h);

    /* PyObject_Free on an object is allowed: objects live on object memory */
    FloatObject *g = float_new(1.0);
    if (g == NULL)
        return 1;
    PyObject_Free(g);
    return failures;
}

void *compat_ext_buffer(void) {
    return PyMem_Malloc(100);
}
void compat_ext_buffer_free(void *p) {
    PyMem_Free(p);
}
void *compat_ext_record(void) {
    return PyObject_Malloc(100);
}
void compat_ext_record_free(void *p) {
    PyObject_Free(p);
}
void *compat_ext_object(void) {
    return float_new(0.0);
}
void compat_ext_object_free(void *op) {
    PyObject_Del(op);
}

void compat_ext_mismatch(void) {
    /* the bug the debug mode is for: raw memory released as an object */
    char *buf = PyMem_Malloc(64);
    PyObject_Del(buf);
}
