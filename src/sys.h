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

void *pymt__sys_malloc(size_t n);
void *pymt__sys_calloc(size_t nelem, size_t elsize);
void *pymt__sys_realloc(void *p, size_t n);
void pymt__sys_free(void *p);
void *pymt__sys_memalign(size_t alignment, size_t n);
size_t pymt__sys_usable_size(const void *p);

#endif /* PYMT_SYS_H */
