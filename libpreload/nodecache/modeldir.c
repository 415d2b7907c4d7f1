/* modeldir.c - mirroring OSS_PATH into MODEL_DIR.
 *
 * Small files (configs, tokenizers, index JSON) are downloaded into
 * MODEL_DIR; large files appear as sparse placeholders of their exact size,
 * so ls, stat, glob and directory walks work natively while their bytes
 * come from the shared cache.
 *
 * Trust.  MODEL_DIR must be a real directory owned by our effective uid
 * and not writable by group or others: anyone who can write it could plant
 * a manifest or a symlink there.  Every create, unlink, rmdir and rename
 * below it is made relative to a directory fd of MODEL_DIR and follows no
 * symlink in any component (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 * or a component-by-component openat(O_NOFOLLOW) walk on older kernels),
 * and only regular files and symlinks are unlinked (a symlink is removed
 * itself, never what it points at).
 *
 * The manifest (MODEL_DIR/.ossc-manifest) is a journal: the entries about
 * to be created are written to it before any is created, so what a
 * preparation killed half-way left behind is recognised and removed by the
 * next run.  Only the manifest's entries are ever removed; a MODEL_DIR
 * holding anything else is refused (we never delete a user's files).  A
 * preparation that fails removes what it created, so the application gets
 * ENOENT, never a placeholder's zeros; placeholders are created last, once
 * every small file is in place. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "manifest.h"
#include "modeldir_beneath.h"
#include "nodecache.h"

#define MANIFEST ".ossc-manifest"
#define SMALL_IN_FLIGHT 32

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

/* Linear: model directories hold hundreds of entries, not millions. */
static bool strlist_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* What the connector wrote at a name (inode, mtime): read from the old
 * manifest, recorded for the new one. */
typedef struct identity {
    const char *rel; /* owned by the strlist or list it came from */
    uint64_t ino;
    int64_t mtime_ns;
} identity;

typedef struct idlist {
    identity *v;
    size_t n, cap;
} idlist;

static int idlist_add(idlist *l, const char *rel, uint64_t ino, int64_t mtime_ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        identity *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (identity){rel, ino, mtime_ns};
    return 0;
}

static int by_rel(const void *a, const void *b)
{
    return strcmp(((const identity *)a)->rel, ((const identity *)b)->rel);
}

/* Sorted by name, for idlist_find: a MODEL_DIR may hold many thousand files. */
static void idlist_sort(idlist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_rel);
}

/* The identity recorded for rel in a sorted list, or NULL. */
static const identity *idlist_find(const idlist *l, const char *rel)
{
    identity key = {rel, 0, 0};
    return l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), by_rel) : NULL;
}

void ossc_large_files_free(ossc_large_file *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].key);
        free(files[i].rel);
    }
    free(files);
}

static int by_length_desc(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Removes the entries (and temporaries a killed run left beside them):
 * files and links first, then directories, children before parents (a
 * child's path is longer than its parent's).  Best effort: what remains
 * is found by kind_beneath afterwards. */
static void remove_entries(int root, const strlist *entries)
{
    char tmp[PATH_MAX + sizeof(TMP_SUFFIX)];
    for (size_t i = 0; i < entries->n; i++) {
        md_remove_beneath(root, entries->v[i], false);
        snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, entries->v[i]);
        md_remove_beneath(root, tmp, false);
    }
    char **order = malloc((entries->n ? entries->n : 1) * sizeof(*order));
    if (!order)
        return;
    memcpy(order, entries->v, entries->n * sizeof(*order));
    qsort(order, entries->n, sizeof(*order), by_length_desc);
    for (size_t i = 0; i < entries->n; i++)
        md_remove_beneath(root, order[i], true);
    free(order);
}

/* Creates the directories above rel, component by component, never
 * through a symlink; records those it made in created. */
static int mkdirs(int root, const char *dir, const char *rel, strlist *created, ossc_error *err)
{
    char sub[PATH_MAX];
    if (ossc_pathf(sub, sizeof(sub), "%s", rel) < 0)
        return ossc_error_set(err, ENAMETOOLONG, "%s/%s: path too long", dir, rel);
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    char *p = sub;
    while (fd >= 0 && (p = strchr(p, '/'))) {
        *p = '\0';
        const char *name = strrchr(sub, '/') ? strrchr(sub, '/') + 1 : sub;
        if (mkdirat(fd, name, 0755) == 0) {
            if (strlist_add(created, sub) < 0) {
                close(fd);
                return ossc_error_set(err, ENOMEM, "out of memory");
            }
        } else if (errno != EEXIST) {
            int e = errno;
            close(fd);
            return ossc_error_set(err, e, "cannot create directory %s/%s: %s", dir, sub,
                                  strerror(e));
        }
        int next = ossc_libc.openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0)
            return ossc_error_set(err, e, "cannot use %s/%s as a directory: %s%s", dir, sub,
                                  strerror(e),
                                  e == ELOOP || e == ENOTDIR ? " (a symlink is never followed)"
                                                             : "");
        fd = next;
        *p++ = '/';
    }
    if (fd < 0)
        return ossc_error_set(err, errno, "cannot open MODEL_DIR %s: %s", dir, strerror(errno));
    close(fd);
    return 0;
}

