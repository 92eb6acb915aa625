/* python_trace.h: the allocation trace of pymt-python (python_trace.c) and its reader,
 * pymt-alloc-replay (bench/alloc_replay.c).
 *
 * With PYMT_BENCH_TRACE=FILE, pymt-python records every call of CPython's MEM and OBJ domains
 * (PyMem_Malloc..., PyObject_Malloc...: object memory under pymt, pymalloc under
 * PYTHONMALLOC=pymalloc) to FILE, whichever allocator serves them: an array of trace_rec in
 * the machine's byte order. The RAW domain is not recorded (the C library's malloc under both
 * allocators). The replay runs the same calls, in the same order and with the same sizes,
 * against pymt and against CPython's pymalloc in one process, which is the allocators' share
 * of a Python workload without the interpreter's own work around it. */
#ifndef PYMT_PYTHON_TRACE_H
#define PYMT_PYTHON_TRACE_H

#include <stdint.h>

enum {
    TRACE_MALLOC = 0,      /* ptr = the block returned (NULL: failed), size = the request */
    TRACE_CALLOC = 1,      /* the same; size = nelem * elsize */
    TRACE_REALLOC_OLD = 2, /* ptr = the block passed (NULL: a malloc), size = the request; */
    TRACE_REALLOC_NEW = 3, /* always next: ptr = the block returned (NULL: failed, old kept) */
    TRACE_FREE = 4         /* ptr = the block passed (NULL: nothing) */
};

typedef struct trace_rec {
    uint64_t ptr;
    uint32_t size; /* requests above 4 GiB are recorded as UINT32_MAX */
    uint32_t op;
} trace_rec;

/* Wrap the MEM and OBJ domains' allocators as installed now, recording each call to path
 * (created or truncated). Call after the allocator is chosen and before the interpreter
 * starts. Only this process is traced: a forked child records nothing, and PYMT_BENCH_TRACE
 * is removed from the environment. Returns 0, or -1 with errno when path cannot be opened
 * (nothing installed). */
int pymt_python_trace_install(const char *path);

#endif /* PYMT_PYTHON_TRACE_H */
