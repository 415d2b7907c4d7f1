/* xml.h - parsing OSS response bodies (libxml2) and building request bodies.
 * OSS XML has no namespace; S3-style namespaced XML is accepted too. */
#ifndef OSSC_XML_H
#define OSSC_XML_H

#include <stddef.h>
#include "ossc.h"

/* <Error><Code/><Message/><RequestId/>...</Error> -> err->oss_code,
 * err->request_id, err->message ("<Code>: <Message>").  Leaves err->code
 * alone.  Returns -1 when the body is not an OSS error document. */
int ossc_xml_parse_error(const char *body, size_t len, ossc_error *err);

/* ListBucketResult of ListObjects (V1: Marker/NextMarker) or ListObjectsV2
 * (ContinuationToken/NextContinuationToken).  Appends objects and common
 * prefixes to *out (allocating it when *out is NULL), sets truncated and
 * next_token.  With <EncodingType>url</EncodingType>, keys, prefixes and
 * next markers are URL-decoded.  EIO with a message when malformed. */
int ossc_xml_parse_list(const char *body, size_t len, ossc_list_result **out, ossc_error *err);

/* Appends one entry to a result (used by fast list to merge). Key is copied. */
int ossc_list_result_push(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                          const char *etag);
ossc_list_result *ossc_list_result_new(void);

/* <InitiateMultipartUploadResult><UploadId>..</UploadId> */
int ossc_xml_parse_upload_id(const char *body, size_t len, char *upload_id, size_t cap,
                             ossc_error *err);

/* <CompleteMultipartUpload><Part><PartNumber>n</PartNumber><ETag>"e"</ETag>
 * </Part>...</CompleteMultipartUpload>; *out is malloc'd, caller frees. */
typedef struct ossc_part_etag {
    int part_number;
    char etag[72];
} ossc_part_etag;
int ossc_xml_build_complete(const ossc_part_etag *parts, size_t n, char **out, size_t *out_len,
                            ossc_error *err);

/* "2024-08-02T15:04:05.000Z" (LastModified) -> Unix time, 0 when malformed. */
int64_t ossc_xml_parse_time(const char *s);

#endif
