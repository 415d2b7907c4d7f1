/* http_reply.c - what libcurl hands us of a reply: the status line and
 * headers (sizes, Content-Range, ETag, CRC, request id), the checks that a
 * ranged GET's reply announces exactly the asked bytes, and the body, into
 * the caller's buffer or file or into r->resp.  Request bodies are read
 * from memory.  All run on the request's I/O thread. */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "landing.h"
#include "peer_auth.h"

#define OSSC_RESP_MAX (64u << 20) /* cap on XML/error bodies kept in memory */

static int resp_append(ossc_req *r, const char *data, size_t len)
{
    if (r->resp_len + len + 1 > OSSC_RESP_MAX)
        return -1;
    if (r->resp_len + len + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap : 4096;
        while (cap < r->resp_len + len + 1)
            cap *= 2;
        char *p = realloc(r->resp, cap);
        if (!p)
            return -1;
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, len);
    r->resp_len += len;
    r->resp[r->resp_len] = '\0';
    return 0;
}

/* How many of the next len body bytes r->resp may keep.  A peer's error
 * reply (a chunk server, OSSC_SIGN_PEER, a status that is not 2xx) is
 * kept to OSSC_PEER_ERR_BODY_MAX: its own are a line of text, and another
 * node must not make each of our connections hold OSSC_RESP_MAX.  All of
 * len otherwise (resp_append enforces OSSC_RESP_MAX). */
static size_t resp_room(const ossc_req *r, size_t len)
{
    const ossc_http *h = r->owner ? r->owner->http : NULL;
    bool peer_error = h && h->target.sign_version == OSSC_SIGN_PEER &&
                      (r->http_status < 200 || r->http_status >= 300);
    if (!peer_error)
        return len;
    size_t room = r->resp_len < OSSC_PEER_ERR_BODY_MAX
                      ? OSSC_PEER_ERR_BODY_MAX - r->resp_len : 0;
    return len < room ? len : room;
}

/* Writes all of data into the sink file at its place; 0, or an errno. */
static int sink_pwrite(ossc_req *r, const char *data, size_t len)
{
    return ossc_land_pwrite(r->dst_fd, data, len, r->dst_off + r->received);
}

/* Stores body bytes [data, data + len) of a ranged GET's reply at the
 * request's current place (dst or the sink file), counting them into the
 * CRC; 0, or -1 with the transfer to be aborted. */
static int take_bytes(ossc_req *r, const char *data, size_t len)
{
    if (r->dst && r->dst_fd >= 0 && r->received + len > r->dst_ready &&
        (r->sink_errno = ossc_land_prepare(r, r->received + len)) != 0)
        return -1; /* a mapped file: its pages first (ENOSPC, never SIGBUS) */
    if (r->dst && r->dst_fd >= 0) {
        if ((r->sink_errno = ossc_land_copy(r, data, len)) != 0)
            return -1;
    } else if (r->dst)
        memcpy(r->dst + r->received, data, len);
    else if ((r->sink_errno = sink_pwrite(r, data, len)) != 0)
        return -1;
    if (r->want_crc)
        r->crc = ossc_crc64_update(r->crc, data, len);
    r->received += len;
    r->attempt_received += len;
    atomic_ullong *arrived =
        r->owner ? atomic_load_explicit(&r->owner->http->arrived, memory_order_acquire) : NULL;
    if (arrived) /* a broadcasting node's progress, as the bytes land (client.h) */
        atomic_fetch_add_explicit(arrived, len, memory_order_relaxed);
    return 0;
}

/* libcurl's progress callback (at least once a second, and whenever bytes
 * move): a cancelled request is aborted here too, so one still waiting for
 * its first byte (a stalled server) ends within about a second instead of
 * at the low-speed timeout; on_body only runs once bytes arrive. */
int ossc_reply_on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                           curl_off_t ultotal, curl_off_t ulnow)
{
    ossc_req *r = userp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&r->cancelled) ? 1 : 0;
}

