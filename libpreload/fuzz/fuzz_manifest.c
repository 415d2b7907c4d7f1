/* fuzz_manifest.c - the MODEL_DIR manifest reader (ossc_manifest_parse,
 * preload/manifest.c) on arbitrary text.  The manifest decides what the
 * connector deletes, so beyond ASan/UBSan this aborts when an accepted
 * entry could name a file outside MODEL_DIR (absolute, a "." / ".." /
 * empty component, a newline or NUL), is too long, or when writing the
 * entries (and their identity lines) back and parsing again does not give
 * the same manifest. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "manifest.h"

/* Lexical check, independent of ossc_rel_path_safe: every component is a
 * plain name, so "MODEL_DIR/" entry stays below MODEL_DIR. */
static int stays_below(const char *e)
{
    const char *p = e;

    if (!*e || *e == '/')
        return 0;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

/* Writes m back as a manifest (header, then one entry a line, each with
 * an identity preceded by its "#@" line). */
static char *serialize(const ossc_manifest *m, size_t *len)
{
    size_t cap = strlen(OSSC_MANIFEST_HEADER) + (m->oss_path ? strlen(m->oss_path) : 0) + 2;
    char *text, *p;

    for (size_t i = 0; i < m->n; i++)
        cap += strlen(m->entries[i]) + 1 + 64;
    p = text = malloc(cap);
    if (!text)
        abort();
    if (m->oss_path) {
        size_t h = strlen(OSSC_MANIFEST_HEADER), o = strlen(m->oss_path);
        memcpy(p, OSSC_MANIFEST_HEADER, h);
        memcpy(p + h, m->oss_path, o);
        p[h + o] = '\n';
        p += h + o + 1;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->ino[i])
            p += sprintf(p, OSSC_MANIFEST_ID_PREFIX "%" PRIu64 " %" PRId64 "\n", m->ino[i],
                         m->mtime_ns[i]);
        size_t n = strlen(m->entries[i]);
        memcpy(p, m->entries[i], n);
        p[n] = '\n';
        p += n + 1;
    }
    *len = (size_t)(p - text);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "/models/m/.ossc-manifest";
    ossc_manifest m, again;
    ossc_error err;
    size_t len;
    char *text;

    ossc_error_clear(&err);
    if (ossc_manifest_parse((const char *)data, size, name, &m, &err) != 0) {
        if (m.n || m.entries || m.oss_path || !strstr(err.message, name))
            abort(); /* left empty, and the error names the manifest */
        return 0;
    }
    for (size_t i = 0; i < m.n; i++) {
        const char *e = m.entries[i];
        if (!stays_below(e) || !ossc_rel_path_safe(e) || strchr(e, '\n') ||
            strlen(e) > OSSC_MANIFEST_ENTRY_MAX)
            abort();
    }
    if (m.oss_path && strchr(m.oss_path, '\n'))
        abort();

    text = serialize(&m, &len);
    if (ossc_manifest_parse(text, len, name, &again, &err) != 0 || again.n != m.n ||
        !again.oss_path != !m.oss_path || (m.oss_path && strcmp(m.oss_path, again.oss_path)))
        abort();
    for (size_t i = 0; i < m.n; i++)
        if (strcmp(m.entries[i], again.entries[i]) != 0 || m.ino[i] != again.ino[i] ||
            m.mtime_ns[i] != again.mtime_ns[i])
            abort();
    free(text);
    ossc_manifest_free(&again);
    ossc_manifest_free(&m);
    return 0;
}
