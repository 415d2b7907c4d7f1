/* registry.c - the broadcast registry on Redis (see registry.h for the key
 * schema).  One synchronous hiredis context per registry, with the
 * caller's timeout for the connect and for every reply, so no call waits
 * longer than that on a dead or silent server.
 *
 * Every key expires: a node's hash after the caller's ttl (the heartbeat),
 * the others after BC_REGISTRY_KEEP_S, renewed by every join and
 * heartbeat, so a fleet that is gone leaves nothing behind. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "error.h"
#include "hostport.h"
#include "log.h"
#include "registry.h"

#define BC_REGISTRY_KEEP_S 86400 /* seq, members, info, path index: one day */
#define KEY_MAX 2304             /* an OSS_PATH is at most ~1100 bytes */
#define SEQ_MAX 9007199254740992.0 /* 2^53: the scores INCR writes stay exact below */

struct bc_registry {
    redisContext *c;
    char where[300]; /* "host:port db N", for messages */
    int timeout_ms;
};

static struct timeval tv_of(int ms)
{
    if (ms <= 0)
        ms = 1;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* errno and words for a context error (the connection is unusable after). */
static int context_error(bc_registry *r, ossc_error *err, const char *what)
{
    redisContext *c = r->c;
    int code = EIO;
    const char *why = c ? c->errstr : "out of memory";
    if (c && c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == ETIMEDOUT ||
                                        strstr(c->errstr, "timed out") ||
                                        strstr(c->errstr, "temporarily unavailable"))) {
        return ossc_error_set(err, ETIMEDOUT, "broadcast redis %s: %s: no answer within %d ms",
                              r->where, what, r->timeout_ms);
    }
    if (c && strstr(c->errstr, "refused"))
        code = ECONNREFUSED;
    else if (c && c->err == REDIS_ERR_EOF)
        code = ECONNRESET;
    else if (!c)
        code = ENOMEM;
    return ossc_error_set(err, code, "broadcast redis %s: %s: %s", r->where, what, why);
}

/* errno for an error reply: NOAUTH/WRONGPASS -> EACCES. */
static int reply_error(bc_registry *r, ossc_error *err, const char *what, const redisReply *rep)
{
    const char *s = rep->str ? rep->str : "";
    int code = EIO;
    const char *hint = "";
    if (!strncmp(s, "NOAUTH", 6)) {
        code = EACCES;
        hint = " (the server wants a password: redis://:PASSWORD@host:port)";
    } else if (!strncmp(s, "WRONGPASS", 9) || strstr(s, "invalid password") ||
               strstr(s, "invalid username-password")) {
        code = EACCES;
        hint = " (check the password in the URL)";
    } else if (strstr(s, "without any password configured") ||
               strstr(s, "no password is set")) {
        code = EACCES;
        hint = " (the server has no password: leave it out of the URL)";
    } else if (strstr(s, "DB index")) {
        code = EINVAL;
    }
    return ossc_error_set(err, code, "broadcast redis %s: %s: %.200s%s", r->where, what, s,
                          hint);
}

/* One command and its reply; NULL with err filled on a context error or an
 * error reply.  The caller frees the reply. */
static redisReply *command(bc_registry *r, ossc_error *err, const char *what, int argc,
                           const char **argv, const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (!rep) {
        context_error(r, err, what);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        reply_error(r, err, what, rep);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* command() with NUL-terminated arguments given inline, NULL-terminated. */
static redisReply *commandv(bc_registry *r, ossc_error *err, const char *what, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, what);
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *));)
        argv[argc++] = a;
    va_end(ap);
    return command(r, err, what, argc, argv, NULL);
}

