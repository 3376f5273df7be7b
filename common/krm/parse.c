/* YAML stream → node tree, on libyaml's event parser. libyaml drops comments,
 * so every gap between events is scanned for them in the source text, and the
 * comments are then attached (head / line / foot) with the placement rules of
 * go-yaml v3, which is what kpt users see. Limits keep hostile input bounded. */
#include "krm_internal.h"

#include "error/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct cmt {
    size_t off;
    int line, col; /* 1-based */
    bool trailing;
    const char *text;
    size_t len;
} cmt;

/* Where a scalar, alias or flow collection ends: line comments attach to the
 * last one ending on their line. Recorded in event order (sorted by position). */
typedef struct tgt {
    int line, ecol;
    krm_node *node;
} tgt;

typedef struct anchor_ref {
    const char *name;
    krm_node *node;
    size_t weight; /* nodes reachable from the anchored node, aliases expanded */
} anchor_ref;

typedef struct frame {
    krm_node *node;
    size_t weight;
    size_t kids0; /* where this collection's children start in pctx.kids */
} frame;

typedef struct pctx {
    const char *src;
    size_t len;
    const char *name;
    krm_limits lim;
    krm_stream *s;
    size_t *lines; /* byte offset of each line start */
    size_t nlines, caplines;
    size_t cur_line, cur_col, cur_off; /* mark → offset cache */
    cmt *cm;
    size_t ncm, capcm;
    anchor_ref *anchors;
    size_t nanchors, capanchors;
    size_t alias_total;
    frame *stack;
    size_t depth, capstack;
    krm_node **kids; /* children of the open collections, copied out exact-size at their end */
    size_t nkids, capkids;
    tgt last;                 /* the latest scalar / alias / flow collection end */
    krm_doc *doc;             /* the document being read */
    size_t doc_text_start;    /* where its text starts (seq indentation detection) */
    size_t comment_doc_start; /* first comment after the previous document's end */
    size_t *cbounds;          /* first comment index of each document */
    size_t ncb, capcb;
    size_t *ahash; /* anchor name → 1 + index of its latest definition */
    size_t ahcap;
    struct intern {
        char *str;
        uint32_t len, hash;
    } * itab; /* short scalar texts are shared: keys and values repeat a lot in KRM */
    size_t icap, icount;
    int flow_depth;
} pctx;

