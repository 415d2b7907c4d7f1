/* list.c - ListObjects (V1 and V2), whole listings and "fast list".
 *
 * Fast list splits the key space under a prefix into ranges (lo, hi] and
 * lists them concurrently with start-after=lo, stopping each range at its
 * first key above hi.  It starts with one range; whenever a page comes back
 * truncated and request slots are idle, the rest of that range is bisected
 * at a key between its last key and its upper bound.  Ranges that turn out
 * empty cost one request each, so the split adapts to any key distribution
 * without knowing it in advance.  Split points use printable ASCII only, so
 * they are valid start-after values for any server. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "list_guard.h"
#include "log.h"
#include "xml.h"

#define LIST_PAGE_KEYS 1000

static ossc_req *list_request(const char *bucket, const char *prefix, const char *delimiter,
                              const char *token, const char *start_after, int max_keys, int v2)
{
    char mk[16];
    ossc_req *r = ossc_req_new("GET", bucket, "");
    if (!r)
        return NULL;
    snprintf(mk, sizeof(mk), "%d", max_keys > 0 ? max_keys : LIST_PAGE_KEYS);
    int rc = 0;
    if (v2)
        rc |= ossc_req_query(r, "list-type", "2");
    if (prefix && prefix[0])
        rc |= ossc_req_query(r, "prefix", prefix);
    if (delimiter && delimiter[0])
        rc |= ossc_req_query(r, "delimiter", delimiter);
    if (token && token[0])
        rc |= ossc_req_query(r, v2 ? "continuation-token" : "marker", token);
    if (start_after && start_after[0])
        rc |= ossc_req_query(r, "start-after", start_after);
    rc |= ossc_req_query(r, "max-keys", mk);
    rc |= ossc_req_query(r, "encoding-type", "url");
    if (rc) {
        ossc_req_free(r);
        return NULL;
    }
    return r;
}

/* Puts "list oss://bucket/prefix: " in front of err's message. */
static void list_context(ossc_error *err, const char *bucket, const char *prefix)
{
    if (err)
        ossc_error_set(err, err->code, "list oss://%s/%.300s: %s", bucket, prefix ? prefix : "",
                       err->message);
}

static int list_page(ossc_client *c, const char *bucket, const char *prefix,
                     const char *delimiter, const char *token, int max_keys, int v2,
                     ossc_list_result **out, ossc_error *err)
{
    ossc_error_clear(err);
    if (ossc_check_object("LIST", bucket, prefix, err) < 0)
        return -1;
    ossc_req *r = list_request(bucket, prefix, delimiter, token, NULL, max_keys, v2);
    if (!r)
        return ossc_error_set(err, ENOMEM, "out of memory");
    int rc = ossc_http_run(c->list_http, r);
    if (rc == 0) {
        const char *body = r->resp ? r->resp : "";
        rc = v2 ? ossc_xml_parse_list_v2(body, r->resp_len, out, NULL, NULL, err)
                : ossc_xml_parse_list(body, r->resp_len, out, err);
        if (rc == 0 && ossc_list_check_page(*out, max_keys, v2 ? NULL : token, err) < 0) {
            ossc_list_result_free(*out);
            *out = NULL;
            rc = -1;
        }
        if (rc < 0)
            list_context(err, bucket, prefix);
    } else {
        ossc_req_fail(r, err);
    }
    ossc_req_free(r);
    return rc;
}

int ossc_list_page(ossc_client *c, const char *bucket, const char *prefix, const char *delimiter,
                   const char *token, int max_keys, ossc_list_result **out, ossc_error *err)
{
    *out = NULL;
    return list_page(c, bucket, prefix, delimiter, token, max_keys, 1, out, err);
}

int ossc_list_page_v1(ossc_client *c, const char *bucket, const char *prefix,
                      const char *delimiter, const char *marker, int max_keys,
                      ossc_list_result **out, ossc_error *err)
{
    *out = NULL;
    return list_page(c, bucket, prefix, delimiter, marker, max_keys, 0, out, err);
}

/* ------------------------------------------------------------- lister */

/* A sequential ListObjectsV2 listing that keeps the next page in flight:
 * the request for page N+1 leaves as soon as page N's continuation token is
 * parsed (before its entries are), so the server builds N+1 while this side
 * parses N and the caller consumes it.  At most one request is in flight;
 * `wg` counts it.  Every page passes `guard` (list_guard.h) before it is
 * returned, so a server that repeats itself ends the listing with an error
 * after at most one extra request. */
