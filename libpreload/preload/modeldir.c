/* modeldir.c - mirroring OSS_PATH into MODEL_DIR.
 *
 * Small files (configs, tokenizers, index JSON) are downloaded into
 * MODEL_DIR; large files appear as sparse placeholders of their exact size,
 * so ls, stat, glob and directory walks work natively while their bytes
 * come from the shared cache.  Everything created is recorded in
 * MODEL_DIR/.ossc-manifest.  Before a new mirror, only the files and
 * directories named there are removed; a MODEL_DIR holding anything else
 * is refused (we never delete a user's files). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "manifest.h"
#include "preload.h"

#define MANIFEST ".ossc-manifest"
#define MANIFEST_HEADER OSSC_MANIFEST_HEADER
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

void ossc_large_files_free(ossc_large_file *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].key);
        free(files[i].rel);
    }
    free(files);
}

/* Reads the manifest's entries (relative paths, checked by
 * ossc_manifest_parse); none when absent. */
static int read_manifest(const char *dir, strlist *out, ossc_error *err)
{
    char path[PATH_MAX];
    ossc_pathf(path, sizeof(path), "%s/%s", dir, MANIFEST);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : ossc_error_set(err, errno, "cannot read %s", path);
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + got > cap) {
            cap = (len + got) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return ossc_error_set(err, ENOMEM, "out of memory");
            }
            text = t;
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    ossc_manifest m;
    int rc = ossc_manifest_parse(text ? text : "", len, path, &m, err);
    free(text);
    if (rc < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < m.n; i++)
        if (strlist_add(out, m.entries[i]) < 0)
            rc = ossc_error_set(err, ENOMEM, "out of memory");
    ossc_manifest_free(&m);
    return rc;
}

/* Finds the first entry below dir (relative path in `rel`) that the
 * manifest does not name.  Returns 1 when found, 0 when none, -1 on error. */
static int find_foreign(const char *root, const char *rel, const strlist *known, char *found,
                        size_t cap)
{
    char path[PATH_MAX];
    if (ossc_pathf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel) < 0)
        return -1;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if (ossc_pathf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) < 0) {
            rc = -1;
            break;
        }
        if (!rel[0] && strcmp(e->d_name, MANIFEST) == 0)
            continue;
        if (!strlist_has(known, sub)) {
            snprintf(found, cap, "%s", sub);
            rc = 1;
            break;
        }
        if (e->d_type == DT_DIR)
            rc = find_foreign(root, sub, known, found, cap);
    }
    closedir(d);
    return rc;
}

/* Removes what an earlier mirror created (files first, then directories
 * deepest first).  Only names from the manifest are touched. */
static void remove_previous(const char *dir, const strlist *known)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < known->n; i++) {
        if (ossc_pathf(path, sizeof(path), "%s/%s", dir, known->v[i]) < 0)
            continue;
        struct stat st;
        if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode))
            unlink(path);
    }
    for (size_t i = known->n; i-- > 0;) {
        if (ossc_pathf(path, sizeof(path), "%s/%s", dir, known->v[i]) < 0)
            continue;
        rmdir(path); /* only succeeds when empty */
    }
}

static int mkdirs(const char *dir, const char *rel, strlist *created, ossc_error *err)
{
    char sub[PATH_MAX];
    const char *p = rel;
    while ((p = strchr(p, '/'))) {
        size_t n = (size_t)(p - rel);
        ossc_pathf(sub, sizeof(sub), "%.*s", (int)n, rel);
        char path[PATH_MAX];
        ossc_pathf(path, sizeof(path), "%s/%s", dir, sub);
        if (mkdir(path, 0755) == 0) {
            if (strlist_add(created, sub) < 0)
                return ossc_error_set(err, ENOMEM, "out of memory");
        } else if (errno != EEXIST) {
            return ossc_error_set(err, errno, "cannot create directory %s: %s", path,
                                  strerror(errno));
        }
        p++;
    }
    return 0;
}

/* Writes a whole buffer to dir/rel through a temporary name, atomically. */
static int write_file(const char *dir, const char *rel, const void *data, size_t len,
                      ossc_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 16];
    ossc_pathf(path, sizeof(path), "%s/%s", dir, rel);
    ossc_pathf(tmp, sizeof(tmp), "%s.ossc-tmp", path);
    int fd = ossc_real.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ossc_error_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            ossc_real.close(fd);
            unlink(tmp);
            return ossc_error_set(err, e, "cannot write %s: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (ossc_real.close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return ossc_error_set(err, e, "cannot write %s: %s", path, strerror(e));
    }
    return 0;
}

static int make_placeholder(const char *dir, const char *rel, uint64_t size, ossc_error *err)
{
    char path[PATH_MAX];
    ossc_pathf(path, sizeof(path), "%s/%s", dir, rel);
    int fd = ossc_real.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ossc_error_set(err, errno, "cannot create %s: %s", path, strerror(errno));
    int rc = ftruncate(fd, (off_t)size);
    int e = errno;
    ossc_real.close(fd);
    if (rc < 0)
        return ossc_error_set(err, e, "cannot size placeholder %s: %s", path, strerror(e));
    return 0;
}

