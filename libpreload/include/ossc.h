/*
 * ossc.h - public C API of the OSS connector engine.
 *
 * One engine talks to Alibaba Cloud OSS over HTTP: signing (OSS V1/V4),
 * concurrent ranged GETs straight into caller buffers, listing, PUT,
 * multipart upload, retries.  The Python binding (cffi) and the LD_PRELOAD
 * interposer are both thin layers over this API.
 *
 * Conventions:
 *  - Every fallible function returns 0 (or a non-negative count) on success
 *    and -1 on failure, and fills the caller's ossc_error when it is not NULL.
 *  - ossc_error.code is an errno value (ENOENT, EACCES, EIO, ...).
 *  - Keys are raw UTF-8 bytes (never URL-encoded by the caller).
 *  - All functions are thread-safe unless stated otherwise.
 */
#ifndef OSSC_H
#define OSSC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(OSSC_BUILDING)
#define OSSC_API __attribute__((visibility("default")))
#else
#define OSSC_API
#endif

#define OSSC_ERR_MSG_MAX 512

/* What went wrong, in a form both C callers and the Python layer can map:
 * code is an errno value; http_status/oss_code/request_id are filled when
 * the server answered. message never contains secrets. */
typedef struct ossc_error {
    int code;
    int http_status;
    char oss_code[64];
    char request_id[64];
    char message[OSSC_ERR_MSG_MAX];
} ossc_error;

/* Credentials handed to the engine by a callback provider.  Fields are
 * NUL-terminated; security_token may be empty; expiration is a Unix time or
 * 0 for "never". */
typedef struct ossc_credentials {
    char access_key_id[256];
    char access_key_secret[256];
    char security_token[4096];
    int64_t expiration;
} ossc_credentials;

/* Called (from any engine thread, serialised by the engine) when fresh
 * credentials are needed.  Returns 0 and fills *out, or -1 on failure. */
typedef int (*ossc_cred_callback)(void *userdata, ossc_credentials *out);

/* Which section of config.json sizes the I/O threads and transfers. */
typedef enum ossc_profile {
    OSSC_PROFILE_MODEL = 0,      /* prefetch.vcpus x prefetch.workers */
    OSSC_PROFILE_DATASET = 1,    /* datasetConfig.prefetchWorker x prefetchConcurrency */
    OSSC_PROFILE_CHECKPOINT = 2, /* checkpointConfig.prefetchWorker x prefetchConcurrency */
} ossc_profile;

typedef struct ossc_client_options {
    const char *endpoint;    /* "oss-cn-hangzhou.aliyuncs.com", "http://127.0.0.1:9000", ... */
    const char *region;      /* NULL/"" = inferred from the endpoint when possible */
    const char *cred_path;   /* JSON credential file, or NULL */
    ossc_cred_callback cred_callback; /* or NULL */
    void *cred_userdata;
    const char *config_path; /* NULL = $OSS_CONNECTOR_CONFIG or /etc/oss-connector/config.json if present */
    ossc_profile profile;
} ossc_client_options;

typedef struct ossc_client ossc_client;

/* Creates a client.  Credentials come from, in order: cred_callback,
 * cred_path, environment (OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET/
 * OSS_SESSION_TOKEN).  Returns NULL and fills err on failure. */
OSSC_API ossc_client *ossc_client_new(const ossc_client_options *opts, ossc_error *err);
OSSC_API void ossc_client_free(ossc_client *c);

/* Splits "oss://bucket/key" into its parts (key may be empty). */
OSSC_API int ossc_parse_uri(const char *uri, char *bucket, size_t bucket_cap,
                            char *key, size_t key_cap, ossc_error *err);

typedef struct ossc_object_info {
    const char *key;     /* owned by the result / info it belongs to */
    uint64_t size;
    int64_t mtime;       /* Unix seconds, 0 when unknown */
    const char *etag;    /* without quotes, may be "" */
    uint64_t crc64;      /* x-oss-hash-crc64ecma of the whole object (HEAD only) */
    int has_crc64;       /* 1 when crc64 is known: HEAD and the server sent it */
} ossc_object_info;

/* HEAD of one object.  The strings in *out stay valid until
 * ossc_object_info_clear(out). */
OSSC_API int ossc_head(ossc_client *c, const char *bucket, const char *key,
                       ossc_object_info *out, ossc_error *err);
OSSC_API void ossc_object_info_clear(ossc_object_info *info);

