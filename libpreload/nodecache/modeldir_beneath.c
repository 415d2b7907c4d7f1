/* modeldir_beneath.c - creating, removing and replacing entries beneath
 * MODEL_DIR's directory descriptor, following no symlink in any component
 * (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a component-by-component
 * openat(O_NOFOLLOW) walk on older kernels).  Only regular files and
 * symlinks are unlinked (a symlink is removed itself, never what it points
 * at).  Used by the preparation (modeldir.c) and, after it, by the cache's
 * last process out, its watcher and symlinks mode. */
#include <errno.h>
#include <fcntl.h>
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
#include "modeldir_beneath.h"
#include "nodecache.h"

/* ------------------------------------------------ beneath MODEL_DIR's fd */

/* Opens directory `rel` ("" for root itself) below the directory fd root,
 * following no symlink in any component: -1 with errno (ELOOP or ENOTDIR
 * for a symlink on the way, ENOENT when absent).  openat2 resolves it in
 * one call; kernels (or seccomp filters) without it get a walk. */
int md_open_dir_beneath(int root, const char *rel)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    if (!rel[0])
        return fcntl(root, F_DUPFD_CLOEXEC, 0);
#ifdef SYS_openat2
    static atomic_bool no_openat2;
    if (!atomic_load(&no_openat2)) {
        struct open_how how = {
            .flags = (uint64_t)flags,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
        atomic_store(&no_openat2, true);
    }
#endif
    char buf[PATH_MAX];
    if (ossc_pathf(buf, sizeof(buf), "%s", rel) < 0)
        return -1;
    int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);
    for (char *comp = buf, *next; fd >= 0 && comp; comp = next) {
        next = strchr(comp, '/');
        if (next)
            *next++ = '\0';
        int sub = ossc_libc.openat(fd, comp, flags);
        int e = errno;
        close(fd);
        errno = e;
        fd = sub;
    }
    return fd;
}

/* The directory holding rel (below root, no symlink followed) and, in
 * *base, rel's last component. */
int md_open_parent(int root, const char *rel, const char **base)
{
    const char *slash = strrchr(rel, '/');
    *base = slash ? slash + 1 : rel;
    if (!slash)
        return fcntl(root, F_DUPFD_CLOEXEC, 0);
    char dir[PATH_MAX];
    if ((size_t)(slash - rel) >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, rel, (size_t)(slash - rel));
    dir[slash - rel] = '\0';
    return md_open_dir_beneath(root, dir);
}

/* What rel is, without following a symlink anywhere: the S_IFMT bits, 0
 * when absent (or behind a symlink: then it is not ours to touch). */
mode_t md_kind_beneath(int root, const char *rel)
{
    const char *base;
    int pfd = md_open_parent(root, rel, &base);
    if (pfd < 0)
        return 0;
    struct stat st;
    mode_t kind = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode & S_IFMT : 0;
    close(pfd);
    return kind;
}

/* Unlinks rel when it is a regular file or a symlink (the link itself);
 * with dirs, rmdirs it when it is an empty directory.  Anything else, or
 * anything behind a symlink, is left alone. */
void md_remove_beneath(int root, const char *rel, bool dirs)
{
    const char *base;
    int pfd = md_open_parent(root, rel, &base);
    if (pfd < 0)
        return;
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!dirs && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            unlinkat(pfd, base, 0);
        else if (dirs && S_ISDIR(st.st_mode))
            unlinkat(pfd, base, AT_REMOVEDIR); /* only succeeds when empty */
    }
    close(pfd);
}

int64_t md_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

bool md_changed_beneath(int root, const char *rel, uint64_t ino, int64_t mtime_ns)
{
    if (ino == 0)
        return false;
    const char *base;
    int pfd = md_open_parent(root, rel, &base);
    if (pfd < 0)
        return false;
    struct stat st;
    bool changed = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                   ((uint64_t)st.st_ino != ino || md_mtime_ns(&st) != mtime_ns);
    close(pfd);
    return changed;
}

/* renameat, or with replace false renameat2(RENAME_NOREPLACE) (EEXIST when
 * something is at `to`); where the file system has no RENAME_NOREPLACE
 * (EINVAL), a check then renameat: the small window it leaves is the one
 * every run had before. */
