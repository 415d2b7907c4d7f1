/* test_manifest.c - parsing MODEL_DIR/.ossc-manifest: what is accepted,
 * and that every entry which could reach outside MODEL_DIR is refused
 * with an error naming the manifest and the line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "manifest.h"

#define NAME "/models/m/.ossc-manifest"

/* Parses text (len bytes) expecting success. */
static ossc_manifest parse_ok(const char *text, size_t len)
{
    ossc_manifest m;
    ossc_error err = {0};
    int rc = ossc_manifest_parse(text, len, NAME, &m, &err);
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "  manifest '%s': %s\n", text, err.message);
    return m;
}

/* Parses text expecting EINVAL; the message must name the manifest and
 * "line <line>". */
static void parse_fails(const char *text, size_t len, size_t line)
{
    ossc_manifest m = {(char *)"untouched", NULL, NULL, NULL, 7};
    ossc_error err = {0};
    CHECK(ossc_manifest_parse(text, len, NAME, &m, &err) == -1);
    CHECK(err.code == EINVAL);
    CHECK(m.n == 0 && m.entries == NULL && m.oss_path == NULL);
    char want[64];
    snprintf(want, sizeof want, "line %zu", line);
    if (!strstr(err.message, NAME) || !strstr(err.message, want)) {
        fprintf(stderr, "  message does not name " NAME " and %s: %s\n", want, err.message);
        CHECK(0);
    }
}

#define OK(s) parse_ok(s, sizeof(s) - 1)
#define FAILS(s, line) parse_fails(s, sizeof(s) - 1, line)

static void test_accepts(void)
{
    ossc_manifest m = OK("# oss-connector manifest v1: files created from oss://b/model/\n"
                         "config.json\n"
                         "sub\n"
                         "sub/weights.bin\n"
                         "\n"
                         "# a comment\n"
                         "..hidden/.x/a..b\n"
                         "last-without-newline");
    CHECK(m.oss_path && strcmp(m.oss_path, "oss://b/model/") == 0);
    CHECK(m.n == 5);
    if (m.n == 5) {
        CHECK_STR(m.entries[0], "config.json");
        CHECK_STR(m.entries[1], "sub");
        CHECK_STR(m.entries[2], "sub/weights.bin");
        CHECK_STR(m.entries[3], "..hidden/.x/a..b");
        CHECK_STR(m.entries[4], "last-without-newline");
    }
    ossc_manifest_free(&m);
    CHECK(m.n == 0 && !m.entries && !m.oss_path);

    m = OK("");
    CHECK(m.n == 0 && !m.oss_path);
    ossc_manifest_free(&m);

    /* No header: entries are still read, oss_path stays NULL; a header
     * anywhere but on line 1 is a comment. */
    m = OK("a\n# oss-connector manifest v1: files created from oss://x/\n");
    CHECK(m.n == 1 && !m.oss_path);
    ossc_manifest_free(&m);

    /* Not NUL-terminated: only len bytes are read. */
    const char buf[] = {'a', '\n', 'b', 'c'};
    m = parse_ok(buf, 3);
    CHECK(m.n == 2);
    if (m.n == 2)
        CHECK_STR(m.entries[1], "b");
    ossc_manifest_free(&m);
    ossc_manifest_free(NULL);
}

static void test_refuses_escapes(void)
{
    FAILS("#x\n../rel/victim/important.txt\n", 2); /* the issue's repro */
    FAILS("/etc/passwd\n", 1);
    FAILS("ok\n..\n", 2);
    FAILS("ok\n.\n", 2);
    FAILS("a/../../b\n", 1);
    FAILS("a/./b\n", 1);
    FAILS("a//b\n", 1);
    FAILS("a/\n", 1);
    FAILS("a/..\n", 1);
    FAILS("ok\nok2\n//\n", 3);
    FAILS("ok\n\n\n./a\n", 4);
}

static void test_refuses_nul_and_length(void)
{
    FAILS("ok\nlegit\0/../../etc/shadow\n", 2);
    FAILS("# header with \0 inside\n", 1);

    size_t n = OSSC_MANIFEST_ENTRY_MAX;
    char *text = malloc(n + 8);
    memset(text, 'a', n + 8);
    memcpy(text, "x\n", 2);
    /* line 2 of exactly the maximum length is accepted ... */
    ossc_manifest m = parse_ok(text, n + 2);
    CHECK(m.n == 2 && m.entries && strlen(m.entries[1]) == n);
    ossc_manifest_free(&m);
    /* ... one byte more is refused */
    parse_fails(text, n + 3, 2);
    free(text);
}

static void test_rel_path_safe(void)
{
    CHECK(ossc_rel_path_safe("a"));
    CHECK(ossc_rel_path_safe("a/b.c/...d"));
    CHECK(!ossc_rel_path_safe(""));
    CHECK(!ossc_rel_path_safe("/a"));
    CHECK(!ossc_rel_path_safe("a/"));
    CHECK(!ossc_rel_path_safe("a/./b"));
    CHECK(!ossc_rel_path_safe(".."));
}

/* An entry the writer accepts reads back as itself, alone; the keys that
 * would not (a newline splits the line, a leading '#' reads as a comment)
 * are refused before they are written. */
static void test_entry_round_trip(void)
{
    const char *keys[] = {"ok", "a/#b", "a b/c", "a\nb", "#x", "#", "d/x\n#y", "x\n../../etc"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "%s\n", keys[i]);
        ossc_manifest m;
        ossc_error err;
        bool same = ossc_manifest_parse(line, strlen(line), NAME, &m, &err) == 0 && m.n == 1 &&
                    strcmp(m.entries[0], keys[i]) == 0;
        if (same != ossc_manifest_entry_ok(keys[i]))
            fprintf(stderr, "  key '%s': reads back %s, entry_ok says %d\n", keys[i],
                    same ? "as itself" : "otherwise", ossc_manifest_entry_ok(keys[i]));
        CHECK(same == ossc_manifest_entry_ok(keys[i]));
        ossc_manifest_free(&m); /* left empty when the parse failed */
    }
    CHECK(ossc_manifest_entry_ok("ok") && ossc_manifest_entry_ok("a/#b"));
    CHECK(!ossc_manifest_entry_ok("a\nb") && !ossc_manifest_entry_ok("#x"));
}

/* "#@ INO MTIME_NS" gives the next entry (only) its identity. */
static void test_identity_lines(void)
{
    ossc_manifest m = OK("# oss-connector manifest v1: files created from oss://b/m/\n"
                         "#@ 1234 1700000000123456789\n"
                         "config.json\n"
                         "sub\n"
                         "#@ 99 -5\n"
                         "sub/w.bin\n");
    CHECK(m.n == 3);
    if (m.n == 3) {
        CHECK(m.ino[0] == 1234 && m.mtime_ns[0] == 1700000000123456789LL);
        CHECK(m.ino[1] == 0 && m.mtime_ns[1] == 0);
        CHECK(m.ino[2] == 99 && m.mtime_ns[2] == -5);
    }
    ossc_manifest_free(&m);
    FAILS("#@ 12\nx\n", 1);
    FAILS("a\n#@ 0 5\nx\n", 2);
    FAILS("#@ 12 5 6\nx\n", 1);
    FAILS("#@ 12 5x\nx\n", 1);
    FAILS("#@ 1 2\nok\n#@ 123456789012345678901234567890 1\nx\n", 3);
}

int main(void)
{
    test_accepts();
    test_identity_lines();
    test_refuses_escapes();
    test_refuses_nul_and_length();
    test_rel_path_safe();
    test_entry_round_trip();
    return check_summary("test_manifest");
}
