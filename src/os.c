/* os.c: the only file that talks to the kernel: mmap, munmap, madvise, page size, and the
 * random bytes of the hardened mode's secrets (getrandom).
 * Arenas are 1 MiB and 1 MiB-aligned: pymt__os_map_aligned first asks for exactly one arena
 * near the last one (usually aligned for free), and otherwise maps twice the size and unmaps
 * the unaligned head and tail. Errors return NULL; errno is ENOMEM. Nothing here locks. */
#include "os.h"

#include "atomic.h"

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

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

void pymt__os_random(void *buf, size_t n) {
    unsigned char *out = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, GRND_NONBLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return;
    /* no entropy pool yet (early boot) or no getrandom: the exec-time bytes, which differ in
     * every process, stirred with the clock and an address so that forks of one exec and
     * several calls still differ */
    uint64_t seed[2] = {0, 0};
    const void *at = (const void *)getauxval(AT_RANDOM);
    if (at != NULL)
        memcpy(seed, at, sizeof seed);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = seed[0] ^ ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
                 (uint64_t)(uintptr_t)&ts;
    uint64_t y = seed[1] ^ (uint64_t)(uintptr_t)buf;
    for (size_t i = got; i < n; i++) {
        /* xorshift128+ over the seed */
        uint64_t t = x;
        x = y;
        t ^= t << 23;
        t ^= t >> 17;
        t ^= y ^ (y >> 26);
        y = t;
        out[i] = (unsigned char)((x + y) >> 56);
    }
}
