/* python_trace.c: PYMT_BENCH_TRACE=FILE for pymt-python (python_trace.h). Each call of the MEM
 * and OBJ domains goes through a wrapper that calls the allocator it replaced and appends a
 * record to a static buffer, written to the file with write() when full and at exit: the
 * recording itself allocates nothing. The GIL, which CPython holds around every call of these
 * two domains, orders the records; the RAW domain, called without it, is not wrapped. Only
 * the process itself is traced: a forked child stops recording, and the variable is taken out
 * of the environment the programs it starts inherit. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "python_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { BUF_RECS = 16384 }; /* 256 KiB */

static trace_rec buf[BUF_RECS];
static size_t used;
static int fd = -1;
static PyMemAllocatorEx base_mem, base_obj; /* the allocators wrapped; each wrapper's ctx */

static void flush_buf(void) {
    const char *p = (const char *)buf;
    size_t left = used * sizeof(trace_rec);
    while (left > 0 && fd >= 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) { /* disk full or gone: stop recording rather than write a torn trace */
            close(fd);
            fd = -1;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    used = 0;
}

static void record(const void *ptr, size_t size, uint32_t op) {
    if (fd < 0)
        return;
    buf[used++] = (trace_rec){(uintptr_t)ptr, size > UINT32_MAX ? UINT32_MAX : (uint32_t)size, op};
    if (used == BUF_RECS)
        flush_buf();
}

static void *t_malloc(void *ctx, size_t n) {
    PyMemAllocatorEx *b = ctx;
    void *p = b->malloc(b->ctx, n);
    record(p, n, TRACE_MALLOC);
    return p;
}
static void *t_calloc(void *ctx, size_t nelem, size_t elsize) {
    PyMemAllocatorEx *b = ctx;
    void *p = b->calloc(b->ctx, nelem, elsize);
    record(p, nelem * elsize, TRACE_CALLOC); /* CPython has refused an overflowing product */
    return p;
}
static void *t_realloc(void *ctx, void *q, size_t n) {
    PyMemAllocatorEx *b = ctx;
    record(q, n, TRACE_REALLOC_OLD);
    void *p = b->realloc(b->ctx, q, n);
    record(p, n, TRACE_REALLOC_NEW);
    return p;
}
static void t_free(void *ctx, void *q) {
    PyMemAllocatorEx *b = ctx;
    record(q, 0, TRACE_FREE);
    b->free(b->ctx, q);
}

static void at_exit(void) {
    flush_buf();
    if (fd >= 0)
        close(fd);
    fd = -1; /* what is freed after this is not recorded */
}

/* A forked child stops recording: its calls are not the traced process's, and its copy of
 * the buffer would be written a second time. */
static void at_fork_child(void) {
    if (fd >= 0)
        close(fd);
    fd = -1;
    used = 0;
}

int pymt_python_trace_install(const char *path) {
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    /* the programs this one starts (sys.executable included) are not traced: they would
     * truncate the file */
    unsetenv("PYMT_BENCH_TRACE");
    pthread_atfork(NULL, NULL, at_fork_child);
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &base_mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &base_obj);
    PyMemAllocatorEx mem = {&base_mem, t_malloc, t_calloc, t_realloc, t_free};
    PyMemAllocatorEx obj = {&base_obj, t_malloc, t_calloc, t_realloc, t_free};
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &mem);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &obj);
    atexit(at_exit);
    return 0;
}
