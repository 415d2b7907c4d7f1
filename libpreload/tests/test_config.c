/* test_config.c - config.json loading, plus the small modules it relies on:
 * ossc_error (error.c) and the log/audit files (log.c). */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "error.h"
#include "log.h"
#include "tmpfiles.h"


static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- error.c ---------------------------------------------------------- */

static void test_error(void)
{
    ossc_error e;

    ossc_error_clear(&e);
    CHECK(e.code == 0 && e.message[0] == '\0' && e.http_status == 0);
    CHECK(ossc_error_set(&e, ENOENT, "object %s/%s not found", "b", "k") == -1);
    CHECK(e.code == ENOENT);
    CHECK_STR(e.message, "object b/k not found");
    /* the message may be built from itself */
    ossc_error_set(&e, e.code, "%s (while opening)", e.message);
    CHECK_STR(e.message, "object b/k not found (while opening)");
    CHECK(ossc_error_set(NULL, EIO, "ignored") == -1);
    /* long messages are cut, never overflow */
    {
        char big[2000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        ossc_error_set(&e, EIO, "%s", big);
        CHECK(strlen(e.message) == OSSC_ERR_MSG_MAX - 1);
    }

    CHECK(ossc_errno_for_oss("NoSuchKey", 404) == ENOENT);
    CHECK(ossc_errno_for_oss("NoSuchUpload", 404) == ENOENT);
    CHECK(ossc_errno_for_oss("NoSuchBucket", 404) == ENOENT);
    CHECK(ossc_errno_for_oss("AccessDenied", 403) == EACCES);
    CHECK(ossc_errno_for_oss("SignatureDoesNotMatch", 403) == EACCES);
    CHECK(ossc_errno_for_oss("InvalidAccessKeyId", 403) == EACCES);
    CHECK(ossc_errno_for_oss("SecurityTokenExpired", 403) == EACCES);
    CHECK(ossc_errno_for_oss("InvalidSecurityToken", 403) == EACCES);
    CHECK(ossc_errno_for_oss("RequestTimeTooSkewed", 403) == EACCES);
    CHECK(ossc_errno_for_oss("InvalidArgument", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("InvalidObjectName", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("InvalidBucketName", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("KeyTooLong", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("EntityTooLarge", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("EntityTooSmall", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("InvalidPart", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("InvalidPartOrder", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("MalformedXML", 400) == EINVAL);
    CHECK(ossc_errno_for_oss("InvalidRange", 416) == ERANGE);
    CHECK(ossc_errno_for_oss("BucketAlreadyExists", 409) == EEXIST);
    CHECK(ossc_errno_for_oss("SlowDown", 503) == EIO);
    CHECK(ossc_errno_for_oss("ServiceUnavailable", 503) == EIO);
    CHECK(ossc_errno_for_oss("InternalError", 500) == EIO);
    CHECK(ossc_errno_for_oss("RequestTimeout", 400) == ETIMEDOUT);
    CHECK(ossc_errno_for_oss("PreconditionFailed", 412) == ESTALE);
    /* unknown or missing code: the status decides */
    CHECK(ossc_errno_for_oss("SomethingNew", 404) == ENOENT);
    CHECK(ossc_errno_for_oss(NULL, 404) == ENOENT);
    CHECK(ossc_errno_for_oss("", 403) == EACCES);
    CHECK(ossc_errno_for_oss(NULL, 401) == EACCES);
    CHECK(ossc_errno_for_oss(NULL, 400) == EINVAL);
    CHECK(ossc_errno_for_oss(NULL, 409) == EEXIST);
    CHECK(ossc_errno_for_oss(NULL, 412) == ESTALE);
    CHECK(ossc_errno_for_oss(NULL, 416) == ERANGE);
    CHECK(ossc_errno_for_oss(NULL, 429) == EIO);
    CHECK(ossc_errno_for_oss(NULL, 500) == EIO);
    CHECK(ossc_errno_for_oss(NULL, 503) == EIO);
    CHECK(ossc_errno_for_oss(NULL, 0) == EIO);
    CHECK(ossc_errno_for_oss(NULL, 301) == EIO);
}

/* ---- log.c ------------------------------------------------------------ */

static void *log_thread(void *arg)
{
    int id = (int)(long)arg;

    for (int i = 0; i < 500; i++)
        OSSC_INFO("thread %d line %d", id, i);
    return NULL;
}

static void test_log(void)
{
    char dir[128], path[256], audit[256];
    struct stat st;
    regex_t re;
    char *text;
    pthread_t th[8];

    snprintf(dir, sizeof dir, "%s/logs/nested", tmpdir);
    snprintf(path, sizeof path, "%s/connector.log", dir);
    snprintf(audit, sizeof audit, "%s/audit/audit.log", tmpdir);

    ossc_log_init(OSSC_LOG_DEBUG, path);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(ossc_log_enabled(OSSC_LOG_DEBUG));
    OSSC_INFO("hello %d", 42);
    OSSC_DEBUG("debug line");
    OSSC_WARN("two\nlines\r");
    text = slurp(path);
    CHECK(regcomp(&re,
                  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z INFO "
                  "\\[[0-9]+\\] test_log test_config\\.c:[0-9]+: hello 42\n",
                  REG_EXTENDED | REG_NEWLINE) == 0);
    CHECK(regexec(&re, text, 0, NULL, 0) == 0);
    regfree(&re);
    CHECK(strstr(text, " DEBUG [") != NULL);
    CHECK(strstr(text, ": two lines \n") != NULL);
    CHECK(count_lines(text) == 3);
    free(text);

    /* level gating */
    ossc_log_init(OSSC_LOG_WARN, path);
    CHECK(!ossc_log_enabled(OSSC_LOG_INFO));
    CHECK(ossc_log_enabled(OSSC_LOG_ERROR));
    OSSC_INFO("must not appear");
    OSSC_ERROR("error line");
    text = slurp(path);
    CHECK(strstr(text, "must not appear") == NULL);
    CHECK(strstr(text, " ERROR [") != NULL);
    CHECK(count_lines(text) == 4); /* appended to what was there */
    free(text);

    /* concurrent writers: every line whole */
    ossc_log_init(OSSC_LOG_INFO, path);
    for (long i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, log_thread, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    text = slurp(path);
    CHECK(count_lines(text) == 4 + 8 * 500);
    CHECK(regcomp(&re, "^[0-9-]+T[0-9:.]+Z INFO \\[[0-9]+\\] log_thread test_config\\.c:[0-9]+: "
                       "thread [0-7] line [0-9]+$",
                  REG_EXTENDED | REG_NEWLINE | REG_NOSUB) == 0);
    {
        int bad = 0, seen = 0;
        char *line = text, *nl;
        for (; (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = '\0';
            if (strstr(line, "log_thread")) {
                seen++;
                if (regexec(&re, line, 0, NULL, 0) != 0)
                    bad++;
            }
        }
        CHECK(seen == 8 * 500);
        CHECK(bad == 0);
    }
    regfree(&re);
    free(text);

    /* fork while other threads log: the child can still log */
    {
        int ok = 0;
        for (long i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, log_thread, (void *)i);
        for (int i = 0; i < 20; i++) {
            pid_t pid = fork();
            int status = 0;
            if (pid == 0) {
                alarm(5);
                OSSC_INFO("child %d", i);
                _exit(0);
            }
            if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                WEXITSTATUS(status) == 0)
                ok++;
        }
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        CHECK(ok == 20);
        text = slurp(path);
        CHECK(strstr(text, ": child 19\n") != NULL);
        free(text);
    }

    /* an unopenable file falls back to stderr, WARN and above */
    ossc_log_init(OSSC_LOG_DEBUG, "/proc/self/no/such/dir/x.log");
    CHECK(!ossc_log_enabled(OSSC_LOG_INFO));
    CHECK(ossc_log_enabled(OSSC_LOG_WARN));
    ossc_log_init(OSSC_LOG_ERROR, NULL);
    CHECK(!ossc_log_enabled(OSSC_LOG_WARN));
    CHECK(ossc_log_enabled(OSSC_LOG_ERROR));

    /* audit: only slow requests, key quoted */
    ossc_audit_init(audit, 100);
    CHECK(stat(audit, &st) == 0 && (st.st_mode & 0777) == 0600);
    ossc_audit_request("GET", "bkt", "fast/key", "bytes=0-99", 206, 5.0, 100, "RID1");
    ossc_audit_request("GET", "bkt", "slow key\n\"x\"", "bytes=0-99", 206, 250.5, 100, "RID2");
    ossc_audit_request("PUT", "bkt", "k", NULL, 200, 100.0, 7, NULL);
    text = slurp(audit);
    CHECK(strstr(text, "RID1") == NULL);
    CHECK(strstr(text, "PUT") == NULL);
    CHECK(strstr(text, " GET bucket=bkt key=\"slow key\\x0a\\\"x\\\"\" range=bytes=0-99 "
                       "status=206 ms=250.5 bytes=100 request_id=RID2\n") != NULL);
    CHECK(count_lines(text) == 1);
    free(text);
    ossc_audit_init(audit, 0); /* threshold 0: everything */
    ossc_audit_request("HEAD", "bkt", "k", "", 404, 0.0, 0, "");
    text = slurp(audit);
    CHECK(strstr(text, " HEAD bucket=bkt key=\"k\" range=- status=404 ms=0.0 bytes=0 "
                       "request_id=-\n") != NULL);
    free(text);
    ossc_audit_init("", 100); /* disabled */
    ossc_audit_request("GET", "bkt", "k", "", 200, 1e6, 0, "RID3");
    text = slurp(audit);
    CHECK(strstr(text, "RID3") == NULL);
    free(text);
}

/* ---- config.c --------------------------------------------------------- */

static void check_defaults(const ossc_config *c)
{
    CHECK(c->log_level == 1);
    CHECK_STR(c->log_path, "/var/log/oss-connector/connector.log");
    CHECK_STR(c->audit_path, "/var/log/oss-connector/audit.log");
    CHECK(c->audit_threshold_ms == 100.0);
    CHECK(c->dataset.prefetch_concurrency == 24);
    CHECK(c->dataset.prefetch_worker == 2);
    CHECK(c->dataset.enable_fast_list == false);
    CHECK(c->dataset.list_concurrency == 16);
    CHECK(c->dataset.list_worker == 1);
    CHECK(c->checkpoint.prefetch_concurrency == 24);
    CHECK(c->checkpoint.prefetch_worker == 4);
    CHECK(c->checkpoint.upload_concurrency == 64);
    CHECK(c->prefetch.vcpus == 16);
    CHECK(c->prefetch.workers == 16);
    CHECK(c->fast_list.vcpus == 1);
    CHECK(c->fast_list.workers == 16);
    CHECK(c->http.part_size == 8u * 1024 * 1024);
    CHECK(c->http.part_size_set == false);
    CHECK(c->http.adaptive == true);
    CHECK(c->http.if_match == true);
    CHECK(c->http.max_retries == 5);
    CHECK(c->http.connect_timeout_ms == 5000);
    CHECK(c->http.low_speed_timeout_s == 30);
    CHECK(c->http.low_speed_limit_bytes == 1024);
    CHECK(c->http.retry_base_ms == 100);
    CHECK(c->http.retry_max_ms == 5000);
    CHECK(c->http.path_style == false);
    CHECK(c->http.verify_tls == true);
    CHECK_STR(c->http.ca_file, "");
    CHECK(c->http.sign_version == 0);
}

static void test_defaults(void)
{
    ossc_config c;
    ossc_error e;

    ossc_config_defaults(&c);
    check_defaults(&c);
    CHECK_STR(c.source, "");

    /* nothing given, no env, default file absent -> defaults, no error */
    unsetenv(OSSC_CONFIG_ENV);
    if (access(OSSC_DEFAULT_CONFIG_PATH, F_OK) != 0) {
        ossc_error_clear(&e);
        CHECK(ossc_config_load(NULL, &c, &e) == 0);
        check_defaults(&c);
        CHECK_STR(c.source, "");
        CHECK(ossc_config_load("", &c, &e) == 0);
        CHECK_STR(c.source, "");
    }
}

static void test_documented_examples(void)
{
    ossc_config c;
    ossc_error e;

    /* torchconnector/configuration.md example */
    ossc_error_clear(&e);
    CHECK(ossc_config_load("data/config_torchconnector_doc.json", &c, &e) == 0);
    CHECK_STR(c.source, "data/config_torchconnector_doc.json");
    CHECK(c.log_level == 1);
    CHECK(c.dataset.prefetch_concurrency == 24 && c.dataset.prefetch_worker == 2);
    CHECK(c.checkpoint.prefetch_concurrency == 24 && c.checkpoint.prefetch_worker == 4);
    CHECK(c.checkpoint.upload_concurrency == 64);

    /* every key we know, with non-default values */
    CHECK(ossc_config_load("data/config_full.json", &c, &e) == 0);
    CHECK(c.log_level == 0);
    CHECK_STR(c.log_path, "/tmp/ossc-test/connector.log");
    CHECK_STR(c.audit_path, "");
    CHECK(c.audit_threshold_ms == 12.5);
    CHECK(c.dataset.prefetch_concurrency == 48);
    CHECK(c.dataset.prefetch_worker == 3);
    CHECK(c.dataset.enable_fast_list == true);
    CHECK(c.dataset.list_concurrency == 8);
    CHECK(c.dataset.list_worker == 2);
    CHECK(c.checkpoint.prefetch_concurrency == 32);
    CHECK(c.checkpoint.prefetch_worker == 6);
    CHECK(c.checkpoint.upload_concurrency == 128);
    CHECK(c.prefetch.vcpus == 24 && c.prefetch.workers == 32);
    CHECK(c.fast_list.vcpus == 2 && c.fast_list.workers == 16);
    CHECK(c.http.part_size == 16777216);
    CHECK(c.http.max_retries == 3);
    CHECK(c.http.connect_timeout_ms == 2000);
    CHECK(c.http.low_speed_timeout_s == 10);
    CHECK(c.http.low_speed_limit_bytes == 4096);
    CHECK(c.http.retry_base_ms == 50);
    CHECK(c.http.retry_max_ms == 2000);
    CHECK(c.http.path_style == true);
    CHECK(c.http.verify_tls == false);
    CHECK_STR(c.http.ca_file, "/etc/ssl/certs/ca-certificates.crt");
    CHECK(c.http.sign_version == 4);

    /* modelconnector/python_apis.md example: missing ',' after the
     * "prefetch" object (line 8) -> EINVAL naming the file and line 9, where
     * the parser meets "fastList" */
    ossc_error_clear(&e);
    c.log_level = 3;
    CHECK(ossc_config_load("data/config_modelconnector_doc.json", &c, &e) == -1);
    CHECK(e.code == EINVAL);
    CHECK(strstr(e.message, "config data/config_modelconnector_doc.json: line 9, column") ==
          e.message);
    CHECK(strstr(e.message, "invalid JSON") != NULL);
    CHECK(strstr(e.message, "missing ','") != NULL);
    /* on failure cfg holds the defaults */
    check_defaults(&c);

    /* the same example with the comma restored loads */
    {
        const char *p = write_tmp("model_fixed.json",
                                  "{\n\"logLevel\": 1,\n\"logPath\": \"/var/log/oss-connector/connector.log\",\n"
                                  "\"auditPath\": \"/var/log/oss-connector/audit.log\",\n"
                                  "\"prefetch\": {\n\"vcpus\": 24,\n\"workers\": 32\n},\n"
                                  "\"fastList\": {\n\"vcpus\": 2,\n\"workers\": 16\n}\n}\n");
        CHECK(ossc_config_load(p, &c, &e) == 0);
        CHECK(c.prefetch.vcpus == 24 && c.prefetch.workers == 32);
        CHECK(c.fast_list.vcpus == 2 && c.fast_list.workers == 16);
    }
}

/* Loads content from a temp file and expects EINVAL with `want` in the
 * message (and the file's path). */
static void expect_invalid(const char *content, const char *want)
{
    ossc_config c;
    ossc_error e;
    const char *p = write_tmp("bad.json", content);

    ossc_error_clear(&e);
    CHECK(ossc_config_load(p, &c, &e) == -1);
    CHECK(e.code == EINVAL);
    CHECK(strstr(e.message, p) != NULL);
    if (!strstr(e.message, want)) {
        fprintf(stderr, "  message: %s\n  wanted:  %s\n", e.message, want);
        CHECK(!"message mismatch");
    }
    check_defaults(&c);
}

static void test_invalid(void)
{
    char want[512];
    const char *p;

    p = write_tmp("bad.json", "");
    snprintf(want, sizeof want,
             "config %s: key 'prefetch.vcpus' must be an integer between 1 and 1024", p);
    expect_invalid("{\"prefetch\": {\"vcpus\": 0}}", want);
    expect_invalid("{\"prefetch\": {\"vcpus\": 1025}}", "'prefetch.vcpus' must be an integer");
    expect_invalid("{\"logLevel\": \"1\"}", "key 'logLevel' must be an integer between 0 and 3");
    expect_invalid("{\"logLevel\": 4}", "key 'logLevel' must be an integer between 0 and 3");
    expect_invalid("{\"logLevel\": -1}", "'logLevel'");
    expect_invalid("{\"logLevel\": 1.0}", "'logLevel'");
    expect_invalid("{\"logPath\": 5}", "key 'logPath' must be a string");
    expect_invalid("{\"datasetConfig\": {\"enableFastList\": 1}}",
                   "key 'datasetConfig.enableFastList' must be true or false");
    expect_invalid("{\"datasetConfig\": {\"enableFastList\": \"true\"}}",
                   "'datasetConfig.enableFastList' must be true or false");
    expect_invalid("{\"datasetConfig\": [1, 2]}", "key 'datasetConfig' must be an object");
    expect_invalid("{\"checkpointConfig\": {\"uploadConcurrency\": 0}}",
                   "'checkpointConfig.uploadConcurrency' must be an integer between 1 and 1024");
    expect_invalid("{\"http\": {\"partSize\": 1024}}",
                   "'http.partSize' must be an integer between 102400 and 5368709120");
    expect_invalid("{\"http\": {\"lowSpeedLimitBytes\": 0}}",
                   "'http.lowSpeedLimitBytes' must be an integer between 1 and 1073741824");
    expect_invalid("{\"http\": {\"signVersion\": 2}}", "'http.signVersion' must be 0, 1 or 4");
    expect_invalid("{\"http\": {\"retryBaseMs\": 500, \"retryMaxMs\": 100}}",
                   "'http.retryMaxMs' (100) must not be smaller than 'http.retryBaseMs' (500)");
    expect_invalid("{\"auditThresholdMs\": \"fast\"}", "key 'auditThresholdMs' must be a number");
    expect_invalid("[1, 2]", "top level must be a JSON object");
    expect_invalid("{\"logLevel\": 1, \"logLevel\": 2}", "duplicate");
    expect_invalid("{\n  \"logLevel\": 1,\n}\n", "line 3");
    expect_invalid("", "invalid JSON");
}

static void test_unknown_and_files(void)
{
    ossc_config c;
    ossc_error e;
    const char *p;
    char logpath[256];
    char *text;

    /* unknown keys are accepted and reported in one warning */
    snprintf(logpath, sizeof logpath, "%s/warn.log", tmpdir);
    ossc_log_init(OSSC_LOG_INFO, logpath);
    p = write_tmp("unknown.json", "{\"logLevel\": 2, \"someNewKey\": 1, "
                                  "\"datasetConfig\": {\"prefetchWorker\": 5, \"newThing\": true},"
                                  " \"customSection\": {\"x\": 1}}");
    ossc_error_clear(&e);
    CHECK(ossc_config_load(p, &c, &e) == 0);
    CHECK(c.log_level == 2);
    CHECK(c.dataset.prefetch_worker == 5);
    text = slurp(logpath);
    CHECK(strstr(text, " WARN [") != NULL);
    CHECK(strstr(text, "'someNewKey'") != NULL);
    CHECK(strstr(text, "'datasetConfig.newThing'") != NULL);
    CHECK(strstr(text, "'customSection'") != NULL);
    CHECK(count_lines(text) == 1);
    free(text);
    ossc_log_init(OSSC_LOG_WARN, NULL);

    /* explicit path that does not exist: ENOENT naming it */
    ossc_error_clear(&e);
    CHECK(ossc_config_load("/nonexistent/oss/config.json", &c, &e) == -1);
    CHECK(e.code == ENOENT);
    CHECK(strstr(e.message, "/nonexistent/oss/config.json") != NULL);

    /* unreadable file: EACCES (root reads anything, so skip then) */
    if (geteuid() != 0) {
        p = write_tmp("noperm.json", "{}");
        chmod(p, 0);
        ossc_error_clear(&e);
        CHECK(ossc_config_load(p, &c, &e) == -1);
        CHECK(e.code == EACCES);
        CHECK(strstr(e.message, p) != NULL);
    }

    /* a directory is not a config file */
    ossc_error_clear(&e);
    CHECK(ossc_config_load(tmpdir, &c, &e) == -1);
    CHECK(e.code != 0);

    /* $OSS_CONNECTOR_CONFIG */
    p = write_tmp("env.json", "{\"checkpointConfig\": {\"uploadConcurrency\": 7}}");
    setenv(OSSC_CONFIG_ENV, p, 1);
    ossc_error_clear(&e);
    CHECK(ossc_config_load(NULL, &c, &e) == 0);
    CHECK(c.checkpoint.upload_concurrency == 7);
    CHECK_STR(c.source, p);
    /* an explicit path wins over the variable */
    CHECK(ossc_config_load("data/config_torchconnector_doc.json", &c, &e) == 0);
    CHECK(c.checkpoint.upload_concurrency == 64);
    /* the variable naming a missing file is an error that names both */
    setenv(OSSC_CONFIG_ENV, "/nonexistent/env-config.json", 1);
    ossc_error_clear(&e);
    CHECK(ossc_config_load(NULL, &c, &e) == -1);
    CHECK(e.code == ENOENT);
    CHECK(strstr(e.message, "/nonexistent/env-config.json") != NULL);
    CHECK(strstr(e.message, OSSC_CONFIG_ENV) != NULL);
    unsetenv(OSSC_CONFIG_ENV);
}

/* http.adaptive, OSSC_HTTP_ADAPTIVE over it, and http.partSize marked as
 * the user's (adapt.c then never resizes parts). */
static void test_adaptive(void)
{
    ossc_config c;
    ossc_error e;
    const char *p = write_tmp("adaptive.json",
                              "{\"http\": {\"adaptive\": false, \"partSize\": 8388608}}");

    unsetenv(OSSC_ADAPTIVE_ENV);
    ossc_error_clear(&e);
    CHECK(ossc_config_load(p, &c, &e) == 0);
    CHECK(c.http.adaptive == false);
    CHECK(c.http.part_size_set == true); /* set, even to the default value */
    const char *q = write_tmp("ifmatch.json", "{\"http\": {\"ifMatch\": false}}");
    CHECK(ossc_config_load(q, &c, &e) == 0 && c.http.if_match == false);
    setenv(OSSC_ADAPTIVE_ENV, "1", 1);
    CHECK(ossc_config_load(p, &c, &e) == 0);
    CHECK(c.http.adaptive == true);
    p = write_tmp("adaptive2.json", "{\"logLevel\": 2}");
    setenv(OSSC_ADAPTIVE_ENV, "0", 1);
    CHECK(ossc_config_load(p, &c, &e) == 0);
    CHECK(c.http.adaptive == false && c.http.part_size_set == false);
    setenv(OSSC_ADAPTIVE_ENV, "yes", 1);
    ossc_error_clear(&e);
    CHECK(ossc_config_load(p, &c, &e) == -1);
    CHECK(e.code == EINVAL);
    CHECK(strstr(e.message, "$OSSC_HTTP_ADAPTIVE='yes' must be 0 or 1") != NULL);
    check_defaults(&c);
    unsetenv(OSSC_ADAPTIVE_ENV);
    expect_invalid("{\"http\": {\"adaptive\": 1}}", "key 'http.adaptive' must be true or false");
}

int main(void)
{
    if (make_tmpdir("config") != 0)
        return 1;
    test_error();
    test_log();
    test_defaults();
    test_documented_examples();
    test_invalid();
    test_unknown_and_files();
    test_adaptive();
    ossc_log_init(OSSC_LOG_WARN, NULL);
    ossc_audit_init(NULL, 100);
    remove_tmpdir();
    return check_summary("test_config");
}