/* Writes a whole buffer to rel through a temporary name, atomically
 * (renameat replaces a link, never writes through it). */
/* ------------------------------------------------------ MODEL_DIR itself */

/* Opens MODEL_DIR (creating it when absent: *made tells) and checks that
 * it is ours alone: a real directory, owned by our effective uid, not
 * writable by group or others.  Nothing is read, written or deleted in a
 * directory that fails. */
static int open_model_dir(const char *dir, bool *made, ossc_error *err)
{
    *made = mkdir(dir, 0755) == 0;
    if (!*made && errno != EEXIST)
        return ossc_error_set(err, errno, "cannot create MODEL_DIR %s: %s", dir,
                              strerror(errno));
    int fd = ossc_libc.open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            return ossc_error_set(err, EPERM,
                                  "MODEL_DIR %s is a symbolic link: refusing to use it (nothing "
                                  "was deleted or written); set MODEL_DIR to the real "
                                  "directory",
                                  dir);
        return ossc_error_set(err, e, "cannot open MODEL_DIR %s: %s", dir, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ossc_error_set(err, e, "cannot stat MODEL_DIR %s: %s", dir, strerror(e));
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        return ossc_error_set(err, EPERM,
                              "MODEL_DIR %s belongs to uid %u, not to us (uid %u): refusing "
                              "to delete or write anything there; use a directory you own, "
                              "or a path that does not exist yet",
                              dir, (unsigned)st.st_uid, (unsigned)geteuid());
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        close(fd);
        return ossc_error_set(err, EPERM,
                              "MODEL_DIR %s is writable by group or others (mode %04o): "
                              "refusing to use it, as another user could plant files there; "
                              "run 'chmod go-w %s' or use another directory",
                              dir, (unsigned)(st.st_mode & 07777), dir);
    }
    return fd;
}

/* Reads the manifest's entries (checked by ossc_manifest_parse); none
 * when absent.  A manifest that is not a regular file is refused. */
static int read_manifest(int root, const char *dir, strlist *out, idlist *ids,
                         ossc_error *err)
{
    char path[PATH_MAX];
    if (ossc_pathf(path, sizeof(path), "%s/%s", dir, MANIFEST) < 0)
        return ossc_error_set(err, ENAMETOOLONG, "%s/%s: path too long", dir, MANIFEST);
    int fd = ossc_libc.openat(root, MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0
                               : ossc_error_set(err, errno, "cannot read %s: %s", path,
                                                strerror(errno));
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20) ||
        !(text = malloc((size_t)st.st_size + 1))) {
        ossc_libc.close(fd);
        return ossc_error_set(err, EINVAL, "%s is not a manifest the connector wrote", path);
    }
    size_t len = 0;
    ssize_t got;
    while (len < (size_t)st.st_size &&
           ((got = read(fd, text + len, (size_t)st.st_size - len)) > 0 ||
            (got < 0 && errno == EINTR)))
        len += got > 0 ? (size_t)got : 0;
    ossc_libc.close(fd);
    ossc_manifest m;
    int rc = ossc_manifest_parse(text, len, path, &m, err);
    free(text);
    if (rc < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < m.n; i++)
        if (strlist_add(out, m.entries[i]) < 0 ||
            (m.ino[i] && idlist_add(ids, out->v[out->n - 1], m.ino[i], m.mtime_ns[i]) < 0))
            rc = ossc_error_set(err, ENOMEM, "out of memory");
    ossc_manifest_free(&m);
    return rc;
}

/* True for a name (relative path) that is known, or a temporary a killed
 * run left beside a known name or the manifest. */
static bool is_ours(const strlist *known, const char *rel)
{
    if (strlist_has(known, rel))
        return true;
    size_t n = strlen(rel), t = strlen(TMP_SUFFIX);
    if (n <= t || strcmp(rel + n - t, TMP_SUFFIX) != 0)
        return false;
    char stem[PATH_MAX];
    snprintf(stem, sizeof(stem), "%.*s", (int)(n - t), rel);
    return strcmp(stem, MANIFEST) == 0 || strlist_has(known, stem);
}

