/* base.h: the bottom layer reaching up into the sys layer. */
#ifndef BASE_H
#define BASE_H
#include "pymt/pymt.h"
#include "sys_cfg.h"
void base_say(void);
int base_twice(int x);
#endif
