/* http_judge.c - what one attempt came to: success, or an error that names
 * the method, the object and the endpoint (and the setting at fault where
 * one is), and whether the retry policy (retry.c) tries again. */
#include "http_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "retry.h"
#include "xml.h"

/* Names of what failed, for every message of this file. */
typedef struct attempt_names {
    char what[1200];            /* oss://bucket/key, oss://bucket or "service" */
    char endpoint[300];         /* scheme://host[:port] */
} attempt_names;

static void name_attempt(const ossc_http *h, const ossc_req *r, attempt_names *n)
{
    if (r->key[0])
        snprintf(n->what, sizeof(n->what), "oss://%s/%s", r->bucket, r->key);
    else if (r->bucket[0])
        snprintf(n->what, sizeof(n->what), "oss://%s", r->bucket);
    else
        snprintf(n->what, sizeof(n->what), "service");
    const ossc_endpoint *ep = &h->target.endpoint;
    if (ep->port)
        snprintf(n->endpoint, sizeof(n->endpoint), "%s://%s:%d", ep->scheme, ep->host, ep->port);
    else
        snprintf(n->endpoint, sizeof(n->endpoint), "%s://%s", ep->scheme, ep->host);
}

/* A complete 2xx reply: checks that its body is all it announced.
 * OSSC_FAULT_NONE, or OSSC_FAULT_BAD_REPLY with r->err filled. */
static ossc_attempt_fault judge_complete_body(ossc_req *r, const attempt_names *n)
{
    if (r->whole_body) {
        /* A 200 that ended by itself: the object ends there. */
        if (!r->got_all && !r->has_total_size) {
            r->total_size = r->body_seen;
            r->has_total_size = true;
        }
        return OSSC_FAULT_NONE;
    }
    if (ossc_req_has_sink(r) && r->has_range && r->attempt_received != r->expect_len) {
        ossc_error_set(&r->err, EIO, "%s %s via %s: short body (%" PRIu64 " of %" PRIu64 " bytes)",
                       r->method, n->what, n->endpoint, r->attempt_received, r->expect_len);
        return OSSC_FAULT_BAD_REPLY;
    }
    if (ossc_req_has_sink(r) && r->content_length >= 0 &&
        (int64_t)r->attempt_received != r->content_length) {
        ossc_error_set(&r->err, EIO, "%s %s: short body (%" PRIu64 " of %" PRId64 " bytes)",
                       r->method, n->what, r->attempt_received, r->content_length);
        return OSSC_FAULT_BAD_REPLY;
    }
    return OSSC_FAULT_NONE;
}

/* A reply with an error status: r->err from its XML error document (OSS
 * code, message, request id) or from the status alone. */
static void judge_error_status(ossc_req *r, const attempt_names *n)
{
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
    char cut[64] = "";
    char msg[OSSC_ERR_MSG_MAX + sizeof(n->what) + 128 + sizeof(cut)];
    if (r->resp_cut)
        snprintf(cut, sizeof(cut), "; error body cut at %u bytes", OSSC_PEER_ERR_BODY_MAX);
    snprintf(msg, sizeof(msg), "%s %s: %s (HTTP %d, request id %s%s)", r->method, n->what,
             r->err.message, r->http_status, r->err.request_id[0] ? r->err.request_id : "-",
             cut);
    snprintf(r->err.message, sizeof(r->err.message), "%.*s", (int)sizeof(r->err.message) - 1,
             msg);
}

/* The setting a timeout comes from: once connected, the speed floor; else
 * the connect timeout. */
static void timeout_hint(const ossc_http *h, const ossc_req *r, char *out, size_t cap)
{
    curl_off_t connect_us = 0;
    if (curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME_T, &connect_us) != CURLE_OK)
        connect_us = 0;
    if (r->http_status > 0 || connect_us > 0)
        snprintf(out, cap,
                 " (less than http.lowSpeedLimitBytes=%d bytes/s for http.lowSpeedTimeoutSec=%d s)",
                 h->cfg.http.low_speed_limit_bytes, h->cfg.http.low_speed_timeout_s);
    else
        snprintf(out, cap, " (no connection within http.connectTimeoutMs=%d ms)",
                 h->cfg.http.connect_timeout_ms);
}

/* A transport error: r->err with the errno that fits and, for timeouts
 * and TLS, the setting to look at. */
