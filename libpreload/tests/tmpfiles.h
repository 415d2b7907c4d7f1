/* tmpfiles.h - a scratch directory for the C unit tests that read and write
 * files (config, credentials, logs): created once in main, removed with
 * everything in it at the end. */
#ifndef OSSC_TEST_TMPFILES_H
#define OSSC_TEST_TMPFILES_H

/* The scratch directory, "/tmp/ossc-test-<name>-XXXXXX" once made. */
extern char tmpdir[64];

/* Creates tmpdir for the test program `name`; 0, or -1 after perror. */
int make_tmpdir(const char *name);

/* Removes tmpdir and all it holds. */
void remove_tmpdir(void);

/* Writes content to tmpdir/name (truncating an existing file in place, same
 * inode) and returns the path.  The path lives in one of two static buffers
 * that alternate, so the paths of two consecutive calls can be used
 * together. */
const char *write_tmp(const char *name, const char *content);

/* A whole (small) file in a malloc'd string; "" when it cannot be opened. */
char *slurp(const char *path);

#endif
