/* xml_list_sax.h - the state of one streaming list-page parse, shared by
 * its two files:
 *   xml_list.c         libxml2 SAX2 callbacks (which element is which, at
 *                      what depth), the parse driver and the entry points
 *   xml_list_fields.c  what each collected element's text means: keys,
 *                      sizes, times, etags, prefixes, page-level fields,
 *                      URL decoding and the early continuation token
 * Nothing here is used outside these two files. */
#ifndef OSSC_XML_LIST_SAX_H
#define OSSC_XML_LIST_SAX_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>

#include "xml.h"

/* No field of a list page is anywhere near this long (keys are < 1 KiB,
 * < 3 KiB URL-encoded); a longer text run means a broken or hostile body. */
#define LIST_TEXT_MAX (64 * 1024)

/* What the text being collected is. */
typedef enum list_field {
    F_NONE,
    F_KEY,
    F_SIZE,
    F_MTIME,
    F_ETAG,
    F_PREFIX,
    F_TRUNCATED,
    F_TOKEN,
    F_MARKER,
    F_ENCODING,
} list_field;

/* Which depth-2 element the parser is inside. */
typedef enum list_section { S_NONE, S_CONTENTS, S_PREFIXES } list_section;

typedef struct list_sax {
    xmlParserCtxtPtr ctxt;
    ossc_list_result *r;
    ossc_error *err;
    ossc_list_next_fn on_next;
    void *on_next_arg;
    size_t first_object, first_prefix;  /* this page's entries start here */
    int failed;                         /* err is filled, parser stopped */
    int depth;                          /* of the element being read, root = 1 */
    list_section section;
    list_field field;                   /* collecting text of this element ... */
    int field_depth;                    /* ... which sits at this depth */
    char *text;                         /* the element's text so far, NUL-terminated */
    size_t text_len, text_cap;
    /* the <Contents> being read */
    const char *key, *etag;
    uint64_t size;
    int64_t mtime;
    int size_bad;                       /* <Size> was no byte count ... */
    char bad_size[44];                  /* ... and said this */
    /* page-level fields */
    int url, encoding_seen, truncated, truncated_seen, next_fired;
    int v2;                             /* continue only with NextContinuationToken */
    char *token, *marker;               /* in the arena; decoded once url is known */
    char last_mtime_text[40];           /* the previous <LastModified> ... */
    int64_t last_mtime;                 /* ... and its value (pages repeat them) */
    char xml_error[200];                /* libxml2's first error, for the message */
} list_sax;

/* Records a failure (s->err already filled) and stops libxml2.  Returns -1. */
int ossc_list_sax_fail(list_sax *s);

/* Fills s->err with ENOMEM and stops the parse.  Returns -1. */
int ossc_list_sax_nomem(list_sax *s);

/* The element whose text was being collected (s->field, s->text) has
 * ended: stores what it says into s or s->r.  0, or -1 with s->err filled
 * and the parser stopped.  Allocates only the arena copy of a string that
 * is kept (key, etag, prefix, token, marker). */
int ossc_list_end_field(list_sax *s);

#endif
