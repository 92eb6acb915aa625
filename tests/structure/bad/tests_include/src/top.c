/* top.c: includes a test header that only -I tests would find. */
#include "check.h"
#include "sys.h"
#include "util.h"

int top_run(void) { return CHECK_FIXTURE + util_inc(1); }
