/* The apiserver's watch cache: every stored kind kept in memory, sorted by
 * namespace/name, fed by the one watch pump (initial cache.list, then
 * cache.events). Each object is held as its compact JSON text and, for
 * kinds whose columns do not age, its pre-rendered Table row (selectors
 * parse the text on demand); so a 10,000-item list is string concatenation
 * under a read lock, not a bus round trip and two JSON parses. */
#include "apiserver.h"

#include "error/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct ix_entry {
    char *ns;
    char *name;
    json_t *view; /* what selectors look at */
    char *text;   /* the object, compact JSON with kind/apiVersion */
    size_t text_len;
    char *row; /* Table row JSON, or NULL when rendered per request */
    size_t row_len;
} ix_entry;

typedef struct ix_kind {
    const apiserver_kind *kind;
    ix_entry **items;
    size_t n, cap;
} ix_kind;

struct apiserver_index {
    pthread_rwlock_t lock;
    ix_kind kinds[8];
    size_t n_kinds;
    int ready;
};

int apiserver_index_new(apiserver_index **out)
{
    apiserver_index *ix = calloc(1, sizeof(*ix));
    if (ix == NULL)
        return porch_error_set(500, "out of memory");
    pthread_rwlock_init(&ix->lock, NULL);
    *out = ix;
    return 0;
}

static void entry_free(ix_entry *e)
{
    if (e == NULL)
        return;
    free(e->ns);
    free(e->name);
    json_decref(e->view);
    free(e->text);
    free(e->row);
    free(e);
}

static void kinds_clear(apiserver_index *ix)
{
    for (size_t k = 0; k < ix->n_kinds; k++) {
        for (size_t i = 0; i < ix->kinds[k].n; i++)
            entry_free(ix->kinds[k].items[i]);
        free(ix->kinds[k].items);
    }
    memset(ix->kinds, 0, sizeof(ix->kinds));
    ix->n_kinds = 0;
}

