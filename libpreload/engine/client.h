/* client.h - what every operation needs from an ossc_client. */
#ifndef OSSC_CLIENT_H
#define OSSC_CLIENT_H

#include "config.h"
#include "cred.h"
#include "http.h"
#include "ossc.h"

struct ossc_client {
    ossc_config cfg;
    ossc_cred_source cred;
    ossc_target target;
    ossc_http *http;        /* transfers: sized by the client's profile */
    ossc_http *list_http;   /* listings: fastList / datasetConfig.list* */
    ossc_profile profile;
    int upload_concurrency;
    uint8_t *peer_secret;   /* a peer client's shared secret (target.peer_secret):
                               owned, cleansed when the client is freed */
    size_t peer_secret_len;
};

/* From now on, body bytes of c's ranged GETs are added to *arrived as
 * each piece is written into its destination (NULL: no longer counted):
 * a broadcasting node's progress, whatever its source (OSS or a peer),
 * which its chunk server's 503s report (broadcast/server.h).  Cheap (one
 * atomic add per piece); may be called again, from any thread. */
void ossc_client_count_arrivals(ossc_client *c, atomic_ullong *arrived);

/* Validates bucket and key of an operation; EINVAL naming what is wrong. */
int ossc_check_object(const char *op, const char *bucket, const char *key, ossc_error *err);

/* Copies a finished request's error into err with the operation's context. */
int ossc_req_fail(const ossc_req *r, ossc_error *err);

#endif
