/* http.c - I/O threads driving libcurl multi handles.
 *
 * Each I/O thread owns one CURLM and a queue of requests.  Submission picks
 * the least loaded thread, appends to its queue and wakes its multi handle.
 * The thread keeps at most `per_thread` transfers active; the rest wait in
 * the queue.  Each attempt is set up by http_setup.c, its reply taken by
 * http_reply.c's callbacks, its outcome judged by http_judge.c; attempts
 * the retry policy (retry.c) tries again wait in `delayed` until their
 * backoff is due.  Every curl_multi_* result is checked: a failure either
 * ends the request it concerns or is logged naming the call. */
#include "http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "forkgate.h"
#include "log.h"
#include "thread_name.h"

/* Logs a failed curl_multi_* call where no request can carry the error
 * (the loop, teardown); returns whether it failed. */
static bool multi_failed(CURLMcode mc, const char *call)
{
    if (mc == CURLM_OK)
        return false;
    OSSC_ERROR("%s: %s", call, curl_multi_strerror(mc));
    return true;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_global_status;

/* libcurl's global init is not thread-safe; do it once per process. */
static void curl_global_once(void)
{
    curl_global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------- I/O threads */

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

/* Ranged GETs into caller memory or a file: the transfers whose rate the
 * part size of a read depends on (adapt.c). */
static bool counts_for_adapt(const ossc_req *r)
{
    return r->has_range && ossc_req_has_sink(r) && !r->body && !r->head_only;
}

/* Feeds one finished GET attempt to the controller: its wait for the first
 * byte (after the connection was ready), its body rate, how many GETs ran
 * with it (the most of when it started and when it ended) and whether it
 * opened a connection.  Failed attempts and replies without a body say
 * nothing about the link's rate. */
static void adapt_sample(ossc_http *h, ossc_req *r, CURL *e, CURLcode cc)
{
    int now = atomic_fetch_sub(&h->gets_active, 1);
    if (cc != CURLE_OK || (r->http_status != 206 && r->http_status != 200))
        return;
    curl_off_t pre = 0, first = 0, total = 0, bytes = 0;
    long connects = 0;
    if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &first) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &bytes) != CURLE_OK || bytes <= 0)
        return;
    int concurrent = now > r->adapt_concurrent ? now : r->adapt_concurrent;
    pthread_mutex_lock(&h->adapt_lock);
    ossc_adapt_sample(&h->adapt, (uint64_t)bytes, (double)(first - pre) / 1000.0,
                      (double)(total - first) / 1000.0, concurrent, connects > 0);
    pthread_mutex_unlock(&h->adapt_lock);
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
    if (ossc_attempt_setup(t->http, r) < 0) {
        r->result = -1;
        finish(t, r);
        return;
    }
    CURLMcode mc = curl_multi_add_handle(t->multi, r->easy);
    if (mc != CURLM_OK) {
        r->result = ossc_error_set(&r->err, mc == CURLM_OUT_OF_MEMORY ? ENOMEM : EIO,
                                   "%s %s/%s: curl_multi_add_handle failed: %s", r->method,
                                   r->bucket, r->key, curl_multi_strerror(mc));
        finish(t, r);
        return;
    }
    t->active++;
    active_link(t, r);
    if (counts_for_adapt(r))
        r->adapt_concurrent = atomic_fetch_add(&t->http->gets_active, 1) + 1;
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
        if (curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK || !r) {
            /* Cannot happen with libcurl as documented; the active list
             * finds the request all the same, so it is never lost. */
            OSSC_ERROR("curl_easy_getinfo(CURLINFO_PRIVATE) failed; searching the transfer");
            for (r = t->active_head; r && r->easy != e; r = r->active_next)
                ;
        }
        multi_failed(curl_multi_remove_handle(t->multi, e), "curl_multi_remove_handle");
        if (!r)
            continue;
        if (counts_for_adapt(r))
            adapt_sample(t->http, r, e, cc);
        active_unlink(t, r);
        t->active--;
        if (ossc_attempt_judge(t->http, r, cc, &t->rng)) {
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
    char name[16];
    snprintf(name, sizeof(name), "ossc-io-%d", (int)(t - h->threads));
    ossc_thread_name(name);
    ossc_thread_lower_priority(h->nice);

    while (!atomic_load(&h->stopping)) {
        ossc_forkgate_enter();
        admit(t);
        int running = 0;
        multi_failed(curl_multi_perform(t->multi, &running), "curl_multi_perform");
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
        multi_failed(curl_multi_poll(t->multi, NULL, 0, (int)timeout, NULL), "curl_multi_poll");
    }
    return NULL;
}

/* Fails every request still owned by a thread that has stopped. */
static void drain(ossc_io_thread *t)
{
    while (t->active_head) {
        ossc_req *r = t->active_head;
        if (counts_for_adapt(r))
            atomic_fetch_sub(&t->http->gets_active, 1);
        active_unlink(t, r);
        multi_failed(curl_multi_remove_handle(t->multi, r->easy), "curl_multi_remove_handle");
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
        multi_failed(curl_multi_wakeup(h->threads[i].multi), "curl_multi_wakeup");
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
            multi_failed(curl_multi_cleanup(h->threads[i].multi), "curl_multi_cleanup");
        pthread_mutex_destroy(&h->threads[i].lock);
    }
    ossc_forkgate_leave();
    pthread_mutex_destroy(&h->adapt_lock);
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
        ossc_error_set(err, EIO, "curl_global_init failed: %s",
                       curl_easy_strerror(curl_global_status));
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
    pthread_mutex_init(&h->adapt_lock, NULL);
    ossc_adapt_init(&h->adapt, cfg->http.adaptive, cfg->http.part_size, cfg->http.part_size_set,
                    threads * per_thread);
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
        CURLMcode mc = curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)per_thread * 2);
        if (mc != CURLM_OK) {
            http_teardown(h, 0);
            ossc_error_set(err, EIO, "curl_multi_setopt(CURLMOPT_MAXCONNECTS) failed: %s",
                           curl_multi_strerror(mc));
            return NULL;
        }
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

void ossc_http_count_arrivals(ossc_http *h, atomic_ullong *arrived)
{
    atomic_store_explicit(&h->arrived, arrived, memory_order_release);
}

int ossc_http_concurrency(const ossc_http *h)
{
    return h->nthreads * h->per_thread;
}

uint64_t ossc_http_part_for(ossc_http *h, uint64_t len)
{
    pthread_mutex_lock(&h->adapt_lock);
    uint64_t part = ossc_adapt_part_for(&h->adapt, len);
    pthread_mutex_unlock(&h->adapt_lock);
    return part;
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
    /* A failed wakeup costs latency only: the loop polls at least once a second. */
    multi_failed(curl_multi_wakeup(best->multi), "curl_multi_wakeup");
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
