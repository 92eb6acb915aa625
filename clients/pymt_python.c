/* pymt_python.c: pymt-python, CPython 3.11 with every allocation on pymt.
 *
 * The program is the stock interpreter's main (Py_BytesMain) with pymt installed through
 * PEP 445 (PyMem_SetAllocator) in all three CPython domains before the interpreter starts
 * (python_domains.h has the table). pymt's own modes apply as usual: PYMT_MALLOC=debug puts
 * pymt's debug checks under every CPython allocation, PYMT_TCACHE=0 turns the thread caches
 * off, PYMT_STATS=1 prints the statistics at exit (the library does that itself; this file
 * prints nothing). python_hook.c puts the same tables into an unmodified python3.11.
 *
 * Order of start-up, and why (the PYTHONMALLOC trap):
 *   1. Py_PreInitializeFromBytesArgs: CPython's pre-initialisation, which reads -E, -I, -X dev,
 *      PYTHONMALLOC and PYTHONDEVMODE and, when one of them names an allocator, re-installs
 *      CPython's own allocators. Done first, as the C API documentation prescribes for custom
 *      allocators ("PyMem_SetAllocator() can be called after Py_PreInitialize() and before
 *      Py_InitializeFromConfig()"). Pre-initialisation frees everything it allocates with the
 *      allocator it used, so no block crosses from CPython's allocators to pymt or back.
 *   2. Look at what it chose (_PyMem_GetCurrentAllocatorName, exported by libpython3.11):
 *        "pymalloc"        nothing asked, or PYTHONMALLOC=default: install pymt.
 *                          PYTHONMALLOC=pymalloc (the runtime's pre-configuration says so,
 *                          python_preconfig.c): CPython's own pymalloc stays, as asked by
 *                          name. The same binary then runs either allocator, which is how
 *                          clients/bench/python_bench.py compares them without the cost of
 *                          embedding in the way.
 *        "pymalloc_debug"  PYTHONMALLOC=debug/pymalloc_debug, -X dev, PYTHONDEVMODE=1: install
 *                          pymt, then CPython's debug hooks on top of it (PyMem_SetupDebugHooks),
 *                          so dev mode checks CPython's use of pymt.
 *        "malloc", "malloc_debug"  the user asked for the C library's malloc: leave CPython's
 *                          choice alone (pymt is not used). Silent, so stderr matches python3.11.
 *      With PYMT_BENCH_TRACE=FILE set, the MEM and OBJ domains, whatever serves them now, are
 *      then wrapped to record each call to FILE (python_trace.h; read by pymt-alloc-replay).
 *   3. Py_BytesMain(argc, argv): the same main as python3.11. Its own pre-initialisation sees
 *      the runtime already pre-initialised and keeps it, so the allocators installed in step 2
 *      stay for the whole run.
 * Child processes that run sys.executable (multiprocessing, `-m test -jN` workers) run this
 * program again, so they are on pymt too. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "python_domains.h"
#include "python_trace.h"

/* Exported by libpython3.11 (Include/internal/pycore_pymem.h); NULL for a custom allocator. */
PyAPI_FUNC(const char *) _PyMem_GetCurrentAllocatorName(void);
/* python_preconfig.c */
int pymt_python_asked_pymalloc(void);

static void install_pymt(void) {
    PyMemAllocatorEx raw, obj;
    pymt_python_tables(&raw, &obj);
    PyMem_SetAllocator(PYMEM_DOMAIN_RAW, &raw);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &obj);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &obj);
}

int main(int argc, char **argv) {
    PyPreConfig preconfig;
    PyPreConfig_InitPythonConfig(&preconfig);
    PyStatus status = Py_PreInitializeFromBytesArgs(&preconfig, argc, argv);
    if (PyStatus_Exception(status))
        Py_ExitStatusException(status);

    const char *chosen = _PyMem_GetCurrentAllocatorName();
    if (chosen && strcmp(chosen, "pymalloc") == 0) {
        if (!pymt_python_asked_pymalloc())
            install_pymt();
    } else if (chosen && strcmp(chosen, "pymalloc_debug") == 0) {
        /* Installing pymt replaced the hooks; put them back on top of pymt. */
        install_pymt();
        PyMem_SetupDebugHooks();
    }
    /* "malloc", "malloc_debug", or pymalloc by name: CPython's own choice stays. */

    /* PYMT_BENCH_TRACE=FILE: record what the chosen allocator is asked (python_trace.h) */
    const char *trace = getenv("PYMT_BENCH_TRACE");
    if (trace != NULL && *trace != '\0' && pymt_python_trace_install(trace) != 0) {
        fprintf(stderr, "pymt-python: PYMT_BENCH_TRACE=%s: %s\n", trace, strerror(errno));
        return 1;
    }

    return Py_BytesMain(argc, argv);
}
