/* os.h: the kernel's memory calls and its randomness (os.c). */
#ifndef PYMT_OS_H
#define PYMT_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Map size bytes of zeroed read-write memory without reserving swap (for large sparse metadata
 * tables); NULL + ENOMEM on failure. */
void *pymt__os_reserve(size_t size);
/* Map size bytes aligned to align (a power of two >= the page size). */
void *pymt__os_map_aligned(size_t size, size_t align);
void pymt__os_unmap(void *p, size_t size);
/* Ask for transparent huge pages on [p, p+size) (MADV_HUGEPAGE); false if refused. */
bool pymt__os_advise_huge(void *p, size_t size);
/* Give the pages back to the OS, keeping the mapping (they read as zero afterwards). */
void pymt__os_discard(void *p, size_t size);
/* Fill buf with n unpredictable bytes: getrandom(2) without blocking, else the 16 random bytes
 * the kernel gave the process at exec (AT_RANDOM) stirred with the clock. Never allocates. */
void pymt__os_random(void *buf, size_t n);

#endif /* PYMT_OS_H */
