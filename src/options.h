/* options.h: the PYMT_* environment (options.c), read once by init without allocating. The
 * structure is pymt__options in types.h. */
#ifndef PYMT_OPTIONS_H
#define PYMT_OPTIONS_H

#include "types.h"

/* Fill *o from the environment and the build's defaults; a bad value gets one stderr line and
 * the default. */
void pymt__options_read(pymt__options *o);

#endif /* PYMT_OPTIONS_H */
