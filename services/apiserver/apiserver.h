/* The porch-apiserver process context and the seams between its modules:
 * main.c owns one apiserver_ctx (flags, bus peers, the HTTPS listener);
 * http_server.c serves it, discovery.c holds the static discovery documents,
 * health.c answers /healthz /livez /readyz, status.c builds Status bodies and
 * auth.c turns a verified client certificate into a user. */
#ifndef PORCH_APISERVER_H
#define PORCH_APISERVER_H

#include "bus/bus.h"
#include "svc/svc.h"

#include <jansson.h>

#define APISERVER_DEFAULT_PORT "9443"
#define APISERVER_DEFAULT_BIND "127.0.0.1"
/* Budget for one peer `health` call made by /readyz. */
#define APISERVER_READYZ_DEADLINE_MS 1000

struct mg_context;
struct mg_connection;
typedef struct apiserver_discovery apiserver_discovery;

/* Everything the HTTP handlers need; one per process, owned by main.c. */
typedef struct apiserver_ctx {
    svc_context svc;
    char *port;           /* --port / PORCH_PORT */
    char *bind_address;   /* --bind-address / PORCH_BIND_ADDRESS */
    char *tls_cert_file;  /* --tls-cert-file / PORCH_TLS_CERT_FILE (PEM chain) */
    char *tls_key_file;   /* --tls-key-file / PORCH_TLS_KEY_FILE */
    char *client_ca_file; /* --client-ca-file / PORCH_CLIENT_CA_FILE */
    char *http_threads;   /* --http-threads / PORCH_HTTP_THREADS */
    bus_client *engine;
    bus_client *cache;
    apiserver_discovery *discovery;
    struct mg_context *http;
} apiserver_ctx;

/* ---- http_server.c ---- */
/* Validates the TLS files and starts the HTTPS listener; 0, or negative with
 * porch_error_last() naming the file or address that failed. */
int apiserver_http_start(apiserver_ctx *ctx);
void apiserver_http_stop(apiserver_ctx *ctx);
/* Writes a complete response; `body` is borrowed. Returns the status code. */
int apiserver_http_reply(struct mg_connection *conn, int code, const char *content_type,
                         const char *body, size_t len);
/* Dumps `doc` (borrowed) as the JSON response body. */
int apiserver_http_reply_json(struct mg_connection *conn, int code, json_t *doc);
/* A Kubernetes Status response for an error code and message. */
int apiserver_http_reply_status(struct mg_connection *conn, int code, const char *message);

/* ---- status.c ---- */
/* A new Kubernetes Status object {"kind":"Status",...,"code":code}; `reason`
 * NULL picks the one for the code. Returns a new reference. */
json_t *apiserver_status_new(int code, const char *reason, const char *message);

/* ---- discovery.c ---- */
/* Builds every discovery document once; `server_address` ("host:port") goes
 * into /api's serverAddressByClientCIDRs. 0 or negative. */
int apiserver_discovery_new(const char *server_address, apiserver_discovery **out);
void apiserver_discovery_free(apiserver_discovery *d);
/* Looks up the document served at `path` (no trailing slash, no query);
 * returns a borrowed JSON text, or NULL when `path` is not a discovery path. */
const char *apiserver_discovery_lookup(const apiserver_discovery *d, const char *path);
/* The Kubernetes-style /version document. Returns a new reference. */
json_t *apiserver_discovery_version(void);

/* ---- health.c ---- */
/* /healthz and /livez: the process is alive. */
int apiserver_health_live(struct mg_connection *conn, apiserver_ctx *ctx);
/* /readyz: asks engine and cache for `health`; 200 "ok" or 503 naming the failing peer. */
int apiserver_health_ready(struct mg_connection *conn, apiserver_ctx *ctx);

/* ---- auth.c ---- */
typedef struct apiserver_user {
    char name[256];
    char groups[8][128];
    int n_groups;
} apiserver_user;

/* Parses an OpenSSL one-line subject ("/CN=porch-admin/O=system:masters")
 * into a user: CN is the name, each O a group (as Kubernetes does). 0, or
 * -1 with a 401 error when there is no CN. */
