/* peer_source.h - the chunk source of a broadcasting node: chunks come from
 * the upstream peer the agent chose (bc_shared.h), and from the object
 * store when this node pulls from OSS, when no decision came in time, when
 * the peer fails (refused, gone, stalled, released the bytes) or when the
 * file's bytes from a peer once failed the CRC check.  Every byte is
 * checked the same way whatever its origin (the node cache joins the chunk
 * CRCs and compares them with the object's), so a peer can cost time,
 * never correctness. */
#ifndef OSSC_BC_PEER_SOURCE_H
#define OSSC_BC_PEER_SOURCE_H

#include "bc_settings.h"
#include "bc_shared.h"
#include "chunk_source.h"

/* The source over `oss` (the engine) for this node: settings b (kept by
 * pointer: they must outlive the source) and the shared block.  Sets
 * *out (static storage: one per process). */
void bc_peer_source_init(ossc_chunk_source *out, const ossc_bc_settings *b,
                         struct bc_shared *shared, const ossc_chunk_source *oss);
/* Drops this process's peer clients (after fork in the child: their
 * threads did not come along; at detach). */
void bc_peer_source_reset(void);

#endif
