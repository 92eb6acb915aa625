/* pymt.h: the fixture's public header. */
#ifndef PYMT_FIXTURE_H
#define PYMT_FIXTURE_H
#define PYMT_FIXTURE 1
#endif
