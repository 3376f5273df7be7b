/* The porch-apiserver process context and the seams between its modules:
 * main.c owns one apiserver_ctx (flags, bus peers, the HTTPS listener);
 * http_server.c serves it, discovery.c holds the static discovery documents,
 * health.c answers /healthz /livez /readyz, status.c builds Status bodies and
 * auth.c turns a verified client certificate into a user. */
#ifndef PORCH_APISERVER_H
#define PORCH_APISERVER_H

#include "bus/bus.h"
#include "recent.h"
#include "svc/svc.h"

#include <jansson.h>

#define APISERVER_DEFAULT_PORT "9443"
#define APISERVER_DEFAULT_BIND "127.0.0.1"
/* Budget for one peer `health` call made by /readyz. */
#define APISERVER_READYZ_DEADLINE_MS 1000

struct mg_context;
struct mg_connection;
typedef struct apiserver_discovery apiserver_discovery;
typedef struct apiserver_watch_hub apiserver_watch_hub;
typedef struct apiserver_authz apiserver_authz;
typedef struct apiserver_tokens apiserver_tokens;
typedef struct apiserver_openapi apiserver_openapi;
typedef struct apiserver_ns_controller apiserver_ns_controller;

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
    apiserver_watch_hub *watch;
    apiserver_openapi *openapi;
    apiserver_ns_controller *namespaces;
    apiserver_recent *recent; /* package revisions as last read or written here */
    struct apiserver_authn *authn;
    apiserver_authz *authz;
    char *token_auth_file;       /* --token-auth-file */
    char *requestheader_ca_file; /* --requestheader-client-ca-file */
    char *requestheader_allowed; /* --requestheader-allowed-names */
    char *policy_file;           /* --authorization-policy-file */
    char *webhook_url;           /* --authorization-webhook-url */
    char *webhook_ca_file;       /* --authorization-webhook-ca-file */
    char *webhook_token_file;    /* --authorization-webhook-token-file */
    char *authn_configmap;       /* --authentication-configmap NAMESPACE/NAME */
    char *max_header_bytes;      /* --max-header-bytes */
    char *request_timeout_ms;    /* --request-timeout-ms */
    char *max_body_bytes;        /* --max-request-body-bytes */
    size_t body_max;
    /* Standalone (no --authorization-webhook-url): our cache holds the
     * Namespaces, so creates are checked against them. In a cluster they are
     * the kube-apiserver's, which we do not watch. */
    int standalone;
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
/* Same, with extra header lines ("Name: value\r\n"...), which may be NULL. */
int apiserver_http_reply_headers(struct mg_connection *conn, int code, const char *content_type,
                                 const char *headers, const char *body, size_t len);
/* A response body sent in three parts (a list's head, items and tail). */
int apiserver_http_reply_parts(struct mg_connection *conn, int code, const char *content_type,
                               const char *a, size_t alen, const char *b, size_t blen,
                               const char *c, size_t clen);
/* 1 when the client of this (long-lived) request has closed its connection. */
int apiserver_http_peer_gone(struct mg_connection *conn);
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

/* ---- openapi.c ---- */
int apiserver_openapi_new(apiserver_openapi **out);
void apiserver_openapi_free(apiserver_openapi *o);
/* The OpenAPI document at `path` (/openapi/v2, /openapi/v3[/...]) or NULL. Borrowed. */
const char *apiserver_openapi_lookup(const apiserver_openapi *o, const char *path);

/* ---- health.c ---- */
/* /healthz and /livez: the process is alive. */
int apiserver_health_live(struct mg_connection *conn, apiserver_ctx *ctx);
/* /readyz: asks engine and cache for `health`; 200 "ok" or 503 naming the failing peer. */
int apiserver_health_ready(struct mg_connection *conn, apiserver_ctx *ctx);

/* ---- auth.c ---- */
#define APISERVER_MAX_GROUPS 16
#define APISERVER_MAX_EXTRA 8
typedef struct apiserver_user {
    char name[256];
    char uid[128];
    char groups[APISERVER_MAX_GROUPS][128];
    int n_groups;
    char extra_keys[APISERVER_MAX_EXTRA][64];
    char extra_values[APISERVER_MAX_EXTRA][256];
    int n_extra;
    const char *method; /* "x509", "token" or "front-proxy", for logs */
} apiserver_user;

