/* sys.c: the system allocator, the only way pymt reaches it. Normally that is the C library's
 * public malloc, free, ... (whatever the program links or preloads: a sanitizer's, another
 * allocator's). In the drop-in malloc (override.c) those names are pymt's own, so it switches
 * this file to glibc's __libc_* entry points before anything else happens; the switch is made
 * once, before initialisation, by the thread that initialises, and only read afterwards. */
#include "sys.h"

#include "atomic.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

/* Set before the first allocation of the process, by every thread that finds pymt not yet
 * initialised in the drop-in (always to true), so relaxed. */
static _Atomic bool sys_internal;

static inline bool internal(void) {
    return pymt__load_relaxed(&sys_internal);
}

void pymt__sys_use_libc_internals(void) {
    pymt__store_relaxed(&sys_internal, true);
}

bool pymt__sys_is_dropin(void) {
    return internal();
}

bool pymt__sys_tune_glibc(void) {
    return mallopt(M_MMAP_THRESHOLD, (int)(PYMT__GLIBC_MMAP_MIB << 20)) == 1 &&
           mallopt(M_TRIM_THRESHOLD, (int)(PYMT__GLIBC_TRIM_MIB << 20)) == 1;
}

int pymt__sys_trim(size_t pad) {
    /* A program calls malloc_trim long after pymt has initialised, so whatever dlsym may
     * allocate is served as usual (in the drop-in, by pymt). Threads that race here store the
     * same address. */
    static void *_Atomic next_trim;
    void *f = pymt__load_acquire(&next_trim);
    if (f == NULL) {
        f = dlsym(RTLD_NEXT, "malloc_trim");
        if (f == NULL)
            return 0;
        pymt__store_release(&next_trim, f);
    }
    int (*trim)(size_t);
    *(void **)&trim = f;
    return trim(pad);
}

/* glibc's usable size of one of its own blocks, read from the chunk header as glibc's
 * malloc_usable_size does (glibc 2.26 .. 2.40 without memory tagging): the size word sits just
 * below the block; bit 1 marks an mmapped chunk, whose header is two words, and the low three
 * bits are flags. glibc has no __libc_ name for this function. */
static size_t glibc_usable(const void *p) {
    size_t head = ((const size_t *)p)[-1];
    size_t chunk = head & ~(size_t)7;
    if (head & 2)
        return chunk - 2 * sizeof(size_t);
    return chunk - sizeof(size_t);
}

void *pymt__sys_malloc(size_t n) {
    if (n == 0)
        n = 1;
    void *p = internal() ? __libc_malloc(n) : malloc(n);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

void *pymt__sys_calloc(size_t nelem, size_t elsize) {
    if (nelem == 0 || elsize == 0)
        nelem = elsize = 1; /* a unique block, whatever the other factor */
    void *p = internal() ? __libc_calloc(nelem, elsize) : calloc(nelem, elsize);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

void *pymt__sys_realloc(void *p, size_t n) {
    if (n == 0)
        n = 1;
    void *q = internal() ? __libc_realloc(p, n) : realloc(p, n);
    if (pymt__unlikely(!q))
        errno = ENOMEM;
    return q;
}

void pymt__sys_free(void *p) {
    if (internal())
        __libc_free(p);
    else
        free(p);
}

void *pymt__sys_memalign(size_t alignment, size_t n) {
    if (n == 0)
        n = 1;
    void *p = internal() ? __libc_memalign(alignment, n) : memalign(alignment, n);
    if (pymt__unlikely(!p))
        errno = ENOMEM;
    return p;
}

size_t pymt__sys_usable_size(const void *p) {
    if (p == NULL)
        return 0;
    return internal() ? glibc_usable(p) : malloc_usable_size((void *)p);
}
