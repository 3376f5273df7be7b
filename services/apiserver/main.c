/* porch-apiserver: the HTTPS Kubernetes API surface of Porch. It is a bus
 * service like the others (health/describe on ipc://DATA/apiserver.sock) and a
 * client of the engine and the cache; main.c parses the flags, builds the
 * authenticator, authorizer, discovery/OpenAPI documents and the watch pump,
 * then serves until a signal. */
#include "apiserver.h"

#include "error/error.h"
#include "log/log.h"

#include <malloc.h>
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
static int check_numbers(apiserver_ctx *ctx)
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
    struct {
        const char *flag, *value;
        long min, max;
    } nums[] = {
        {"--max-header-bytes", ctx->max_header_bytes, 1024, 1024 * 1024},
        {"--request-timeout-ms", ctx->request_timeout_ms, 1000, 3600 * 1000},
        {"--max-request-body-bytes", ctx->max_body_bytes, 1024, 256L * 1024 * 1024},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        long v = strtol(nums[i].value, &end, 10);
        if (*nums[i].value == '\0' || *end != '\0' || v < nums[i].min || v > nums[i].max) {
            fprintf(stderr, "porch-apiserver: %s \"%s\" must be from %ld to %ld\n", nums[i].flag,
                    nums[i].value, nums[i].min, nums[i].max);
            return -1;
        }
    }
    ctx->body_max = (size_t)strtol(ctx->max_body_bytes, NULL, 10);
    return 0;
}

/* Adds the HTTPS address to the bus `health` answer. */
static int health_extra(void *userdata, json_t *result)
{
    apiserver_ctx *ctx = userdata;
    json_object_set_new(result, "https", json_sprintf("%s:%s", ctx->bind_address, ctx->port));
    return 0;
}

/* --authentication-configmap: the front-proxy CA, allowed names and client CA
 * from the cluster, for each of those flags the operator did not set. */
static int load_authentication_configmap(apiserver_ctx *ctx)
{
    if (ctx->authn_configmap == NULL || ctx->authn_configmap[0] == '\0')
        return 0;
    apiserver_authcm_opts o = {.configmap = ctx->authn_configmap,
                               .url = ctx->webhook_url,
                               .ca_file = ctx->webhook_ca_file,
                               .token_file = ctx->webhook_token_file,
                               .out_dir = ctx->svc.data_dir};
    apiserver_authcm cm;
    if (apiserver_authcm_load(&o, &cm) != 0)
        return -1;
    if (ctx->requestheader_ca_file[0] == '\0' && cm.requestheader_ca_file[0] != '\0') {
        free(ctx->requestheader_ca_file);
        ctx->requestheader_ca_file = strdup(cm.requestheader_ca_file);
        free(ctx->requestheader_allowed);
        ctx->requestheader_allowed = strdup(cm.allowed_names);
    }
    if (ctx->client_ca_file == NULL && cm.client_ca_file[0] != '\0')
        ctx->client_ca_file = strdup(cm.client_ca_file);
    else if (ctx->client_ca_file == NULL && cm.requestheader_ca_file[0] != '\0')
        ctx->client_ca_file = strdup(cm.requestheader_ca_file); /* the handshake asks for one */
    log_info("authentication settings read from the cluster", "configmap",
             json_string(ctx->authn_configmap), "requestheader_allowed_names",
             json_string(ctx->requestheader_allowed));
    return 0;
}

/* Everything between flag parsing and serving; 0 or negative with a message printed. */
static int setup(apiserver_ctx *ctx)
{
    if (load_authentication_configmap(ctx) != 0) {
        fprintf(stderr, "porch-apiserver: %s\n", porch_error_last()->message);
        return -1;
    }
    default_tls_files(ctx);
    if (check_numbers(ctx) != 0)
        return -1;
    char address[300];
    snprintf(address, sizeof(address), "%s:%s", ctx->bind_address, ctx->port);
    apiserver_authn_opts an = {.client_ca_file = ctx->client_ca_file,
                               .token_auth_file = ctx->token_auth_file,
                               .requestheader_ca_file = ctx->requestheader_ca_file,
                               .requestheader_allowed = ctx->requestheader_allowed};
    apiserver_authz_opts az = {.policy_file = ctx->policy_file,
                               .webhook_url = ctx->webhook_url,
                               .webhook_ca_file = ctx->webhook_ca_file,
                               .webhook_token_file = ctx->webhook_token_file};
    if (apiserver_discovery_new(address, &ctx->discovery) != 0 ||
        apiserver_openapi_new(&ctx->openapi) != 0 || apiserver_authn_new(&an, &ctx->authn) != 0 ||
        apiserver_authz_new(&az, &ctx->authz) != 0 ||
        svc_peer_client(&ctx->svc, SVC_ENGINE, &ctx->engine) != 0 ||
        svc_peer_client(&ctx->svc, SVC_CACHE, &ctx->cache) != 0 ||
        apiserver_watch_hub_new(ctx->cache, &ctx->watch) != 0 ||
        apiserver_ns_controller_new(ctx->cache, &ctx->namespaces) != 0 ||
        !(ctx->recent = apiserver_recent_new(APISERVER_RECENT_BYTES))) {
        fprintf(stderr, "porch-apiserver: %s\n", porch_error_last()->message);
        return -1;
    }
    ctx->standalone = ctx->webhook_url == NULL || ctx->webhook_url[0] == '\0';
    ctx->svc.health_check = health_extra;
    ctx->svc.health_userdata = ctx;
    return 0;
}

/* Removes the `local` flags (--flag V or --flag=V) from argv into their
 * values; the environment variable, then the default, fill the rest. */
