/* os.h: the kernel's memory calls and its randomness (os.c). */
#ifndef PYMT_OS_H
#define PYMT_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Map size bytes of zeroed read-write memory without reserving swap (for large sparse metadata
 * tables); NULL + ENOMEM on failure. */
void *pymt__os_reserve(size_t size);
/* Reserve address space without memory behind it (PROT_NONE, no swap): the largest of size,
 * size/2, size/4 ... and last min that the kernel grants, and that RLIMIT_AS leaves room for
 * (at most a quarter of the limit, rounded down to align: that quarter itself when it lies
 * between two halvings), aligned to align (a power of two >= the page size, dividing min);
 * *got is the size granted. NULL + ENOMEM when not even min is granted. */
void *pymt__os_reserve_range(size_t size, size_t min, size_t align, size_t *got);
/* Would RLIMIT_AS let the process map size more bytes, counting inside bytes already mapped
 * inside reserved ranges as if they were mappings of their own? Asked before committing memory
 * inside a reserved range, which the kernel does not count against the limit (the range
 * counted whole when it was reserved): memory mapped there is held to the limit as a new
 * mapping would be, so a program under a limit gets ENOMEM from pymt as it would from the
 * kernel (a little early: the range's mapped part counts twice). True when there is no limit
 * or the address space's size cannot be read; false sets errno to ENOMEM. */
bool pymt__os_space_allows(size_t size, size_t inside);
/* Back [p, p+size), inside a reserved range, with fresh zeroed read-write pages; false + ENOMEM
 * when the kernel refuses (the range stays reserved). */
bool pymt__os_commit(void *p, size_t size);
/* Back [p, p+size), inside a reserved range, with zeroed read-write pages without reserving
 * swap (a sparse table); false + ENOMEM when refused. */
bool pymt__os_commit_sparse(void *p, size_t size);
/* The kernel's page size, asked of it once (the discards of a medium trim come once per free
 * block). */
size_t pymt__os_page_size(void);
/* Give [p, p+size) back to the kernel, keeping it reserved (PROT_NONE again). */
void pymt__os_decommit(void *p, size_t size);
void pymt__os_unmap(void *p, size_t size);
/* Ask for transparent huge pages on [p, p+size) (MADV_HUGEPAGE); false if refused. */
bool pymt__os_advise_huge(void *p, size_t size);
/* Give the pages that lie wholly inside [p, p+size) back to the OS, keeping the mapping (they
 * read as zero afterwards); the pages at either end that hold bytes outside it are kept, so
 * any range may be asked for, whatever the kernel's page size. Returns the bytes of those
 * pages (0 when none lies wholly inside). */
size_t pymt__os_discard(void *p, size_t size);
/* Fill buf with n unpredictable bytes: getrandom(2) without blocking, else the 16 random bytes
 * the kernel gave the process at exec (AT_RANDOM) stirred with the clock. Never allocates. */
void pymt__os_random(void *buf, size_t n);

#endif /* PYMT_OS_H */
