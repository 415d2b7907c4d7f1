/* test_cred.c - credential sources: file (with refresh), environment,
 * callback; ISO 8601 parsing. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cred.h"
#include "error.h"
#include "log.h"
#include "tmpfiles.h"

static char logpath[128];

/* Sets the file's mtime to sec.nsec (to simulate or hide a change). */
static void set_mtime(const char *path, time_t sec, long nsec)
{
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};

    utimensat(AT_FDCWD, path, ts, 0);
}

/* "YYYY-MM-DDTHH:MM:SSZ" for t. */
static void iso(time_t t, char *buf, size_t cap)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void test_iso8601(void)
{
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05Z") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05.123Z") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05.000Z") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02t15:04:05z") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02T23:04:05+08:00") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-08-02T10:04:05-0500") == 1722611045);
    CHECK(ossc_parse_iso8601("2024-02-29T00:00:00Z") == 1709164800);
    CHECK(ossc_parse_iso8601("2024-08-20T00:00:00Z") == 1724112000);
    CHECK(ossc_parse_iso8601("1970-01-01T00:00:00Z") == 0);
    CHECK(ossc_parse_iso8601("2023-02-29T00:00:00Z") == -1);
    CHECK(ossc_parse_iso8601("2024-13-01T00:00:00Z") == -1);
    CHECK(ossc_parse_iso8601("2024-08-02T24:00:00Z") == -1);
    CHECK(ossc_parse_iso8601("2024-08-02 15:04") == -1);
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05Zjunk") == -1);
    CHECK(ossc_parse_iso8601("2024-08-02T15:04:05.Z") == -1);
    CHECK(ossc_parse_iso8601("tomorrow") == -1);
    CHECK(ossc_parse_iso8601("") == -1);
    CHECK(ossc_parse_iso8601(NULL) == -1);
}

static void test_file_basic(void)
{
    ossc_cred_source src;
    ossc_credentials c;
    ossc_error e;
    const char *p;

    p = write_tmp("full.json", "{\n\"AccessKeyId\": \"STS.id1\",\n\"AccessKeySecret\": \"sec1\",\n"
                               "\"SecurityToken\": \"tok1\",\n"
                               "\"Expiration\": \"2024-08-02T15:04:05Z\"\n}\n");
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "STS.id1");
    CHECK_STR(c.access_key_secret, "sec1");
    CHECK_STR(c.security_token, "tok1");
    CHECK(c.expiration == 1722611045);
    ossc_cred_destroy(&src);

    p = write_tmp("plain.json", "{\"AccessKeyId\": \"id2\", \"AccessKeySecret\": \"sec2\"}");
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "id2");
    CHECK_STR(c.access_key_secret, "sec2");
    CHECK_STR(c.security_token, "");
    CHECK(c.expiration == 0);
    ossc_cred_destroy(&src);

    /* empty / null optional fields mean "none" */
    p = write_tmp("empty_opt.json", "{\"AccessKeyId\": \"id3\", \"AccessKeySecret\": \"sec3\", "
                                    "\"SecurityToken\": \"\", \"Expiration\": \"\"}");
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(c.expiration == 0 && c.security_token[0] == '\0');
    ossc_cred_destroy(&src);
    p = write_tmp("null_opt.json", "{\"AccessKeyId\": \"id3\", \"AccessKeySecret\": \"sec3\", "
                                   "\"SecurityToken\": null, \"Expiration\": null}");
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    ossc_cred_destroy(&src);
}

/* Init must fail with `code`, a message naming the file and containing
 * `want`, and never the secret "TOPSECRET". */
static void expect_file_error(const char *content, int code, const char *want)
{
    ossc_cred_source src;
    ossc_error e;
    const char *p = write_tmp("bad.json", content);

    ossc_error_clear(&e);
    CHECK(ossc_cred_init_file(&src, p, &e) == -1);
    CHECK(e.code == code);
    CHECK(strstr(e.message, p) != NULL);
    CHECK(strstr(e.message, "TOPSECRET") == NULL);
    if (!strstr(e.message, want)) {
        fprintf(stderr, "  message: %s\n  wanted:  %s\n", e.message, want);
        CHECK(!"message mismatch");
    }
}