static int take_local_flags(const svc_flag *local, size_t n, int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const svc_flag *hit = NULL;
        const char *value = NULL;
        for (size_t f = 0; f < n && hit == NULL; f++) {
            size_t len = strlen(local[f].flag);
            if (strncmp(argv[i], local[f].flag, len) != 0)
                continue;
            if (argv[i][len] == '=') {
                hit = &local[f];
                value = argv[i] + len + 1;
            } else if (argv[i][len] == '\0') {
                if (i + 1 >= *argc) {
                    fprintf(stderr, "porch-apiserver: %s needs a value\n", local[f].flag);
                    return -1;
                }
                hit = &local[f];
                value = argv[++i];
            }
        }
        if (hit == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        free(*hit->value);
        *hit->value = strdup(value);
    }
    argv[out] = NULL;
    *argc = out;
    for (size_t f = 0; f < n; f++) {
        if (*local[f].value != NULL)
            continue;
        const char *env = local[f].env ? getenv(local[f].env) : NULL;
        *local[f].value = strdup(env ? env : local[f].def ? local[f].def : "");
    }
    return 0;
}

static void print_local_flags(const svc_flag *local, size_t n)
{
    for (size_t f = 0; f < n; f++)
        printf("  %-34s %s (env %s, default \"%s\")\n", local[f].flag, local[f].help, local[f].env,
               local[f].def ? local[f].def : "");
}

static void cleanup(apiserver_ctx *ctx)
{
    apiserver_http_stop(ctx);
    apiserver_ns_controller_free(ctx->namespaces);
    apiserver_watch_hub_free(ctx->watch);
    apiserver_recent_free(ctx->recent);
    apiserver_openapi_free(ctx->openapi);
    apiserver_authn_free(ctx->authn);
    apiserver_authz_free(ctx->authz);
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
    free(ctx->token_auth_file);
    free(ctx->requestheader_ca_file);
    free(ctx->requestheader_allowed);
    free(ctx->policy_file);
    free(ctx->webhook_url);
    free(ctx->webhook_ca_file);
    free(ctx->webhook_token_file);
    free(ctx->authn_configmap);
    free(ctx->max_header_bytes);
    free(ctx->request_timeout_ms);
    free(ctx->max_body_bytes);
}

int main(int argc, char **argv)
{
    apiserver_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    /* Hundreds of HTTP threads: without a cap each grows its own malloc arena. */
    mallopt(M_ARENA_MAX, 2);
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
        {"--http-threads", "PORCH_HTTP_THREADS", "256",
         "HTTPS worker threads = concurrent connections (each watch holds one)", &ctx.http_threads},
    };
    /* Security and limit flags are parsed here: svc_init has a fixed number of slots. */
    const svc_flag local[] = {
        {"--token-auth-file", "PORCH_TOKEN_AUTH_FILE", "",
         "bearer tokens, CSV: token,user,uid,\"group1,group2\"", &ctx.token_auth_file},
        {"--requestheader-client-ca-file", "PORCH_REQUESTHEADER_CLIENT_CA_FILE", "",
         "CA of the front proxy whose X-Remote-User/-Group/-Extra-* headers are trusted",
         &ctx.requestheader_ca_file},
        {"--requestheader-allowed-names", "PORCH_REQUESTHEADER_ALLOWED_NAMES", "",
         "front-proxy certificate CNs allowed (comma-separated; empty = any)",
         &ctx.requestheader_allowed},
        {"--authorization-policy-file", "PORCH_AUTHORIZATION_POLICY_FILE", "",
         "standalone policy JSON {\"rules\":[{users,groups,verbs,resources,namespaces}]}; "
         "default: only system:masters",
         &ctx.policy_file},
        {"--authorization-webhook-url", "PORCH_AUTHORIZATION_WEBHOOK_URL", "",
         "cluster mode: kube-apiserver URL for SubjectAccessReviews", &ctx.webhook_url},
        {"--authorization-webhook-ca-file", "PORCH_AUTHORIZATION_WEBHOOK_CA_FILE", "",
         "CA bundle of the SubjectAccessReview endpoint", &ctx.webhook_ca_file},
        {"--authorization-webhook-token-file", "PORCH_AUTHORIZATION_WEBHOOK_TOKEN_FILE", "",
         "bearer token for the SubjectAccessReview endpoint (service account)",
         &ctx.webhook_token_file},
        {"--authentication-configmap", "PORCH_AUTHENTICATION_CONFIGMAP", "",
         "cluster mode: read requestheader CA, allowed names and client CA from this ConfigMap "
         "(kube-system/extension-apiserver-authentication) at --authorization-webhook-url",
         &ctx.authn_configmap},
        {"--max-header-bytes", "PORCH_MAX_HEADER_BYTES", "16384",
         "largest request line + headers accepted", &ctx.max_header_bytes},
        {"--request-timeout-ms", "PORCH_REQUEST_TIMEOUT_MS", "60000",
         "socket read/write timeout of one request", &ctx.request_timeout_ms},
        {"--max-request-body-bytes", "PORCH_MAX_REQUEST_BODY_BYTES", "6291456",
         "largest request body (Porch: 6 MiB); larger is 413", &ctx.max_body_bytes},
    };
    size_t n_local = sizeof(local) / sizeof(local[0]);
    if (take_local_flags(local, n_local, &argc, argv) != 0) {
        cleanup(&ctx);
        return 2;
    }
    int rc = svc_init(&ctx.svc, SVC_APISERVER, SVC_PEER(SVC_ENGINE) | SVC_PEER(SVC_CACHE), flags,
                      sizeof(flags) / sizeof(flags[0]), argc, argv);
    if (rc > 0)
        print_local_flags(local, n_local);
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
