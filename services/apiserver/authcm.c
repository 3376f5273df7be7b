/* Cluster mode, as an aggregated apiserver starts: the kube-apiserver
 * publishes how its front proxy signs requests in ConfigMap
 * kube-system/extension-apiserver-authentication (requestheader CA, allowed
 * certificate names, header names) and its client CA. We read it once at start
 * with the pod's service account (the extension-apiserver-authentication-reader
 * RoleBinding), write the CA bundles under DATA/pki and fill in the flags the
 * operator did not set. Anything missing or unexpected fails start-up with a
 * message naming the ConfigMap key. */
#include "apiserver.h"

#include "error/error.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define AUTHCM_MAX_BYTES (1024 * 1024)

typedef struct grow {
    char *data;
    size_t len;
    int too_big;
} grow;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    grow *g = ud;
    size_t n = size * nmemb;
    if (g->len + n > AUTHCM_MAX_BYTES) {
        g->too_big = 1;
        return 0;
    }
    char *nd = realloc(g->data, g->len + n + 1);
    if (nd == NULL)
        return 0;
    memcpy(nd + g->len, ptr, n);
    g->data = nd;
    g->len += n;
    g->data[g->len] = '\0';
    return n;
}

static int read_token(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, (int)cap, f) == NULL) {
        if (f)
            fclose(f);
        return porch_error_set(400, "cannot read --authorization-webhook-token-file %s: %s", path,
                               strerror(errno ? errno : EIO));
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* GETs the ConfigMap; 0 and *out (new reference) or -1 naming what failed. */
static int fetch_configmap(const apiserver_authcm_opts *o, const char *ns, const char *name,
                           json_t **out)
{
    char token[4096], url[1400], auth[4200];
    if (read_token(o->token_file, token, sizeof(token)) != 0)
        return -1;
    size_t ulen = strlen(o->url);
    snprintf(url, sizeof(url), "%s%sapi/v1/namespaces/%s/configmaps/%s", o->url,
             ulen && o->url[ulen - 1] == '/' ? "" : "/", ns, name);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return porch_error_set(500, "cannot start an HTTPS client");
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (token[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
    }
    grow body = {NULL, 0, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->ca_file && *o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    int ret = 0;
    if (body.too_big)
        ret = porch_error_set(502, "ConfigMap %s/%s from %s is larger than %d bytes", ns, name,
                              o->url, AUTHCM_MAX_BYTES);
    else if (rc != CURLE_OK)
        ret = porch_error_set(503, "cannot read ConfigMap %s/%s from %s: %s", ns, name, o->url,
                              curl_easy_strerror(rc));
    else if (status != 200)
        ret = porch_error_set(status == 404 ? 404 : 502,
                              "cannot read ConfigMap %s/%s from %s: HTTP %ld (the service account "
                              "needs the extension-apiserver-authentication-reader Role)",
                              ns, name, o->url, status);
    else if ((*out = json_loadb(body.data ? body.data : "", body.len, 0, NULL)) == NULL ||
             !json_is_object(json_object_get(*out, "data"))) {
        json_decref(*out);
        *out = NULL;
        ret = porch_error_set(502, "ConfigMap %s/%s from %s has no data", ns, name, o->url);
    }
    free(body.data);
    return ret;
}

/* A key holding a JSON list of strings ("[\"X-Remote-User\"]"), joined by
 * commas into buf; absent → "". -1 when it is not such a list. */
static int string_list(json_t *data, const char *key, const char *where, char *buf, size_t cap)
{
    buf[0] = '\0';
    const char *text = json_string_value(json_object_get(data, key));
    if (text == NULL || *text == '\0')
        return 0;
    json_t *list = json_loads(text, 0, NULL);
    size_t i;
    json_t *v;
    int rc = json_is_array(list) ? 0 : -1;
    json_array_foreach(list, i, v)
    {
        size_t used = strlen(buf);
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strchr(json_string_value(v), ',') != NULL || used + json_string_length(v) + 2 > cap) {
            rc = -1;
            break;
        }
        snprintf(buf + used, cap - used, "%s%s", used ? "," : "", json_string_value(v));
    }
    json_decref(list);
    if (rc != 0)
        return porch_error_set(502, "ConfigMap %s: %s is not a JSON list of names: %.200s", where,
                               key, text);
    return 0;
}

/* The headers named under `key` must include ours (we read only X-Remote-*). */
static int check_header(json_t *data, const char *key, const char *ours, const char *where)
{
    char list[1024];
    if (string_list(data, key, where, list, sizeof(list)) != 0)
        return -1;
    if (list[0] == '\0')
        return 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
        if (strcasecmp(tok, ours) == 0)
            return 0;
    char again[1024];
    string_list(data, key, where, again, sizeof(again));
    return porch_error_set(400,
                           "ConfigMap %s: %s is [%s]; porch-apiserver reads only %s, so the front "
                           "proxy's identity headers would be ignored",
                           where, key, again, ours);
}

/* Writes the PEM under `key` (if any) to DIR/pki/FILE; fills path or leaves it "". */
static int write_pem(json_t *data, const char *key, const char *where, const char *dir,
                     const char *file, char *path, size_t cap)
{
    path[0] = '\0';
    const char *pem = json_string_value(json_object_get(data, key));
    if (pem == NULL || *pem == '\0')
        return 0;
    if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
        return porch_error_set(502, "ConfigMap %s: %s holds no PEM certificate", where, key);
    char pki[1024];
    snprintf(pki, sizeof(pki), "%s/pki", dir);
    if (mkdir(pki, 0755) != 0 && errno != EEXIST)
        return porch_error_set(500, "cannot create %s: %s", pki, strerror(errno));
    snprintf(path, cap, "%s/%s", pki, file);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(pem, f) < 0 || fclose(f) != 0) {
        int err = errno;
        path[0] = '\0';
        return porch_error_set(500, "cannot write %s/%s: %s", pki, file, strerror(err));
    }
    return 0;
}

int apiserver_authcm_load(const apiserver_authcm_opts *o, apiserver_authcm *out)
{
    memset(out, 0, sizeof(*out));
    char ns[254], name[254];
    const char *slash = o->configmap ? strchr(o->configmap, '/') : NULL;
    if (slash == NULL || slash == o->configmap || slash[1] == '\0' ||
        strchr(slash + 1, '/') != NULL || (size_t)(slash - o->configmap) >= sizeof(ns) ||
        strlen(slash + 1) >= sizeof(name))
        return porch_error_set(400, "--authentication-configmap \"%s\" must be NAMESPACE/NAME",
                               o->configmap ? o->configmap : "");
    if (o->url == NULL || *o->url == '\0')
        return porch_error_set(400, "--authentication-configmap needs --authorization-webhook-url "
                                    "(the kube-apiserver it is read from)");
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - o->configmap), o->configmap);
    snprintf(name, sizeof(name), "%s", slash + 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_t *cm = NULL;
    if (fetch_configmap(o, ns, name, &cm) != 0)
        return -1;
    json_t *data = json_object_get(cm, "data");
    int rc = 0;
    if (check_header(data, "requestheader-username-headers", "X-Remote-User", o->configmap) != 0 ||
        check_header(data, "requestheader-group-headers", "X-Remote-Group", o->configmap) != 0 ||
        check_header(data, "requestheader-extra-headers-prefix", "X-Remote-Extra-", o->configmap) !=
            0 ||
        string_list(data, "requestheader-allowed-names", o->configmap, out->allowed_names,
                    sizeof(out->allowed_names)) != 0 ||
        write_pem(data, "requestheader-client-ca-file", o->configmap, o->out_dir,
                  "requestheader-client-ca.crt", out->requestheader_ca_file,
                  sizeof(out->requestheader_ca_file)) != 0 ||
        write_pem(data, "client-ca-file", o->configmap, o->out_dir, "cluster-client-ca.crt",
                  out->client_ca_file, sizeof(out->client_ca_file)) != 0)
        rc = -1;
    else if (out->requestheader_ca_file[0] == '\0' && out->client_ca_file[0] == '\0')
        rc = porch_error_set(502,
                             "ConfigMap %s has neither requestheader-client-ca-file nor "
                             "client-ca-file: is the kube-apiserver's aggregation layer on?",
                             o->configmap);
    json_decref(cm);
    return rc;
}
