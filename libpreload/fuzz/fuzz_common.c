/* fuzz_common.c - helpers shared by the harnesses (see fuzz_common.h). */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "xml.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ossc_log_init(OSSC_LOG_ERROR, NULL);
    ossc_xml_init();
    return 0;
}

void fuzz_memfd_fill(const uint8_t *data, size_t size, char *path, size_t cap)
{
    static int fd = -1;
    size_t done = 0;

    if (fd < 0)
        fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    if (ftruncate(fd, 0) != 0) {
        perror("ftruncate(memfd)");
        abort();
    }
    while (done < size) {
        ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
        if (n <= 0) {
            perror("pwrite(memfd)");
            abort();
        }
        done += (size_t)n;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
}

char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s;

    if (memchr(data, '\0', size))
        return NULL;
    s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
