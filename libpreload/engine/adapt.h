/* adapt.h - how large the ranged GETs of one read are, chosen from what the
 * link has been measured to do instead of fixed numbers (the idea of AWS
 * CRT's target throughput and Mountpoint's part sizing).
 *
 * Two rules, both driven by finished GET transfers:
 *  - time to first byte vs throughput: a part must be large enough that the
 *    request's wait (TTFB) costs at most a tenth of its transfer on one
 *    connection, part >= 9 x TTFB x (bytes/ms of one connection); so parts
 *    grow on high-latency links, up to OSSC_ADAPT_MAX_PART;
 *  - streams: a large read is split into `streams` parts that run at once
 *    (16 to start with, like 16 parallel curl).  A level of streams is kept
 *    when the read rate it measured beat the level below by a quarter: it
 *    doubles while connections are each the limit (a per-connection cap),
 *    up to 4 x 16, and falls back when they only share one bottleneck.
 * Values the user set are never overridden: with http.partSize given, every
 * part is exactly that size; streams never exceed the engine's transfers
 * (the profile's concurrency), and never go below what the base part gives.
 *
 * Pure logic: fed samples, asked for numbers; no clock, lock or I/O (http.c
 * serialises the calls).  Deterministic: the same samples give the same
 * answers (tests/test_adapt.c). */
#ifndef OSSC_ADAPT_H
#define OSSC_ADAPT_H

#include <stdbool.h>
#include <stdint.h>

#define OSSC_ADAPT_MAX_PART (64ull << 20)
#define OSSC_ADAPT_BASE_STREAMS 16
#define OSSC_ADAPT_LEVELS 3          /* 16, 32, 64 streams: up to 4 x the base */
#define OSSC_ADAPT_MIN_SAMPLES 8     /* transfers a level needs before it is judged */

typedef struct ossc_adapt_level {
    unsigned samples;
    double rate;                 /* EWMA of the read rate (bytes/ms, all streams) */
} ossc_adapt_level;

typedef struct ossc_adapt {
    bool enabled;                /* http.adaptive / OSSC_HTTP_ADAPTIVE */
    bool part_fixed;             /* the user set http.partSize: parts are exactly that */
    uint64_t base_part;          /* http.partSize or its default: the smallest part */
    int transfers;               /* the engine's transfers at once (the profile's) */

    unsigned samples;            /* finished GET transfers seen */
    double ttfb_ms;              /* EWMA: request sent -> first byte of the reply */
    double conn_rate;            /* EWMA: body bytes/ms of one transfer */
    int level;                   /* streams = OSSC_ADAPT_BASE_STREAMS << level */
    int ceiling;                 /* highest level worth trying (falls on a failed probe) */
    ossc_adapt_level levels[OSSC_ADAPT_LEVELS];
} ossc_adapt;

/* Starts with no measurements: parts of base_part, 16 streams.  enabled
 * false or part_fixed true: ossc_adapt_part_for always answers base_part. */
void ossc_adapt_init(ossc_adapt *a, bool enabled, uint64_t base_part, bool part_fixed,
                     int transfers);

/* One finished GET transfer of `bytes` body bytes: `ttfb_ms` from the
 * request to its first byte, `body_ms` for the body; `concurrent`: the GET
 * transfers the engine ran with it (itself included); `new_connection`:
 * it had to connect first.  Samples under 64 KiB (too short to say
 * anything about throughput) are ignored.  A sample judges the current
 * level only when its concurrency is that level's and its connection was
 * already open: a first read's connection set-up would make any next level
 * look better, and the tail of a read (few parts left) would make its own
 * level look worse. */
void ossc_adapt_sample(ossc_adapt *a, uint64_t bytes, double ttfb_ms, double body_ms,
                       int concurrent, bool new_connection);

/* The parts one read of `len` bytes runs at once now. */
int ossc_adapt_streams(const ossc_adapt *a);

/* Bytes per ranged GET for one read of `len` bytes: base_part when the
 * controller is off or the user set the part size; else len split into
 * ossc_adapt_streams() parts, at least large enough for the TTFB rule,
 * rounded up to 1 MiB, between base_part and OSSC_ADAPT_MAX_PART. */
uint64_t ossc_adapt_part_for(const ossc_adapt *a, uint64_t len);

#endif