/* Parses an OpenSSL one-line subject ("/CN=porch-admin/O=system:masters")
 * into a user: CN is the name, each O a group (as Kubernetes does). 0, or
 * -1 with a 401 error when there is no CN. */
int apiserver_auth_from_subject(const char *subject, apiserver_user *out);
/* The bus `caller` object for a user: {"user":..,"groups":[..],"extra":{..}}. New reference. */
json_t *apiserver_auth_caller(const apiserver_user *user);
/* Adds a group if there is room (and it is not there yet). */
void apiserver_auth_add_group(apiserver_user *user, const char *group, size_t len);

/* Bearer tokens from a kube-apiserver style CSV file: token,user,uid,"g1,g2". */
int apiserver_tokens_load(const char *path, apiserver_tokens **out);
void apiserver_tokens_free(apiserver_tokens *t);
/* 0 and *out for a known token (compared in constant time), -1 with 401. */
int apiserver_tokens_lookup(const apiserver_tokens *t, const char *token, apiserver_user *out);

/* ---- authn.c: who is calling ---- */
typedef struct apiserver_authn apiserver_authn;
typedef struct apiserver_authn_opts {
    const char *client_ca_file;        /* client certificates (CN user, O groups) */
    const char *token_auth_file;       /* optional bearer tokens */
    const char *requestheader_ca_file; /* optional front-proxy CA */
    const char *requestheader_allowed; /* comma-separated CNs; empty = any from that CA */
} apiserver_authn_opts;
int apiserver_authn_new(const apiserver_authn_opts *opts, apiserver_authn **out);
void apiserver_authn_free(apiserver_authn *a);
/* Authenticates one request from its verified peer certificate (X509 *,
 * may be NULL) and headers (`header` looks one up by name, NULL when absent;
 * `each_header` visits all). 0 and *out, or -1 with a 401 error. */
typedef const char *(*apiserver_header_fn)(void *conn, const char *name);
typedef void (*apiserver_header_visit_fn)(void *conn,
                                          void (*fn)(const char *name, const char *value, void *ud),
                                          void *ud);
int apiserver_authn_request(const apiserver_authn *a, void *peer_cert, void *conn,
                            apiserver_header_fn header, apiserver_header_visit_fn each_header,
                            apiserver_user *out);

/* ---- authcm.c: cluster mode reads the front-proxy settings from the cluster ---- */
typedef struct apiserver_authcm_opts {
    const char *configmap;  /* "kube-system/extension-apiserver-authentication" */
    const char *url;        /* the kube-apiserver (--authorization-webhook-url) */
    const char *ca_file;    /* its CA (--authorization-webhook-ca-file) */
    const char *token_file; /* the service account token (--authorization-webhook-token-file) */
    const char *out_dir;    /* CA bundles are written to OUT_DIR/pki */
} apiserver_authcm_opts;
typedef struct apiserver_authcm {
    char requestheader_ca_file[1100]; /* written file, or "" when the key is absent */
    char client_ca_file[1100];        /* written file, or "" */
    char allowed_names[2048];         /* comma-separated, "" = any */
} apiserver_authcm;
/* Reads the ConfigMap (requestheader-client-ca-file, requestheader-allowed-names,
 * the header names, which must include X-Remote-User/-Group/-Extra-, and
 * client-ca-file); 0, or -1 naming the key or request that failed. */
int apiserver_authcm_load(const apiserver_authcm_opts *o, apiserver_authcm *out);

/* ---- authz.c: may they do it ---- */
typedef struct apiserver_attrs {
    const char *verb; /* get list watch create update patch delete, or the HTTP verb for paths */
    const char *group;
    const char *resource;
    const char *subresource;
    const char *ns;
    const char *name;
    const char *path; /* non-resource requests: /version, /apis ... (resource NULL) */
} apiserver_attrs;
typedef struct apiserver_authz_opts {
    const char *policy_file;     /* standalone: JSON rules; NULL = admin-only default */
    const char *webhook_url;     /* cluster: SubjectAccessReview endpoint base URL */
    const char *webhook_ca_file; /* CA for the webhook's serving certificate */
    const char *webhook_token_file;
    const char *webhook_client_cert;
    const char *webhook_client_key;
} apiserver_authz_opts;
int apiserver_authz_new(const apiserver_authz_opts *opts, apiserver_authz **out);
void apiserver_authz_free(apiserver_authz *a);
/* 0 when allowed, -1 with a 403 (or 500/503 when the webhook cannot answer). */
int apiserver_authz_check(apiserver_authz *a, const apiserver_user *user,
                          const apiserver_attrs *attrs);

