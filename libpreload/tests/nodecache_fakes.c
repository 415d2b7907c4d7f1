/* nodecache_fakes.c - see nodecache_fakes.h. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc64.h"
#include "deadline.h"
#include "nodecache_fakes.h"

/* ------------------------------------------------------------ catalog */

static fake_file cat_files[FAKE_MAX_FILES];
static int cat_n;
static bool cat_crc;

void fake_catalog_set(const fake_file *files, int n, bool with_crc)
{
    memcpy(cat_files, files, (size_t)n * sizeof(*files));
    cat_n = n;
    cat_crc = with_crc;
}

static int cat_prepare(void *ctx, const ossc_preload_settings *s, ossc_large_file **files,
                       size_t *nfiles, uint64_t *chunk_size, ossc_error *err)
{
    (void)ctx;
    (void)s;
    ossc_large_file *lf = calloc((size_t)cat_n + 1, sizeof(*lf));
    if (!lf)
        return ossc_error_set(err, ENOMEM, "out of memory");
    for (int i = 0; i < cat_n; i++) {
        char key[256];
        snprintf(key, sizeof(key), "pfx/%s", cat_files[i].rel);
        lf[i].key = strdup(key);
        lf[i].rel = strdup(cat_files[i].rel);
        lf[i].size = cat_files[i].size;
    }
    *files = lf;
    *nfiles = (size_t)cat_n;
    *chunk_size = FAKE_CHUNK;
    return 0;
}

static uint64_t true_crc(int file, uint64_t size)
{
    unsigned char buf[4096];
    uint64_t crc = 0;
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = fake_byte(file, off + k);
        crc = ossc_crc64_update(crc, buf, n);
        off += n;
    }
    return crc;
}

static int cat_describe(void *ctx, const ossc_preload_settings *s, const ossc_large_file *lf,
                        ossc_large_version *out, ossc_error *err)
{
    (void)ctx;
    (void)s;
    for (int i = 0; i < cat_n; i++)
        if (strcmp(cat_files[i].rel, lf->rel) == 0) {
            out->size = cat_files[i].size;
            out->has_crc = cat_crc;
            out->crc = cat_crc ? true_crc(i, cat_files[i].size) : 0;
            snprintf(out->etag, sizeof(out->etag), "fake-%d", i);
            return 0;
        }
    return ossc_error_set(err, ENOENT, "no such file %s", lf->rel);
}

const ossc_catalog fake_catalog = {.prepare = cat_prepare, .describe = cat_describe};

/* ------------------------------------------------------------ source */

static pthread_mutex_t src_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t src_cond = PTHREAD_COND_INITIALIZER;
static fake_knobs knobs = {.stall_notify_fd = -1};
static int starts[FAKE_MAX_FILES];
static int stalled_now;
static unsigned release_gen;

struct ossc_chunk_fetch {
    ossc_chunk_request rq;
    bool stalled;
    unsigned gen;   /* release generation when it stalled */
    bool fail;
    int fail_errno;
    bool corrupt;
    int origin;
};

static int distrusts, oss_only_starts;

void fake_source_reset(void)
{
    pthread_mutex_lock(&src_lock);
    memset(&knobs, 0, sizeof(knobs));
    knobs.stall_notify_fd = -1;
    memset(starts, 0, sizeof(starts));
    distrusts = oss_only_starts = 0;
    pthread_mutex_unlock(&src_lock);
}

void fake_source_set(void (*edit)(fake_knobs *k, void *arg), void *arg)
{
    pthread_mutex_lock(&src_lock);
    edit(&knobs, arg);
    pthread_mutex_unlock(&src_lock);
}

int fake_starts(int file)
{
    pthread_mutex_lock(&src_lock);
    int n = 0;
    for (int i = 0; i < FAKE_MAX_FILES; i++)
        if (file < 0 || i == file)
            n += starts[i];
    pthread_mutex_unlock(&src_lock);
    return n;
}