bc_registry *bc_registry_connect(const bc_redis_url *u, int timeout_ms, ossc_error *err)
{
    bc_registry *r = calloc(1, sizeof *r);
    if (!r) {
        ossc_error_set(err, ENOMEM, "broadcast redis: out of memory");
        return NULL;
    }
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    snprintf(r->where, sizeof r->where, "%s%s%s:%d db %d", strchr(u->host, ':') ? "[" : "",
             u->host, strchr(u->host, ':') ? "]" : "", u->port, u->db);
    r->c = redisConnectWithTimeout(u->host, u->port, tv_of(r->timeout_ms));
    if (!r->c || r->c->err) {
        context_error(r, err, "cannot connect");
        goto fail;
    }
    if (redisSetTimeout(r->c, tv_of(r->timeout_ms)) != REDIS_OK) {
        context_error(r, err, "cannot set the reply timeout");
        goto fail;
    }
    redisReply *rep = NULL;
    if (u->password[0]) {
        rep = u->user[0] ? commandv(r, err, "AUTH", "AUTH", u->user, u->password, NULL)
                         : commandv(r, err, "AUTH", "AUTH", u->password, NULL);
        if (!rep)
            goto fail;
        freeReplyObject(rep);
    }
    if (u->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", u->db);
        rep = commandv(r, err, "SELECT", "SELECT", db, NULL);
        if (!rep)
            goto fail;
        freeReplyObject(rep);
    }
    return r;
fail:
    bc_registry_free(r);
    return NULL;
}

void bc_registry_free(bc_registry *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

int bc_registry_ping(bc_registry *r, ossc_error *err)
{
    redisReply *rep = commandv(r, err, "PING", "PING", NULL);
    if (!rep)
        return -1;
    int ok = rep->type == REDIS_REPLY_STATUS && rep->str && !strcmp(rep->str, "PONG");
    freeReplyObject(rep);
    if (!ok)
        return ossc_error_set(err, EPROTO, "broadcast redis %s: PING: not a Redis server's "
                              "answer", r->where);
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static int key(bc_registry *r, ossc_error *err, char out[KEY_MAX], const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key(bc_registry *r, ossc_error *err, char out[KEY_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, KEY_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= KEY_MAX)
        return ossc_error_set(err, ENAMETOOLONG, "broadcast redis %s: key too long (%.80s...)",
                              r->where, out);
    return 0;
}

/* The path index key: OSS_PATH without trailing '/', so that
 * oss://b/model and oss://b/model/ are one model. */
static int path_key(bc_registry *r, ossc_error *err, char out[KEY_MAX], const char *oss_path)
{
    size_t len = strlen(oss_path);
    while (len > 0 && oss_path[len - 1] == '/')
        len--;
    if (len > KEY_MAX - 32)
        return ossc_error_set(err, ENAMETOOLONG, "broadcast redis %s: OSS path too long",
                              r->where);
    return key(r, err, out, "ossc:bc:path:%.*s", (int)len, oss_path);
}

/* ---- node hash ------------------------------------------------------------ */

#define NODE_FIELDS 12

/* HSET <k> field value ... for self, into argv (strings live in buf). */
typedef struct node_argv {
    const char *argv[2 + 2 * NODE_FIELDS];
    char num[8][24];
} node_argv;

static void node_hset_argv(node_argv *a, const char *k, const bc_node_info *n)
{
    int i = 0, d = 0;
    a->argv[i++] = "HSET";
    a->argv[i++] = k;
#define STR(f)                 \
    a->argv[i++] = #f;         \
    a->argv[i++] = n->f;
#define NUM(f, fmt, v)                                  \
    snprintf(a->num[d], sizeof a->num[d], fmt, v);      \
    a->argv[i++] = #f;                                  \
    a->argv[i++] = a->num[d++];
    STR(id)
    STR(addr)
    STR(hostname)
    STR(upstream)
    NUM(pid, "%d", n->pid)
    NUM(seq, "%lld", n->seq)
    NUM(total, "%" PRIu64, n->total)
    NUM(recv_oss, "%" PRIu64, n->recv_oss)
    NUM(recv_peer, "%" PRIu64, n->recv_peer)
    NUM(forwarded, "%" PRIu64, n->forwarded)
    NUM(files_done, "%" PRIu32, n->files_done)
    a->argv[i++] = "complete";
    a->argv[i++] = n->complete ? "1" : "0";
#undef STR
#undef NUM
}

static void copy_field(char *dst, size_t cap, const redisReply *v)
{
    size_t len = v->len < cap - 1 ? v->len : cap - 1;
    memcpy(dst, v->str, len);
    dst[len] = '\0';
}

/* bc_node_info from an HGETALL reply (field, value, ...); unknown fields
 * are ignored, numbers that do not parse read as 0. */
static void node_from_hash(bc_node_info *n, const redisReply *h)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char num[32];
        copy_field(num, sizeof num, v);
        unsigned long long u = strtoull(num, NULL, 10);
        if (!strcmp(f->str, "id"))
            copy_field(n->id, sizeof n->id, v);
        else if (!strcmp(f->str, "addr"))
            copy_field(n->addr, sizeof n->addr, v);
        else if (!strcmp(f->str, "hostname"))
            copy_field(n->hostname, sizeof n->hostname, v);
        else if (!strcmp(f->str, "upstream"))
            copy_field(n->upstream, sizeof n->upstream, v);
        else if (!strcmp(f->str, "pid"))
            n->pid = (int)strtol(num, NULL, 10);
        else if (!strcmp(f->str, "total"))
            n->total = u;
        else if (!strcmp(f->str, "recv_oss"))
            n->recv_oss = u;
        else if (!strcmp(f->str, "recv_peer"))
            n->recv_peer = u;
        else if (!strcmp(f->str, "forwarded"))
            n->forwarded = u;
        else if (!strcmp(f->str, "files_done"))
            n->files_done = (uint32_t)u;
        else if (!strcmp(f->str, "complete"))
            n->complete = u != 0;
    }
}

/* ---- what a member's entries may hold ----------------------------------- */

/* v's text for a log line: at most 64 bytes, anything but printable ASCII
 * as '?' (whoever can write to Redis chose it: no newline or escape
 * sequence reaches the log). */
static void printable(const redisReply *v, char *out, size_t cap)
{
    size_t n = 0;
    if (v && v->type == REDIS_REPLY_STRING)
        for (; n < v->len && n + 1 < cap && n < 64; n++)
            out[n] = v->str[n] >= 0x20 && v->str[n] < 0x7f ? v->str[n] : '?';
    out[n] = '\0';
}

/* The value of field `name` in an HGETALL reply (field, value, ...);
 * NULL when absent. */
static const redisReply *hash_field(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (f->type == REDIS_REPLY_STRING && !strcmp(f->str, name))
            return h->element[i + 1];
    }
    return NULL;
}

