/* Authorization. Standalone: a JSON policy file of rules (users/groups →
 * verbs on resources in namespaces); system:masters may do everything and,
 * without a file, nobody else anything. Cluster: a SubjectAccessReview per
 * request to the kube-apiserver (libcurl, verified TLS), with a short cache. */
#include "apiserver.h"

#include "error/error.h"
#include "log/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAR_CACHE 256
#define SAR_TTL_S 10

typedef struct sar_entry {
    char key[1024];
    int allowed;
    time_t at;
} sar_entry;

struct apiserver_authz {
    json_t *rules; /* array, or NULL */
    char *webhook_url;
    char *ca_file;
    char *token;
    char *client_cert;
    char *client_key;
    pthread_mutex_t mu;
    sar_entry cache[SAR_CACHE];
};

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

/* Checks that every rule has the arrays it needs, so mistakes show at start-up. */
static int check_rules(json_t *rules, const char *path)
{
    if (!json_is_array(rules))
        return porch_error_set(400, "--authorization-policy-file %s: want {\"rules\": [...]}",
                               path);
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        static const char *const keys[] = {"users",     "groups",     "verbs",
                                           "resources", "namespaces", "apiGroups"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            json_t *v = json_object_get(r, keys[k]);
            if (v != NULL && !json_is_array(v))
                return porch_error_set(400,
                                       "--authorization-policy-file %s: rules[%zu].%s must be "
                                       "a list of strings",
                                       path, i, keys[k]);
        }
        if (json_object_get(r, "verbs") == NULL)
            return porch_error_set(400, "--authorization-policy-file %s: rules[%zu] has no verbs",
                                   path, i);
    }
    return 0;
}