/* Reads [offset, offset+len) of an object into dst.  Large ranges are split
 * into parts fetched concurrently and written in place (no extra copy).
 * Returns the number of bytes read (short only at end of object) or -1.
 * When the read covers the whole object and the server sent
 * x-oss-hash-crc64ecma, the CRC is verified (EIO on mismatch). */
OSSC_API int64_t ossc_get_range(ossc_client *c, const char *bucket, const char *key,
                                uint64_t offset, uint64_t len, void *dst, ossc_error *err);

/* Asynchronous ranged GET: starts the transfer and returns at once.
 * ossc_future_wait blocks until it ends and returns bytes read or -1.
 * dst must stay valid until the future is waited on or freed (freeing a
 * running future cancels it and waits for the engine to let go of dst). */
typedef struct ossc_future ossc_future;
OSSC_API ossc_future *ossc_get_async(ossc_client *c, const char *bucket, const char *key,
                                     uint64_t offset, uint64_t len, void *dst, ossc_error *err);
/* The same, writing the bytes into the file fd at fd_offset + (position
 * within the range): on tmpfs, when fd is open read-write, the range can
 * be allocated (fallocate) and starts and ends on page boundaries (or ends
 * at the end of the file), through a shared mapping of it (concurrent
 * parts of one file do not queue on its inode lock); with pwrite otherwise.
 * Never raises SIGBUS; a failed write fails the future with its errno (no
 * retry).  A descriptor open with O_APPEND is refused (EINVAL): its writes
 * would all go to the end of the file. */
OSSC_API ossc_future *ossc_get_async_fd(ossc_client *c, const char *bucket, const char *key,
                                        uint64_t offset, uint64_t len, int fd,
                                        uint64_t fd_offset, ossc_error *err);
/* As ossc_get_async and ossc_get_async_fd, of one version of the object
 * only: etag (as ossc_head, a listing or ossc_future_etag gave it, quoted
 * or not) is sent as If-Match, and when the server refuses it (412) or
 * answers with another ETag (a weak "W/" prefix and letter case aside)
 * the read fails with ESTALE, naming the ETag
 * asked for, and is not tried again: that version is gone.  This is how a
 * reader that assembles an object from several reads (a file handle, a
 * cache of chunks) keeps every byte of one version.  NULL or "": any
 * version (the plain functions).  An etag that cannot be sent as a header
 * (over 127 characters, a space, a quote inside, a backslash or a control
 * character) is EINVAL. */
OSSC_API ossc_future *ossc_get_async_version(ossc_client *c, const char *bucket,
                                             const char *key, const char *etag,
                                             uint64_t offset, uint64_t len, void *dst,
                                             ossc_error *err);
OSSC_API ossc_future *ossc_get_async_fd_version(ossc_client *c, const char *bucket,
                                                const char *key, const char *etag,
                                                uint64_t offset, uint64_t len, int fd,
                                                uint64_t fd_offset, ossc_error *err);
OSSC_API int64_t ossc_future_wait(ossc_future *f, ossc_error *err);
/* After ossc_future_wait returned n >= 0: *crc is the CRC-64/ECMA (the
 * x-oss-hash-crc64ecma polynomial) of those n bytes as they arrived off the
 * wire, combined over the parts; *object_crc (may be NULL) the whole
 * object's CRC the server sent with the reply, when it sent one.  Returns 1
 * when *object_crc was set, 0 when the server sent none, -1 (EINVAL) before
 * a successful wait.  Cost: the CRC runs on every GET as bytes arrive
 * (PCLMUL, ~15 GB/s per core). */
OSSC_API int ossc_future_crc64(const ossc_future *f, uint64_t *crc, uint64_t *object_crc);
/* After ossc_future_wait returned n >= 0: *size is the whole object's size
 * as the replies named it (Content-Range, or the Content-Length of a 200
 * to the range).  Returns 1 when *size was set, 0 when no reply named it,
 * -1 (EINVAL) before a successful wait.  With ossc_future_crc64 this lets
 * a caller that assembles ranges check them once they cover the object. */
OSSC_API int ossc_future_object_size(const ossc_future *f, uint64_t *size);
/* After ossc_future_wait returned n >= 0: the ETag of the version the n
 * bytes are of, without quotes or a proxy's weak "W/" prefix ("" when the
 * server sent none): what ossc_get_async_version takes; valid until
 * ossc_future_free.  Every part of one read is of that version (a read
 * that met two is read again once, or fails).  NULL (EINVAL) before a
 * successful wait. */
