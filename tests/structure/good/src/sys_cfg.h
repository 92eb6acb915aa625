/* sys_cfg.h: a constant of the sys layer; includes nothing. */
#define SYS_CHUNK 64