struct ossc_lister {
    ossc_client *client;
    char *bucket, *prefix, *delimiter;
    int max_keys;
    ossc_waitgroup wg;
    ossc_req *inflight;     /* the next page's request, or NULL */
    char *token;            /* the token inflight was sent with (malloc'd) */
    ossc_list_guard guard;
    int finished;           /* the last page was returned, or a call failed */
};

static void lister_done(ossc_req *r)
{
    ossc_lister *l = r->userdata;
    ossc_waitgroup_done(&l->wg);
}

/* Sends the request for the page after `token`.  -1 on ENOMEM. */
static int lister_submit(ossc_lister *l, const char *token)
{
    ossc_req *r = list_request(l->bucket, l->prefix, l->delimiter, token, NULL, l->max_keys, 1);
    if (!r)
        return -1;
    char *t = strdup(token);
    if (!t) {
        ossc_req_free(r);
        return -1;
    }
    free(l->token);
    l->token = t;
    r->done = lister_done;
    r->userdata = l;
    l->inflight = r;
    ossc_waitgroup_add(&l->wg, 1);
    ossc_http_submit(l->client->list_http, r);
    return 0;
}

/* ossc_xml_parse_list_early's callback: a failure to submit here is left
 * for ossc_list_next to retry (and report) after the parse. */
static void lister_on_next(const char *token, void *arg)
{
    ossc_lister *l = arg;
    if (!l->inflight)
        lister_submit(l, token);
}

ossc_lister *ossc_list_open(ossc_client *c, const char *bucket, const char *prefix,
                            const char *delimiter, int max_keys, ossc_error *err)
{
    ossc_lister *l;

    ossc_error_clear(err);
    if (ossc_check_object("LIST", bucket, prefix, err) < 0)
        return NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        goto nomem;
    ossc_waitgroup_init(&l->wg);
    ossc_list_guard_init(&l->guard, max_keys);
    l->client = c;
    l->max_keys = max_keys;
    l->bucket = strdup(bucket);
    l->prefix = strdup(prefix ? prefix : "");
    l->delimiter = delimiter && delimiter[0] ? strdup(delimiter) : NULL;
    if (!l->bucket || !l->prefix || (delimiter && delimiter[0] && !l->delimiter) ||
        lister_submit(l, "") < 0) {
        ossc_list_close(l);
        goto nomem;
    }
    return l;
nomem:
    ossc_error_set(err, ENOMEM, "out of memory");
    return NULL;
}

int ossc_list_next(ossc_lister *l, ossc_list_result **page, ossc_error *err)
{
    ossc_req *r = l->inflight;
    ossc_list_result *p = NULL;
    char *token = NULL;

    *page = NULL;
    ossc_error_clear(err);
    if (l->finished || !r)
        return 0;
    ossc_waitgroup_wait(&l->wg);
    l->inflight = NULL;
    token = l->token; /* on_next may send the next request, with its own */
    l->token = NULL;
    if (r->result < 0) {
        ossc_req_fail(r, err);
        goto err;
    }
    if (ossc_xml_parse_list_v2(r->resp ? r->resp : "", r->resp_len, &p, lister_on_next, l,
                               err) < 0) {
        list_context(err, l->bucket, l->prefix);
        goto err;
    }
    ossc_req_free(r);
    r = NULL;
    if (ossc_list_guard_page(&l->guard, p, token, err) < 0) {
        list_context(err, l->bucket, l->prefix);
        ossc_list_result_free(p);
        goto err;
    }
    free(token);
    token = NULL;
    if (!p->truncated || !p->next_token[0]) {
        l->finished = 1;
    } else if (!l->inflight && lister_submit(l, p->next_token) < 0) {
        ossc_list_result_free(p);
        ossc_error_set(err, ENOMEM, "out of memory");
        goto err;
    }
    *page = p;
    return 1;
err:
    ossc_req_free(r);
    free(token);
    l->finished = 1;
    return -1;
}

void ossc_list_close(ossc_lister *l)
{
    if (!l)
        return;
    if (l->inflight) {
        atomic_store(&l->inflight->cancelled, true);
        ossc_waitgroup_wait(&l->wg);
        ossc_req_free(l->inflight);
    }
    ossc_waitgroup_destroy(&l->wg);
    ossc_list_guard_free(&l->guard);
    free(l->token);
    free(l->bucket);
    free(l->prefix);
    free(l->delimiter);
    free(l);
}