static size_t brk_len(const char *s, size_t i, size_t n)
{
    unsigned char c = (unsigned char)s[i];
    if (c == '\n')
        return 1;
    if (c == '\r')
        return i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
    if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
        return 2;
    if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

static int add_line(pctx *p, size_t start)
{
    if (p->nlines == p->caplines) {
        p->caplines *= 2;
        size_t *nl = realloc(p->lines, p->caplines * sizeof *nl);
        if (!nl)
            return -1;
        p->lines = nl;
    }
    p->lines[p->nlines++] = start;
    return 0;
}

static int build_lines(pctx *p)
{
    p->caplines = 1024 + p->len / 32;
    p->lines = malloc(p->caplines * sizeof *p->lines);
    if (!p->lines)
        return -1;
    p->lines[p->nlines++] = 0;
    bool simple = !memchr(p->src, '\r', p->len) && !memchr(p->src, 0xC2, p->len) &&
                  !memchr(p->src, 0xE2, p->len);
    if (simple) { /* only '\n' breaks lines: let memchr find them */
        for (const char *q = p->src, *end = p->src + p->len;
             (q = memchr(q, '\n', (size_t)(end - q)));)
            if (add_line(p, (size_t)(++q - p->src)) < 0)
                return -1;
        return 0;
    }
    for (size_t i = 0; i < p->len;) {
        unsigned char c = (unsigned char)p->src[i];
        size_t b =
            (c == '\n' || c == '\r' || c == 0xC2 || c == 0xE2) ? brk_len(p->src, i, p->len) : 0;
        if (!b) {
            i++;
            continue;
        }
        i += b;
        if (add_line(p, i) < 0)
            return -1;
    }
    return 0;
}

static size_t line_end(const pctx *p, size_t line0)
{
    size_t e = line0 + 1 < p->nlines ? p->lines[line0 + 1] : p->len;
    while (e > p->lines[line0] && (p->src[e - 1] == '\n' || p->src[e - 1] == '\r'))
        e--;
    return e;
}

/* Byte offset of a libyaml mark (its column counts characters). */
static size_t mark_off(pctx *p, const yaml_mark_t *m)
{
    size_t line = m->line, col = m->column;
    if (line >= p->nlines)
        return p->len;
    size_t off, c;
    if (line == p->cur_line && col >= p->cur_col) {
        off = p->cur_off;
        c = p->cur_col;
    } else {
        off = p->lines[line];
        c = 0;
    }
    while (c < col && off < p->len) {
        unsigned char ch = (unsigned char)p->src[off];
        if (ch == '\r' && off + 1 < p->len && p->src[off + 1] == '\n') {
            off += 2;
            c += 2;
            continue;
        }
        off += (ch & 0x80) == 0 ? 1 : (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : 4;
        c++;
    }
    if (off > p->len)
        off = p->len;
    p->cur_line = line;
    p->cur_col = c;
    p->cur_off = off;
    return off;
}

static size_t line_of(const pctx *p, size_t off)
{
    size_t lo = 0, hi = p->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int char_col(const pctx *p, size_t line0, size_t off)
{
    int c = 0;
    for (size_t i = p->lines[line0]; i < off; i++)
        if (((unsigned char)p->src[i] & 0xC0) != 0x80)
            c++;
    return c;
}

static int add_comment(pctx *p, size_t at)
{
    size_t line0 = line_of(p, at);
    size_t e = at;
    while (e < p->len && !brk_len(p->src, e, p->len))
        e++; /* libyaml also breaks lines at NEL, LS and PS */
    if (p->ncm == p->capcm) {
        size_t nc = p->capcm ? p->capcm * 2 : 64;
        cmt *n = realloc(p->cm, nc * sizeof *n);
        if (!n)
            return porch_error_set(500, "out of memory");
        p->cm = n;
        p->capcm = nc;
    }
    cmt *c = &p->cm[p->ncm++];
    c->off = at;
    c->line = (int)line0 + 1;
    c->col = char_col(p, line0, at) + 1;
    c->trailing = false;
    for (size_t i = p->lines[line0]; i < at; i++)
        if (p->src[i] != ' ' && p->src[i] != '\t')
            c->trailing = true;
    c->text = p->src + at;
    c->len = e - at;
    if (c->trailing && p->last.node && p->last.line == c->line && p->last.ecol <= c->col) {
        /* a line comment: everything it can belong to has been parsed already */
        size_t l = c->len;
        while (l > 0 && c->text[l - 1] == '\r')
            l--;
        char **slot = &krm_node_x(p->s, p->last.node)->line_c;
        size_t ol = *slot ? strlen(*slot) : 0;
        char *r = krm_alloc(p->s, ol + l + 2);
        if (!r)
            return porch_error_set(500, "out of memory");
        if (ol) {
            memcpy(r, *slot, ol);
            r[ol++] = '\n';
        }
        memcpy(r + ol, c->text, l);
        *slot = r;
        p->ncm--;
    }
    return 0;
}

/* Finds comments in [from, to): text between events holds only indicators,
 * whitespace and comments. */
static int scan_gap(pctx *p, size_t from, size_t to)
{
    if (to > p->len)
        to = p->len;
    for (size_t i = from; i < to; i++) {
        const char *h = memchr(p->src + i, '#', to - i);
        if (!h)
            break;
        i = (size_t)(h - p->src);
        if (i > 0 && p->src[i - 1] != ' ' && p->src[i - 1] != '\t' && p->src[i - 1] != '\n' &&
            p->src[i - 1] != '\r')
            continue;
        if (add_comment(p, i) < 0)
            return -1;
        while (i < to && !brk_len(p->src, i, p->len))
            i++;
    }
    return 0;
}

/* The comment after a block scalar header ("key: |  # note"). */
static int scan_block_header(pctx *p, size_t start)
{
    size_t line0 = line_of(p, start), e = line_end(p, line0);
    for (size_t i = start; i < e; i++)
        if (p->src[i] == '#' && i > start && (p->src[i - 1] == ' ' || p->src[i - 1] == '\t'))
            return add_comment(p, i);
    return 0;
}

static char *short_tag(krm_stream *s, const char *tag)
{
    static const char pfx[] = "tag:yaml.org,2002:";
    if (!tag)
        return NULL;
    if (!strncmp(tag, pfx, sizeof pfx - 1)) {
        size_t n = strlen(tag + sizeof pfx - 1);
        char *t = krm_alloc(s, n + 3);
        if (t) {
            t[0] = t[1] = '!';
            memcpy(t + 2, tag + sizeof pfx - 1, n);
        }
        return t;
    }
    return krm_strndup(s, tag, strlen(tag));
}

static int push_frame(pctx *p, krm_node *n)
{
    if (p->depth >= p->lim.max_depth)
        return porch_error_set(400, "%s:%d:%d: nesting deeper than %zu levels", p->name, n->line,
                               n->col, p->lim.max_depth);
    if (p->depth == p->capstack) {
        size_t nc = p->capstack ? p->capstack * 2 : 32;
        frame *f = realloc(p->stack, nc * sizeof *f);
        if (!f)
            return porch_error_set(500, "out of memory");
        p->stack = f;
        p->capstack = nc;
    }
    p->stack[p->depth].node = n;
    p->stack[p->depth].weight = 1;
    p->stack[p->depth].kids0 = p->nkids;
    p->depth++;
    return 0;
}

static size_t name_hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The index slot for `name` in the anchor hash (0 when free). */
static size_t *anchor_slot(pctx *p, const char *name)
{
    size_t j = name_hash(name) & (p->ahcap - 1);
    while (p->ahash[j] && strcmp(p->anchors[p->ahash[j] - 1].name, name))
        j = (j + 1) & (p->ahcap - 1);
    return &p->ahash[j];
}

static int add_anchor(pctx *p, const char *name, krm_node *n)
{
    if (p->nanchors == p->capanchors) {
        size_t nc = p->capanchors ? p->capanchors * 2 : 16;
        anchor_ref *a = realloc(p->anchors, nc * sizeof *a);
        if (!a)
            return porch_error_set(500, "out of memory");
        p->anchors = a;
        p->capanchors = nc;
    }
    p->anchors[p->nanchors].name = name;
    p->anchors[p->nanchors].node = n;
    p->anchors[p->nanchors].weight = 1;
    p->nanchors++;
    if (p->nanchors * 2 > p->ahcap) { /* rebuild the name index, twice as large */
        size_t nc = p->ahcap ? p->ahcap * 2 : 64;
        size_t *h = calloc(nc, sizeof *h);
        if (!h)
            return porch_error_set(500, "out of memory");
        free(p->ahash);
        p->ahash = h;
        p->ahcap = nc;
        for (size_t i = 0; i < p->nanchors; i++)
            *anchor_slot(p, p->anchors[i].name) = i + 1;
        return 0;
    }
    *anchor_slot(p, name) = p->nanchors;
    return 0;
}

/* The latest definition of an anchor, or NULL. */
static anchor_ref *find_anchor(pctx *p, const char *name)
{
    if (!p->ahcap)
        return NULL;
    size_t i = *anchor_slot(p, name);
    return i ? &p->anchors[i - 1] : NULL;
}

static int attach(pctx *p, krm_doc *doc, krm_node *n, size_t w)
{
    if (p->depth == 0) {
        doc->root = n;
        return 0;
    }
    frame *f = &p->stack[p->depth - 1];
    f->weight = f->weight + w > f->weight ? f->weight + w : SIZE_MAX / 2;
    if (p->nkids == p->capkids) {
        size_t nc = p->capkids ? p->capkids * 2 : 256;
        krm_node **k = realloc(p->kids, nc * sizeof *k);
        if (!k)
            return porch_error_set(500, "out of memory");
        p->kids = k;
        p->capkids = nc;
    }
    p->kids[p->nkids++] = n;
    return 0;
}

/* Moves the children of the collection ending now into an exact-size array. */
static int close_frame(pctx *p, frame *f)
{
    size_t n = p->nkids - f->kids0;
    if (n > UINT32_MAX / 2)
        return porch_error_set(400, "%s: collection too large", p->name);
    if (n) {
        krm_node **it = krm_alloc(p->s, n * sizeof *it);
        if (!it)
            return porch_error_set(500, "out of memory");
        memcpy(it, p->kids + f->kids0, n * sizeof *it);
        f->node->items = it;
    }
    f->node->n = (uint32_t)n;
    f->node->flow |= KRM_EXACT;
    p->nkids = f->kids0;
    return 0;
}

static void set_pos(krm_node *n, const yaml_event_t *e)
{
    n->line = (int)e->start_mark.line + 1;
    n->col = (int)e->start_mark.column + 1;
}

#define INTERN_MAX 40

static char *intern(pctx *p, const char *v, size_t len)
{
    if (len > INTERN_MAX)
        return krm_strndup(p->s, v, len);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)v[i]) * 16777619u;
    if (p->icount * 2 >= p->icap) {
        size_t nc = p->icap ? p->icap * 2 : 4096;
        struct intern *nt = calloc(nc, sizeof *nt);
        if (!nt)
            return krm_strndup(p->s, v, len);
        for (size_t i = 0; i < p->icap; i++) {
            if (!p->itab[i].str)
                continue;
            size_t j = p->itab[i].hash & (nc - 1);
            while (nt[j].str)
                j = (j + 1) & (nc - 1);
            nt[j] = p->itab[i];
        }
        free(p->itab);
        p->itab = nt;
        p->icap = nc;
    }
    size_t j = h & (p->icap - 1);
    while (p->itab[j].str) {
        if (p->itab[j].hash == h && p->itab[j].len == len && !memcmp(p->itab[j].str, v, len))
            return p->itab[j].str;
        j = (j + 1) & (p->icap - 1);
    }
    char *d = krm_strndup(p->s, v, len);
    if (d) {
        p->itab[j] = (struct intern){d, (uint32_t)len, h};
        p->icount++;
    }
    return d;
}

static int add_tgt(pctx *p, const yaml_mark_t *end, krm_node *n)
{
    p->last = (tgt){(int)end->line + 1, (int)end->column + 1, n};
    return 0;
}

static int parse_error(pctx *p, yaml_parser_t *yp)
{
    const char *problem = yp->problem ? yp->problem : "invalid YAML";
    if (yp->context)
        return porch_error_set(400, "%s:%zu:%zu: %s %s", p->name, yp->problem_mark.line + 1,
                               yp->problem_mark.column + 1, yp->context, problem);
    return porch_error_set(400, "%s:%zu:%zu: %s", p->name, yp->problem_mark.line + 1,
                           yp->problem_mark.column + 1, problem);
}

/* ---- seq indentation (kyaml: the first "- " line below a "key:" line) ---- */
static krm_seqindent detect_seqindent(const char *s, size_t n)
{
    size_t prev_start = SIZE_MAX, i = 0;
    while (i < n) {
        size_t ls = i;
        while (i < n && s[i] != '\n')
            i++;
        size_t le = i;
        if (i < n)
            i++;
        size_t sp = ls;
        while (sp < le && s[sp] == ' ')
            sp++;
        if (sp + 1 < le + 1 && sp < le && s[sp] == '-' && (sp + 1 < le && s[sp + 1] == ' ') &&
            prev_start != SIZE_MAX) {
            size_t ks = prev_start, ke = ls ? ls - 1 : 0;
            while (ke > ks && (s[ke - 1] == '\r'))
                ke--;
            size_t kp = ks;
            while (kp < ke && s[kp] == ' ')
                kp++;
            size_t te = ke;
            while (te > kp && s[te - 1] == ' ')
                te--;
            size_t colons = 0;
            for (size_t k = kp; k < te; k++)
                colons += s[k] == ':';
            if (colons == 1 && te > kp && s[te - 1] == ':')
                return (kp - ks) + 2 == sp - ls ? KRM_SEQ_WIDE : KRM_SEQ_COMPACT;
        }
        prev_start = ls;
    }
    return KRM_SEQ_COMPACT;
}

/* ---- comment attachment ---- */
typedef struct ent {
    int line, col;
    krm_node *owner; /* key node of a map entry, or the item of a sequence */
    krm_node *item;  /* sequence item (for "- # comment" lines) or NULL */
    int parent;
} ent;

typedef struct actx {
    pctx *p;
    ent *e;
    size_t ne, cape;
} actx;

static int add_ent(actx *a, int line, int col, krm_node *owner, krm_node *item, int parent)
{
    if (a->ne == a->cape) {
        size_t nc = a->cape ? a->cape * 2 : 64;
        ent *n = realloc(a->e, nc * sizeof *n);
        if (!n)
            return -1;
        a->e = n;
        a->cape = nc;
    }
    a->e[a->ne] = (ent){line, col, owner, item, parent};
    return (int)a->ne++;
}

static int walk(actx *a, krm_node *n, int parent, int depth)
{
    if (depth > 10000)
        return 0;
    if (n->kind == KRM_MAP) {
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            krm_node *k = n->items[i], *v = n->items[i + 1];
            int e = add_ent(a, k->line, k->col, k, NULL, parent);
            if (e < 0)
                return -1;
            if (walk(a, v, e, depth + 1) < 0)
                return -1;
        }
    } else if (n->kind == KRM_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            krm_node *it = n->items[i];
            /* a block item sits at its dash (the sequence's column), a flow one where it starts */
            int e = add_ent(a, it->line, n->flow & 1 ? it->col : n->col, it, it, parent);
            if (e < 0)
                return -1;
            if (walk(a, it, e, depth + 1) < 0)
                return -1;
        }
    }
    return 0;
}

