/* manifest.h - reading MODEL_DIR/.ossc-manifest, the list of what the
 * connector created there (and so may remove).  Pure parsing: no file
 * system access, so the unit tests and the fuzzer can call it directly. */
#ifndef OSSC_MANIFEST_H
#define OSSC_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ossc.h"

/* First line of every manifest we write; the OSS_PATH follows it. */
#define OSSC_MANIFEST_HEADER "# oss-connector manifest v1: files created from "
/* Longest entry accepted (bytes, without the newline): a path that fits
 * in PATH_MAX once joined to MODEL_DIR is never longer. */
#define OSSC_MANIFEST_ENTRY_MAX 4095

/* A line "#@ INO MTIME_NS" before an entry records what the connector
 * wrote there (the file's inode and modification time, nanoseconds): a
 * regular file found there with another inode or time was changed or
 * replaced since, and is not the connector's to delete.  Readers that do
 * not know the line skip it as a comment. */
#define OSSC_MANIFEST_ID_PREFIX "#@ "

/* A parsed manifest: oss_path is the OSS_PATH named by the header (NULL
 * when there is none), entries are relative paths in file order; ino[i]
 * and mtime_ns[i] the identity recorded for entries[i] (ino 0: none). */
typedef struct ossc_manifest {
    char *oss_path;
    char **entries;
    uint64_t *ino;
    int64_t *mtime_ns;
    size_t n;
} ossc_manifest;

/* Parses a manifest's text (len bytes, need not be NUL-terminated). 0, or -1 with err naming
 * `name` (the manifest's path) and the line at fault: an entry that is absolute, has a "." /
 * ".." / empty component, a NUL byte, or is too long, or a malformed identity line.  Other
 * lines starting with '#' and empty lines are skipped.  On failure *out is left empty
 * (nothing to free). */
int ossc_manifest_parse(const char *text, size_t len, const char *name, ossc_manifest *out,
                        ossc_error *err);
void ossc_manifest_free(ossc_manifest *m);

/* True when rel is a relative path we are willing to create or remove
 * below MODEL_DIR: not empty, no leading '/', no empty, "." or ".."
 * component, no trailing '/'. */
bool ossc_rel_path_safe(const char *rel);

/* True when rel can be written as one manifest entry and read back as the
 * same entry: ossc_rel_path_safe, at most OSSC_MANIFEST_ENTRY_MAX bytes,
 * no newline (it would split the line) and no leading '#' (it would read
 * as a comment: the file would never be removed). */
bool ossc_manifest_entry_ok(const char *rel);

#endif
