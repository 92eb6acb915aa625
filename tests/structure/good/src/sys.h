/* sys.h: the system allocator, one layer up; includes the layer below. */
#ifndef SYS_H
#define SYS_H
#include <stddef.h>

#include "base.h"
#include "sys_cfg.h"
void *sys_get(size_t n);
void sys_put(void *p);
#endif