static char *join_comment(krm_stream *s, const char *old, const char *add, size_t addlen)
{
    size_t ol = old ? strlen(old) : 0;
    char *r = krm_alloc(s, ol + addlen + 2);
    if (!r)
        return NULL;
    if (ol) {
        memcpy(r, old, ol);
        r[ol++] = '\n';
    }
    memcpy(r + ol, add, addlen);
    return r;
}

/* Accumulated comment text of one segment. */
typedef struct acc {
    krm_buf b;
    int col, start_line, last_line;
    bool any;
} acc;

static void acc_add(acc *c, const cmt *m, bool blank_before)
{
    if (!c->any) {
        c->col = m->col;
        c->start_line = m->line;
    } else {
        krm_buf_put(&c->b, blank_before ? "\n\n" : "\n", blank_before ? 2 : 1);
    }
    size_t l = m->len;
    while (l > 0 && (m->text[l - 1] == '\r'))
        l--;
    krm_buf_put(&c->b, m->text, l);
    c->last_line = m->line;
    c->any = true;
}

static int add_to(krm_stream *s, char **slot, acc *c)
{
    char *r = join_comment(s, *slot, c->b.data, c->b.len);
    if (!r)
        return porch_error_set(500, "out of memory");
    *slot = r;
    c->b.len = 0;
    c->any = false;
    return 0;
}

