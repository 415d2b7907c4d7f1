/* live_engine.c - the engine against a live server (the emulator), driven
 * by tests/test_c_engine_live.py, which starts the server and sets:
 *   OSSC_TEST_ENDPOINT, OSSC_TEST_BUCKET, OSS_ACCESS_KEY_ID,
 *   OSS_ACCESS_KEY_SECRET, OSSC_TEST_CONFIG (a config.json), and
 *   optionally OSSC_TEST_REGION (V4 signing).
 * Built normally and under ASan+UBSan, so every engine path it reaches is
 * checked for memory errors, leaks and undefined behaviour. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ossc.h"
#include "check.h"

static ossc_client *client;
static const char *bucket;

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
}

/* CRC-64/XZ bit by bit: an independent check of the engine's CRCs. */
static uint64_t slow_crc64(const unsigned char *p, size_t n)
{
    uint64_t crc = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xC96C5795D7870F42ull & (0 - (crc & 1)));
    }
    return ~crc;
}

static void test_put_get_ranges(void)
{
    ossc_error err;
    size_t n = 3 * 1024 * 1024 + 17; /* several parts of the 1 MiB test part size */
    unsigned char *data = malloc(n), *back = calloc(1, n + 10);
    fill(data, n, 7);
    CHECK(ossc_put(client, bucket, "live/blob", data, n, &err) == 0);

    ossc_object_info info;
    CHECK(ossc_head(client, bucket, "live/blob", &info, &err) == 0);
    CHECK(info.size == n);
    ossc_object_info_clear(&info);

    /* Whole object (CRC-verified), asking for more than there is. */
    CHECK(ossc_get_range(client, bucket, "live/blob", 0, n + 10, back, &err) == (int64_t)n);
    CHECK(memcmp(data, back, n) == 0);

    /* A middle range crossing part boundaries. */
    memset(back, 0, n);
    CHECK(ossc_get_range(client, bucket, "live/blob", 1000, 2500000, back, &err) == 2500000);
    CHECK(memcmp(data + 1000, back, 2500000) == 0);

    /* At and past the end. */
    CHECK(ossc_get_range(client, bucket, "live/blob", n, 100, back, &err) == 0);
    CHECK(ossc_get_range(client, bucket, "live/blob", n + 5, 100, back, &err) == 0);

    /* Async. */
    ossc_future *f = ossc_get_async(client, bucket, "live/blob", 5, 100, back, &err);
    CHECK(f != NULL);
    CHECK(ossc_future_wait(f, &err) == 100);
    CHECK(memcmp(data + 5, back, 100) == 0);
    uint64_t crc = 0, object_crc = 0;
    CHECK(ossc_future_crc64(f, &crc, &object_crc) >= 0);
    CHECK(crc == slow_crc64(data + 5, 100));
    ossc_future_free(f);

    /* A range across parts: the parts' CRCs combine; HEAD has the object's. */
    f = ossc_get_async(client, bucket, "live/blob", 1000, 2500000, back, &err);
    CHECK(f != NULL);
    CHECK(ossc_future_crc64(f, &crc, NULL) == -1); /* not waited yet */
    CHECK(ossc_future_wait(f, &err) == 2500000);
    CHECK(ossc_future_crc64(f, &crc, NULL) >= 0);
    CHECK(crc == slow_crc64(data + 1000, 2500000));
    uint64_t object_size = 0;
    CHECK(ossc_future_object_size(f, &object_size) == 1 && object_size == n);
    ossc_future_free(f);
    CHECK(ossc_head(client, bucket, "live/blob", &info, &err) == 0);
    CHECK(info.has_crc64 && info.crc64 == slow_crc64(data, n));
    ossc_object_info_clear(&info);

    /* The public CRC helpers: ranges read apart join to the object's CRC. */
    uint64_t head_crc = ossc_crc64(0, data, 1000);
    CHECK(head_crc == slow_crc64(data, 1000));
    CHECK(ossc_crc64(head_crc, data + 1000, n - 1000) == slow_crc64(data, n));
    CHECK(ossc_crc64_join(head_crc, slow_crc64(data + 1000, n - 1000), n - 1000) ==
          slow_crc64(data, n));

    free(data);
    free(back);
}

/* GET into a file: the bytes land at fd_offset, whole object
 * (CRC-verified) and a range across parts, through a mapping of the file
 * or with pwrite; a bad descriptor and a file opened read-only fail with
 * their errno. */
/* Pinned reads: of the version asked for, into memory and into a file;
 * ESTALE once the object was replaced (412 to If-Match). */