/* ---- resources.c: the served kinds and their REST verbs ---- */
typedef enum {
    APISERVER_STORE_CACHE, /* namespaces, secrets, repositories: cache.* */
    APISERVER_STORE_PR,    /* packagerevisions: reads from the cache, writes to engine.* */
    APISERVER_STORE_PRR,   /* packagerevisionresources: engine.*-resources */
    APISERVER_STORE_PKG,   /* packages: read-only from the cache */
} apiserver_store;

typedef struct apiserver_kind {
    const char *group; /* "" for core */
    const char *version;
    const char *resource;
    const char *kind;
    const char *list_kind;
    const char *bus_kind; /* the cache's name for the kind */
    int namespaced;
    apiserver_store store;
    const char *verbs;       /* " get list watch create update patch delete " */
    const char *subresource; /* "status", "approval" or NULL */
} apiserver_kind;

typedef struct apiserver_route apiserver_route;
typedef struct apiserver_query apiserver_query;

/* One HTTP request on a resource path, as the handlers see it. */
typedef struct apiserver_request {
    struct mg_connection *conn;
    apiserver_ctx *ctx;
    const char *method;
    const char *rid;
    const struct apiserver_route *route;
    const struct apiserver_query *query;
    const apiserver_kind *kind;
    const char *verb; /* get list watch create update patch delete deletecollection */
    json_t *caller;   /* borrowed {"user","groups"} for every bus call */
    int as_table;     /* Accept asked for meta.k8s.io Table */
    json_t *details;  /* Status details for the error being replied (owned) */
    char warning[512];
} apiserver_request;

/* The kind stored under a cache kind name ("repositories.config.porch.kpt.dev"), or NULL. */
const apiserver_kind *apiserver_kind_by_bus(const char *bus_kind);
/* The kind served at a route, or NULL. */
const apiserver_kind *apiserver_kind_find(const struct apiserver_route *r);
/* The Kubernetes verb of a request on a route (for authorization). */
const char *apiserver_request_verb(const char *method, const struct apiserver_route *r,
                                   const struct apiserver_query *q);
/* Serves a resource request completely; returns the HTTP status sent. */
int apiserver_resource_serve(apiserver_request *req);
/* Replies with the Status of porch_error_last() (+ req->details); returns the code. */
int apiserver_resource_reply_error(apiserver_request *req);
/* Parsed selectors of a list/watch request, vetted for the kind. */
typedef struct apiserver_filter {
    const apiserver_kind *kind;
    char ns[64];
    struct apiserver_selector *labels;
    struct apiserver_selector *fields;
} apiserver_filter;
int apiserver_filter_init(apiserver_filter *f, const apiserver_kind *kind, const char *ns,
                          const char *label_selector, const char *field_selector);
void apiserver_filter_clear(apiserver_filter *f);
int apiserver_filter_match(const apiserver_filter *f, json_t *obj);

/* ---- index.c: the in-memory watch cache of stored kinds ---- */
typedef struct apiserver_index apiserver_index;
int apiserver_index_new(apiserver_index **out);
void apiserver_index_free(apiserver_index *ix);
/* Drops everything and marks the index not ready (the pump re-lists). */
void apiserver_index_reset(apiserver_index *ix);
void apiserver_index_set_ready(apiserver_index *ix);
int apiserver_index_ready(apiserver_index *ix);
/* Applies one ADDED/MODIFIED/DELETED object (borrowed) of a cache kind. */
void apiserver_index_apply(apiserver_index *ix, const char *type, const char *bus_kind,
                           json_t *obj);
