/* inproc.h - in-process model directories: GOT patching (gotpatch.c), the
 * counted forwarders it installs (inproc_hooks.c) and the session that
 * ties them to the shared cache (inproc.c). */
#ifndef OSSC_INPROC_H
#define OSSC_INPROC_H

#include <stddef.h>

#include "ossc.h"

/* ------------------------------------------------------------ gotpatch */

/* One imported function to redirect: every GOT entry (JUMP_SLOT or
 * GLOB_DAT relocation) of `name` in a loaded object is pointed at
 * `replacement` while installed. */
typedef struct ossc_got_target {
    const char *name;
    void *replacement;
} ossc_got_target;

/* Patches every object loaded now (all but libc, the dynamic loader, the
 * vDSO and this library) and, through a `dlopen` forwarder, every object
 * loaded later.  Entries are only rewritten when they hold libc's
 * definition (or an unresolved lazy-binding stub).  -1 with err when the
 * platform is not supported or nothing could be patched. */
int ossc_got_install(const ossc_got_target *targets, size_t n, ossc_error *err);
/* Patches objects loaded since the last pass (called after dlopen). */
void ossc_got_rescan(void);
/* Restores every entry that still holds our replacement, in objects that
 * are still loaded.  Safe to call when nothing is installed. */
void ossc_got_uninstall(void);
/* Entries currently redirected. */
size_t ossc_got_patched(void);
/* In a fork child: the parent's lock holders do not exist here. */
void ossc_got_after_fork_child(void);

/* ------------------------------------------------------------ forwarders */

/* The targets for ossc_got_install: counted forwarders to this library's
 * exported hooks (hook_*.c).  Calls that concern our files are counted, so
 * a session is only torn down when none is inside the cache. */
int ossc_inproc_targets(const ossc_got_target **targets, size_t *n, ossc_error *err);
long ossc_inproc_inflight(void);
void ossc_inproc_inflight_reset(void);
/* Where the prepared directory is (absolute, and its realpath): opens of
 * paths elsewhere are not counted. */
void ossc_inproc_set_dirs(const char *dir, const char *dir_real);

#endif
