/* python_preconfig.c: what CPython's pre-initialisation was asked for, read from the runtime.
 *
 * _PyMem_GetCurrentAllocatorName says "pymalloc" both when nothing was asked and when
 * PYTHONMALLOC=pymalloc was set, and pymt-python treats the two differently (pymt, and
 * CPython's own pymalloc). The request itself is in the runtime's pre-configuration, which only
 * CPython's internal headers describe; they need Py_BUILD_CORE, so they stay in this file.
 * The layout is the one of the python3.11-dev this program is compiled against, and the
 * program links that same libpython, so the two cannot disagree. */
#define Py_BUILD_CORE 1
#include <Python.h>

#include "internal/pycore_runtime.h"

int pymt_python_asked_pymalloc(void);

/* After Py_PreInitialize*: true when PYTHONMALLOC=pymalloc named CPython's own allocator (the
 * environment counts only when CPython read it: not under -E or -I). */
int pymt_python_asked_pymalloc(void) {
    return _PyRuntime.preconfig.allocator == PYMEM_ALLOCATOR_PYMALLOC;
}
