/* manifest.c - parsing MODEL_DIR/.ossc-manifest.
 *
 * The manifest decides what the connector deletes, and anyone who can
 * write MODEL_DIR can write it: every entry must be a plain relative path
 * below MODEL_DIR, or the whole manifest is refused (a caller then deletes
 * nothing).  Cost: one pass over the text and one allocation per entry. */
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
    free(m->oss_path);
    m->entries = NULL;
    m->oss_path = NULL;
    m->n = 0;
}

static int add_entry(ossc_manifest *m, size_t *cap, const char *s, size_t len)
{
    if (m->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        char **v = realloc(m->entries, ncap * sizeof(*v));
        if (!v)
            return -1;
        m->entries = v;
        *cap = ncap;
    }
    char *e = strndup(s, len);
    if (!e)
        return -1;
    m->entries[m->n++] = e;
    return 0;
}

int ossc_manifest_parse(const char *text, size_t len, const char *name, ossc_manifest *out,
                        ossc_error *err)
{
    ossc_manifest m = {0};
    size_t cap = 0, lineno = 0;
    const char *p = text, *end = text + len;
    char entry[OSSC_MANIFEST_ENTRY_MAX + 1];
    const size_t hlen = strlen(OSSC_MANIFEST_HEADER);

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
        if (add_entry(&m, &cap, line, n) < 0)
            goto nomem;
    }
    *out = m;
    return 0;
nomem:
    ossc_error_set(err, ENOMEM, "%s: out of memory", name);
err:
    ossc_manifest_free(&m);
    return -1;
}
