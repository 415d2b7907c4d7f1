/* http.c - I/O threads driving libcurl multi handles.
 *
 * Each I/O thread owns one CURLM and a queue of requests.  Submission picks
 * the least loaded thread, appends to its queue and wakes its multi handle.
 * The thread keeps at most `per_thread` transfers active; the rest wait in
 * the queue.  Failed attempts that may succeed later (connection errors,
 * timeouts, 5xx, 429, short or corrupted bodies) are re-queued with a
 * capped, jittered exponential backoff; ranged GETs resume after the last
 * byte already written to the destination. */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "crc64.h"
#include "error.h"
#include "forkgate.h"
#include "log.h"
#include "xml.h"

#define OSSC_RESP_MAX (64u << 20) /* cap on XML/error bodies kept in memory */

typedef struct ossc_io_thread {
    ossc_http *http;
    pthread_t tid;
    CURLM *multi;
    pthread_mutex_t lock;       /* guards queue */
    ossc_req *queue_head, *queue_tail;
    ossc_req *delayed;          /* waiting for their retry time (thread-local) */
    ossc_req *active_head;      /* in the multi handle (thread-local) */
    CURL **idle_easy;           /* reusable easy handles (thread-local) */
    int n_idle_easy;
    int active;                 /* transfers in the multi (thread-local) */
    atomic_int load;            /* queued + active + delayed, for placement */
    unsigned rng;
} ossc_io_thread;

