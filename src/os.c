/* os.c: the only file that talks to the kernel: mmap, munmap, madvise, page size, and the
 * random bytes of the hardened mode's secrets (getrandom).
 * Arenas live in one range reserved at init (pymt__os_reserve_range: PROT_NONE, aligned by
 * mapping the size plus the alignment and unmapping the head and tail) and are committed and
 * decommitted in place with MAP_FIXED mappings over it. Errors return NULL or false; errno is
 * ENOMEM. Nothing here locks. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"

size_t pymt__os_page_size(void) {
    static _Atomic size_t page;
    size_t p = pymt__load_relaxed(&page);
    if (p == 0) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        pymt__store_relaxed(&page, p); /* every thread stores the same value */
    }
    return p;
}

void *pymt__os_reserve(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

/* The size to try after size was refused: half of it in whole alignment units, but min once
 * before giving up. */
static size_t range_next_try(size_t size, size_t min, size_t align) {
    size_t half = (size / 2) & ~(align - 1);
    return size > min && half < min ? min : half;
}

void *pymt__os_reserve_range(size_t size, size_t min, size_t align, size_t *got) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        /* a quarter of the limit, in whole alignment units: halved down to it, or the quarter
         * itself when halving would pass below min (a limit of 400 MiB gets 100 MiB, not 64) */
        size_t cap = (size_t)(lim.rlim_cur / 4) & ~(align - 1);
        while (size > min && size > cap)
            size /= 2;
        if (size < min && cap >= min)
            size = cap;
    }
    for (; size >= min; size = range_next_try(size, min, align)) {
        char *raw = mmap(NULL, size + align, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (raw == MAP_FAILED)
            continue;
        uintptr_t base = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
        size_t head = base - (uintptr_t)raw;
        if (head)
            munmap(raw, head);
        if (align - head)
            munmap((char *)base + size, align - head);
        *got = size;
        return (void *)base;
    }
    errno = ENOMEM;
    return NULL;
}

bool pymt__os_space_allows(size_t size, size_t inside) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
        return true;
    /* the address space's size in pages: the first number of /proc/self/statm */
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    char buf[64];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0)
        return true;
    size_t pages = 0;
    for (ssize_t i = 0; i < got && buf[i] >= '0' && buf[i] <= '9'; i++)
        pages = pages * 10 + (size_t)(buf[i] - '0');
    if (pages * pymt__os_page_size() + inside + size <= lim.rlim_cur)
        return true;
    errno = ENOMEM;
    return false;
}

/* Fresh anonymous pages over [p, p+size) of a reserved range; false + ENOMEM when refused. */
static bool map_fixed(void *p, size_t size, int prot, int flags) {
    if (mmap(p, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags, -1, 0) != MAP_FAILED)
        return true;
    errno = ENOMEM;
    return false;
}

bool pymt__os_commit(void *p, size_t size) {
    return map_fixed(p, size, PROT_READ | PROT_WRITE, 0);
}

bool pymt__os_commit_sparse(void *p, size_t size) {
    return map_fixed(p, size, PROT_READ | PROT_WRITE, MAP_NORESERVE);
}

void pymt__os_decommit(void *p, size_t size) {
    /* mapped over, not unmapped: the range stays ours, so no one else's mapping lands in it */
    (void)map_fixed(p, size, PROT_NONE, MAP_NORESERVE);
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

size_t pymt__os_discard(void *p, size_t size) {
    /* madvise wants a page-aligned start and rounds the length up: round both ends inwards
     * instead, so a page that holds bytes outside the range is never discarded */
    uintptr_t page = pymt__os_page_size();
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t hi = ((uintptr_t)p + size) & ~(page - 1);
    /* DONTNEED, not FREE: the pages leave RSS at once, which is what pymt_trim promises. */
    if (hi <= lo)
        return 0;
    madvise((void *)lo, hi - lo, MADV_DONTNEED);
    return hi - lo;
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