int apiserver_authz_new(const apiserver_authz_opts *opts, apiserver_authz **out)
{
    *out = NULL;
    apiserver_authz *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return porch_error_set(500, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    if (opts->policy_file && *opts->policy_file) {
        json_error_t err;
        json_t *doc = json_load_file(opts->policy_file, 0, &err);
        if (doc == NULL) {
            apiserver_authz_free(a);
            return porch_error_set(400, "--authorization-policy-file %s: line %d: %s",
                                   opts->policy_file, err.line, err.text);
        }
        a->rules = json_incref(json_object_get(doc, "rules"));
        json_decref(doc);
        if (check_rules(a->rules, opts->policy_file) != 0) {
            apiserver_authz_free(a);
            return -1;
        }
    }
    a->webhook_url = dup_or_null(opts->webhook_url);
    a->ca_file = dup_or_null(opts->webhook_ca_file);
    a->client_cert = dup_or_null(opts->webhook_client_cert);
    a->client_key = dup_or_null(opts->webhook_client_key);
    if (opts->webhook_token_file && *opts->webhook_token_file) {
        FILE *f = fopen(opts->webhook_token_file, "r");
        char buf[4096] = "";
        if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
            if (f)
                fclose(f);
            apiserver_authz_free(a);
            return porch_error_set(400, "cannot read --authorization-webhook-token-file %s",
                                   opts->webhook_token_file);
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        a->token = strdup(buf);
    }
    if (a->webhook_url != NULL)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    *out = a;
    return 0;
}

void apiserver_authz_free(apiserver_authz *a)
{
    if (a == NULL)
        return;
    json_decref(a->rules);
    free(a->webhook_url);
    free(a->ca_file);
    free(a->token);
    free(a->client_cert);
    free(a->client_key);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* ---- policy ---- */

/* 1 when `list` (array of strings) is absent-as-wildcard (allow_missing), has "*" or `value`. */
static int list_has(json_t *list, const char *value, int allow_missing)
{
    if (list == NULL)
        return allow_missing;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (s && (strcmp(s, "*") == 0 || (value && strcmp(s, value) == 0)))
            return 1;
    }
    return 0;
}

static int is_master(const apiserver_user *u)
{
    for (int i = 0; i < u->n_groups; i++)
        if (strcmp(u->groups[i], "system:masters") == 0)
            return 1;
    return 0;
}

static int rule_matches(json_t *r, const apiserver_user *u, const apiserver_attrs *at)
{
    int who = list_has(json_object_get(r, "users"), u->name, 0);
    for (int i = 0; !who && i < u->n_groups; i++)
        who = list_has(json_object_get(r, "groups"), u->groups[i], 0);
    if (!who || !list_has(json_object_get(r, "verbs"), at->verb, 0))
        return 0;
    if (at->resource == NULL) /* non-resource path */
        return list_has(json_object_get(r, "nonResourceURLs"), at->path, 0);
    char full[160];
    snprintf(full, sizeof(full), "%s%s%s", at->resource,
             at->subresource && *at->subresource ? "/" : "",
             at->subresource ? at->subresource : "");
    return list_has(json_object_get(r, "apiGroups"), at->group, 1) &&
           list_has(json_object_get(r, "resources"), full, 0) &&
           list_has(json_object_get(r, "namespaces"), at->ns && *at->ns ? at->ns : "", 1);
}

static int forbidden(const apiserver_user *u, const apiserver_attrs *at, const char *why)
{
    if (at->resource == NULL)
        return porch_error_set_reason(403, "Forbidden",
                                      "forbidden: User \"%s\" cannot %s path \"%s\"%s", u->name,
                                      at->verb, at->path ? at->path : "", why);
    return porch_error_set_reason(
        403, "Forbidden",
        "%s%s%s is forbidden: User \"%s\" cannot %s resource \"%s%s%s\" in API "
        "group \"%s\"%s%s%s%s",
        at->resource, at->name && *at->name ? " \"" : "", at->name && *at->name ? at->name : "",
        u->name, at->verb, at->resource, at->subresource && *at->subresource ? "/" : "",
        at->subresource ? at->subresource : "", at->group ? at->group : "",
        at->ns && *at->ns ? " in the namespace \"" : "", at->ns && *at->ns ? at->ns : "",
        at->ns && *at->ns ? "\"" : "", why);
}

static int policy_check(apiserver_authz *a, const apiserver_user *u, const apiserver_attrs *at)
{
    size_t i;
    json_t *r;
    json_array_foreach(a->rules, i, r) if (rule_matches(r, u, at)) return 0;
    (void)forbidden(u, at, "");
    return -1;
}

/* ---- SubjectAccessReview ---- */

typedef struct buf {
    char *data;
    size_t len;
} buf;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > 1024 * 1024)
        return 0;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

static json_t *sar_body(const apiserver_user *u, const apiserver_attrs *at)
{
    json_t *groups = json_array();
    for (int i = 0; i < u->n_groups; i++)
        json_array_append_new(groups, json_string(u->groups[i]));
    json_t *spec = json_pack("{s:s, s:o}", "user", u->name, "groups", groups);
    if (u->uid[0])
        json_object_set_new(spec, "uid", json_string(u->uid));
    json_t *caller = apiserver_auth_caller(u);
    json_t *extra = json_object_get(caller, "extra");
    if (extra)
        json_object_set(spec, "extra", extra);
    json_decref(caller);
    if (at->resource == NULL)
        json_object_set_new(
            spec, "nonResourceAttributes",
            json_pack("{s:s, s:s}", "path", at->path ? at->path : "", "verb", at->verb));
    else
        json_object_set_new(spec, "resourceAttributes",
                            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "namespace",
                                      at->ns ? at->ns : "", "verb", at->verb, "group",
                                      at->group ? at->group : "", "resource", at->resource,
                                      "subresource", at->subresource ? at->subresource : "", "name",
                                      at->name ? at->name : ""));
    return json_pack("{s:s, s:s, s:o}", "apiVersion", "authorization.k8s.io/v1", "kind",
                     "SubjectAccessReview", "spec", spec);
}

