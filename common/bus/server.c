/* The bus server loop: one nng_rep0 socket, a pool of worker threads each
 * owning an NNG context (so requests are served concurrently and replies go
 * back to the right caller), and a registry of (verb, handler). Each worker
 * decodes, dispatches, replies, logs and counts. */
#include "bus/bus.h"
#include "bus/trace.h"
#include "error/error.h"
#include "log/log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUS_MAX_HANDLERS 64

typedef struct bus_handler {
    char verb[64];
    bus_handler_fn fn;
    void *userdata;
    atomic_ulong calls;
} bus_handler;

typedef struct bus_worker {
    bus_server *srv;
    pthread_t thread;
    nng_ctx ctx;
    nng_aio *aio;
    int started;
    pthread_mutex_t recv_lock; /* orders "start a receive" against the stop's cancel */
    int receiving;             /* waiting for a request (no deadline): stop cancels it */
} bus_worker;

struct bus_server {
    char service[64];
    char *listen_url;
    char *trace_path;
    size_t recv_max;
    int n_workers;
    nng_socket sock;
    int sock_open;
    bus_handler handlers[BUS_MAX_HANDLERS];
    int n_handlers;
    bus_worker *workers;
    atomic_int stopping;
    atomic_ulong requests;
    atomic_ulong errors;
};

int bus_server_new(const bus_server_opts *opts, bus_server **out)
{
    if (!opts || !opts->service || !opts->listen_url)
        return porch_error_set(400, "bus server: service name and listen URL are required");
    bus_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return porch_error_set(500, "bus server: out of memory");
    snprintf(srv->service, sizeof srv->service, "%s", opts->service);
    srv->listen_url = strdup(opts->listen_url);
    srv->trace_path = opts->trace_path ? strdup(opts->trace_path) : NULL;
    srv->recv_max = opts->recv_max ? opts->recv_max : BUS_DEFAULT_RECV_MAX;
    srv->n_workers = opts->workers > 0 ? opts->workers : BUS_DEFAULT_WORKERS;
    *out = srv;
    return 0;
}

int bus_server_register(bus_server *srv, const char *verb, bus_handler_fn fn, void *userdata)
{
    if (srv->n_handlers >= BUS_MAX_HANDLERS)
        return porch_error_set(500, "bus server: too many handlers (max %d)", BUS_MAX_HANDLERS);
    if (strlen(verb) >= sizeof srv->handlers[0].verb || strchr(verb, '.'))
        return porch_error_set(400, "bus server: invalid verb \"%s\"", verb);
    for (int i = 0; i < srv->n_handlers; i++)
        if (strcmp(srv->handlers[i].verb, verb) == 0) {
            srv->handlers[i].fn = fn;
            srv->handlers[i].userdata = userdata;
            return 0;
        }
    bus_handler *h = &srv->handlers[srv->n_handlers++];
    snprintf(h->verb, sizeof h->verb, "%s", verb);
    h->fn = fn;
    h->userdata = userdata;
    atomic_init(&h->calls, 0);
    return 0;
}

/* "health" and "<own service>.health" name the same verb; another service's
 * prefix is an error so a mis-wired client gets told. */
static bus_handler *find_handler(bus_server *srv, const char *op)
{
    const char *verb = op;
    const char *dot = strrchr(op, '.');
    if (dot) {
        size_t prefix = (size_t)(dot - op);
        if (prefix != strlen(srv->service) || strncmp(op, srv->service, prefix) != 0)
            return NULL;
        verb = dot + 1;
    }
    for (int i = 0; i < srv->n_handlers; i++)
        if (strcmp(srv->handlers[i].verb, verb) == 0)
            return &srv->handlers[i];
    return NULL;
}

static char *reply_with_last_error(const char *id, json_t *details)
{
    const porch_error *err = porch_error_last();
    int code = err->code ? err->code : 500;
    const char *message = err->code ? err->message : "handler failed without an error message";
    return bus_envelope_error(id, code, err->reason, message, details);
}

