/* chain.h - who a node receives from: pure functions, no I/O.
 *
 * The live members, ordered by join seq, form `sources` interleaved chains:
 * members 0 .. sources-1 pull from OSS; member p >= sources receives from
 * member p - sources.  Each node receives once and forwards once (one
 * stream saturates a NIC; a tree would make a node send to several
 * children at once).  A member this node gave up on (it stalled, refused
 * us or sent bad bytes) is left out of this node's view, which relinks it
 * to the next live predecessor of its chain. */
#ifndef OSSC_BC_CHAIN_H
#define OSSC_BC_CHAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

/* Index in m (n live members, ordered by seq) of self_id's upstream, or -1
 * when self pulls from OSS (it is one of the first `sources` members of the
 * view, or is not in m).  excluded(id, ctx) true leaves a member out of the
 * view (never self); excluded may be NULL. */
int bc_chain_upstream(const bc_node_info *m, size_t n, const char *self_id, int sources,
                      bool (*excluded)(const char *id, void *ctx), void *ctx);

/* The model version id (32 hex digits + NUL into out[33]): SHA-256 over
 * OSS_PATH and, per large file in order, its path, size and CRC-64. */
typedef struct bc_version_file {
    const char *rel;
    uint64_t size;
    uint64_t crc;
} bc_version_file;
void bc_version_id(const char *oss_path, const bc_version_file *files, size_t n, char out[33]);

#endif
