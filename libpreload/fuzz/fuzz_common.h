/* fuzz_common.h - what every libFuzzer harness shares: a quiet log, and a
 * memfd that stands in for a file so parsers that take a path (config,
 * credentials) read the fuzz input without anything written to disk. */
#ifndef OSSC_FUZZ_COMMON_H
#define OSSC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (it provides main). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Logs ERROR and above only, to stderr: parsers warn about unknown keys,
 * which would otherwise flood the fuzzer's output. */
void fuzz_quiet_log(void);

/* An anonymous in-memory file (memfd) created once per process.  Returns
 * its fd; aborts when the kernel refuses one (the harness cannot run). */
int fuzz_memfd_open(const char *name);

/* Replaces the memfd's contents with data and writes a path that opens it
 * ("/proc/self/fd/N", a fresh open file description at offset 0) into
 * path.  Aborts on a write error: a short file would fuzz the wrong input. */
void fuzz_memfd_fill(int fd, const uint8_t *data, size_t size, char *path, size_t cap);

/* data as a NUL-terminated malloc'd string (the caller frees), or NULL
 * when data holds a NUL byte (C string parsers never see one). */
char *fuzz_cstring(const uint8_t *data, size_t size);

#endif
