/* Who is calling, as data: a client certificate subject (CN is the user,
 * each O a group, as in Kubernetes; O=system:masters is the admin), the
 * kube-apiserver style bearer-token CSV file, and the bus `caller` object
 * every request carries to the engine and the cache. */
#include "apiserver.h"

#include "error/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies one "KEY=value" component value into dst (truncating safely). */
static void copy_value(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

int apiserver_auth_from_subject(const char *subject, apiserver_user *out)
{
    memset(out, 0, sizeof(*out));
    if (subject == NULL)
        return porch_error_set(401, "no client certificate subject");
    const char *p = subject;
    while (*p != '\0') {
        if (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 3 && strncmp(p, "CN=", 3) == 0) {
            copy_value(out->name, sizeof(out->name), p + 3, len - 3);
        } else if (len > 2 && strncmp(p, "O=", 2) == 0) {
            apiserver_auth_add_group(out, p + 2, len - 2);
        }
        p += len;
    }
    if (out->name[0] == '\0')
        return porch_error_set(401, "client certificate subject '%s' has no CN (the user name)",
                               subject);
    return 0;
}

void apiserver_auth_add_group(apiserver_user *user, const char *group, size_t len)
{
    char g[128];
    copy_value(g, sizeof(g), group, len);
    if (g[0] == '\0' || user->n_groups >= APISERVER_MAX_GROUPS)
        return;
    for (int i = 0; i < user->n_groups; i++)
        if (strcmp(user->groups[i], g) == 0)
            return;
    strcpy(user->groups[user->n_groups++], g);
}

json_t *apiserver_auth_caller(const apiserver_user *user)
{
    json_t *groups = json_array();
    int has_auth = 0;
    for (int i = 0; i < user->n_groups; i++) {
        json_array_append_new(groups, json_string(user->groups[i]));
        has_auth |= strcmp(user->groups[i], "system:authenticated") == 0;
    }
    if (!has_auth)
        json_array_append_new(groups, json_string("system:authenticated"));
    json_t *caller = json_pack("{s:s, s:o}", "user", user->name, "groups", groups);
    if (user->n_extra > 0) {
        json_t *extra = json_object();
        for (int i = 0; i < user->n_extra; i++) {
            json_t *arr = json_object_get(extra, user->extra_keys[i]);
            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(extra, user->extra_keys[i], arr);
            }
            json_array_append_new(arr, json_string(user->extra_values[i]));
        }
        json_object_set_new(caller, "extra", extra);
    }
    return caller;
}

/* ---- bearer tokens ---- */

typedef struct token_entry {
    char *token;
    apiserver_user user;
} token_entry;

struct apiserver_tokens {
    token_entry *entries;
    size_t n;
};

/* Splits one CSV line (with "quoted, fields") into at most `max` fields in place. */
static int csv_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            start = out = p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *out++ = *p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',')
                out = ++p;
        }
        char next = *p;
        *out = '\0';
        fields[n++] = start;
        if (next != ',')
            break;
        p++;
    }
    return n;
}

int apiserver_tokens_load(const char *path, apiserver_tokens **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return porch_error_set(400, "cannot read --token-auth-file %s", path);
    apiserver_tokens *t = calloc(1, sizeof(*t));
    char line[4096];
    int lineno = 0;
    while (t && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *fields[4] = {NULL, NULL, NULL, NULL};
        int n = csv_fields(line, fields, 4);
        if (n < 3 || fields[0][0] == '\0' || fields[1][0] == '\0') {
            fclose(f);
            apiserver_tokens_free(t);
            return porch_error_set(400,
                                   "--token-auth-file %s line %d: want token,user,uid[,\"groups\"]",
                                   path, lineno);
        }
        token_entry *grown = realloc(t->entries, sizeof(token_entry) * (t->n + 1));
        if (grown == NULL)
            break;
        t->entries = grown;
        token_entry *e = &t->entries[t->n++];
        memset(e, 0, sizeof(*e));
        e->token = strdup(fields[0]);
        copy_value(e->user.name, sizeof(e->user.name), fields[1], strlen(fields[1]));
        copy_value(e->user.uid, sizeof(e->user.uid), fields[2], strlen(fields[2]));
        for (char *g = n > 3 ? fields[3] : NULL; g && *g;) {
            size_t len = strcspn(g, ",");
            apiserver_auth_add_group(&e->user, g, len);
            g += len;
            if (*g == ',')
                g++;
        }
        e->user.method = "token";
    }
    fclose(f);
    if (t == NULL)
        return porch_error_set(500, "out of memory");
    *out = t;
    return 0;
}

void apiserver_tokens_free(apiserver_tokens *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        OPENSSL_cleanse(t->entries[i].token, strlen(t->entries[i].token));
        free(t->entries[i].token);
    }
    free(t->entries);
    free(t);
}

int apiserver_tokens_lookup(const apiserver_tokens *t, const char *token, apiserver_user *out)
{
    size_t len = token ? strlen(token) : 0;
    int found = -1;
    for (size_t i = 0; t != NULL && len > 0 && i < t->n; i++) {
        const char *want = t->entries[i].token;
        /* Every entry is compared in full, so timing does not reveal which matched. */
        if (strlen(want) == len && CRYPTO_memcmp(want, token, len) == 0)
            found = (int)i;
    }
    if (found < 0)
        return porch_error_set(401, "Unauthorized: the bearer token is not valid");
    *out = t->entries[found].user;
    return 0;
}