/* Finds the first entry below the directory fd dfd (whose path relative
 * to MODEL_DIR is rel, a buffer of PATH_MAX extended in place) that the
 * manifest does not name; only known directories are entered, never
 * through a link.  Returns 1 (rel holds it), 0 when none, -1 on error. */
static int find_foreign(int dfd, char *rel, const strlist *known)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t len = strlen(rel);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (len + 1 + strlen(e->d_name) >= PATH_MAX) {
            errno = ENAMETOOLONG;
            rc = -1;
            break;
        }
        sprintf(rel + len, "%s%s", len ? "/" : "", e->d_name);
        if (!len && strcmp(e->d_name, MANIFEST) == 0) {
            rel[len] = '\0';
            continue;
        }
        if (!is_ours(known, rel)) {
            rc = 1;
            break;
        }
        int sub = ossc_libc.openat(dirfd(d), e->d_name,
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            rc = find_foreign(sub, rel, known);
            close(sub);
        }
        if (rc == 0)
            rel[len] = '\0';
    }
    closedir(d);
    return rc;
}

/* The first file the old manifest recorded an identity for that is now a
 * regular file of another inode or modification time (a user edited or
 * replaced it); NULL when none. */
static const char *first_changed(int root, const idlist *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        if (md_changed_beneath(root, ids->v[i].rel, ids->v[i].ino, ids->v[i].mtime_ns))
            return ids->v[i].rel;
    return NULL;
}

/* ------------------------------------------------------- the preparation */

typedef struct small_fetch {
    const ossc_object_info *obj;
    const char *rel;
    char *buf;
    ossc_future *future;
} small_fetch;

static int finish_small(int root, const char *dir, small_fetch *sf, strlist *created,
                        idlist *made, ossc_error *err)
{
    struct stat st;
    int64_t n = ossc_future_wait(sf->future, err);
    ossc_future_free(sf->future);
    sf->future = NULL;
    int rc = 0;
    if (n < 0)
        rc = -1;
    else if ((uint64_t)n != sf->obj->size)
        rc = ossc_error_set(err, EIO, "oss object %s changed while being downloaded",
                            sf->obj->key);
    else if ((rc = md_write_file(root, dir, sf->rel, sf->buf, (size_t)n, false, &st, err)) == 0 &&
             (strlist_add(created, sf->rel) < 0 ||
              idlist_add(made, sf->rel, (uint64_t)st.st_ino, md_mtime_ns(&st)) < 0))
        rc = ossc_error_set(err, ENOMEM, "out of memory");
    free(sf->buf);
    sf->buf = NULL;
    return rc;
}

/* The manifest: entries, each file the connector wrote preceded by its
 * identity line (made: NULL or what was written, sorted (idlist_sort); see
 * manifest.h). */
static int write_manifest(int root, const char *dir, const char *oss_path,
                          const strlist *entries, const idlist *made, ossc_error *err)
{
    size_t cap = 256 + strlen(oss_path), len = 0;
    for (size_t i = 0; i < entries->n; i++)
        cap += strlen(entries->v[i]) + 1 + 64;
    char *buf = malloc(cap);
    if (!buf)
        return ossc_error_set(err, ENOMEM, "out of memory");
    len += (size_t)snprintf(buf, cap, "%s%s\n", OSSC_MANIFEST_HEADER, oss_path);
    for (size_t i = 0; i < entries->n; i++) {
        const identity *id = made ? idlist_find(made, entries->v[i]) : NULL;
        if (id)
            len += (size_t)snprintf(buf + len, cap - len,
                                    OSSC_MANIFEST_ID_PREFIX "%" PRIu64 " %" PRId64 "\n", id->ino,
                                    id->mtime_ns);
        len += (size_t)snprintf(buf + len, cap - len, "%s\n", entries->v[i]);
    }
    int rc = md_write_file(root, dir, MANIFEST, buf, len, true, NULL, err);
    free(buf);
    return rc;
}

/* Longest key kept whole by the node cache (its state holds 1024 bytes a
 * key): OSS allows 1023.  A longer one from a listing is skipped, never
 * cut to the name of another object. */
#define OBJECT_KEY_MAX 1023

/* The object's path relative to MODEL_DIR, or NULL for a directory marker
 * or a key that does not map to a safe relative path (or is not under the
 * prefix at all, or is too long: a listing is the server's word). */