/* Body bytes: successful ranged GETs go straight into the caller's buffer
 * or file (bounded by dst_cap), everything else (XML results, error
 * documents) into r->resp.  Returning less than len aborts the transfer.
 * A 200 to a ranged GET carries the whole object (OSS answers so to a
 * range it finds invalid, any HTTP server may ignore Range): the bytes
 * before our range are skipped, ours kept, and the transfer is stopped
 * as soon as the range is complete (got_all: a success, not an error).
 * A peer's error body is stopped the same way past its first
 * OSSC_PEER_ERR_BODY_MAX bytes (resp_cut: judged by the reply's status). */
size_t ossc_reply_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    ossc_req *r = userp;
    size_t len = size * nmemb;
    if (atomic_load(&r->cancelled))
        return 0;
    if (ossc_req_has_sink(r) && r->http_status >= 200 && r->http_status < 300) {
        uint64_t room = r->dst_cap - r->received;
        if (r->whole_body) {
            uint64_t pos = r->body_seen;
            r->body_seen += len;
            if (pos + len <= r->attempt_off)
                return len; /* before our range */
            size_t skip = pos < r->attempt_off ? (size_t)(r->attempt_off - pos) : 0;
            size_t take = len - skip < room ? len - skip : (size_t)room;
            if (take_bytes(r, data + skip, take) < 0)
                return 0;
            if (r->received == r->dst_cap) {
                r->got_all = true;
                return 0;
            }
            return len;
        }
        r->body_seen += len;
        if (len > room) {
            r->overflow = true;
            return 0;
        }
        return take_bytes(r, data, len) < 0 ? 0 : len;
    }
    size_t keep = resp_room(r, len);
    if (resp_append(r, data, keep) < 0)
        return 0;
    if (keep < len) {
        r->resp_cut = true; /* a peer's long error body: stopped (judged by its status) */
        return 0;
    }
    return len;
}

/* Copies the value of header line "Name: value\r\n" (name of name_len
 * bytes) without surrounding blanks. */
static void header_value(const char *line, size_t len, size_t name_len, char *out, size_t cap)
{
    const char *v = line + name_len + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t n = (size_t)(end - v);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* A decimal number of at most 18 digits (so it fits int64), nothing else. */
static bool parse_size(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (n == 18)
            return false;
        v = v * 10 + (uint64_t)(s[n] - '0');
    }
    if (n == 0 || s[n] != '\0')
        return false;
    *out = v;
    return true;
}

/* "bytes first-last/total" (total may be "*"), or "bytes * /total" of a 416. */
static void parse_content_range(ossc_req *r, const char *value)
{
    char first[24], last[24], total[24];
    r->has_content_range = false;
    if (sscanf(value, "bytes %23[0-9]-%23[0-9]/%23[0-9*]", first, last, total) == 3) {
        if (!parse_size(first, &r->cr_first) || !parse_size(last, &r->cr_last))
            return;
        r->has_content_range = true;
    } else if (sscanf(value, "bytes */%23[0-9]", total) != 1) {
        return;
    }
    if (strcmp(total, "*") != 0 && parse_size(total, &r->total_size))
        r->has_total_size = true;
}

/* Called when a final reply's headers are complete: checks that what it
 * announces is what a ranged GET into a sink asked for, so that no byte
 * of a wrong place is ever taken.  Sets r->wire_err (the transfer is then
 * aborted and the attempt judged a transient error) or the expectations
 * on_body and judge_attempt check. */
/* A chunk server's 2xx or 503 must carry the OSSC-Peer-Auth of this
 * request (peer_auth.h): anything else did not come from a node that
 * knows the secret and received this request.  True for other targets. */
