/* cffi declarations of libpreload/include/ossc.h (kept in sync by hand;
 * the C compiler checks them against the real header when the extension
 * is built). */
typedef struct ossc_error {
    int code;
    int http_status;
    char oss_code[64];
    char request_id[64];
    char message[512];
} ossc_error;

typedef struct ossc_credentials {
    char access_key_id[256];
    char access_key_secret[256];
    char security_token[4096];
    int64_t expiration;
} ossc_credentials;

typedef int (*ossc_cred_callback)(void *userdata, ossc_credentials *out);

typedef enum ossc_profile {
    OSSC_PROFILE_MODEL = 0,
    OSSC_PROFILE_DATASET = 1,
    OSSC_PROFILE_CHECKPOINT = 2,
} ossc_profile;

typedef struct ossc_client_options {
    const char *endpoint;
    const char *region;
    const char *cred_path;
    ossc_cred_callback cred_callback;
    void *cred_userdata;
    const char *config_path;
    ossc_profile profile;
} ossc_client_options;

typedef struct ossc_client ossc_client;

ossc_client *ossc_client_new(const ossc_client_options *opts, ossc_error *err);
void ossc_client_free(ossc_client *c);
int ossc_parse_uri(const char *uri, char *bucket, size_t bucket_cap,
                   char *key, size_t key_cap, ossc_error *err);

typedef struct ossc_object_info {
    const char *key;
    uint64_t size;
    int64_t mtime;
    const char *etag;
    uint64_t crc64;
    int has_crc64;
} ossc_object_info;

int ossc_head(ossc_client *c, const char *bucket, const char *key,
              ossc_object_info *out, ossc_error *err);
void ossc_object_info_clear(ossc_object_info *info);

int64_t ossc_get_range(ossc_client *c, const char *bucket, const char *key,
                       uint64_t offset, uint64_t len, void *dst, ossc_error *err);

typedef struct ossc_future ossc_future;
ossc_future *ossc_get_async(ossc_client *c, const char *bucket, const char *key,
                            uint64_t offset, uint64_t len, void *dst, ossc_error *err);
ossc_future *ossc_get_async_version(ossc_client *c, const char *bucket, const char *key,
                                    const char *etag, uint64_t offset, uint64_t len,
                                    void *dst, ossc_error *err);
int64_t ossc_future_wait(ossc_future *f, ossc_error *err);
int ossc_future_crc64(const ossc_future *f, uint64_t *crc, uint64_t *object_crc);
int ossc_future_object_size(const ossc_future *f, uint64_t *size);
const char *ossc_future_etag(const ossc_future *f);
uint64_t ossc_crc64(uint64_t crc, const void *buf, size_t len);
uint64_t ossc_crc64_join(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);
int ossc_future_done(ossc_future *f);
void ossc_future_free(ossc_future *f);

int ossc_put(ossc_client *c, const char *bucket, const char *key,
             const void *data, size_t len, ossc_error *err);
int ossc_delete(ossc_client *c, const char *bucket, const char *key, ossc_error *err);
int ossc_copy(ossc_client *c, const char *src_bucket, const char *src_key,
              const char *dst_bucket, const char *dst_key, ossc_error *err);

int ossc_list_buckets(ossc_client *c, char *out, size_t cap, size_t *needed,
                      ossc_error *err);

typedef struct ossc_writer ossc_writer;
ossc_writer *ossc_writer_open(ossc_client *c, const char *bucket, const char *key,
                              ossc_error *err);
int ossc_writer_write(ossc_writer *w, const void *data, size_t len, ossc_error *err);
int ossc_writer_close(ossc_writer *w, ossc_error *err);
void ossc_writer_abort(ossc_writer *w);

typedef struct ossc_list_result {
    size_t count;
    ossc_object_info *objects;
    size_t prefix_count;
    const char **prefixes;
    int truncated;
    const char *next_token;
    void *_arena;
    size_t _cap_objects, _cap_prefixes;
} ossc_list_result;

int ossc_list_page(ossc_client *c, const char *bucket, const char *prefix,
                   const char *delimiter, const char *token, int max_keys,
                   ossc_list_result **out, ossc_error *err);
int ossc_list_page_v1(ossc_client *c, const char *bucket, const char *prefix,
                      const char *delimiter, const char *marker, int max_keys,
                      ossc_list_result **out, ossc_error *err);
int ossc_list_all(ossc_client *c, const char *bucket, const char *prefix,
                  int fast, ossc_list_result **out, ossc_error *err);
void ossc_list_result_free(ossc_list_result *r);

typedef struct ossc_list_columns {
    size_t count;
    uint64_t *sizes;
    int64_t *mtimes;
    char *keys;
    size_t keys_len;
    char *etags;
    size_t etags_len;
} ossc_list_columns;
int ossc_list_result_columns(const ossc_list_result *r, ossc_list_columns *out,
                             ossc_error *err);
void ossc_list_columns_free(ossc_list_columns *c);

typedef struct ossc_lister ossc_lister;
ossc_lister *ossc_list_open(ossc_client *c, const char *bucket, const char *prefix,
                            const char *delimiter, int max_keys, ossc_error *err);
int ossc_list_next(ossc_lister *l, ossc_list_result **page, ossc_error *err);
void ossc_list_close(ossc_lister *l);

int ossc_client_concurrency(const ossc_client *c);
uint64_t ossc_client_part_size(const ossc_client *c);
const char *ossc_version(void);

/* Broadcast (ossc.h): the model-broadcast registry on Redis. */
int ossc_broadcast_ping(const char *redis_url, int timeout_ms, ossc_error *err);
int ossc_broadcast_status(const char *redis_url, const char *oss_path, int timeout_ms,
                          char **json_out, ossc_error *err);
int ossc_broadcast_settings(const char *config_path, char **json_out, ossc_error *err);
void ossc_string_free(char *s);

extern "Python" int _ossc_py_credentials(void *userdata, ossc_credentials *out);

/* ossc_dir.h: in-process model directories (ossconnector.model). */
typedef enum ossc_dir_mode {
    OSSC_DIR_SYMLINKS = 0,
    OSSC_DIR_HOOKS = 1,
} ossc_dir_mode;

typedef struct ossc_dir_options {
    const char *uri;
    const char *dir;
    ossc_dir_mode mode;
    int lazy;
    int64_t small_file_size;
    int64_t memory_limit;
    int release_delay_s;
    const char *cache_root;
    int pushed_credentials;
} ossc_dir_options;

int ossc_dir_prepare(const ossc_client_options *client, const ossc_dir_options *opts,
                     ossc_error *err);
int ossc_dir_wait(int timeout_ms, uint64_t *done, uint64_t *total, ossc_error *err);
int ossc_dir_set_credentials(const ossc_credentials *creds);
int ossc_dir_close(ossc_error *err);
int ossc_dir_hooked_slots(void);
