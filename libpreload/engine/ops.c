/* ops.c - single-object operations: HEAD, ranged GET (sync and async),
 * PUT, DELETE, COPY. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>

#include "client.h"
#include "crc64.h"
#include "error.h"
#include "landing.h"
#include "log.h"
#include "peer_client.h" /* ossc_future_peer_arrived */
#include "uri.h"

/* ------------------------------------------------------ one-object checks */

/* Checks bucket and key for operation `op` on one object, whose key may not
 * be empty; 0, or -1 with err set. */
static int check_one_object(const char *op, const char *bucket, const char *key,
                            ossc_error *err)
{
    if (ossc_check_object(op, bucket, key, err) < 0)
        return -1;
    if (!key || !key[0])
        return ossc_error_set(err, EINVAL, "%s oss://%s/: empty object key", op, bucket);
    return 0;
}

/* A new request `op` (also its HTTP method) on oss://bucket/key, the names
 * checked first; NULL with err set (EINVAL, ENAMETOOLONG, ENOMEM). */
static ossc_req *one_object_req(const char *op, const char *bucket, const char *key,
                                ossc_error *err)
{
    if (check_one_object(op, bucket, key, err) < 0)
        return NULL;
    ossc_req *r = ossc_req_new(op, bucket, key);
    if (!r)
        ossc_error_set(err, ENOMEM, "out of memory");
    return r;
}

/* Frees r, which ended with status rc (filling err from it when rc < 0), and
 * returns rc. */
static int finish_req(ossc_req *r, int rc, ossc_error *err)
{
    if (rc < 0)
        ossc_req_fail(r, err);
    ossc_req_free(r);
    return rc;
}

/* ------------------------------------------------------------------- HEAD */

int ossc_head(ossc_client *c, const char *bucket, const char *key, ossc_object_info *out,
              ossc_error *err)
{
    ossc_error_clear(err);
    memset(out, 0, sizeof(*out));
    ossc_req *r = one_object_req("HEAD", bucket, key, err);
    if (!r)
        return -1;
    int rc = ossc_http_run(c->http, r);
    if (rc < 0) {
        ossc_req_fail(r, err);
        if (r->http_status == 404 && err)
            snprintf(err->message, sizeof(err->message), "no such object: oss://%s/%s", bucket,
                     key);
        ossc_req_free(r);
        return -1;
    }
    char *k = strdup(key);
    char *e = strdup(r->etag);
    if (!k || !e) {
        free(k);
        free(e);
        ossc_req_free(r);
        return ossc_error_set(err, ENOMEM, "out of memory");
    }
    out->key = k;
    out->etag = e;
    out->size = r->content_length >= 0 ? (uint64_t)r->content_length : 0;
    out->mtime = r->mtime;
    out->crc64 = r->server_crc;
    out->has_crc64 = r->has_server_crc;
    ossc_req_free(r);
    return 0;
}

void ossc_object_info_clear(ossc_object_info *info)
{
    if (!info)
        return;
    free((char *)info->key);
    free((char *)info->etag);
    memset(info, 0, sizeof(*info));
}

/* ----------------------------------------------------------- ranged GETs */

struct ossc_future {
    ossc_client *client;
    ossc_waitgroup wg;
    size_t nparts;
    ossc_req **parts;
    uint64_t offset, len;
    char *dst;
    void *map;          /* GET into a file: the shared mapping of its range, or NULL */
    size_t map_len;
    int waited;
    int crc_retried;
    char pin[OSSC_ETAG_MAX];  /* the version asked for (If-Match), "" for any */
    char etag[OSSC_ETAG_MAX]; /* the version the bytes are of, once settled ("" unknown) */
    uint64_t crc;       /* of the bytes read, once settled */
    int64_t result;
    ossc_error err;
};

static void part_done(ossc_req *r)
{
    ossc_future *f = r->userdata;
    ossc_waitgroup_done(&f->wg);
}

