/* The bus client: one nng_req0 socket dialled to every URL of a peer service
 * (NNG spreads requests over the connected replicas), one NNG context per call
 * so many threads can call at once. A missing peer is a prompt 503 after a
 * few bounded retries, a peer lost mid-call a 503, a missed deadline a 504. */
#include "bus/bus.h"
#include "bus/trace.h"
#include "error/error.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUS_PEER_LOST_GRACE_MS 1000
#define BUS_WAIT_SLICE_MS 20

struct bus_client {
    nng_socket sock;
    char peer[64];
    char urls[512];
    int deadline_ms;
    int retries;
    char *trace_path;
    atomic_int connected_pipes;
};

typedef struct call_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} call_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void on_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    bus_client *client = arg;
    if (ev == NNG_PIPE_EV_ADD_POST)
        atomic_fetch_add(&client->connected_pipes, 1);
    else if (ev == NNG_PIPE_EV_REM_POST)
        atomic_fetch_sub(&client->connected_pipes, 1);
}

int bus_client_new(const char *const *urls, size_t n_urls, const bus_client_opts *opts,
                   bus_client **out)
{
    static const bus_client_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    if (n_urls == 0)
        return porch_error_set(400, "bus client: at least one URL is required");
    bus_client *client = calloc(1, sizeof *client);
    if (!client)
        return porch_error_set(500, "bus client: out of memory");
    snprintf(client->peer, sizeof client->peer, "%s", opts->peer ? opts->peer : "peer");
    client->deadline_ms = opts->deadline_ms > 0 ? opts->deadline_ms : BUS_DEFAULT_DEADLINE_MS;
    client->retries = opts->connect_retries > 0 ? opts->connect_retries : 3;
    client->trace_path = opts->trace_path ? strdup(opts->trace_path) : NULL;
    int rv = nng_req0_open(&client->sock);
    if (rv != 0) {
        free(client->trace_path);
        free(client);
        return porch_error_set(500, "bus client: cannot open req socket: %s", nng_strerror(rv));
    }
    nng_socket_set_size(client->sock, NNG_OPT_RECVMAXSZ,
                        opts->recv_max ? opts->recv_max : BUS_DEFAULT_RECV_MAX);
    /* Never resend on a timer: ops are not all idempotent. */
    nng_socket_set_ms(client->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(client->sock, NNG_OPT_RECONNMINT, 20);
    nng_socket_set_ms(client->sock, NNG_OPT_RECONNMAXT, 500);
    nng_pipe_notify(client->sock, NNG_PIPE_EV_ADD_POST, on_pipe_event, client);
    nng_pipe_notify(client->sock, NNG_PIPE_EV_REM_POST, on_pipe_event, client);
    size_t used = 0;
    for (size_t i = 0; i < n_urls; i++) {
        rv = nng_dial(client->sock, urls[i], NULL, NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            nng_close(client->sock);
            free(client->trace_path);
            free(client);
            return porch_error_set(400, "bus client: cannot dial %s: %s", urls[i],
                                   nng_strerror(rv));
        }
        used += (size_t)snprintf(client->urls + used, sizeof client->urls - used, "%s%s",
                                 i ? "," : "", urls[i]);
        if (used >= sizeof client->urls)
            used = sizeof client->urls - 1;
    }
    *out = client;
    return 0;
}

void bus_client_free(bus_client *client)
{
    if (!client)
        return;
    nng_close(client->sock);
    free(client->trace_path);
    free(client);
}

static void on_aio_done(void *arg)
{
    call_state *st = arg;
    pthread_mutex_lock(&st->lock);
    st->done = 1;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
}

/* Waits for the aio; cancels it when the peer has been gone for the grace
 * period. Returns 1 when the peer was lost, 0 otherwise. */
static int wait_for_aio(bus_client *client, nng_aio *aio, call_state *st)
{
    int64_t lost_since = 0;
    int lost = 0;
    pthread_mutex_lock(&st->lock);
    while (!st->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += BUS_WAIT_SLICE_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&st->cond, &st->lock, &until);
        if (st->done || lost)
            continue;
        if (atomic_load(&client->connected_pipes) > 0) {
            lost_since = 0;
        } else if (lost_since == 0) {
            lost_since = now_ms();
        } else if (now_ms() - lost_since >= BUS_PEER_LOST_GRACE_MS) {
            lost = 1;
            pthread_mutex_unlock(&st->lock);
            nng_aio_cancel(aio);
            pthread_mutex_lock(&st->lock);
        }
    }
    st->done = 0;
    pthread_mutex_unlock(&st->lock);
    return lost;
}

static int wait_for_connection(bus_client *client, int64_t deadline_at)
{
    int64_t backoff = 50;
    for (int attempt = 0; atomic_load(&client->connected_pipes) <= 0; attempt++) {
        if (attempt >= client->retries || now_ms() >= deadline_at)
            return porch_error_set(503, "porch-%s is unavailable: no connection to %s (is it "
                                        "running?)", client->peer, client->urls);
        int64_t left = deadline_at - now_ms();
        sleep_ms(backoff < left ? backoff : left);
        backoff *= 2;
    }
    return 0;
}

static int transport_error(bus_client *client, const char *op, int rv, int lost, int deadline_ms)
{
    if (lost || rv == NNG_ECLOSED || rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT)
        return porch_error_set(503, "porch-%s went away while serving %s (%s)", client->peer, op,
                               client->urls);
    if (rv == NNG_ETIMEDOUT)
        return porch_error_set(504, "porch-%s did not answer %s within %d ms", client->peer, op,
                               deadline_ms);
    return porch_error_set(503, "porch-%s: %s failed: %s", client->peer, op, nng_strerror(rv));
}

