/* test_retry.c - the retry policy (retry.c): which statuses and curl errors
 * are tried again, how many times, the backoff bounds, and where a ranged
 * GET resumes after a partial body. */
#include <curl/curl.h>
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "etag.h" /* ossc_etag_same, ossc_etag_opaque */
#include "http.h"
#include "retry.h"

static ossc_config cfg;

/* The plan for one attempt with the given status, curl code and fault. */
static ossc_retry_plan plan_for(int status, CURLcode cc, ossc_attempt_fault fault, int attempts)
{
    ossc_attempt_result a = {
        .http_status = status,
        .curl_code = (int)cc,
        .fault = fault,
        .attempts = attempts,
        .range_off = 1000,
        .received = 300,
    };
    ossc_retry_plan p;
    ossc_retry_decide(&cfg, &a, &p);
    return p;
}

static void statuses(void)
{
    /* Retried: every 5xx, 429 (slow down), 408 (request timeout). */
    int again[] = {500, 502, 503, 504, 599, 429, 408};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        CHECK(ossc_retry_status(again[i]));
        ossc_retry_plan p = plan_for(again[i], CURLE_OK, OSSC_FAULT_NONE, 1);
        CHECK(p.retry && !p.exhausted);
    }
    /* Final: other 4xx, 403 RequestTimeTooSkewed included (a skewed clock
     * stays skewed), and redirects we do not follow. */
    int final[] = {400, 401, 403, 404, 405, 409, 412, 416, 301, 304};
    for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
        CHECK(!ossc_retry_status(final[i]));
        ossc_retry_plan p = plan_for(final[i], CURLE_OK, OSSC_FAULT_NONE, 1);
        CHECK(!p.retry && p.failed && !p.exhausted);
    }
    /* Success: any 2xx with the transfer complete. */
    int ok[] = {200, 204, 206};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ossc_retry_plan p = plan_for(ok[i], CURLE_OK, OSSC_FAULT_NONE, 1);
        CHECK(!p.retry && !p.failed);
    }
}

static void curl_errors(void)
{
    CURLcode again[] = {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
                        CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_HTTP2,
                        CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR,
                        CURLE_BAD_CONTENT_ENCODING};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        CHECK(ossc_retry_curl(again[i]));
        /* Whatever status the broken transfer had seen. */
        ossc_retry_plan p = plan_for(206, again[i], OSSC_FAULT_NONE, 1);
        CHECK(p.retry);
    }
    CURLcode final[] = {CURLE_COULDNT_RESOLVE_HOST, CURLE_PEER_FAILED_VERIFICATION,
                        CURLE_SSL_CACERT_BADFILE, CURLE_URL_MALFORMAT, CURLE_WRITE_ERROR,
                        CURLE_OUT_OF_MEMORY, CURLE_UNSUPPORTED_PROTOCOL,
                        CURLE_ABORTED_BY_CALLBACK};
    for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
        CHECK(!ossc_retry_curl(final[i]));
        ossc_retry_plan p = plan_for(0, final[i], OSSC_FAULT_NONE, 1);
        CHECK(!p.retry && p.failed);
    }
    CHECK(!ossc_retry_curl(CURLE_OK));
}

static void faults(void)
{
    /* Cancelled or our own file failing: final whatever the reply was. */
    ossc_retry_plan p = plan_for(503, CURLE_RECV_ERROR, OSSC_FAULT_CANCELLED, 1);
    CHECK(!p.retry && p.failed && !p.exhausted);
    p = plan_for(206, CURLE_WRITE_ERROR, OSSC_FAULT_SINK, 1);
    CHECK(!p.retry && p.failed);
    /* A resume of another version of the object: never resumed (the
     * future reads everything again, once). */
    p = plan_for(206, CURLE_WRITE_ERROR, OSSC_FAULT_CHANGED, 1);
    CHECK(!p.retry && p.failed && !p.exhausted);
    /* A reply breaking the protocol: retried even with a 2xx and CURLE_OK. */
    p = plan_for(206, CURLE_OK, OSSC_FAULT_BAD_REPLY, 1);
    CHECK(p.retry);
    p = plan_for(206, CURLE_WRITE_ERROR, OSSC_FAULT_OVERFLOW, 1);
    CHECK(p.retry);
}

static void attempts_limit(void)
{
    cfg.http.max_retries = 2; /* three attempts in all */
    CHECK(plan_for(503, CURLE_OK, OSSC_FAULT_NONE, 1).retry);
    CHECK(plan_for(503, CURLE_OK, OSSC_FAULT_NONE, 2).retry);
    ossc_retry_plan p = plan_for(503, CURLE_OK, OSSC_FAULT_NONE, 3);
    CHECK(!p.retry && p.failed && p.exhausted);
    p = plan_for(206, CURLE_RECV_ERROR, OSSC_FAULT_NONE, 3);
    CHECK(!p.retry && p.failed && p.exhausted);
    cfg.http.max_retries = 0; /* one attempt */
    p = plan_for(503, CURLE_OK, OSSC_FAULT_NONE, 1);
    CHECK(!p.retry && p.failed && p.exhausted);
    cfg.http.max_retries = 5;
}