/* Foot by position: the open entry (prev and its ancestors) at the comment's column. */
static krm_node *foot_owner_pos(actx *a, int prev, int col, int next)
{
    for (int i = prev; i >= 0; i = a->e[i].parent)
        if (a->e[i].col == col)
            return a->e[i].owner;
    if (next >= 0 && next < (int)a->ne) {
        int np = a->e[next].parent;
        for (int i = prev; i >= 0; i = a->e[i].parent)
            if (a->e[i].parent == np)
                return a->e[i].owner;
    }
    for (int i = prev; i >= 0; i = a->e[i].parent)
        if (a->e[i].col <= col)
            return a->e[i].owner;
    return prev >= 0 ? a->e[prev].owner : NULL;
}

static bool line_blank(const pctx *p, int line1)
{
    if (line1 < 1 || (size_t)line1 > p->nlines)
        return true;
    size_t s = p->lines[line1 - 1], e = line_end(p, (size_t)line1 - 1);
    for (size_t i = s; i < e; i++)
        if (p->src[i] != ' ' && p->src[i] != '\t')
            return false;
    return true;
}

static bool line_is_comment(const pctx *p, int line1)
{
    if (line1 < 1 || (size_t)line1 > p->nlines)
        return false;
    size_t s = p->lines[line1 - 1], e = line_end(p, (size_t)line1 - 1);
    while (s < e && (p->src[s] == ' ' || p->src[s] == '\t'))
        s++;
    return s < e && p->src[s] == '#';
}

