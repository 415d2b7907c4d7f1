/* registry.h - the broadcast registry on Redis (hiredis): which nodes load
 * which model version, in which order they joined, whether they are alive
 * and how far they got.  Used by the agent (agent.c) in each node's
 * watcher process and by `ossc broadcast status`.
 *
 * Keys (every one expires: nothing stays in Redis after the fleet is gone):
 *   ossc:bc:<vid>:seq          INCR counter: join order
 *   ossc:bc:<vid>:members      ZSET node id -> join seq
 *   ossc:bc:<vid>:node:<id>    HASH of bc_node_info, EXPIRE ttl (the heartbeat:
 *                              a node whose hash expired is dead)
 *   ossc:bc:<vid>:info         HASH oss_path, nfiles, total
 *   ossc:bc:path:<oss_path>    SET of the vids seen for that OSS_PATH (trailing
 *                              '/' stripped: oss://b/m and oss://b/m/ are one)
 * The node hash expires after the caller's ttl; the other keys after one
 * day, renewed by every join and heartbeat.
 * A version id (vid) names one model version: OSS_PATH plus every large
 * file's path, size and CRC-64 (bc_version_id); a changed object is another
 * version, so nodes never exchange bytes of different objects.
 *
 * Every call is synchronous with the timeout given at connect (also for
 * replies): never a hang.  Not thread-safe: one registry per thread. */
#ifndef OSSC_BC_REGISTRY_H
#define OSSC_BC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

/* redis://[[user]:password@]host[:port][/db]  (port 6379, db 0 by default).
 * rediss:// (TLS) and unix sockets are refused with a message naming the
 * URL's scheme.  The password is never put into a message. */
typedef struct bc_redis_url {
    char host[256];
    int port;
    char user[128];
    char password[512];
    int db;
} bc_redis_url;
int bc_redis_url_parse(const char *url, bc_redis_url *out, ossc_error *err);

/* One node as the registry knows it. */
typedef struct bc_node_info {
    char id[64];          /* unique per node and cache: "<hostname>-<pid>-<random hex>" */
    char addr[128];       /* advertised host:port of its chunk server */
    char hostname[64];
    int pid;              /* of its agent */
    long long seq;        /* join order (set by bc_registry_join) */
    char upstream[128];   /* host:port it receives from, "" = OSS */
    uint64_t total;       /* bytes of the model's large files */
    uint64_t recv_oss;    /* bytes landed from OSS */
    uint64_t recv_peer;   /* bytes landed from peers */
    uint64_t forwarded;   /* bytes served to other nodes */
    uint32_t files_done;  /* files complete and verified */
    bool complete;        /* every large file verified */
} bc_node_info;

typedef struct bc_registry bc_registry;

/* Connects (TCP, timeout_ms for connect and for every reply), AUTH and
 * SELECT as the URL says.  NULL with err naming host:port and why. */
bc_registry *bc_registry_connect(const bc_redis_url *u, int timeout_ms, ossc_error *err);
void bc_registry_free(bc_registry *r);

/* Joins vid: takes the next seq (into self->seq), adds self to members,
 * writes its hash with EXPIRE ttl_s, the model's info and the path index.
 * 0, or -1 with err. */
int bc_registry_join(bc_registry *r, const char *vid, const char *oss_path, uint32_t nfiles,
                     bc_node_info *self, int ttl_s, ossc_error *err);
/* Rewrites self's hash (progress, upstream) and renews its EXPIRE. */
int bc_registry_heartbeat(bc_registry *r, const char *vid, const bc_node_info *self, int ttl_s,
                          ossc_error *err);
/* Removes self (hash and membership); best effort. */
void bc_registry_leave(bc_registry *r, const char *vid, const char *id);
/* The live members of vid ordered by seq (a member whose hash expired is
 * dropped from the set on the way; one whose addr is not host:port
 * (hostport.h) or whose score is not a finite number in 0..2^53 is left
 * out, with a log line).  *out malloc'd (free()), *n entries. */
int bc_registry_members(bc_registry *r, const char *vid, bc_node_info **out, size_t *n,
                        ossc_error *err);
/* The vids recorded for oss_path (malloc'd array of malloc'd strings;
 * bc_strings_free). */
int bc_registry_versions(bc_registry *r, const char *oss_path, char ***vids, size_t *n,
                         ossc_error *err);
void bc_strings_free(char **v, size_t n);

/* PING: 0 when the server answers PONG (for ossc_broadcast_ping). */
int bc_registry_ping(bc_registry *r, ossc_error *err);
/* The info hash of vid (what join wrote): oss_path (into cap bytes, ""
 * when absent), nfiles and total (0 when absent). */
int bc_registry_info(bc_registry *r, const char *vid, char *oss_path, size_t cap,
                     uint32_t *nfiles, uint64_t *total, ossc_error *err);
/* "host:port db N": where this registry is, for messages (no password). */
const char *bc_registry_where(const bc_registry *r);

#endif
