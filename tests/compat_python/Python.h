/* A stand-in for Python.h in the tests that pymt/pymemcompat.h refuses to share a file with it:
 * the two macros pymemcompat.h looks for, behind the real header's include guard. */
#ifndef Py_PYTHON_H
#define Py_PYTHON_H
#define PY_VERSION "3.12.0"
#endif
