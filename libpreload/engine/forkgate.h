/* forkgate.h - no fork() while an engine thread is inside libcurl or
 * libcrypto (see forkgate.c). */
#ifndef OSSC_FORKGATE_H
#define OSSC_FORKGATE_H

/* Installs the fork handlers, once per process (idempotent). */
void ossc_forkgate_init(void);
/* Brackets a stretch of library work in an engine thread.  Not nested;
 * nothing inside may wait for something a forking thread could hold (a
 * Python credentials callback needs the GIL: run it outside). */
void ossc_forkgate_enter(void);
void ossc_forkgate_leave(void);

#endif