static const char *object_rel(const ossc_preload_settings *s, const ossc_object_info *o,
                              bool warn)
{
    size_t plen = strlen(s->prefix);
    if (strncmp(o->key, s->prefix, plen) != 0 || strlen(o->key) > OBJECT_KEY_MAX) {
        if (warn)
            OSSC_WARN("skipping a listed key of %zu bytes: %s", strlen(o->key),
                      strncmp(o->key, s->prefix, plen) != 0
                          ? "not under the prefix listed"
                          : "longer than an OSS key can be (1023 bytes)");
        return NULL;
    }
    const char *rel = o->key + plen;
    size_t rl = strlen(rel);
    if (rl == 0 || rel[rl - 1] == '/')
        return NULL; /* directory marker */
    if (!ossc_manifest_entry_ok(rel)) {
        if (warn)
            OSSC_WARN("skipping oss://%s/%s: not a safe relative path under MODEL_DIR "
                      "(or one the manifest cannot list: a newline, a leading '#')",
                      s->bucket, o->key);
        return NULL;
    }
    return rel;
}

/* The journal: what is left of the previous mirror, then every directory
 * and file this run is about to create. */
static int plan_journal(int root, const ossc_preload_settings *s, const ossc_list_result *list,
                        const strlist *previous, strlist *journal)
{
    char sub[PATH_MAX];
    for (size_t i = 0; i < previous->n; i++)
        if (md_kind_beneath(root, previous->v[i]) && strlist_add(journal, previous->v[i]) < 0)
            return -1;
    for (size_t i = 0; i < list->count; i++) {
        const char *rel = object_rel(s, &list->objects[i], true);
        if (!rel)
            continue;
        for (const char *p = rel; (p = strchr(p, '/')); p++) {
            snprintf(sub, sizeof(sub), "%.*s", (int)(p - rel), rel);
            if (!strlist_has(journal, sub) && strlist_add(journal, sub) < 0)
                return -1;
        }
        if (!strlist_has(journal, rel) && strlist_add(journal, rel) < 0)
            return -1;
    }
    return 0;
}

/* After a failed preparation: removes what this run created; the manifest
 * then lists only what could not be removed (none: it goes too, and so
 * does MODEL_DIR when this run made it). */
static void undo(int root, const ossc_preload_settings *s, bool made_dir,
                 const strlist *created, const strlist *journal)
{
    remove_entries(root, created);
    strlist left = {0};
    for (size_t i = 0; i < journal->n; i++)
        if (md_kind_beneath(root, journal->v[i]))
            strlist_add(&left, journal->v[i]);
    ossc_error ignored;
    if (left.n)
        write_manifest(root, s->model_dir, s->oss_path, &left, NULL, &ignored);
    else {
        unlinkat(root, MANIFEST, 0);
        if (made_dir)
            rmdir(s->model_dir); /* only succeeds when empty */
    }
    strlist_free(&left);
}

/* About 150 lines: the journal, the small files in flight and the created
 * list share one cleanup path (undo), which must see every step. */
