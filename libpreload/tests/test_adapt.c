/* test_adapt.c - the part-size controller (adapt.c), fed synthetic links:
 * what it answers before any measurement, the TTFB rule, stream levels on
 * a link of per-connection caps and on one shared bottleneck, and that the
 * user's part size and the engine's transfers are never exceeded. */
#include <stdint.h>

#include "adapt.h"
#include "check.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* One read of len bytes on a synthetic link: every part a transfer that
 * waits ttfb_ms, then runs at min(conn_cap, shared / parts) bytes/ms
 * (shared 0: no shared bottleneck), all parts at once. */
static void read_on_link(ossc_adapt *a, uint64_t len, double ttfb_ms, double conn_cap,
                         double shared)
{
    uint64_t part = ossc_adapt_part_for(a, len);
    int parts = (int)((len + part - 1) / part);
    double rate = conn_cap;
    if (shared > 0 && shared / parts < rate)
        rate = shared / parts;
    for (int i = 0; i < parts; i++) {
        uint64_t n = i == parts - 1 ? len - part * (uint64_t)(parts - 1) : part;
        ossc_adapt_sample(a, n, ttfb_ms, (double)n / rate, parts, false);
    }
}

static void before_measuring(void)
{
    ossc_adapt a;
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    CHECK(ossc_adapt_streams(&a) == 16);
    CHECK(ossc_adapt_part_for(&a, 100) == 8 * MIB);            /* small: one base part */
    CHECK(ossc_adapt_part_for(&a, 64 * MIB) == 8 * MIB);       /* 8 parts, as before */
    CHECK(ossc_adapt_part_for(&a, GIB) == 64 * MIB);           /* 16 streams */
    CHECK(ossc_adapt_part_for(&a, 256 * MIB) == 16 * MIB);
    CHECK(ossc_adapt_part_for(&a, 100 * MIB + 1) == 8 * MIB);  /* rounded, never below base */
    CHECK(ossc_adapt_part_for(&a, 8 * GIB) == 64 * MIB);       /* capped at 64 MiB */
    /* a small engine: never more streams than its transfers */
    ossc_adapt_init(&a, true, 8 * MIB, false, 4);
    CHECK(ossc_adapt_streams(&a) == 4);
    CHECK(ossc_adapt_part_for(&a, 128 * MIB) == 32 * MIB);
}

static void off_and_user_set(void)
{
    ossc_adapt a;
    ossc_adapt_init(&a, false, 8 * MIB, false, 256);
    for (int i = 0; i < 4; i++)
        read_on_link(&a, GIB, 50, 100e3, 0);
    CHECK(ossc_adapt_part_for(&a, GIB) == 8 * MIB);
    CHECK(ossc_adapt_part_for(&a, 1) == 8 * MIB);
    /* the user's http.partSize, even a small one, is what every read uses */
    ossc_adapt_init(&a, true, 1 * MIB, true, 256);
    for (int i = 0; i < 4; i++)
        read_on_link(&a, GIB, 50, 100e3, 0);
    CHECK(ossc_adapt_part_for(&a, GIB) == 1 * MIB);
    ossc_adapt_init(&a, true, 200 * MIB, true, 256);
    CHECK(ossc_adapt_part_for(&a, GIB) == 200 * MIB);
}

static void ttfb_rule(void)
{
    ossc_adapt a;
    /* 40 ms to the first byte, 125 MB/s per connection (125e3 bytes/ms):
     * 9 x 40 x 125e3 = 45 MB, rounded up to 43 MiB, for any large read. */
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    for (int i = 0; i < 40; i++)
        ossc_adapt_sample(&a, 4 * MIB, 40, 4.0 * MIB / 125e3, 4, false);
    CHECK(ossc_adapt_part_for(&a, 256 * MIB) == 43 * MIB);
    CHECK(ossc_adapt_part_for(&a, 4 * GIB) == 64 * MIB);
    /* 200 ms: capped at 64 MiB */
    for (int i = 0; i < 40; i++)
        ossc_adapt_sample(&a, 4 * MIB, 200, 4.0 * MIB / 125e3, 4, false);
    CHECK(ossc_adapt_part_for(&a, 256 * MIB) == 64 * MIB);
    /* loopback (0.2 ms, 2 GB/s): 3.6 MB, below the base part */
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    for (int i = 0; i < 40; i++)
        ossc_adapt_sample(&a, 4 * MIB, 0.2, 4.0 * MIB / 2e6, 4, false);
    CHECK(ossc_adapt_part_for(&a, 64 * MIB) == 8 * MIB);
    /* samples too small or broken are ignored */
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    ossc_adapt_sample(&a, 1000, 500, 1, 4, false);
    ossc_adapt_sample(&a, 4 * MIB, -1, 1, 4, false);
    ossc_adapt_sample(&a, 4 * MIB, 500, 0, 4, false);
    CHECK(a.samples == 0);
    CHECK(ossc_adapt_part_for(&a, 64 * MIB) == 8 * MIB);
}