struct ossc_http {
    ossc_config cfg;
    ossc_target target;
    int nthreads;
    int per_thread;
    int nice;                   /* of every I/O thread (Linux: per thread) */
    ossc_io_thread *threads;
    atomic_bool stopping;
    atomic_uint next_thread;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_global_status;

/* libcurl's global init is not thread-safe; do it once per process. */
static void curl_global_once(void)
{
    curl_global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

uint64_t ossc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double now_ms_precise(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- waitgroup */

void ossc_waitgroup_init(ossc_waitgroup *wg)
{
    pthread_mutex_init(&wg->lock, NULL);
    pthread_cond_init(&wg->cond, NULL);
    wg->pending = 0;
}

void ossc_waitgroup_destroy(ossc_waitgroup *wg)
{
    pthread_mutex_destroy(&wg->lock);
    pthread_cond_destroy(&wg->cond);
}

void ossc_waitgroup_add(ossc_waitgroup *wg, int n)
{
    pthread_mutex_lock(&wg->lock);
    wg->pending += n;
    pthread_mutex_unlock(&wg->lock);
}

void ossc_waitgroup_done(ossc_waitgroup *wg)
{
    pthread_mutex_lock(&wg->lock);
    wg->pending--;
    pthread_cond_broadcast(&wg->cond);
    pthread_mutex_unlock(&wg->lock);
}

void ossc_waitgroup_wait_below(ossc_waitgroup *wg, int limit)
{
    pthread_mutex_lock(&wg->lock);
    while (wg->pending > limit)
        pthread_cond_wait(&wg->cond, &wg->lock);
    pthread_mutex_unlock(&wg->lock);
}

void ossc_waitgroup_wait(ossc_waitgroup *wg)
{
    ossc_waitgroup_wait_below(wg, 0);
}

/* ----------------------------------------------------------------- requests */

ossc_req *ossc_req_new(const char *method, const char *bucket, const char *key)
{
    ossc_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->method = method;
    snprintf(r->bucket, sizeof(r->bucket), "%s", bucket ? bucket : "");
    snprintf(r->key, sizeof(r->key), "%s", key ? key : "");
    r->content_length = -1;
    r->dst_fd = -1;
    return r;
}

void ossc_req_free(ossc_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_query; i++) {
        free((char *)r->query[i].name);
        free((char *)r->query[i].value);
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->resp);
    free(r);
}

int ossc_req_query(ossc_req *r, const char *name, const char *value)
{
    if (r->n_query >= OSSC_REQ_MAX_QUERY)
        return -1;
    char *n = strdup(name);
    char *v = value ? strdup(value) : NULL;
    if (!n || (value && !v)) {
        free(n);
        free(v);
        return -1;
    }
    r->query[r->n_query].name = n;
    r->query[r->n_query].value = v;
    r->n_query++;
    return 0;
}

int ossc_req_header(ossc_req *r, const char *name, const char *value)
{
    if (r->n_headers >= OSSC_REQ_MAX_HEADERS)
        return -1;
    char *n = strdup(name);
    char *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    r->headers[r->n_headers].name = n;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
    return 0;
}

/* ------------------------------------------------------------ curl callbacks */

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

/* Writes all of data into the sink file at its place; 0, or an errno. */
static int sink_pwrite(ossc_req *r, const char *data, size_t len)
{
    uint64_t off = r->dst_off + r->received;
    while (len > 0) {
        ssize_t n = pwrite(r->dst_fd, data, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        data += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Stores body bytes [data, data + len) of a ranged GET's reply at the
 * request's current place (dst or the sink file), counting them into the
 * CRC; 0, or -1 with the transfer to be aborted. */
static int take_bytes(ossc_req *r, const char *data, size_t len)
{
    if (r->dst)
        memcpy(r->dst + r->received, data, len);
    else if ((r->sink_errno = sink_pwrite(r, data, len)) != 0)
        return -1;
    if (r->want_crc)
        r->crc = ossc_crc64_update(r->crc, data, len);
    r->received += len;
    r->attempt_received += len;
    return 0;
}

/* Body bytes: successful ranged GETs go straight into the caller's buffer
 * or file (bounded by dst_cap), everything else (XML results, error
 * documents) into r->resp.  Returning less than len aborts the transfer.
 * A 200 to a ranged GET carries the whole object (OSS answers so to a
 * range it finds invalid, any HTTP server may ignore Range): the bytes
 * before our range are skipped, ours kept, and the transfer is stopped
 * as soon as the range is complete (got_all: a success, not an error). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
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
    if (resp_append(r, data, len) < 0)
        return 0;
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
static void check_reply_headers(ossc_req *r)
{
    if (r->bad_content_length) {
        snprintf(r->wire_err, sizeof(r->wire_err), "invalid Content-Length in HTTP %d reply",
                 r->http_status);
        return;
    }
    if (!ossc_req_has_sink(r) || !r->has_range || r->http_status < 200 || r->http_status >= 300)
        return;
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
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
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
    } else if (header_is(line, len, "etag")) {
        header_value(line, len, 4, value, sizeof(value));
        const char *v = value;
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
            v++;
            n -= 2;
        }
        if (n >= sizeof(r->etag))
            n = sizeof(r->etag) - 1;
        memcpy(r->etag, v, n);
        r->etag[n] = '\0';
    } else if (header_is(line, len, "x-oss-hash-crc64ecma")) {
        header_value(line, len, 20, value, sizeof(value));
        r->server_crc = strtoull(value, NULL, 10);
        r->has_server_crc = true;
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
static size_t on_read(char *buf, size_t size, size_t nmemb, void *userp)
{
    ossc_req *r = userp;
    size_t room = size * nmemb;
    size_t left = r->body_len - r->body_pos;
    size_t n = left < room ? left : room;
    memcpy(buf, r->body + r->body_pos, n);
    r->body_pos += n;
    return n;
}

static int on_seek(void *userp, curl_off_t offset, int origin)
{
    ossc_req *r = userp;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_pos = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------ request setup */

/* Builds URL, headers and signature for one attempt and configures the easy
 * handle.  Returns -1 with r->err filled (not retryable) on failure. */
static int setup_attempt(ossc_io_thread *t, ossc_req *r)
{
    ossc_http *h = t->http;
    const ossc_config *cfg = &h->cfg;
    CURL *e = r->easy;
    char url[8192];
    ossc_kv hdrs[OSSC_REQ_MAX_HEADERS + 2];
    size_t nh = 0;
    char range[80];
    ossc_credentials cred;
    ossc_sign_output sig;

    if (ossc_build_url(&h->target.endpoint, r->bucket, r->key, r->query, r->n_query, url,
                       sizeof(url)) < 0)
        return ossc_error_set(&r->err, ENAMETOOLONG, "request URL too long for key '%s'",
                              r->key);

    for (size_t i = 0; i < r->n_headers; i++)
        hdrs[nh++] = r->headers[i];
    r->attempt_off = r->range_off + r->received;
    if (r->has_range) {
        uint64_t last = r->range_off + r->range_len - 1;
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, r->attempt_off, last);
        hdrs[nh].name = "Range";
        hdrs[nh].value = range;
        nh++;
        hdrs[nh].name = "x-oss-range-behavior";
        hdrs[nh].value = "standard";
        nh++;
    }

    /* A credentials callback may need what a forking thread holds (the GIL). */
    ossc_forkgate_leave();
    int got = ossc_cred_get(h->target.cred, &cred, &r->err);
    ossc_forkgate_enter();
    if (got < 0)
        return -1;
    ossc_sign_input in = {
        .method = r->method,
        .bucket = r->bucket,
        .key = r->key,
        .query = r->query,
        .n_query = r->n_query,
        .headers = hdrs,
        .n_headers = nh,
        .now = time(NULL),
        .region = h->target.region,
    };
    int rc = ossc_sign(h->target.sign_version, &in, &cred, &sig, &r->err);
    memset(&cred, 0, sizeof(cred));
    if (rc < 0)
        return -1;

    curl_easy_reset(e);
    struct curl_slist *sl = NULL;
    char line[4608];
    for (size_t i = 0; i < nh; i++) {
        snprintf(line, sizeof(line), "%s: %s", hdrs[i].name, hdrs[i].value);
        sl = curl_slist_append(sl, line);
    }
    for (size_t i = 0; i < sig.n; i++) {
        snprintf(line, sizeof(line), "%s: %s", sig.add[i].name, sig.add[i].value);
        sl = curl_slist_append(sl, line);
    }
    memset(&sig, 0, sizeof(sig));
    /* curl adds these by default; OSS signs Content-Type, so send it empty
     * unless the caller set it, and never wait for 100-continue. */
    sl = curl_slist_append(sl, "Expect:");
    bool has_ct = false;
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(hdrs[i].name, "Content-Type") == 0)
            has_ct = true;
    if (!has_ct)
        sl = curl_slist_append(sl, "Content-Type:");
    sl = curl_slist_append(sl, "Accept:");
    curl_slist_free_all(r->slist);
    r->slist = sl;

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* keys with ./.. segments go verbatim */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->slist);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)cfg->http.low_speed_limit_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)cfg->http.low_speed_timeout_s);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cfg->http.verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cfg->http.verify_tls ? 2L : 0L);
    if (cfg->http.ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->http.ca_file);

    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        r->body_pos = 0;
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, r);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }

    /* Reset per-attempt results; keep `received` so GETs resume. */
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
    if (r->resp)
        r->resp[0] = '\0';
    r->errbuf[0] = '\0';
    r->started_ms = now_ms_precise();
    return 0;
}