/* Runs one request and returns the reply text (malloc'd). */
static char *handle_message(bus_server *srv, const char *data, size_t len, int *failed,
                            char *op_out, size_t op_len)
{
    json_t *env = NULL;
    porch_error_clear();
    snprintf(op_out, op_len, "?");
    if (bus_envelope_parse_request(data, len, &env) < 0) {
        log_set_rid(NULL);
        log_warn("bad bus request", "error", json_string(porch_error_last()->message));
        *failed = 1;
        return reply_with_last_error("", NULL);
    }
    const char *id = json_string_value(json_object_get(env, "id"));
    const char *op = json_string_value(json_object_get(env, "op"));
    snprintf(op_out, op_len, "%s", op);
    log_set_rid(id);
    bus_request req = {
        .op = op,
        .id = id ? id : "",
        .args = json_object_get(env, "args"),
        .caller = json_object_get(env, "caller"),
        .deadline_ms = json_integer_value(json_object_get(env, "deadline_ms")),
    };
    json_t *empty_args = NULL;
    if (!json_is_object(req.args))
        req.args = empty_args = json_object();
    if (json_is_null(req.caller))
        req.caller = NULL;
    if (srv->trace_path)
        bus_trace_write(srv->trace_path, srv->service, "request", op, data, len);

    char *reply;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bus_handler *h = find_handler(srv, op);
    if (!h) {
        porch_error_set(404, "op \"%s\" is not served by porch-%s (try \"describe\")", op,
                        srv->service);
        *failed = 1;
        reply = reply_with_last_error(req.id, NULL);
    } else {
        atomic_fetch_add(&h->calls, 1);
        json_t *result = NULL, *details = NULL;
        if (h->fn(&req, &result, &details, h->userdata) == 0) {
            reply = bus_envelope_ok(req.id, result);
        } else {
            *failed = 1;
            reply = reply_with_last_error(req.id, details);
        }
        json_decref(result);
        json_decref(details);
    }
    if (*failed) {
        const porch_error *err = porch_error_last();
        log_info("bus request failed", "op", json_string(op), "code", json_integer(err->code),
                 "error", json_string(err->message),
                 "caller", json_incref(json_object_get(req.caller, "user")));
    } else {
        log_debug("bus request", "op", json_string(op), "ms", log_ms_since(&t0),
                  "caller", json_incref(json_object_get(req.caller, "user")));
    }
    json_decref(empty_args);
    json_decref(env);
    return reply;
}

static void send_reply(bus_worker *w, const char *reply, const char *op)
{
    nng_msg *msg;
    size_t len = strlen(reply);
    if (w->srv->trace_path)
        bus_trace_write(w->srv->trace_path, w->srv->service, "reply", op, reply, len);
    if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, reply, len) != 0) {
        log_error("bus: out of memory for reply");
        return;
    }
    nng_aio_set_msg(w->aio, msg);
    nng_aio_set_timeout(w->aio, 5000);
    nng_ctx_send(w->ctx, w->aio);
    nng_aio_wait(w->aio);
    if (nng_aio_result(w->aio) != 0) {
        nng_msg_free(msg);
        log_warn("bus: reply not delivered", "op", json_string(op),
                 "error", json_string(nng_strerror(nng_aio_result(w->aio))));
    }
}

static void *worker_main(void *arg)
{
    bus_worker *w = arg;
    bus_server *srv = w->srv;
    for (;;) {
        /* An idle worker waits without a deadline (a polling one kept NNG's
         * timer thread busy: a few % of a CPU per idle service); the stop
         * cancels the receive instead. */
        pthread_mutex_lock(&w->recv_lock);
        if (atomic_load(&srv->stopping)) {
            pthread_mutex_unlock(&w->recv_lock);
            break;
        }
        nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
        nng_ctx_recv(w->ctx, w->aio);
        w->receiving = 1;
        pthread_mutex_unlock(&w->recv_lock);
        nng_aio_wait(w->aio);
        pthread_mutex_lock(&w->recv_lock);
        w->receiving = 0;
        pthread_mutex_unlock(&w->recv_lock);
        int rv = nng_aio_result(w->aio);
        if (rv != 0)
            break; /* closed or cancelled */
        nng_msg *msg = nng_aio_get_msg(w->aio);
        int failed = 0;
        char op[160];
        atomic_fetch_add(&srv->requests, 1);
        char *reply = handle_message(srv, nng_msg_body(msg), nng_msg_len(msg), &failed, op,
                                     sizeof op);
        nng_msg_free(msg);
        if (failed)
            atomic_fetch_add(&srv->errors, 1);
        if (reply)
            send_reply(w, reply, op);
        free(reply);
        log_set_rid(NULL);
    }
    return NULL;
}

