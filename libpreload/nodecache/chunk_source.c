/* chunk_source.c - the engine as the default chunk source (chunk_source.h):
 * a ranged GET of the object landed in the cache file by the engine, with
 * the CRC-64 it computes as the bytes arrive, of the version the catalog
 * described only (If-Match its ETag: a replaced object fails the chunk
 * with ESTALE rather than mixing two versions in one file).  Runs under the re-entry
 * guard: the engine's own libc calls never reach the hooks. */
#include <errno.h>
#include <stddef.h>

#include "cache_internal.h"
#include "chunk_source.h"
#include "client.h" /* ossc_client_count_arrivals */

static ossc_chunk_fetch *engine_start(void *ctx, const ossc_chunk_request *rq, ossc_error *err)
{
    (void)ctx;
    ossc_client *cl = nc_client();
    if (!cl) {
        ossc_error_set(err, EIO, "no OSS client (see the log)");
        return NULL;
    }
    if (NC.s.bc.enabled) /* broadcasting: the node's progress, as bytes land (bc_shared.h) */
        ossc_client_count_arrivals(cl, &NC.h->bc.arrived);
    ossc_in_hook++;
    ossc_future *fu = ossc_get_async_fd_version(cl, rq->bucket, rq->key, rq->etag, rq->off,
                                                rq->len, rq->fd, rq->off, err);
    ossc_in_hook--;
    return (ossc_chunk_fetch *)fu;
}

static bool engine_done(ossc_chunk_fetch *h)
{
    return ossc_future_done((ossc_future *)h) != 0;
}

static int64_t engine_wait(ossc_chunk_fetch *h, uint64_t *crc, bool *have_crc, ossc_error *err)
{
    ossc_in_hook++;
    int64_t n = ossc_future_wait((ossc_future *)h, err);
    *have_crc = n >= 0 && ossc_future_crc64((ossc_future *)h, crc, NULL) >= 0;
    ossc_in_hook--;
    return n;
}

static void engine_release(ossc_chunk_fetch *h)
{
    ossc_in_hook++;
    ossc_future_free((ossc_future *)h);
    ossc_in_hook--;
}

static int engine_prefetcher(void *ctx)
{
    (void)ctx;
    ossc_client *cl = nc_client();
    if (!cl)
        return 1;
    ossc_client_lower_thread(cl); /* below the application, like the I/O threads */
    return ossc_client_concurrency(cl);
}

const ossc_chunk_source ossc_engine_chunk_source = {
    .ctx = NULL,
    .start = engine_start,
    .done = engine_done,
    .wait = engine_wait,
    .release = engine_release,
    .prefetcher = engine_prefetcher,
};

void ossc_nodecache_use_source(const ossc_chunk_source *src)
{
    NC.source = src ? src : &ossc_engine_chunk_source;
}
