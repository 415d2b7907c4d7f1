/* server.c - the chunk server of a node (server.h) on libmicrohttpd.
 *
 * One thread per connection (a handler may block in the view's hold() for
 * up to wait_ms, and must not hold up other peers meanwhile), poll() rather
 * than select() (the host process may have descriptors past FD_SETSIZE).
 * Every request is authenticated before anything else is looked at; the
 * bytes of a 206 go out by sendfile from a dup() of the view's descriptor
 * (MHD closes the descriptor it is given), and the file stays held until
 * MHD reports the request complete.  A 206 goes out only through the send
 * gate (send_gate.h): a few bodies at a time, oldest ready chunk first, so
 * each lands downstream soon after it landed here. */
#include "server.h"
#include "hostport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "error.h"
#include "log.h"
#include "peer_auth.h"
#include "peer_request.h"
#include "send_gate.h"

/* Request line and headers of one request fit in this (a peer request is a
 * few hundred bytes); a larger one gets 431 from MHD and the connection is
 * closed. */
#define REQUEST_MEMORY_LIMIT (32 * 1024)
#define LISTEN_BACKLOG 64

struct bc_server {
    struct MHD_Daemon *daemon;
    bc_cache_view view;
    uint8_t *secret;
    size_t secret_len;
    char target[128];           /* the host:port request MACs must name */
    int wait_ms;
    int port;
    bc_send_gate gate;
};

/* One 206 in flight: the file it holds until MHD is done with it. */
typedef struct served_request {
    uint32_t file;
    uint64_t len;
} served_request;

static void enter(const bc_server *s)
{
    if (s->view.thread_enter)
        s->view.thread_enter(s->view.ctx);
}

/* "a.b.c.d:port" or "[v6]:port" of the connection's peer, as the registry
 * spells addresses; "?:0" when MHD does not say. */
static void peer_name(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
    }
    if (bc_hostport_join(host, port, out, cap) < 0 && cap)
        out[0] = '\0';
}

/* A reply with a short static text body and, when given, one more header. */
static enum MHD_Result reply_status(struct MHD_Connection *conn, unsigned int status,
                                    const char *text, const char *header, const char *value)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (header)
        MHD_add_response_header(resp, header, value);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Adds the reply's OSSC-Peer-Auth (peer_auth.h) for the request whose
 * Authorization value was auth. */
static void sign_reply(const bc_server *s, struct MHD_Response *resp, const char *auth,
                       int status, const char *content_range, const char *arrived)
{
    char mac[BC_REPLY_AUTH_MAX];
    if (bc_reply_auth_make(s->secret, s->secret_len, auth, status, content_range, arrived,
                           mac) == 0)
        MHD_add_response_header(resp, BC_REPLY_AUTH_HEADER, mac);
}

/* 503 "not landed yet" after the long-poll: ask again in a second, and
 * the bytes landed on this node so far (BC_ARRIVED_HEADER), read now, so
 * the peer sees whether this node is still making progress; signed. */
