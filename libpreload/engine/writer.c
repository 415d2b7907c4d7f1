/* writer.c - streaming uploads: a plain PUT for small objects, otherwise
 * a multipart upload whose parts go out concurrently while the caller keeps
 * writing.  Memory is bounded by upload concurrency x part size. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "crc64.h"
#include "error.h"
#include "log.h"
#include "xml.h"

#define OSSC_MAX_PARTS 10000

typedef struct part_rec {
    struct ossc_writer *w;
    int number;
    char *buf;
    size_t len;
    uint64_t crc;
    char etag[OSSC_ETAG_MAX];
    int done;
} part_rec;

struct ossc_writer {
    ossc_client *c;
    char bucket[OSSC_BUCKET_MAX];
    char key[OSSC_KEY_MAX];
    size_t part_size;
    char *buf;
    size_t buf_len;
    char upload_id[256];
    int started;            /* multipart upload initiated */
    part_rec **parts;
    size_t nparts, cap_parts;
    ossc_waitgroup inflight;
    pthread_mutex_t lock;   /* guards failed/first_err */
    int failed;
    ossc_error first_err;
    int concurrency;
};

/* Part size for part number n: grows so 10,000 parts reach far beyond
 * part_size x 10,000 (doubling every 1,000 parts). */
static size_t part_size_for(const ossc_writer *w, size_t n)
{
    size_t ps = w->part_size;
    for (size_t k = n / 1000; k > 0 && ps < (1ull << 32); k--)
        ps *= 2;
    return ps;
}