static void per_connection_caps(void)
{
    /* Every connection capped at 50 MB/s, no shared limit: each doubling of
     * streams doubles the rate, so streams climb to 4 x 16 and stay. */
    ossc_adapt a;
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    int seen[8], n = 0;
    for (int i = 0; i < 8; i++) {
        read_on_link(&a, GIB, 1, 50e3, 0);
        seen[n++] = ossc_adapt_streams(&a);
    }
    CHECK(seen[0] == 32 && seen[1] == 64);
    CHECK(seen[7] == 64);
    CHECK(ossc_adapt_part_for(&a, 4 * GIB) == 64 * MIB);
    CHECK(ossc_adapt_part_for(&a, GIB) == 16 * MIB);
    /* ... but never beyond the engine's transfers */
    ossc_adapt_init(&a, true, 8 * MIB, false, 48);
    for (int i = 0; i < 8; i++)
        read_on_link(&a, GIB, 1, 50e3, 0);
    CHECK(ossc_adapt_streams(&a) == 32);
}

static void shared_bottleneck(void)
{
    /* 1 GB/s shared by all connections, each capped at 125 MB/s: 16
     * streams already reach 1 GB/s, 32 do not raise it by a quarter; the
     * controller probes once, returns to 16 and stays there. */
    ossc_adapt a;
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    read_on_link(&a, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&a) == 32);     /* probing */
    read_on_link(&a, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&a) == 16);     /* no gain: back */
    for (int i = 0; i < 6; i++)
        read_on_link(&a, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&a) == 16);
    CHECK(ossc_adapt_part_for(&a, GIB) == 64 * MIB);
    /* the same samples give the same answers */
    ossc_adapt b;
    ossc_adapt_init(&b, true, 8 * MIB, false, 256);
    for (int i = 0; i < 8; i++)
        read_on_link(&b, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&b) == ossc_adapt_streams(&a));
    CHECK(ossc_adapt_part_for(&b, GIB) == ossc_adapt_part_for(&a, GIB));
}

static void set_up_and_tails_do_not_judge(void)
{
    /* A first read on new connections is slower than the next: it must not
     * be the reference a probe is compared with. */
    ossc_adapt a;
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    for (int i = 0; i < 16; i++)
        ossc_adapt_sample(&a, 64 * MIB, 5, 64.0 * MIB / 10e3, 16, true);
    CHECK(ossc_adapt_streams(&a) == 16);
    CHECK(a.levels[0].samples == 0 && a.samples == 16);
    /* Probing 32 (no gain), then the tail of such a read (concurrency in
     * level 0's band while level 1 is current) counts for nothing. */
    read_on_link(&a, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&a) == 32);
    for (int i = 0; i < 20; i++)
        ossc_adapt_sample(&a, 32 * MIB, 5, 32.0 * MIB / 1e3, 12, false);
    CHECK(a.levels[0].samples == 8 && a.levels[1].samples == 0);
    CHECK(ossc_adapt_streams(&a) == 32);
    read_on_link(&a, GIB, 5, 125e3, 1e6);
    CHECK(ossc_adapt_streams(&a) == 16);
}

static void small_reads_do_not_move_levels(void)
{
    /* Reads of a few parts (datasets, a node cache's chunks) feed the TTFB
     * rule but not the stream levels. */
    ossc_adapt a;
    ossc_adapt_init(&a, true, 8 * MIB, false, 256);
    for (int i = 0; i < 100; i++)
        ossc_adapt_sample(&a, 8 * MIB, 1, 8.0 * MIB / 50e3, 3, false);
    CHECK(ossc_adapt_streams(&a) == 16);
    CHECK(a.samples == 100);
}

int main(void)
{
    before_measuring();
    off_and_user_set();
    ttfb_rule();
    per_connection_caps();
    shared_bottleneck();
    set_up_and_tails_do_not_judge();
    small_reads_do_not_move_levels();
    return check_summary("test_adapt");
}
