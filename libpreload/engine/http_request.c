/* http_request.c - requests (their inputs, copied), waitgroups to wait for
 * a group of them, and the engine's monotonic clock. */
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ossc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

double ossc_now_ms_precise(void)
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
    r->land_turn = -1;
    return r;
}

/* Appends copies of name and value (NULL: a bare name) to list, which
 * holds *n of its cap entries.  -1 when it is full or out of memory, with
 * nothing added. */
static int kv_add(ossc_kv *list, size_t *n, size_t cap, const char *name, const char *value)
{
    if (*n >= cap)
        return -1;
    char *nm = strdup(name);
    char *v = value ? strdup(value) : NULL;
    if (!nm || (value && !v)) {
        free(nm);
        free(v);
        return -1;
    }
    list[*n].name = nm;
    list[*n].value = v;
    (*n)++;
    return 0;
}

static void kv_free(ossc_kv *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)list[i].name);
        free((char *)list[i].value);
    }
}

void ossc_req_free(ossc_req *r)
{
    if (!r)
        return;
    kv_free(r->query, r->n_query);
    kv_free(r->headers, r->n_headers);
    free(r->resp);
    free(r);
}

int ossc_req_query(ossc_req *r, const char *name, const char *value)
{
    return kv_add(r->query, &r->n_query, OSSC_REQ_MAX_QUERY, name, value);
}

/* A header always has a value (an empty one is ""). */
int ossc_req_header(ossc_req *r, const char *name, const char *value)
{
    if (!value)
        return -1;
    return kv_add(r->headers, &r->n_headers, OSSC_REQ_MAX_HEADERS, name, value);
}
