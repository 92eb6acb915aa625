/* base.h: the bottom layer; sees only the public header. */
#ifndef BASE_H
#define BASE_H
#include "pymt/pymt.h"
void base_say(void);
int base_twice(int x);
#endif
