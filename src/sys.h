/* sys.h: the system allocator (sys.c), the only way pymt reaches the C library's malloc. Used
 * by the raw family, by object memory above the threshold, by every family with pooling off,
 * and under debug blocks. Each call is the C library's, with errno ENOMEM on failure and a
 * unique block for 0 bytes. */
#ifndef PYMT_SYS_H
#define PYMT_SYS_H

#include "internal.h"

/* Route every call below to glibc's own entry points (__libc_malloc, __libc_free, ...) instead
 * of malloc, free, ...: the drop-in malloc (override.c) calls this before initialisation,
 * because there malloc is pymt itself and the public names would come back to it. */
void pymt__sys_use_libc_internals(void);

/* Whether pymt__sys_use_libc_internals was called: this is the drop-in malloc. */
bool pymt__sys_is_dropin(void);

/* The thresholds below, in MiB (stats print them). */
#define PYMT__GLIBC_MMAP_MIB 32u
#define PYMT__GLIBC_TRIM_MIB 16u
/* glibc's mmap threshold to 32 MiB and its trim threshold to 16 MiB (mallopt), for a glibc
 * heap that holds mostly the big blocks pymt passes on: by default glibc maps every block of
 * 128 KiB or more on its own and gives the top of its heaps back to the kernel as soon as 128
 * KiB are free there, so a program that frees and allocates big blocks in turn pays a
 * munmap or madvise and the page faults of the next allocation every time. glibc raises both
 * thresholds itself only when it frees a block it had mapped, and only to that block's size
 * (and twice it). Called once by init when wanted (PYMT_GLIBC_TUNE, options.c); setting them
 * ends glibc's own raising. Returns whether glibc took both values. */
bool pymt__sys_tune_glibc(void);

/* The C library's malloc_trim(pad), for the drop-in's malloc_trim (override.c), which takes
 * the name: the next definition past pymt's own object (dlsym RTLD_NEXT, looked up at the first
 * call). Returns its result, or 0 when there is none. */
int pymt__sys_trim(size_t pad);

void *pymt__sys_malloc(size_t n);
void *pymt__sys_calloc(size_t nelem, size_t elsize);
void *pymt__sys_realloc(void *p, size_t n);
void pymt__sys_free(void *p);
void *pymt__sys_memalign(size_t alignment, size_t n);
size_t pymt__sys_usable_size(const void *p);

#endif /* PYMT_SYS_H */