static int first_ent_after_line(actx *a, int line)
{
    size_t lo = 0, hi = a->ne;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->e[mid].line <= line)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)lo;
}

/* Whether comment m follows a sequence dash on its line ("- # comment"). */
static bool after_dash(const pctx *p, const cmt *m)
{
    size_t ls = p->lines[m->line - 1];
    while (ls < m->off && p->src[ls] == ' ')
        ls++;
    return ls + 1 < m->off && p->src[ls] == '-' &&
           (p->src[ls + 1] == ' ' || p->src[ls + 1] == '\t');
}

/* "- # a" starts an item's head comment; the full-line comments that follow
 * it on the next lines at the same column, up to the item's first key
 * ("- # a\n  # b\n  key: v"), continue it, as go-yaml reads them. Returns
 * how many comments from m on form that head (1 when m stands alone). */
static size_t dash_head_len(actx *a, const cmt *m, size_t avail)
{
    if (!after_dash(a->p, m))
        return 1;
    size_t n = 1;
    while (n < avail && !m[n].trailing && m[n].line == m[n - 1].line + 1 && m[n].col == m->col)
        n++;
    if (n == 1)
        return 1;
    int nx = first_ent_after_line(a, m->line - 1);
    if (nx >= (int)a->ne || a->e[nx].line != m[n - 1].line + 1)
        return 1;
    return n;
}

/* A comment on a line that holds content: only "- # comment" ones are left
 * here (line comments went to their node while parsing); m[0..n) is the
 * head that follows the dash. */
static int attach_trailing(actx *a, krm_doc *doc, const cmt *m, size_t n)
{
    krm_stream *s = a->p->s;
    acc c = {0};
    for (size_t i = 0; i < n; i++)
        acc_add(&c, &m[i], false);
    int rc = 0;
    {
        /* "- # comment": a head for what follows the dash */
        if (after_dash(a->p, m)) {
            int nx = first_ent_after_line(a, m->line - 1);
            if (nx < (int)a->ne) {
                ent *e = &a->e[nx];
                if (e->item && e->item->kind == KRM_MAP && nx + 1 < (int)a->ne)
                    rc = add_to(s, &krm_node_x(s, a->e[nx + 1].owner)->head, &c);
                else
                    rc = add_to(s, &krm_node_x(s, e->owner)->head, &c);
            }
        }
        (void)doc;
    }
    krm_buf_free(&c.b);
    return rc;
}

/* A run of full-line comments between the same two entries. */
static int attach_block(actx *a, krm_doc *doc, const cmt *b, size_t nb, bool at_eof)
{
    pctx *p = a->p;
    krm_stream *s = p->s;
    int next = first_ent_after_line(a, b[0].line);
    int prev = next - 1;
    acc c = {0};
    int rc = 0;
    if (prev < 0) {
        /* document start: the part before the last blank line is the document's head */
        size_t split = 0;
        for (size_t i = 1; i < nb; i++)
            if (b[i].line - b[i - 1].line > 1)
                split = i;
        if (next < (int)a->ne && a->e[next].line - b[nb - 1].line > 1)
            split = nb; /* a blank line before the content: all of it is the document's */
        for (size_t i = 0; i < split; i++)
            acc_add(&c, &b[i], i > 0 && b[i].line - b[i - 1].line > 1);
        if (c.any && add_to(s, &doc->head, &c) < 0)
            goto fail;
        for (size_t i = split; i < nb; i++)
            acc_add(&c, &b[i], i > split && b[i].line - b[i - 1].line > 1);
        if (c.any) {
            if (next < (int)a->ne) {
                ent *e = &a->e[next];
                krm_node *o = e->owner;
                if (e->item && e->item->kind == KRM_MAP && next + 1 < (int)a->ne &&
                    a->e[next + 1].line == e->line && a->e[next].item == NULL)
                    o = a->e[next + 1].owner;
                rc = add_to(s, &krm_node_x(s, o)->head, &c);
            } else {
                rc = add_to(s, &doc->head, &c);
            }
        }
        krm_buf_free(&c.b);
        return rc;
    }
    int I = a->e[prev].col;
    bool first_empty = !line_blank(p, b[0].line - 1) && !line_is_comment(p, b[0].line - 1);
    bool prior_mode = true; /* the first flushed foot belongs to the prior content */
    krm_node *prior = a->e[prev].owner;
    for (size_t i = 0; i <= nb; i++) {
        int line, col;
        if (i < nb) {
            line = b[i].line;
            col = b[i].col;
        } else if (next < (int)a->ne) {
            line = a->e[next].line;
            col = a->e[next].col;
        } else if (at_eof) {
            line = INT32_MAX; /* end of input: acts like a blank line */
            col = -1;
        } else {
            line = INT32_MAX - 1;
            col = 1; /* "---": a token at column 1 */
            if (c.any)
                line = c.last_line + 1;
        }
        bool blank = false;
        for (int l = c.any ? c.last_line + 1 : line; l < line && l <= c.last_line + 64; l++)
            if (line_blank(p, l)) {
                blank = true;
                break;
            }
        if (i == nb && at_eof && next >= (int)a->ne && c.any)
            blank = true;
        if (c.any && blank) {
            if (first_empty && (c.start_line == b[0].line || c.col < I)) {
                krm_node *o = c.col < I ? foot_owner_pos(a, prev, c.col, next) : prior;
                if (o && add_to(s, &krm_node_x(s, o)->foot, &c) < 0)
                    goto fail;
                prior_mode = false;
            }
            first_empty = false;
        }
        if (c.any && col >= 1 && col < I && col != c.col) {
            krm_node *o = prior_mode ? prior : foot_owner_pos(a, prev, c.col, next);
            if (o && add_to(s, &krm_node_x(s, o)->foot, &c) < 0)
                goto fail;
            prior_mode = false;
        }
        if (i < nb) {
            acc_add(&c, &b[i], blank);
            continue;
        }
        if (!c.any)
            break;
        if (next < (int)a->ne) {
            rc = add_to(s, &krm_node_x(s, a->e[next].owner)->head, &c);
        } else if (at_eof) {
            rc = add_to(s, &doc->foot, &c); /* kpt drops a last document's trailing comments */
        } else {
            krm_node *o = foot_owner_pos(a, prev, c.col, -1);
            rc = o ? add_to(s, &krm_node_x(s, o)->foot, &c) : add_to(s, &doc->foot, &c);
        }
    }
    krm_buf_free(&c.b);
    return rc;
fail:
    krm_buf_free(&c.b);
    return -1;
}

