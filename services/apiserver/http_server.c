/* The HTTPS listener: civetweb with an SSL_CTX that we build ourselves
 * (TLS 1.2+, serving chain and key from separate files, client certificates
 * verified against --client-ca-file when given), one request handler that
 * routes by path, and the response helpers every endpoint uses. Health
 * endpoints are anonymous; everything else needs a verified client cert. */
#include "apiserver.h"
#include "tls_shim/tls_shim.h"

#include "error/error.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*route_fn)(struct mg_connection *conn, apiserver_ctx *ctx);

typedef struct route {
    const char *path;
    int anonymous;
    route_fn fn;
} route;

static int serve_version(struct mg_connection *conn, apiserver_ctx *ctx)
{
    (void)ctx;
    json_t *doc = apiserver_discovery_version();
    int code = apiserver_http_reply_json(conn, 200, doc);
    json_decref(doc);
    return code;
}

static const route routes[] = {
    {"/healthz", 1, apiserver_health_live},
    {"/livez", 1, apiserver_health_live},
    {"/readyz", 1, apiserver_health_ready},
};

int apiserver_http_reply(struct mg_connection *conn, int code, const char *content_type,
                         const char *body, size_t len)
{
    return apiserver_http_reply_headers(conn, code, content_type, NULL, body, len);
}

int apiserver_http_reply_headers(struct mg_connection *conn, int code, const char *content_type,
                                 const char *headers, const char *body, size_t len)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
              code, mg_get_response_code_text(conn, code), content_type, len,
              headers ? headers : "");
    if (strcmp(ri->request_method, "HEAD") != 0 && len > 0)
        mg_write(conn, body, len);

    return code;
}

int apiserver_http_reply_parts(struct mg_connection *conn, int code, const char *content_type,
                               const char *a, size_t alen, const char *b, size_t blen,
                               const char *c, size_t clen)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n\r\n",
              code, mg_get_response_code_text(conn, code), content_type, alen + blen + clen);
    if (strcmp(ri->request_method, "HEAD") != 0) {
        mg_write(conn, a, alen);
        if (blen > 0)
            mg_write(conn, b, blen);
        mg_write(conn, c, clen);
    }
    return code;
}

int apiserver_http_reply_json(struct mg_connection *conn, int code, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text == NULL) {
        static const char fallback[] =
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
            "\"message\":\"cannot encode response\",\"reason\":\"InternalError\",\"code\":500}";
        return apiserver_http_reply(conn, 500, "application/json", fallback, sizeof(fallback) - 1);
    }
    apiserver_http_reply(conn, code, "application/json", text, strlen(text));
    free(text);
    return code;
}

int apiserver_http_reply_status(struct mg_connection *conn, int code, const char *message)
{
    json_t *st = apiserver_status_new(code, NULL, message);
    apiserver_http_reply_json(conn, code, st);
    json_decref(st);
    return code;
}

int apiserver_body_read(struct mg_connection *conn, size_t max, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri->content_length > 0 && (unsigned long long)ri->content_length > max)
        return porch_error_set_reason(413, "RequestEntityTooLarge",
                                      "request body of %lld bytes is larger than the limit of %zu "
                                      "bytes",
                                      (long long)ri->content_length, max);
    size_t cap = ri->content_length > 0 ? (size_t)ri->content_length + 1 : 8192;
    char *buf = malloc(cap);
    size_t n = 0;
    if (buf == NULL)
        return porch_error_set(500, "out of memory reading the request body");
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                free(buf);
                return porch_error_set(500, "out of memory reading the request body");
            }
            buf = nb;
            cap = ncap;
        }
        int r = mg_read(conn, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n > max) {
            free(buf);
            return porch_error_set_reason(413, "RequestEntityTooLarge",
                                          "request body is larger than the limit of %zu bytes",
                                          max);
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Copies the request path without trailing slashes ("/apis/" -> "/apis"). */
static void normalise_path(const char *uri, char *out, size_t cap)
{
    snprintf(out, cap, "%s", uri && uri[0] ? uri : "/");
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        out[--len] = '\0';
}

static const char *conn_header(void *conn, const char *name)
{
    return mg_get_header(conn, name);
}

static void conn_each_header(void *conn, void (*fn)(const char *, const char *, void *), void *ud)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    for (int i = 0; i < ri->num_headers; i++)
        fn(ri->http_headers[i].name, ri->http_headers[i].value, ud);
}

