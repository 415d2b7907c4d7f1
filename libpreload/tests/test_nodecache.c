/* test_nodecache.c - the node cache with no server: a fake catalog and an
 * in-memory chunk source (nodecache_fakes.h) behind the real claims,
 * waits, takeovers, janitor, memory limit and CRC checks, in a cache on
 * /dev/shm.  Every wait is bounded: a hang fails the run. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "nodecache_fakes.h"

#define LONG_MS 60000 /* generous: a loaded 2-core machine, ASan */

static const fake_file FILES[] = {
    {"a.bin", 3 * FAKE_CHUNK + 100}, /* 4 chunks, a short last one */
    {"b.bin", 2 * FAKE_CHUNK},
    {"c.bin", 1000},
};
#define NFILES 3

static bool file_bytes_ok(int file)
{
    int fd = ossc_cache_open(file, O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = bytes_ok(fd, file, FILES[file].size);
    close(fd);
    ossc_cache_user_drop(file);
    return ok;
}

static int attach_fresh(const char *name, bool with_crc, void (*tune)(ossc_preload_settings *))
{
    ossc_preload_settings s;
    test_settings(&s, name);
    if (tune)
        tune(&s);
    fake_catalog_set(FILES, NFILES, with_crc);
    fake_source_reset();
    return test_attach(&s);
}

static uint64_t gc_of(int file, uint64_t chunk)
{
    return NC.files[file].first_chunk + chunk;
}

/* ------------------------------------------------------------ claims */

/* A chunk is claimed once: a second claim, by us or by another process,
 * fails while it is FETCHING; and threads waiting together for one file
 * fetch each chunk once. */
static void *wait_thread(void *arg)
{
    int file = (int)(intptr_t)arg, err = 0;
    int rc = wait_bounded(file, LONG_MS, &err, "concurrent waiters");
    return (void *)(intptr_t)(rc == 0 ? 0 : err ? err : -1);
}

static void test_claims(void)
{
    CHECK(attach_fresh("claims", true, NULL) == 0);
    uint64_t gc = gc_of(0, 1);
    CHECK(nc_claim(gc));
    CHECK(!nc_claim(gc));
    CHECK(atomic_load(&NC.state[gc]) == FETCHING);
    CHECK(atomic_load(&NC.owner[gc]) == getpid());
    pid_t child = fork();
    if (child == 0) {
        ossc_cache_after_fork_child();
        _exit(nc_claim(gc) ? 1 : 0); /* our claim is live: the child must not get it */
    }
    int st = -1;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* Finish the claimed chunk as the cache would. */
    atomic_fetch_add(&NC.h->cached_bytes, nc_chunk_len(&NC.files[0], 1));
    fetch fx;
    CHECK(nc_fetch_start(&fx, 0, 1) == 0);
    nc_fetch_finish(&fx);
    CHECK(atomic_load(&NC.state[gc]) == READY);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, wait_thread, (void *)(intptr_t)1);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    CHECK(fake_starts(1) == (int)NC.files[1].nchunks);
    CHECK(fake_starts(0) == 1);
    CHECK(file_bytes_ok(1));
    test_detach();
}

/* ------------------------------------------------------------ takeover */

static void stall_to(fake_knobs *k, void *arg)
{
    k->stall = true;
    k->stall_notify_fd = *(int *)arg;
}

/* A process that claimed a file's chunks is killed mid-fetch: our wait
 * takes them back and finishes the file. */
