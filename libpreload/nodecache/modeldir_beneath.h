/* modeldir_beneath.h - entries beneath MODEL_DIR's descriptor, never
 * through a symlink (modeldir_beneath.c); for modeldir.c. */
#ifndef OSSC_MODELDIR_BENEATH_H
#define OSSC_MODELDIR_BENEATH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ossc.h"

#define TMP_SUFFIX ".ossc-tmp"

/* Directory rel ("" for root) below root: -1 with errno (ELOOP/ENOTDIR
 * for a symlink on the way, ENOENT when absent). */
int md_open_dir_beneath(int root, const char *rel);
/* The directory holding rel and, in *base, rel's last component. */
int md_open_parent(int root, const char *rel, const char **base);
/* S_IFMT bits of rel, 0 when absent or behind a symlink. */
mode_t md_kind_beneath(int root, const char *rel);
/* Unlinks a regular file or symlink (dirs: rmdirs an empty directory). */
void md_remove_beneath(int root, const char *rel, bool dirs);
/* Writes rel atomically through a temporary name; err names the file.
 * replace false: an entry already at rel (one that appeared since MODEL_DIR
 * was checked) is never replaced: EEXIST naming it.  *made (when not
 * NULL): the file as written (its inode and mtime). */
int md_write_file(int root, const char *dir, const char *rel, const void *data, size_t len,
                  bool replace, struct stat *made, ossc_error *err);
/* Creates rel as a sparse placeholder of size bytes (O_EXCL); *made as
 * for md_write_file. */
int md_make_placeholder(int root, const char *dir, const char *rel, uint64_t size,
                        struct stat *made, ossc_error *err);
/* st's modification time in nanoseconds (the manifest's identity). */
int64_t md_mtime_ns(const struct stat *st);
/* True when rel is a regular file that is not the one recorded (inode ino,
 * modification time mtime_ns): changed or replaced since the connector
 * wrote it.  False when absent, of another kind, or ino is 0 (none). */
bool md_changed_beneath(int root, const char *rel, uint64_t ino, int64_t mtime_ns);

#endif