/* 0 and *user, else a 401 Status has been sent. */
static int authenticate(struct mg_connection *conn, apiserver_ctx *ctx, apiserver_user *user)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    void *cert = ri->client_cert ? ri->client_cert->peer_cert : NULL;
    if (apiserver_authn_request(ctx->authn, cert, conn, conn_header, conn_each_header, user) != 0) {
        apiserver_http_reply_status(conn, 401, porch_error_last()->message);
        return -1;
    }
    return 0;
}

/* Non-resource GETs: /version, discovery and OpenAPI. Returns the code sent. */
static int serve_static(struct mg_connection *conn, apiserver_ctx *ctx, const char *path)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "GET") != 0 && strcmp(ri->request_method, "HEAD") != 0) {
        char msg[APISERVER_PATH_MAX + 100];
        snprintf(msg, sizeof(msg), "the server does not allow method %s on %s", ri->request_method,
                 path);
        return apiserver_http_reply_status(conn, 405, msg);
    }
    if (strcmp(path, "/version") == 0)
        return serve_version(conn, ctx);
    const char *doc = apiserver_discovery_lookup(ctx->discovery, path);
    if (doc == NULL)
        doc = apiserver_openapi_lookup(ctx->openapi, path);
    if (doc != NULL)
        return apiserver_http_reply(conn, 200, "application/json", doc, strlen(doc));
    char msg[APISERVER_PATH_MAX + 100];
    snprintf(msg, sizeof(msg), "the server could not find the requested resource (%s)", path);
    return apiserver_http_reply_status(conn, 404, msg);
}

static int is_resource_path(const char *path)
{
    if (strncmp(path, "/api/v1/", 8) == 0)
        return 1;
    if (strncmp(path, "/apis/", 6) != 0)
        return 0;
    int slashes = 0;
    for (const char *p = path; *p; p++)
        slashes += *p == '/';
    return slashes >= 4; /* /apis/G/V/RES... */
}

/* A resource request: route, authorise, serve. Returns the code sent. */
static int serve_resource(struct mg_connection *conn, apiserver_ctx *ctx, const char *path,
                          const apiserver_user *user, const char *rid)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    apiserver_route route;
    apiserver_query query;
    if (apiserver_route_parse(path, &route) != 0 ||
        apiserver_query_parse(ri->query_string, &query) != 0)
        return apiserver_http_reply_status(conn, porch_error_last()->code,
                                           porch_error_last()->message);
    apiserver_request req;
    memset(&req, 0, sizeof(req));
    req.conn = conn;
    req.ctx = ctx;
    req.method = ri->request_method;
    req.rid = rid;
    req.route = &route;
    req.query = &query;
    req.kind = apiserver_kind_find(&route);
    req.verb = apiserver_request_verb(ri->request_method, &route, &query);
    const char *accept = mg_get_header(conn, "Accept");
    req.as_table = accept != NULL && strstr(accept, "as=Table") != NULL;
    apiserver_attrs attrs = {.verb = req.verb[0] ? req.verb : "unknown",
                             .group = route.core ? "" : route.group,
                             .resource = route.resource,
                             .subresource = route.subresource,
                             .ns = route.ns,
                             .name = route.name,
                             .path = path};
    if (route.core && strcmp(route.resource, "namespaces") == 0)
        attrs.ns = route.name; /* a namespace is authorised in itself */
    int code;
    if (apiserver_authz_check(ctx->authz, user, &attrs) != 0) {
        int ecode = porch_error_last()->code;
        json_t *st = apiserver_status_new(ecode, NULL, porch_error_last()->message);
        json_object_set_new(st, "details",
                            json_pack("{s:s, s:s, s:s}", "name", route.name, "group", attrs.group,
                                      "kind", route.resource));
        code = apiserver_http_reply_json(conn, ecode, st);
        json_decref(st);
        return code;
    }
    req.caller = apiserver_auth_caller(user);
    code = apiserver_resource_serve(&req);
    json_decref(req.caller);
    json_decref(req.details);
    return code;
}

