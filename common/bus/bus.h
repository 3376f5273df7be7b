/* The internal bus: JSON request/reply envelopes over NNG req0/rep0.
 *
 * Request: {"v":1,"op":"<svc>.<verb>","id":"<rid>","deadline_ms":N,
 *           "caller":{"user":..,"groups":[..]},"args":{..}}
 * Reply:   {"v":1,"id":..,"ok":true,"result":{..}}  or
 *          {"v":1,"id":..,"ok":false,"error":{"code":409,"reason":"Conflict",
 *           "message":"..","details":{..}}}
 * The bus knows nothing about Porch: services register (op, handler) pairs and
 * the server loop decodes, dispatches, replies, logs and counts. */
#ifndef PORCH_BUS_H
#define PORCH_BUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BUS_ENVELOPE_VERSION 1
#define BUS_DEFAULT_RECV_MAX (64u * 1024u * 1024u)
#define BUS_DEFAULT_DEADLINE_MS 30000
#define BUS_DEFAULT_WORKERS 8

/* ---- request seen by a handler (all fields borrowed for the call) ---- */
typedef struct bus_request {
    const char *op;      /* as sent, e.g. "cache.health" or "health" */
    const char *id;      /* request id ("" if the caller sent none) */
    json_t *args;        /* object; {} when absent */
    json_t *caller;      /* object or NULL */
    int64_t deadline_ms; /* caller's budget; 0 when unset */
} bus_request;

/* A handler returns 0 and sets *result (a new reference, or NULL for {}),
 * or returns negative after porch_error_set(); the loop turns that into the
 * error reply. `details` may be set (new reference) on failure. */
typedef int (*bus_handler_fn)(const bus_request *req, json_t **result, json_t **details,
                              void *userdata);

/* ---- server ---- */
typedef struct bus_server bus_server;

typedef struct bus_server_opts {
    const char *service;   /* short name: "cache", "engine", ... used for "<svc>.<verb>" */
    const char *listen_url;
    int workers;           /* concurrent requests; BUS_DEFAULT_WORKERS when 0 */
    size_t recv_max;       /* BUS_DEFAULT_RECV_MAX when 0 */
    const char *trace_path; /* when set, every message in and out is appended here as JSON lines */
} bus_server_opts;

int bus_server_new(const bus_server_opts *opts, bus_server **out);
/* Registers a handler for "<verb>"; it answers both "<verb>" and "<svc>.<verb>".
 * `schema` is the op's schema name (informational, listed by describe). */
int bus_server_register(bus_server *srv, const char *verb, bus_handler_fn fn, void *userdata);
/* Binds the listener (fails with a clear error when the address is in use)
 * and starts the workers. */
int bus_server_start(bus_server *srv);
/* Stops accepting, lets in-flight handlers finish (bounded by `drain_ms`), closes. */
void bus_server_stop(bus_server *srv, int drain_ms);
void bus_server_free(bus_server *srv);

/* Counters for describe: a new JSON object {"requests":N,"errors":N,"ops":{verb:N}}. */
json_t *bus_server_counters(bus_server *srv);
/* A new JSON array of registered verbs. */
json_t *bus_server_ops(bus_server *srv);

/* ---- client ---- */
typedef struct bus_client bus_client;

typedef struct bus_client_opts {
    const char *peer;      /* peer service name, used in error messages ("engine") */
    int deadline_ms;       /* default per-request deadline; BUS_DEFAULT_DEADLINE_MS when 0 */
    int connect_retries;   /* attempts while no peer is connected; 3 when 0 */
    size_t recv_max;       /* BUS_DEFAULT_RECV_MAX when 0 */
    const char *trace_path;
} bus_client_opts;

/* Dials every URL (one per replica); requests are spread over connected peers. */
int bus_client_new(const char *const *urls, size_t n_urls, const bus_client_opts *opts,
                   bus_client **out);
void bus_client_free(bus_client *client);

typedef struct bus_call_opts {
    const char *rid;     /* request id to carry; a fresh one when NULL */
    json_t *caller;      /* borrowed; may be NULL */
    int deadline_ms;     /* 0: the client's default */
} bus_call_opts;

/* Sends op(args) and waits for the reply. On ok=true returns 0 and *result (new
 * reference). On an error reply, a dead or unreachable peer (503), or a missed
 * deadline (504) returns negative with porch_error_last() filled; *details (new
 * reference or NULL) carries the error's details when `details` is non-NULL.
 * `args` is borrowed (NULL means {}). Thread-safe: many threads may call at once. */
int bus_client_call(bus_client *client, const char *op, json_t *args, const bus_call_opts *opts,
                    json_t **result, json_t **details);

/* ---- envelope codec (exposed for tests, the fuzzer and tools) ---- */
/* Parses and validates a request envelope. 0 and a new reference, or -1 with a 400 error. */
int bus_envelope_parse_request(const char *data, size_t len, json_t **out);
/* Encodes a reply; returns malloc'd text. */
char *bus_envelope_ok(const char *id, json_t *result);
char *bus_envelope_error(const char *id, int code, const char *reason, const char *message,
                         json_t *details);
/* A fresh random request id (32 hex characters) written into buf (>= 33 bytes). */
void bus_new_request_id(char *buf, size_t len);

#endif
