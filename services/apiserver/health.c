/* Health endpoints, anonymous as in Kubernetes: /healthz and /livez say the
 * process is alive; /readyz asks the engine and the cache for `health` over
 * the bus with a short deadline and answers 503 naming each peer that failed.
 * `?verbose` lists every check, like kube-apiserver does. */
#include "apiserver.h"

#include "error/error.h"

#include <civetweb.h>
#include <stdio.h>
#include <string.h>

int apiserver_health_live(struct mg_connection *conn, apiserver_ctx *ctx)
{
    (void)ctx;
    return apiserver_http_reply(conn, 200, "text/plain; charset=utf-8", "ok", 2);
}

/* One peer check: 0 when the peer answered ok, else negative with the error slot set. */
static int check_peer(bus_client *client, const char *peer)
{
    if (client == NULL)
        return porch_error_set(503, "no bus client for %s", peer);
    bus_call_opts opts = {.rid = log_rid()[0] ? log_rid() : NULL,
                          .deadline_ms = APISERVER_READYZ_DEADLINE_MS};
    json_t *result = NULL;
    int rc = bus_client_call(client, "health", NULL, &opts, &result, NULL);
    json_decref(result);
    return rc;
}

static int wants_verbose(const struct mg_connection *conn)
{
    const char *q = mg_get_request_info(conn)->query_string;
    return q != NULL && strstr(q, "verbose") != NULL;
}

int apiserver_health_ready(struct mg_connection *conn, apiserver_ctx *ctx)
{
    struct {
        const char *name;
        bus_client *client;
    } peers[] = {{"engine", ctx->engine}, {"cache", ctx->cache}};
    char report[2048] = "[+]ping ok\n";
    size_t used = strlen(report);
    int failed = 0;
    for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
        int rc = check_peer(peers[i].client, peers[i].name);
        int n;
        if (rc == 0) {
            n = snprintf(report + used, sizeof(report) - used, "[+]%s ok\n", peers[i].name);
        } else {
            failed++;
            n = snprintf(report + used, sizeof(report) - used, "[-]%s failed: %s\n", peers[i].name,
                         porch_error_last()->message);
            log_warn("readyz: peer not healthy", "peer", json_string(peers[i].name), "error",
                     json_string(porch_error_last()->message));
        }
        if (n > 0 && (size_t)n < sizeof(report) - used)
            used += (size_t)n;
    }
    const char *tail = failed ? "readyz check failed" : "readyz check passed";
    snprintf(report + used, sizeof(report) - used, "%s", tail);
    if (!failed && !wants_verbose(conn))
        return apiserver_http_reply(conn, 200, "text/plain; charset=utf-8", "ok", 2);
    return apiserver_http_reply(conn, failed ? 503 : 200, "text/plain; charset=utf-8", report,
                                strlen(report));
}