static void submit_parts(ossc_future *f)
{
    ossc_waitgroup_add(&f->wg, (int)f->nparts);
    for (size_t i = 0; i < f->nparts; i++) {
        ossc_req *r = f->parts[i];
        r->received = 0;
        r->crc = 0;
        r->attempts = 0;
        r->has_total_size = false;
        r->has_server_crc = false;
        /* A pinned read compares every reply with the pin, not with its
         * first reply (http_reply.c: check_reply_headers). */
        snprintf(r->first_etag, sizeof(r->first_etag), "%s", f->pin);
        r->changed = false;
        ossc_error_clear(&r->err);
        ossc_http_submit(f->client->http, r);
    }
}

static void free_parts(ossc_future *f)
{
    for (size_t i = 0; i < f->nparts; i++)
        ossc_req_free(f->parts[i]);
    free(f->parts);
    f->parts = NULL;
    f->nparts = 0;
    if (f->map)
        munmap(f->map, f->map_len);
    f->map = NULL;
}

/* A GET into a tmpfs file copies the bytes into a shared mapping of the
 * file's range rather than calling pwrite, so that nothing but the page
 * being filled is locked while memory is touched for the first time:
 *  - pwrite holds the file's inode lock across the copy, so every part of
 *    one file landing at once queued on it (perf of a model load: 15 % of
 *    all CPU spinning on that lock);
 *  - MADV_POPULATE_WRITE holds the process's mmap lock for reading and
 *    stalled the application's own mmap/brk behind the niced I/O threads
 *    (import torch under LD_PRELOAD took 7 s instead of 1.3 s over whole
 *    chunks, still 2-3 s more in 2 MiB steps).
 * Each part's I/O thread fallocates the pages in steps of 2 MiB just before
 * it copies into them (ossc_land_prepare, landing.c), so a copy never
 * faults into SIGBUS (a full tmpfs is ENOSPC), and its faults take only the
 * mapping's own lock.  Huge pages are asked for (ossc_land_advise).  While
 * fewer than two other threads of ours are writing the file, a piece goes
 * in by pwrite after all (no fault, no zeroing; ossc_land_copy), never
 * waiting for it.
 * Other file systems (a fault there may still need blocks) use pwrite.
 * Returns the address fd_off is mapped at, or NULL when this is not
 * possible (not tmpfs, not open for reading and writing) or not safe (a
 * range that shares a page with a neighbour: ossc_land_whole_pages): pwrite
 * then. */