static void test_pinned_version(void)
{
    ossc_error err;
    size_t n = 2 * 1024 * 1024 + 5; /* three 1 MiB parts */
    unsigned char *v1 = malloc(n), *v2 = malloc(n), *back = calloc(1, n);
    fill(v1, n, 11);
    fill(v2, n, 12);
    CHECK(ossc_put(client, bucket, "live/pinned", v1, n, &err) == 0);
    ossc_object_info info;
    CHECK(ossc_head(client, bucket, "live/pinned", &info, &err) == 0);
    char etag[80];
    snprintf(etag, sizeof(etag), "%s", info.etag);
    ossc_object_info_clear(&info);
    CHECK(etag[0] != '\0');

    ossc_future *f = ossc_get_async_version(client, bucket, "live/pinned", etag, 0, n, back, &err);
    CHECK(f != NULL);
    CHECK(ossc_future_etag(f) == NULL); /* not waited yet */
    CHECK(ossc_future_wait(f, &err) == (int64_t)n);
    CHECK(memcmp(back, v1, n) == 0);
    CHECK(strcasecmp(ossc_future_etag(f), etag) == 0);
    ossc_future_free(f);

    CHECK(ossc_put(client, bucket, "live/pinned", v2, n, &err) == 0);
    memset(back, 0, n);
    f = ossc_get_async_version(client, bucket, "live/pinned", etag, 1000, n - 1000, back, &err);
    CHECK(f != NULL);
    CHECK(ossc_future_wait(f, &err) == -1);
    CHECK(err.code == ESTALE);
    CHECK(strstr(err.message, etag) != NULL);
    CHECK(ossc_future_etag(f) == NULL);
    ossc_future_free(f);
    char tmpl[] = "/tmp/live-pinned-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    unlink(tmpl);
    f = ossc_get_async_fd_version(client, bucket, "live/pinned", etag, 0, n, fd, 0, &err);
    CHECK(f != NULL);
    CHECK(ossc_future_wait(f, &err) == -1 && err.code == ESTALE);
    ossc_future_free(f);
    /* Unpinned: the new version. */
    CHECK(ossc_get_range(client, bucket, "live/pinned", 0, n, back, &err) == (int64_t)n);
    CHECK(memcmp(back, v2, n) == 0);
    close(fd);
    free(v1);
    free(v2);
    free(back);
}