static enum MHD_Result reply_not_landed(const bc_server *s, struct MHD_Connection *conn,
                                        const char *auth)
{
    static const char text[] = "not landed yet\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    char n[24] = "";
    if (s->view.arrived) {
        snprintf(n, sizeof n, "%" PRIu64, s->view.arrived(s->view.ctx));
        MHD_add_response_header(resp, BC_ARRIVED_HEADER, n);
    }
    sign_reply(s, resp, auth, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, n[0] ? n : NULL);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The request's path for a log line: at most 64 bytes, anything but
 * printable ASCII as '?' (MHD has unescaped it: "%0a" is a newline). */
static void printable_path(const char *url, char *out, size_t cap)
{
    size_t n = 0;
    for (; url && url[n] && n + 1 < cap && n < 64; n++)
        out[n] = url[n] >= 0x20 && url[n] < 0x7f ? url[n] : '?';
    out[n] = '\0';
}

/* 401, and the view told who was refused and why (never the secret or the
 * MAC, which an attacker may have chosen). */
static enum MHD_Result refuse(const bc_server *s, struct MHD_Connection *conn, const char *url,
                              bool had_header)
{
    char peer[INET6_ADDRSTRLEN + 8];
    char why[300], path[68];
    peer_name(conn, peer, sizeof peer);
    printable_path(url, path, sizeof path);
    snprintf(why, sizeof why, "%s (request for %s)",
             had_header ? "OSSC-PEER authorization does not verify (another secret, a request "
                          "addressed to another node, a clock more than a minute off, or a "
                          "malformed value)"
                        : "no Authorization header",
             path);
    if (s->view.refused)
        s->view.refused(s->view.ctx, peer, why);
    return reply_status(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized\n",
                        MHD_HTTP_HEADER_WWW_AUTHENTICATE, BC_AUTH_SCHEME);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* 206 with [off, off+len) of the file, sent from a dup of the view's
 * descriptor once the send gate lets it (waiting at most gate_ms); the
 * file is held (the caller's hold() returned 1) and is unheld, and the gate
 * left, in on_completed, or here when no response could be queued. */
static enum MHD_Result serve_range(bc_server *s, struct MHD_Connection *conn, void **req_cls,
                                   const char *auth, uint32_t file, uint64_t off, uint64_t len,
                                   uint64_t size, int gate_ms)
{
    served_request *sr = malloc(sizeof *sr);
    int fd = s->view.fd(s->view.ctx, file);
    fd = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    struct MHD_Response *resp =
        fd < 0 || !sr ? NULL : MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp) {
        OSSC_WARN("chunk server: cannot send file %" PRIu32 " of %s: %s", file, s->view.vid,
                  fd < 0 ? strerror(errno) : "out of memory");
        if (fd >= 0)
            close(fd);
        free(sr);
        s->view.unhold(s->view.ctx, file);
        return reply_status(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the file\n",
                            NULL, NULL);
    }
    /* From here on_completed runs for this request (MHD calls it whether or
     * not the response is queued), and it leaves the gate. */
    bc_send_gate_enter(&s->gate, gate_ms);
    char content_range[80];
    snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
             off + len - 1, size);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, content_range);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    sign_reply(s, resp, auth, MHD_HTTP_PARTIAL_CONTENT, content_range, NULL);
    sr->file = file;
    sr->len = len;
    *req_cls = sr;
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_PARTIAL_CONTENT, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The request after authentication: what to send for GET /<vid>/<index>
 * with its Range, in the order of server.h's status list. */
static enum MHD_Result answer(bc_server *s, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *range, const char *auth,
                              void **req_cls)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return reply_status(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n",
                            MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET);
    char vid[BC_VID_LEN + 1];
    uint32_t file;
    int st = bc_request_parse_path(url, s->view.nfiles, vid, &file);
    if (st == 0 && strcmp(vid, s->view.vid) != 0)
        st = 404;
    if (st)
        return reply_status(conn, (unsigned)st, st == 404 ? "no such file\n" : "bad path\n",
                            NULL, NULL);
    uint64_t size = s->view.file_size(s->view.ctx, file), off, len;
    st = bc_request_parse_range(range, size, &off, &len);
    if (st == 416) {
        char unsat[40];
        snprintf(unsat, sizeof unsat, "bytes */%" PRIu64, size);
        return reply_status(conn, MHD_HTTP_RANGE_NOT_SATISFIABLE, "range not in the file\n",
                            MHD_HTTP_HEADER_CONTENT_RANGE, unsat);
    }
    if (st)
        return reply_status(conn, MHD_HTTP_BAD_REQUEST, "bad Range\n", NULL, NULL);
    /* The long-poll and the turn at the send gate split one wait_ms in
     * halves, so a peer sees no byte for at most wait_ms (its stall limit
     * is >= 3 s): the long-poll, then the gate for up to the other half
     * plus whatever the long-poll left.  A fixed share for the gate, not
     * only the rest: a chunk that lands late in its long-poll is the one
     * next in line downstream, and must not skip the queue (measured: the
     * hops fell 1.5-3 s behind each other when it did). */
    uint64_t t0 = mono_ms();
    int held = s->view.hold(s->view.ctx, file, off, len, s->wait_ms - s->wait_ms / 2);
    if (held < 0)
        return reply_status(conn, MHD_HTTP_NOT_FOUND, "not here\n", NULL, NULL);
    if (held == 0)
        return reply_not_landed(s, conn, auth);
    uint64_t spent = mono_ms() - t0;
    int gate_ms = spent >= (uint64_t)s->wait_ms ? 0 : s->wait_ms - (int)spent;
    return serve_range(s, conn, req_cls, auth, file, off, len, size, gate_ms);
}

