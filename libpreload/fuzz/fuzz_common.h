/* fuzz_common.h - what every libFuzzer harness shares: one
 * LLVMFuzzerInitialize (a quiet log, libxml2 set up once), and a memfd that
 * stands in for a file so parsers that take a path (config, credentials)
 * read the fuzz input without anything written to disk.  A harness defines
 * only LLVMFuzzerTestOneInput; meson links this file whole into each. */
#ifndef OSSC_FUZZ_COMMON_H
#define OSSC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (it provides main).  LLVMFuzzerInitialize is
 * fuzz_common.c's: it logs ERROR and above only, to stderr (parsers warn
 * about unknown keys, which would otherwise flood the fuzzer's output),
 * and initialises libxml2 once, as the engine does before any parse. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Makes data the contents of the process's one anonymous in-memory file
 * (a memfd, created on first use) and writes a path that opens it
 * ("/proc/self/fd/N", a fresh open file description at offset 0) into
 * path.  Aborts when the kernel refuses a memfd or a write fails: the
 * harness cannot run, and a short file would fuzz the wrong input. */
void fuzz_memfd_fill(const uint8_t *data, size_t size, char *path, size_t cap);

/* data as a NUL-terminated malloc'd string (the caller frees), or NULL
 * when data holds a NUL byte (C string parsers never see one). */
char *fuzz_cstring(const uint8_t *data, size_t size);

#endif