void apiserver_index_free(apiserver_index *ix)
{
    if (ix == NULL)
        return;
    kinds_clear(ix);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

void apiserver_index_reset(apiserver_index *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    kinds_clear(ix);
    ix->ready = 0;
    pthread_rwlock_unlock(&ix->lock);
}

void apiserver_index_set_ready(apiserver_index *ix)
{
    pthread_rwlock_wrlock(&ix->lock);
    ix->ready = 1;
    pthread_rwlock_unlock(&ix->lock);
}

static ix_kind *kind_slot(apiserver_index *ix, const apiserver_kind *k, int create)
{
    for (size_t i = 0; i < ix->n_kinds; i++)
        if (ix->kinds[i].kind == k)
            return &ix->kinds[i];
    if (!create || ix->n_kinds == sizeof(ix->kinds) / sizeof(ix->kinds[0]))
        return NULL;
    ix->kinds[ix->n_kinds].kind = k;
    return &ix->kinds[ix->n_kinds++];
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c != 0 ? c : strcmp(n1, n2);
}

/* First index whose key is >= (ns, name). */
static size_t lower_bound(const ix_kind *s, const char *ns, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(s->items[mid]->ns, s->items[mid]->name, ns, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int ages(const apiserver_kind *k)
{
    return k->store == APISERVER_STORE_CACHE; /* namespaces, secrets, repositories show Age */
}

void apiserver_index_apply(apiserver_index *ix, const char *type, const char *bus_kind, json_t *obj)
{
    const apiserver_kind *k = apiserver_kind_by_bus(bus_kind);
    json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (k == NULL || name == NULL)
        return;
    if (ns == NULL)
        ns = "";
    ix_entry *e = NULL;
    int deleted = type != NULL && strcmp(type, "DELETED") == 0;
    if (!deleted) {
        /* Render outside the lock; only the swap happens under it. */
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return;
        json_t *copy = json_copy(obj);
        char av[96];
        if (k->group[0])
            snprintf(av, sizeof(av), "%s/%s", k->group, k->version);
        else
            snprintf(av, sizeof(av), "%s", k->version);
        json_object_set_new(copy, "apiVersion", json_string(av));
        json_object_set_new(copy, "kind", json_string(k->kind));
        e->ns = strdup(ns);
        e->name = strdup(name);
        e->text = json_dumps(copy, JSON_COMPACT);
        e->text_len = e->text ? strlen(e->text) : 0;
        /* Kinds listed in bulk keep no parsed view: selectors parse the text. */
        e->view = ages(k) ? json_incref(copy) : NULL;
        if (!ages(k)) {
            json_t *row = apiserver_table_row(k, copy, NULL);
            e->row = json_dumps(row, JSON_COMPACT);
            e->row_len = e->row ? strlen(e->row) : 0;
            json_decref(row);
        }
        json_decref(copy);
        if (e->ns == NULL || e->name == NULL || e->text == NULL) {
            entry_free(e);
            return;
        }
    }
    pthread_rwlock_wrlock(&ix->lock);
    ix_kind *s = kind_slot(ix, k, 1);
    if (s == NULL) {
        pthread_rwlock_unlock(&ix->lock);
        entry_free(e);
        return;
    }
    size_t at = lower_bound(s, ns, name);
    int found = at < s->n && key_cmp(s->items[at]->ns, s->items[at]->name, ns, name) == 0;
    ix_entry *old = NULL;
    if (deleted) {
        if (found) {
            old = s->items[at];
            memmove(&s->items[at], &s->items[at + 1], sizeof(ix_entry *) * (s->n - at - 1));
            s->n--;
        }
    } else if (found) {
        old = s->items[at];
        s->items[at] = e;
    } else {
        if (s->n == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 64;
            ix_entry **grown = realloc(s->items, sizeof(ix_entry *) * ncap);
            if (grown == NULL) {
                pthread_rwlock_unlock(&ix->lock);
                entry_free(e);
                return;
            }
            s->items = grown;
            s->cap = ncap;
        }
        memmove(&s->items[at + 1], &s->items[at], sizeof(ix_entry *) * (s->n - at));
        s->items[at] = e;
        s->n++;
    }
    pthread_rwlock_unlock(&ix->lock);
    entry_free(old);
}

/* ---- listing ---- */

static int entry_matches(const apiserver_filter *f, const ix_entry *e)
{
    if (f->ns[0] && strcmp(e->ns, f->ns) != 0)
        return 0;
    if (apiserver_selector_empty(f->labels) && apiserver_selector_empty(f->fields))
        return 1;
    if (e->view != NULL)
        return apiserver_filter_match(f, e->view);
    json_t *obj = json_loadb(e->text, e->text_len, 0, NULL);
    int m = obj != NULL && apiserver_filter_match(f, obj);
    json_decref(obj);
    return m;
}

typedef struct sbuf {
    char *data;
    size_t len, cap;
    int oom;
} sbuf;

int apiserver_index_list(apiserver_index *ix, const apiserver_kind *k, const apiserver_filter *f,
                         long limit, const char *cont, int table, const char *rv,
                         apiserver_index_out *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&ix->lock);
    if (!ix->ready) {
        pthread_rwlock_unlock(&ix->lock);
        return porch_error_set(503, "the watch cache is not ready");
    }
    ix_kind *s = kind_slot(ix, k, 0);
    size_t n = s ? s->n : 0;
    size_t at = 0;
    char after_ns[64] = "", after_name[APISERVER_NAME_MAX] = "";
    if (cont != NULL && *cont) {
        const char *slash = strchr(cont, '/');
        if (slash == NULL || (size_t)(slash - cont) >= sizeof(after_ns)) {
            pthread_rwlock_unlock(&ix->lock);
            return porch_error_set(400, "invalid continue token \"%.100s\"", cont);
        }
        memcpy(after_ns, cont, (size_t)(slash - cont));
        snprintf(after_name, sizeof(after_name), "%s", slash + 1);
    }
    if (s != NULL) {
        if (after_ns[0] || after_name[0]) {
            at = lower_bound(s, after_ns, after_name);
            if (at < n && key_cmp(s->items[at]->ns, s->items[at]->name, after_ns, after_name) == 0)
                at++;
        }
        if (f->ns[0] && (at >= n || strcmp(s->items[at]->ns, f->ns) < 0))
            at = lower_bound(s, f->ns, "");
    }
    sbuf b = {NULL, 0, 0, 0};
    int want_rows = table && !ages(k);
    size_t count = 0, bytes = 0, end = at;
    char next[400] = "";
    /* Pass 1 finds the matching range and its exact size, pass 2 copies once. */
    for (size_t i = at; s != NULL && i < n; i++) {
        ix_entry *e = s->items[i];
        if (f->ns[0] && strcmp(e->ns, f->ns) != 0)
            break;
        if (!entry_matches(f, e))
            continue;
        if (limit > 0 && (long)count == limit) {
            break;
        }
        count++;
        bytes += (want_rows ? e->row_len : e->text_len) + 1;
        end = i + 1;
    }
    if (limit > 0 && (long)count == limit && end < n && s != NULL) {
        /* more may follow: the token names the last item returned */
        for (size_t i = end; i < n; i++) {
            ix_entry *e = s->items[i];
            if (f->ns[0] && strcmp(e->ns, f->ns) != 0)
                break;
            if (entry_matches(f, e)) {
                snprintf(next, sizeof(next), "%s/%s", s->items[end - 1]->ns,
                         s->items[end - 1]->name);
                break;
            }
        }
    }
    b.cap = bytes + 1;
    b.data = malloc(b.cap);
    b.oom = b.data == NULL;
    if (b.data)
        b.data[0] = '\0';
    size_t copied = 0;
    for (size_t i = at; !b.oom && s != NULL && i < end; i++) {
        ix_entry *e = s->items[i];
        if (f->ns[0] && strcmp(e->ns, f->ns) != 0)
            break;
        if (!entry_matches(f, e))
            continue;
        if (copied++ > 0)
            b.data[b.len++] = ',';
        const char *src = want_rows ? e->row : e->text;
        size_t len = want_rows ? e->row_len : e->text_len;
        memcpy(b.data + b.len, src, len);
        b.len += len;
    }
    if (b.data)
        b.data[b.len] = '\0';
    pthread_rwlock_unlock(&ix->lock);
    if (b.oom) {
        free(b.data);
        return porch_error_set(500, "out of memory rendering the list");
    }
    json_t *doc;
    char av[96];
    if (k->group[0])
        snprintf(av, sizeof(av), "%s/%s", k->group, k->version);
    else
        snprintf(av, sizeof(av), "%s", k->version);
    if (table) {
        json_t *empty = json_array();
        doc = apiserver_table_new(k, empty, NULL);
        json_decref(empty);
    } else {
        doc = json_pack("{s:s, s:s, s:{}}", "kind", k->list_kind, "apiVersion", av, "metadata");
    }
    json_t *meta = json_object_get(doc, "metadata");
    json_object_set_new(meta, "resourceVersion", json_string(rv));
    if (next[0])
        json_object_set_new(meta, "continue", json_string(next));
    if (table && !want_rows) {
        /* Kinds with an Age column: render the rows now, from the objects. */
        size_t wl = b.len + 3;
        char *wrapped = malloc(wl);
        if (wrapped) {
            snprintf(wrapped, wl, "[%s]", b.data ? b.data : "");
            json_t *arr = json_loads(wrapped, 0, NULL);
            free(wrapped);
            json_decref(doc);
            doc = apiserver_table_new(k, arr ? arr : json_array(), NULL);
            json_decref(arr);
            meta = json_object_get(doc, "metadata");
            json_object_set_new(meta, "resourceVersion", json_string(rv));
            if (next[0])
                json_object_set_new(meta, "continue", json_string(next));
        }
        free(b.data);
        out->whole = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        return out->whole ? 0 : porch_error_set(500, "cannot render the table");
    }
    json_object_set_new(doc, table ? "rows" : "items", json_array());
    char *head = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    size_t hl = head ? strlen(head) : 0;
    if (hl < 3 || strcmp(head + hl - 3, "[]}") != 0) {
        free(head);
        free(b.data);
        return porch_error_set(500, "internal: cannot render the list");
    }
    head[hl - 2] = '\0'; /* keep the "[" */
    out->head = head;
    out->body = b.data;
    out->body_len = b.len;
    out->tail = "]}";
    return 0;
}

void apiserver_index_out_clear(apiserver_index_out *out)
{
    free(out->head);
    free(out->body);
    free(out->whole);
    memset(out, 0, sizeof(*out));
}

int apiserver_index_ready(apiserver_index *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    int r = ix->ready;
    pthread_rwlock_unlock(&ix->lock);
    return r;
}
