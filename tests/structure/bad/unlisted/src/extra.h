/* extra.h: in src/ but in no layer. */
#define EXTRA 1
