/* os.c: the only file that talks to the kernel about memory: mmap, munmap, madvise, page size.
 * Arenas are 1 MiB and 1 MiB-aligned: pymt__os_map_aligned first asks for exactly one arena
 * near the last one (usually aligned for free), and otherwise maps twice the size and unmaps
 * the unaligned head and tail. Errors return NULL; errno is ENOMEM. Nothing here locks. */
#include "os.h"

#include "atomic.h"

#include <errno.h>
#include <sys/mman.h>

static _Atomic uintptr_t os_next_hint; /* where the next aligned mapping may land; a guess only */

void *pymt__os_reserve(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void *pymt__os_map_aligned(size_t size, size_t align) {
    uintptr_t hint = pymt__load_relaxed(&os_next_hint);
    if (hint != 0) {
        void *p = mmap((void *)hint, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            errno = ENOMEM;
            return NULL;
        }
        if (((uintptr_t)p & (align - 1)) == 0) {
            pymt__store_relaxed(&os_next_hint, (uintptr_t)p + size);
            return p;
        }
        munmap(p, size);
    }
    size_t span = size + align;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t base = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = base - (uintptr_t)raw;
    size_t tail = span - head - size;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)base + size, tail);
    pymt__store_relaxed(&os_next_hint, base + size);
    return (void *)base;
}

void pymt__os_unmap(void *p, size_t size) {
    munmap(p, size);
}

bool pymt__os_advise_huge(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
    return madvise(p, size, MADV_HUGEPAGE) == 0;
#else
    (void)p;
    (void)size;
    return false;
#endif
}

void pymt__os_discard(void *p, size_t size) {
    /* DONTNEED, not FREE: the pages leave RSS at once, which is what pymt_trim promises. */
    madvise(p, size, MADV_DONTNEED);
}
