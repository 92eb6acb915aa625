/* Must not compile: pymt/pymemcompat.h, then Python.h (stopped where Python.h defines the
 * poisoned PyAPI_FUNC). */
#include "pymt/pymemcompat.h"

#include <Python.h>

int compat_python_after;