/* True when v is an address peers can be fetched from: host:port as
 * hostport.h writes it (a bracketed host is an IPv6 address, checked
 * there), a plain host as bc_hostport_name_ok says, a port other than 0, whole
 * in bc_node_info.addr (no cut, no NUL: what is checked is what is used). */
static bool addr_valid(const redisReply *v)
{
    char addr[sizeof(((bc_node_info *)0)->addr)], host[sizeof addr];
    int port;
    if (!v || v->type != REDIS_REPLY_STRING || v->len >= sizeof addr ||
        memchr(v->str, '\0', v->len))
        return false;
    copy_field(addr, sizeof addr, v);
    return bc_hostport_split(addr, host, sizeof host, &port) == 0 && port > 0 &&
           (addr[0] == '[' || bc_hostport_name_ok(host));
}

/* The join order a members score stands for, into *seq; false when it is
 * not a finite number in 0..2^53 (INCR writes 1, 2, ...; casting an
 * infinity, a NaN or a value beyond long long to it is undefined). */
static bool seq_of_score(const redisReply *score, long long *seq)
{
    char num[32], *end;
    if (score->type != REDIS_REPLY_STRING || score->len >= sizeof num)
        return false;
    copy_field(num, sizeof num, score);
    double d = strtod(num, &end);
    if (end == num || *end || !isfinite(d) || d < 0 || d > SEQ_MAX)
        return false;
    *seq = (long long)d;
    return true;
}

/* ---- join ----------------------------------------------------------------- */

/* KEYS: seq members node info path.  ARGV: keep-seconds, node ttl, id,
 * oss_path, nfiles, total, vid, then the node hash's field/value pairs
 * (its seq field is overwritten with the seq taken).  Returns the seq. */
