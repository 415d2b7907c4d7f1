/* agent.h - a node's broadcasting agent, run by the node cache's watcher
 * (a detached process that lives exactly as long as the node's cache):
 * it serves this node's chunks to the others (server.h), registers the
 * node for the model version in Redis (registry.h), heartbeats, and
 * decides where this node receives from (chain.h), publishing the
 * decision in the shared block (bc_shared.h) for the chunk sources of the
 * node's processes.  Redis unreachable or gone: the node pulls from OSS
 * (or keeps the upstream it has), one warning line; never a hang beyond
 * the connect timeout.  Not thread-safe: the watcher's one thread. */
#ifndef OSSC_BC_AGENT_H
#define OSSC_BC_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "bc_settings.h"
#include "bc_shared.h"
#include "chain.h"
#include "server.h"

/* The model this node caches: OSS_PATH and its large files in order
 * (has_crc false for any: the server sent no CRC-64, so bytes from peers
 * could not be checked: the agent stays out of broadcasting). */
typedef struct bc_agent_model {
    const char *oss_path;
    const bc_version_file *files;
    size_t nfiles;
    bool all_have_crc;
} bc_agent_model;

/* Starts: always publishes a first decision (OSS when anything fails,
 * with one warning line saying why).  view's vid is set by the agent. */
void bc_agent_start(const ossc_bc_settings *b, const bc_agent_model *m, struct bc_shared *shared,
                    const bc_cache_view *view);
/* Every watcher round (~250 ms): heartbeat (once a second), relink when a
 * fetcher gave up on the upstream or the chain changed.  files_done and
 * complete are this node's progress. */
void bc_agent_tick(uint32_t files_done, bool complete);
/* The cache goes: leave the registry, stop serving (requests in flight
 * end first). */
void bc_agent_stop(void);

#endif