/* Sequential listing: every page of a lister taken into one result. */
static int list_sequential(ossc_client *c, const char *bucket, const char *prefix,
                           ossc_list_result **out, ossc_error *err)
{
    ossc_lister *l = ossc_list_open(c, bucket, prefix, NULL, LIST_PAGE_KEYS, err);
    ossc_list_result *all = ossc_list_result_new(), *page;
    int rc;

    if (!l || !all) {
        if (l)
            ossc_error_set(err, ENOMEM, "out of memory");
        goto err;
    }
    while ((rc = ossc_list_next(l, &page, err)) > 0) {
        if (ossc_list_result_take(all, page) < 0) {
            ossc_list_result_free(page);
            ossc_error_set(err, ENOMEM, "out of memory");
            goto err;
        }
    }
    if (rc < 0)
        goto err;
    ossc_list_close(l);
    *out = all;
    return 0;
err:
    ossc_list_close(l);
    ossc_list_result_free(all);
    *out = NULL;
    return -1;
}

/* ---------------------------------------------------------------- fast list */

typedef struct shard {
    char *lo;           /* exclusive lower bound, "" = from the start */
    char *hi;           /* inclusive upper bound, NULL = no bound */
    struct shard *next;
} shard;

typedef struct fast_list {
    ossc_client *client;
    const char *bucket, *prefix;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ossc_req *completed;    /* finished requests, linked through ->next */
    int inflight;
    shard *queue;
    int queued;
    int slots;
} fast_list;

static shard *shard_new(const char *lo, size_t lo_len, const char *hi)
{
    shard *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->lo = strndup(lo, lo_len);
    s->hi = hi ? strdup(hi) : NULL;
    if (!s->lo || (hi && !s->hi)) {
        free(s->lo);
        free(s->hi);
        free(s);
        return NULL;
    }
    return s;
}

static void shard_free(shard *s)
{
    if (s) {
        free(s->lo);
        free(s->hi);
        free(s);
    }
}

/* A key strictly between lo and hi (hi NULL = unbounded), built from
 * printable ASCII, written into out (malloc'd); NULL when none is found
 * close enough to lo. */
static char *split_point(const char *lo, const char *hi)
{
    size_t n = strlen(lo);
    size_t i = 0;
    if (hi) {
        size_t m = strlen(hi);
        while (i < n && i < m && lo[i] == hi[i])
            i++;
    }
    for (int depth = 0; depth < 8; depth++, i++) {
        int a = i < n ? (unsigned char)lo[i] : -1;
        int b = 256;
        if (hi && depth == 0)
            b = i < strlen(hi) ? (unsigned char)hi[i] : -1;
        int a_eff = a < 0x1f ? 0x1f : a;
        int b_eff = b > 0x7f ? 0x7f : b;
        if (b_eff - a_eff >= 2) {
            char *mid = malloc(i + 2);
            if (!mid)
                return NULL;
            memcpy(mid, lo, i);
            mid[i] = (char)((a_eff + b_eff) / 2);
            mid[i + 1] = '\0';
            return mid;
        }
        if (a < 0)
            return NULL;
        /* Go one byte deeper below lo[..i]; from now on hi no longer binds. */
    }
    return NULL;
}

