/* Node storage for the KRM document model: a chunked arena per stream owns every
 * node and string, so a parsed package is freed in one call and allocation is a
 * pointer bump. Also the generic map/seq/scalar accessors, copy and equality. */
#include "krm_internal.h"

#include "error/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KRM_CHUNK_MIN (64 * 1024)
#define KRM_CHUNK_MAX (4 * 1024 * 1024)
#define KRM_CHUNK_MAP (1024 * 1024)

int krm_buf_put(krm_buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *d = realloc(b->data, nc);
        if (!d)
            return porch_error_set(500, "out of memory");
        b->data = d;
        b->cap = nc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void krm_buf_free(krm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void *arena_take(krm_stream *s, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    krm_chunk *c = s->chunks;
    if (!c || c->used + n > c->cap) {
        /* chunks grow with the arena (up to 4 MiB) and big ones are mapped populated:
         * one kernel call instead of a page fault per 4 KiB, which dominates on VMs */
        size_t cap = s->arena_bytes / 2;
        if (cap < KRM_CHUNK_MIN)
            cap = KRM_CHUNK_MIN;
        if (cap > KRM_CHUNK_MAX)
            cap = KRM_CHUNK_MAX;
        if (cap < n)
            cap = n;
        size_t total = sizeof *c + cap;
        bool mapped = false;
        c = NULL;
        if (total >= KRM_CHUNK_MAP) {
            total = (total + 4095) & ~(size_t)4095;
            void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            c = m == MAP_FAILED ? NULL : m;
            mapped = c != NULL;
        }
        if (!c && !(c = malloc(total)))
            return NULL;
        c->used = 0;
        c->cap = total - sizeof *c;
        c->mapped = mapped;
        c->next = s->chunks;
        s->chunks = c;
        s->arena_bytes += c->cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void *krm_alloc(krm_stream *s, size_t n)
{
    void *p = arena_take(s, n);
    if (p)
        memset(p, 0, n);
    return p;
}

char *krm_strndup(krm_stream *s, const char *p, size_t n)
{
    char *d = arena_take(s, n + 1);
    if (d) {
        if (n)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

krm_stream *krm_stream_new(void)
{
    return calloc(1, sizeof(krm_stream));
}

void krm_stream_free(krm_stream *s)
{
    if (!s)
        return;
    for (krm_chunk *c = s->chunks, *nx; c; c = nx) {
        nx = c->next;
        if (c->mapped)
            munmap(c, sizeof *c + c->cap);
        else
            free(c);
    }
    free(s->docs);
    free(s);
}

size_t krm_stream_count(const krm_stream *s)
{
    return s->ndocs;
}

krm_doc *krm_stream_doc(const krm_stream *s, size_t i)
{
    return i < s->ndocs ? s->docs[i] : NULL;
}

krm_doc *krm_stream_add_doc(krm_stream *s, krm_node *root)
{
    if (s->ndocs == s->capdocs) {
        size_t nc = s->capdocs ? s->capdocs * 2 : 8;
        krm_doc **d = realloc(s->docs, nc * sizeof *d);
        if (!d)
            return NULL;
        s->docs = d;
        s->capdocs = nc;
    }
    krm_doc *d = krm_alloc(s, sizeof *d);
    if (!d)
        return NULL;
    d->root = root;
    s->docs[s->ndocs++] = d;
    return d;
}

krm_node *krm_doc_root(const krm_doc *d)
{
    return d->root;
}
void krm_doc_set_root(krm_doc *d, krm_node *root)
{
    d->root = root;
}
krm_seqindent krm_doc_seqindent(const krm_doc *d)
{
    return (krm_seqindent)d->seqindent;
}
void krm_doc_set_seqindent(krm_doc *d, krm_seqindent si)
{
    d->seqindent = (uint8_t)si;
}
const char *krm_doc_comment(const krm_doc *d, krm_comment which)
{
    return which == KRM_COMMENT_HEAD ? d->head : which == KRM_COMMENT_FOOT ? d->foot : NULL;
}
bool krm_doc_explicit_start(const krm_doc *d)
{
    return d->explicit_start;
}

krm_node *krm_node_alloc(krm_stream *s, krm_kind kind)
{
    krm_node *n = arena_take(s, sizeof *n);
    if (n)
        *n = (krm_node){.kind = (uint8_t)kind};
    return n;
}

/* Capacity is implicit: exact for parsed arrays, else the next power of two (min 4). */
static size_t cap_of(const krm_node *c)
{
    if (c->flow & KRM_EXACT)
        return c->n;
    size_t cap = 4;
    while (cap < c->n)
        cap *= 2;
    return c->n ? cap : 0;
}

int krm_node_push(krm_stream *s, krm_node *coll, krm_node *item)
{
    if (coll->n >= UINT32_MAX / 2)
        return porch_error_set(400, "collection too large");
    if (coll->n == cap_of(coll)) {
        size_t nc = coll->n < 4 ? 4 : (size_t)coll->n * 2;
        if (coll->flow & KRM_EXACT) {
            nc = 4;
            while (nc <= coll->n)
                nc *= 2;
        }
        krm_node **it = krm_alloc(s, nc * sizeof *it);
        if (!it)
            return porch_error_set(500, "out of memory");
        if (coll->n)
            memcpy(it, coll->items, coll->n * sizeof *it);
        coll->items = it;
        coll->flow &= (uint8_t)~KRM_EXACT;
    }
    coll->items[coll->n++] = item;
    return 0;
}

krm_kind krm_node_kind(const krm_node *n)
{
    return (krm_kind)n->kind;
}
krm_style krm_node_style(const krm_node *n)
{
    return (krm_style)n->style;
}
bool krm_node_is_flow(const krm_node *n)
{
    return n->flow & 1;
}
const char *krm_node_value(const krm_node *n)
{
    return (n->kind == KRM_SCALAR || n->kind == KRM_ALIAS) && n->value ? n->value : "";
}

krm_extra *krm_node_x(krm_stream *s, krm_node *n)
{
    static _Thread_local krm_extra scratch; /* out of memory: writes go nowhere, reads stay safe */
    if (!n->x && !(n->x = krm_alloc(s, sizeof *n->x))) {
        memset(&scratch, 0, sizeof scratch);
        return &scratch;
    }
    return n->x;
}
size_t krm_node_len(const krm_node *n)
{
    return KLEN(n);
}
const char *krm_node_tag(const krm_node *n)
{
    return KX(n, tag);
}
const char *krm_node_anchor(const krm_node *n)
{
    return KX(n, anchor);
}
const krm_node *krm_node_alias_target(const krm_node *n)
{
    return KX(n, target);
}
int krm_node_line(const krm_node *n)
{
    return n->line;
}
int krm_node_column(const krm_node *n)
{
    return n->col;
}

const char *krm_node_comment(const krm_node *n, krm_comment which)
{
    return which == KRM_COMMENT_HEAD   ? KX(n, head)
           : which == KRM_COMMENT_LINE ? KX(n, line_c)
                                       : KX(n, foot);
}

int krm_node_set_comment(krm_stream *s, krm_node *n, krm_comment which, const char *text)
{
    char *t = NULL;
    if (text && *text && !(t = krm_strndup(s, text, strlen(text))))
        return porch_error_set(500, "out of memory");
    if (which == KRM_COMMENT_HEAD)
        krm_node_x(s, n)->head = t;
    else if (which == KRM_COMMENT_LINE)
        krm_node_x(s, n)->line_c = t;
    else
        krm_node_x(s, n)->foot = t;
    return 0;
}

bool krm_scalar_is_null(const krm_node *n)
{
    if (!n || n->kind != KRM_SCALAR || n->style != KRM_PLAIN)
        return false;
    const char *v = n->value ? n->value : "";
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

krm_node *krm_node_new_map(krm_stream *s)
{
    return krm_node_alloc(s, KRM_MAP);
}
krm_node *krm_node_new_seq(krm_stream *s)
{
    return krm_node_alloc(s, KRM_SEQ);
}

krm_node *krm_node_new_scalar(krm_stream *s, const char *v, size_t len, krm_style style)
{
    krm_node *n = krm_node_alloc(s, KRM_SCALAR);
    if (!n || !(n->value = krm_strndup(s, v, len)))
        return NULL;
    n->len = len;
    n->style = (uint8_t)style;
    return n;
}

krm_node *krm_node_new_string(krm_stream *s, const char *v)
{
    krm_node *n = krm_node_new_scalar(s, v, strlen(v), KRM_PLAIN);
    if (n)
        n->str = 1;
    return n;
}

int krm_scalar_set(krm_stream *s, krm_node *n, const char *v)
{
    size_t len = strlen(v);
    char *d = krm_strndup(s, v, len);
    if (!d)
        return porch_error_set(500, "out of memory");
    n->kind = KRM_SCALAR;
    n->value = d;
    n->len = (uint32_t)len;
    n->str = 1;
    return 0;
}

void krm_node_set_style(krm_node *n, krm_style style)
{
    n->style = (uint8_t)style;
}
void krm_node_set_flow(krm_node *n, bool flow)
{
    n->flow = (uint8_t)((n->flow & KRM_EXACT) | (flow ? 1 : 0));
}

static char *dup_opt(krm_stream *s, const char *p)
{
    return p ? krm_strndup(s, p, strlen(p)) : NULL;
}

krm_node *krm_node_copy(krm_stream *dst, const krm_node *n)
{
    if (!n)
        return NULL;
    krm_node *c = krm_node_alloc(dst, (krm_kind)n->kind);
    if (!c)
        return NULL;
    c->style = n->style;
    c->flow = n->flow & 1;
    c->str = n->str;
    c->line = n->line;
    c->col = n->col;
    if (n->x) {
        krm_extra *x = krm_node_x(dst, c);
        x->tag = dup_opt(dst, n->x->tag);
        x->anchor = dup_opt(dst, n->x->anchor);
        x->head = dup_opt(dst, n->x->head);
        x->line_c = dup_opt(dst, n->x->line_c);
        x->foot = dup_opt(dst, n->x->foot);
        x->target = n->x->target;
    }
    if (n->kind == KRM_SCALAR || n->kind == KRM_ALIAS) {
        if (!(c->value = krm_strndup(dst, krm_node_value(n), n->len)))
            return NULL;
        c->len = n->len;
        return c;
    }
    for (size_t i = 0; i < n->n; i++) {
        krm_node *ci = krm_node_copy(dst, n->items[i]);
        if (!ci || krm_node_push(dst, c, ci) < 0)
            return NULL;
    }
    return c;
}

/* Aliases compare by name: following them could loop (an alias may point at its own ancestor). */
static bool equal_at(const krm_node *a, const krm_node *b, int depth)
{
    if (depth > 10000)
        return false;
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->n != b->n)
        return false;
    if (a->kind == KRM_SCALAR || a->kind == KRM_ALIAS)
        return a->len == b->len &&
               !memcmp(a->value ? a->value : "", b->value ? b->value : "", a->len);
    if (a->kind == KRM_SEQ) {
        for (size_t i = 0; i < a->n; i++)
            if (!equal_at(a->items[i], b->items[i], depth + 1))
                return false;
        return true;
    }
    for (size_t i = 0; i + 1 < a->n; i += 2) {
        const krm_node *ak = a->items[i], *bk = b->items[i];
        const krm_node *bv;
        if (KLEN(ak) == KLEN(bk) && !memcmp(krm_node_value(ak), krm_node_value(bk), KLEN(ak)))
            bv = b->items[i + 1]; /* same position: also right for duplicate keys */
        else
            bv = krm_map_get(b, krm_node_value(ak));
        if (!bv || !equal_at(a->items[i + 1], bv, depth + 1))
            return false;
    }
    return true;
}

bool krm_node_equal(const krm_node *a, const krm_node *b)
{
    return equal_at(a, b, 0);
}

size_t krm_map_len(const krm_node *m)
{
    return m && m->kind == KRM_MAP ? m->n / 2 : 0;
}
krm_node *krm_map_key_at(const krm_node *m, size_t i)
{
    return i < krm_map_len(m) ? m->items[2 * i] : NULL;
}
krm_node *krm_map_value_at(const krm_node *m, size_t i)
{
    return i < krm_map_len(m) ? m->items[2 * i + 1] : NULL;
}

static long map_find(const krm_node *m, const char *key)
{
    if (!m || m->kind != KRM_MAP)
        return -1;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const krm_node *k = m->items[i];
        if (k->kind == KRM_SCALAR && k->len == kl && !memcmp(k->value, key, kl))
            return (long)i;
    }
    return -1;
}

krm_node *krm_map_get(const krm_node *m, const char *key)
{
    long i = map_find(m, key);
    return i < 0 ? NULL : m->items[i + 1];
}

int krm_map_set(krm_stream *s, krm_node *m, const char *key, krm_node *value)
{
    if (!m || m->kind != KRM_MAP)
        return porch_error_set(400, "cannot set key %s: not a mapping", key);
    long i = map_find(m, key);
    if (i >= 0) {
        krm_node *old = m->items[i + 1];
        if (old && !KX(value, line_c) && old->kind == KRM_SCALAR && value->kind == KRM_SCALAR)
            krm_node_x(s, value)->line_c = KX(old, line_c);
        m->items[i + 1] = value;
        return 0;
    }
    krm_node *k = krm_node_new_string(s, key);
    if (!k || krm_node_push(s, m, k) < 0 || krm_node_push(s, m, value) < 0)
        return porch_error_set(500, "out of memory");
    return 0;
}

int krm_map_delete(krm_node *m, const char *key)
{
    long i = map_find(m, key);
    if (i < 0)
        return 1;
    memmove(&m->items[i], &m->items[i + 2], (m->n - (size_t)i - 2) * sizeof *m->items);
    m->n -= 2;
    return 0;
}

size_t krm_seq_len(const krm_node *q)
{
    return q && q->kind == KRM_SEQ ? q->n : 0;
}
krm_node *krm_seq_at(const krm_node *q, size_t i)
{
    return i < krm_seq_len(q) ? q->items[i] : NULL;
}
int krm_seq_append(krm_stream *s, krm_node *q, krm_node *item)
{
    if (!q || q->kind != KRM_SEQ)
        return porch_error_set(400, "cannot append: not a sequence");
    return krm_node_push(s, q, item);
}
int krm_seq_delete(krm_node *q, size_t i)
{
    if (i >= krm_seq_len(q))
        return 1;
    memmove(&q->items[i], &q->items[i + 1], (q->n - i - 1) * sizeof *q->items);
    q->n--;
    return 0;
}
