/* log.h - process-wide, level-gated logging and the slow-request audit log.
 *
 * The log never goes to stdout.  Lines carry time, level, thread, function
 * and file:line.  Messages must never contain secrets: callers log key ids
 * at most, never secrets or tokens or Authorization headers. */
#ifndef OSSC_LOG_H
#define OSSC_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum ossc_log_level {
    OSSC_LOG_DEBUG = 0,
    OSSC_LOG_INFO = 1,
    OSSC_LOG_WARN = 2,
    OSSC_LOG_ERROR = 3,
};

/* (Re)configures the log.  path NULL/"" or unopenable -> stderr for WARN and
 * above only.  Files are created 0600 and their directory 0700 when missing.
 * Safe to call more than once (the latest call wins). */
void ossc_log_init(int level, const char *path);
int ossc_log_enabled(int level);
/* The log file's descriptor, -1 when lines go to stderr (a detached
 * process keeps it open to log on). */
int ossc_log_fd(void);
void ossc_log_write(int level, const char *func, const char *file, int line,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define OSSC_LOG(lvl, ...)                                                         \
    do {                                                                           \
        if (ossc_log_enabled(lvl))                                                 \
            ossc_log_write((lvl), __func__, __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)
#define OSSC_DEBUG(...) OSSC_LOG(OSSC_LOG_DEBUG, __VA_ARGS__)
#define OSSC_INFO(...) OSSC_LOG(OSSC_LOG_INFO, __VA_ARGS__)
#define OSSC_WARN(...) OSSC_LOG(OSSC_LOG_WARN, __VA_ARGS__)
#define OSSC_ERROR(...) OSSC_LOG(OSSC_LOG_ERROR, __VA_ARGS__)

/* A budget for a line that others can make us write again and again (a
 * peer's refused request, a bad registry entry): at most one line per
 * interval.  ossc_log_budget_take is true when a line may be written now,
 * with *held_back the lines suppressed since the last one written (to say
 * so in it); false, counting one more, otherwise.  Lock-free; a budget is
 * a zero-initialised static. */
typedef struct ossc_log_budget {
    _Atomic uint64_t next_ms;
    _Atomic uint64_t held_back;
} ossc_log_budget;
bool ossc_log_budget_take(ossc_log_budget *b, uint64_t interval_ms, uint64_t *held_back);

/* Audit log: one line per request slower than threshold_ms (default 100).
 * path NULL/"" or unopenable disables auditing. */
void ossc_audit_init(const char *path, double threshold_ms);
void ossc_audit_request(const char *method, const char *bucket, const char *key,
                        const char *range, int http_status, double elapsed_ms,
                        uint64_t bytes, const char *request_id);

#endif
