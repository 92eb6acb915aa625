/* A stand-in for Python.h in the tests that pymt/pymemcompat.h refuses to share a file with it:
 * the two macros pymemcompat.h looks for when it comes second, behind the real header's include
 * guard, and the one it poisons when it comes first, defined as the real header's pyport.h
 * defines it. */
#ifndef Py_PYTHON_H
#define Py_PYTHON_H
#define PY_VERSION "3.12.0"
#define PyAPI_FUNC(RTYPE) RTYPE
#endif