static void test_get_into_file(void)
{
    ossc_error err;
    size_t n = 2 * 1024 * 1024 + 333;
    unsigned char *data = malloc(n), *back = malloc(n);
    fill(data, n, 11);
    CHECK(ossc_put(client, bucket, "live/tofile", data, n, &err) == 0);
    FILE *tmp = tmpfile();
    int fd = fileno(tmp);

    ossc_future *f = ossc_get_async_fd(client, bucket, "live/tofile", 0, n, fd, 4096, &err);
    CHECK(f != NULL && ossc_future_wait(f, &err) == (int64_t)n);
    ossc_future_free(f);
    CHECK(pread(fd, back, n, 4096) == (ssize_t)n && memcmp(data, back, n) == 0);

    f = ossc_get_async_fd(client, bucket, "live/tofile", 700000, 1300000, fd, 0, &err);
    CHECK(f != NULL && ossc_future_wait(f, &err) == 1300000);
    ossc_future_free(f);
    CHECK(pread(fd, back, 1300000, 0) == 1300000 && memcmp(data + 700000, back, 1300000) == 0);

    /* A tmpfs file (the mapped path), at an offset that is not page
     * aligned and past its end; then past the end of a tmpfs file that may
     * not grow: the range cannot be allocated, the bytes go through pwrite
     * and the future fails with pwrite's errno -- never a SIGBUS. */
    int shm = memfd_create("ossc-test-tmpfs", MFD_CLOEXEC);
    CHECK(shm >= 0 && ftruncate(shm, 4096) == 0);
    f = ossc_get_async_fd(client, bucket, "live/tofile", 0, 1000000, shm, 1234, &err);
    CHECK(f != NULL && ossc_future_wait(f, &err) == 1000000);
    ossc_future_free(f);
    CHECK(pread(shm, back, 1000000, 1234) == 1000000 && memcmp(data, back, 1000000) == 0);
    close(shm);

    int sealed = memfd_create("ossc-test-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(sealed >= 0 && ftruncate(sealed, 1 << 20) == 0);
    CHECK(fcntl(sealed, F_ADD_SEALS, F_SEAL_GROW) == 0);
    f = ossc_get_async_fd(client, bucket, "live/tofile", 0, n, sealed, 0, &err);
    CHECK(f != NULL && ossc_future_wait(f, &err) == -1 && err.code == EPERM);
    ossc_future_free(f);
    CHECK(pread(sealed, back, 1 << 20, 0) == 1 << 20 && memcmp(data, back, 1 << 20) == 0);
    close(sealed);

    CHECK(ossc_get_async_fd(client, bucket, "live/tofile", 0, 10, -1, 0, &err) == NULL);
    CHECK(err.code == EBADF);

    int ro = open("/dev/null", O_RDONLY);
    f = ossc_get_async_fd(client, bucket, "live/tofile", 0, 100, ro, 0, &err);
    CHECK(f != NULL && ossc_future_wait(f, &err) == -1 && err.code == EBADF);
    CHECK(strstr(err.message, "live/tofile") != NULL);
    ossc_future_free(f);
    close(ro);

    fclose(tmp);
    free(data);
    free(back);
}

static void test_errors(void)
{
    ossc_error err;
    char buf[16];
    ossc_object_info info;
    CHECK(ossc_head(client, bucket, "live/missing", &info, &err) == -1);
    CHECK(err.code == ENOENT);
    CHECK(strstr(err.message, "live/missing") != NULL);
    CHECK(ossc_get_range(client, bucket, "live/missing", 0, 16, buf, &err) == -1);
    CHECK(err.code == ENOENT);
    CHECK(strcmp(err.oss_code, "NoSuchKey") == 0);
    CHECK(ossc_head(client, "no-such-bucket-x", "k", &info, &err) == -1);
    CHECK(err.code == ENOENT);
    CHECK(ossc_head(client, "Bad_Bucket", "k", &info, &err) == -1);
    CHECK(err.code == EINVAL);
    CHECK(ossc_get_range(client, "", "k", 0, 1, buf, &err) == -1);
    CHECK(err.code == EINVAL);
}

static void test_writer(void)
{
    ossc_error err;
    size_t n = 5 * 1024 * 1024 + 3;
    unsigned char *data = malloc(n), *back = malloc(n);
    fill(data, n, 11);

    /* Multipart, written in odd-sized pieces. */
    ossc_writer *w = ossc_writer_open(client, bucket, "live/mpu", &err);
    CHECK(w != NULL);
    for (size_t off = 0; off < n; off += 300001) {
        size_t len = n - off < 300001 ? n - off : 300001;
        CHECK(ossc_writer_write(w, data + off, len, &err) == 0);
    }
    CHECK(ossc_writer_close(w, &err) == 0);
    CHECK(ossc_get_range(client, bucket, "live/mpu", 0, n, back, &err) == (int64_t)n);
    CHECK(memcmp(data, back, n) == 0);

    /* Aborted: the previous object stays. */
    w = ossc_writer_open(client, bucket, "live/mpu", &err);
    CHECK(ossc_writer_write(w, data, 2 * 1024 * 1024 + 1, &err) == 0);
    ossc_writer_abort(w);
    ossc_object_info info;
    CHECK(ossc_head(client, bucket, "live/mpu", &info, &err) == 0);
    CHECK(info.size == n);
    ossc_object_info_clear(&info);

    /* Small: a single PUT; empty object. */
    w = ossc_writer_open(client, bucket, "live/empty", &err);
    CHECK(ossc_writer_close(w, &err) == 0);
    CHECK(ossc_head(client, bucket, "live/empty", &info, &err) == 0);
    CHECK(info.size == 0);
    ossc_object_info_clear(&info);

    free(data);
    free(back);
}

static void test_list_copy_delete(void)
{
    ossc_error err;
    char key[64];
    for (int i = 0; i < 250; i++) {
        snprintf(key, sizeof(key), "live/list/%c/%04d", 'a' + i % 5, i);
        CHECK(ossc_put(client, bucket, key, key, strlen(key), &err) == 0);
    }
    ossc_list_result *r = NULL;
    CHECK(ossc_list_all(client, bucket, "live/list/", 0, &r, &err) == 0);
    CHECK(r && r->count == 250);
    ossc_list_result_free(r);
    r = NULL;
    CHECK(ossc_list_all(client, bucket, "live/list/", 1, &r, &err) == 0);
    CHECK(r && r->count == 250);
    ossc_list_result_free(r);
    r = NULL;
    CHECK(ossc_list_page(client, bucket, "live/list/", "/", "", 0, &r, &err) == 0);
    CHECK(r && r->count == 0 && r->prefix_count == 5);
    ossc_list_result_free(r);
    r = NULL;
    CHECK(ossc_list_page_v1(client, bucket, "live/list/", NULL, "", 100, &r, &err) == 0);
    CHECK(r && r->count == 100 && r->truncated);
    ossc_list_result_free(r);

    CHECK(ossc_copy(client, bucket, "live/list/a/0000", bucket, "live/copied", &err) == 0);
    char buf[64] = {0};
    CHECK(ossc_get_range(client, bucket, "live/copied", 0, sizeof(buf), buf, &err) == 16);
    CHECK(strcmp(buf, "live/list/a/0000") == 0);
    CHECK(ossc_delete(client, bucket, "live/copied", &err) == 0);
    ossc_object_info info;
    CHECK(ossc_head(client, bucket, "live/copied", &info, &err) == -1 && err.code == ENOENT);
}

int main(void)
{
    const char *endpoint = getenv("OSSC_TEST_ENDPOINT");
    bucket = getenv("OSSC_TEST_BUCKET");
    if (!endpoint || !bucket) {
        fprintf(stderr, "live_engine: OSSC_TEST_ENDPOINT and OSSC_TEST_BUCKET must be set\n");
        return 2;
    }
    ossc_error err;
    ossc_client_options o = {
        .endpoint = endpoint,
        .region = getenv("OSSC_TEST_REGION"),
        .config_path = getenv("OSSC_TEST_CONFIG"),
        .profile = OSSC_PROFILE_CHECKPOINT,
    };
    client = ossc_client_new(&o, &err);
    if (!client) {
        fprintf(stderr, "live_engine: %s\n", err.message);
        return 2;
    }
    test_put_get_ranges();
    test_pinned_version();
    test_get_into_file();
    test_errors();
    test_writer();
    test_list_copy_delete();
    ossc_client_free(client);
    return check_summary("live_engine");
}
