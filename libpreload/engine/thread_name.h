/* thread_name.h - names the calling thread, as `top -H`, `ps -L`, perf
 * and gdb show it: every thread the library starts is "ossc-..." (at most
 * 15 bytes; longer is cut), so none passes for one of the application's.
 * For a process's only thread it is the process's name (ps, top).
 * PR_SET_NAME names the caller only and opens no file (pthread_setname_np
 * on another thread writes /proc/.../comm, which the interposer would
 * see).  Failing to name is harmless.  Header only: one prctl. */
#ifndef OSSC_THREAD_NAME_H
#define OSSC_THREAD_NAME_H

#include <sys/prctl.h>

static inline void ossc_thread_name(const char *name)
{
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

#endif