static void backoff(void)
{
    uint64_t lo, hi;
    cfg.http.retry_base_ms = 100;
    cfg.http.retry_max_ms = 1000;
    /* d = base * 2^(attempts-1), capped; drawn in [d/2, d]. */
    uint64_t expect[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; a++) {
        ossc_retry_backoff(&cfg, a, &lo, &hi);
        CHECK(hi == expect[a - 1]);
        CHECK(lo == expect[a - 1] / 2);
    }
    /* No overflow however many attempts. */
    ossc_retry_backoff(&cfg, 100, &lo, &hi);
    CHECK(hi == 1000 && lo == 500);
    cfg.http.retry_base_ms = 60000;
    cfg.http.retry_max_ms = 600000;
    ossc_retry_backoff(&cfg, 101, &lo, &hi);
    CHECK(hi == 600000 && lo == 300000);
    /* base == max: always that. */
    cfg.http.retry_base_ms = cfg.http.retry_max_ms = 50;
    ossc_retry_backoff(&cfg, 3, &lo, &hi);
    CHECK(hi == 50 && lo == 25);

    /* The plan carries the bounds; draws stay inside and spread over them. */
    cfg.http.retry_base_ms = 100;
    cfg.http.retry_max_ms = 5000;
    ossc_retry_plan p = plan_for(500, CURLE_OK, OSSC_FAULT_NONE, 3);
    CHECK(p.delay_min_ms == 200 && p.delay_max_ms == 400);
    unsigned seed = 12345;
    uint64_t seen_lo = UINT64_MAX, seen_hi = 0;
    int inside = 1;
    for (int i = 0; i < 2000; i++) {
        uint64_t d = ossc_retry_draw(&p, &seed);
        inside &= d >= 200 && d <= 400;
        seen_lo = d < seen_lo ? d : seen_lo;
        seen_hi = d > seen_hi ? d : seen_hi;
    }
    CHECK(inside);
    CHECK(seen_lo < 220 && seen_hi > 380); /* jitter, not a constant */
    /* A finished request has no delay. */
    p = plan_for(404, CURLE_OK, OSSC_FAULT_NONE, 1);
    CHECK(p.delay_min_ms == 0 && p.delay_max_ms == 0);
}

static void resume(void)
{
    /* After a partial body the next attempt asks for the bytes not yet
     * received: range_off 1000, 300 received -> from 1300. */
    ossc_retry_plan p = plan_for(206, CURLE_PARTIAL_FILE, OSSC_FAULT_NONE, 1);
    CHECK(p.retry && p.keep == 300 && p.resume_off == 1300);
    p = plan_for(206, CURLE_OK, OSSC_FAULT_BAD_REPLY, 1);
    CHECK(p.keep == 300 && p.resume_off == 1300);
    p = plan_for(503, CURLE_OK, OSSC_FAULT_NONE, 1);
    CHECK(p.keep == 300 && p.resume_off == 1300);
    /* More bytes than asked: this attempt's bytes may sit at the wrong
     * place, so everything is fetched again from the range's start. */
    p = plan_for(206, CURLE_WRITE_ERROR, OSSC_FAULT_OVERFLOW, 1);
    CHECK(p.retry && p.keep == 0 && p.resume_off == 1000);
    /* Nothing received yet: from the start. */
    ossc_attempt_result a = {.http_status = 0, .curl_code = CURLE_COULDNT_CONNECT,
                             .attempts = 1, .range_off = 7, .received = 0};
    ossc_retry_decide(&cfg, &a, &p);
    CHECK(p.retry && p.keep == 0 && p.resume_off == 7);
}

/* Which ETags name one version, for the resume check (http_reply.c): a
 * proxy's weak prefix, quotes and letter case are not a new version;
 * other digits are. */
static void etag_versions(void)
{
    CHECK(ossc_etag_same("5B3C1A2E", "5B3C1A2E"));
    CHECK(ossc_etag_same("W/\"5B3C1A2E\"", "5B3C1A2E"));
    CHECK(ossc_etag_same("5b3c1a2e", "W/5B3C1A2E"));
    CHECK(!ossc_etag_same("5B3C1A2E", "5B3C1A2F"));
    CHECK(!ossc_etag_same("5B3C1A2E", "5B3C1A2E-2"));
    CHECK(!ossc_etag_same("W/", "5B"));
    CHECK(ossc_etag_same("", ""));

    /* What If-Match sends: the opaque part, checked (etag.h). */
    char out[OSSC_ETAG_MAX];
    CHECK(ossc_etag_opaque("W/\"5B3C-2\"", out, sizeof out));
    CHECK(strcmp(out, "5B3C-2") == 0);
    CHECK(ossc_etag_opaque("5B3C", out, sizeof out) && strcmp(out, "5B3C") == 0);
    CHECK(ossc_etag_opaque("caf\xc3\xa9", out, sizeof out)); /* obs-text is allowed */
    const char *refused[] = {"", "\"\"", "W/", "a b", "a\"b", "a\\b", "a\r\nX-Evil: 1",
                             "a\tb", "a\x7f"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK(!ossc_etag_opaque(refused[i], out, sizeof out));
    char longest[OSSC_ETAG_MAX + 1];
    memset(longest, 'A', OSSC_ETAG_MAX - 1);
    longest[OSSC_ETAG_MAX - 1] = '\0'; /* 127: fits */
    CHECK(ossc_etag_opaque(longest, out, sizeof out) && strlen(out) == OSSC_ETAG_MAX - 1);
    longest[OSSC_ETAG_MAX - 1] = 'A';
    longest[OSSC_ETAG_MAX] = '\0'; /* 128: does not */
    CHECK(!ossc_etag_opaque(longest, out, sizeof out));
}

int main(void)
{
    ossc_config_defaults(&cfg);
    etag_versions();
    statuses();
    curl_errors();
    faults();
    attempts_limit();
    backoff();
    resume();
    return check_summary("test_retry");
}