/* The request context of a request whose headers have arrived (MHD's
 * first call) and that is not a 206 in flight. */
static char headers_seen;

/* MHD's access handler.  The first call of a request only marks it: MHD
 * keeps the connection alive only for a reply queued once the request is
 * complete (the second call, with no body bytes).  A request with a body
 * is answered 400 at its first body bytes (MHD then closes the
 * connection), so a body is never read or buffered. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    bc_server *s = cls;
    enter(s);
    if (!*req_cls) {
        *req_cls = &headers_seen;
        return MHD_YES;
    }
    if (*req_cls != &headers_seen)
        return MHD_YES; /* answered already */
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    if (!auth || !bc_auth_check(s->secret, s->secret_len, method, url, range, s->target, auth,
                                time(NULL)))
        return refuse(s, conn, url, auth != NULL);
    if (*upload_data_size)
        return reply_status(conn, MHD_HTTP_BAD_REQUEST, "a request body is not accepted\n",
                            NULL, NULL);
    return answer(s, conn, url, method, range, auth, req_cls);
}

/* MHD is done with a request: a 206's file is unheld, and counted as
 * served when every byte went out. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    bc_server *s = cls;
    served_request *sr = *req_cls;
    enter(s);
    *req_cls = NULL;
    if (!sr || (void *)sr == &headers_seen)
        return;
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && s->view.served)
        s->view.served(s->view.ctx, sr->len);
    bc_send_gate_leave(&s->gate);
    s->view.unhold(s->view.ctx, sr->file);
    free(sr);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    OSSC_INFO("chunk server (libmicrohttpd): %s", msg);
}

/* A listening TCP socket on o->listen: "host:port" (an IPv4 address, or a
 * name resolved to IPv4, as always) or "[v6]:port" (an IPv6 socket bound to
 * that address only), bound here so a failure names its errno; -1 with err
 * naming the address. */
