/* log.c - process-wide, level-gated logging and the slow-request audit log.
 *
 * Each line is formatted into one buffer and written with a single write()
 * on an O_APPEND descriptor, so lines from threads (and processes sharing
 * the file) never interleave.  A mutex guards swapping descriptors in
 * ossc_log_init/ossc_audit_init against concurrent writers. */
#include "log.h"
#include "http.h" /* ossc_now_ms */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Until ossc_log_init runs: stderr, WARN and above. */
static atomic_int log_level = OSSC_LOG_WARN;
static int log_fd = -1; /* -1 = stderr */

static int audit_fd = -1; /* -1 = auditing off */

int ossc_log_fd(void)
{
    pthread_mutex_lock(&log_lock);
    int fd = log_fd;
    pthread_mutex_unlock(&log_lock);
    return fd;
}
static double audit_threshold = 100.0;

/* fork() while another thread holds log_lock (DataLoader workers fork a
 * process full of engine threads) would leave the child's copy locked for
 * ever: hold the lock across fork and release it on both sides. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&log_lock);
}

static void atfork_release(void)
{
    pthread_mutex_unlock(&log_lock);
}

static void atfork_register(void)
{
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* Takes log_lock, registering the fork handlers on first use. */
static void log_lock_take(void)
{
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&log_lock);
}

/* Level names as they appear in log lines. */
static const char *level_name(int level)
{
    switch (level) {
    case OSSC_LOG_DEBUG:
        return "DEBUG";
    case OSSC_LOG_INFO:
        return "INFO";
    case OSSC_LOG_WARN:
        return "WARN";
    default:
        return "ERROR";
    }
}

/* Creates every missing directory leading to path's last component with
 * mode 0700 (logs may name keys, so other users should not read them).
 * Existing directories are left as they are. */
static void make_parent_dirs(const char *path)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);

    if (n < 0 || (size_t)n >= sizeof buf)
        return;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return;
        *p = '/';
    }
}

/* Opens path for appending (0600 when created), creating its directory
 * first.  Returns the descriptor or -1 with errno set. */
static int open_log_file(const char *path)
{
    make_parent_dirs(path);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* Writes all of buf, retrying short writes and EINTR; errors are dropped
 * because logging must never fail the operation being logged. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* "2026-11-21T13:00:00.123Z" into buf; callers pass 96 bytes, enough for
 * any value gcc can imagine in struct tm, so -Wformat-truncation stays quiet. */
static void format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000L);
}

/* Replaces line breaks (and other control bytes) so that one call is one
 * line: keys may contain anything, and must not forge log lines. */
static void flatten(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\t')
            *s = ' ';
}

/* Latest call wins.  A file that cannot be opened falls back to stderr,
 * which only ever gets WARN and above (stderr belongs to the application). */
void ossc_log_init(int level, const char *path)
{
    int fd = -1, open_errno = 0;

    if (level < OSSC_LOG_DEBUG)
        level = OSSC_LOG_DEBUG;
    if (level > OSSC_LOG_ERROR)
        level = OSSC_LOG_ERROR;
    if (path && path[0]) {
        fd = open_log_file(path);
        open_errno = errno;
    }

    log_lock_take();
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    atomic_store(&log_level, fd >= 0 ? level : (level > OSSC_LOG_WARN ? level : OSSC_LOG_WARN));
    pthread_mutex_unlock(&log_lock);

    if (path && path[0] && fd < 0)
        ossc_log_write(OSSC_LOG_WARN, __func__, __FILE__, __LINE__,
                       "cannot open log file %s: %s; logging WARN and above to stderr", path,
                       strerror(open_errno));
}

/* Cheap check used by the OSSC_LOG macros before formatting anything. */
int ossc_log_enabled(int level)
{
    return level >= atomic_load(&log_level);
}

/* Formats "time LEVEL [tid] func file:line: message\n" and writes it in
 * one write() call. Over-long messages are truncated. */
