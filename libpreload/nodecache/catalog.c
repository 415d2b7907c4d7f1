/* catalog.c - the engine as the default catalog (catalog.h): MODEL_DIR
 * prepared from a listing of OSS_PATH (modeldir.c), each large file's size
 * CRC-64 and ETag from a HEAD, the chunk size from the client's part size.
 * Engine calls run under the re-entry guard. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache_internal.h"
#include "catalog.h"

static int engine_prepare(void *ctx, const ossc_preload_settings *s, ossc_large_file **files,
                          size_t *nfiles, uint64_t *chunk_size, ossc_error *err)
{
    (void)ctx;
    ossc_client *cl = nc_client();
    if (!cl) {
        ossc_error_set(err, EIO, "cannot create the OSS client for %s (see the log)", s->oss_path);
        return -1;
    }
    if (ossc_modeldir_prepare(cl, s, files, nfiles, err) < 0)
        return -1;
    *chunk_size = ossc_client_part_size(cl);
    return 0;
}

/* One HEAD (sequential: a model has few large files). */
static int engine_describe(void *ctx, const ossc_preload_settings *s, const ossc_large_file *lf,
                           ossc_large_version *out, ossc_error *err)
{
    (void)ctx;
    ossc_client *cl = nc_client();
    if (!cl) {
        ossc_error_set(err, EIO, "cannot create the OSS client for %s (see the log)", s->oss_path);
        return -1;
    }
    ossc_object_info info;
    ossc_error e;
    memset(&info, 0, sizeof(info));
    ossc_in_hook++;
    int rc = ossc_head(cl, s->bucket, lf->key, &info, &e);
    ossc_in_hook--;
    if (rc < 0) {
        ossc_error_set(err, e.code ? e.code : EIO, "HEAD oss://%s/%s: %s", s->bucket, lf->key,
                       e.message);
        return -1;
    }
    out->size = info.size;
    out->crc = info.crc64;
    out->has_crc = info.has_crc64 != 0;
    /* The version chunks are pinned to, as If-Match takes it; one that
     * cannot be sent (or none) pins nothing rather than failing every
     * chunk (the CRC still checks the file where the store sends one). */
    if (!info.etag || !ossc_etag_opaque(info.etag, out->etag, sizeof(out->etag)))
        out->etag[0] = '\0';
    ossc_object_info_clear(&info);
    return 0;
}

const ossc_catalog ossc_engine_catalog = {
    .ctx = NULL,
    .prepare = engine_prepare,
    .describe = engine_describe,
};

void ossc_nodecache_use_catalog(const ossc_catalog *cat)
{
    NC.catalog = cat ? cat : &ossc_engine_catalog;
}
