#ifndef UTIL2_H
#define UTIL2_H
#include "util.h"
#endif