static void fast_done(ossc_req *r)
{
    fast_list *fl = r->userdata;
    pthread_mutex_lock(&fl->lock);
    r->next = fl->completed;
    fl->completed = r;
    pthread_cond_signal(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
}

static void enqueue(fast_list *fl, shard *s)
{
    s->next = fl->queue;
    fl->queue = s;
    fl->queued++;
}

static int submit_shard(fast_list *fl, shard *s, ossc_error *err)
{
    ossc_req *r = list_request(fl->bucket, fl->prefix, NULL, NULL, s->lo, LIST_PAGE_KEYS, 1);
    if (!r)
        return ossc_error_set(err, ENOMEM, "out of memory");
    r->done = fast_done;
    r->userdata = fl;
    /* The shard travels with its request. */
    r->tag = s;
    pthread_mutex_lock(&fl->lock);
    fl->inflight++;
    pthread_mutex_unlock(&fl->lock);
    ossc_http_submit(fl->client->list_http, r);
    return 0;
}

/* Takes one page of shard s: keeps keys <= hi (moved into all, strings
 * not copied); returns 1 when the shard has more to list (s->lo advanced),
 * 0 when done, -1 on error.  The page must list keys after s->lo in order
 * (ossc_list_check_page) and, when truncated, hold at least one: so s->lo
 * strictly grows and a server that ignores start-after or repeats a page
 * fails instead of looping. */
static int absorb_page(fast_list *fl, ossc_list_result *all, shard *s, ossc_req *r,
                       ossc_error *err)
{
    ossc_list_result *page = NULL;
    size_t keep;
    char *lo = NULL;
    int more;

    if (ossc_xml_parse_list(r->resp ? r->resp : "", r->resp_len, &page, err) < 0) {
        list_context(err, fl->bucket, fl->prefix);
        return -1;
    }
    if (ossc_list_check_page(page, LIST_PAGE_KEYS, s->lo, err) < 0 ||
        (page->truncated && !page->count &&
         ossc_error_set(err, EIO, "the server says the listing goes on (IsTruncated) but "
                                  "sent no key") < 0)) {
        ossc_error_set(err, err->code, "%.400s (page after start-after '%.200s')",
                       err->message, s->lo);
        list_context(err, fl->bucket, fl->prefix);
        ossc_list_result_free(page);
        return -1;
    }
    more = page->truncated;
    for (keep = 0; keep < page->count; keep++) {
        if (s->hi && strcmp(page->objects[keep].key, s->hi) > 0) {
            more = 0;
            break;
        }
    }
    page->count = keep;
    if (more && keep && !(lo = strdup(page->objects[keep - 1].key)))
        goto nomem;
    if (ossc_list_result_take(all, page) < 0)
        goto nomem;
    if (!lo)
        return 0;
    free(s->lo);
    s->lo = lo;
    return 1;
nomem:
    free(lo);
    ossc_list_result_free(page);
    return ossc_error_set(err, ENOMEM, "out of memory");
}

static int fast_list_run(fast_list *fl, ossc_list_result *all, ossc_error *err)
{
    int failed = 0;
    shard *first = shard_new("", 0, NULL);
    if (!first)
        return ossc_error_set(err, ENOMEM, "out of memory");
    enqueue(fl, first);

    for (;;) {
        while (!failed && fl->queue && fl->inflight < fl->slots) {
            shard *s = fl->queue;
            fl->queue = s->next;
            fl->queued--;
            if (submit_shard(fl, s, err) < 0) {
                shard_free(s);
                failed = 1;
            }
        }
        pthread_mutex_lock(&fl->lock);
        if (fl->inflight == 0) {
            pthread_mutex_unlock(&fl->lock);
            break;
        }
        while (!fl->completed)
            pthread_cond_wait(&fl->cond, &fl->lock);
        ossc_req *done = fl->completed;
        fl->completed = NULL;
        pthread_mutex_unlock(&fl->lock);

        while (done) {
            ossc_req *r = done;
            done = r->next;
            shard *s = r->tag;
            pthread_mutex_lock(&fl->lock);
            fl->inflight--;
            pthread_mutex_unlock(&fl->lock);
            int more = 0;
            if (!failed) {
                if (r->result < 0) {
                    ossc_req_fail(r, err);
                    failed = 1;
                } else {
                    more = absorb_page(fl, all, s, r, err);
                    if (more < 0)
                        failed = 1;
                }
            }
            ossc_req_free(r);
            if (more <= 0) {
                shard_free(s);
                continue;
            }
            /* Split the rest of this shard while slots would sit idle. */
            int idle = fl->slots - fl->inflight - fl->queued - 1;
            while (idle > 0) {
                char *mid = split_point(s->lo, s->hi);
                if (!mid)
                    break;
                shard *upper = shard_new(mid, strlen(mid), s->hi);
                if (!upper) {
                    free(mid);
                    break;
                }
                free(s->hi);
                s->hi = mid;
                enqueue(fl, upper);
                idle--;
            }
            enqueue(fl, s);
        }
    }
    while (fl->queue) {
        shard *s = fl->queue;
        fl->queue = s->next;
        shard_free(s);
    }
    return failed ? -1 : 0;
}

int ossc_list_all(ossc_client *c, const char *bucket, const char *prefix, int fast,
                  ossc_list_result **out, ossc_error *err)
{
    *out = NULL;
    ossc_error_clear(err);
    if (ossc_check_object("LIST", bucket, prefix, err) < 0)
        return -1;
    if (!fast)
        return list_sequential(c, bucket, prefix, out, err);

    ossc_list_result *all = ossc_list_result_new();
    if (!all)
        return ossc_error_set(err, ENOMEM, "out of memory");
    fast_list fl = {
        .client = c,
        .bucket = bucket,
        .prefix = prefix ? prefix : "",
        .slots = ossc_http_concurrency(c->list_http),
    };
    pthread_mutex_init(&fl.lock, NULL);
    pthread_cond_init(&fl.cond, NULL);
    int rc = fast_list_run(&fl, all, err);
    pthread_mutex_destroy(&fl.lock);
    pthread_cond_destroy(&fl.cond);
    if (rc < 0) {
        ossc_list_result_free(all);
        return -1;
    }
    *out = all;
    return 0;
}