static int open_socket(bus_server *srv)
{
    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0)
        return porch_error_set(500, "bus: cannot open rep socket: %s", nng_strerror(rv));
    srv->sock_open = 1;
    nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, srv->recv_max);
    rv = nng_listen(srv->sock, srv->listen_url, NULL, 0);
    if (rv == NNG_EADDRINUSE)
        return porch_error_set(409, "bus: %s is already in use (is another porch-%s running?)",
                               srv->listen_url, srv->service);
    if (rv != 0)
        return porch_error_set(400, "bus: cannot listen on %s: %s", srv->listen_url,
                               nng_strerror(rv));
    return 0;
}

int bus_server_start(bus_server *srv)
{
    if (open_socket(srv) < 0)
        return -1;
    srv->workers = calloc((size_t)srv->n_workers, sizeof *srv->workers);
    if (!srv->workers)
        return porch_error_set(500, "bus: out of memory");
    for (int i = 0; i < srv->n_workers; i++) {
        bus_worker *w = &srv->workers[i];
        w->srv = srv;
        pthread_mutex_init(&w->recv_lock, NULL);
        if (nng_ctx_open(&w->ctx, srv->sock) != 0 || nng_aio_alloc(&w->aio, NULL, NULL) != 0)
            return porch_error_set(500, "bus: cannot create worker context");
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return porch_error_set(500, "bus: cannot start worker thread");
        w->started = 1;
    }
    log_info("bus listening", "url", json_string(srv->listen_url),
             "workers", json_integer(srv->n_workers));
    return 0;
}

void bus_server_stop(bus_server *srv, int drain_ms)
{
    if (!srv || !srv->workers)
        return;
    atomic_store(&srv->stopping, 1);
    /* Idle workers are woken by cancelling their receive; in-flight handlers
     * get until the drain deadline. A worker still busy then is abandoned (its
     * aio and context are left alone) so shutdown stays bounded. */
    for (int i = 0; i < srv->n_workers; i++) {
        bus_worker *w = &srv->workers[i];
        if (!w->started)
            continue;
        pthread_mutex_lock(&w->recv_lock);
        if (w->receiving)
            nng_aio_cancel(w->aio);
        pthread_mutex_unlock(&w->recv_lock);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long long ns = deadline.tv_nsec + (long long)(drain_ms > 0 ? drain_ms : 1000) * 1000000LL;
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);
    int abandoned = 0;
    for (int i = 0; i < srv->n_workers; i++) {
        bus_worker *w = &srv->workers[i];
        if (w->started && pthread_timedjoin_np(w->thread, NULL, &deadline) != 0) {
            abandoned++;
            continue;
        }
        if (w->started)
            pthread_mutex_destroy(&w->recv_lock);
        w->started = 0;
        if (w->aio)
            nng_aio_free(w->aio);
        w->aio = NULL;
        nng_ctx_close(w->ctx);
    }
    if (abandoned) {
        log_warn("bus: handlers still running at shutdown", "count", json_integer(abandoned));
        return; /* the process is exiting; keep the socket for the abandoned workers */
    }
    if (srv->sock_open)
        nng_close(srv->sock);
    srv->sock_open = 0;
    free(srv->workers);
    srv->workers = NULL;
}

void bus_server_free(bus_server *srv)
{
    if (!srv)
        return;
    bus_server_stop(srv, 0);
    if (srv->workers)
        return; /* workers were abandoned mid-request: leak rather than free under them */
    if (srv->sock_open)
        nng_close(srv->sock);
    free(srv->listen_url);
    free(srv->trace_path);
    free(srv);
}

json_t *bus_server_counters(bus_server *srv)
{
    json_t *ops = json_object();
    for (int i = 0; i < srv->n_handlers; i++)
        json_object_set_new(ops, srv->handlers[i].verb,
                            json_integer((json_int_t)atomic_load(&srv->handlers[i].calls)));
    return json_pack("{s:I, s:I, s:o}", "requests", (json_int_t)atomic_load(&srv->requests),
                     "errors", (json_int_t)atomic_load(&srv->errors), "ops", ops);
}

json_t *bus_server_ops(bus_server *srv)
{
    json_t *ops = json_array();
    for (int i = 0; i < srv->n_handlers; i++)
        json_array_append_new(ops, json_string(srv->handlers[i].verb));
    return ops;
}
