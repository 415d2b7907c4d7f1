/* http.h - the I/O engine: N threads, each driving up to M concurrent
 * transfers on its own libcurl multi handle (keep-alive connections are
 * reused per thread).  Requests are signed on the I/O thread right before
 * each attempt, retried with capped exponential backoff and jitter, and
 * ranged GETs resume from the last byte received. */
#ifndef OSSC_HTTP_H
#define OSSC_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include "config.h"
#include "cred.h"
#include "etag.h"
#include "ossc.h"
#include "sign.h"
#include "uri.h"

#define OSSC_REQ_MAX_QUERY 8
#define OSSC_REQ_MAX_HEADERS 6

typedef struct ossc_http ossc_http;
typedef struct ossc_req ossc_req;

/* Called on the I/O thread when a request has finished for good (success
 * or final failure).  Must not block. */
typedef void (*ossc_req_done_fn)(ossc_req *r);

/* Everything the signer and the HTTP layer need about the target. */
typedef struct ossc_target {
    ossc_endpoint endpoint;
    ossc_cred_source *cred;
    ossc_sign_version sign_version;
    char region[64];
    /* OSSC_SIGN_PEER: the deployment's shared secret (owned by the client;
     * cred is NULL then). */
    const uint8_t *peer_secret;
    size_t peer_secret_len;
    /* The peer's host:port as its requests name it (its advertised
     * address: a request MAC names the node it is for, peer_auth.h). */
    char peer_addr[128];
    /* A numeric local address connections are made from (curl's
     * CURLOPT_INTERFACE "host!<ip>"), so the server sees who we say we
     * are; empty: the kernel picks (as for OSS). */
    char bind_host[64];
} ossc_target;

struct ossc_req {
    /* --- input (owned by the request) --- */
    const char *method;                 /* static string */
    char bucket[OSSC_BUCKET_MAX];
    char key[OSSC_KEY_MAX];
    char *qbuf;                         /* storage for query strings */
    ossc_kv query[OSSC_REQ_MAX_QUERY];
    size_t n_query;
    char *hbuf;                         /* storage for header strings */
    ossc_kv headers[OSSC_REQ_MAX_HEADERS];
    size_t n_headers;
    bool has_range;
    uint64_t range_off, range_len;      /* requested range */
    const char *body;                   /* request body (not owned) */
    size_t body_len;
    bool head_only;                     /* HEAD: no body expected */

    /* --- response sink --- */
    char *dst;                          /* ranged GET: write here (a buffer, or a
                                           mapping of dst_fd) ... */
    uint64_t dst_cap;                   /* ... at most this many bytes */
    int dst_fd;                         /* or, when >= 0 (dst NULL), pwrite the bytes
                                           into this file at dst_off + received */
    uint64_t dst_off;
    uint64_t dst_ready;                 /* dst mapping dst_fd: bytes whose pages are
                                           ready to copy into (landing.c) */
    int land_turn;                      /* dst mapping dst_fd: the file's write turn
                                           (landing.c), -1: always copy into dst */
    int sink_errno;                     /* the write into dst_fd failed: no retry */
    bool want_crc;                      /* compute CRC64 of the bytes received */

    /* --- results --- */
    int http_status;
    int64_t content_length;             /* of the last attempt, -1 unknown */
    uint64_t total_size;                /* object size from Content-Range/Length */
    bool has_total_size;
    bool has_server_crc;
    uint64_t server_crc;                /* x-oss-hash-crc64ecma (whole object) */
    uint64_t crc;                       /* CRC of the bytes received (want_crc) */
    uint64_t received;                  /* bytes written to dst / dst_fd */
    bool has_peer_arrived;              /* the reply carried OSSC-Arrived (a chunk */
    uint64_t peer_arrived;              /* server's 503, broadcast/server.h): its value */
    /* OSSC_SIGN_PEER: the attempt's Authorization value, and the reply's
     * headers its OSSC-Peer-Auth covers, as received ("" when absent). */
    char peer_auth[128];
    char peer_content_range[96];
    char peer_arrived_raw[32];
    char peer_reply_auth[72];
    int64_t mtime;
    char etag[OSSC_ETAG_MAX];           /* of the latest reply (empty: it sent none, or
                                           one too long to keep whole) */
    char first_etag[OSSC_ETAG_MAX];     /* of this request's first 2xx reply with a
                                           body sink, kept across its attempts: a
                                           resumed reply with another is "changed" */
    bool changed;                       /* ... and one was: the object was replaced
                                           mid-read (wire_err says how); not retried */
    char request_id[64];
    char *resp;                         /* other bodies (XML, errors), NUL-terminated */
    size_t resp_len, resp_cap;
    ossc_error err;
    int result;                         /* 0 ok, -1 failed (see err) */
    int attempts;