OSSC_API const char *ossc_future_etag(const ossc_future *f);
/* CRC-64/ECMA as in x-oss-hash-crc64ecma, for callers that assemble
 * ranges: ossc_crc64 continues `crc` (0 to start) over len bytes of buf;
 * ossc_crc64_join is the CRC of A||B from crc(A), crc(B) and len(B),
 * without the data (O(log len_b)). */
OSSC_API uint64_t ossc_crc64(uint64_t crc, const void *buf, size_t len);
OSSC_API uint64_t ossc_crc64_join(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);
OSSC_API int ossc_future_done(ossc_future *f);
OSSC_API void ossc_future_free(ossc_future *f);

/* Simple PUT of a whole buffer. */
OSSC_API int ossc_put(ossc_client *c, const char *bucket, const char *key,
                      const void *data, size_t len, ossc_error *err);
OSSC_API int ossc_delete(ossc_client *c, const char *bucket, const char *key, ossc_error *err);
OSSC_API int ossc_copy(ossc_client *c, const char *src_bucket, const char *src_key,
                       const char *dst_bucket, const char *dst_key, ossc_error *err);

/* ListBuckets: the names of the buckets the credentials own, each followed
 * by '\n', NUL-terminated, in out (cap bytes); pages are followed to the
 * end.  *needed (when not NULL) gets the bytes the names take, NUL
 * included; -1 with ERANGE when that is more than cap (call again with a
 * larger buffer).  One request per 1,000 buckets. */
OSSC_API int ossc_list_buckets(ossc_client *c, char *out, size_t cap, size_t *needed,
                               ossc_error *err);

/* Streaming writer.  Bytes are copied into engine-owned parts of
 * http.partSize bytes; each full part is uploaded concurrently (multipart
 * upload, at most `upload concurrency` parts in flight, so memory stays
 * bounded: ossc_writer_write blocks while that many are pending).  A writer
 * closed before its first part is full does one plain PUT.  The object
 * appears only when ossc_writer_close returns 0; ossc_writer_abort (or any
 * failed part) aborts the multipart upload, leaving any previous object
 * with that key untouched. */
typedef struct ossc_writer ossc_writer;
OSSC_API ossc_writer *ossc_writer_open(ossc_client *c, const char *bucket, const char *key,
                                       ossc_error *err);
OSSC_API int ossc_writer_write(ossc_writer *w, const void *data, size_t len, ossc_error *err);
/* Commits and frees the writer (also on failure). */
OSSC_API int ossc_writer_close(ossc_writer *w, ossc_error *err);
/* Discards everything written and frees the writer. */
OSSC_API void ossc_writer_abort(ossc_writer *w);

/* One page (or, with fast listing, the whole set) of a listing. */
typedef struct ossc_list_result {
    size_t count;
    ossc_object_info *objects;
    size_t prefix_count;
    const char **prefixes;   /* common prefixes when a delimiter is used */
    int truncated;
    const char *next_token;  /* continuation token (V2) or next marker (V1), "" at the end */
    void *_arena;            /* private: backing storage */
    size_t _cap_objects, _cap_prefixes;
} ossc_list_result;

/* Lists one page (up to max_keys, 0 = 1000) after token ("" = start) using
 * ListObjectsV2.  delimiter may be NULL. */
OSSC_API int ossc_list_page(ossc_client *c, const char *bucket, const char *prefix,
                            const char *delimiter, const char *token, int max_keys,
                            ossc_list_result **out, ossc_error *err);
/* The same with ListObjects (V1): token is the marker. */
OSSC_API int ossc_list_page_v1(ossc_client *c, const char *bucket, const char *prefix,
                               const char *delimiter, const char *marker, int max_keys,
                               ossc_list_result **out, ossc_error *err);
/* A result's entries as columns, for a binding to convert in bulk (a few
 * calls per page instead of several per entry): keys and etags packed back
 * to back, each followed by a NUL (no key contains one), sizes and mtimes
 * as arrays of `count`. */
typedef struct ossc_list_columns {
    size_t count;
    uint64_t *sizes;
    int64_t *mtimes;
    char *keys;
    size_t keys_len;         /* bytes in keys, NULs included */
    char *etags;
    size_t etags_len;
} ossc_list_columns;
/* Fills *out (one allocation) from r; ENOMEM leaves *out empty. */
OSSC_API int ossc_list_result_columns(const ossc_list_result *r, ossc_list_columns *out,
                                      ossc_error *err);