/* A rendered list: either `whole`, or head + body + tail written in turn. */
typedef struct apiserver_index_out {
    char *whole;
    char *head;
    char *body;
    size_t body_len;
    const char *tail;
} apiserver_index_out;
/* Renders a List (or Table) of the matching objects as JSON text. */
int apiserver_index_list(apiserver_index *ix, const apiserver_kind *k, const apiserver_filter *f,
                         long limit, const char *cont, int table, const char *rv,
                         apiserver_index_out *out);
void apiserver_index_out_clear(apiserver_index_out *out);

/* ---- table.c ---- */
/* One Table row {"cells":[...],"object":...} for obj (borrowed). New reference. */
json_t *apiserver_table_row(const apiserver_kind *kind, json_t *obj, const char *include);
/* A meta.k8s.io/v1 Table for `items` (borrowed array) of `kind`; `include`
 * is "Object", "None" or anything else for metadata only. New reference. */
json_t *apiserver_table_new(const apiserver_kind *kind, json_t *items, const char *include);

/* ---- watch.c ---- */
/* Starts the one background pump that long-polls cache.events for this process. */
int apiserver_watch_hub_new(bus_client *cache, apiserver_watch_hub **out);
void apiserver_watch_hub_free(apiserver_watch_hub *hub);
/* The hub's index once it has caught up with the cache's current version
 * (a consistent read, waiting up to timeout_ms); NULL when not available.
 * *rv receives the version the index reflects. */
apiserver_index *apiserver_watch_hub_index(apiserver_watch_hub *hub, int timeout_ms, char *rv,
                                           size_t cap);
/* Serves ?watch=true on a kind: initial events (or resume from
 * resourceVersion; 410 when expired), then live ones, bookmarks; returns the code. */
int apiserver_watch_serve(apiserver_request *req, apiserver_filter *filter);

/* ---- namespaces.c: deleting a Namespace deletes what is in it ---- */
/* Starts the one background thread that finishes Terminating Namespaces. */
int apiserver_ns_controller_new(bus_client *cache, apiserver_ns_controller **out);
void apiserver_ns_controller_free(apiserver_ns_controller *c);
/* Wakes it after a Namespace was marked Terminating. */
void apiserver_ns_controller_kick(apiserver_ns_controller *c);
/* 1 when the Namespace object (borrowed) has a deletionTimestamp. */
int apiserver_namespace_terminating(json_t *ns);
/* Makes sure spec.finalizers of the Namespace object holds "kubernetes". */
void apiserver_namespace_add_finalizer(json_t *ns);
/* 0 when an object `name` of `resource` may be created in `ns`; -1 with 403
 * Forbidden and *details (new reference: causes NamespaceTerminating) while
 * the Namespace is being deleted, 404 NotFound when it does not exist, or the
 * cache's error. */
int apiserver_namespace_check_create(bus_client *cache, const char *ns, const char *rid,
                                     json_t *caller, const char *resource, const char *name,
                                     json_t **details);

/* ---- router.c ---- */
#define APISERVER_PATH_MAX 2048
#define APISERVER_QUERY_MAX 8192
#define APISERVER_NAME_MAX 254

/* A parsed resource path; empty strings for absent parts. */
struct apiserver_selector;
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
/* Bodies nest at most this deep (JSON and YAML): jansson parses and dumps
 * recursively, and a civetweb worker thread has a 100 KB stack. */
#define APISERVER_BODY_MAX_DEPTH 100
/* 0, or -1 with a 400 naming where a JSON text nests deeper than that. */
int apiserver_body_json_depth(const char *buf, size_t len);
/* Decodes a JSON object; 0 and a new reference, or -1 with a 400 naming the position. */
int apiserver_body_json(const char *buf, size_t len, json_t **out);
/* Decodes a YAML body (one document, a mapping) into a JSON object (new
 * reference); -1 with a 400 naming line and column. Bounded: nesting depth,
 * values and bytes of JSON after alias expansion. (body_yaml.c) */
#define APISERVER_YAML_MAX_DEPTH APISERVER_BODY_MAX_DEPTH
#define APISERVER_YAML_MAX_VALUES 2000000u
#define APISERVER_YAML_MAX_JSON_BYTES (4u * APISERVER_BODY_MAX)
int apiserver_body_yaml(const char *buf, size_t len, json_t **out);
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
