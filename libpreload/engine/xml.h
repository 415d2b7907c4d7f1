/* xml.h - parsing OSS response bodies (libxml2) and building request bodies.
 * OSS XML has no namespace; S3-style namespaced XML is accepted too. */
#ifndef OSSC_XML_H
#define OSSC_XML_H

#include <stddef.h>
#include "etag.h"
#include "ossc.h"

/* <Error><Code/><Message/><RequestId/>...</Error> -> err->oss_code,
 * err->request_id, err->message ("<Code>: <Message>").  Leaves err->code
 * alone.  Returns -1 when the body is not an OSS error document. */
int ossc_xml_parse_error(const char *body, size_t len, ossc_error *err);

/* Sets up libxml2 once per process (safe from any thread). */
void ossc_xml_init(void);

/* libxml2 reports some errors (e.g. "encoding error: input conversion
 * failed" for a reply that declares an encoding its bytes break) through
 * its generic error channel, which prints to stderr -- the application's
 * -- whatever the parse options say.  Every parse runs between these two:
 * the calling thread's channel (libxml2 keeps it per thread) is muted and
 * then given back, so an application that uses libxml2 itself keeps its
 * own handler.  Cost: two thread-local stores per parse. */
typedef struct ossc_xml_quiet {
    void *ctx;
    void *handler;
} ossc_xml_quiet;
void ossc_xml_quiet_begin(ossc_xml_quiet *q);
void ossc_xml_quiet_end(const ossc_xml_quiet *q);

/* ListBucketResult of ListObjects (V1: Marker/NextMarker) or ListObjectsV2
 * (ContinuationToken/NextContinuationToken), parsed as a stream (SAX2, no
 * tree; xml_list.c).  Appends objects and common prefixes to *out
 * (allocating it when *out is NULL), sets truncated and next_token.  With
 * <EncodingType>url</EncodingType>, keys, prefixes and next markers are
 * URL-decoded.  EIO with a message when malformed, and when an entry's
 * <Size> is not a decimal byte count up to INT64_MAX (the message names
 * the key); then *out keeps the entries it had before this page. */
int ossc_xml_parse_list(const char *body, size_t len, ossc_list_result **out, ossc_error *err);

/* Called during a parse with the page's next continuation token (already
 * URL-decoded) the moment it is certain, before the entries are read, so
 * the next page can be requested at once.  Must not keep `token`. */
typedef void (*ossc_list_next_fn)(const char *token, void *arg);

/* ossc_xml_parse_list that also calls on_next (at most once) when the page
 * says, before its end, that it is truncated, gives a non-empty
 * NextContinuationToken and whether it is URL-encoded.  When the parse
 * then succeeds, *out's next_token equals the token reported.  A page that
 * settles its continuation only at its end (V1 markers, no EncodingType)
 * does not call on_next: the caller reads next_token afterwards. */
int ossc_xml_parse_list_early(const char *body, size_t len, ossc_list_result **out,
                              ossc_list_next_fn on_next, void *arg, ossc_error *err);

/* ossc_xml_parse_list_early for a ListObjectsV2 page: a truncated page
 * must carry a non-empty <NextContinuationToken> (no fallback to
 * <NextMarker> or to the page's last name, which V2 servers would not
 * take as a token), else EIO. */
int ossc_xml_parse_list_v2(const char *body, size_t len, ossc_list_result **out,
                           ossc_list_next_fn on_next, void *arg, ossc_error *err);

ossc_list_result *ossc_list_result_new(void);
/* Appends one entry to a result (used by fast list to merge). Key is copied. */
int ossc_list_result_push(ossc_list_result *r, const char *key, uint64_t size, int64_t mtime,
                          const char *etag);
/* Moves src's entries and prefixes behind dst's without copying a string,
 * then frees src.  dst keeps its truncated / next_token.  -1 on ENOMEM
 * (both left as they were). */
int ossc_list_result_take(ossc_list_result *dst, ossc_list_result *src);

/* <InitiateMultipartUploadResult><UploadId>..</UploadId> */
int ossc_xml_parse_upload_id(const char *body, size_t len, char *upload_id, size_t cap,
                             ossc_error *err);

/* One page of ListBuckets (<ListAllMyBucketsResult>): appends each
 * <Bucket><Name> and a newline at out + *used while it fits in cap (NUL
 * kept after the last), and adds every name's length + 1 to *used either
 * way, so a caller can learn the size it needs.  Sets *truncated and, when
 * truncated, next_marker (<NextMarker>).  EIO when malformed or a name is
 * not a bucket name ([a-z0-9-], 1 to 63 characters). */
int ossc_xml_parse_bucket_names(const char *body, size_t len, char *out, size_t cap,
                                size_t *used, int *truncated, char *next_marker,
                                size_t marker_cap, ossc_error *err);

/* <CompleteMultipartUpload><Part><PartNumber>n</PartNumber><ETag>"e"</ETag>
 * </Part>...</CompleteMultipartUpload>; *out is malloc'd, caller frees. */
typedef struct ossc_part_etag {
    int part_number;
    char etag[OSSC_ETAG_MAX];
} ossc_part_etag;
int ossc_xml_build_complete(const ossc_part_etag *parts, size_t n, char **out, size_t *out_len,
                            ossc_error *err);

/* "2024-08-02T15:04:05.000Z" (LastModified) -> Unix time, 0 when malformed. */
int64_t ossc_xml_parse_time(const char *s);

#endif
