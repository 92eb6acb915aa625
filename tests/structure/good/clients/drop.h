/* drop.h: a client's header; the library must not include it. */
int client_helper(void);
