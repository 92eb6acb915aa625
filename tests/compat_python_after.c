/* Must not compile: pymt/pymemcompat.h, then Python.h (stopped at Python.h's poisoned guard). */
#include "pymt/pymemcompat.h"

#include <Python.h>

int compat_python_after;
