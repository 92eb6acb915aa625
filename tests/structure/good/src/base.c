/* base.c: allowed fprintf; GCC emits fwrite for this constant string. */
#include <stdio.h>

#include "base.h"
#include "util.h"

void base_say(void) { fprintf(stderr, "fixture says hello\n"); }
int base_twice(int x) { return util_inc(x) * 2; }