static bool peer_reply_authentic(const ossc_req *r)
{
    const ossc_http *h = r->owner ? r->owner->http : NULL;
    if (!h || h->target.sign_version != OSSC_SIGN_PEER)
        return true;
    if (!(r->http_status >= 200 && r->http_status < 300) && r->http_status != 503)
        return true; /* an error: the caller goes to OSS whatever it says */
    return bc_reply_auth_check(h->target.peer_secret, h->target.peer_secret_len, r->peer_auth,
                               r->http_status,
                               r->peer_content_range[0] ? r->peer_content_range : NULL,
                               r->peer_arrived_raw[0] ? r->peer_arrived_raw : NULL,
                               r->peer_reply_auth);
}

static void check_reply_headers(ossc_req *r)
{
    if (!peer_reply_authentic(r)) {
        r->has_peer_arrived = false; /* an unauthenticated 503 keeps no one waiting */
        snprintf(r->wire_err, sizeof(r->wire_err),
                 "HTTP %d reply without a valid " BC_REPLY_AUTH_HEADER " (not a node that "
                 "holds this deployment's secret and received this request)",
                 r->http_status);
        return;
    }
    if (r->bad_content_length) {
        snprintf(r->wire_err, sizeof(r->wire_err), "invalid Content-Length in HTTP %d reply",
                 r->http_status);
        return;
    }
    if (!ossc_req_has_sink(r) || !r->has_range || r->http_status < 200 || r->http_status >= 300)
        return;
    /* One version of the object per request: a resume (a later attempt
     * after bytes were kept) that answers with another ETag would splice
     * two versions into one range, under a CRC that covers the splice.
     * Compared as ossc_etag_same says (a proxy may weaken or recase it). */
    if (r->etag[0] && !r->first_etag[0]) {
        snprintf(r->first_etag, sizeof(r->first_etag), "%s", r->etag);
    } else if (r->etag[0] && !ossc_etag_same(r->etag, r->first_etag)) {
        r->changed = true;
        snprintf(r->wire_err, sizeof(r->wire_err),
                 "the object changed during the read (ETag \"%.70s\", then \"%.70s\")",
                 r->first_etag, r->etag);
        return;
    }
    uint64_t last = r->range_off + r->range_len - 1;
    if (r->http_status == 200) {
        /* The whole object: its length is the object's size. */
        r->whole_body = true;
        if (r->content_length >= 0) {
            r->total_size = (uint64_t)r->content_length;
            r->has_total_size = true;
        }
        return;
    }
    if (r->http_status != 206) {
        snprintf(r->wire_err, sizeof(r->wire_err), "unexpected HTTP %d to a ranged GET",
                 r->http_status);
        return;
    }
    if (!r->has_content_range) {
        snprintf(r->wire_err, sizeof(r->wire_err), "HTTP 206 without a valid Content-Range");
        return;
    }
    /* The server may end the range early only where the object ends. */
    bool ends_early = r->cr_last < last && r->has_total_size &&
                      r->cr_last + 1 == r->total_size;
    if (r->cr_first != r->attempt_off || r->cr_last < r->cr_first ||
        (r->cr_last != last && !ends_early) ||
        (r->has_total_size && r->cr_last >= r->total_size)) {
        snprintf(r->wire_err, sizeof(r->wire_err),
                 "HTTP 206 for bytes %" PRIu64 "-%" PRIu64 " when bytes %" PRIu64 "-%" PRIu64
                 " were asked", r->cr_first, r->cr_last, r->attempt_off, last);
        return;
    }
    r->expect_len = r->cr_last - r->cr_first + 1;
    if (r->content_length >= 0 && (uint64_t)r->content_length != r->expect_len)
        snprintf(r->wire_err, sizeof(r->wire_err),
                 "HTTP 206 with Content-Length %" PRId64 " for %" PRIu64 " bytes of range",
                 r->content_length, r->expect_len);
}

/* Response headers: status line (reset per response, so 100-continue and
 * redirects do not confuse us), sizes, ETag, CRC, request id; at their
 * end (the blank line) the checks of check_reply_headers. */
