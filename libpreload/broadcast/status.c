/* status.c - the public broadcast API of ossc.h: ping the registry, and
 * every live node of every version of a model as JSON (what
 * `ossc broadcast status` and `ossc doctor` show). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "registry.h"

#define DEFAULT_TIMEOUT_MS 3000 /* for a timeout_ms <= 0 */

static bc_registry *open_registry(const char *redis_url, int timeout_ms, ossc_error *err)
{
    if (timeout_ms <= 0)
        timeout_ms = DEFAULT_TIMEOUT_MS;
    bc_redis_url u;
    if (bc_redis_url_parse(redis_url, &u, err) < 0)
        return NULL;
    bc_registry *r = bc_registry_connect(&u, timeout_ms, err);
    memset(u.password, 0, sizeof u.password);
    return r;
}

OSSC_API int ossc_broadcast_ping(const char *redis_url, int timeout_ms, ossc_error *err)
{
    ossc_error_clear(err);
    bc_registry *r = open_registry(redis_url, timeout_ms, err);
    if (!r)
        return -1;
    int rc = bc_registry_ping(r, err);
    bc_registry_free(r);
    return rc;
}

/* A JSON string of s; "?" when s is not UTF-8 (the registry's content
 * comes from other nodes: it must not make the whole view fail). */
static json_t *text(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?");
}

static json_t *node_json(const bc_node_info *n)
{
    return json_pack("{s:o, s:o, s:o, s:i, s:I, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:b}",
                     "id", text(n->id), "addr", text(n->addr), "hostname", text(n->hostname),
                     "pid", n->pid, "seq", (json_int_t)n->seq, "upstream", text(n->upstream),
                     "source", n->upstream[0] ? "peer" : "oss", "total", (json_int_t)n->total,
                     "recv_oss", (json_int_t)n->recv_oss, "recv_peer", (json_int_t)n->recv_peer,
                     "forwarded", (json_int_t)n->forwarded,
                     "files_done", (json_int_t)n->files_done, "complete", n->complete);
}

/* One version's object, or NULL with err (a version with no live node is
 * skipped by the caller: *empty = 1). */
static json_t *version_json(bc_registry *r, const char *vid, int *empty, ossc_error *err)
{
    bc_node_info *m = NULL;
    size_t n = 0;
    char path[2048];
    uint32_t nfiles = 0;
    uint64_t total = 0;
    *empty = 0;
    if (bc_registry_info(r, vid, path, sizeof path, &nfiles, &total, err) < 0 ||
        bc_registry_members(r, vid, &m, &n, err) < 0)
        return NULL;
    if (n == 0) {
        *empty = 1;
        free(m);
        return NULL;
    }
    json_t *nodes = json_array();
    json_t *v = json_pack("{s:o, s:o, s:I, s:I, s:o}", "vid", text(vid), "oss_path",
                          text(path), "nfiles", (json_int_t)nfiles, "total", (json_int_t)total,
                          "nodes", nodes);
    for (size_t i = 0; v && i < n; i++)
        if (json_array_append_new(nodes, node_json(&m[i])) < 0) {
            json_decref(v);
            v = NULL;
        }
    free(m);
    if (!v)
        ossc_error_set(err, ENOMEM, "broadcast status: cannot build the JSON (out of memory)");
    return v;
}

OSSC_API int ossc_broadcast_status(const char *redis_url, const char *oss_path, int timeout_ms,
                                   char **json_out, ossc_error *err)
{
    ossc_error_clear(err);
    *json_out = NULL;
    if (!oss_path || strncmp(oss_path, "oss://", 6) != 0)
        return ossc_error_set(err, EINVAL, "broadcast status: '%s' is not an oss:// path",
                              oss_path ? oss_path : "(null)");
    bc_registry *r = open_registry(redis_url, timeout_ms, err);
    if (!r)
        return -1;
    char **vids = NULL;
    size_t nv = 0;
    json_t *versions = json_array();
    json_t *root = json_pack("{s:o, s:s, s:o}", "oss_path", text(oss_path), "redis",
                             bc_registry_where(r), "versions", versions);
    int rc = -1;
    if (!root) {
        ossc_error_set(err, ENOMEM, "broadcast status: out of memory");
        goto out;
    }
    if (bc_registry_versions(r, oss_path, &vids, &nv, err) < 0)
        goto out;
    for (size_t i = 0; i < nv; i++) {
        int empty;
        json_t *v = version_json(r, vids[i], &empty, err);
        if (!v && !empty)
            goto out;
        if (v)
            json_array_append_new(versions, v);
    }
    if (!(*json_out = json_dumps(root, JSON_COMPACT))) {
        ossc_error_set(err, ENOMEM, "broadcast status: out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    bc_strings_free(vids, nv);
    bc_registry_free(r);
    return rc;
}

OSSC_API void ossc_string_free(char *s)
{
    free(s);
}
