/* test_modeldir.c - the MODEL_DIR mirror's refusals and removals that need
 * no server: foreign files and planted symlinks refused before any
 * request, a manifest naming a path outside MODEL_DIR refused, and
 * placeholder removal / linking that never follows a symlink (a user's
 * file is never deleted or replaced).  The preparation with a listing is
 * covered against the emulator (tests/hostile/test_hostile_modeldir.py). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "manifest.h"
#include "modeldir_beneath.h"
#include "nodecache_fakes.h"

static char path_buf[4][PATH_MAX];
static int path_next;

/* scratch/<fmt...>, in one of four rotating buffers. */
static const char *at(const char *rel)
{
    char *p = path_buf[path_next++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", scratch, rel);
    return p;
}

static void put(const char *rel, const char *content)
{
    FILE *f = fopen(at(rel), "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static bool holds(const char *rel, const char *content)
{
    char buf[256] = "";
    FILE *f = fopen(at(rel), "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, content) == 0;
}

static bool exists_nofollow(const char *rel)
{
    struct stat st;
    return lstat(at(rel), &st) == 0;
}

/* Refused before any request: the client is never used (NULL here). */
static int prepare(const char *name, ossc_error *err)
{
    ossc_preload_settings s;
    test_settings(&s, name);
    ossc_large_file *lf = NULL;
    size_t n = 0;
    memset(err, 0, sizeof(*err));
    int rc = ossc_modeldir_prepare(NULL, &s, &lf, &n, err);
    ossc_large_files_free(lf, n);
    return rc;
}

static void test_foreign_file_refused(void)
{
    CHECK(mkdir(at("m1"), 0700) == 0);
    put("m1/user.txt", "mine");
    ossc_error err;
    CHECK(prepare("m1", &err) == -1);
    CHECK(err.code == EEXIST);
    CHECK(strstr(err.message, "user.txt") != NULL);
    CHECK(holds("m1/user.txt", "mine"));
}

static void test_planted_symlink_refused(void)
{
    CHECK(mkdir(at("m2"), 0700) == 0);
    put("victim.txt", "precious");
    CHECK(symlink(at("victim.txt"), at("m2/model.bin")) == 0);
    ossc_error err;
    CHECK(prepare("m2", &err) == -1);
    CHECK(err.code == EEXIST);
    CHECK(strstr(err.message, "model.bin") != NULL);
    CHECK(holds("victim.txt", "precious"));
    CHECK(exists_nofollow("m2/model.bin"));
}

static void test_manifest_outside_refused(void)
{
    CHECK(mkdir(at("m3"), 0700) == 0);
    put("outside.txt", "keep");
    put("m3/.ossc-manifest", OSSC_MANIFEST_HEADER "oss://bkt/pfx/\n../outside.txt\n");
    ossc_error err;
    CHECK(prepare("m3", &err) == -1);
    CHECK(strstr(err.message, ".ossc-manifest") != NULL);
    CHECK(strstr(err.message, "nothing in MODEL_DIR was deleted") != NULL);
    CHECK(holds("outside.txt", "keep"));
    CHECK(exists_nofollow("m3/.ossc-manifest"));
}

static void test_open_model_dir_refused(void)
{
    CHECK(mkdir(at("m4"), 0700) == 0);
    CHECK(chmod(at("m4"), 0770) == 0);
    ossc_error err;
    CHECK(prepare("m4", &err) == -1);
    CHECK(strstr(err.message, "m4") != NULL);
}

/* Placeholders go; what a planted link reaches stays. */
static void test_remove_follows_no_symlink(void)
{
    CHECK(mkdir(at("m5"), 0700) == 0);
    CHECK(mkdir(at("userdir"), 0700) == 0);
    put("userdir/x.bin", "user x");
    put("user_q.txt", "user q");
    put("m5/p.bin", "placeholder");
    CHECK(symlink(at("userdir"), at("m5/sub")) == 0);   /* sub/x.bin lies behind a link */
    CHECK(symlink(at("user_q.txt"), at("m5/q.bin")) == 0);
    const ossc_placeholder ph[] = {{"p.bin", 0, 0}, {"sub/x.bin", 0, 0}, {"q.bin", 0, 0}};
    ossc_modeldir_remove_placeholders(at("m5"), ph, 3);
    CHECK(!exists_nofollow("m5/p.bin"));
    CHECK(holds("userdir/x.bin", "user x"));
    CHECK(holds("user_q.txt", "user q"));
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* A placeholder a user wrote into (cp of the real file over it) or
 * replaced stays; the untouched one goes. */
static void test_remove_keeps_changed_placeholders(void)
{
    CHECK(mkdir(at("m8"), 0700) == 0);
    put("m8/same.bin", "");
    put("m8/written.bin", "");
    put("m8/replaced.bin", "");
    struct stat same, written, replaced;
    CHECK(stat(at("m8/same.bin"), &same) == 0);
    CHECK(stat(at("m8/written.bin"), &written) == 0);
    CHECK(stat(at("m8/replaced.bin"), &replaced) == 0);
    /* mtime granularity is the kernel tick: move it explicitly. */
    struct timespec later[2] = {{0, UTIME_OMIT}, {written.st_mtim.tv_sec + 1, 0}};
    put("m8/written.bin", "real weights");
    CHECK(utimensat(AT_FDCWD, at("m8/written.bin"), later, 0) == 0);
    put("m8/new.tmp", "user's own");
    CHECK(rename(at("m8/new.tmp"), at("m8/replaced.bin")) == 0);
    const ossc_placeholder ph[] = {
        {"same.bin", (uint64_t)same.st_ino, mtime_ns(&same)},
        {"written.bin", (uint64_t)written.st_ino, mtime_ns(&written)},
        {"replaced.bin", (uint64_t)replaced.st_ino, mtime_ns(&replaced)},
    };
    ossc_modeldir_remove_placeholders(at("m8"), ph, 3);
    CHECK(!exists_nofollow("m8/same.bin"));
    CHECK(holds("m8/written.bin", "real weights"));
    CHECK(holds("m8/replaced.bin", "user's own"));
}

/* A file the old manifest recorded that a user changed since: the next
 * preparation refuses, naming it, and deletes nothing. */
static void test_changed_file_refused(void)
{
    CHECK(mkdir(at("m9"), 0700) == 0);
    put("m9/config.json", "{\"from\": \"oss\"}");
    put("m9/w.bin", "");
    struct stat cfg, w;
    CHECK(stat(at("m9/config.json"), &cfg) == 0);
    CHECK(stat(at("m9/w.bin"), &w) == 0);
    char manifest[512];
    snprintf(manifest, sizeof manifest,
             OSSC_MANIFEST_HEADER "oss://b/m/\n#@ %llu %lld\nconfig.json\n#@ %llu %lld\nw.bin\n",
             (unsigned long long)cfg.st_ino, (long long)mtime_ns(&cfg),
             (unsigned long long)w.st_ino, (long long)mtime_ns(&w));
    put("m9/.ossc-manifest", manifest);
    put("m9/edited.tmp", "{\"edited\": true}");
    CHECK(rename(at("m9/edited.tmp"), at("m9/config.json")) == 0);
    ossc_error err;
    CHECK(prepare("m9", &err) == -1);
    CHECK(err.code == EEXIST);
    CHECK(strstr(err.message, "config.json") != NULL);
    CHECK(strstr(err.message, "nothing was deleted") != NULL);
    CHECK(holds("m9/config.json", "{\"edited\": true}"));
    CHECK(exists_nofollow("m9/w.bin"));
}

/* A small file is written under a name that must still be free: a file a
 * user put there meanwhile is not replaced (EEXIST naming it); the
 * manifest, rewritten on purpose, is. */
static void test_write_never_replaces_what_appeared(void)
{
    CHECK(mkdir(at("m10"), 0700) == 0);
    put("m10/config.json", "the user's");
    int root = open(at("m10"), O_RDONLY | O_DIRECTORY);
    ossc_error err = {0};
    CHECK(md_write_file(root, at("m10"), "config.json", "oss", 3, false, NULL, &err) == -1);
    CHECK(err.code == EEXIST && strstr(err.message, "config.json") != NULL);
    CHECK(holds("m10/config.json", "the user's"));
    CHECK(!exists_nofollow("m10/config.json.ossc-tmp"));
    CHECK(md_write_file(root, at("m10"), "fresh.json", "oss", 3, false, NULL, &err) == 0);
    CHECK(holds("m10/fresh.json", "oss"));
    put("m10/.ossc-manifest", "old");
    CHECK(md_write_file(root, at("m10"), ".ossc-manifest", "new", 3, true, NULL, &err) == 0);
    CHECK(holds("m10/.ossc-manifest", "new"));
    close(root);
}

/* Linking a placeholder through a symlinked directory is refused. */
static void test_link_follows_no_symlink(void)
{
    CHECK(mkdir(at("m6"), 0700) == 0);
    CHECK(mkdir(at("userdir6"), 0700) == 0);
    put("userdir6/w.bin", "user w");
    CHECK(symlink(at("userdir6"), at("m6/sub")) == 0);
    ossc_error err = {0};
    CHECK(ossc_modeldir_link_placeholder(at("m6"), "sub/w.bin", "/dev/null", &err) == -1);
    CHECK(err.code == ELOOP || err.code == ENOTDIR);
    CHECK(strstr(err.message, "w.bin") != NULL);
    CHECK(holds("userdir6/w.bin", "user w"));
}

/* Processes sharing a cache (torchrun ranks, vLLM's workers) link the same
 * placeholders at once: every call succeeds, every placeholder ends a link
 * to its cache file and no temporary link is left.  A shared temporary name
 * made one process delete or collide with another's ("File exists"). */
#define RACERS 4
#define RACED_FILES 300
static void test_link_raced_by_processes(void)
{
    CHECK(mkdir(at("m7"), 0700) == 0);
    for (int i = 0; i < RACED_FILES; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "m7/w%03d.bin", i);
        put(rel, ""); /* the placeholder */
    }
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t kids[RACERS];
    for (int k = 0; k < RACERS; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) /* EOF: all start together */
                _exit(3);
            int failed = 0;
            for (int i = 0; i < RACED_FILES; i++) {
                char rel[32];
                ossc_error err = {0};
                snprintf(rel, sizeof rel, "w%03d.bin", i);
                if (ossc_modeldir_link_placeholder(at("m7"), rel, "/dev/null", &err) != 0) {
                    fprintf(stderr, "racer %d: %s\n", k, err.message);
                    failed = 1;
                }
            }
            _exit(failed);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < RACERS; k++) {
        int st = -1;
        CHECK(waitpid(kids[k], &st, 0) == kids[k]);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int links = 0, others = 0;
    DIR *d = opendir(at("m7"));
    CHECK(d != NULL);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char rel[300], to[64] = "";
        snprintf(rel, sizeof rel, "m7/%s", e->d_name);
        ssize_t n = readlink(at(rel), to, sizeof to - 1);
        if (n > 0 && strstr(e->d_name, ".ossc-link") == NULL &&
            strcmp((to[n] = '\0', to), "/dev/null") == 0)
            links++;
        else
            others++;
    }
    if (d)
        closedir(d);
    CHECK(links == RACED_FILES);
    CHECK(others == 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (scratch_make() < 0)
        return 1;
    test_foreign_file_refused();
    test_planted_symlink_refused();
    test_manifest_outside_refused();
    test_open_model_dir_refused();
    test_remove_follows_no_symlink();
    test_remove_keeps_changed_placeholders();
    test_changed_file_refused();
    test_write_never_replaces_what_appeared();
    test_link_follows_no_symlink();
    test_link_raced_by_processes();
    scratch_remove();
    return check_summary("test_modeldir");
}
