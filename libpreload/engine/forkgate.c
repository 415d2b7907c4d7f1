/* forkgate.c - no fork() while an engine thread is inside libcurl or
 * libcrypto.
 *
 * fork() copies the calling thread only, but every lock as it was: a lock
 * an I/O thread held at that instant (OpenSSL's method-store and ex_data
 * rwlocks, taken while signing; libcurl's share locks) stays locked in the
 * child forever.  The child's first use of the library -- or just
 * OPENSSL_cleanup, which libcrypto runs at exit() -- then hangs.  Seen
 * here: bash subshells forked under LD_PRELOAD, hanging at exit.
 *
 * So engine threads hold this gate (shared) while they run library code
 * and drop it while they sleep in poll; a fork (pthread_atfork prepare)
 * takes it exclusively and so waits, at most one pass of the I/O loop, for
 * every engine thread to be outside the libraries.  Writers are preferred,
 * or a busy engine could keep a fork waiting for ever. */
#include <pthread.h>

#include "forkgate.h"

static pthread_rwlock_t gate;
static pthread_once_t gate_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    pthread_rwlock_wrlock(&gate);
}

static void gate_reset(void)
{
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&gate, &a);
    pthread_rwlockattr_destroy(&a);
}

static void after_fork_parent(void)
{
    pthread_rwlock_unlock(&gate);
}

/* The child's one thread has another thread id than the writer glibc
 * recorded, so unlocking would count as a reader's unlock: start afresh
 * (no engine thread exists here to hold it). */
static void after_fork_child(void)
{
    gate_reset();
}

static void gate_setup(void)
{
    gate_reset();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void ossc_forkgate_init(void)
{
    pthread_once(&gate_once, gate_setup);
}

void ossc_forkgate_enter(void)
{
    pthread_rwlock_rdlock(&gate);
}

void ossc_forkgate_leave(void)
{
    pthread_rwlock_unlock(&gate);
}