/* Turns reply text into the call's outcome. */
static int decode_reply(bus_client *client, const char *op, const char *rid, const char *data,
                        size_t len, json_t **result, json_t **details)
{
    json_error_t jerr;
    json_t *reply = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(reply)) {
        json_decref(reply);
        return porch_error_set(502, "porch-%s sent an invalid reply to %s", client->peer, op);
    }
    const char *id = json_string_value(json_object_get(reply, "id"));
    if (!id || strcmp(id, rid) != 0) {
        json_decref(reply);
        return porch_error_set(502, "porch-%s replied to %s with a different request id",
                               client->peer, op);
    }
    int rc = 0;
    if (json_is_true(json_object_get(reply, "ok"))) {
        json_t *res = json_object_get(reply, "result");
        *result = res ? json_incref(res) : json_object();
    } else {
        json_t *err = json_object_get(reply, "error");
        int code = (int)json_integer_value(json_object_get(err, "code"));
        const char *reason = json_string_value(json_object_get(err, "reason"));
        const char *message = json_string_value(json_object_get(err, "message"));
        rc = porch_error_set_reason(code >= 400 && code <= 599 ? code : 500, reason, "%s",
                                    message ? message : "error without message");
        json_t *det = json_object_get(err, "details");
        if (details && det)
            *details = json_incref(det);
    }
    json_decref(reply);
    return rc;
}

static char *encode_request(const char *op, const char *rid, int deadline_ms, json_t *caller,
                            json_t *args)
{
    json_t *env = json_pack("{s:i, s:s, s:s, s:i}", "v", BUS_ENVELOPE_VERSION, "op", op, "id", rid,
                            "deadline_ms", deadline_ms);
    if (caller)
        json_object_set(env, "caller", caller);
    json_object_set_new(env, "args", args ? json_incref(args) : json_object());
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return text;
}

int bus_client_call(bus_client *client, const char *op, json_t *args, const bus_call_opts *opts,
                    json_t **result, json_t **details)
{
    static const bus_call_opts defaults = {0};
    if (!opts)
        opts = &defaults;
    *result = NULL;
    if (details)
        *details = NULL;
    if (args && !json_is_object(args))
        return porch_error_set(400, "bus call %s: args must be an object", op);
    char rid[64];
    if (opts->rid && *opts->rid)
        snprintf(rid, sizeof rid, "%s", opts->rid);
    else
        bus_new_request_id(rid, sizeof rid);
    int deadline_ms = opts->deadline_ms > 0 ? opts->deadline_ms : client->deadline_ms;
    int64_t deadline_at = now_ms() + deadline_ms;
    if (wait_for_connection(client, deadline_at) < 0)
        return -1;

    char *text = encode_request(op, rid, deadline_ms, opts->caller, args);
    nng_msg *msg = NULL;
    if (!text || nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, text, strlen(text)) != 0) {
        free(text);
        if (msg)
            nng_msg_free(msg);
        return porch_error_set(500, "bus call %s: out of memory", op);
    }
    free(text);

    /* The receive is posted right after the send, on its own aio: NNG
     * completes a request's send from a task thread, and waiting for that
     * before receiving put one more sleep and wake-up of this thread on
     * every call's critical path. The send is never cancelled while the
     * receive is pending (req0 asserts against it): on any failure the
     * context is closed, which finishes both. */
    call_state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    nng_ctx ctx;
    nng_aio *send_aio = NULL, *recv_aio = NULL;
    int rv = nng_ctx_open(&ctx, client->sock);
    if (rv == 0 && ((rv = nng_aio_alloc(&send_aio, NULL, NULL)) != 0 ||
                    (rv = nng_aio_alloc(&recv_aio, on_aio_done, &st)) != 0)) {
        nng_aio_free(send_aio);
        nng_ctx_close(ctx);
    }
    if (rv != 0) {
        nng_msg_free(msg);
        return porch_error_set(500, "bus call %s: %s", op, nng_strerror(rv));
    }
    int rc;
    nng_aio_set_timeout(send_aio, NNG_DURATION_INFINITE);
    nng_aio_set_msg(send_aio, msg);
    nng_ctx_send(ctx, send_aio);
    nng_aio_set_timeout(recv_aio,
                        (nng_duration)(deadline_at - now_ms() > 1 ? deadline_at - now_ms() : 1));
    nng_ctx_recv(ctx, recv_aio);
    int lost = wait_for_aio(client, recv_aio, &st);
    rv = nng_aio_result(recv_aio);
    if (rv != 0) {
        nng_ctx_close(ctx); /* finishes a send still queued */
        nng_aio_wait(send_aio);
        int sent = nng_aio_result(send_aio);
        nng_msg_free(nng_aio_get_msg(send_aio)); /* what a failed send gave back, if any */
        rc = transport_error(client, op, sent != 0 && sent != NNG_ECLOSED ? sent : rv, lost,
                             deadline_ms);
        nng_aio_free(send_aio);
        nng_aio_free(recv_aio);
        return rc;
    }
    nng_aio_wait(send_aio); /* done: a reply came */
    nng_msg *reply = nng_aio_get_msg(recv_aio);
    if (client->trace_path)
        bus_trace_write(client->trace_path, client->peer, "reply", op, nng_msg_body(reply),
                        nng_msg_len(reply));
    rc = decode_reply(client, op, rid, nng_msg_body(reply), nng_msg_len(reply), result, details);
    nng_msg_free(reply);
    nng_aio_free(send_aio);
    nng_aio_free(recv_aio);
    nng_ctx_close(ctx);
    return rc;
}