static int attach_comments(pctx *p, krm_doc *doc, size_t c0, size_t c1, bool at_eof)
{
    if (c0 >= c1 || !doc->root)
        return 0;
    actx a = {.p = p};
    int rc = -1;
    if (walk(&a, doc->root, -1, 0) < 0)
        goto out;
    for (size_t i = c0; i < c1;) {
        if (p->cm[i].trailing) {
            size_t n = dash_head_len(&a, &p->cm[i], c1 - i);
            if (attach_trailing(&a, doc, &p->cm[i], n) < 0)
                goto out;
            i += n;
            continue;
        }
        size_t j = i + 1;
        int nx = first_ent_after_line(&a, p->cm[i].line);
        while (j < c1 && !p->cm[j].trailing && first_ent_after_line(&a, p->cm[j].line) == nx)
            j++;
        if (attach_block(&a, doc, &p->cm[i], j - i, at_eof) < 0)
            goto out;
        i = j;
    }
    rc = 0;
out:
    free(a.e);
    return rc;
}

static int on_node_start(pctx *p, krm_doc *doc, krm_node *n, const yaml_char_t *anchor,
                         const yaml_char_t *tag, const yaml_event_t *e)
{
    set_pos(n, e);
    if (anchor) {
        krm_node_x(p->s, n)->anchor =
            krm_strndup(p->s, (const char *)anchor, strlen((const char *)anchor));
        if (!KX(n, anchor) || add_anchor(p, KX(n, anchor), n) < 0)
            return -1;
    }
    if (tag)
        krm_node_x(p->s, n)->tag = short_tag(p->s, (const char *)tag);
    (void)doc;
    return 0;
}

/* ---- events → tree ---- */

static int on_doc_start(pctx *p, const yaml_event_t *e)
{
    krm_doc *doc = krm_stream_add_doc(p->s, NULL);
    if (!doc)
        return porch_error_set(500, "out of memory");
    p->doc = doc;
    doc->explicit_start = !e->data.document_start.implicit;
    doc->src_start = p->doc_text_start;
    if (p->ncb == p->capcb) {
        size_t nc = p->capcb ? p->capcb * 2 : 16;
        size_t *nb = realloc(p->cbounds, nc * sizeof *nb);
        if (!nb)
            return porch_error_set(500, "out of memory");
        p->cbounds = nb;
        p->capcb = nc;
    }
    /* comments before an explicit "---" belong to the previous document */
    p->cbounds[p->ncb++] = doc->explicit_start ? p->ncm : p->comment_doc_start;
    return 0;
}

static int on_doc_end(pctx *p, const yaml_event_t *e, size_t so, size_t eo)
{
    krm_doc *doc = p->doc;
    if (doc) {
        doc->src_end = eo > so ? eo : so;
        if (doc->src_end - doc->src_start > p->lim.max_doc_bytes)
            return porch_error_set(400, "%s:%zu: document larger than %zu bytes", p->name,
                                   e->start_mark.line + 1, p->lim.max_doc_bytes);
        doc->seqindent =
            (uint8_t)detect_seqindent(p->src + doc->src_start, doc->src_end - doc->src_start);
        p->doc_text_start = doc->src_end;
    }
    p->comment_doc_start = p->ncm;
    return 0;
}