/* --------------------------------------------------------- attempt results */

static bool status_retryable(int status)
{
    return status == 429 || status == 408 || status >= 500;
}

static bool curl_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
        return true;
    default:
        return false;
    }
}

static void describe_target(const ossc_req *r, char *out, size_t cap)
{
    if (r->key[0])
        snprintf(out, cap, "oss://%s/%s", r->bucket, r->key);
    else if (r->bucket[0])
        snprintf(out, cap, "oss://%s", r->bucket);
    else
        snprintf(out, cap, "service");
}

/* "scheme://host[:port]" of the endpoint, for errors. */
static void describe_endpoint(const ossc_http *h, char *out, size_t cap)
{
    const ossc_endpoint *ep = &h->target.endpoint;
    if (ep->port)
        snprintf(out, cap, "%s://%s:%d", ep->scheme, ep->host, ep->port);
    else
        snprintf(out, cap, "%s://%s", ep->scheme, ep->host);
}

/* Decides the outcome of one attempt.  Returns 1 when the request should be
 * retried, 0 when it is finished (r->result and r->err set). */
static int judge_attempt(ossc_io_thread *t, ossc_req *r, CURLcode cc)
{
    ossc_http *h = t->http;
    char what[1200];
    describe_target(r, what, sizeof(what));
    double elapsed = now_ms_precise() - r->started_ms;

    ossc_audit_request(r->method, r->bucket, r->key, "", r->http_status, elapsed,
                       r->attempt_received + r->resp_len, r->request_id);

    if (atomic_load(&r->cancelled)) {
        r->result = ossc_error_set(&r->err, ECANCELED, "%s %s: cancelled", r->method, what);
        return 0;
    }

    if (r->sink_errno) {
        r->result = ossc_error_set(&r->err, r->sink_errno, "%s %s: cannot write the bytes: %s",
                                   r->method, what, strerror(r->sink_errno));
        return 0;
    }

    /* A range that starts at or past the end of the object: nothing to
     * read; settle() checks that the size the 416 names agrees. */
    if (cc == CURLE_OK && r->http_status == 416 && r->has_range && ossc_req_has_sink(r)) {
        r->result = 0;
        return 0;
    }

    char endpoint[300];
    describe_endpoint(h, endpoint, sizeof(endpoint));
    /* A reply that is not what we asked for: never taken, tried again (a
     * proxy or a connection may be at fault), then reported. */
    if (r->wire_err[0] || (cc == CURLE_WRITE_ERROR && r->overflow)) {
        ossc_error_set(&r->err, EIO, "%s %s via %s: %s", r->method, what, endpoint,
                       r->wire_err[0] ? r->wire_err : "server sent more bytes than asked");
        if (r->overflow) {
            r->received = 0; /* this attempt's bytes may be misplaced */
            r->crc = 0;
        }
        goto retry;
    }

    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && r->got_all)) {
        if (r->http_status >= 200 && r->http_status < 300) {
            if (r->whole_body) {
                /* A 200 that ended by itself: the object ends there. */
                if (!r->got_all && !r->has_total_size) {
                    r->total_size = r->body_seen;
                    r->has_total_size = true;
                }
            } else if (ossc_req_has_sink(r) && r->has_range &&
                       r->attempt_received != r->expect_len) {
                ossc_error_set(&r->err, EIO,
                               "%s %s via %s: short body (%" PRIu64 " of %" PRIu64 " bytes)",
                               r->method, what, endpoint, r->attempt_received, r->expect_len);
                goto retry;
            } else if (ossc_req_has_sink(r) && r->content_length >= 0 &&
                       (int64_t)r->attempt_received != r->content_length) {
                ossc_error_set(&r->err, EIO, "%s %s: short body (%" PRIu64 " of %" PRId64 " bytes)",
                               r->method, what, r->attempt_received, r->content_length);
                goto retry;
            }
            r->result = 0;
            return 0;
        }
        ossc_error_clear(&r->err);
        r->err.http_status = r->http_status;
        if (r->resp_len && ossc_xml_parse_error(r->resp, r->resp_len, &r->err) == 0) {
            r->err.code = ossc_errno_for_oss(r->err.oss_code, r->http_status);
        } else {
            r->err.code = ossc_errno_for_oss("", r->http_status);
            snprintf(r->err.message, sizeof(r->err.message), "HTTP %d", r->http_status);
        }
        if (!r->err.request_id[0])
            snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", r->request_id);
        {
            char msg[OSSC_ERR_MSG_MAX + sizeof(what) + 128];
            snprintf(msg, sizeof(msg), "%s %s: %s (HTTP %d, request id %s)", r->method, what,
                     r->err.message, r->http_status,
                     r->err.request_id[0] ? r->err.request_id : "-");
            snprintf(r->err.message, sizeof(r->err.message), "%.*s",
                     (int)sizeof(r->err.message) - 1, msg);
        }
        if (status_retryable(r->http_status))
            goto retry;
        r->result = -1;
        return 0;
    }

    /* Transport error. */
    {
        int code = EIO;
        const char *hint = "";
        if (cc == CURLE_COULDNT_RESOLVE_HOST)
            code = EHOSTUNREACH;
        else if (cc == CURLE_COULDNT_CONNECT)
            code = ECONNREFUSED;
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            code = ETIMEDOUT;
        char timeout_hint[160];
        if (cc == CURLE_OPERATION_TIMEDOUT) {
            /* Connected (a reply or a connect time): the floor on speed cut it. */
            curl_off_t connect_us = 0;
            if (curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK)
                connect_us = 0;
            if (r->http_status > 0 || connect_us > 0)
                snprintf(timeout_hint, sizeof(timeout_hint),
                         " (less than http.lowSpeedLimitBytes=%d bytes/s for "
                         "http.lowSpeedTimeoutSec=%d s)",
                         h->cfg.http.low_speed_limit_bytes, h->cfg.http.low_speed_timeout_s);
            else
                snprintf(timeout_hint, sizeof(timeout_hint),
                         " (no connection within http.connectTimeoutMs=%d ms)",
                         h->cfg.http.connect_timeout_ms);
            hint = timeout_hint;
        }
        if (cc == CURLE_PEER_FAILED_VERIFICATION) {
            code = EACCES;
            hint = h->cfg.http.ca_file[0]
                       ? " (the certificate is not signed by the CA in http.caFile)"
                       : " (set http.caFile to the CA that signed the server's certificate)";
        } else if (cc == CURLE_SSL_CACERT_BADFILE) {
            code = EACCES;
            hint = " (cannot use the CA file named by http.caFile)";
        }
        ossc_error_set(&r->err, code, "%s %s via %s: %s%s", r->method, what, endpoint,
                       r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc), hint);
        if (curl_retryable(cc))
            goto retry;
        r->result = -1;
        return 0;
    }