/* Frees the columns' storage and empties *c; NULL is a no-op. */
OSSC_API void ossc_list_columns_free(ossc_list_columns *c);

/* A sequential ListObjectsV2 listing, page by page, that keeps the next
 * page's request in flight while the caller works on the current one (it
 * leaves as soon as the current page's continuation token is read).
 * delimiter may be NULL; max_keys 0 = 1000.  ossc_list_open sends the
 * first request; NULL with err filled on a bad bucket/prefix or ENOMEM. */
typedef struct ossc_lister ossc_lister;
OSSC_API ossc_lister *ossc_list_open(ossc_client *c, const char *bucket, const char *prefix,
                                     const char *delimiter, int max_keys, ossc_error *err);
/* The next page into *page (the caller frees it with ossc_list_result_free):
 * 1 with a page, 0 when the listing is over (*page NULL), -1 with err
 * filled (and every later call returns 0).  Not thread-safe per lister. */
OSSC_API int ossc_list_next(ossc_lister *l, ossc_list_result **page, ossc_error *err);
/* Cancels a request still in flight, waits for it, frees l; NULL is a no-op. */
OSSC_API void ossc_list_close(ossc_lister *l);

/* Lists everything under prefix.  fast != 0 splits the key space and lists
 * the pieces concurrently (order not guaranteed). */
OSSC_API int ossc_list_all(ossc_client *c, const char *bucket, const char *prefix,
                           int fast, ossc_list_result **out, ossc_error *err);
OSSC_API void ossc_list_result_free(ossc_list_result *r);

/* Engine-wide knobs read from config (for the Python layer). */
OSSC_API int ossc_client_concurrency(const ossc_client *c);
OSSC_API uint64_t ossc_client_part_size(const ossc_client *c);
/* Lowers the calling thread to the priority of the client's I/O threads
 * (nice value prefetch.nice for the model profile; never raises it): for a
 * thread that only feeds them work, such as the LD_PRELOAD prefetcher. */
OSSC_API void ossc_client_lower_thread(const ossc_client *c);

/* Library version string. */
OSSC_API const char *ossc_version(void);

/* ---- Broadcast ------------------------------------------------------------
 * The model-broadcast registry on Redis (docs/broadcast.md).  redis_url is
 * redis://[[user]:password@]host[:port][/db]; every message names it with
 * the password masked.  timeout_ms bounds the connect and every reply
 * (<= 0: 3000): neither call waits longer on a dead or silent server. */

/* Connects, AUTH and SELECT as the URL says, then PING.  0, or -1 with err
 * (EINVAL bad URL, ECONNREFUSED / ETIMEDOUT / EACCES wrong password, ...). */
OSSC_API int ossc_broadcast_ping(const char *redis_url, int timeout_ms, ossc_error *err);
/* Every version of the model at oss_path with live nodes, as JSON into
 * *json_out (free it with ossc_string_free):
 *   {"oss_path":..., "redis":"host:port db N", "versions":[{"vid":...,
 *    "oss_path":..., "nfiles":N, "total":BYTES, "nodes":[{"id","addr",
 *    "hostname","pid","seq","upstream","source":"oss"|"peer","total",
 *    "recv_oss","recv_peer","forwarded","files_done","complete"}]}]}
 * nodes are in join order; a version with no live node is left out. */
OSSC_API int ossc_broadcast_status(const char *redis_url, const char *oss_path, int timeout_ms,
                                   char **json_out, ossc_error *err);
/* The broadcasting settings a node started now would use: the
 * OSSC_BROADCAST_* variables over the "broadcast" keys of the config file
 * (config_path, else $OSS_CONNECTOR_CONFIG, else the default path), as JSON
 * into *json_out (free it with ossc_string_free): {"enabled":false}, or
 *   {"enabled":true, "redis":"host:port/db", "advertise", "listen",
 *    "sources", "stall_seconds", "connect_timeout_ms", "secret_from"}
 * (never the secret or the password).  -1 with err (EINVAL) naming the
 * variable, or the file and the key, that would turn broadcasting off. */
OSSC_API int ossc_broadcast_settings(const char *config_path, char **json_out, ossc_error *err);
/* Frees a string the library returned (ossc_broadcast_status,
 * ossc_broadcast_settings); NULL is a no-op. */
OSSC_API void ossc_string_free(char *s);

#ifdef __cplusplus
}
#endif
#endif
