/* Must not compile: Python.h, then pymt/pymemcompat.h (stopped by the #error in the latter). */
#include <Python.h>

#include "pymt/pymemcompat.h"

int compat_python_first;