static krm_style scalar_style(yaml_scalar_style_t st)
{
    switch (st) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return KRM_SINGLE;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return KRM_DOUBLE;
    case YAML_LITERAL_SCALAR_STYLE:
        return KRM_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE:
        return KRM_FOLDED;
    default:
        return KRM_PLAIN;
    }
}

static int on_scalar(pctx *p, const yaml_event_t *e, size_t so)
{
    const yaml_char_t *tag = e->data.scalar.tag;
    bool bang = tag && !strcmp((const char *)tag, "!");
    if (e->data.scalar.plain_implicit || e->data.scalar.quoted_implicit)
        tag = bang ? NULL : tag; /* an implicit tag is only kept when written explicitly */
    krm_node *n = krm_node_alloc(p->s, KRM_SCALAR);
    if (!n || on_node_start(p, p->doc, n, e->data.scalar.anchor, bang ? NULL : tag, e) < 0)
        return porch_error_set(500, "out of memory");
    if (bang)
        krm_node_x(p->s, n)->tag = krm_strndup(p->s, "!", 1);
    if (e->data.scalar.length > UINT32_MAX / 2)
        return porch_error_set(400, "%s:%zu: scalar too large", p->name, e->start_mark.line + 1);
    n->value = intern(p, (const char *)e->data.scalar.value, e->data.scalar.length);
    if (!n->value)
        return porch_error_set(500, "out of memory");
    n->len = (uint32_t)e->data.scalar.length;
    n->style = (uint8_t)scalar_style(e->data.scalar.style);
    bool block = n->style == KRM_LITERAL || n->style == KRM_FOLDED;
    if (block && scan_block_header(p, so) < 0)
        return -1;
    /* one-line plain text read in block context writes back plain unanalysed; "---" and
     * "..." can only have been plain away from column 0, so they take the full check */
    if (n->style == KRM_PLAIN && p->flow_depth == 0 && !KX(n, tag) &&
        e->start_mark.line == e->end_mark.line &&
        !(n->len >= 3 && (!memcmp(n->value, "---", 3) || !memcmp(n->value, "...", 3))))
        n->str = KRM_SRC_BLOCK_PLAIN;
    if (attach(p, p->doc, n, 1) < 0 || add_tgt(p, &e->end_mark, n) < 0)
        return -1;
    if (block)
        p->last.node = NULL; /* its end mark sits on the next line, which is not its own */
    return 0;
}

static int on_alias(pctx *p, const yaml_event_t *e)
{
    const char *nm = (const char *)e->data.alias.anchor;
    anchor_ref *a = find_anchor(p, nm);
    if (!a)
        return porch_error_set(400, "%s:%zu:%zu: unknown anchor '%s' referenced", p->name,
                               e->start_mark.line + 1, e->start_mark.column + 1, nm);
    krm_node *n = krm_node_alloc(p->s, KRM_ALIAS);
    if (!n || !(n->value = krm_strndup(p->s, nm, strlen(nm))))
        return porch_error_set(500, "out of memory");
    set_pos(n, e);
    n->len = (uint32_t)strlen(nm);
    krm_node_x(p->s, n)->target = a->node;
    p->alias_total += a->weight;
    if (p->alias_total > p->lim.max_alias_nodes)
        return porch_error_set(400, "%s:%zu:%zu: aliases expand to more than %zu nodes", p->name,
                               e->start_mark.line + 1, e->start_mark.column + 1,
                               p->lim.max_alias_nodes);
    if (attach(p, p->doc, n, a->weight) < 0 || add_tgt(p, &e->end_mark, n) < 0)
        return -1;
    return 0;
}

static int on_coll_start(pctx *p, const yaml_event_t *e, krm_node **out)
{
    bool map = e->type == YAML_MAPPING_START_EVENT;
    krm_node *n = krm_node_alloc(p->s, map ? KRM_MAP : KRM_SEQ);
    if (!n)
        return porch_error_set(500, "out of memory");
    const yaml_char_t *anchor = map ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
    const yaml_char_t *tag = map ? e->data.mapping_start.tag : e->data.sequence_start.tag;
    bool implicit = map ? e->data.mapping_start.implicit : e->data.sequence_start.implicit;
    if (on_node_start(p, p->doc, n, anchor, implicit ? NULL : tag, e) < 0)
        return -1;
    n->flow = map ? e->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                  : e->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
    if (n->flow)
        p->flow_depth++;
    *out = n;
    return push_frame(p, n);
}

static int on_coll_end(pctx *p, const yaml_event_t *e)
{
    frame f = p->stack[--p->depth];
    if (close_frame(p, &f) < 0)
        return -1;
    if (f.node->flow & 1) {
        p->flow_depth--;
        if (add_tgt(p, &e->end_mark, f.node) < 0)
            return -1;
    }
    if (attach(p, p->doc, f.node, f.weight) < 0)
        return -1;
    if (KX(f.node, anchor)) {
        anchor_ref *a = find_anchor(p, KX(f.node, anchor));
        if (a && a->node == f.node)
            a->weight = f.weight; /* aliases to it now count its expanded size */
    }
    return 0;
}

