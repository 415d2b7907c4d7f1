/* xml_fixtures.h - what the XML tests share: the S3 namespace attribute
 * and parsing a NUL-terminated list page. */
#ifndef OSSC_XML_FIXTURES_H
#define OSSC_XML_FIXTURES_H

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "xml.h"

#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static inline int parse_list_str(const char *xml, ossc_list_result **out, ossc_error *e)
{
    return ossc_xml_parse_list(xml, strlen(xml), out, e);
}

/* The list page xml parsed into a fresh result, or NULL when the parse
 * failed: a failed check then names the caller's line and the parser's
 * message. */
#define PARSE_LIST_OK(xml) parse_list_ok_at((xml), __FILE__, __LINE__)

static inline ossc_list_result *parse_list_ok_at(const char *xml, const char *file, int line)
{
    ossc_list_result *r = NULL;
    ossc_error e;

    ossc_error_clear(&e);
    check_count++;
    if (parse_list_str(xml, &r, &e) != 0 || !r) {
        check_failures++;
        fprintf(stderr, "%s:%d: parsing the list page failed: %s\n", file, line, e.message);
        return NULL;
    }
    return r;
}

#endif
