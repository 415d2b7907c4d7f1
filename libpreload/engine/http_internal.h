/* http_internal.h - what the files of the I/O engine share: the engine and
 * its I/O threads, and the entry points each file gives the others.
 *   http.c         I/O threads, the multi loop, submission, lifecycle
 *   http_request.c requests, waitgroups, the clock
 *   http_reply.c   libcurl callbacks: reply headers, checks, body sinks
 *   http_setup.c   one attempt: URL, Range, signature, easy handle options
 *   http_judge.c   one attempt's outcome: the error it names, the retry plan
 *   retry.c        the retry policy itself (pure) */
#ifndef OSSC_HTTP_INTERNAL_H
#define OSSC_HTTP_INTERNAL_H

#include <curl/curl.h>

#include "adapt.h"
#include "http.h"

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
    atomic_int gets_active;     /* ranged GETs into a sink in the multi handles */
    pthread_mutex_t adapt_lock; /* guards adapt */
    ossc_adapt adapt;           /* part size per read from measured throughput */
    /* Body bytes of ranged GETs are added here as each piece is written
     * into its destination (ossc_client_count_arrivals); NULL: not
     * counted.  Set at any time, read by the I/O threads. */
    _Atomic(atomic_ullong *) arrived;
};

/* The most of a peer's error body (OSSC_SIGN_PEER, not 2xx) kept in
 * r->resp; past it the transfer is stopped and judged by its status
 * (r->resp_cut, http_reply.c). */
#define OSSC_PEER_ERR_BODY_MAX 4096u

/* Monotonic milliseconds with sub-millisecond precision (for audit times). */
double ossc_now_ms_precise(void);

/* libcurl callbacks (http_reply.c); userp is the ossc_req. */
size_t ossc_reply_on_body(char *data, size_t size, size_t nmemb, void *userp);
size_t ossc_reply_on_header(char *line, size_t size, size_t nmemb, void *userp);
int ossc_reply_on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                           curl_off_t ultotal, curl_off_t ulnow);
size_t ossc_reply_on_read(char *buf, size_t size, size_t nmemb, void *userp);
int ossc_reply_on_seek(void *userp, curl_off_t offset, int origin);
/* Resets what one attempt's reply sets; keeps `received` so GETs resume. */
void ossc_reply_reset(ossc_req *r);

/* Builds URL, headers and signature for the next attempt and configures
 * r->easy (http_setup.c).  -1 with r->err filled (never retried): a URL
 * too long, no credentials, a signing or a curl_easy_setopt failure. */
int ossc_attempt_setup(ossc_http *h, ossc_req *r);

/* http_ca.c: the CA bundle to use when http.caFile is unset, or NULL for
 * the TLS library's own default (always NULL unless built with
 * OSSC_PORTABLE). */
const char *ossc_http_default_ca(void);

/* Decides the outcome of one attempt (http_judge.c): 1 with r->not_before_ms
 * set when the request is to be tried again, 0 when it is finished
 * (r->result and r->err set).  rng: the I/O thread's jitter seed. */
int ossc_attempt_judge(ossc_http *h, ossc_req *r, CURLcode cc, unsigned *rng);

#endif
