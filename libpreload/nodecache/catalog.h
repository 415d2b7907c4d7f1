/* catalog.h - what the node cache holds: MODEL_DIR's large files.
 *
 * Building a cache asks its catalog twice: prepare (mirror MODEL_DIR and
 * list the large files, with the chunk size) and, per large file, describe
 * (its size now, the CRC-64 its bytes are checked against and the ETag of
 * the version its chunks are fetched from).  The default
 * catalog is the engine (a listing of OSS_PATH, GETs of the small files,
 * placeholders, one HEAD per large file: see modeldir.c); a test gives its
 * own to attach a cache with no server.  Called under the setup lock, by
 * the one process that builds the cache. */
#ifndef OSSC_CATALOG_H
#define OSSC_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "etag.h"
#include "nodecache.h"

/* A large file's object as it is now: its size, the CRC-64/ECMA of its
 * bytes when the store sent one, and its ETag (the version every chunk is
 * then fetched from, "" when the store sent none). */
typedef struct ossc_large_version {
    uint64_t size;
    uint64_t crc;
    bool has_crc;
    char etag[OSSC_ETAG_MAX];
} ossc_large_version;

typedef struct ossc_catalog {
    void *ctx;
    /* Prepares MODEL_DIR for settings s and returns its large files sorted
     * by rel (key and rel malloc'd: ossc_large_files_free frees them) and
     * the bytes per chunk (> 0).  0, or -1 with err filled, having left
     * nothing behind in MODEL_DIR. */
    int (*prepare)(void *ctx, const ossc_preload_settings *s, ossc_large_file **files,
                   size_t *nfiles, uint64_t *chunk_size, ossc_error *err);
    /* Large file lf as it is now (the cache refuses a size that is not the
     * listed size; its chunks are fetched of that ETag only).  0, or -1
     * with err naming the file and what failed. */
    int (*describe)(void *ctx, const ossc_preload_settings *s, const ossc_large_file *lf,
                    ossc_large_version *out, ossc_error *err);
} ossc_catalog;

/* The engine: listing, GETs and HEADs through this process's client. */
extern const ossc_catalog ossc_engine_catalog;

/* Caches this process builds from now on come from cat (NULL: the engine).
 * Call before attaching; cat must outlive the attach. */
void ossc_nodecache_use_catalog(const ossc_catalog *cat);

#endif
