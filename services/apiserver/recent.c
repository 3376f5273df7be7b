/* The API server's recent objects (see recent.h): compact JSON in an
 * lru_cache under "ns\x1fname" keys. */
#include "recent.h"
#include "lru/lru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct apiserver_recent {
    lru_cache *lru;
};

apiserver_recent *apiserver_recent_new(size_t max_bytes)
{
    apiserver_recent *r = calloc(1, sizeof *r);
    if (r && !(r->lru = lru_new(max_bytes))) {
        free(r);
        r = NULL;
    }
    return r;
}

void apiserver_recent_free(apiserver_recent *r)
{
    if (!r)
        return;
    lru_free(r->lru);
    free(r);
}

/* 0 with the key in buf; -1 for a part missing or holding the separator. */
static int make_key(char *buf, size_t len, const char *ns, const char *name)
{
    if (!ns || !*ns || !name || !*name || strchr(ns, '\x1f') || strchr(name, '\x1f'))
        return -1;
    int n = snprintf(buf, len, "%s\x1f%s", ns, name);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static const char *meta_string(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

void apiserver_recent_put(apiserver_recent *r, const char *ns, json_t *obj)
{
    char key[600];
    const char *rv = meta_string(obj, "resourceVersion");
    if (!r || !rv || !*rv || make_key(key, sizeof key, ns, meta_string(obj, "name")) != 0)
        return;
    char *text = json_dumps(obj, JSON_COMPACT);
    if (text)
        lru_put(r->lru, key, text, strlen(text));
    free(text);
}

int apiserver_recent_get(apiserver_recent *r, const char *ns, const char *name, const char *want_rv,
                         json_t **out)
{
    *out = NULL;
    char key[600], *text = NULL;
    size_t len = 0;
    if (!r || make_key(key, sizeof key, ns, name) != 0 || !lru_get(r->lru, key, &text, &len))
        return 0;
    json_t *obj = json_loadb(text, len, 0, NULL);
    free(text);
    const char *rv = meta_string(obj, "resourceVersion");
    if (!obj || (want_rv && (!rv || strcmp(rv, want_rv) != 0))) {
        json_decref(obj);
        return 0;
    }
    *out = obj;
    return 1;
}

void apiserver_recent_forget(apiserver_recent *r, const char *ns, const char *name)
{
    char key[600];
    if (r && make_key(key, sizeof key, ns, name) == 0)
        lru_remove(r->lru, key);
}