retry:
    if (r->attempts > h->cfg.http.max_retries) {
        r->result = -1;
        OSSC_WARN("giving up after %d attempts: %s", r->attempts, r->err.message);
        return 0;
    }
    if (r->want_crc && r->received == 0)
        r->crc = 0;
    OSSC_INFO("retrying (attempt %d): %s", r->attempts + 1, r->err.message);
    return 1;
}

/* ------------------------------------------------------------- I/O threads */

static uint64_t backoff_ms(ossc_io_thread *t, int attempts)
{
    const ossc_config *cfg = &t->http->cfg;
    uint64_t cap = (uint64_t)cfg->http.retry_max_ms;
    uint64_t d = (uint64_t)cfg->http.retry_base_ms;
    for (int i = 1; i < attempts && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Full jitter between d/2 and d keeps retries of many parts apart. */
    uint64_t half = d / 2;
    return half + (half ? (uint64_t)rand_r(&t->rng) % (half + 1) : 0);
}

static void finish(ossc_io_thread *t, ossc_req *r)
{
    atomic_fetch_sub(&t->load, 1);
    curl_slist_free_all(r->slist);
    r->slist = NULL;
    if (r->easy) {
        /* Keep the handle (and its buffers) for this thread's next request. */
        if (t->idle_easy && t->n_idle_easy < t->http->per_thread)
            t->idle_easy[t->n_idle_easy++] = r->easy;
        else
            curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    if (r->result < 0 && r->err.code == 0)
        r->err.code = EIO;
    r->done(r);
}

static void active_link(ossc_io_thread *t, ossc_req *r)
{
    r->active_prev = NULL;
    r->active_next = t->active_head;
    if (t->active_head)
        t->active_head->active_prev = r;
    t->active_head = r;
}

static void active_unlink(ossc_io_thread *t, ossc_req *r)
{
    if (r->active_prev)
        r->active_prev->active_next = r->active_next;
    else
        t->active_head = r->active_next;
    if (r->active_next)
        r->active_next->active_prev = r->active_prev;
    r->active_prev = r->active_next = NULL;
}

static void start(ossc_io_thread *t, ossc_req *r)
{
    r->attempts++;
    if (!r->easy)
        r->easy = t->n_idle_easy ? t->idle_easy[--t->n_idle_easy] : curl_easy_init();
    if (!r->easy) {
        r->result = ossc_error_set(&r->err, ENOMEM, "curl_easy_init failed");
        finish(t, r);
        return;
    }
    if (atomic_load(&r->cancelled)) {
        r->result = ossc_error_set(&r->err, ECANCELED, "cancelled");
        finish(t, r);
        return;
    }
    if (setup_attempt(t, r) < 0) {
        r->result = -1;
        finish(t, r);
        return;
    }
    CURLMcode mc = curl_multi_add_handle(t->multi, r->easy);
    if (mc != CURLM_OK) {
        r->result = ossc_error_set(&r->err, EIO, "curl_multi_add_handle: %s",
                                   curl_multi_strerror(mc));
        finish(t, r);
        return;
    }
    t->active++;
    active_link(t, r);
}

static void collect_done(ossc_io_thread *t)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(t->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode cc = msg->data.result;
        ossc_req *r = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(t->multi, e);
        active_unlink(t, r);
        t->active--;
        if (judge_attempt(t, r, cc)) {
            r->not_before_ms = ossc_now_ms() + backoff_ms(t, r->attempts);
            r->next = t->delayed;
            t->delayed = r;
        } else {
            finish(t, r);
        }
    }
}

/* Ms until the first delayed request is due (0: one is due now), or -1
 * when none waits or there is no room to start one (a transfer ending
 * wakes the loop): how long the loop may sleep without missing a retry. */
static long next_retry_in(const ossc_io_thread *t)
{
    uint64_t now = ossc_now_ms();
    long wait = -1;
    if (t->active >= t->http->per_thread)
        return -1;
    for (const ossc_req *r = t->delayed; r; r = r->next) {
        long d = r->not_before_ms > now ? (long)(r->not_before_ms - now) : 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    return wait;
}

/* Moves queued and due delayed requests into the multi handle while there
 * is room. */
static void admit(ossc_io_thread *t)
{
    ossc_http *h = t->http;
    uint64_t now = ossc_now_ms();

    ossc_req **pp = &t->delayed;
    while (*pp) {
        ossc_req *r = *pp;
        if (r->not_before_ms <= now && t->active < h->per_thread) {
            *pp = r->next;
            r->next = NULL;
            start(t, r);
            continue;
        }
        pp = &r->next;
    }

    while (t->active < h->per_thread) {
        pthread_mutex_lock(&t->lock);
        ossc_req *r = t->queue_head;
        if (r) {
            t->queue_head = r->next;
            if (!t->queue_head)
                t->queue_tail = NULL;
        }
        pthread_mutex_unlock(&t->lock);
        if (!r)
            break;
        r->next = NULL;
        start(t, r);
    }
}

static void *io_thread_main(void *arg)
{
    ossc_io_thread *t = arg;
    ossc_http *h = t->http;
    ossc_thread_lower_priority(h->nice);

    while (!atomic_load(&h->stopping)) {
        ossc_forkgate_enter();
        admit(t);
        int running = 0;
        CURLMcode mc = curl_multi_perform(t->multi, &running);
        if (mc != CURLM_OK)
            OSSC_ERROR("curl_multi_perform: %s", curl_multi_strerror(mc));
        collect_done(t);
        /* After collect_done: a retry it just scheduled bounds the sleep. */
        long wait = next_retry_in(t);
        ossc_forkgate_leave();
        long timeout = 1000;
        if (wait >= 0 && wait < timeout)
            timeout = wait;
        pthread_mutex_lock(&t->lock);
        bool queued = t->queue_head != NULL && t->active < h->per_thread;
        pthread_mutex_unlock(&t->lock);
        if (queued)
            continue;
        mc = curl_multi_poll(t->multi, NULL, 0, (int)timeout, NULL);
        if (mc != CURLM_OK)
            OSSC_ERROR("curl_multi_poll: %s", curl_multi_strerror(mc));
    }
    return NULL;
}

/* Fails every request still owned by a thread that has stopped. */
static void drain(ossc_io_thread *t)
{
    while (t->active_head) {
        ossc_req *r = t->active_head;
        active_unlink(t, r);
        curl_multi_remove_handle(t->multi, r->easy);
        r->result = ossc_error_set(&r->err, ECANCELED, "client closed");
        finish(t, r);
    }
    ossc_req *lists[2] = {t->queue_head, t->delayed};
    for (int k = 0; k < 2; k++) {
        ossc_req *r = lists[k];
        while (r) {
            ossc_req *next = r->next;
            r->result = ossc_error_set(&r->err, ECANCELED, "client closed");
            finish(t, r);
            r = next;
        }
    }
    t->queue_head = t->queue_tail = t->delayed = NULL;
}

/* ---------------------------------------------------------------- lifecycle */

/* Stops and joins the first `started` threads, then frees everything. */
static void http_teardown(ossc_http *h, int started)
{
    atomic_store(&h->stopping, true);
    for (int i = 0; i < started; i++)
        curl_multi_wakeup(h->threads[i].multi);
    for (int i = 0; i < started; i++) {
        pthread_join(h->threads[i].tid, NULL);
        drain(&h->threads[i]);
    }
    ossc_forkgate_enter(); /* closing connections runs library code too */
    for (int i = 0; i < h->nthreads; i++) {
        for (int k = 0; k < h->threads[i].n_idle_easy; k++)
            curl_easy_cleanup(h->threads[i].idle_easy[k]);
        free(h->threads[i].idle_easy);
        if (h->threads[i].multi)
            curl_multi_cleanup(h->threads[i].multi);
        pthread_mutex_destroy(&h->threads[i].lock);
    }
    ossc_forkgate_leave();
    free(h->threads);
    free(h);
}

void ossc_thread_lower_priority(int nice)
{
    if (nice <= 0)
        return;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0 && now >= nice)
        return; /* already as low: the application itself runs niced */
    /* Lowering one's own priority needs no privilege; failing to is harmless. */
    if (setpriority(PRIO_PROCESS, tid, nice) < 0)
        OSSC_DEBUG("setpriority(%d): %s", nice, strerror(errno));
}

ossc_http *ossc_http_new(const ossc_config *cfg, const ossc_target *target, int threads,
                         int per_thread, int nice, ossc_error *err)
{
    pthread_once(&curl_once, curl_global_once);
    ossc_forkgate_init();
    if (curl_global_status != CURLE_OK) {
        ossc_error_set(err, EIO, "curl_global_init failed");
        return NULL;
    }
    if (threads < 1)
        threads = 1;
    if (per_thread < 1)
        per_thread = 1;
    ossc_http *h = calloc(1, sizeof(*h));
    if (!h || !(h->threads = calloc((size_t)threads, sizeof(*h->threads)))) {
        free(h);
        ossc_error_set(err, ENOMEM, "out of memory creating the I/O engine");
        return NULL;
    }
    h->cfg = *cfg;
    h->target = *target;
    h->nthreads = threads;
    h->per_thread = per_thread;
    h->nice = nice;
    for (int i = 0; i < threads; i++) {
        ossc_io_thread *t = &h->threads[i];
        t->http = h;
        t->rng = (unsigned)time(NULL) ^ (unsigned)(i * 2654435761u);
        pthread_mutex_init(&t->lock, NULL);
        t->multi = curl_multi_init();
        t->idle_easy = calloc((size_t)per_thread, sizeof(*t->idle_easy));
        if (!t->multi || !t->idle_easy) {
            http_teardown(h, 0);
            ossc_error_set(err, ENOMEM, "curl_multi_init failed");
            return NULL;
        }
        curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)per_thread * 2);
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&h->threads[i].tid, NULL, io_thread_main, &h->threads[i]) != 0) {
            http_teardown(h, i);
            ossc_error_set(err, EAGAIN, "cannot start I/O thread %d of %d", i + 1, threads);
            return NULL;
        }
    }
    return h;
}