static int rename_into(int pfd, const char *from, const char *to, bool replace)
{
    if (replace)
        return renameat(pfd, from, pfd, to);
    int rc = renameat2(pfd, from, pfd, to, RENAME_NOREPLACE);
    if (rc == 0 || errno != EINVAL)
        return rc;
    struct stat st;
    if (fstatat(pfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    return renameat(pfd, from, pfd, to);
}

int md_write_file(int root, const char *dir, const char *rel, const void *data, size_t len,
                  bool replace, struct stat *made, ossc_error *err)
{
    const char *base;
    char tmp[NAME_MAX + 1];
    int pfd = md_open_parent(root, rel, &base);
    if (pfd < 0)
        return ossc_error_set(err, errno, "cannot open the directory of %s/%s: %s", dir, rel,
                              strerror(errno));
    if (ossc_pathf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, base) < 0) {
        close(pfd);
        return ossc_error_set(err, ENAMETOOLONG, "%s/%s: name too long", dir, rel);
    }
    struct stat st;
    if (fstatat(pfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
        unlinkat(pfd, tmp, 0); /* left by a killed run */
    int fd = ossc_libc.openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                              0644);
    if (fd < 0) {
        int e = errno;
        close(pfd);
        return ossc_error_set(err, e, "cannot create %s/%s%s: %s", dir, rel, TMP_SUFFIX,
                              strerror(e));
    }
    const char *p = data;
    size_t left = len;
    int e = 0;
    while (left && !e) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? errno : EIO;
        else {
            p += w;
            left -= (size_t)w;
        }
    }
    if (!e && made && fstat(fd, made) < 0)
        e = errno;
    if (ossc_libc.close(fd) < 0 && !e)
        e = errno;
    if (!e && rename_into(pfd, tmp, base, replace) < 0)
        e = errno;
    if (e)
        unlinkat(pfd, tmp, 0);
    close(pfd);
    if (e == EEXIST)
        return ossc_error_set(err, e, "cannot write %s/%s: something appeared there while "
                              "MODEL_DIR was being prepared; it was not replaced", dir, rel);
    return e ? ossc_error_set(err, e, "cannot write %s/%s: %s", dir, rel, strerror(e)) : 0;
}

int md_make_placeholder(int root, const char *dir, const char *rel, uint64_t size,
                        struct stat *made, ossc_error *err)
{
    const char *base;
    int pfd = md_open_parent(root, rel, &base);
    int fd = pfd < 0 ? -1
                     : ossc_libc.openat(pfd, base,
                                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                        0644);
    int e = errno;
    if (pfd >= 0)
        close(pfd);
    if (fd < 0)
        return ossc_error_set(err, e, "cannot create %s/%s: %s", dir, rel, strerror(e));
    int rc = ftruncate(fd, (off_t)size);
    if (rc == 0 && made)
        rc = fstat(fd, made);
    e = errno;
    ossc_libc.close(fd);
    if (rc < 0)
        return ossc_error_set(err, e, "cannot size placeholder %s/%s: %s", dir, rel,
                              strerror(e));
    return 0;
}

/* ------------------------------------------ placeholders after preparation */

/* MODEL_DIR for removing or replacing entries after its preparation: not
 * through a symlink, and only while it is still a directory of our
 * effective uid.  -1 with errno otherwise (then nothing is touched). */
static int open_prepared_dir(const char *dir)
{
    int fd = ossc_libc.open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != geteuid())) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* A regular file at a placeholder's name that is no longer the placeholder
 * made there (a user copied the real file over it, or replaced it) stays,
 * with one warning naming it; a link (symlinks mode) is removed itself. */
void ossc_modeldir_remove_placeholders(const char *dir, const ossc_placeholder *ph, size_t n)
{
    int root = open_prepared_dir(dir);
    if (root < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (md_changed_beneath(root, ph[i].rel, ph[i].ino, ph[i].mtime_ns))
            OSSC_WARN("%s/%s was changed or replaced since the connector made it as a "
                      "placeholder: left in place, not deleted",
                      dir, ph[i].rel);
        else
            md_remove_beneath(root, ph[i].rel, false);
    }
    close(root);
}

int ossc_modeldir_link_placeholder(const char *dir, const char *rel, const char *target,
                                   ossc_error *err)
{
    int root = open_prepared_dir(dir);
    if (root < 0)
        return ossc_error_set(err, errno, "cannot open MODEL_DIR %s: %s", dir, strerror(errno));
    const char *base;
    char tmp[NAME_MAX + 1];
    int pfd = md_open_parent(root, rel, &base);
    int e = pfd < 0 ? errno : 0;
    close(root);
    if (pfd < 0)
        return ossc_error_set(err, e, "cannot link %s/%s to its cache file: %s%s", dir, rel,
                              strerror(e),
                              e == ELOOP || e == ENOTDIR ? " (a symlink is never followed)" : "");
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !(S_ISREG(st.st_mode) ||
                                                            S_ISLNK(st.st_mode))) {
        e = errno;
        close(pfd);
        return ossc_error_set(err, e ? e : EEXIST, "cannot link %s/%s to its cache file: it is "
                              "no longer the placeholder the connector made", dir, rel);
    }
    if (S_ISLNK(st.st_mode)) {
        close(pfd);
        return 0; /* linked by another process sharing this cache */
    }
    /* The temporary link's name is this thread's own: processes sharing the
     * cache (torchrun ranks, vLLM's workers) link the same placeholder at
     * once, and a shared name let one delete or collide with another's.  The
     * renames themselves may race: each puts the same link in place. */
    if (ossc_pathf(tmp, sizeof(tmp), "%s.ossc-link.%ld.%ld", base, (long)getpid(),
                   (long)syscall(SYS_gettid)) < 0) {
        close(pfd);
        return ossc_error_set(err, ENAMETOOLONG, "%s/%s: name too long", dir, rel);
    }
    if (fstatat(pfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
        unlinkat(pfd, tmp, 0); /* left by a killed run that had this pid and tid */
    e = symlinkat(target, pfd, tmp) < 0 || renameat(pfd, tmp, pfd, base) < 0 ? errno : 0;
    if (e)
        unlinkat(pfd, tmp, 0);
    close(pfd);
    return e ? ossc_error_set(err, e, "cannot link %s/%s to its cache file %s: %s", dir, rel,
                              target, strerror(e))
             : 0;
}