static void test_file_errors(void)
{
    ossc_cred_source src;
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(ossc_cred_init_file(&src, "/nonexistent/creds.json", &e) == -1);
    CHECK(e.code == ENOENT);
    CHECK(strstr(e.message, "credentials file /nonexistent/creds.json") != NULL);
    CHECK(ossc_cred_init_file(&src, "", &e) == -1 && e.code == EINVAL);

    expect_file_error("{\"AccessKeyId\": \"id\",\n\"AccessKeySecret\": TOPSECRET}", EINVAL,
                      "line 2");
    expect_file_error("{\"AccessKeyId\": \"id\", \"AccessKeySecret\": \"TOPSECRET\" \"x\": 1}",
                      EINVAL, "invalid JSON");
    expect_file_error("{\"AccessKeyId\": \"id\", \"AccessKeySecret\": \"TOPSECRET",
                      EINVAL, "invalid JSON");
    expect_file_error("{\"AccessKeySecret\": \"TOPSECRET\"}", EINVAL, "'AccessKeyId'");
    expect_file_error("{\"AccessKeyId\": \"\", \"AccessKeySecret\": \"TOPSECRET\"}", EINVAL,
                      "'AccessKeyId'");
    expect_file_error("{\"AccessKeyId\": 12, \"AccessKeySecret\": \"TOPSECRET\"}", EINVAL,
                      "'AccessKeyId'");
    expect_file_error("{\"AccessKeyId\": \"id\"}", EINVAL, "'AccessKeySecret'");
    expect_file_error("{\"AccessKeyId\": \"id\", \"AccessKeySecret\": \"TOPSECRET\", "
                      "\"SecurityToken\": 5}",
                      EINVAL, "'SecurityToken'");
    expect_file_error("{\"AccessKeyId\": \"id\", \"AccessKeySecret\": \"TOPSECRET\", "
                      "\"Expiration\": \"next week\"}",
                      EINVAL, "'Expiration'");
    expect_file_error("[\"TOPSECRET\"]", EINVAL, "JSON object");
    expect_file_error("{\"AccessKeyId\": \"id\", \"AccessKeyId\": \"id\", "
                      "\"AccessKeySecret\": \"TOPSECRET\"}",
                      EINVAL, "invalid JSON");
    {
        char big[400];
        char json[600];
        memset(big, 'k', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        snprintf(json, sizeof json, "{\"AccessKeyId\": \"%s\", \"AccessKeySecret\": \"TOPSECRET\"}",
                 big);
        expect_file_error(json, EINVAL, "'AccessKeyId' is too long");
    }
}

static void test_file_reread(void)
{
    ossc_cred_source src;
    ossc_credentials c;
    ossc_error e;
    struct stat st;
    char p[256];
    char *log;

    snprintf(p, sizeof p, "%s", write_tmp("rotate.json", "{\"AccessKeyId\": \"idA\", \"AccessKeySecret\": \"secA\"}"));
    set_mtime(p, 1700000000, 0);
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idA");

    /* same size, new content, mtime bumped: re-read */
    write_tmp("rotate.json", "{\"AccessKeyId\": \"idB\", \"AccessKeySecret\": \"secB\"}");
    set_mtime(p, 1700000100, 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idB");
    CHECK_STR(c.access_key_secret, "secB");

    /* a change invisible to stat (same size, mtime restored) and no expiry
     * in sight: the cached credentials are kept, no needless re-reading */
    write_tmp("rotate.json", "{\"AccessKeyId\": \"idC\", \"AccessKeySecret\": \"secC\"}");
    set_mtime(p, 1700000100, 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idB");

    /* broken new version: keep the last good credentials, warn once,
     * without the secret */
    write_tmp("rotate.json", "{\"AccessKeyId\": \"idD\", \"AccessKeySecret\": \"TOPSECRET\"");
    set_mtime(p, 1700000200, 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idB");
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_secret, "secB");
    log = slurp(logpath);
    CHECK(strstr(log, "keeping the previously read credentials") != NULL);
    CHECK(strstr(log, p) != NULL);
    CHECK(strstr(log, "TOPSECRET") == NULL);
    CHECK(strstr(log, "secB") == NULL);
    {
        int warnings = 0;
        for (const char *s = log; (s = strstr(s, "keeping the previously")); s++)
            warnings++;
        CHECK(warnings == 1);
    }
    free(log);

    /* fixed again (size changes, mtime kept): re-read */
    write_tmp("rotate.json", "{\"AccessKeyId\": \"idE\", \"AccessKeySecret\": \"secE\", "
                             "\"SecurityToken\": \"tokE\"}");
    set_mtime(p, 1700000200, 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idE");
    CHECK_STR(c.security_token, "tokE");

    /* replaced by rename (new inode) */
    {
        char other[256];
        snprintf(other, sizeof other, "%s/rotate.new", tmpdir);
        write_tmp("rotate.new", "{\"AccessKeyId\": \"idF\", \"AccessKeySecret\": \"secF\", "
                                "\"SecurityToken\": \"tokF\"}");
        set_mtime(other, 1700000200, 0);
        CHECK(rename(other, p) == 0);
        CHECK(stat(p, &st) == 0);
        CHECK(ossc_cred_get(&src, &c, &e) == 0);
        CHECK_STR(c.access_key_id, "idF");
    }

    /* deleted: the last good credentials stay */
    unlink(p);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idF");
    ossc_cred_destroy(&src);
}

/* Within 5 minutes of Expiration the file is read again even when stat
 * shows no change. */
static void test_file_expiry(void)
{
    ossc_cred_source src;
    ossc_credentials c;
    ossc_error e;
    char exp1[32], exp2[32], json[256];
    time_t now = time(NULL);
    const char *p;

    iso(now + 120, exp1, sizeof exp1);
    iso(now + 3600, exp2, sizeof exp2);
    snprintf(json, sizeof json,
             "{\"AccessKeyId\": \"idX\", \"AccessKeySecret\": \"secX\", \"Expiration\": \"%s\"}",
             exp1);
    p = write_tmp("expiring.json", json);
    set_mtime(p, 1700000000, 0);
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(c.expiration == now + 120);

    snprintf(json, sizeof json,
             "{\"AccessKeyId\": \"idY\", \"AccessKeySecret\": \"secY\", \"Expiration\": \"%s\"}",
             exp2);
    write_tmp("expiring.json", json);
    set_mtime(p, 1700000000, 0); /* invisible to stat */
    usleep(1200 * 1000);         /* past the one-attempt-per-second throttle */
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idY");
    CHECK(c.expiration == now + 3600);

    /* far from expiry now: an invisible change is not picked up */
    snprintf(json, sizeof json,
             "{\"AccessKeyId\": \"idZ\", \"AccessKeySecret\": \"secZ\", \"Expiration\": \"%s\"}",
             exp2);
    write_tmp("expiring.json", json);
    set_mtime(p, 1700000000, 0);
    usleep(1200 * 1000);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "idY");
    ossc_cred_destroy(&src);
}

struct pair_check {
    ossc_cred_source *src;
    int bad;
};

static void *reader(void *arg)
{
    struct pair_check *pc = arg;
    ossc_credentials c;
    ossc_error e;

    for (int i = 0; i < 3000; i++) {
        if (ossc_cred_get(pc->src, &c, &e) != 0 || c.access_key_id[2] != c.access_key_secret[3])
            __atomic_add_fetch(&pc->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Readers always see a matching id/secret pair while the file is being
 * rewritten (non-atomically) under them. */
static void test_file_concurrent(void)
{
    ossc_cred_source src;
    ossc_error e;
    pthread_t th[4];
    struct pair_check pc = {&src, 0};
    const char *p;

    p = write_tmp("busy.json", "{\"AccessKeyId\": \"id0\", \"AccessKeySecret\": \"sec0\"}");
    CHECK(ossc_cred_init_file(&src, p, &e) == 0);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reader, &pc);
    for (int i = 0; i < 200; i++) {
        char json[128];
        snprintf(json, sizeof json,
                 "{\"AccessKeyId\": \"id%d\", \"AccessKeySecret\": \"sec%d\"%s}", i % 10, i % 10,
                 i % 2 ? "" : " ");
        write_tmp("busy.json", json);
        set_mtime(p, 1700000000 + i, 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(pc.bad == 0);
    ossc_cred_destroy(&src);
}

static void test_env(void)
{
    ossc_cred_source src;
    ossc_credentials c;
    ossc_error e;

    unsetenv("OSS_ACCESS_KEY_ID");
    unsetenv("OSS_ACCESS_KEY_SECRET");
    unsetenv("OSS_SESSION_TOKEN");
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_env(&src, &e) == -1);
    CHECK(e.code == EACCES);
    CHECK(strstr(e.message, "OSS_ACCESS_KEY_ID") != NULL);

    setenv("OSS_ACCESS_KEY_ID", "envid", 1);
    CHECK(ossc_cred_init_env(&src, &e) == -1);
    CHECK(e.code == EACCES);
    CHECK(strstr(e.message, "OSS_ACCESS_KEY_SECRET") != NULL);

    setenv("OSS_ACCESS_KEY_SECRET", "envsecret", 1);
    CHECK(ossc_cred_init_env(&src, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "envid");
    CHECK_STR(c.access_key_secret, "envsecret");
    CHECK_STR(c.security_token, "");
    CHECK(c.expiration == 0);

    /* read at every get */
    setenv("OSS_SESSION_TOKEN", "envtoken", 1);
    setenv("OSS_ACCESS_KEY_ID", "envid2", 1);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK_STR(c.access_key_id, "envid2");
    CHECK_STR(c.security_token, "envtoken");

    unsetenv("OSS_ACCESS_KEY_SECRET");
    ossc_error_clear(&e);
    CHECK(ossc_cred_get(&src, &c, &e) == -1);
    CHECK(e.code == EACCES);
    CHECK(strstr(e.message, "OSS_ACCESS_KEY_SECRET") != NULL);
    ossc_cred_destroy(&src);
    unsetenv("OSS_ACCESS_KEY_ID");
    unsetenv("OSS_SESSION_TOKEN");
}

struct cb_state {
    int calls;
    int fail;
    int empty;
    int64_t expiration;
};

static int test_callback(void *userdata, ossc_credentials *out)
{
    struct cb_state *s = userdata;

    s->calls++;
    if (s->fail)
        return -1;
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s",
             s->empty ? "" : (s->calls == 1 ? "cbid1" : "cbid2"));
    snprintf(out->access_key_secret, sizeof out->access_key_secret, "cbsecret%d", s->calls);
    snprintf(out->security_token, sizeof out->security_token, "cbtoken");
    out->expiration = s->expiration;
    return 0;
}

static void test_callback_source(void)
{
    ossc_cred_source src;
    ossc_credentials c;
    ossc_error e;
    struct cb_state s = {0, 0, 0, 0};
    char *log;

    /* no expiration: one call at init, none on an immediate get */
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_callback(&src, test_callback, &s, &e) == 0);
    CHECK(s.calls == 1);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(s.calls == 1);
    CHECK_STR(c.access_key_id, "cbid1");
    CHECK_STR(c.access_key_secret, "cbsecret1");
    CHECK_STR(c.security_token, "cbtoken");
    ossc_cred_destroy(&src);

    /* near expiry: asked again (at most once per second) */
    s = (struct cb_state){0, 0, 0, (int64_t)time(NULL) + 60};
    CHECK(ossc_cred_init_callback(&src, test_callback, &s, &e) == 0);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(s.calls == 1);
    usleep(1200 * 1000);
    s.expiration = (int64_t)time(NULL) + 3600;
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(s.calls == 2);
    CHECK_STR(c.access_key_id, "cbid2");
    CHECK(c.expiration == s.expiration);
    /* fresh now: no more calls */
    usleep(1200 * 1000);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(s.calls == 2);
    ossc_cred_destroy(&src);

    /* a failing refresh keeps the previous credentials */
    s = (struct cb_state){0, 0, 0, (int64_t)time(NULL) + 10};
    CHECK(ossc_cred_init_callback(&src, test_callback, &s, &e) == 0);
    s.fail = 1;
    usleep(1200 * 1000);
    CHECK(ossc_cred_get(&src, &c, &e) == 0);
    CHECK(s.calls == 2);
    CHECK_STR(c.access_key_id, "cbid1");
    CHECK_STR(c.access_key_secret, "cbsecret1");
    log = slurp(logpath);
    CHECK(strstr(log, "credentials callback failed; keeping the previous credentials") != NULL);
    CHECK(strstr(log, "cbsecret") == NULL);
    free(log);
    ossc_cred_destroy(&src);

    /* failures at init */
    s = (struct cb_state){0, 1, 0, 0};
    ossc_error_clear(&e);
    CHECK(ossc_cred_init_callback(&src, test_callback, &s, &e) == -1);
    CHECK(e.code == EACCES);
    CHECK(strstr(e.message, "callback") != NULL);
    s = (struct cb_state){0, 0, 1, 0};
    CHECK(ossc_cred_init_callback(&src, test_callback, &s, &e) == -1);
    CHECK(e.code == EACCES);
    CHECK(ossc_cred_init_callback(&src, NULL, NULL, &e) == -1);
    CHECK(e.code == EINVAL);
}

int main(void)
{
    if (make_tmpdir("cred") != 0)
        return 1;
    snprintf(logpath, sizeof logpath, "%s/test.log", tmpdir);
    ossc_log_init(OSSC_LOG_INFO, logpath);
    test_iso8601();
    test_file_basic();
    test_file_errors();
    test_file_reread();
    test_file_expiry();
    test_file_concurrent();
    test_env();
    test_callback_source();
    ossc_log_init(OSSC_LOG_WARN, NULL);
    remove_tmpdir();
    return check_summary("test_cred");
}