/* Posts the review; 0 and *allowed, or -1 with 503 when the webhook fails. */
static int sar_post(apiserver_authz *a, json_t *review, int *allowed, char *reason, size_t cap)
{
    char url[1200];
    size_t ulen = strlen(a->webhook_url);
    snprintf(url, sizeof(url), "%s%sapis/authorization.k8s.io/v1/subjectaccessreviews",
             a->webhook_url, ulen && a->webhook_url[ulen - 1] == '/' ? "" : "/");
    char *body = json_dumps(review, JSON_COMPACT);
    CURL *c = curl_easy_init();
    if (c == NULL || body == NULL) {
        free(body);
        if (c)
            curl_easy_cleanup(c);
        return porch_error_set(500, "cannot set up the SubjectAccessReview request");
    }
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    char auth[4200];
    if (a->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->token);
        headers = curl_slist_append(headers, auth);
    }
    buf resp = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (getenv("PORCH_AUTHZ_WEBHOOK_DEBUG") != NULL) /* curl's trace on stderr */
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (a->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file);
    if (a->client_cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, a->client_cert);
    if (a->client_key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, a->client_key);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    free(body);
    int ret = 0;
    if (rc != CURLE_OK) {
        ret = porch_error_set(503, "authorization webhook %s unreachable: %s", a->webhook_url,
                              curl_easy_strerror(rc));
    } else if (status != 200 && status != 201) {
        ret = porch_error_set(503, "authorization webhook %s answered HTTP %ld", a->webhook_url,
                              status);
    } else {
        json_t *doc = resp.data ? json_loads(resp.data, 0, NULL) : NULL;
        json_t *st = json_object_get(doc, "status");
        if (!json_is_boolean(json_object_get(st, "allowed"))) {
            ret = porch_error_set(503, "authorization webhook %s: no status.allowed in its answer",
                                  a->webhook_url);
        } else {
            *allowed = json_is_true(json_object_get(st, "allowed")) &&
                       !json_is_true(json_object_get(st, "denied"));
            const char *why = json_string_value(json_object_get(st, "reason"));
            snprintf(reason, cap, "%s", why ? why : "");
        }
        json_decref(doc);
    }
    free(resp.data);
    return ret;
}

static int webhook_check(apiserver_authz *a, const apiserver_user *u, const apiserver_attrs *at)
{
    json_t *review = sar_body(u, at);
    char *key = json_dumps(json_object_get(review, "spec"), JSON_COMPACT | JSON_SORT_KEYS);
    time_t now = time(NULL);
    int cached = -1;
    size_t slot = 0;
    if (key && strlen(key) < sizeof(a->cache[0].key)) {
        unsigned long h = 5381;
        for (const char *p = key; *p; p++)
            h = h * 33 + (unsigned char)*p;
        slot = h % SAR_CACHE;
        pthread_mutex_lock(&a->mu);
        if (strcmp(a->cache[slot].key, key) == 0 && now - a->cache[slot].at < SAR_TTL_S)
            cached = a->cache[slot].allowed;
        pthread_mutex_unlock(&a->mu);
    }
    int allowed = 0;
    char reason[256] = "";
    int rc = 0;
    if (cached >= 0) {
        allowed = cached;
    } else {
        rc = sar_post(a, review, &allowed, reason, sizeof(reason));
        if (rc == 0 && key && strlen(key) < sizeof(a->cache[0].key)) {
            pthread_mutex_lock(&a->mu);
            snprintf(a->cache[slot].key, sizeof(a->cache[slot].key), "%s", key);
            a->cache[slot].allowed = allowed;
            a->cache[slot].at = now;
            pthread_mutex_unlock(&a->mu);
        }
    }
    free(key);
    json_decref(review);
    if (rc != 0)
        return -1;
    if (allowed)
        return 0;
    char why[300] = "";
    if (reason[0])
        snprintf(why, sizeof(why), ": %s", reason);
    return forbidden(u, at, why);
}

int apiserver_authz_check(apiserver_authz *a, const apiserver_user *u, const apiserver_attrs *at)
{
    if (is_master(u))
        return 0;
    if (a != NULL && a->webhook_url != NULL)
        return webhook_check(a, u, at);
    if (at->resource == NULL) /* discovery, /version, /openapi: every authenticated user */
        return 0;
    if (a != NULL && a->rules != NULL)
        return policy_check(a, u, at);
    return forbidden(u, at, "");
}