static int listen_on(const char *listen_addr, int *port, ossc_error *err)
{
    char host[256], ps[8];
    int want = 0;
    if (!listen_addr || bc_hostport_split(listen_addr, host, sizeof host, &want) < 0)
        return ossc_error_set(err, EINVAL, "chunk server: listen address '%s' is not host:port "
                              "([address]:port for IPv6)", listen_addr ? listen_addr : "");
    snprintf(ps, sizeof ps, "%d", want);
    struct addrinfo hints = {.ai_family = listen_addr[0] == '[' ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai != 0)
        return ossc_error_set(err, EINVAL, "chunk server: cannot resolve listen address '%s': %s",
                              listen_addr, gai_strerror(gai));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    /* SO_REUSEADDR (not SO_REUSEPORT): a restart binds despite TIME_WAIT,
     * and a second server on the same port still fails.  IPV6_V6ONLY: an
     * IPv6 address listens there only, never on IPv4 as well. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return ossc_error_set(err, e, "chunk server: cannot listen on %s: %s", listen_addr,
                              strerror(e));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
        int e = errno;
        close(fd);
        return ossc_error_set(err, e, "chunk server: getsockname on %s: %s", listen_addr,
                              strerror(e));
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

bc_server *bc_server_start(const bc_server_options *o, const bc_cache_view *v, ossc_error *err)
{
    ossc_error_clear(err);
    if (!o || !v || !v->vid || !v->file_size || !v->hold || !v->unhold || !v->fd) {
        ossc_error_set(err, EINVAL, "chunk server: incomplete options or cache view");
        return NULL;
    }
    if (!o->secret || o->secret_len == 0) {
        ossc_error_set(err, EINVAL, "chunk server on %s: no shared secret",
                       o->listen ? o->listen : "");
        return NULL;
    }
    bc_server *s = calloc(1, sizeof *s);
    uint8_t *secret = malloc(o->secret_len);
    if (!s || !secret) {
        free(s);
        free(secret);
        ossc_error_set(err, ENOMEM, "chunk server: out of memory");
        return NULL;
    }
    memcpy(secret, o->secret, o->secret_len);
    s->secret = secret;
    s->secret_len = o->secret_len;
    s->view = *v;
    s->wait_ms = o->wait_ms > 0 ? o->wait_ms : 2000;
    int gate_rc = bc_send_gate_init(&s->gate, o->send_slots > 0 ? (unsigned)o->send_slots : 0);
    if (gate_rc) {
        ossc_error_set(err, gate_rc, "chunk server: send gate: %s", strerror(gate_rc));
        OPENSSL_cleanse(s->secret, s->secret_len);
        free(s->secret);
        free(s);
        return NULL;
    }
    int fd = listen_on(o->listen, &s->port, err);
    if (fd < 0)
        goto err;
    if (o->advertise && o->advertise[0]) {
        snprintf(s->target, sizeof s->target, "%s", o->advertise);
    } else {
        char host[128];
        int port;
        if (bc_hostport_split(o->listen, host, sizeof host, &port) < 0 ||
            bc_hostport_join(host, s->port, s->target, sizeof s->target) < 0) {
            close(fd);
            ossc_error_set(err, EINVAL, "chunk server: cannot name %s as host:port", o->listen);
            goto err;
        }
    }
    unsigned int conns = o->max_connections > 0 ? (unsigned)o->max_connections : 64;
    unsigned int per_ip = o->per_ip > 0 ? (unsigned)o->per_ip : 16;
    unsigned int timeout_s = o->timeout_s > 0 ? (unsigned)o->timeout_s : 30;
    /* MHD's threads inherit this thread's signal mask: with SIGPIPE blocked
     * there, a peer that hangs up mid-sendfile is an EPIPE for MHD, never a
     * SIGPIPE that kills the host process (whatever the libmicrohttpd
     * build does about it itself). */
    sigset_t pipe_only, before;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &before);
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, s,
        /* First: MHD warns (on its default logger) about options before it. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (!s->daemon) {
        close(fd);
        ossc_error_set(err, EIO, "chunk server: libmicrohttpd did not start on %s", o->listen);
        goto err;
    }
    OSSC_INFO("chunk server for %s listening on %s (port %d; %u connections, %u per address, "
              "long-poll %d ms, %u bodies at once, each within %d ms)",
              v->vid, o->listen, s->port, conns, per_ip, s->wait_ms - s->wait_ms / 2,
              s->gate.slots, s->wait_ms);
    return s;

err:
    bc_send_gate_destroy(&s->gate);
    OPENSSL_cleanse(s->secret, s->secret_len);
    free(s->secret);
    free(s);
    return NULL;
}

int bc_server_port(const bc_server *s)
{
    return s ? s->port : -1;
}

void bc_server_stop(bc_server *s)
{
    if (!s)
        return;
    bc_send_gate_open(&s->gate); /* replies waiting for a turn go now: stop joins them */
    MHD_stop_daemon(s->daemon);
    bc_send_gate_destroy(&s->gate);
    OPENSSL_cleanse(s->secret, s->secret_len);
    free(s->secret);
    free(s);
}
