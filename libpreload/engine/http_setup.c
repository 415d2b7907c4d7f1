/* http_setup.c - one attempt of a request: its URL, the Range of the bytes
 * still missing, the signature (fresh per attempt: a retry may come after
 * the signature's clock skew window), and the options of the easy handle.
 * Every curl_easy_setopt is checked: a failure ends the request with an
 * error naming the option, never a transfer configured by half. */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "error.h"
#include "forkgate.h"

/* The headers of one attempt: the caller's, Range, and the signature's. */
typedef struct attempt_headers {
    ossc_kv kv[OSSC_REQ_MAX_HEADERS + 2];
    size_t n;
    char range[80];
} attempt_headers;

/* Sets one option of r->easy; on failure fills r->err naming the option
 * and returns -1 from the calling function. */
#define SETOPT(r, opt, val)                                                       \
    do {                                                                          \
        CURLcode setopt_rc_ = curl_easy_setopt((r)->easy, opt, val);              \
        if (setopt_rc_ != CURLE_OK)                                               \
            return setopt_failed((r), #opt, setopt_rc_);                          \
    } while (0)

static int setopt_failed(ossc_req *r, const char *option, CURLcode rc)
{
    return ossc_error_set(&r->err, rc == CURLE_OUT_OF_MEMORY ? ENOMEM : EIO,
                          "%s %s/%s: curl_easy_setopt(%s) failed: %s", r->method, r->bucket,
                          r->key, option, curl_easy_strerror(rc));
}

/* The caller's headers plus, for a ranged GET, the Range of the bytes not
 * yet received (r->attempt_off is where this attempt starts). */
static void collect_headers(ossc_req *r, attempt_headers *ah)
{
    ah->n = 0;
    for (size_t i = 0; i < r->n_headers; i++)
        ah->kv[ah->n++] = r->headers[i];
    r->attempt_off = r->range_off + r->received;
    if (!r->has_range)
        return;
    uint64_t last = r->range_off + r->range_len - 1;
    snprintf(ah->range, sizeof(ah->range), "bytes=%" PRIu64 "-%" PRIu64, r->attempt_off, last);
    ah->kv[ah->n].name = "Range";
    ah->kv[ah->n].value = ah->range;
    ah->n++;
    ah->kv[ah->n].name = "x-oss-range-behavior";
    ah->kv[ah->n].value = "standard";
    ah->n++;
}

/* Signs the attempt now; the credentials are wiped before returning. */
static int sign_attempt(ossc_http *h, ossc_req *r, const attempt_headers *ah,
                        ossc_sign_output *sig)
{
    ossc_credentials cred;
    ossc_sign_input in = {
        .method = r->method,
        .bucket = r->bucket,
        .key = r->key,
        .query = r->query,
        .n_query = r->n_query,
        .headers = ah->kv,
        .n_headers = ah->n,
        .now = time(NULL),
        .region = h->target.region,
    };
    if (h->target.sign_version == OSSC_SIGN_PEER) {
        int rc = ossc_sign_peer(h->target.peer_secret, h->target.peer_secret_len,
                                h->target.peer_addr, &in, sig, &r->err);
        /* The reply must answer this very request (http_reply.c). */
        snprintf(r->peer_auth, sizeof(r->peer_auth), "%.*s", (int)sizeof(r->peer_auth) - 1,
                 rc == 0 ? sig->add[0].value : "");
        return rc;
    }
    /* A credentials callback may need what a forking thread holds (the GIL). */
    ossc_forkgate_leave();
    int got = ossc_cred_get(h->target.cred, &cred, &r->err);
    ossc_forkgate_enter();
    if (got < 0)
        return -1;
    int rc = ossc_sign(h->target.sign_version, &in, &cred, sig, &r->err);
    memset(&cred, 0, sizeof(cred));
    return rc;
}

/* Appends "name: value" to *sl; -1 when out of memory (the list so far
 * stays in *sl for the caller to free). */
static int slist_add(struct curl_slist **sl, const char *name, const char *value)
{
    char line[4608];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(*sl, line);
    if (!n)
        return -1;
    *sl = n;
    return 0;
}

/* r->slist: the attempt's headers and signature; curl's defaults that OSS
 * would misread are blanked (OSS signs Content-Type, so it goes empty
 * unless the caller set it; never wait for 100-continue). */
static int build_header_list(ossc_req *r, const attempt_headers *ah, const ossc_sign_output *sig)
{
    struct curl_slist *sl = NULL;
    bool has_ct = false;
    int rc = 0;
    for (size_t i = 0; i < ah->n && rc == 0; i++) {
        rc = slist_add(&sl, ah->kv[i].name, ah->kv[i].value);
        if (strcasecmp(ah->kv[i].name, "Content-Type") == 0)
            has_ct = true;
    }
    for (size_t i = 0; i < sig->n && rc == 0; i++)
        rc = slist_add(&sl, sig->add[i].name, sig->add[i].value);
    const char *blank[] = {"Expect", has_ct ? NULL : "Content-Type", "Accept"};
    for (size_t i = 0; i < sizeof blank / sizeof blank[0] && rc == 0; i++) {
        if (!blank[i])
            continue;
        char line[32];
        snprintf(line, sizeof(line), "%s:", blank[i]);
        struct curl_slist *n = curl_slist_append(sl, line);
        rc = n ? 0 : -1;
        sl = n ? n : sl;
    }
    curl_slist_free_all(r->slist);
    r->slist = sl;
    if (rc < 0)
        return ossc_error_set(&r->err, ENOMEM, "%s %s/%s: out of memory building headers",
                              r->method, r->bucket, r->key);
    return 0;
}

/* Options every attempt has: target, callbacks, timeouts, TLS. */
static int set_common_options(const ossc_config *cfg, ossc_req *r, const char *url)
{
    SETOPT(r, CURLOPT_URL, url);
    SETOPT(r, CURLOPT_PATH_AS_IS, 1L); /* keys with ./.. segments go verbatim */
    SETOPT(r, CURLOPT_HTTPHEADER, r->slist);
    SETOPT(r, CURLOPT_PRIVATE, r);
    SETOPT(r, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(r, CURLOPT_WRITEFUNCTION, ossc_reply_on_body);
    SETOPT(r, CURLOPT_WRITEDATA, r);
    SETOPT(r, CURLOPT_HEADERFUNCTION, ossc_reply_on_header);
    SETOPT(r, CURLOPT_HEADERDATA, r);
    SETOPT(r, CURLOPT_XFERINFOFUNCTION, ossc_reply_on_progress);
    SETOPT(r, CURLOPT_XFERINFODATA, r);
    SETOPT(r, CURLOPT_NOPROGRESS, 0L); /* for the callback above: cancel while idle */
    SETOPT(r, CURLOPT_NOSIGNAL, 1L);
    SETOPT(r, CURLOPT_TCP_NODELAY, 1L);
    SETOPT(r, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http.connect_timeout_ms);
    /* Slower than the floor for the whole window: a stall or a trickling
     * peer, cut off (and retried) rather than holding a read for hours. */
    SETOPT(r, CURLOPT_LOW_SPEED_LIMIT, (long)cfg->http.low_speed_limit_bytes);
    SETOPT(r, CURLOPT_LOW_SPEED_TIME, (long)cfg->http.low_speed_timeout_s);
    SETOPT(r, CURLOPT_BUFFERSIZE, 512L * 1024L);
    SETOPT(r, CURLOPT_SSL_VERIFYPEER, cfg->http.verify_tls ? 1L : 0L);
    SETOPT(r, CURLOPT_SSL_VERIFYHOST, cfg->http.verify_tls ? 2L : 0L);
    if (cfg->http.ca_file[0])
        SETOPT(r, CURLOPT_CAINFO, cfg->http.ca_file);
    else if (ossc_http_default_ca())
        SETOPT(r, CURLOPT_CAINFO, ossc_http_default_ca());
    return 0;
}

/* The method and, for PUT and POST, the body (from memory, rewound for
 * every attempt). */
static int set_method(ossc_req *r)
{
    if (strcmp(r->method, "HEAD") == 0) {
        SETOPT(r, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") == 0) {
        SETOPT(r, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        r->body_pos = 0;
        SETOPT(r, CURLOPT_UPLOAD, 1L);
        SETOPT(r, CURLOPT_READFUNCTION, ossc_reply_on_read);
        SETOPT(r, CURLOPT_READDATA, r);
        SETOPT(r, CURLOPT_SEEKFUNCTION, ossc_reply_on_seek);
        SETOPT(r, CURLOPT_SEEKDATA, r);
        SETOPT(r, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        SETOPT(r, CURLOPT_POST, 1L);
        SETOPT(r, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        SETOPT(r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else {
        SETOPT(r, CURLOPT_CUSTOMREQUEST, r->method);
    }
    return 0;
}

int ossc_attempt_setup(ossc_http *h, ossc_req *r)
{
    char url[8192];
    attempt_headers ah;
    ossc_sign_output sig;

    if (ossc_build_url(&h->target.endpoint, r->bucket, r->key, r->query, r->n_query, url,
                       sizeof(url)) < 0)
        return ossc_error_set(&r->err, ENAMETOOLONG, "request URL too long for key '%s'",
                              r->key);
    collect_headers(r, &ah);
    if (sign_attempt(h, r, &ah, &sig) < 0)
        return -1;
    int rc = build_header_list(r, &ah, &sig);
    memset(&sig, 0, sizeof(sig));
    if (rc < 0)
        return -1;

    curl_easy_reset(r->easy);
    if (set_common_options(&h->cfg, r, url) < 0 || set_method(r) < 0)
        return -1;
    if (h->target.bind_host[0]) {
        char iface[sizeof(h->target.bind_host) + 8];
        snprintf(iface, sizeof(iface), "host!%s", h->target.bind_host);
        SETOPT(r, CURLOPT_INTERFACE, iface);
    }
    ossc_reply_reset(r);
    r->started_ms = ossc_now_ms_precise();
    return 0;
}
