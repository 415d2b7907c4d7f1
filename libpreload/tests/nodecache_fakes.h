/* nodecache_fakes.h - test doubles and scaffolding for the node cache's C
 * unit tests: a catalog that describes a few large files with no server,
 * an in-memory chunk source that lands deterministic bytes and, on
 * request, fails, corrupts, reports ENOSPC or stalls until released, and a
 * scratch directory on /dev/shm (tmpfs: holes can be punched).
 *
 * The fakes live in this process; a forked child gets its own copy (what
 * it fetches lands in the shared cache files all the same). */
#ifndef OSSC_NODECACHE_FAKES_H
#define OSSC_NODECACHE_FAKES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache_internal.h"

#define FAKE_MAX_FILES 8
#define FAKE_CHUNK (64 * 1024)

/* ------------------------------------------------------------ catalog */

typedef struct fake_file {
    const char *rel;  /* also the key, below "pfx/" */
    uint64_t size;
} fake_file;

/* The large files the next attach builds (sorted by rel), and whether the
 * catalog knows their CRC-64 (the true one, of fake_byte's bytes). */
void fake_catalog_set(const fake_file *files, int n, bool with_crc);
extern const ossc_catalog fake_catalog;

/* ------------------------------------------------------------ source */

/* Byte `off` of large file `file`: what the object holds. */
static inline unsigned char fake_byte(int file, uint64_t off)
{
    return (unsigned char)((off * 131u + (uint64_t)file * 17u + off / 4099u) & 0xff);
}

/* What the source does; set by a test, read under the source's lock. */
typedef struct fake_knobs {
    int fail_next;            /* the next N fetches end with fail_errno, nothing landed */
    int fail_errno;
    int corrupt_first[FAKE_MAX_FILES]; /* the next N fetches of chunk 0 of file i land a wrong byte */
    bool stall;               /* fetches started now land only after fake_release_stalled */
    int stall_notify_fd;      /* >= 0: a byte is written to it when a stalled fetch starts */
    bool as_peer;             /* fetches without oss_only report origin 1 (a peer) */
    bool peer_corrupts;       /* ... and land a wrong byte in every chunk */
} fake_knobs;

void fake_source_reset(void);   /* default knobs, counters 0 */
void fake_source_set(void (*edit)(fake_knobs *k, void *arg), void *arg);
/* Fetches started so far of large file i (all files: i = -1). */
int fake_starts(int file);
/* Times the source was told to distrust a peer; fetches asked with oss_only. */
int fake_distrusts(void);
int fake_oss_only_starts(void);
/* Blocks until n fetches are stalled, at most ms; true when they are. */
bool fake_wait_stalled(int n, int ms);
/* Lets every stalled fetch land (stall stays as set). */
void fake_release_stalled(void);
extern const ossc_chunk_source fake_source;

/* ------------------------------------------------------------ scaffolding */

/* A scratch directory /dev/shm/nodecache-test-XXXXXX (mkdtemp) holding
 * the cache root; removed with what is in it (only it) at the end. */
extern char scratch[256];
int scratch_make(void);
void scratch_remove(void);

/* Settings for a cache of MODEL_DIR scratch/<name> (created 0700),
 * enabled, in-process (errors are not printed), lazy (only what a test
 * asks for is fetched, no prefetch of other files). */
void test_settings(ossc_preload_settings *s, const char *name);

/* Attaches with the fakes; 0 or -1. */
int test_attach(const ossc_preload_settings *s);
void test_detach(void);

/* ossc_cache_wait on a thread, given at most ms: its return value, with
 * errno in *err; a wait still blocked after ms fails the run at once
 * (exit 1, naming the call, scratch removed): a hang is a failure, never a
 * stuck test. */
int wait_bounded(int file, int ms, int *err, const char *what);

/* Polls cond(arg) every millisecond until true or ms passed. */
bool until(bool (*cond)(void *), void *arg, int ms);

/* True when the data file of large file i (fd) holds fake_byte's bytes. */
bool bytes_ok(int fd, int file, uint64_t size);

#endif