static int handle_request(struct mg_connection *conn, void *cbdata)
{
    apiserver_ctx *ctx = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char path[APISERVER_PATH_MAX + 2];
    if (ri->local_uri == NULL || strlen(ri->local_uri) > APISERVER_PATH_MAX)
        return apiserver_http_reply_status(conn, 414, "request path is too long");
    normalise_path(ri->local_uri, path, sizeof(path));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char rid[40];
    bus_new_request_id(rid, sizeof(rid));
    log_set_rid(rid);
    int code;
    const route *rt = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(routes[i].path, path) == 0)
            rt = &routes[i];
    apiserver_user user;
    memset(&user, 0, sizeof(user));
    if (rt != NULL && rt->anonymous) {
        code = rt->fn(conn, ctx);
    } else if (authenticate(conn, ctx, &user) != 0) {
        code = 401;
    } else if (is_resource_path(path)) {
        code = serve_resource(conn, ctx, path, &user, rid);
    } else {
        apiserver_attrs attrs = {.verb = "get", .path = path};
        if (apiserver_authz_check(ctx->authz, &user, &attrs) != 0)
            code = apiserver_http_reply_status(conn, porch_error_last()->code,
                                               porch_error_last()->message);
        else
            code = serve_static(conn, ctx, path);
    }
    /* Never the body: Secrets' data must not reach the logs. */
    log_debug("http request", "method", json_string(ri->request_method), "path", json_string(path),
              "user", json_string(user.name), "code", json_integer(code), "ms", log_ms_since(&t0));
    log_set_rid(NULL);
    return code;
}

/* Logs the OpenSSL error queue into the error slot for `what`. */
static int tls_error(const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return porch_error_set(400, "%s %s: %s", what, file, buf);
}

/* The handshake takes any client certificate (the client still proves it holds
 * the key); authn.c then checks which CA it chains to, so an unknown
 * certificate gets a 401 Status rather than a TLS alert. */
static int accept_any_cert(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    (void)store;
    return 1;
}

/* The TLS connection this civetweb worker thread is serving. civetweb runs
 * the handshake and then every request of a connection on one worker thread
 * and gives handlers no way to reach the socket, so the handshake callback
 * notes it here; a watch uses it to see its client hang up. Thread-local
 * because it is a property of the thread, like the error slot. */
static __thread SSL *thread_ssl;

static void note_handshake(const SSL *ssl, int where, int ret)
{
    (void)ret;
    if (where & SSL_CB_HANDSHAKE_DONE)
        thread_ssl = (SSL *)ssl;
}

int apiserver_http_peer_gone(struct mg_connection *conn)
{
    (void)conn; /* the thread's connection: see thread_ssl */
    int fd = thread_ssl != NULL ? SSL_get_fd(thread_ssl) : -1;
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
    if (poll(&p, 1, 0) != 1)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return 1;
    /* Readable: a watch client sends nothing, so this is EOF, a close_notify
     * alert or a reset — unless it pipelined a request, which we leave alone. */
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Builds the server SSL_CTX; 0 and *out, or negative naming the bad file. */
static int tls_context_new(const apiserver_ctx *ctx, SSL_CTX **out)
{
    SSL_CTX *ssl = SSL_CTX_new(TLS_server_method());
    if (ssl == NULL)
        return tls_error("cannot create TLS context", "");
    int rc = 0;
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle connections (watches) give their 34 KB of TLS buffers back. */
    SSL_CTX_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_info_callback(ssl, note_handshake);
    /* No server-side session cache: each cached session keeps its client's
     * certificate in memory; kubectl keeps its connections alive instead. */
    SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
    if (SSL_CTX_use_certificate_chain_file(ssl, ctx->tls_cert_file) != 1)
        rc = tls_error("cannot load --tls-cert-file", ctx->tls_cert_file);
    else if (SSL_CTX_use_PrivateKey_file(ssl, ctx->tls_key_file, SSL_FILETYPE_PEM) != 1)
        rc = tls_error("cannot load --tls-key-file", ctx->tls_key_file);
    else if (SSL_CTX_check_private_key(ssl) != 1)
        rc = tls_error("--tls-key-file does not match --tls-cert-file", ctx->tls_key_file);
    if (rc == 0 && ctx->client_ca_file != NULL && ctx->client_ca_file[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ctx->client_ca_file);
        if (names != NULL && ctx->requestheader_ca_file && *ctx->requestheader_ca_file)
            SSL_add_file_cert_subjects_to_stack(names, ctx->requestheader_ca_file);
        if (SSL_CTX_load_verify_locations(ssl, ctx->client_ca_file, NULL) != 1 || names == NULL) {
            rc = tls_error("cannot load --client-ca-file", ctx->client_ca_file);
        } else {
            /* Ask for a certificate, but let anonymous clients reach /healthz. */
            SSL_CTX_set_client_CA_list(ssl, names);
            names = NULL;
            SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, accept_any_cert);
            SSL_CTX_set_verify_depth(ssl, 8);
            static const unsigned char sid[] = "porch-apiserver";
            SSL_CTX_set_session_id_context(ssl, sid, sizeof(sid) - 1);
        }
        sk_X509_NAME_pop_free(names, X509_NAME_free);
    }
    if (rc != 0) {
        SSL_CTX_free(ssl);
        return rc;
    }
    *out = ssl;
    return 0;
}

