/* util.h: same layer as base.h, includes it. */
#ifndef UTIL_H
#define UTIL_H
#include "base.h"
static inline int util_inc(int x) { return x + 1; }
#endif
