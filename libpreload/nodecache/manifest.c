/* manifest.c - parsing MODEL_DIR/.ossc-manifest.
 *
 * The manifest decides what the connector deletes, and anyone who can
 * write MODEL_DIR can write it: every entry must be a plain relative path
 * below MODEL_DIR, or the whole manifest is refused (a caller then deletes
 * nothing).  Cost: one pass over the text and one allocation per entry. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "manifest.h"

bool ossc_rel_path_safe(const char *rel)
{
    if (!rel[0] || rel[0] == '/')
        return false;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

bool ossc_manifest_entry_ok(const char *rel)
{
    return rel[0] != '#' && !strchr(rel, '\n') && strlen(rel) <= OSSC_MANIFEST_ENTRY_MAX &&
           ossc_rel_path_safe(rel);
}

void ossc_manifest_free(ossc_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->entries[i]);
    free(m->entries);
    free(m->ino);
    free(m->mtime_ns);
    free(m->oss_path);
    m->entries = NULL;
    m->ino = NULL;
    m->mtime_ns = NULL;
    m->oss_path = NULL;
    m->n = 0;
}

static int add_entry(ossc_manifest *m, size_t *cap, const char *s, size_t len, uint64_t ino,
                     int64_t mtime_ns)
{
    if (m->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **v = realloc(m->entries, ncap * sizeof(*v));
        if (v)
            m->entries = v;
        uint64_t *iv = v ? realloc(m->ino, ncap * sizeof(*iv)) : NULL;
        if (iv)
            m->ino = iv;
        int64_t *tv = iv ? realloc(m->mtime_ns, ncap * sizeof(*tv)) : NULL;
        if (!tv)
            return -1;
        m->mtime_ns = tv;
        *cap = ncap;
    }
    char *e = strndup(s, len);
    if (!e)
        return -1;
    m->ino[m->n] = ino;
    m->mtime_ns[m->n] = mtime_ns;
    m->entries[m->n++] = e;
    return 0;
}

/* "#@ INO MTIME_NS" (n bytes at line): 0 with the two numbers, -1 when
 * malformed (two decimal numbers in range, one space apart, INO not 0,
 * nothing else). */
static int parse_identity(const char *line, size_t n, uint64_t *ino, int64_t *mtime_ns)
{
    char buf[64], *end;
    size_t plen = strlen(OSSC_MANIFEST_ID_PREFIX);
    if (n - plen >= sizeof(buf) || n == plen || !isdigit((unsigned char)line[plen]))
        return -1;
    memcpy(buf, line + plen, n - plen);
    buf[n - plen] = '\0';
    errno = 0;
    unsigned long long i = strtoull(buf, &end, 10);
    if (errno || *end != ' ' || i == 0 ||
        !(isdigit((unsigned char)end[1]) || (end[1] == '-' && isdigit((unsigned char)end[2]))))
        return -1;
    long long t = strtoll(end + 1, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *ino = (uint64_t)i;
    *mtime_ns = (int64_t)t;
    return 0;
}

int ossc_manifest_parse(const char *text, size_t len, const char *name, ossc_manifest *out,
                        ossc_error *err)
{
    ossc_manifest m = {0};
    size_t cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    char entry[OSSC_MANIFEST_ENTRY_MAX + 1];
    const size_t hlen = strlen(OSSC_MANIFEST_HEADER), ilen = strlen(OSSC_MANIFEST_ID_PREFIX);
    uint64_t ino = 0; /* the identity line just read, for the next entry */
    int64_t mtime_ns = 0;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p = nl ? nl + 1 : end;
        lineno++;
        if (memchr(line, '\0', n)) {
            ossc_error_set(err, EINVAL, "%s line %zu: a NUL byte in the manifest", name, lineno);
            goto err;
        }
        if (n == 0)
            continue;
        if (n >= ilen && memcmp(line, OSSC_MANIFEST_ID_PREFIX, ilen) == 0) {
            if (parse_identity(line, n, &ino, &mtime_ns) < 0) {
                ossc_error_set(err, EINVAL, "%s line %zu: a malformed identity line", name,
                               lineno);
                goto err;
            }
            continue;
        }
        if (line[0] == '#') {
            if (lineno == 1 && n >= hlen && memcmp(line, OSSC_MANIFEST_HEADER, hlen) == 0 &&
                !(m.oss_path = strndup(line + hlen, n - hlen)))
                goto nomem;
            continue;
        }
        if (n > OSSC_MANIFEST_ENTRY_MAX) {
            ossc_error_set(err, EINVAL, "%s line %zu: entry of %zu bytes is too long (max %d)",
                           name, lineno, n, OSSC_MANIFEST_ENTRY_MAX);
            goto err;
        }
        memcpy(entry, line, n);
        entry[n] = '\0';
        if (!ossc_rel_path_safe(entry)) {
            ossc_error_set(err, EINVAL,
                           "%s line %zu: '%.200s' is not a relative path below MODEL_DIR "
                           "(absolute, or a '.', '..' or empty component)",
                           name, lineno, entry);
            goto err;
        }
        if (add_entry(&m, &cap, line, n, ino, mtime_ns) < 0)
            goto nomem;
        ino = 0;
        mtime_ns = 0;
    }
    *out = m;
    return 0;
nomem:
    ossc_error_set(err, ENOMEM, "%s: out of memory", name);
err:
    ossc_manifest_free(&m);
    return -1;
}