static ossc_chunk_fetch *src_start(void *ctx, const ossc_chunk_request *rq, ossc_error *err)
{
    (void)ctx;
    /* Every chunk is asked of the version the catalog described (its ETag
     * "fake-<file>"): a cache that lost the pin fails every fetch. */
    char want[32];
    snprintf(want, sizeof(want), "fake-%d", rq->file);
    if (!rq->etag || strcmp(rq->etag, want) != 0) {
        ossc_error_set(err, EPROTO, "chunk of file %d asked of version \"%s\", not \"%s\"",
                       rq->file, rq->etag ? rq->etag : "(null)", want);
        return NULL;
    }
    ossc_chunk_fetch *h = calloc(1, sizeof(*h));
    if (!h) {
        ossc_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    h->rq = *rq;
    pthread_mutex_lock(&src_lock);
    starts[rq->file]++;
    if (knobs.fail_next > 0) {
        knobs.fail_next--;
        h->fail = true;
        h->fail_errno = knobs.fail_errno;
    }
    if (rq->oss_only)
        oss_only_starts++;
    else if (knobs.as_peer) {
        h->origin = 1;
        h->corrupt = knobs.peer_corrupts;
    }
    if (rq->off == 0 && knobs.corrupt_first[rq->file] > 0) {
        knobs.corrupt_first[rq->file]--;
        h->corrupt = true;
    }
    if (knobs.stall) {
        h->stalled = true;
        h->gen = release_gen;
        stalled_now++;
        pthread_cond_broadcast(&src_cond);
        if (knobs.stall_notify_fd >= 0 && write(knobs.stall_notify_fd, "s", 1) < 0)
            perror("stall notify");
    }
    pthread_mutex_unlock(&src_lock);
    return h;
}

static bool src_done(ossc_chunk_fetch *h)
{
    pthread_mutex_lock(&src_lock);
    bool done = !h->stalled || release_gen != h->gen;
    pthread_mutex_unlock(&src_lock);
    return done;
}

/* Lands the bytes as the object holds them (one byte off when corrupt) and
 * returns their CRC: the CRC of what arrived, as a wire would. */
static int64_t src_wait(ossc_chunk_fetch *h, uint64_t *crc, bool *have_crc, ossc_error *err)
{
    pthread_mutex_lock(&src_lock);
    while (h->stalled && release_gen == h->gen)
        pthread_cond_wait(&src_cond, &src_lock);
    pthread_mutex_unlock(&src_lock);
    *have_crc = false;
    if (h->fail)
        return ossc_error_set(err, h->fail_errno, "fake source: %s", strerror(h->fail_errno));
    unsigned char *buf = malloc(h->rq.len ? h->rq.len : 1);
    if (!buf)
        return ossc_error_set(err, ENOMEM, "out of memory");
    for (uint64_t k = 0; k < h->rq.len; k++)
        buf[k] = fake_byte(h->rq.file, h->rq.off + k);
    if (h->corrupt)
        buf[0] ^= 0x5a;
    ssize_t n = pwrite(h->rq.fd, buf, h->rq.len, (off_t)h->rq.off);
    *crc = ossc_crc64_update(0, buf, h->rq.len);
    free(buf);
    if (n != (ssize_t)h->rq.len)
        return ossc_error_set(err, n < 0 ? errno : EIO, "fake source: short write");
    *have_crc = true;
    return (int64_t)h->rq.len;
}

static void src_release(ossc_chunk_fetch *h)
{
    pthread_mutex_lock(&src_lock);
    if (h->stalled && release_gen == h->gen)
        stalled_now--; /* cancelled while stalled */
    pthread_mutex_unlock(&src_lock);
    free(h);
}

static int src_prefetcher(void *ctx)
{
    (void)ctx;
    return 4;
}

bool fake_wait_stalled(int n, int ms)
{
    struct timespec dl;
    ossc_deadline_in(&dl, CLOCK_REALTIME, ms);
    pthread_mutex_lock(&src_lock);
    int rc = 0;
    while (stalled_now < n && rc == 0)
        rc = pthread_cond_timedwait(&src_cond, &src_lock, &dl);
    bool ok = stalled_now >= n;
    pthread_mutex_unlock(&src_lock);
    return ok;
}

void fake_release_stalled(void)
{
    pthread_mutex_lock(&src_lock);
    release_gen++;
    stalled_now = 0;
    pthread_cond_broadcast(&src_cond);
    pthread_mutex_unlock(&src_lock);
}

static int src_origin(ossc_chunk_fetch *h)
{
    return h->origin;
}

static void src_distrust(void *ctx, int file)
{
    (void)ctx;
    (void)file;
    pthread_mutex_lock(&src_lock);
    distrusts++;
    pthread_mutex_unlock(&src_lock);
}

int fake_distrusts(void)
{
    pthread_mutex_lock(&src_lock);
    int n = distrusts;
    pthread_mutex_unlock(&src_lock);
    return n;
}

int fake_oss_only_starts(void)
{
    pthread_mutex_lock(&src_lock);
    int n = oss_only_starts;
    pthread_mutex_unlock(&src_lock);
    return n;
}

const ossc_chunk_source fake_source = {
    .start = src_start,
    .done = src_done,
    .wait = src_wait,
    .release = src_release,
    .prefetcher = src_prefetcher,
    .origin = src_origin,
    .distrust = src_distrust,
};

/* ------------------------------------------------------------ scaffolding */

char scratch[256];

int scratch_make(void)
{
    snprintf(scratch, sizeof(scratch), "/dev/shm/nodecache-test-XXXXXX");
    if (!mkdtemp(scratch)) {
        perror("mkdtemp /dev/shm/nodecache-test-XXXXXX");
        return -1;
    }
    char root[300];
    snprintf(root, sizeof(root), "%s/cache", scratch);
    if (mkdir(root, 0700) < 0) {
        perror(root);
        return -1;
    }
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP ? rmdir(path) : unlink(path))
        fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

void scratch_remove(void)
{
    if (scratch[0] == '/' && strncmp(scratch, "/dev/shm/nodecache-test-", 24) == 0)
        nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_settings(ossc_preload_settings *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->oss_path, sizeof(s->oss_path), "oss://bkt/pfx/");
    snprintf(s->bucket, sizeof(s->bucket), "bkt");
    snprintf(s->prefix, sizeof(s->prefix), "pfx/");
    snprintf(s->endpoint, sizeof(s->endpoint), "http://127.0.0.1:9");
    snprintf(s->model_dir, sizeof(s->model_dir), "%s/%s", scratch, name);
    snprintf(s->cache_root, sizeof(s->cache_root), "%s/cache", scratch);
    mkdir(s->model_dir, 0700);
    s->small_file_size = 1024;
    s->memory_limit = UINT64_MAX / 2;
    s->prefetch_window = 4 * FAKE_CHUNK;
    s->release_delay_s = 3600;
    s->enable = true;
    s->lazy = true;
    s->in_process = true;
}

int test_attach(const ossc_preload_settings *s)
{
    static const struct ossc_libc libc_table = {
        .open = open, .openat = openat, .read = read, .close = close,
        .dup2 = dup2, .fcntl = fcntl, .mmap = mmap, .munmap = munmap,
    };
    ossc_nodecache_use_libc(&libc_table);
    ossc_nodecache_use_catalog(&fake_catalog);
    ossc_nodecache_use_source(&fake_source);
    int rc = ossc_cache_attach(s);
    if (rc != 0)
        fprintf(stderr, "attach %s: rc %d: %s\n", s->model_dir, rc,
                ossc_cache_attach_error()->message);
    return rc == 0 ? 0 : -1;
}

void test_detach(void)
{
    ossc_cache_detach();
    ossc_cache_reset();
}

struct bounded {
    int file, rc, err;
    bool done;
    pthread_mutex_t m;
    pthread_cond_t c;
};

static void *bounded_main(void *arg)
{
    struct bounded *b = arg;
    int rc = ossc_cache_wait(b->file, 0, 1);
    int e = errno;
    pthread_mutex_lock(&b->m);
    b->rc = rc;
    b->err = e;
    b->done = true;
    pthread_cond_signal(&b->c);
    pthread_mutex_unlock(&b->m);
    return NULL;
}

int wait_bounded(int file, int ms, int *err, const char *what)
{
    struct bounded *b = calloc(1, sizeof(*b));
    b->file = file;
    pthread_mutex_init(&b->m, NULL);
    pthread_cond_init(&b->c, NULL);
    pthread_t t;
    pthread_create(&t, NULL, bounded_main, b);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&b->m);
    while (!b->done)
        if (pthread_cond_timedwait(&b->c, &b->m, &dl) == ETIMEDOUT)
            break;
    bool done = b->done;
    pthread_mutex_unlock(&b->m);
    if (!done) {
        fprintf(stderr, "FAIL: %s: ossc_cache_wait(%d) still blocked after %d ms\n", what, file, ms);
        scratch_remove(); /* the cache of a failed run goes too */
        _exit(1);
    }
    pthread_join(t, NULL);
    int rc = b->rc;
    if (err)
        *err = b->err;
    free(b);
    return rc;
}

bool until(bool (*cond)(void *), void *arg, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (cond(arg))
            return true;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return cond(arg);
}

bool bytes_ok(int fd, int file, uint64_t size)
{
    unsigned char buf[4096];
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n <= 0)
            return false;
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] != fake_byte(file, off + (uint64_t)k))
                return false;
        off += (uint64_t)n;
    }
    return true;
}