static void test_takeover_killed(void)
{
    CHECK(attach_fresh("takeover", true, NULL) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        ossc_cache_after_fork_child();
        fake_source_set(stall_to, &p[1]);
        ossc_cache_wait(0, 0, 1); /* claims every chunk of a.bin, stalls */
        _exit(3);
    }
    close(p[1]);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    char b;
    CHECK(poll(&pfd, 1, LONG_MS) == 1 && read(p[0], &b, 1) == 1);
    close(p[0]);
    CHECK(atomic_load(&NC.state[gc_of(0, 0)]) == FETCHING);
    CHECK(atomic_load(&NC.owner[gc_of(0, 0)]) == child);
    kill(child, SIGKILL);
    int st;
    CHECK(waitpid(child, &st, 0) == child && WIFSIGNALED(st));
    int err = 0;
    CHECK(wait_bounded(0, LONG_MS, &err, "takeover of a killed claimant") == 0);
    CHECK(file_bytes_ok(0));

    /* A claimant that _exits right after claiming (no fetch at all). */
    child = fork();
    if (child == 0) {
        ossc_cache_after_fork_child();
        _exit(nc_claim(gc_of(1, 0)) ? 0 : 1);
    }
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(atomic_load(&NC.state[gc_of(1, 0)]) == FETCHING);
    CHECK(wait_bounded(1, LONG_MS, &err, "takeover of an _exited claimant") == 0);
    CHECK(file_bytes_ok(1));
    test_detach();
}

/* Same pid, new image (exec): what the old image claimed is taken back;
 * what the current image claimed is not. */
static void test_exec_reclaim(void)
{
    CHECK(attach_fresh("exec", true, NULL) == 0);
    uint64_t gc = gc_of(2, 0);
    CHECK(nc_claim(gc));
    atomic_fetch_add(&NC.h->cached_bytes, nc_chunk_len(&NC.files[2], 0));
    CHECK(nc_reclaim_abandoned(0, NC.h->total_chunks) == 0); /* ours, live */
    CHECK(atomic_load(&NC.state[gc]) == FETCHING);
    unsigned old = NC.tok;
    while (NC.tok == old)
        NC.tok = nc_new_token();
    nc_register_pid();
    int err = 0;
    CHECK(wait_bounded(2, LONG_MS, &err, "reclaim after exec") == 0);
    CHECK(file_bytes_ok(2));
    CHECK(fake_starts(2) == 1);
    test_detach();
}

/* ------------------------------------------------------------ waits */

static void stall_on(fake_knobs *k, void *arg)
{
    (void)arg;
    k->stall = true;
}

static void stall_off(fake_knobs *k, void *arg)
{
    (void)arg;
    k->stall = false;
}

/* Waiters sleep until the bytes land, released from another thread. */
static void test_wait_until_landed(void)
{
    CHECK(attach_fresh("waits", true, NULL) == 0);
    fake_source_set(stall_on, NULL);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, wait_thread, (void *)(intptr_t)1);
    CHECK(fake_wait_stalled(2, LONG_MS)); /* b.bin's two chunks, claimed by t1 */
    CHECK(atomic_load(&NC.files[1].verify) != VERIFIED);
    CHECK(atomic_load(&NC.state[gc_of(1, 0)]) == FETCHING);
    pthread_create(&t2, NULL, wait_thread, (void *)(intptr_t)1);
    fake_source_set(stall_off, NULL);
    fake_release_stalled();
    void *r1, *r2;
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    CHECK(r1 == NULL && r2 == NULL);
    CHECK(fake_starts(1) == 2);
    CHECK(file_bytes_ok(1));
    test_detach();
}

/* ------------------------------------------------------------ release */

static void no_delay(ossc_preload_settings *s)
{
    s->release_delay_s = 0;
}

static bool released(void *arg)
{
    int file = (int)(intptr_t)arg;
    struct shm_file *f = &NC.files[file];
    if (!atomic_load(&f->released))
        return false;
    for (uint64_t c = 0; c < f->nchunks; c++)
        if (atomic_load(&NC.state[f->first_chunk + c]) != ABSENT)
            return false;
    return true;
}

static blkcnt_t data_blocks(int file)
{
    char path[PATH_MAX];
    struct stat st;
    if (ossc_cache_data_path(file, path, sizeof(path)) < 0 || stat(path, &st) < 0)
        return -1;
    return st.st_blocks;
}

/* After the last user leaves and the delay passes, the janitor punches the
 * file's chunks out (no blocks left) and they go ABSENT; a reopen fetches
 * them again. */
