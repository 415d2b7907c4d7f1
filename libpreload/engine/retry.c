/* retry.c - which attempts are tried again, how long to wait, where to
 * resume.  Pure: see retry.h. */
#include "retry.h"

#include <curl/curl.h>
#include <stdlib.h>

bool ossc_retry_status(int status)
{
    return status == 429 || status == 408 || status >= 500;
}

bool ossc_retry_curl(int curl_code)
{
    switch ((CURLcode)curl_code) {
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

void ossc_retry_backoff(const ossc_config *cfg, int attempts, uint64_t *min_ms,
                        uint64_t *max_ms)
{
    uint64_t cap = (uint64_t)cfg->http.retry_max_ms;
    uint64_t d = (uint64_t)cfg->http.retry_base_ms;
    for (int i = 1; i < attempts && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    *min_ms = d / 2;
    *max_ms = d;
}

/* Whether the attempt's outcome is worth another try, regardless of how
 * many were made; *ok when it is a success. */
static bool worth_retrying(const ossc_attempt_result *a, bool *ok)
{
    *ok = false;
    switch (a->fault) {
    case OSSC_FAULT_CANCELLED:
    case OSSC_FAULT_SINK:
    case OSSC_FAULT_CHANGED:
        return false;
    case OSSC_FAULT_BAD_REPLY:
    case OSSC_FAULT_OVERFLOW:
        return true;
    case OSSC_FAULT_NONE:
        break;
    }
    if (a->curl_code != CURLE_OK)
        return ossc_retry_curl(a->curl_code);
    if (a->http_status >= 200 && a->http_status < 300) {
        *ok = true;
        return false;
    }
    return ossc_retry_status(a->http_status);
}

void ossc_retry_decide(const ossc_config *cfg, const ossc_attempt_result *a,
                       ossc_retry_plan *plan)
{
    bool ok;
    bool again = worth_retrying(a, &ok);
    plan->retry = again && a->attempts <= cfg->http.max_retries;
    plan->exhausted = again && !plan->retry;
    plan->failed = !ok;
    plan->keep = a->fault == OSSC_FAULT_OVERFLOW ? 0 : a->received;
    plan->resume_off = a->range_off + plan->keep;
    plan->delay_min_ms = plan->delay_max_ms = 0;
    if (plan->retry)
        ossc_retry_backoff(cfg, a->attempts, &plan->delay_min_ms, &plan->delay_max_ms);
}

uint64_t ossc_retry_draw(const ossc_retry_plan *plan, unsigned *seed)
{
    uint64_t span = plan->delay_max_ms - plan->delay_min_ms;
    if (span == 0)
        return plan->delay_min_ms;
    return plan->delay_min_ms + (uint64_t)rand_r(seed) % (span + 1);
}
