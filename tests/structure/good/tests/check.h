/* check.h: a test header; the library must not include it. */
#define CHECK_FIXTURE 1
