/* bc_shared.h - what a node's processes share about broadcasting, inside
 * the node cache's shared state (one block in its header).
 *
 * The agent (in the watcher) is the only writer of the decision: role and
 * upstream, published under a sequence lock (seq odd while it writes) and
 * `decided` set once the first decision is out (the chunk sources of the
 * application processes wait for it, bounded by the connect timeout).
 * Fetchers report an upstream they gave up on in `suspect` (seqlock too);
 * the agent leaves it out of its chain and relinks.  Counters are
 * statistics for `ossc broadcast status` and the log, and `arrived` the
 * node's progress that its chunk server reports to downstream nodes. */
#ifndef OSSC_BC_SHARED_H
#define OSSC_BC_SHARED_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum bc_role { BC_ROLE_OSS = 0, BC_ROLE_PEER = 1 };

#define BC_ADDR_MAX 128

struct bc_shared {
    atomic_uint decided;          /* futex word: 1 once role/upstream are first set */
    atomic_uint seq;              /* seqlock of role + upstream */
    uint32_t role;                /* enum bc_role */
    char upstream[BC_ADDR_MAX];   /* host:port when role == BC_ROLE_PEER */
    char vid[40];
    atomic_uint suspect_seq;      /* seqlock of suspect; bumped by 2 per report */
    char suspect[BC_ADDR_MAX];
    atomic_int agent_pid;
    uint32_t pad;
    atomic_ullong recv_oss;       /* bytes landed from OSS while broadcasting */
    atomic_ullong recv_peer;      /* bytes landed from peers */
    atomic_ullong forwarded;      /* bytes this node's server sent */
    atomic_ullong peer_failures;  /* chunks a peer failed to give (then from OSS) */
    atomic_ullong bad_peer_bytes; /* bytes from peers that failed the CRC check */
    char off_reason[512];         /* why this node stays out (set before `decided`) */
    atomic_uint off_told;         /* 1 once a process put off_reason on stderr */
    uint32_t pad2;
    /* Bytes of chunks landed on this node so far, counted as each piece is
     * written (any source: the engine's clients add to it, client.h), not
     * at chunk completion: the progress this node's chunk server reports in
     * its 503s (OSSC-Arrived, server.h), by which a downstream node tells a
     * slow upstream from a stalled one (peer_source.c). */
    atomic_ullong arrived;
};

/* How long a seqlock may stay odd before it is taken as abandoned: a
 * writer's critical section is a few stores, but a process killed (SIGKILL)
 * inside it would leave the lock odd for good, and every reader of the
 * node spinning.  Long enough that a writer merely preempted on a loaded
 * machine is not overtaken. */
#define BC_SEQ_ABANDONED_MS 1000

/* The seqlock's value once it is even (no write in progress); a lock odd
 * for BC_SEQ_ABANDONED_MS is made even (its writer died: what it was
 * writing may be torn, and readers treat what they read as a hint: an
 * upstream address that does not answer, or is not a node, fails over). */
static inline unsigned bc_seq_settled(atomic_uint *seq)
{
    struct timespec t0 = {0, 0}, now;
    for (unsigned spins = 0;; spins++) {
        unsigned s = atomic_load(seq);
        if (!(s & 1))
            return s;
        if (spins < 1000)
            continue;
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (spins == 1000)
            t0 = now;
        else if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >=
                 BC_SEQ_ABANDONED_MS)
            atomic_compare_exchange_strong(seq, &s, s + 1);
    }
}

/* Reads role and upstream consistently (a copy of upstream into out). */
static inline uint32_t bc_shared_read(struct bc_shared *b, char out[BC_ADDR_MAX], unsigned *gen)
{
    for (;;) {
        unsigned s1 = bc_seq_settled(&b->seq);
        /* Acquire loads of the data (free on x86) keep the second read of
         * seq after them; unlike a fence, ThreadSanitizer understands them. */
        uint32_t role = __atomic_load_n(&b->role, __ATOMIC_ACQUIRE);
        for (size_t i = 0; i < BC_ADDR_MAX; i++)
            out[i] = __atomic_load_n(&b->upstream[i], __ATOMIC_ACQUIRE);
        out[BC_ADDR_MAX - 1] = '\0';
        if (atomic_load(&b->seq) == s1) {
            if (gen)
                *gen = s1;
            return role;
        }
    }
}

#endif