/* civetweb asks for the SSL_CTX at start (*ssl_ctx NULL) and at stop. */
static int external_ssl_ctx(void **ssl_ctx, void *user_data)
{
    apiserver_ctx *ctx = user_data;
    if (*ssl_ctx != NULL)
        return 0; /* civetweb frees it with SSL_CTX_free */
    SSL_CTX *ssl = NULL;
    if (tls_context_new(ctx, &ssl) != 0) {
        log_error("TLS set-up failed", "error", json_string(porch_error_last()->message));
        return -1;
    }
    *ssl_ctx = ssl;
    return 1;
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_warn("civetweb", "detail", json_string(message));
    return 1;
}

/* Checks the TLS files before civetweb sees them, for a clear start-up error. */
static int check_tls_files(const apiserver_ctx *ctx)
{
    const char *files[][2] = {{"--tls-cert-file", ctx->tls_cert_file},
                              {"--tls-key-file", ctx->tls_key_file},
                              {"--client-ca-file", ctx->client_ca_file}};
    for (size_t i = 0; i < 3; i++) {
        if (files[i][1] == NULL || files[i][1][0] == '\0')
            return porch_error_set(400, "%s is required (PEM file)", files[i][0]);
        if (access(files[i][1], R_OK) != 0)
            return porch_error_set(400, "%s %s is not readable; pass an existing PEM file",
                                   files[i][0], files[i][1]);
    }
    SSL_CTX *probe = NULL;
    if (tls_context_new(ctx, &probe) != 0)
        return -1;
    SSL_CTX_free(probe);
    return 0;
}

/* civetweb only says "Failed to setup server ports"; try the bind ourselves
 * first so a taken port or a bad address gets a message that names it. */
static int check_port_free(const apiserver_ctx *ctx)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    int port = atoi(ctx->port);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ctx->bind_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, ctx->bind_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof(*v6);
    } else {
        return porch_error_set(400, "--bind-address \"%s\" is not an IPv4 or IPv6 address",
                               ctx->bind_address);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return porch_error_set(500, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int err = errno;
    close(fd);
    if (rc != 0)
        return porch_error_set(err == EADDRINUSE ? 409 : 400, "cannot listen on %s port %s: %s%s",
                               ctx->bind_address, ctx->port, strerror(err),
                               err == EADDRINUSE ? " (choose another --port)" : "");
    return 0;
}

int apiserver_http_start(apiserver_ctx *ctx)
{
    if (check_tls_files(ctx) != 0 || check_port_free(ctx) != 0)
        return -1;
    apiserver_tls_shim_check();
    if ((mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS) == 0 &&
        !mg_check_feature(MG_FEATURES_TLS))
        return porch_error_set(500, "civetweb was built without TLS support");
    char ports[300];
    if (strchr(ctx->bind_address, ':') != NULL) /* IPv6 */
        snprintf(ports, sizeof(ports), "[%s]:%ss", ctx->bind_address, ctx->port);
    else
        snprintf(ports, sizeof(ports), "%s:%ss", ctx->bind_address, ctx->port);
    /* clang-format off */
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", ctx->http_threads, /* = concurrent connections served */
        "listen_backlog", "256",
        "ssl_protocol_version", "4", /* TLS 1.2+; the SSL_CTX enforces it too */
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "30000",
        "request_timeout_ms", ctx->request_timeout_ms, /* a stalled client frees its thread */
        "max_request_size", ctx->max_header_bytes, /* request line + headers */
        "decode_url", "yes",
        "tcp_nodelay", "1", /* headers and body go out at once, no Nagle delay */
        NULL,
    };
    /* clang-format on */
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.external_ssl_ctx = external_ssl_ctx;
    cb.log_message = log_civetweb;
    struct mg_init_data init = {
        .callbacks = &cb, .user_data = ctx, .configuration_options = options};
    char text[512] = "";
    unsigned code = 0;
    struct mg_error_data err = {.code = &code, .text = text, .text_buffer_size = sizeof(text)};
    ctx->http = mg_start2(&init, &err);
    if (ctx->http == NULL)
        return porch_error_set(500, "cannot serve HTTPS on %s:%s: %s", ctx->bind_address, ctx->port,
                               text[0] ? text : "civetweb failed to start");
    mg_set_request_handler(ctx->http, "/", handle_request, ctx);
    log_info("serving HTTPS", "address", json_sprintf("%s:%s", ctx->bind_address, ctx->port));
    return 0;
}

void apiserver_http_stop(apiserver_ctx *ctx)
{
    if (ctx->http != NULL) {
        mg_stop(ctx->http);
        ctx->http = NULL;
    }
}