/* Handles one event; `*scan_pos` is where the next comment scan starts. */
static int on_event(pctx *p, const yaml_event_t *e, size_t *scan_pos)
{
    size_t so = mark_off(p, &e->start_mark), eo = mark_off(p, &e->end_mark);
    if (e->type != YAML_STREAM_START_EVENT && so > *scan_pos) {
        if (scan_gap(p, *scan_pos, so) < 0)
            return -1;
        *scan_pos = so;
    }
    krm_node *n = NULL;
    int rc = 0;
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        rc = on_doc_start(p, e);
        break;
    case YAML_DOCUMENT_END_EVENT:
        rc = on_doc_end(p, e, so, eo);
        break;
    case YAML_SCALAR_EVENT:
        rc = on_scalar(p, e, so);
        break;
    case YAML_ALIAS_EVENT:
        rc = on_alias(p, e);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        rc = on_coll_start(p, e, &n);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        rc = on_coll_end(p, e);
        break;
    default:
        break;
    }
    /* the text an event covers holds no comments: skip it (block ends cover nothing) */
    bool block_end =
        (e->type == YAML_SEQUENCE_END_EVENT || e->type == YAML_MAPPING_END_EVENT) && eo <= so;
    if (rc == 0 && !block_end && eo > *scan_pos)
        *scan_pos = eo;
    return rc;
}

static int run(pctx *p, yaml_parser_t *yp)
{
    size_t scan_pos = 0;
    yaml_event_t e;
    for (;;) {
        if (!yaml_parser_parse(yp, &e))
            return parse_error(p, yp);
        int rc = on_event(p, &e, &scan_pos);
        yaml_event_type_t t = e.type;
        yaml_event_delete(&e);
        if (rc < 0)
            return -1;
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    if (scan_gap(p, scan_pos, p->len) < 0)
        return -1;
    for (size_t d = 0; d < p->s->ndocs; d++) {
        size_t c0 = d < p->ncb ? p->cbounds[d] : p->ncm;
        size_t c1 = d + 1 < p->ncb ? p->cbounds[d + 1] : p->ncm;
        bool last = d + 1 == p->s->ndocs || p->s->docs[d + 1]->root == NULL;
        if (attach_comments(p, p->s->docs[d], c0, c1, last) < 0)
            return -1;
    }
    return 0;
}

int krm_stream_parse(const char *buf, size_t len, const char *name, const krm_limits *lim,
                     krm_stream **out)
{
    pctx p = {.src = buf, .len = len, .name = name ? name : "<input>"};
    if (lim)
        p.lim = *lim;
    if (!p.lim.max_depth)
        p.lim.max_depth = 256;
    if (!p.lim.max_doc_bytes)
        p.lim.max_doc_bytes = 64u << 20;
    if (!p.lim.max_stream_bytes)
        p.lim.max_stream_bytes = 256u << 20;
    if (!p.lim.max_alias_nodes)
        p.lim.max_alias_nodes = 1000000;
    if (len > p.lim.max_stream_bytes)
        return porch_error_set(400, "%s: input of %zu bytes exceeds the %zu byte limit", p.name,
                               len, p.lim.max_stream_bytes);
    p.s = krm_stream_new();
    if (!p.s || build_lines(&p) < 0) {
        krm_stream_free(p.s);
        free(p.lines);
        return porch_error_set(500, "out of memory");
    }
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) {
        krm_stream_free(p.s);
        free(p.lines);
        return porch_error_set(500, "out of memory");
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING); /* marks must count UTF-8 characters */
    int rc = run(&p, &yp);
    yaml_parser_delete(&yp);
    free(p.lines);
    free(p.cm);
    free(p.anchors);
    free(p.stack);
    free(p.kids);
    free(p.itab);
    free(p.cbounds);
    free(p.ahash);
    if (rc < 0) {
        krm_stream_free(p.s);
        return -1;
    }
    *out = p.s;
    return 0;
}

/* go-yaml's decoder names a syntax error by the line of libyaml's context
 * mark (else the problem mark), 0-based, plus one for scanner errors
 * (which stop before moving to the next line). */
int krm_syntax_error_goyaml(const char *buf, size_t len, char *out, size_t cap)
{
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp))
        return porch_error_set(500, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    int rc = 0;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&yp, &e)) {
            size_t line = yp.context_mark.line ? yp.context_mark.line : yp.problem_mark.line;
            if (line && yp.error == YAML_SCANNER_ERROR)
                line++;
            const char *problem = yp.problem ? yp.problem : "unknown problem parsing YAML content";
            if (line)
                snprintf(out, cap, "yaml: line %zu: %s", line, problem);
            else
                snprintf(out, cap, "yaml: %s", problem);
            rc = -1;
            break;
        }
        bool end = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
        if (end)
            break;
    }
    yaml_parser_delete(&yp);
    return rc;
}