static void judge_transport(const ossc_http *h, ossc_req *r, CURLcode cc, const attempt_names *n)
{
    int code = EIO;
    char hint[160] = "";
    if (cc == CURLE_COULDNT_RESOLVE_HOST) {
        code = EHOSTUNREACH;
    } else if (cc == CURLE_COULDNT_CONNECT) {
        code = ECONNREFUSED;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        code = ETIMEDOUT;
        timeout_hint(h, r, hint, sizeof(hint));
    } else if (cc == CURLE_PEER_FAILED_VERIFICATION) {
        code = EACCES;
        snprintf(hint, sizeof(hint), "%s",
                 h->cfg.http.ca_file[0]
                     ? " (the certificate is not signed by the CA in http.caFile)"
                     : " (set http.caFile to the CA that signed the server's certificate)");
    } else if (cc == CURLE_SSL_CACERT_BADFILE) {
        code = EACCES;
        snprintf(hint, sizeof(hint), " (cannot use the CA file named by http.caFile)");
    }
    ossc_error_set(&r->err, code, "%s %s via %s: %s%s", r->method, n->what, n->endpoint,
                   r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc), hint);
}

/* Classifies the attempt for the retry policy, filling r->err for every
 * outcome but success.  *code: the curl code the policy is to see (a
 * transfer we stopped because the range was complete is a success). */
static ossc_attempt_fault classify(const ossc_http *h, ossc_req *r, CURLcode cc,
                                   const attempt_names *n, CURLcode *code)
{
    *code = cc;
    if (atomic_load(&r->cancelled)) {
        ossc_error_set(&r->err, ECANCELED, "%s %s: cancelled", r->method, n->what);
        return OSSC_FAULT_CANCELLED;
    }
    if (r->sink_errno) {
        ossc_error_set(&r->err, r->sink_errno, "%s %s: cannot write the bytes: %s", r->method,
                       n->what, strerror(r->sink_errno));
        return OSSC_FAULT_SINK;
    }
    if (r->changed) {
        ossc_error_set(&r->err, EIO, "%s %s: %s", r->method, n->what, r->wire_err);
        return OSSC_FAULT_CHANGED;
    }
    /* A reply that is not what we asked for: never taken, tried again (a
     * proxy or a connection may be at fault), then reported. */
    if (r->wire_err[0] || (cc == CURLE_WRITE_ERROR && r->overflow)) {
        ossc_error_set(&r->err, EIO, "%s %s via %s: %s", r->method, n->what, n->endpoint,
                       r->wire_err[0] ? r->wire_err : "server sent more bytes than asked");
        return r->overflow ? OSSC_FAULT_OVERFLOW : OSSC_FAULT_BAD_REPLY;
    }
    /* A transfer we stopped because the range was complete, or because a
     * peer's error body was too long (its status decides), is judged as
     * a reply that ended by itself. */
    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && (r->got_all || r->resp_cut))) {
        *code = CURLE_OK;
        if (r->http_status >= 200 && r->http_status < 300)
            return judge_complete_body(r, n);
        judge_error_status(r, n);
        return OSSC_FAULT_NONE;
    }
    judge_transport(h, r, cc, n);
    return OSSC_FAULT_NONE;
}

int ossc_attempt_judge(ossc_http *h, ossc_req *r, CURLcode cc, unsigned *rng)
{
    attempt_names n;
    name_attempt(h, r, &n);
    char range[48] = "";
    if (r->has_range) /* the bytes this attempt asked for (after a resume) */
        snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, r->attempt_off,
                 r->range_off + r->range_len - 1);
    ossc_audit_request(r->method, r->bucket, r->key, range, r->http_status,
                       ossc_now_ms_precise() - r->started_ms, r->attempt_received + r->resp_len,
                       r->request_id);

    /* A range that starts at or past the end of the object: nothing to
     * read; settle() checks that the size the 416 names agrees. */
    if (cc == CURLE_OK && r->http_status == 416 && r->has_range && ossc_req_has_sink(r) &&
        !atomic_load(&r->cancelled) && !r->sink_errno) {
        r->result = 0;
        return 0;
    }

    CURLcode code;
    ossc_attempt_result a = {
        .http_status = r->http_status,
        .fault = classify(h, r, cc, &n, &code),
        .attempts = r->attempts,
        .range_off = r->range_off,
        .received = r->received,
    };
    a.curl_code = (int)code;
    ossc_retry_plan plan;
    ossc_retry_decide(&h->cfg, &a, &plan);

    r->received = plan.keep;
    if (plan.keep == 0 && (plan.retry || a.fault == OSSC_FAULT_OVERFLOW))
        r->crc = 0; /* the CRC restarts with the bytes */
    if (plan.retry) {
        OSSC_INFO("retrying (attempt %d): %s", r->attempts + 1, r->err.message);
        r->not_before_ms = ossc_now_ms() + ossc_retry_draw(&plan, rng);
        return 1;
    }
    /* A peer's 503 or failure is routine (the caller picks another source
     * and logs a fallback), so it is no warning. */
    if (plan.exhausted && h->target.sign_version == OSSC_SIGN_PEER)
        OSSC_DEBUG("peer request failed: %s", r->err.message);
    else if (plan.exhausted)
        OSSC_WARN("giving up after %d attempts: %s", r->attempts, r->err.message);
    r->result = plan.failed ? -1 : 0;
    return 0;
}