void ossc_log_write(int level, const char *func, const char *file, int line,
                    const char *fmt, ...)
{
    char buf[LOG_LINE_MAX];
    char ts[96];
    const char *base = strrchr(file, '/');
    va_list ap;
    int n, m;
    size_t len;

    if (!ossc_log_enabled(level))
        return;
    format_time(ts, sizeof ts);
    n = snprintf(buf, sizeof buf, "%s %s [%ld] %s %s:%d: ", ts, level_name(level),
                 (long)syscall(SYS_gettid), func, base ? base + 1 : file, line);
    if (n < 0 || (size_t)n >= sizeof buf - 2)
        return;
    va_start(ap, fmt);
    m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    len = (size_t)n + (size_t)m;
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len] = '\0';
    flatten(buf + n);
    buf[len++] = '\n';

    log_lock_take();
    write_all(log_fd >= 0 ? log_fd : STDERR_FILENO, buf, len);
    pthread_mutex_unlock(&log_lock);
}

/* Latest call wins; an unopenable path disables auditing (with a warning). */
void ossc_audit_init(const char *path, double threshold_ms)
{
    int fd = -1, open_errno = 0;

    if (path && path[0]) {
        fd = open_log_file(path);
        open_errno = errno;
    }
    log_lock_take();
    if (audit_fd >= 0)
        close(audit_fd);
    audit_fd = fd;
    audit_threshold = threshold_ms;
    pthread_mutex_unlock(&log_lock);

    if (path && path[0] && fd < 0)
        OSSC_WARN("cannot open audit file %s: %s; auditing disabled", path,
                  strerror(open_errno));
}

/* Copies s into out as a double-quoted string with \" \\ and \xNN escapes,
 * so a key with spaces or line breaks stays one field of one line. */
static void quote(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    if (cap < 3) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (; s && *s && o + 5 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* One line per request slower than the threshold (all requests when the
 * threshold is <= 0).  Only request metadata is written, never headers. */
void ossc_audit_request(const char *method, const char *bucket, const char *key,
                        const char *range, int http_status, double elapsed_ms,
                        uint64_t bytes, const char *request_id)
{
    char buf[LOG_LINE_MAX];
    char qkey[3 * 1024 + 8];
    char ts[96];
    double threshold;
    int fd, n;

    log_lock_take();
    fd = audit_fd;
    threshold = audit_threshold;
    pthread_mutex_unlock(&log_lock);
    if (fd < 0 || (threshold > 0 && elapsed_ms <= threshold))
        return;

    format_time(ts, sizeof ts);
    quote(key ? key : "", qkey, sizeof qkey);
    n = snprintf(buf, sizeof buf,
                 "%s %s bucket=%s key=%s range=%s status=%d ms=%.1f bytes=%llu request_id=%s",
                 ts, method ? method : "-", bucket && bucket[0] ? bucket : "-", qkey,
                 range && range[0] ? range : "-", http_status, elapsed_ms,
                 (unsigned long long)bytes, request_id && request_id[0] ? request_id : "-");
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = (int)(sizeof buf - 2);
    buf[n] = '\0';
    flatten(buf);
    buf[n++] = '\n';

    log_lock_take();
    if (audit_fd >= 0)
        write_all(audit_fd, buf, (size_t)n);
    pthread_mutex_unlock(&log_lock);
}

bool ossc_log_budget_take(ossc_log_budget *b, uint64_t interval_ms, uint64_t *held_back)
{
    uint64_t now = ossc_now_ms() + 1; /* + 1: next_ms 0 stays "never written" */
    uint64_t next = atomic_load(&b->next_ms);
    if (now < next || !atomic_compare_exchange_strong(&b->next_ms, &next, now + interval_ms)) {
        atomic_fetch_add(&b->held_back, 1);
        return false;
    }
    *held_back = atomic_exchange(&b->held_back, 0);
    return true;
}
