/* chunk_source.h - where the node cache's chunks come from.
 *
 * A chunk source fetches [off, off+len) of one large file into a
 * descriptor of its cache data file at the same offset, asynchronously,
 * and reports the CRC-64/ECMA of the bytes as they arrived (the cache
 * combines them into the file's CRC and checks it against the object's).
 * The default source is the engine (a ranged GET of the object); a test
 * gives its own, and so will peers on other nodes (another source of the
 * same chunks).  The cache calls a source from several threads and
 * processes at once; one fetch handle is used by one thread. */
#ifndef OSSC_CHUNK_SOURCE_H
#define OSSC_CHUNK_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "ossc.h"

typedef struct ossc_chunk_fetch ossc_chunk_fetch; /* one fetch in flight, the source's */

/* Which chunk: the large file's index and object key, the range, and the
 * descriptor (read-write, of that file's cache data file) to land it in at
 * offset off. */
typedef struct ossc_chunk_request {
    int file;
    const char *bucket;
    const char *key;
    uint64_t off;
    uint64_t len;
    int fd;
    const char *etag; /* the object's version: bytes of another are refused ("": any) */
    bool oss_only;   /* from the object store only (bytes from a peer failed the check) */
} ossc_chunk_request;

typedef struct ossc_chunk_source {
    void *ctx;
    /* Starts the fetch: a handle, or NULL with err filled (nothing landed). */
    ossc_chunk_fetch *(*start)(void *ctx, const ossc_chunk_request *rq, ossc_error *err);
    /* True once wait would not block (polling, for the prefetcher). */
    bool (*done)(ossc_chunk_fetch *h);
    /* Blocks until the fetch ends: bytes landed (len when complete) and, in
     * *crc with *have_crc true, their CRC-64; or -1 with err filled. */
    int64_t (*wait)(ossc_chunk_fetch *h, uint64_t *crc, bool *have_crc, ossc_error *err);
    /* Frees the handle; a fetch still running is cancelled first (what it
     * wrote is garbage the cache never serves: the chunk stays unclaimed). */
    void (*release)(ossc_chunk_fetch *h);
    /* Called once on the prefetch thread before its first fetch: prepares
     * that thread (the engine lowers it below the application) and returns
     * how many fetches the source runs at once (>= 1).  NULL: one. */
    int (*prefetcher)(void *ctx);
    /* Where a finished fetch's bytes came from, asked before release: 0
     * the object store, 1 a peer.  NULL: always the object store. */
    int (*origin)(ossc_chunk_fetch *h);
    /* Bytes of file from a peer failed the file's CRC check (they are
     * fetched again with oss_only): the source stops trusting the peer that
     * sent them.  NULL: nothing to do. */
    void (*distrust)(void *ctx, int file);
} ossc_chunk_source;

/* The engine: ranged GETs through this process's client. */
extern const ossc_chunk_source ossc_engine_chunk_source;

/* Chunks come from src from now on in this process (NULL: the engine).
 * Call before attaching; src must outlive the cache. */
void ossc_nodecache_use_source(const ossc_chunk_source *src);

#endif
