/* sysalloc.c: the system allocator, the only way pymt reaches it (raw family, requests above
 * the threshold, pooling off, debug blocks). In the preload library (PYMT_SYS_LIBC=1) malloc
 * is pymt itself, so these call glibc's own __libc_* entry points instead and never recurse. */
#include "internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#if defined(PYMT_SYS_LIBC) && PYMT_SYS_LIBC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
#define SYS_MALLOC __libc_malloc
#define SYS_CALLOC __libc_calloc
#define SYS_REALLOC __libc_realloc
#define SYS_FREE __libc_free
#define SYS_MEMALIGN __libc_memalign
#else
#define SYS_MALLOC malloc
#define SYS_CALLOC calloc
#define SYS_REALLOC realloc
#define SYS_FREE free
#define SYS_MEMALIGN memalign
#endif

void *pymt__sys_malloc(size_t n) {
    void *p = SYS_MALLOC(n ? n : 1);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

void *pymt__sys_calloc(size_t nelem, size_t elsize) {
    /* A zero factor makes a 0-byte request whatever the other one is, served as calloc(1, 1)
     * (raising only the zero factor to 1 would ask calloc(0, SIZE_MAX) for SIZE_MAX bytes). */
    if (nelem == 0 || elsize == 0)
        nelem = elsize = 1;
    void *p = SYS_CALLOC(nelem, elsize);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

void *pymt__sys_realloc(void *p, size_t n) {
    void *q = SYS_REALLOC(p, n ? n : 1);
    if (pymt__unlikely(!q))
        errno = ENOMEM;
    return q;
}

void pymt__sys_free(void *p) {
    SYS_FREE(p);
}

void *pymt__sys_memalign(size_t alignment, size_t n) {
    void *p = SYS_MEMALIGN(alignment, n ? n : 1);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

size_t pymt__sys_usable_size(const void *p) {
    return p ? malloc_usable_size((void *)p) : 0;
}
