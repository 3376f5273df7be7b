/* porch-apiserver: the HTTPS Kubernetes API surface of Porch. It is a bus
 * service like the others (health/describe on ipc://DATA/apiserver.sock) and a
 * client of the engine and the cache; today it serves health, /version and
 * discovery, and later issues add the resources behind them. */
#include "apiserver.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Joins data_dir and a file name into a new string. */
static char *data_file(const char *data_dir, const char *name)
{
    size_t len = strlen(data_dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (path != NULL)
        snprintf(path, len, "%s/%s", data_dir, name);
    return path;
}

/* TLS files default to the ones porch-up writes under DATA/pki. */
static void default_tls_files(apiserver_ctx *ctx)
{
    if (ctx->tls_cert_file == NULL)
        ctx->tls_cert_file = data_file(ctx->svc.data_dir, "pki/apiserver.crt");
    if (ctx->tls_key_file == NULL)
        ctx->tls_key_file = data_file(ctx->svc.data_dir, "pki/apiserver.key");
    if (ctx->client_ca_file == NULL)
        ctx->client_ca_file = data_file(ctx->svc.data_dir, "pki/ca.crt");
}

/* 0 when --port and --http-threads are numbers in range, else prints why. */
static int check_numbers(const apiserver_ctx *ctx)
{
    char *end = NULL;
    long port = strtol(ctx->port, &end, 10);
    if (*ctx->port == '\0' || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "porch-apiserver: --port \"%s\" must be a TCP port from 1 to 65535\n",
                ctx->port);
        return -1;
    }
    long threads = strtol(ctx->http_threads, &end, 10);
    if (*ctx->http_threads == '\0' || *end != '\0' || threads < 1 || threads > 1024) {
        fprintf(stderr, "porch-apiserver: --http-threads \"%s\" must be from 1 to 1024\n",
                ctx->http_threads);
        return -1;
    }
    return 0;
}

/* Adds the HTTPS address to the bus `health` answer. */
static int health_extra(void *userdata, json_t *result)
{
    apiserver_ctx *ctx = userdata;
    json_object_set_new(result, "https", json_sprintf("%s:%s", ctx->bind_address, ctx->port));
    return 0;
}

/* Everything between flag parsing and serving; 0 or negative with a message printed. */
static int setup(apiserver_ctx *ctx)
{
    default_tls_files(ctx);
    if (check_numbers(ctx) != 0)
        return -1;
    char address[300];
    snprintf(address, sizeof(address), "%s:%s", ctx->bind_address, ctx->port);
    if (apiserver_discovery_new(address, &ctx->discovery) != 0 ||
        svc_peer_client(&ctx->svc, SVC_ENGINE, &ctx->engine) != 0 ||
        svc_peer_client(&ctx->svc, SVC_CACHE, &ctx->cache) != 0) {
        fprintf(stderr, "porch-apiserver: %s\n", porch_error_last()->message);
        return -1;
    }
    ctx->svc.health_check = health_extra;
    ctx->svc.health_userdata = ctx;
    return 0;
}

static void cleanup(apiserver_ctx *ctx)
{
    apiserver_http_stop(ctx);
    bus_client_free(ctx->engine);
    bus_client_free(ctx->cache);
    apiserver_discovery_free(ctx->discovery);
    svc_free(&ctx->svc);
    free(ctx->port);
    free(ctx->bind_address);
    free(ctx->tls_cert_file);
    free(ctx->tls_key_file);
    free(ctx->client_ca_file);
    free(ctx->http_threads);
}

int main(int argc, char **argv)
{
    apiserver_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    const svc_flag flags[] = {
        {"--port", "PORCH_PORT", APISERVER_DEFAULT_PORT, "HTTPS port", &ctx.port},
        {"--bind-address", "PORCH_BIND_ADDRESS", APISERVER_DEFAULT_BIND,
         "address to serve HTTPS on (0.0.0.0 for all)", &ctx.bind_address},
        {"--tls-cert-file", "PORCH_TLS_CERT_FILE", NULL,
         "serving certificate chain, PEM (DATA/pki/apiserver.crt)", &ctx.tls_cert_file},
        {"--tls-key-file", "PORCH_TLS_KEY_FILE", NULL,
         "serving private key, PEM (DATA/pki/apiserver.key)", &ctx.tls_key_file},
        {"--client-ca-file", "PORCH_CLIENT_CA_FILE", NULL,
         "CA bundle that signs client certificates, PEM (DATA/pki/ca.crt)", &ctx.client_ca_file},
        {"--http-threads", "PORCH_HTTP_THREADS", "64", "HTTPS worker threads", &ctx.http_threads},
    };
    int rc = svc_init(&ctx.svc, SVC_APISERVER, SVC_PEER(SVC_ENGINE) | SVC_PEER(SVC_CACHE), flags,
                      sizeof(flags) / sizeof(flags[0]), argc, argv);
    if (rc != 0) {
        cleanup(&ctx);
        return rc > 0 ? 0 : 2;
    }
    if (setup(&ctx) != 0 || svc_start(&ctx.svc) != 0) {
        cleanup(&ctx);
        return 1;
    }
    if (apiserver_http_start(&ctx) != 0) {
        fprintf(stderr, "porch-apiserver: %s\n", porch_error_last()->message);
        log_error("cannot serve HTTPS", "error", json_string(porch_error_last()->message));
        svc_stop(&ctx.svc);
        cleanup(&ctx);
        return 1;
    }
    while (!svc_wait_signal(&ctx.svc, 1000)) {
    }
    /* Stop taking HTTP requests first, so no handler is mid-call when the bus goes. */
    apiserver_http_stop(&ctx);
    svc_stop(&ctx.svc);
    log_info("stopped");
    cleanup(&ctx);
    return 0;
}