static char *map_file_range(ossc_future *f, int fd, uint64_t fd_off, uint64_t len)
{
    struct statfs fs;
    if (len == 0 || fstatfs(fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC ||
        !ossc_land_whole_pages(fd, fd_off, len))
        return NULL;
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = fd_off & ~(page - 1);
    if (fd_off + len < fd_off || fd_off + len > INT64_MAX ||
        fd_off + len - start > SIZE_MAX - page)
        return NULL;
    size_t span = (size_t)((fd_off + len - start + page - 1) & ~(page - 1));
    void *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
    if (m == MAP_FAILED)
        return NULL;
    ossc_land_advise(m, span);
    f->map = m;
    f->map_len = span;
    return (char *)m + (fd_off - start);
}

/* Every asynchronous GET: into dst, or (dst NULL) into fd at fd_off; of
 * the version etag names only (sent as If-Match), or of any (NULL, ""). */
static ossc_future *get_async(ossc_client *c, const char *bucket, const char *key,
                              const char *etag, uint64_t offset, uint64_t len, char *dst,
                              int fd, uint64_t fd_off, ossc_error *err)
{
    ossc_error_clear(err);
    if (check_one_object("GET", bucket, key, err) < 0)
        return NULL;
    char pin[OSSC_ETAG_MAX] = "";
    if (etag && etag[0] && !ossc_etag_opaque(etag, pin, sizeof(pin))) {
        ossc_error_set(err, EINVAL, "GET oss://%s/%s: \"%.80s\" is not an ETag (at most %d "
                       "printable characters, quoted or not, no space, backslash or other "
                       "quote)", bucket, key, etag, OSSC_ETAG_MAX - 1);
        return NULL;
    }
    if (len > 0 && !dst && fd < 0) {
        ossc_error_set(err, EINVAL, "GET oss://%s/%s: no destination (NULL buffer, fd %d)",
                       bucket, key, fd);
        return NULL;
    }
    /* The parts write at their own offsets: with O_APPEND every pwrite
     * would go to the end of the file instead (Linux ignores its offset),
     * the future succeeding over bytes that are not where they belong. */
    int fl = !dst && fd >= 0 ? fcntl(fd, F_GETFL) : 0;
    if (fl < 0) {
        ossc_error_set(err, errno, "GET oss://%s/%s into descriptor %d: %s", bucket, key, fd,
                       strerror(errno));
        return NULL;
    }
    if (fl & O_APPEND) {
        ossc_error_set(err, EINVAL, "GET oss://%s/%s into descriptor %d: it is open with "
                       "O_APPEND, which puts every write at the end of the file; open it "
                       "without O_APPEND (the bytes go to fd_offset)", bucket, key, fd);
        return NULL;
    }
    if (offset > UINT64_MAX - len)
        len = UINT64_MAX - offset;
    ossc_future *f = calloc(1, sizeof(*f));
    if (!f) {
        ossc_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    f->client = c;
    f->offset = offset;
    f->len = len;
    f->dst = dst;
    snprintf(f->pin, sizeof(f->pin), "%s", pin);
    char if_match[sizeof(f->pin) + 2];
    snprintf(if_match, sizeof(if_match), "\"%s\"", f->pin);
    ossc_waitgroup_init(&f->wg);
    char *mapped = dst ? NULL : map_file_range(f, fd, fd_off, len);
    int turn = mapped ? ossc_land_turn_of(fd) : -1;
    uint64_t ps = ossc_http_part_for(c->http, len);
    f->nparts = len ? (size_t)((len + ps - 1) / ps) : 0;
    if (f->nparts) {
        f->parts = calloc(f->nparts, sizeof(*f->parts));
        if (!f->parts)
            goto oom;
    }
    for (size_t i = 0; i < f->nparts; i++) {
        ossc_req *r = ossc_req_new("GET", bucket, key);
        if (!r)
            goto oom;
        f->parts[i] = r;
        /* http.ifMatch false: the pin is only compared with each reply's
         * ETag (http_reply.c), after the server sent the bytes. */
        if (f->pin[0] && c->cfg.http.if_match && ossc_req_header(r, "If-Match", if_match) < 0)
            goto oom;
        uint64_t poff = (uint64_t)i * ps;
        r->has_range = true;
        r->range_off = offset + poff;
        r->range_len = len - poff < ps ? len - poff : ps;
        if (dst) {
            r->dst = dst + poff;
        } else {
            r->dst_fd = fd;
            r->dst_off = fd_off + poff;
            if (mapped) {
                r->dst = mapped + poff;
                r->land_turn = turn;
            }
        }
        r->dst_cap = r->range_len;
        r->want_crc = true; /* every range: callers check what they assemble */
        r->done = part_done;
        r->userdata = f;
    }
    submit_parts(f);
    return f;
oom:
    free_parts(f);
    ossc_waitgroup_destroy(&f->wg);
    free(f);
    ossc_error_set(err, ENOMEM, "out of memory");
    return NULL;
}

ossc_future *ossc_get_async_version(ossc_client *c, const char *bucket, const char *key,
                                    const char *etag, uint64_t offset, uint64_t len, void *dst,
                                    ossc_error *err)
{
    if (len > 0 && !dst) {
        ossc_error_clear(err);
        ossc_error_set(err, EINVAL, "GET oss://%s/%s: NULL destination buffer", bucket, key);
        return NULL;
    }
    return get_async(c, bucket, key, etag, offset, len, dst, -1, 0, err);
}

ossc_future *ossc_get_async(ossc_client *c, const char *bucket, const char *key,
                            uint64_t offset, uint64_t len, void *dst, ossc_error *err)
{
    return ossc_get_async_version(c, bucket, key, NULL, offset, len, dst, err);
}

ossc_future *ossc_get_async_fd_version(ossc_client *c, const char *bucket, const char *key,
                                       const char *etag, uint64_t offset, uint64_t len, int fd,
                                       uint64_t fd_offset, ossc_error *err)
{
    if (len > 0 && fd < 0) {
        ossc_error_clear(err);
        ossc_error_set(err, EBADF, "GET oss://%s/%s: invalid file descriptor %d", bucket, key,
                       fd);
        return NULL;
    }
    return get_async(c, bucket, key, etag, offset, len, NULL, fd, fd_offset, err);
}

ossc_future *ossc_get_async_fd(ossc_client *c, const char *bucket, const char *key,
                               uint64_t offset, uint64_t len, int fd, uint64_t fd_offset,
                               ossc_error *err)
{
    return ossc_get_async_fd_version(c, bucket, key, NULL, offset, len, fd, fd_offset, err);
}

/* Whether a part that got fewer bytes than its range ended where the
 * object ends: the reply named the object's size (Content-Range, or the
 * Content-Length of a 200) and the bytes stop there. */
static bool ends_object(const ossc_req *r)
{
    if (!r->has_total_size)
        return false;
    return r->range_off + r->received == r->total_size ||
           (r->received == 0 && r->range_off >= r->total_size);
}

/* The read met another version of the object than the one it began with
 * (or was pinned to).  Unpinned, it is worth reading once more (returns 1:
 * the bytes would splice two versions, a fresh read gets one); pinned, the
 * version asked for is gone: ESTALE, final (returns 0). */
static int changed(ossc_future *f, const ossc_req *r, const char *what)
{
    if (!f->pin[0]) {
        f->result = ossc_error_set(&f->err, EIO, "GET oss://%s/%s: the object changed during "
                                   "the read (%s)", r->bucket, r->key, what);
        return 1;
    }
    f->result = ossc_error_set(&f->err, ESTALE, "GET oss://%s/%s: the object was replaced: "
                               "this read is of the version with ETag \"%.128s\" (%s)",
                               r->bucket, r->key, f->pin, what);
    return 0;
}

/* Assembles the parts' results: the bytes read are the leading run of full
 * parts plus at most one short part, which must end where the object ends
 * (never fewer bytes than asked otherwise).  Returns 1 when the read is
 * worth one more try (the caller submits every part again): the whole
 * object was read and its CRC does not match, or the object was replaced
 * while being read (parts, or a part and its resume, of different ETags or
 * sizes), so the bytes would splice two versions -- unless the read is
 * pinned to a version (changed()). */
static int settle(ossc_future *f)
{
    uint64_t total = 0;
    bool ended = false;
    const char *etag = NULL; /* the first part's that had one */
    char what[200];
    f->etag[0] = '\0';
    for (size_t i = 0; i < f->nparts; i++) {
        ossc_req *r = f->parts[i];
        if (r->result < 0 && f->pin[0] && r->http_status == 412) {
            snprintf(what, sizeof(what), "the server refused it: 412 Precondition Failed");
            return changed(f, r, what);
        }
        if (r->result < 0 && r->changed) {
            snprintf(what, sizeof(what), "ETag \"%.70s\", then \"%.70s\"", r->first_etag,
                     r->etag);
            return changed(f, r, what);
        }
        if (r->result < 0) {
            f->err = r->err;
            f->result = -1;
            return 0;
        }
        /* Every part must come from one version of the object. */
        if (r->first_etag[0] && !etag) {
            etag = r->first_etag;
        } else if (r->first_etag[0] && !ossc_etag_same(r->first_etag, etag)) {
            snprintf(what, sizeof(what), "ETag \"%.70s\" in one part, \"%.70s\" in another",
                     etag, r->first_etag);
            return changed(f, r, what);
        }
        if (r->has_total_size && f->parts[0]->has_total_size &&
            r->total_size != f->parts[0]->total_size) {
            snprintf(what, sizeof(what), "%" PRIu64 " bytes by one part, %" PRIu64
                     " by another", f->parts[0]->total_size, r->total_size);
            return changed(f, r, what);
        }
        if (ended && r->received) {
            snprintf(what, sizeof(what), "bytes past the end one part found at %" PRIu64,
                     r->range_off);
            return changed(f, r, what);
        }
        total += r->received;
        if (r->received < r->range_len && !ended) {
            if (!ends_object(r)) {
                f->result = ossc_error_set(
                    &f->err, EIO,
                    "GET oss://%s/%s: server sent %" PRIu64 " of the %" PRIu64
                    " bytes at offset %" PRIu64 " and did not say the object ends there",
                    r->bucket, r->key, r->received, r->range_len, r->range_off);
                return 0;
            }
            ended = true;
        }
    }
    f->result = (int64_t)total;
    if (!etag || !ossc_etag_opaque(etag, f->etag, sizeof(f->etag)))
        f->etag[0] = '\0'; /* none, or none that could be asked for again */
    uint64_t crc = 0;
    for (size_t i = 0; i < f->nparts && f->parts[i]->received; i++)
        crc = i == 0 ? f->parts[i]->crc
                     : ossc_crc64_combine(crc, f->parts[i]->crc, f->parts[i]->received);
    f->crc = crc;

    /* Whole object read from offset 0: verify the server's CRC64. */
    if (f->offset != 0 || f->nparts == 0)
        return 0;
    ossc_req *first = f->parts[0];
    if (!first->has_total_size || first->total_size != total || !first->has_server_crc)
        return 0;
    if (crc == first->server_crc)
        return 0;
    f->result = ossc_error_set(&f->err, EIO,
                               "GET oss://%s/%s: CRC64 mismatch (got %" PRIu64
                               ", server says %" PRIu64 "): data corrupted in transit",
                               first->bucket, first->key, crc, first->server_crc);
    return 1;
}

int64_t ossc_future_wait(ossc_future *f, ossc_error *err)
{
    if (!f->waited) {
        ossc_waitgroup_wait(&f->wg);
        while (settle(f) && !f->crc_retried) {
            f->crc_retried = 1;
            OSSC_WARN("%s; reading again", f->err.message);
            submit_parts(f);
            ossc_waitgroup_wait(&f->wg);
        }
        f->waited = 1;
    }
    if (f->result < 0 && err)
        *err = f->err;
    return f->result;
}

int ossc_future_crc64(const ossc_future *f, uint64_t *crc, uint64_t *object_crc)
{
    if (!f->waited || f->result < 0) {
        errno = EINVAL;
        return -1;
    }
    *crc = f->crc;
    const ossc_req *first = f->nparts ? f->parts[0] : NULL;
    if (!first || !first->has_server_crc)
        return 0;
    if (object_crc)
        *object_crc = first->server_crc;
    return 1;
}

const char *ossc_future_etag(const ossc_future *f)
{
    if (!f->waited || f->result < 0) {
        errno = EINVAL;
        return NULL;
    }
    return f->etag;
}

int ossc_future_object_size(const ossc_future *f, uint64_t *size)
{
    if (!f->waited || f->result < 0) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0; i < f->nparts; i++) {
        if (f->parts[i]->has_total_size) {
            *size = f->parts[i]->total_size;
            return 1;
        }
    }
    return 0;
}

int ossc_future_peer_arrived(const ossc_future *f, uint64_t *arrived)
{
    if (!f->waited) {
        errno = EINVAL;
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < f->nparts; i++) {
        if (f->parts[i]->has_peer_arrived && (!found || f->parts[i]->peer_arrived > *arrived)) {
            *arrived = f->parts[i]->peer_arrived;
            found = 1;
        }
    }
    return found;
}

uint64_t ossc_crc64(uint64_t crc, const void *buf, size_t len)
{
    return ossc_crc64_update(crc, buf, len);
}

uint64_t ossc_crc64_join(uint64_t crc_a, uint64_t crc_b, uint64_t len_b)
{
    return ossc_crc64_combine(crc_a, crc_b, len_b);
}

int ossc_future_done(ossc_future *f)
{
    pthread_mutex_lock(&f->wg.lock);
    int done = f->wg.pending == 0;
    pthread_mutex_unlock(&f->wg.lock);
    return done;
}

void ossc_future_free(ossc_future *f)
{
    if (!f)
        return;
    if (!f->waited) {
        for (size_t i = 0; i < f->nparts; i++)
            atomic_store(&f->parts[i]->cancelled, true);
        ossc_waitgroup_wait(&f->wg);
    }
    free_parts(f);
    ossc_waitgroup_destroy(&f->wg);
    free(f);
}

int64_t ossc_get_range(ossc_client *c, const char *bucket, const char *key, uint64_t offset,
                       uint64_t len, void *dst, ossc_error *err)
{
    ossc_future *f = ossc_get_async(c, bucket, key, offset, len, dst, err);
    if (!f)
        return -1;
    int64_t n = ossc_future_wait(f, err);
    ossc_future_free(f);
    return n;
}

/* ---------------------------------------------------- PUT, DELETE, COPY */

int ossc_put(ossc_client *c, const char *bucket, const char *key, const void *data, size_t len,
             ossc_error *err)
{
    ossc_error_clear(err);
    ossc_req *r = one_object_req("PUT", bucket, key, err);
    if (!r)
        return -1;
    r->body = data;
    r->body_len = len;
    int rc = ossc_http_run(c->http, r);
    if (rc == 0 && r->has_server_crc) {
        uint64_t crc = ossc_crc64_update(0, data, len);
        if (crc != r->server_crc)
            rc = ossc_error_set(&r->err, EIO,
                                "PUT oss://%s/%s: server stored CRC64 %" PRIu64
                                " but we sent %" PRIu64, bucket, key, r->server_crc, crc);
    }
    return finish_req(r, rc, err);
}

int ossc_delete(ossc_client *c, const char *bucket, const char *key, ossc_error *err)
{
    ossc_error_clear(err);
    ossc_req *r = one_object_req("DELETE", bucket, key, err);
    if (!r)
        return -1;
    return finish_req(r, ossc_http_run(c->http, r), err);
}

int ossc_copy(ossc_client *c, const char *src_bucket, const char *src_key,
              const char *dst_bucket, const char *dst_key, ossc_error *err)
{
    ossc_error_clear(err);
    if (ossc_check_object("COPY", src_bucket, src_key, err) < 0 ||
        ossc_check_object("COPY", dst_bucket, dst_key, err) < 0)
        return -1;
    if (!src_key[0] || !dst_key[0])
        return ossc_error_set(err, EINVAL, "COPY: empty object key");
    char enc[OSSC_KEY_MAX * 3 + 1];
    char source[sizeof(enc) + OSSC_BUCKET_MAX + 2];
    if (ossc_url_encode(src_key, true, enc, sizeof(enc)) < 0)
        return ossc_error_set(err, ENAMETOOLONG, "COPY: source key too long");
    snprintf(source, sizeof(source), "/%s/%s", src_bucket, enc);
    ossc_req *r = ossc_req_new("PUT", dst_bucket, dst_key);
    if (!r || ossc_req_header(r, "x-oss-copy-source", source) < 0) {
        ossc_req_free(r);
        return ossc_error_set(err, ENOMEM, "out of memory");
    }
    return finish_req(r, ossc_http_run(c->http, r), err);
}