#define JOIN_SCRIPT                                                                  \
    "local s = redis.call('INCR', KEYS[1]) "                                         \
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) "                                        \
    "redis.call('ZADD', KEYS[2], s, ARGV[3]) "                                       \
    "redis.call('EXPIRE', KEYS[2], ARGV[1]) "                                        \
    "redis.call('HSET', KEYS[3], unpack(ARGV, 8)) "                                  \
    "redis.call('HSET', KEYS[3], 'seq', s) "                                         \
    "redis.call('EXPIRE', KEYS[3], ARGV[2]) "                                        \
    "redis.call('HSET', KEYS[4], 'oss_path', ARGV[4], 'nfiles', ARGV[5], 'total', ARGV[6]) " \
    "redis.call('EXPIRE', KEYS[4], ARGV[1]) "                                        \
    "redis.call('SADD', KEYS[5], ARGV[7]) "                                          \
    "redis.call('EXPIRE', KEYS[5], ARGV[1]) "                                        \
    "return s"

/* ---- pipelines ------------------------------------------------------------ */

/* Sends n queued commands' replies back: the first error (context or
 * reply) into err; every reply is read so the connection stays in step. */
static int drain(bc_registry *r, int n, ossc_error *err, const char *what)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
            return rc < 0 ? rc : context_error(r, err, what);
        }
        if (rep->type == REDIS_REPLY_ERROR && rc == 0)
            rc = reply_error(r, err, what, rep);
        /* EXEC answers nil when the transaction was aborted, an array of
         * replies otherwise: an error inside fails it too. */
        if (rep->type == REDIS_REPLY_ARRAY && rc == 0)
            for (size_t j = 0; j < rep->elements; j++)
                if (rep->element[j]->type == REDIS_REPLY_ERROR) {
                    rc = reply_error(r, err, what, rep->element[j]);
                    break;
                }
        freeReplyObject(rep);
    }
    return rc;
}

static void append_expire(bc_registry *r, const char *k, int s)
{
    char secs[16];
    snprintf(secs, sizeof secs, "%d", s > 0 ? s : 1);
    redisAppendCommand(r->c, "EXPIRE %s %s", k, secs);
}

int bc_registry_join(bc_registry *r, const char *vid, const char *oss_path, uint32_t nfiles,
                     bc_node_info *self, int ttl_s, ossc_error *err)
{
    char k_seq[KEY_MAX], k_members[KEY_MAX], k_node[KEY_MAX], k_info[KEY_MAX], k_path[KEY_MAX];
    if (key(r, err, k_seq, "ossc:bc:%s:seq", vid) < 0 ||
        key(r, err, k_members, "ossc:bc:%s:members", vid) < 0 ||
        key(r, err, k_node, "ossc:bc:%s:node:%s", vid, self->id) < 0 ||
        key(r, err, k_info, "ossc:bc:%s:info", vid) < 0 || path_key(r, err, k_path, oss_path) < 0)
        return -1;

    /* One script, so one atomic step: the seq is taken and the member, its
     * hash and the other keys are written together.  A node that read the
     * members after its join therefore sees every live node with a lower
     * seq; with INCR first and the rest after, a node joining at the same
     * moment could hold seq 1 while not yet a member, and the next one
     * would start pulling from OSS too (relinking a tick later, after the
     * bytes were paid for).  A reader never sees a member without its hash. */
    char keep[16], ttl[16], nf[16], total[24];
    snprintf(keep, sizeof keep, "%d", BC_REGISTRY_KEEP_S);
    snprintf(ttl, sizeof ttl, "%d", ttl_s > 0 ? ttl_s : 1);
    snprintf(nf, sizeof nf, "%" PRIu32, nfiles);
    snprintf(total, sizeof total, "%" PRIu64, self->total);
    node_argv a;
    node_hset_argv(&a, k_node, self);
    const char *argv[3 + 5 + 7 + 2 * NODE_FIELDS] = {
        "EVAL", JOIN_SCRIPT, "5", k_seq, k_members, k_node, k_info, k_path,
        keep, ttl, self->id, oss_path, nf, total, vid};
    int argc = 15;
    for (int i = 0; i < 2 * NODE_FIELDS; i++)
        argv[argc++] = a.argv[2 + i];
    redisReply *rep = command(r, err, "join", argc, argv, NULL);
    if (!rep)
        return -1;
    if (rep->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(rep);
        return ossc_error_set(err, EPROTO, "broadcast redis %s: join: not an integer seq",
                              r->where);
    }
    self->seq = rep->integer;
    freeReplyObject(rep);
    return 0;
}

