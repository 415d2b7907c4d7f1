/* adapt.c - part size and streams per read from measured throughput
 * (adapt.h states the rules and the contract). */
#include "adapt.h"

#include <stddef.h>

#define MIB (1ull << 20)
#define MIN_SAMPLE_BYTES (64u << 10)
#define EWMA_WEIGHT 0.25      /* of a new sample: a few transfers move the estimate */
#define TTFB_SHARE 9.0        /* part >= 9 x TTFB x rate: the wait is <= 1/10 of a part */
#define LEVEL_GAIN 1.25       /* a doubling of streams must raise the read rate this much */

void ossc_adapt_init(ossc_adapt *a, bool enabled, uint64_t base_part, bool part_fixed,
                     int transfers)
{
    *a = (ossc_adapt){0};
    a->enabled = enabled;
    a->part_fixed = part_fixed;
    a->base_part = base_part ? base_part : 8 * MIB;
    a->transfers = transfers > 0 ? transfers : 1;
    a->ceiling = OSSC_ADAPT_LEVELS - 1;
}

static double ewma(double old, double sample, unsigned seen)
{
    return seen == 0 ? sample : old + EWMA_WEIGHT * (sample - old);
}

/* The level whose stream count a transfer that ran with `concurrent`
 * others belongs to: (16 << (L-1), 16 << L] for L > 0, [8, 16] for L = 0;
 * -1 for fewer (small reads say nothing about many streams). */
static int level_of(int concurrent)
{
    if (concurrent < OSSC_ADAPT_BASE_STREAMS / 2)
        return -1;
    for (int l = 0; l < OSSC_ADAPT_LEVELS - 1; l++)
        if (concurrent <= OSSC_ADAPT_BASE_STREAMS << l)
            return l;
    return OSSC_ADAPT_LEVELS - 1;
}

/* Moves between levels once the current one has enough samples: up while
 * each doubling raised the read rate by LEVEL_GAIN (the level below is the
 * reference), down for good (the ceiling) when it did not. */
static void judge_level(ossc_adapt *a)
{
    int l = a->level;
    const ossc_adapt_level *cur = &a->levels[l];
    if (cur->samples < OSSC_ADAPT_MIN_SAMPLES)
        return;
    if (l > 0 && cur->rate < LEVEL_GAIN * a->levels[l - 1].rate) {
        a->level = l - 1;
        a->ceiling = l - 1;
        return;
    }
    if (l < a->ceiling && (OSSC_ADAPT_BASE_STREAMS << (l + 1)) <= a->transfers)
        a->level = l + 1;
}

void ossc_adapt_sample(ossc_adapt *a, uint64_t bytes, double ttfb_ms, double body_ms,
                       int concurrent, bool new_connection)
{
    if (bytes < MIN_SAMPLE_BYTES || !(ttfb_ms >= 0) || !(body_ms > 0))
        return;
    double rate = (double)bytes / body_ms;
    a->ttfb_ms = ewma(a->ttfb_ms, ttfb_ms, a->samples);
    a->conn_rate = ewma(a->conn_rate, rate, a->samples);
    a->samples++;
    if (new_connection || level_of(concurrent) != a->level)
        return;
    ossc_adapt_level *lv = &a->levels[a->level];
    lv->rate = ewma(lv->rate, rate * (double)concurrent, lv->samples);
    lv->samples++;
    judge_level(a);
}

int ossc_adapt_streams(const ossc_adapt *a)
{
    int s = OSSC_ADAPT_BASE_STREAMS << a->level;
    return s < a->transfers ? s : a->transfers;
}

uint64_t ossc_adapt_part_for(const ossc_adapt *a, uint64_t len)
{
    if (!a->enabled || a->part_fixed)
        return a->base_part;
    uint64_t streams = (uint64_t)ossc_adapt_streams(a);
    uint64_t part = len / streams + (len % streams != 0);
    if (a->samples > 0) {
        double lat = TTFB_SHARE * a->ttfb_ms * a->conn_rate;
        if (lat > (double)OSSC_ADAPT_MAX_PART)
            lat = (double)OSSC_ADAPT_MAX_PART;
        if ((uint64_t)lat > part)
            part = (uint64_t)lat;
    }
    part = (part + MIB - 1) / MIB * MIB;
    if (part > OSSC_ADAPT_MAX_PART)
        part = OSSC_ADAPT_MAX_PART;
    return part > a->base_part ? part : a->base_part;
}