    /* --- completion --- */
    ossc_req_done_fn done;
    void *userdata;
    void *tag;                          /* free for the submitter's use */
    atomic_bool cancelled;

    /* --- private to the I/O thread --- */
    struct ossc_io_thread *owner;
    void *easy;
    struct curl_slist *slist;
    char errbuf[256];
    uint64_t attempt_received;          /* bytes written to dst during this attempt */
    uint64_t attempt_off;               /* range offset of this attempt */
    size_t body_pos;
    uint64_t not_before_ms;
    double started_ms;
    int adapt_concurrent;               /* GETs running when this one started (adapt.c) */
    bool status_checked;
    bool overflow;
    bool resp_cut;                      /* a peer's error body passed
                                           OSSC_PEER_ERR_BODY_MAX: transfer stopped */
    /* What the reply's headers promise for this attempt of a ranged GET
     * (set when the headers end, checked as the body arrives): */
    bool whole_body;                    /* 200: the body is the whole object
                                           from byte 0, our range is cut from it */
    bool got_all;                       /* the range is complete: transfer stopped */
    uint64_t body_seen;                 /* body bytes seen in this attempt */
    uint64_t expect_len;                /* 206: bytes its Content-Range announces */
    bool has_content_range;             /* 206: "bytes first-last/..." parsed */
    bool bad_content_length;            /* not a decimal number that fits */
    uint64_t cr_first, cr_last;
    char wire_err[200];                 /* the reply breaks the protocol: why */
    ossc_req *next;
    ossc_req *active_prev, *active_next;
};

/* Creates the engine with `threads` I/O threads of `per_thread` transfers,
 * each lowered to nice value `nice` (see ossc_thread_lower_priority). */
ossc_http *ossc_http_new(const ossc_config *cfg, const ossc_target *target, int threads,
                         int per_thread, int nice, ossc_error *err);
void ossc_http_free(ossc_http *h);
/* Lowers the calling thread's priority to nice value `nice` (Linux: per
 * thread); never raises it, so a niced application stays as it is.  0: no
 * change. */
void ossc_thread_lower_priority(int nice);
int ossc_http_concurrency(const ossc_http *h);
/* Adds the body bytes of h's ranged GETs to *arrived as each piece is
 * written into its destination, from now on (NULL: stops). */
void ossc_http_count_arrivals(ossc_http *h, atomic_ullong *arrived);
/* Bytes per ranged GET for one read of `len` bytes: http.partSize, or with
 * http.adaptive the size adapt.c chooses from what this engine's transfers
 * measured (never below http.partSize; exactly it when the user set it). */
uint64_t ossc_http_part_for(ossc_http *h, uint64_t len);

/* The request's body goes to the caller (a buffer or a file), not r->resp. */
static inline bool ossc_req_has_sink(const ossc_req *r)
{
    return r->dst || r->dst_fd >= 0;
}

/* Allocates a request (zeroed, result fields reset). */
ossc_req *ossc_req_new(const char *method, const char *bucket, const char *key);
void ossc_req_free(ossc_req *r);
/* Adds a query parameter (value NULL = bare name); copied. */
int ossc_req_query(ossc_req *r, const char *name, const char *value);
/* Adds a header; copied. */
int ossc_req_header(ossc_req *r, const char *name, const char *value);

/* Queues a request; r->done is called when it ends. */
void ossc_http_submit(ossc_http *h, ossc_req *r);
/* Submits and waits; returns r->result. */
int ossc_http_run(ossc_http *h, ossc_req *r);

/* A counter to wait for a group of requests. */
typedef struct ossc_waitgroup {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
} ossc_waitgroup;
void ossc_waitgroup_init(ossc_waitgroup *wg);
void ossc_waitgroup_destroy(ossc_waitgroup *wg);
void ossc_waitgroup_add(ossc_waitgroup *wg, int n);
void ossc_waitgroup_done(ossc_waitgroup *wg);
void ossc_waitgroup_wait(ossc_waitgroup *wg);
/* Waits until pending <= limit. */
void ossc_waitgroup_wait_below(ossc_waitgroup *wg, int limit);

uint64_t ossc_now_ms(void);

#endif