int bc_registry_heartbeat(bc_registry *r, const char *vid, const bc_node_info *self, int ttl_s,
                          ossc_error *err)
{
    char k_seq[KEY_MAX], k_members[KEY_MAX], k_node[KEY_MAX], k_info[KEY_MAX];
    if (key(r, err, k_seq, "ossc:bc:%s:seq", vid) < 0 ||
        key(r, err, k_members, "ossc:bc:%s:members", vid) < 0 ||
        key(r, err, k_node, "ossc:bc:%s:node:%s", vid, self->id) < 0 ||
        key(r, err, k_info, "ossc:bc:%s:info", vid) < 0)
        return -1;
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", self->seq);
    node_argv a;
    node_hset_argv(&a, k_node, self);

    /* ZADD NX: a node whose hash had expired (it stalled past its ttl and a
     * reader dropped it) is a member again, at its own seq, once it beats. */
    int n = 0;
    redisAppendCommand(r->c, "MULTI"), n++;
    redisAppendCommandArgv(r->c, 2 + 2 * NODE_FIELDS, a.argv, NULL), n++;
    append_expire(r, k_node, ttl_s), n++;
    redisAppendCommand(r->c, "ZADD %s NX %s %s", k_members, seq, self->id), n++;
    append_expire(r, k_members, BC_REGISTRY_KEEP_S), n++;
    append_expire(r, k_seq, BC_REGISTRY_KEEP_S), n++;
    append_expire(r, k_info, BC_REGISTRY_KEEP_S), n++;
    redisAppendCommand(r->c, "EXEC"), n++;
    return drain(r, n, err, "heartbeat");
}

void bc_registry_leave(bc_registry *r, const char *vid, const char *id)
{
    char k_members[KEY_MAX], k_node[KEY_MAX];
    if (key(r, NULL, k_members, "ossc:bc:%s:members", vid) < 0 ||
        key(r, NULL, k_node, "ossc:bc:%s:node:%s", vid, id) < 0)
        return;
    int n = 0;
    redisAppendCommand(r->c, "MULTI"), n++;
    redisAppendCommand(r->c, "ZREM %s %s", k_members, id), n++;
    redisAppendCommand(r->c, "DEL %s", k_node), n++;
    redisAppendCommand(r->c, "EXEC"), n++;
    (void)drain(r, n, NULL, "leave");
}

/* Fills *ni from member id's hash h and its members score and counts it
 * in *live; a member with no valid addr or score is left out (one log
 * line, its text made printable): peers would be fetched from its addr,
 * and the chain is ordered by its seq. */
static void take_member(bc_node_info *ni, const redisReply *h, const redisReply *id,
                        const redisReply *score, size_t *live)
{
    const redisReply *addr = hash_field(h, "addr");
    long long seq;
    const char *why = !addr_valid(addr)            ? "an address that is not host:port"
                      : !seq_of_score(score, &seq) ? "a join order that is not a number"
                                                   : NULL;
    if (why) {
        char id_text[68], addr_text[68], score_text[68];
        printable(id, id_text, sizeof id_text);
        printable(addr, addr_text, sizeof addr_text);
        printable(score, score_text, sizeof score_text);
        OSSC_WARN("broadcast: registry member '%s' (addr '%s', seq '%s') has %s: skipped",
                  id_text, addr_text, score_text, why);
        return;
    }
    node_from_hash(ni, h);
    copy_field(ni->id, sizeof ni->id, id);
    ni->seq = seq;
    (*live)++;
}

