/* client.c - creating a client: configuration, credentials, endpoint,
 * signature version and the two I/O engines (transfers and listings). */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "uri.h"

const char *ossc_version(void)
{
    return OSSC_VERSION;
}

int ossc_check_object(const char *op, const char *bucket, const char *key, ossc_error *err)
{
    if (!bucket || !bucket[0])
        return ossc_error_set(err, EINVAL, "%s: empty bucket name", op);
    if (!ossc_bucket_name_valid(bucket))
        return ossc_error_set(err, EINVAL, "%s: invalid bucket name '%s'", op, bucket);
    if (key && strlen(key) >= OSSC_KEY_MAX)
        return ossc_error_set(err, ENAMETOOLONG, "%s: key longer than %d bytes in bucket '%s'",
                              op, OSSC_KEY_MAX - 1, bucket);
    return 0;
}

int ossc_req_fail(const ossc_req *r, ossc_error *err)
{
    if (err)
        *err = r->err;
    return -1;
}

/* Threads x transfers per thread, and their nice value, for the client's
 * profile.  Only the model profile runs below the application's priority:
 * its prefetch reads ahead of demand (LD_PRELOAD, the model connector), so
 * the application's own start-up (import torch, building the model) should
 * not queue behind it for the CPU; a thread waiting for bytes leaves the
 * CPU to the fetch anyway. */
static void profile_concurrency(const ossc_config *cfg, ossc_profile p, int *threads, int *per,
                                int *nice)
{
    *nice = 0;
    switch (p) {
    case OSSC_PROFILE_DATASET:
        *threads = cfg->dataset.prefetch_worker;
        *per = cfg->dataset.prefetch_concurrency;
        break;
    case OSSC_PROFILE_CHECKPOINT:
        *threads = cfg->checkpoint.prefetch_worker;
        *per = cfg->checkpoint.prefetch_concurrency;
        break;
    case OSSC_PROFILE_MODEL:
    default:
        *threads = cfg->prefetch.vcpus;
        *per = cfg->prefetch.workers;
        *nice = cfg->prefetch.nice;
        break;
    }
}

static int init_credentials(ossc_client *c, const ossc_client_options *o, ossc_error *err)
{
    if (o->cred_callback)
        return ossc_cred_init_callback(&c->cred, o->cred_callback, o->cred_userdata, err);
    if (o->cred_path && o->cred_path[0])
        return ossc_cred_init_file(&c->cred, o->cred_path, err);
    return ossc_cred_init_env(&c->cred, err);
}

ossc_client *ossc_client_new(const ossc_client_options *o, ossc_error *err)
{
    ossc_client *c = NULL;
    bool cred_ready = false;
    ossc_error_clear(err);

    if (!o || !o->endpoint || !o->endpoint[0]) {
        ossc_error_set(err, EINVAL, "no endpoint given (e.g. 'oss-cn-hangzhou.aliyuncs.com')");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        ossc_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    c->profile = o->profile;
    if (ossc_config_load(o->config_path, &c->cfg, err) < 0)
        goto err;
    ossc_log_init(c->cfg.log_level, c->cfg.log_path);
    ossc_audit_init(c->cfg.audit_path, c->cfg.audit_threshold_ms);

    if (ossc_endpoint_parse(o->endpoint, c->cfg.http.path_style, &c->target.endpoint, err) < 0)
        goto err;
    if (init_credentials(c, o, err) < 0)
        goto err;
    cred_ready = true;
    c->target.cred = &c->cred;

    if (o->region && o->region[0])
        snprintf(c->target.region, sizeof(c->target.region), "%s", o->region);
    else
        snprintf(c->target.region, sizeof(c->target.region), "%s", c->target.endpoint.region);
    switch (c->cfg.http.sign_version) {
    case 1:
        c->target.sign_version = OSSC_SIGN_V1;
        break;
    case 4:
        if (!c->target.region[0]) {
            ossc_error_set(err, EINVAL,
                           "http.signVersion is 4 but no region was given and none can be "
                           "inferred from endpoint '%s'", o->endpoint);
            goto err;
        }
        c->target.sign_version = OSSC_SIGN_V4;
        break;
    default:
        c->target.sign_version = c->target.region[0] ? OSSC_SIGN_V4 : OSSC_SIGN_V1;
    }

    int threads, per, nice;
    profile_concurrency(&c->cfg, c->profile, &threads, &per, &nice);
    c->http = ossc_http_new(&c->cfg, &c->target, threads, per, nice, err);
    if (!c->http)
        goto err;
    int lt = c->cfg.fast_list.vcpus, lw = c->cfg.fast_list.workers;
    if (c->profile == OSSC_PROFILE_DATASET) {
        lt = c->cfg.dataset.list_worker;
        lw = c->cfg.dataset.list_concurrency;
    }
    c->list_http = ossc_http_new(&c->cfg, &c->target, lt, lw, 0, err);
    if (!c->list_http)
        goto err;
    c->upload_concurrency = c->cfg.checkpoint.upload_concurrency;

    OSSC_INFO("client for %s://%s:%d (%s addressing, sign V%d%s%s, %d x %d transfers)",
              c->target.endpoint.scheme, c->target.endpoint.host, c->target.endpoint.port,
              c->target.endpoint.path_style ? "path-style" : "virtual-hosted",
              (int)c->target.sign_version, c->target.region[0] ? ", region " : "",
              c->target.region, threads, per);
    return c;

err:
    if (c->http)
        ossc_http_free(c->http);
    if (cred_ready)
        ossc_cred_destroy(&c->cred);
    free(c);
    return NULL;
}

void ossc_client_free(ossc_client *c)
{
    if (!c)
        return;
    ossc_http_free(c->list_http);
    ossc_http_free(c->http);
    ossc_cred_destroy(&c->cred);
    if (c->peer_secret)
        explicit_bzero(c->peer_secret, c->peer_secret_len);
    free(c->peer_secret);
    free(c);
}

void ossc_client_count_arrivals(ossc_client *c, atomic_ullong *arrived)
{
    ossc_http_count_arrivals(c->http, arrived);
}

int ossc_client_concurrency(const ossc_client *c)
{
    return ossc_http_concurrency(c->http);
}

uint64_t ossc_client_part_size(const ossc_client *c)
{
    return c->cfg.http.part_size;
}

void ossc_client_lower_thread(const ossc_client *c)
{
    int threads, per, nice;
    profile_concurrency(&c->cfg, c->profile, &threads, &per, &nice);
    ossc_thread_lower_priority(nice);
}
