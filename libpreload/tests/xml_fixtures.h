/* xml_fixtures.h - what the XML tests share: the S3 namespace attribute
 * and parsing a NUL-terminated list page. */
#ifndef OSSC_XML_FIXTURES_H
#define OSSC_XML_FIXTURES_H

#include <string.h>

#include "xml.h"

#define S3NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static inline int parse_list_str(const char *xml, ossc_list_result **out, ossc_error *e)
{
    return ossc_xml_parse_list(xml, strlen(xml), out, e);
}

#endif