int bc_registry_members(bc_registry *r, const char *vid, bc_node_info **out, size_t *n,
                        ossc_error *err)
{
    *out = NULL;
    *n = 0;
    char k_members[KEY_MAX], k_node[KEY_MAX];
    if (key(r, err, k_members, "ossc:bc:%s:members", vid) < 0)
        return -1;
    redisReply *ids = commandv(r, err, "members (ZRANGE)", "ZRANGE", k_members, "0", "-1",
                               "WITHSCORES", NULL);
    if (!ids)
        return -1;
    if (ids->type != REDIS_REPLY_ARRAY || ids->elements % 2) {
        freeReplyObject(ids);
        return ossc_error_set(err, EPROTO, "broadcast redis %s: ZRANGE %s: unexpected reply",
                              r->where, k_members);
    }
    size_t count = ids->elements / 2;
    bc_node_info *m = calloc(count ? count : 1, sizeof *m);
    if (!m) {
        freeReplyObject(ids);
        return ossc_error_set(err, ENOMEM, "broadcast redis: out of memory");
    }
    /* A member whose key would not fit (no node writes such an id) is
     * skipped, here and when reading, so replies stay in step. */
    for (size_t i = 0; i < count; i++) {
        const redisReply *id = ids->element[2 * i];
        if (key(r, NULL, k_node, "ossc:bc:%s:node:%.*s", vid, (int)id->len, id->str) == 0)
            redisAppendCommand(r->c, "HGETALL %s", k_node);
    }
    size_t live = 0;
    int rc = 0, stale = 0;
    for (size_t i = 0; i < count; i++) {
        const redisReply *mid = ids->element[2 * i];
        if (key(r, NULL, k_node, "ossc:bc:%s:node:%.*s", vid, (int)mid->len, mid->str) < 0)
            continue;
        redisReply *h = NULL;
        if (redisGetReply(r->c, (void **)&h) != REDIS_OK) {
            context_error(r, err, "members (HGETALL)");
            goto fail; /* the connection is out of step: unusable now */
        }
        const redisReply *id = ids->element[2 * i], *score = ids->element[2 * i + 1];
        if (h->type == REDIS_REPLY_ERROR && rc == 0)
            rc = reply_error(r, err, "members (HGETALL)", h);
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 0) {
            /* Its hash expired: the node is dead; drop it for everyone. */
            redisAppendCommand(r->c, "ZREM %s %b", k_members, id->str, id->len);
            stale++;
        } else if (h->type == REDIS_REPLY_ARRAY) {
            take_member(&m[live], h, id, score, &live);
        }
        freeReplyObject(h);
    }
    if (stale)
        (void)drain(r, stale, NULL, "members (ZREM)");
    freeReplyObject(ids);
    if (rc < 0) {
        free(m);
        return -1;
    }
    *out = m;
    *n = live;
    return 0;
fail:
    freeReplyObject(ids);
    free(m);
    return -1;
}

int bc_registry_info(bc_registry *r, const char *vid, char *oss_path, size_t cap,
                     uint32_t *nfiles, uint64_t *total, ossc_error *err)
{
    char k_info[KEY_MAX];
    if (key(r, err, k_info, "ossc:bc:%s:info", vid) < 0)
        return -1;
    redisReply *h = commandv(r, err, "info (HGETALL)", "HGETALL", k_info, NULL);
    if (!h)
        return -1;
    if (cap)
        oss_path[0] = '\0';
    *nfiles = 0;
    *total = 0;
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i], *v = h->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        char num[32];
        copy_field(num, sizeof num, v);
        if (!strcmp(f->str, "oss_path") && cap)
            copy_field(oss_path, cap, v);
        else if (!strcmp(f->str, "nfiles"))
            *nfiles = (uint32_t)strtoul(num, NULL, 10);
        else if (!strcmp(f->str, "total"))
            *total = strtoull(num, NULL, 10);
    }
    freeReplyObject(h);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int bc_registry_versions(bc_registry *r, const char *oss_path, char ***vids, size_t *n,
                         ossc_error *err)
{
    *vids = NULL;
    *n = 0;
    char k_path[KEY_MAX];
    if (path_key(r, err, k_path, oss_path) < 0)
        return -1;
    redisReply *set = commandv(r, err, "versions (SMEMBERS)", "SMEMBERS", k_path, NULL);
    if (!set)
        return -1;
    size_t count = set->type == REDIS_REPLY_ARRAY ? set->elements : 0;
    char **v = calloc(count ? count : 1, sizeof *v);
    if (!v) {
        freeReplyObject(set);
        return ossc_error_set(err, ENOMEM, "broadcast redis: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        const redisReply *e = set->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        if (!(v[k] = strndup(e->str, e->len))) {
            bc_strings_free(v, k);
            freeReplyObject(set);
            return ossc_error_set(err, ENOMEM, "broadcast redis: out of memory");
        }
        k++;
    }
    freeReplyObject(set);
    qsort(v, k, sizeof *v, cmp_str);
    *vids = v;
    *n = k;
    return 0;
}

void bc_strings_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

const char *bc_registry_where(const bc_registry *r)
{
    return r->where;
}
