/* fuzz_common.c - helpers shared by the harnesses (see fuzz_common.h). */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

void fuzz_quiet_log(void)
{
    ossc_log_init(OSSC_LOG_ERROR, NULL);
}

int fuzz_memfd_open(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    return fd;
}

void fuzz_memfd_fill(int fd, const uint8_t *data, size_t size, char *path, size_t cap)
{
    size_t done = 0;

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
