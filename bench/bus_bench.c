/* Bus benchmark: `health` round trips through our envelope (bus_client_call
 * against a bus_server) beside raw NNG req/rep carrying payloads of the same
 * sizes, over ipc, at 1, 8 and 64 concurrent clients, in the same process.
 * Prints p50/p99 latency and requests/s for both, and the p50 ratio. */
#include "bus/bus.h"
#include "log/log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RAW_WORKERS 8

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- our side ---- */
static int handle_health(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    *result = json_pack("{s:s, s:s}", "status", "ok", "service", "bench");
    return 0;
}

/* ---- raw NNG side: rep workers answering a fixed payload ---- */
typedef struct raw_server {
    nng_socket sock;
    pthread_t threads[RAW_WORKERS];
    const char *reply;
    size_t reply_len;
    atomic_int stop;
} raw_server;

static void *raw_worker(void *arg)
{
    raw_server *rs = arg;
    nng_ctx ctx;
    nng_aio *aio;
    nng_ctx_open(&ctx, rs->sock);
    nng_aio_alloc(&aio, NULL, NULL);
    while (!atomic_load(&rs->stop)) {
        nng_aio_set_timeout(aio, 100);
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            continue;
        nng_msg *msg = nng_aio_get_msg(aio);
        nng_msg_clear(msg);
        nng_msg_append(msg, rs->reply, rs->reply_len);
        nng_aio_set_msg(aio, msg);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(msg);
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

/* ---- load generator ---- */
typedef struct load {
    int raw;            /* 1: raw NNG, 0: bus_client_call */
    bus_client *client;
    nng_socket raw_sock;
    const char *payload;
    size_t payload_len;
    int per_thread;
    double *latencies;  /* per_thread * threads */
} load;

typedef struct load_thread {
    load *ld;
    int index;
} load_thread;

static void *load_main(void *arg)
{
    load_thread *lt = arg;
    load *ld = lt->ld;
    nng_ctx ctx;
    nng_aio *aio = NULL;
    if (ld->raw) {
        nng_ctx_open(&ctx, ld->raw_sock);
        nng_aio_alloc(&aio, NULL, NULL);
    }
    for (int i = 0; i < ld->per_thread; i++) {
        double t0 = now_us();
        if (ld->raw) {
            nng_msg *msg;
            nng_msg_alloc(&msg, 0);
            nng_msg_append(msg, ld->payload, ld->payload_len);
            nng_aio_set_msg(aio, msg);
            nng_ctx_send(ctx, aio);
            nng_aio_wait(aio);
            nng_ctx_recv(ctx, aio);
            nng_aio_wait(aio);
            if (nng_aio_result(aio) == 0)
                nng_msg_free(nng_aio_get_msg(aio));
        } else {
            json_t *result = NULL;
            if (bus_client_call(ld->client, "health", NULL, NULL, &result, NULL) != 0) {
                fprintf(stderr, "bench: call failed\n");
                exit(1);
            }
            json_decref(result);
        }
        ld->latencies[lt->index * ld->per_thread + i] = now_us() - t0;
    }
    if (aio) {
        nng_aio_free(aio);
        nng_ctx_close(ctx);
    }
    return NULL;
}

typedef struct stats {
    double p50, p99, rps;
} stats;

static stats run_load(load *ld, int threads)
{
    pthread_t tids[256];
    load_thread lts[256];
    ld->latencies = calloc((size_t)(threads * ld->per_thread), sizeof(double));
    double t0 = now_us();
    for (int i = 0; i < threads; i++) {
        lts[i] = (load_thread){ld, i};
        pthread_create(&tids[i], NULL, load_main, &lts[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double elapsed = now_us() - t0;
    size_t n = (size_t)(threads * ld->per_thread);
    qsort(ld->latencies, n, sizeof(double), cmp_double);
    stats s = {ld->latencies[n / 2], ld->latencies[(size_t)(n * 0.99)], n / (elapsed / 1e6)};
    free(ld->latencies);
    return s;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 20000;
    log_setup("bench", LOG_ERROR, stderr);
    char dir[] = "/tmp/porch-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char bus_url[256], raw_url[256];
    snprintf(bus_url, sizeof bus_url, "ipc://%s/bus.sock", dir);
    snprintf(raw_url, sizeof raw_url, "ipc://%s/raw.sock", dir);

    bus_server *srv;
    bus_server_opts sopts = {.service = "bench", .listen_url = bus_url, .workers = RAW_WORKERS};
    if (bus_server_new(&sopts, &srv) || bus_server_register(srv, "health", handle_health, NULL) ||
        bus_server_start(srv)) {
        fprintf(stderr, "bench: cannot start bus server\n");
        return 1;
    }
    const char *urls[] = {bus_url};
    bus_client *client;
    bus_client_new(urls, 1, NULL, &client);

    /* Payload sizes of the raw run = the sizes our envelope really sends. */
    char rid[64];
    bus_new_request_id(rid, sizeof rid);
    json_t *req = json_pack("{s:i, s:s, s:s, s:i, s:{}}", "v", 1, "op", "health", "id", rid,
                            "deadline_ms", 30000, "args");
    char *req_text = json_dumps(req, JSON_COMPACT);
    json_t *res = json_pack("{s:s, s:s}", "status", "ok", "service", "bench");
    char *reply_text = bus_envelope_ok(rid, res);

    raw_server rs = {.reply = reply_text, .reply_len = strlen(reply_text)};
    nng_rep0_open(&rs.sock);
    if (nng_listen(rs.sock, raw_url, NULL, 0) != 0)
        return 1;
    for (int i = 0; i < RAW_WORKERS; i++)
        pthread_create(&rs.threads[i], NULL, raw_worker, &rs);
    nng_socket raw_client;
    nng_req0_open(&raw_client);
    nng_dial(raw_client, raw_url, NULL, 0);
    usleep(100000);

    printf("bus benchmark: health round trip over ipc, request %zu B, reply %zu B, %d requests "
           "per run\n", strlen(req_text), strlen(reply_text), total);
    printf("%-8s | %-30s | %-30s | %s\n", "clients", "porch envelope p50/p99 us, req/s",
           "raw NNG p50/p99 us, req/s", "p50 ratio");
    int levels[] = {1, 8, 64};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        int c = levels[i];
        load ours = {.raw = 0, .client = client, .per_thread = total / c};
        load raw = {.raw = 1, .raw_sock = raw_client, .payload = req_text,
                    .payload_len = strlen(req_text), .per_thread = total / c};
        run_load(&raw, c); /* warm-up */
        run_load(&ours, c);
        stats r = run_load(&raw, c);
        stats o = run_load(&ours, c);
        printf("%-8d | %8.1f %8.1f %12.0f | %8.1f %8.1f %12.0f | %.2fx\n", c, o.p50, o.p99, o.rps,
               r.p50, r.p99, r.rps, o.p50 / r.p50);
    }
    atomic_store(&rs.stop, 1);
    for (int i = 0; i < RAW_WORKERS; i++)
        pthread_join(rs.threads[i], NULL);
    nng_close(raw_client);
    nng_close(rs.sock);
    bus_client_free(client);
    bus_server_stop(srv, 1000);
    bus_server_free(srv);
    free(req_text);
    free(reply_text);
    json_decref(req);
    json_decref(res);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
