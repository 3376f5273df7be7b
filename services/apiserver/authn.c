/* Authentication of one request, in kube-apiserver's order: a front-proxy
 * certificate (chains to --requestheader-client-ca-file, CN allowed) makes
 * X-Remote-User/-Group/-Extra-* the identity; else a client certificate that
 * chains to --client-ca-file; else a bearer token from --token-auth-file;
 * else 401. TLS accepts any certificate so that this code, not a handshake
 * failure, decides — and X-Remote-* from anyone else is refused, not ignored. */
#include "apiserver.h"

#include "error/error.h"

#include <ctype.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct apiserver_authn {
    X509_STORE *client_ca;
    X509_STORE *proxy_ca;
    char **allowed;
    size_t n_allowed;
    apiserver_tokens *tokens;
};

static int load_store(const char *file, const char *flag, X509_STORE **out)
{
    X509_STORE *st = X509_STORE_new();
    if (st == NULL || X509_STORE_load_file(st, file) != 1) {
        X509_STORE_free(st);
        return porch_error_set(400, "cannot load %s %s (PEM CA bundle)", flag, file);
    }
    *out = st;
    return 0;
}

int apiserver_authn_new(const apiserver_authn_opts *opts, apiserver_authn **out)
{
    *out = NULL;
    apiserver_authn *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return porch_error_set(500, "out of memory");
    int rc = 0;
    if (opts->client_ca_file && *opts->client_ca_file)
        rc = load_store(opts->client_ca_file, "--client-ca-file", &a->client_ca);
    if (rc == 0 && opts->requestheader_ca_file && *opts->requestheader_ca_file)
        rc =
            load_store(opts->requestheader_ca_file, "--requestheader-client-ca-file", &a->proxy_ca);
    if (rc == 0 && opts->token_auth_file && *opts->token_auth_file)
        rc = apiserver_tokens_load(opts->token_auth_file, &a->tokens);
    for (const char *p = opts->requestheader_allowed; rc == 0 && p && *p;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            char **grown = realloc(a->allowed, sizeof(char *) * (a->n_allowed + 1));
            if (grown == NULL)
                break;
            a->allowed = grown;
            a->allowed[a->n_allowed++] = strndup(p, len);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (rc != 0) {
        apiserver_authn_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void apiserver_authn_free(apiserver_authn *a)
{
    if (a == NULL)
        return;
    X509_STORE_free(a->client_ca);
    X509_STORE_free(a->proxy_ca);
    for (size_t i = 0; i < a->n_allowed; i++)
        free(a->allowed[i]);
    free(a->allowed);
    apiserver_tokens_free(a->tokens);
    free(a);
}

/* 1 when `cert` chains to a CA in `store` and is valid for TLS client auth. */
static int chains_to(X509_STORE *store, X509 *cert)
{
    if (store == NULL || cert == NULL)
        return 0;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (ctx == NULL || X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
        X509_STORE_CTX_free(ctx);
        return 0;
    }
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    return ok;
}

/* CN and every O of the subject into user. */
static int user_from_cert(X509 *cert, apiserver_user *out)
{
    X509_NAME *subject = X509_get_subject_name(cert);
    int n = X509_NAME_entry_count(subject);
    for (int i = 0; i < n; i++) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        const char *text = (const char *)ASN1_STRING_get0_data(v);
        size_t len = (size_t)ASN1_STRING_length(v);
        if (nid == NID_commonName) {
            if (len >= sizeof(out->name))
                len = sizeof(out->name) - 1;
            memcpy(out->name, text, len);
            out->name[len] = '\0';
        } else if (nid == NID_organizationName) {
            apiserver_auth_add_group(out, text, len);
        }
    }
    if (out->name[0] == '\0')
        return porch_error_set(401, "Unauthorized: the client certificate has no CN (user name)");
    return 0;
}

typedef struct extra_ctx {
    apiserver_user *user;
    int remote_headers; /* saw any X-Remote-* */
} extra_ctx;

static void visit_header(const char *name, const char *value, void *ud)
{
    extra_ctx *x = ud;
    if (strncasecmp(name, "X-Remote-", 9) == 0)
        x->remote_headers = 1;
    if (x->user == NULL)
        return;
    if (strncasecmp(name, "X-Remote-Group", 14) == 0 && name[14] == '\0') {
        apiserver_auth_add_group(x->user, value, strlen(value));
    } else if (strncasecmp(name, "X-Remote-Extra-", 15) == 0 && name[15] != '\0' &&
               x->user->n_extra < APISERVER_MAX_EXTRA) {
        int i = x->user->n_extra++;
        size_t k = 0;
        for (const char *p = name + 15; *p && k + 1 < sizeof(x->user->extra_keys[0]); p++)
            x->user->extra_keys[i][k++] = (char)tolower((unsigned char)*p);
        x->user->extra_keys[i][k] = '\0';
        snprintf(x->user->extra_values[i], sizeof(x->user->extra_values[0]), "%s", value);
    }
}

static int proxy_allowed(const apiserver_authn *a, const char *cn)
{
    if (a->n_allowed == 0)
        return 1;
    for (size_t i = 0; i < a->n_allowed; i++)
        if (strcmp(a->allowed[i], cn) == 0)
            return 1;
    return 0;
}

int apiserver_authn_request(const apiserver_authn *a, void *peer_cert, void *conn,
                            apiserver_header_fn header, apiserver_header_visit_fn each_header,
                            apiserver_user *out)
{
    memset(out, 0, sizeof(*out));
    X509 *cert = peer_cert;
    extra_ctx scan = {NULL, 0};
    each_header(conn, visit_header, &scan);
    if (cert != NULL && chains_to(a->proxy_ca, cert)) {
        apiserver_user proxy;
        memset(&proxy, 0, sizeof(proxy));
        if (user_from_cert(cert, &proxy) != 0 || !proxy_allowed(a, proxy.name))
            return porch_error_set(401,
                                   "Unauthorized: front-proxy certificate CN \"%s\" is not "
                                   "in --requestheader-allowed-names",
                                   proxy.name);
        const char *user = header(conn, "X-Remote-User");
        if (user == NULL || *user == '\0')
            return porch_error_set(401, "Unauthorized: front-proxy request without X-Remote-User");
        snprintf(out->name, sizeof(out->name), "%s", user);
        extra_ctx x = {out, 0};
        each_header(conn, visit_header, &x);
        out->method = "front-proxy";
        return 0;
    }
    if (scan.remote_headers)
        return porch_error_set(401, "Unauthorized: X-Remote-* headers are only accepted from a "
                                    "front-proxy certificate signed by "
                                    "--requestheader-client-ca-file");
    if (cert != NULL) {
        if (!chains_to(a->client_ca, cert))
            return porch_error_set(401, "Unauthorized: the client certificate is not signed by "
                                        "the server's client CA (--client-ca-file)");
        out->method = "x509";
        return user_from_cert(cert, out);
    }
    const char *auth = header(conn, "Authorization");
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *token = auth + 7;
        while (*token == ' ')
            token++;
        if (apiserver_tokens_lookup(a->tokens, token, out) != 0)
            return -1;
        return 0;
    }
    return porch_error_set(401, "Unauthorized: send a client certificate signed by the server's "
                                "client CA or a bearer token (anonymous requests are refused); "
                                "porch-up writes a kubeconfig with the admin certificate");
}