size_t ossc_reply_on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    ossc_req *r = userp;
    size_t len = size * nmemb;
    char value[256];

    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', len);
        r->http_status = sp ? atoi(sp + 1) : 0;
        r->has_server_crc = false;
        r->has_content_range = false;
        r->bad_content_length = false;
        r->content_length = -1;
        r->has_peer_arrived = false;
        r->peer_content_range[0] = r->peer_arrived_raw[0] = r->peer_reply_auth[0] = '\0';
        r->etag[0] = '\0';
        return len;
    }
    if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        if (r->http_status >= 200) {
            check_reply_headers(r);
            if (r->wire_err[0])
                return 0; /* abort: judged as a transient error */
        }
        return len;
    }
    if (header_is(line, len, "content-length")) {
        header_value(line, len, 14, value, sizeof(value));
        uint64_t v;
        if (parse_size(value, &v))
            r->content_length = (int64_t)v;
        else
            r->bad_content_length = true;
        if (!r->bad_content_length && r->http_status == 200 && !r->has_range) {
            r->total_size = v;
            r->has_total_size = true;
        }
    } else if (header_is(line, len, "content-range")) {
        header_value(line, len, 13, value, sizeof(value));
        parse_content_range(r, value);
        snprintf(r->peer_content_range, sizeof(r->peer_content_range), "%.*s",
                 (int)sizeof(r->peer_content_range) - 1, value);
    } else if (header_is(line, len, "etag")) {
        header_value(line, len, 4, value, sizeof(value));
        const char *v = value;
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            v++;
            n -= 2;
        }
        if (n >= sizeof(r->etag))
            n = 0; /* too long to keep whole: unknown, never a cut (http.h) */
        memcpy(r->etag, v, n);
        r->etag[n] = '\0';
    } else if (header_is(line, len, "x-oss-hash-crc64ecma")) {
        header_value(line, len, 20, value, sizeof(value));
        r->server_crc = strtoull(value, NULL, 10);
        r->has_server_crc = true;
    } else if (header_is(line, len, "ossc-arrived")) {
        /* A chunk server's 503: the bytes landed on that node so far
         * (broadcast/server.h); anything but a plain number is ignored. */
        header_value(line, len, 12, value, sizeof(value));
        r->has_peer_arrived = parse_size(value, &r->peer_arrived);
        snprintf(r->peer_arrived_raw, sizeof(r->peer_arrived_raw), "%.*s",
                 (int)sizeof(r->peer_arrived_raw) - 1, value);
    } else if (header_is(line, len, "ossc-peer-auth")) {
        header_value(line, len, 14, value, sizeof(value));
        snprintf(r->peer_reply_auth, sizeof(r->peer_reply_auth), "%.*s",
                 (int)sizeof(r->peer_reply_auth) - 1, value);
    } else if (header_is(line, len, "x-oss-request-id")) {
        header_value(line, len, 16, r->request_id, sizeof(r->request_id));
    } else if (header_is(line, len, "last-modified")) {
        header_value(line, len, 13, value, sizeof(value));
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (strptime(value, "%a, %d %b %Y %H:%M:%S", &tm))
            r->mtime = (int64_t)timegm(&tm);
    }
    return len;
}

/* Request bodies come from memory; rewound for every attempt. */
size_t ossc_reply_on_read(char *buf, size_t size, size_t nmemb, void *userp)
{
    ossc_req *r = userp;
    size_t room = size * nmemb;
    size_t left = r->body_len - r->body_pos;
    size_t n = left < room ? left : room;
    memcpy(buf, r->body + r->body_pos, n);
    r->body_pos += n;
    return n;
}

int ossc_reply_on_seek(void *userp, curl_off_t offset, int origin)
{
    ossc_req *r = userp;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

void ossc_reply_reset(ossc_req *r)
{
    r->http_status = 0;
    r->content_length = -1;
    r->attempt_received = 0;
    r->overflow = false;
    r->whole_body = false;
    r->got_all = false;
    r->body_seen = 0;
    r->expect_len = 0;
    r->wire_err[0] = '\0';
    r->resp_len = 0;
    r->resp_cut = false;
    if (r->resp)
        r->resp[0] = '\0';
    r->errbuf[0] = '\0';
}