int apiserver_auth_from_subject(const char *subject, apiserver_user *out);
/* The bus `caller` object for a user: {"user":..,"groups":[..]}. New reference. */
json_t *apiserver_auth_caller(const apiserver_user *user);

/* ---- router.c ---- */
#define APISERVER_PATH_MAX 2048
#define APISERVER_QUERY_MAX 8192
#define APISERVER_NAME_MAX 254

/* A parsed resource path; empty strings for absent parts. */
typedef struct apiserver_route {
    int core; /* /api/v1 rather than /apis/GROUP/VERSION */
    char group[64];
    char version[16];
    char ns[64];
    char resource[64];
    char name[APISERVER_NAME_MAX];
    char subresource[32];
} apiserver_route;

/* The list/watch/write options Kubernetes defines, decoded. */
typedef struct apiserver_query {
    char label_selector[2048];
    char field_selector[2048];
    char cont[640];
    char resource_version[32];
    char dry_run[16];
    char field_validation[16];
    char include_object[16];
    char field_manager[128];
    long limit;
    long timeout_seconds;
    int watch;
    int allow_bookmarks;
    int send_initial_events; /* 0 unset, 1 true, -1 false */
} apiserver_query;

/* Parses a URL-decoded path; 0, or -1 with 404 (not a resource path) or 414. */
int apiserver_route_parse(const char *path, apiserver_route *out);
/* Parses a raw (still percent-encoded) query string; 0, or -1 with a 400. */
int apiserver_query_parse(const char *query_string, apiserver_query *out);

/* ---- body.c (apiserver_body_read lives in http_server.c) ---- */
#define APISERVER_BODY_MAX (6u * 1024u * 1024u)
/* Reads the whole request body (Content-Length or chunked) into a new
 * NUL-terminated buffer; 0, or -1 with 413 when it exceeds `max`. */
int apiserver_body_read(struct mg_connection *conn, size_t max, char **out, size_t *len);
/* Decodes a JSON object; 0 and a new reference, or -1 with a 400 naming the position. */
int apiserver_body_json(const char *buf, size_t len, json_t **out);
/* Decodes a Kubernetes protobuf Namespace or Secret into its JSON form (new
 * reference); -1 with 400 (malformed) or 415 (another kind). */
int apiserver_body_protobuf(const char *buf, size_t len, json_t **out);
/* Standard base64 of `len` bytes; a new string (free()). */
char *apiserver_base64_encode(const unsigned char *in, size_t len);

/* ---- selector.c ---- */
typedef struct apiserver_selector apiserver_selector;
/* Returns the value of `key` for the object in `ud` (may use buf), or NULL when absent. */
typedef const char *(*apiserver_selector_lookup_fn)(void *ud, const char *key, char *buf,
                                                     size_t cap);
/* Vets one requirement (key, equality?, value rewritable in place up to cap):
 * 0 keep, 1 drop (matches everything), -1 reject with an error set. */
typedef int (*apiserver_selector_check_fn)(const char *key, int equality, char *value, size_t cap,
                                           void *ud);
int apiserver_selector_parse_labels(const char *text, apiserver_selector **out);
int apiserver_selector_parse_fields(const char *text, apiserver_selector **out);
void apiserver_selector_free(apiserver_selector *s);
int apiserver_selector_empty(const apiserver_selector *s);
int apiserver_selector_check(apiserver_selector *s, apiserver_selector_check_fn fn, void *ud);
/* 1 when every requirement holds for the object behind `lookup`. */
int apiserver_selector_match(const apiserver_selector *s, apiserver_selector_lookup_fn lookup,
                             void *ud);
/* Lookup over a labels object (json_t *). */
const char *apiserver_selector_labels_lookup(void *labels, const char *key, char *buf, size_t cap);

/* ---- patch.c ---- */
/* Merge patch: `target` may be modified; *out is a new reference. */
int apiserver_patch_merge(json_t *target, json_t *patch, json_t **out);
/* JSON patch on a copy of `target` (borrowed); *out is a new reference. */
int apiserver_patch_json(json_t *target, json_t *patch, json_t **out);

#endif
