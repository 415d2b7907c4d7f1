/* retry.h - the retry policy of the I/O engine, as a pure function.
 *
 * Given what one attempt of a request came to (HTTP status, curl code,
 * what the reply checks found, bytes kept) and the http.* settings, it
 * says whether to try again, within which backoff bounds, and from which
 * byte a ranged GET resumes.  No I/O, no clock, no libcurl handle: the
 * I/O loop (http.c) applies the plan, and test_retry.c checks every rule. */
#ifndef OSSC_RETRY_H
#define OSSC_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* What the reply checks (http_judge.c) found beyond status and curl code. */
typedef enum ossc_attempt_fault {
    OSSC_FAULT_NONE = 0,   /* status and curl code tell the outcome */
    OSSC_FAULT_CANCELLED,  /* the caller cancelled: never retried */
    OSSC_FAULT_SINK,       /* writing the bytes into the caller's file failed: never
                              retried (the network is not at fault) */
    OSSC_FAULT_BAD_REPLY,  /* the reply broke the protocol (Content-Range, Content-Length,
                              short body): retried, resuming after the bytes kept */
    OSSC_FAULT_OVERFLOW,   /* more body than the range: the attempt's bytes may be
                              misplaced, so retried from the range's first byte */
    OSSC_FAULT_CHANGED,    /* a resumed reply is of another version of the object
                              (ETag): never resumed; the caller reads again */
} ossc_attempt_fault;

typedef struct ossc_attempt_result {
    int http_status;            /* of the final reply; 0 when none came */
    int curl_code;              /* CURLcode of the transfer (0: CURLE_OK) */
    ossc_attempt_fault fault;
    int attempts;               /* attempts made, this one included (>= 1) */
    uint64_t range_off;         /* first byte of the requested range (0: none) */
    uint64_t received;          /* bytes of the range kept so far, all attempts */
} ossc_attempt_result;

typedef struct ossc_retry_plan {
    bool retry;                 /* false: the request is finished (ok or failed) */
    bool failed;                /* finished with an error (meaningless when retry) */
    bool exhausted;             /* worth retrying, but http.maxRetries were made */
    uint64_t delay_min_ms;      /* wait before the next attempt, drawn in [min, max] */
    uint64_t delay_max_ms;
    uint64_t keep;              /* bytes of `received` still valid (0: start over,
                                   so a running CRC restarts too) */
    uint64_t resume_off;        /* first byte the next attempt asks for */
} ossc_retry_plan;

/* HTTP statuses worth another attempt: 408 (request timeout), 429 (slow
 * down) and every 5xx.  Other 4xx (403 RequestTimeTooSkewed included: a
 * skewed clock stays skewed) are final. */
bool ossc_retry_status(int status);

/* curl errors worth another attempt: the connection or the transfer broke
 * (connect refused, timeouts, send/receive errors, a partial or empty
 * reply, HTTP/2 stream errors, TLS handshake errors, bad content
 * encoding).  Resolution, TLS verification, bad URLs and our own write
 * callbacks refusing data are final. */
bool ossc_retry_curl(int curl_code);

/* Backoff bounds before attempt `attempts + 1`: d = retry_base_ms doubled
 * per attempt after the first, capped at retry_max_ms; the delay is drawn
 * in [d/2, d] (jitter keeps the retries of many parts apart). */
void ossc_retry_backoff(const ossc_config *cfg, int attempts, uint64_t *min_ms,
                        uint64_t *max_ms);

/* The plan for one attempt's outcome.  A 2xx with CURLE_OK and no fault is
 * a success; so is a failed status or transport error not worth retrying
 * a final failure; an attempt worth retrying is retried while attempts <=
 * http.maxRetries. */
void ossc_retry_decide(const ossc_config *cfg, const ossc_attempt_result *a,
                       ossc_retry_plan *plan);

/* A delay drawn uniformly in the plan's bounds (rand_r on *seed). */
uint64_t ossc_retry_draw(const ossc_retry_plan *plan, unsigned *seed);

#endif
