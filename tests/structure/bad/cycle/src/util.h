/* util.h and util2.h include each other: one layer, still a cycle. */
#ifndef UTIL_H
#define UTIL_H
#include "base.h"
#include "util2.h"
static inline int util_inc(int x) { return x + 1; }
#endif
