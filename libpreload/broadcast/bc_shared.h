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

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Reads role and upstream consistently (a copy of upstream into out). */
static inline uint32_t bc_shared_read(struct bc_shared *b, char out[BC_ADDR_MAX], unsigned *gen)
{
    for (;;) {
        unsigned s1 = atomic_load(&b->seq);
        if (s1 & 1)
            continue;
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