static void test_release_after_delay(void)
{
    CHECK(attach_fresh("release", true, no_delay) == 0);
    int fd = ossc_cache_open(0, O_CLOEXEC);
    CHECK(fd >= 0);
    int err = 0;
    CHECK(wait_bounded(0, LONG_MS, &err, "first load") == 0);
    CHECK(bytes_ok(fd, 0, FILES[0].size));
    CHECK(data_blocks(0) > 0);
    close(fd);
    ossc_cache_user_drop(0);
    CHECK(until(released, (void *)(intptr_t)0, LONG_MS));
    CHECK(data_blocks(0) == 0);
    CHECK(atomic_load(&NC.files[0].verify) == UNVERIFIED);
    int before = fake_starts(0);
    fd = ossc_cache_open(0, O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(wait_bounded(0, LONG_MS, &err, "reload after release") == 0);
    CHECK(fake_starts(0) == before + (int)NC.files[0].nchunks);
    CHECK(bytes_ok(fd, 0, FILES[0].size));
    close(fd);
    ossc_cache_user_drop(0);
    test_detach();
}

/* ------------------------------------------------------------ memory limit */

static void two_chunks_eager(ossc_preload_settings *s)
{
    s->lazy = false;
    s->memory_limit = 2 * FAKE_CHUNK;
}

static bool prefetched_two(void *arg)
{
    (void)arg;
    return atomic_load(&NC.state[gc_of(0, 0)]) == READY &&
           atomic_load(&NC.state[gc_of(0, 1)]) == READY;
}

/* The prefetcher stops at the memory limit; a demanded file is still
 * loaded past it. */
static void test_memory_limit(void)
{
    CHECK(attach_fresh("memlimit", true, two_chunks_eager) == 0);
    CHECK(until(prefetched_two, NULL, LONG_MS));
    int err = 0;
    CHECK(wait_bounded(2, LONG_MS, &err, "demand past the limit") == 0);
    CHECK(file_bytes_ok(2));
    CHECK(wait_bounded(1, LONG_MS, &err, "demand past the limit") == 0);
    CHECK(file_bytes_ok(1));
    CHECK(atomic_load(&NC.h->cached_bytes) > NC.s.memory_limit);
    /* Of a.bin, which nobody asked for, only the two chunks under the limit. */
    CHECK(fake_starts(0) == 2);
    CHECK(atomic_load(&NC.state[gc_of(0, 2)]) == ABSENT);
    CHECK(atomic_load(&NC.state[gc_of(0, 3)]) == ABSENT);
    test_detach();
}

/* ------------------------------------------------------------ ENOSPC */

static void enospc_once(fake_knobs *k, void *arg)
{
    (void)arg;
    k->fail_next = 1;
    k->fail_errno = ENOSPC;
}

/* A full tmpfs: the wait fails with ENOSPC (no crash, no bytes served); a
 * reopen tries again and succeeds. */
static void test_enospc(void)
{
    CHECK(attach_fresh("enospc", true, NULL) == 0);
    fake_source_set(enospc_once, NULL);
    int err = 0;
    CHECK(wait_bounded(2, LONG_MS, &err, "ENOSPC") == -1);
    CHECK(err == ENOSPC);
    CHECK(atomic_load(&NC.files[2].verify) != VERIFIED);
    CHECK(wait_bounded(2, LONG_MS, &err, "ENOSPC again") == -1 && err == ENOSPC);
    int fd = ossc_cache_open(2, O_CLOEXEC); /* another chance */
    CHECK(fd >= 0);
    CHECK(wait_bounded(2, LONG_MS, &err, "after ENOSPC") == 0);
    CHECK(bytes_ok(fd, 2, FILES[2].size));
    close(fd);
    ossc_cache_user_drop(2);
    test_detach();
}

/* ------------------------------------------------------------ CRC */

static void corrupt(fake_knobs *k, void *arg)
{
    int *v = arg; /* {file, times} */
    k->corrupt_first[v[0]] = v[1];
}

static void test_crc(void)
{
    CHECK(attach_fresh("crc", true, NULL) == 0);
    int err = 0;
    /* Corrupt once: the whole file is fetched again, then served. */
    int once[2] = {0, 1};
    fake_source_set(corrupt, once);
    CHECK(wait_bounded(0, LONG_MS, &err, "corrupt once") == 0);
    CHECK(fake_starts(0) == 2 * (int)NC.files[0].nchunks);
    CHECK(file_bytes_ok(0));
    /* Corrupt twice: EIO now and for every later wait, reopened or not. */
    int twice[2] = {1, 2};
    fake_source_set(corrupt, twice);
    CHECK(wait_bounded(1, LONG_MS, &err, "corrupt twice") == -1 && err == EIO);
    CHECK(atomic_load(&NC.files[1].verify) == CORRUPT);
    CHECK(wait_bounded(1, LONG_MS, &err, "corrupt, later") == -1 && err == EIO);
    int fd = ossc_cache_open(1, O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(wait_bounded(1, LONG_MS, &err, "corrupt, reopened") == -1 && err == EIO);
    if (fd >= 0) {
        close(fd);
        ossc_cache_user_drop(1);
    }
    test_detach();

    /* No CRC known: served after the size check. */
    CHECK(attach_fresh("nocrc", false, NULL) == 0);
    CHECK(wait_bounded(0, LONG_MS, &err, "no CRC") == 0);
    CHECK(atomic_load(&NC.files[0].verify) == VERIFIED);
    CHECK(file_bytes_ok(0));
    test_detach();
}

/* Bytes from a peer that fail the file's check (broadcasting): the
 * chunks from the peer are dropped and fetched again from the object store
 * only, the peer is distrusted, and it does not count as a mismatch of the
 * object's bytes: the file is served, right, after one round. */
static void peer_always_corrupts(fake_knobs *k, void *arg)
{
    (void)arg;
    k->as_peer = true;
    k->peer_corrupts = true;
}

static void test_crc_peer(void)
{
    CHECK(attach_fresh("crcpeer", true, NULL) == 0);
    fake_source_set(peer_always_corrupts, NULL);
    int err = 0;
    CHECK(wait_bounded(0, LONG_MS, &err, "peer corrupts") == 0);
    CHECK(file_bytes_ok(0));
    CHECK(atomic_load(&NC.files[0].verify) == VERIFIED);
    CHECK(atomic_load(&NC.files[0].oss_only) == 1);
    CHECK(atomic_load(&NC.files[0].mismatches) == 0);
    CHECK(fake_distrusts() == 1);
    CHECK(fake_oss_only_starts() == (int)NC.files[0].nchunks);
    CHECK(atomic_load(&NC.h->bc.bad_peer_bytes) == NC.files[0].size);
    for (uint64_t c = 0; c < NC.files[0].nchunks; c++)
        CHECK(atomic_load(&NC.origin[NC.files[0].first_chunk + c]) == 0);
    test_detach();
}

/* ------------------------------------------------------------ races */

/* A releaser that died between RELEASING and ABSENT (holding the file's
 * lock): a wait takes the chunk back under the lock and loads the file,
 * never hangs. */
static void test_dead_releaser(void)
{
    CHECK(attach_fresh("deadrelease", true, NULL) == 0);
    uint64_t gc = gc_of(0, 1);
    pid_t child = fork();
    if (child == 0) {
        nc_file_lock(&NC.files[0]);
        atomic_store(&NC.state[gc], RELEASING);
        _exit(0); /* dies holding the lock, the chunk RELEASING */
    }
    int st = -1;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(atomic_load(&NC.state[gc]) == RELEASING);
    CHECK(atomic_load(&NC.files[0].lock) == child);
    int err = 0;
    CHECK(wait_bounded(0, LONG_MS, &err, "chunk left RELEASING by a dead releaser") == 0);
    CHECK(atomic_load(&NC.state[gc]) == READY);
    CHECK(atomic_load(&NC.files[0].lock) == 0);
    CHECK(file_bytes_ok(0));
    test_detach();
}

/* Claims: an owner word of 0 (a claim won, pid not stored yet) is a live
 * owner; a settle after the claim was taken back publishes nothing. */
static void test_claim_owner_races(void)
{
    CHECK(attach_fresh("claimraces", true, NULL) == 0);
    uint64_t gc = gc_of(1, 0);
    atomic_store(&NC.state[gc], FETCHING); /* won by someone, owner not named yet */
    atomic_store(&NC.owner[gc], 0);
    CHECK(nc_reclaim_abandoned(gc, gc + 1) == 0);
    CHECK(atomic_load(&NC.state[gc]) == FETCHING);
    atomic_store(&NC.state[gc], ABSENT);

    CHECK(nc_claim(gc));
    CHECK(atomic_load(&NC.owner[gc]) == getpid());
    /* Taken back and fetched by another process meanwhile. */
    atomic_store(&NC.owner[gc], 0);
    atomic_store(&NC.state[gc], READY);
    nc_settle(gc, EIO, 0);
    CHECK(atomic_load(&NC.state[gc]) == READY);
    CHECK(atomic_load(&NC.errs[gc]) == 0);
    /* Our own claim settles, and the owner word is 0 again. */
    uint64_t gc2 = gc_of(1, 1);
    CHECK(nc_claim(gc2));
    nc_settle(gc2, EIO, 0);
    CHECK(atomic_load(&NC.state[gc2]) == FAILED);
    CHECK(atomic_load(&NC.owner[gc2]) == 0);
    test_detach();
}

/* Verification: the verifier word is 0 after a verification; a result is
 * published only out of VERIFYING; the janitor never releases a file
 * another process verifies. */
static void test_verify_races(void)
{
    CHECK(attach_fresh("verifyraces", true, no_delay) == 0);
    struct shm_file *f = &NC.files[2];
    int fd = ossc_cache_open(2, O_CLOEXEC);
    CHECK(fd >= 0);
    int err = 0;
    CHECK(wait_bounded(2, LONG_MS, &err, "load c.bin") == 0);
    CHECK(atomic_load(&f->verify) == VERIFIED);
    CHECK(atomic_load(&f->verifier) == 0);

    /* Released under a verifier's feet: its VERIFIED is not published. */
    atomic_store(&f->verify, UNVERIFIED);
    atomic_store(&f->verifier, getpid());
    nc_set_verify(f, VERIFIED);
    CHECK(atomic_load(&f->verify) == UNVERIFIED);

    /* Another (live) process verifies: the janitor leaves the file alone. */
    atomic_store(&f->verify, VERIFYING);
    atomic_store(&f->verifier, getppid());
    close(fd);
    ossc_cache_user_drop(2);
    CHECK(atomic_load(&f->last_release_ms) != 0);
    nc_janitor();
    CHECK(atomic_load(&NC.state[gc_of(2, 0)]) == READY);
    CHECK(atomic_load(&f->verify) == VERIFYING);
    CHECK(!atomic_load(&f->released));
    /* It finishes; the janitor then releases, and leaves it UNVERIFIED. */
    atomic_store(&f->verifier, 0);
    atomic_store(&f->verify, VERIFIED);
    CHECK(until(released, (void *)(intptr_t)2, LONG_MS));
    CHECK(atomic_load(&f->verify) == UNVERIFIED);
    CHECK(atomic_load(&f->verifier) == 0);
    test_detach();
}

int main(void)
{
    alarm(600); /* a backstop only: every wait has its own deadline */
    setvbuf(stdout, NULL, _IONBF, 0);
    if (scratch_make() < 0)
        return 1;
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"claims", test_claims},
        {"takeover_killed", test_takeover_killed},
        {"exec_reclaim", test_exec_reclaim},
        {"wait_until_landed", test_wait_until_landed},
        {"release_after_delay", test_release_after_delay},
        {"memory_limit", test_memory_limit},
        {"enospc", test_enospc},
        {"crc", test_crc},
        {"crc_peer", test_crc_peer},
        {"dead_releaser", test_dead_releaser},
        {"claim_owner_races", test_claim_owner_races},
        {"verify_races", test_verify_races},
    };
    const char *only = getenv("NODECACHE_TEST");
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        int before = check_failures;
        tests[i].fn();
        printf("%s: %s\n", tests[i].name, check_failures == before ? "ok" : "FAILED");
    }
    scratch_remove();
    return check_summary("test_nodecache");
}