ossc_writer *ossc_writer_open(ossc_client *c, const char *bucket, const char *key,
                              ossc_error *err)
{
    ossc_error_clear(err);
    if (ossc_check_object("PUT", bucket, key, err) < 0)
        return NULL;
    if (!key || !key[0]) {
        ossc_error_set(err, EINVAL, "PUT oss://%s/: empty object key", bucket);
        return NULL;
    }
    ossc_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        ossc_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    w->c = c;
    snprintf(w->bucket, sizeof(w->bucket), "%s", bucket);
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->part_size = (size_t)c->cfg.http.part_size;
    w->concurrency = c->upload_concurrency > 0 ? c->upload_concurrency : 1;
    ossc_waitgroup_init(&w->inflight);
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

static void record_failure(ossc_writer *w, const ossc_error *e)
{
    pthread_mutex_lock(&w->lock);
    if (!w->failed) {
        w->failed = 1;
        w->first_err = *e;
    }
    pthread_mutex_unlock(&w->lock);
}

static int has_failed(ossc_writer *w, ossc_error *err)
{
    pthread_mutex_lock(&w->lock);
    int f = w->failed;
    if (f && err)
        *err = w->first_err;
    pthread_mutex_unlock(&w->lock);
    return f;
}

static void part_done(ossc_req *r)
{
    part_rec *p = r->userdata;
    ossc_writer *w = p->w;
    if (r->result == 0) {
        snprintf(p->etag, sizeof(p->etag), "%s", r->etag);
        p->crc = ossc_crc64_update(0, p->buf, p->len);
        p->done = 1;
    } else {
        record_failure(w, &r->err);
    }
    free(p->buf);
    p->buf = NULL;
    ossc_req_free(r);
    ossc_waitgroup_done(&w->inflight);
}

static int initiate(ossc_writer *w, ossc_error *err)
{
    ossc_req *r = ossc_req_new("POST", w->bucket, w->key);
    if (!r || ossc_req_query(r, "uploads", NULL) < 0) {
        ossc_req_free(r);
        return ossc_error_set(err, ENOMEM, "out of memory");
    }
    int rc = ossc_http_run(w->c->http, r);
    if (rc == 0)
        rc = ossc_xml_parse_upload_id(r->resp ? r->resp : "", r->resp_len, w->upload_id,
                                      sizeof(w->upload_id), err);
    else
        ossc_req_fail(r, err);
    ossc_req_free(r);
    if (rc == 0)
        w->started = 1;
    return rc;
}

/* Hands the current buffer to the engine as the next part. */
static int dispatch_part(ossc_writer *w, ossc_error *err)
{
    if (!w->started && initiate(w, err) < 0)
        return -1;
    if (w->nparts >= OSSC_MAX_PARTS)
        return ossc_error_set(err, EFBIG, "PUT oss://%s/%s: more than %d parts", w->bucket,
                              w->key, OSSC_MAX_PARTS);
    if (w->nparts == w->cap_parts) {
        size_t cap = w->cap_parts ? w->cap_parts * 2 : 64;
        part_rec **p = realloc(w->parts, cap * sizeof(*p));
        if (!p)
            return ossc_error_set(err, ENOMEM, "out of memory");
        w->parts = p;
        w->cap_parts = cap;
    }
    part_rec *p = calloc(1, sizeof(*p));
    ossc_req *r = ossc_req_new("PUT", w->bucket, w->key);
    char num[16];
    snprintf(num, sizeof(num), "%zu", w->nparts + 1);
    if (!p || !r || ossc_req_query(r, "partNumber", num) < 0 ||
        ossc_req_query(r, "uploadId", w->upload_id) < 0) {
        free(p);
        ossc_req_free(r);
        return ossc_error_set(err, ENOMEM, "out of memory");
    }
    p->w = w;
    p->number = (int)w->nparts + 1;
    p->buf = w->buf;
    p->len = w->buf_len;
    w->buf = NULL;
    w->buf_len = 0;
    w->parts[w->nparts++] = p;
    r->body = p->buf;
    r->body_len = p->len;
    r->done = part_done;
    r->userdata = p;
    /* Backpressure: at most `concurrency` parts in memory at once. */
    ossc_waitgroup_wait_below(&w->inflight, w->concurrency - 1);
    ossc_waitgroup_add(&w->inflight, 1);
    ossc_http_submit(w->c->http, r);
    return 0;
}

int ossc_writer_write(ossc_writer *w, const void *data, size_t len, ossc_error *err)
{
    const char *src = data;
    if (has_failed(w, err))
        return -1;
    while (len > 0) {
        size_t ps = part_size_for(w, w->nparts);
        if (!w->buf) {
            w->buf = malloc(ps);
            if (!w->buf)
                return ossc_error_set(err, ENOMEM, "out of memory for a %zu-byte part", ps);
        }
        size_t n = ps - w->buf_len < len ? ps - w->buf_len : len;
        memcpy(w->buf + w->buf_len, src, n);
        w->buf_len += n;
        src += n;
        len -= n;
        if (w->buf_len == ps && dispatch_part(w, err) < 0)
            return -1;
    }
    return 0;
}

static void abort_upload(ossc_writer *w)
{
    ossc_waitgroup_wait(&w->inflight);
    if (!w->started)
        return;
    ossc_error e;
    ossc_req *r = ossc_req_new("DELETE", w->bucket, w->key);
    if (r && ossc_req_query(r, "uploadId", w->upload_id) == 0 &&
        ossc_http_run(w->c->http, r) < 0) {
        e = r->err;
        OSSC_WARN("abort of multipart upload to oss://%s/%s failed: %s", w->bucket, w->key,
                  e.message);
    }
    ossc_req_free(r);
    w->started = 0;
}

static void writer_free(ossc_writer *w)
{
    for (size_t i = 0; i < w->nparts; i++) {
        free(w->parts[i]->buf);
        free(w->parts[i]);
    }
    free(w->parts);
    free(w->buf);
    ossc_waitgroup_destroy(&w->inflight);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static int complete(ossc_writer *w, ossc_error *err)
{
    ossc_part_etag *pe = calloc(w->nparts, sizeof(*pe));
    char *body = NULL;
    size_t body_len = 0;
    uint64_t crc = 0;
    int rc = -1;
    if (!pe) {
        ossc_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w->nparts; i++) {
        pe[i].part_number = w->parts[i]->number;
        snprintf(pe[i].etag, sizeof(pe[i].etag), "%s", w->parts[i]->etag);
        crc = i == 0 ? w->parts[i]->crc
                     : ossc_crc64_combine(crc, w->parts[i]->crc, w->parts[i]->len);
    }
    if (ossc_xml_build_complete(pe, w->nparts, &body, &body_len, err) < 0)
        goto out;
    ossc_req *r = ossc_req_new("POST", w->bucket, w->key);
    if (!r || ossc_req_query(r, "uploadId", w->upload_id) < 0) {
        ossc_req_free(r);
        ossc_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    r->body = body;
    r->body_len = body_len;
    rc = ossc_http_run(w->c->http, r);
    if (rc == 0 && r->has_server_crc && r->server_crc != crc)
        rc = ossc_error_set(&r->err, EIO,
                            "PUT oss://%s/%s: server computed CRC64 %" PRIu64
                            " for the assembled object, we sent %" PRIu64,
                            w->bucket, w->key, r->server_crc, crc);
    if (rc < 0)
        ossc_req_fail(r, err);
    else
        w->started = 0;
    ossc_req_free(r);
out:
    free(pe);
    free(body);
    return rc;
}

int ossc_writer_close(ossc_writer *w, ossc_error *err)
{
    int rc = -1;
    ossc_error_clear(err);
    if (has_failed(w, err))
        goto fail;
    if (!w->started) {
        /* Everything fits in one part: one PUT. */
        rc = ossc_put(w->c, w->bucket, w->key, w->buf ? w->buf : "", w->buf_len, err);
        writer_free(w);
        return rc;
    }
    if (w->buf_len > 0 && dispatch_part(w, err) < 0)
        goto fail;
    ossc_waitgroup_wait(&w->inflight);
    if (has_failed(w, err))
        goto fail;
    if (complete(w, err) < 0)
        goto fail;
    writer_free(w);
    return 0;
fail:
    abort_upload(w);
    writer_free(w);
    return -1;
}

void ossc_writer_abort(ossc_writer *w)
{
    if (!w)
        return;
    abort_upload(w);
    writer_free(w);
}