void ossc_http_free(ossc_http *h)
{
    if (h)
        http_teardown(h, h->nthreads);
}

int ossc_http_concurrency(const ossc_http *h)
{
    return h->nthreads * h->per_thread;
}

void ossc_http_submit(ossc_http *h, ossc_req *r)
{
    if (atomic_load(&h->stopping)) {
        r->result = ossc_error_set(&r->err, ECANCELED, "client closed");
        r->done(r);
        return;
    }
    /* Least loaded thread, starting at a rotating index so ties spread. */
    unsigned start_at = atomic_fetch_add(&h->next_thread, 1);
    ossc_io_thread *best = NULL;
    int best_load = 0;
    for (int k = 0; k < h->nthreads; k++) {
        ossc_io_thread *t = &h->threads[(start_at + (unsigned)k) % (unsigned)h->nthreads];
        int load = atomic_load(&t->load);
        if (!best || load < best_load) {
            best = t;
            best_load = load;
        }
    }
    if (!best) {
        r->result = ossc_error_set(&r->err, ECANCELED, "client has no I/O threads");
        r->done(r);
        return;
    }
    r->owner = best;
    r->next = NULL;
    r->result = 0;
    atomic_fetch_add(&best->load, 1);
    pthread_mutex_lock(&best->lock);
    if (best->queue_tail)
        best->queue_tail->next = r;
    else
        best->queue_head = r;
    best->queue_tail = r;
    pthread_mutex_unlock(&best->lock);
    curl_multi_wakeup(best->multi);
}

typedef struct sync_wait {
    ossc_waitgroup wg;
} sync_wait;

static void sync_done(ossc_req *r)
{
    sync_wait *w = r->userdata;
    ossc_waitgroup_done(&w->wg);
}

int ossc_http_run(ossc_http *h, ossc_req *r)
{
    sync_wait w;
    ossc_waitgroup_init(&w.wg);
    ossc_waitgroup_add(&w.wg, 1);
    r->done = sync_done;
    r->userdata = &w;
    ossc_http_submit(h, r);
    ossc_waitgroup_wait(&w.wg);
    ossc_waitgroup_destroy(&w.wg);
    return r->result;
}