typedef struct small_fetch {
    const ossc_object_info *obj;
    const char *rel;
    char *buf;
    ossc_future *future;
} small_fetch;

static int finish_small(const char *dir, small_fetch *sf, ossc_error *err)
{
    int64_t n = ossc_future_wait(sf->future, err);
    ossc_future_free(sf->future);
    sf->future = NULL;
    int rc = 0;
    if (n < 0)
        rc = -1;
    else if ((uint64_t)n != sf->obj->size)
        rc = ossc_error_set(err, EIO, "oss object %s changed while being downloaded",
                            sf->obj->key);
    else
        rc = write_file(dir, sf->rel, sf->buf, (size_t)n, err);
    free(sf->buf);
    sf->buf = NULL;
    return rc;
}

static int write_manifest(const char *dir, const char *oss_path, const strlist *entries,
                          ossc_error *err)
{
    size_t cap = 256 + strlen(oss_path), len = 0;
    for (size_t i = 0; i < entries->n; i++)
        cap += strlen(entries->v[i]) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return ossc_error_set(err, ENOMEM, "out of memory");
    len += (size_t)snprintf(buf, cap, "%s%s\n", MANIFEST_HEADER, oss_path);
    for (size_t i = 0; i < entries->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\n", entries->v[i]);
    int rc = write_file(dir, MANIFEST, buf, len, err);
    free(buf);
    return rc;
}

int ossc_modeldir_prepare(ossc_client *c, const ossc_preload_settings *s,
                          ossc_large_file **files_out, size_t *nfiles_out, ossc_error *err)
{
    ossc_list_result *list = NULL;
    strlist known = {0}, created = {0};
    ossc_large_file *large = NULL;
    size_t nlarge = 0;
    small_fetch inflight[SMALL_IN_FLIGHT];
    size_t ninflight = 0;
    char foreign[PATH_MAX];
    const char *dir = s->model_dir;
    int rc = -1;

    *files_out = NULL;
    *nfiles_out = 0;
    memset(inflight, 0, sizeof(inflight));

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        ossc_error_set(err, errno, "cannot create MODEL_DIR %s: %s", dir, strerror(errno));
        goto out;
    }
    if (read_manifest(dir, &known, err) < 0)
        goto out;
    int ff = find_foreign(dir, "", &known, foreign, sizeof(foreign));
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

    if (ossc_list_all(c, s->bucket, s->prefix, 0, &list, err) < 0)
        goto out;
    if (list->count == 0) {
        ossc_error_set(err, ENOENT, "no objects under %s", s->oss_path);
        goto out;
    }
    remove_previous(dir, &known);

    large = calloc(list->count, sizeof(*large));
    if (!large) {
        ossc_error_set(err, ENOMEM, "out of memory");
        goto out;
    }
    size_t plen = strlen(s->prefix);
    for (size_t i = 0; i < list->count; i++) {
        const ossc_object_info *o = &list->objects[i];
        const char *rel = o->key + plen;
        size_t rl = strlen(rel);
        if (rl == 0 || rel[rl - 1] == '/')
            continue; /* directory marker */
        if (!ossc_rel_path_safe(rel)) {
            OSSC_WARN("skipping oss://%s/%s: not a safe relative path under MODEL_DIR",
                      s->bucket, o->key);
            continue;
        }
        if (mkdirs(dir, rel, &created, err) < 0)
            goto out;
        if (strlist_add(&created, rel) < 0) {
            ossc_error_set(err, ENOMEM, "out of memory");
            goto out;
        }
        if (o->size >= s->small_file_size) {
            if (make_placeholder(dir, rel, o->size, err) < 0)
                goto out;
            large[nlarge].key = strdup(o->key);
            large[nlarge].rel = strdup(rel);
            large[nlarge].size = o->size;
            if (!large[nlarge].key || !large[nlarge].rel) {
                nlarge++;
                ossc_error_set(err, ENOMEM, "out of memory");
                goto out;
            }
            nlarge++;
            continue;
        }
        if (ninflight == SMALL_IN_FLIGHT) {
            if (finish_small(dir, &inflight[0], err) < 0)
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
        if (finish_small(dir, &inflight[0], err) < 0)
            goto out;
        memmove(inflight, inflight + 1, sizeof(inflight[0]) * (SMALL_IN_FLIGHT - 1));
        ninflight--;
    }
    if (write_manifest(dir, s->oss_path, &created, err) < 0)
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
    if (rc < 0 && created.n) {
        /* Leave a manifest of what we did create, so a later run cleans it. */
        ossc_error keep = err ? *err : (ossc_error){0};
        ossc_error ignored;
        write_manifest(dir, s->oss_path, &created, &ignored);
        if (err)
            *err = keep;
    }
    ossc_large_files_free(large, nlarge);
    ossc_list_result_free(list);
    strlist_free(&known);
    strlist_free(&created);
    return rc;
}