int ossc_modeldir_prepare(ossc_client *c, const ossc_preload_settings *s,
                          ossc_large_file **files_out, size_t *nfiles_out, ossc_error *err)
{
    ossc_list_result *list = NULL;
    strlist known = {0}, journal = {0}, created = {0};
    idlist known_ids = {0}, made = {0};
    ossc_large_file *large = NULL;
    size_t nlarge = 0;
    small_fetch inflight[SMALL_IN_FLIGHT];
    size_t ninflight = 0;
    char foreign[PATH_MAX] = "";
    const char *dir = s->model_dir;
    bool made_dir = false, touched = false;
    int rc = -1;

    *files_out = NULL;
    *nfiles_out = 0;
    memset(inflight, 0, sizeof(inflight));

    int root = open_model_dir(dir, &made_dir, err);
    if (root < 0)
        goto out;
    ossc_error why = {0};
    if (read_manifest(root, dir, &known, &known_ids, &why) < 0) {
        ossc_error_set(err, why.code,
                       "%s; nothing in MODEL_DIR was deleted or written: remove the manifest "
                       "(and what it lists) by hand or choose another directory",
                       why.message);
        goto out;
    }
    int ff = find_foreign(root, foreign, &known);
    if (ff < 0) {
        ossc_error_set(err, errno, "cannot read MODEL_DIR %s: %s", dir, strerror(errno));
        goto out;
    }
    if (ff > 0) {
        ossc_error_set(err, EEXIST,
                       "MODEL_DIR %s holds files the connector did not create (e.g. '%s'); "
                       "nothing was deleted: empty it or choose another directory",
                       dir, foreign);
        goto out;
    }

    const char *changed = first_changed(root, &known_ids);
    if (changed) {
        ossc_error_set(err, EEXIST,
                       "MODEL_DIR %s: '%s' was changed or replaced since the connector wrote "
                       "it; nothing was deleted: move it out of MODEL_DIR (or delete it) and "
                       "start again",
                       dir, changed);
        goto out;
    }

    if (ossc_list_all(c, s->bucket, s->prefix, 0, &list, err) < 0)
        goto out;
    if (list->count == 0) {
        ossc_error_set(err, ENOENT, "no objects under %s", s->oss_path);
        goto out;
    }
    touched = true;
    remove_entries(root, &known);
    if (plan_journal(root, s, list, &known, &journal) < 0) {
        ossc_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if (write_manifest(root, dir, s->oss_path, &journal, NULL, err) < 0)
        goto out;

    large = calloc(list->count, sizeof(*large));
    if (!large) {
        ossc_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    /* Small files first, placeholders only once they are all in place. */
    for (size_t i = 0; i < list->count; i++) {
        const ossc_object_info *o = &list->objects[i];
        const char *rel = object_rel(s, o, false);
        if (!rel)
            continue;
        if (o->size >= s->small_file_size) {
            large[nlarge].key = strdup(o->key);
            large[nlarge].rel = strdup(rel);
            large[nlarge].size = o->size;
            nlarge++;
            if (!large[nlarge - 1].key || !large[nlarge - 1].rel) {
                ossc_error_set(err, ENOMEM, "out of memory");
                goto out;
            }
            continue;
        }
        if (mkdirs(root, dir, rel, &created, err) < 0)
            goto out;
        if (ninflight == SMALL_IN_FLIGHT) {
            if (finish_small(root, dir, &inflight[0], &created, &made, err) < 0)
                goto out;
            memmove(inflight, inflight + 1, sizeof(inflight[0]) * (SMALL_IN_FLIGHT - 1));
            ninflight--;
        }
        small_fetch *sf = &inflight[ninflight];
        sf->obj = o;
        sf->rel = rel;
        sf->buf = malloc(o->size ? o->size : 1);
        if (!sf->buf) {
            ossc_error_set(err, ENOMEM, "out of memory");
            goto out;
        }
        sf->future = ossc_get_async(c, s->bucket, o->key, 0, o->size, sf->buf, err);
        if (!sf->future) {
            free(sf->buf);
            sf->buf = NULL;
            goto out;
        }
        ninflight++;
    }
    while (ninflight) {
        if (finish_small(root, dir, &inflight[0], &created, &made, err) < 0)
            goto out;
        memmove(inflight, inflight + 1, sizeof(inflight[0]) * (SMALL_IN_FLIGHT - 1));
        ninflight--;
    }
    for (size_t i = 0; i < nlarge; i++) {
        struct stat st;
        if (mkdirs(root, dir, large[i].rel, &created, err) < 0 ||
            md_make_placeholder(root, dir, large[i].rel, large[i].size, &st, err) < 0)
            goto out;
        large[i].ph_ino = (uint64_t)st.st_ino;
        large[i].ph_mtime_ns = md_mtime_ns(&st);
        if (strlist_add(&created, large[i].rel) < 0 ||
            idlist_add(&made, large[i].rel, large[i].ph_ino, large[i].ph_mtime_ns) < 0) {
            ossc_error_set(err, ENOMEM, "out of memory");
            goto out;
        }
    }

    /* The journal again, now with what was written at each name. */
    idlist_sort(&made);
    if (write_manifest(root, dir, s->oss_path, &journal, &made, err) < 0)
        goto out;

    /* Sorted by relative path: the cache looks files up by bsearch. */
    for (size_t i = 1; i < nlarge; i++)
        for (size_t j = i; j > 0 && strcmp(large[j - 1].rel, large[j].rel) > 0; j--) {
            ossc_large_file t = large[j];
            large[j] = large[j - 1];
            large[j - 1] = t;
        }
    *files_out = large;
    *nfiles_out = nlarge;
    large = NULL;
    rc = 0;
    OSSC_INFO("MODEL_DIR %s: %zu entries from %s (%zu large files as placeholders)", dir,
              created.n, s->oss_path, nlarge);
out:
    for (size_t i = 0; i < ninflight; i++) {
        ossc_future_free(inflight[i].future);
        free(inflight[i].buf);
    }
    if (rc < 0 && touched)
        undo(root, s, made_dir, &created, &journal);
    else if (rc < 0 && made_dir)
        rmdir(dir); /* only succeeds when empty */
    if (root >= 0)
        close(root);
    ossc_large_files_free(large, nlarge);
    ossc_list_result_free(list);
    strlist_free(&known);
    strlist_free(&journal);
    strlist_free(&created);
    free(known_ids.v);
    free(made.v);
    return rc;
}
