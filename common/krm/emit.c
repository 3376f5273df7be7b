/* The emitter: writes a node tree the way kpt does (go-yaml v3 with indent 2,
 * unlimited width, kyaml's compact or wide sequences), including where head,
 * line and foot comments land and which scalars get quoted. Also JSON output
 * for *.json files and the ResourceList wrapper of `kpt fn source`. */
#include "krm_internal.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct em {
    krm_buf *out;
    int (*sink)(void *ctx, const char *p, size_t n); /* optional: drain `out` as it fills */
    void *sink_ctx;
    int column;
    bool whitespace, indention;
    int foot_indent;
    bool wide;
    int flow;
    int in_key; /* inside an implicit key: must stay on one line, so no comments */
    int depth;
    int err;
} em;

#define EM_SINK_CHUNK (64 * 1024)

/* Slow path of the byte writers: drain to the sink or grow the buffer. */
static void room(em *e, size_t n)
{
    krm_buf *b = e->out;
    if (e->sink && b->len >= EM_SINK_CHUNK) {
        if (e->sink(e->sink_ctx, b->data, b->len) < 0)
            e->err = -1;
        b->len = 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap + b->cap / 2 : 64 * 1024;
        while (nc < b->len + n + 1)
            nc += nc / 2;
        char *d = realloc(b->data, nc);
        if (!d) {
            e->err = -1;
            return;
        }
        b->data = d;
        b->cap = nc;
    }
}

static inline void put(em *e, char c)
{
    if (e->out->len + 2 > e->out->cap || (e->sink && e->out->len >= EM_SINK_CHUNK)) {
        room(e, 1);
        if (e->err)
            return;
    }
    e->out->data[e->out->len++] = c;
    if (((unsigned char)c & 0xC0) != 0x80)
        e->column++;
}

static void put_n(em *e, const char *s, size_t n)
{
    if (e->out->len + n + 1 > e->out->cap || (e->sink && e->out->len >= EM_SINK_CHUNK)) {
        room(e, n);
        if (e->err)
            return;
    }
    memcpy(e->out->data + e->out->len, s, n);
    e->out->len += n;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            e->column++;
}

static void put_break(em *e)
{
    put(e, '\n');
    e->column = 0;
    e->indention = true;
}

/* Ends an emission: NUL-terminates the buffer, drains it to the sink if any. */
static int em_finish(em *e)
{
    if (!e->err) {
        room(e, 0);
        if (e->out->data)
            e->out->data[e->out->len] = '\0';
    }
    if (!e->err && e->sink && e->out->len) {
        if (e->sink(e->sink_ctx, e->out->data, e->out->len) < 0)
            e->err = -1;
        e->out->len = 0;
    }
    return e->err ? porch_error_set(500, "emit failed (out of memory, output error or too deep)")
                  : 0;
}

static void write_indent(em *e, int indent)
{
    if (indent < 0)
        indent = 0;
    if (!e->indention || e->column > indent || (e->column == indent && !e->whitespace))
        put_break(e);
    if (e->foot_indent == indent)
        put_break(e);
    while (e->column < indent)
        put(e, ' ');
    e->whitespace = true;
    e->foot_indent = -1;
}

static void write_indicator(em *e, const char *s, bool need_ws, bool is_ws, bool is_indention)
{
    if (need_ws && !e->whitespace)
        put(e, ' ');
    put_n(e, s, strlen(s));
    e->whitespace = is_ws;
    e->indention = e->indention && is_indention;
}

static void write_comment(em *e, const char *c, int indent)
{
    bool breaks = false, pound = false;
    for (const char *p = c; *p; p++) {
        if (*p == '\n') {
            put_break(e);
            breaks = true;
            pound = false;
            continue;
        }
        if (breaks)
            write_indent(e, indent);
        if (!pound) {
            if (*p != '#')
                put_n(e, "# ", 2);
            pound = true;
        }
        put(e, *p);
        e->indention = false;
        breaks = false;
    }
    if (!breaks)
        put_break(e);
    e->whitespace = true;
}

static void line_comment(em *e, const char *c, int indent)
{
    if (!c || !*c)
        return;
    if (!e->whitespace)
        put(e, ' ');
    write_comment(e, c, indent);
}

static void foot_comment(em *e, const char *c, int indent)
{
    if (!c || !*c)
        return;
    write_indent(e, indent);
    write_comment(e, c, indent);
    e->foot_indent = indent < 0 ? 0 : indent;
}

/* ---- scalars ---- */

static bool isbrk(const char *v, size_t i, size_t n)
{
    unsigned char c = (unsigned char)v[i];
    if (c == '\n' || c == '\r')
        return true;
    if (c == 0xC2 && i + 1 < n && (unsigned char)v[i + 1] == 0x85)
        return true;
    return c == 0xE2 && i + 2 < n && (unsigned char)v[i + 1] == 0x80 &&
           ((unsigned char)v[i + 2] == 0xA8 || (unsigned char)v[i + 2] == 0xA9);
}

static size_t wid(unsigned char c)
{
    return (c & 0x80) == 0      ? 1
           : (c & 0xE0) == 0xC0 ? 2
           : (c & 0xF0) == 0xE0 ? 3
           : (c & 0xF8) == 0xF0 ? 4
                                : 1;
}

static void write_break_char(em *e, const char *v, size_t *i, size_t n)
{
    if (v[*i] == '\n') {
        put_break(e);
        (*i)++;
        return;
    }
    size_t w = v[*i] == '\r' ? 1 : wid((unsigned char)v[*i]);
    if (*i + w > n)
        w = n - *i;
    if (krm_buf_put(e->out, v + *i, w) < 0)
        e->err = -1;
    *i += w;
    e->column = 0;
    e->indention = true;
}

static void write_plain(em *e, const char *v, size_t n, int indent)
{
    if (n > 0 && !e->whitespace)
        put(e, ' ');
    if (!memchr(v, '\n', n) && !memchr(v, '\r', n) && !memchr(v, 0xC2, n) && !memchr(v, 0xE2, n)) {
        put_n(e, v, n); /* the common case: one line */
        if (n > 0)
            e->whitespace = false;
        e->indention = false;
        return;
    }
    bool breaks = false;
    for (size_t i = 0; i < n;) {
        if (isbrk(v, i, n)) {
            if (!breaks && v[i] == '\n')
                put_break(e);
            write_break_char(e, v, &i, n);
            breaks = true;
        } else {
            if (breaks)
                write_indent(e, indent);
            size_t w = wid((unsigned char)v[i]);
            if (i + w > n)
                w = n - i;
            put_n(e, v + i, w);
            i += w;
            e->indention = false;
            breaks = false;
        }
    }
    if (n > 0)
        e->whitespace = false;
    e->indention = false;
}

static void write_single(em *e, const char *v, size_t n, int indent)
{
    write_indicator(e, "'", true, false, false);
    bool breaks = false;
    for (size_t i = 0; i < n;) {
        if (isbrk(v, i, n)) {
            if (!breaks && v[i] == '\n')
                put_break(e);
            write_break_char(e, v, &i, n);
            breaks = true;
        } else {
            if (breaks)
                write_indent(e, indent);
            if (v[i] == '\'')
                put(e, '\'');
            size_t w = wid((unsigned char)v[i]);
            if (i + w > n)
                w = n - i;
            put_n(e, v + i, w);
            i += w;
            e->indention = false;
            breaks = false;
        }
    }
    write_indicator(e, "'", false, false, false);
    e->whitespace = false;
    e->indention = false;
}

static bool printable_at(const unsigned char *b, size_t i, size_t n)
{
    unsigned char c = b[i], c1 = i + 1 < n ? b[i + 1] : 0, c2 = i + 2 < n ? b[i + 2] : 0;
    return c == 0x0A || (c >= 0x20 && c <= 0x7E) || (c == 0xC2 && c1 >= 0xA0) ||
           (c > 0xC2 && c < 0xED) || (c == 0xED && c1 < 0xA0) || c == 0xEE ||
           (c == 0xEF && !(c1 == 0xBB && c2 == 0xBF) &&
            !(c1 == 0xBF && (c2 == 0xBE || c2 == 0xBF)));
}

static void write_double(em *e, const char *sv, size_t n)
{
    const unsigned char *v = (const unsigned char *)sv;
    write_indicator(e, "\"", true, false, false);
    for (size_t i = 0; i < n;) {
        bool bom = i + 2 < n && v[i] == 0xEF && v[i + 1] == 0xBB && v[i + 2] == 0xBF;
        if (!printable_at(v, i, n) || bom || isbrk(sv, i, n) || v[i] == '"' || v[i] == '\\') {
            size_t w = wid(v[i]);
            unsigned int cp = w == 1   ? v[i]
                              : w == 2 ? (v[i] & 0x1Fu)
                              : w == 3 ? (v[i] & 0x0Fu)
                                       : (v[i] & 0x07u);
            for (size_t k = 1; k < w; k++)
                cp = (cp << 6) | (i + k < n ? (v[i + k] & 0x3Fu) : 0);
            i += w;
            put(e, '\\');
            const char *esc = NULL;
            switch (cp) {
            case 0x00:
                esc = "0";
                break;
            case 0x07:
                esc = "a";
                break;
            case 0x08:
                esc = "b";
                break;
            case 0x09:
                esc = "t";
                break;
            case 0x0A:
                esc = "n";
                break;
            case 0x0B:
                esc = "v";
                break;
            case 0x0C:
                esc = "f";
                break;
            case 0x0D:
                esc = "r";
                break;
            case 0x1B:
                esc = "e";
                break;
            case 0x22:
                esc = "\"";
                break;
            case 0x5C:
                esc = "\\";
                break;
            case 0x85:
                esc = "N";
                break;
            case 0xA0:
                esc = "_";
                break;
            case 0x2028:
                esc = "L";
                break;
            case 0x2029:
                esc = "P";
                break;
            }
            if (esc) {
                put_n(e, esc, strlen(esc));
            } else {
                char tmp[12];
                if (cp <= 0xFF)
                    snprintf(tmp, sizeof tmp, "x%02X", cp);
                else if (cp <= 0xFFFF)
                    snprintf(tmp, sizeof tmp, "u%04X", cp);
                else
                    snprintf(tmp, sizeof tmp, "U%08X", cp);
                put_n(e, tmp, strlen(tmp));
            }
        } else {
            size_t j = i + 1;
            while (j < n && v[j] >= 0x20 && v[j] < 0x7F && v[j] != '"' && v[j] != '\\')
                j++; /* a run of plain ASCII */
            if (j == i + 1) {
                size_t w = wid(v[i]);
                j = i + w > n ? n : i + w;
            }
            put_n(e, sv + i, j - i);
            i = j;
        }
    }
    write_indicator(e, "\"", false, false, false);
    e->whitespace = false;
    e->indention = false;
}

static void block_hints(em *e, const char *v, size_t n)
{
    if (n > 0 && (v[0] == ' ' || isbrk(v, 0, n)))
        write_indicator(e, "2", false, false, false);
    const char *chomp = NULL;
    if (n == 0) {
        chomp = "-";
    } else {
        size_t i = n - 1;
        while (i > 0 && ((unsigned char)v[i] & 0xC0) == 0x80)
            i--;
        if (!isbrk(v, i, n)) {
            chomp = "-";
        } else if (i == 0) {
            chomp = "+";
        } else {
            i--;
            while (i > 0 && ((unsigned char)v[i] & 0xC0) == 0x80)
                i--;
            if (isbrk(v, i, n))
                chomp = "+";
        }
    }
    if (chomp)
        write_indicator(e, chomp, false, false, false);
}

static void write_literal(em *e, const char *v, size_t n, int indent, const char *lc)
{
    write_indicator(e, "|", true, false, false);
    block_hints(e, v, n);
    line_comment(e, lc, indent);
    e->whitespace = true;
    bool breaks = true;
    for (size_t i = 0; i < n;) {
        if (isbrk(v, i, n)) {
            write_break_char(e, v, &i, n);
            breaks = true;
        } else {
            if (breaks)
                write_indent(e, indent);
            size_t w = wid((unsigned char)v[i]);
            if (i + w > n)
                w = n - i;
            put_n(e, v + i, w);
            i += w;
            e->indention = false;
            breaks = false;
        }
    }
}

static void write_folded(em *e, const char *v, size_t n, int indent, const char *lc)
{
    write_indicator(e, ">", true, false, false);
    block_hints(e, v, n);
    line_comment(e, lc, indent);
    e->whitespace = true;
    bool breaks = true, leading_spaces = true;
    for (size_t i = 0; i < n;) {
        if (isbrk(v, i, n)) {
            if (!breaks && !leading_spaces && v[i] == '\n') {
                /* go-yaml scans from the start of the value here; kpt's output depends on it */
                size_t k = 0;
                while (k < n && isbrk(v, k, n))
                    k += wid((unsigned char)v[k]);
                bool blankz = k >= n || v[k] == ' ' || v[k] == '\t' || isbrk(v, k, n);
                if (!blankz)
                    put_break(e);
            }
            write_break_char(e, v, &i, n);
            breaks = true;
        } else {
            if (breaks) {
                write_indent(e, indent);
                leading_spaces = v[i] == ' ' || v[i] == '\t';
            }
            size_t w = wid((unsigned char)v[i]);
            if (i + w > n)
                w = n - i;
            put_n(e, v + i, w);
            i += w;
            e->indention = false;
            breaks = false;
        }
    }
}

/* Tag text after its handle: URI characters as they are, anything else %XX (as go-yaml). */
static void write_tag_uri(em *e, const char *t)
{
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-_;/?:@&=+$.~*'()", c)) { /* flow indicators , [ ] escaped too */
            put(e, (char)c);
        } else {
            char hex[4];
            snprintf(hex, sizeof hex, "%%%02X", c);
            put_n(e, hex, 3);
        }
    }
}

static void write_tag(em *e, const char *tag)
{
    if (!tag)
        return;
    if (!e->whitespace)
        put(e, ' ');
    if (tag[0] == '!') {
        size_t h = tag[1] == '!' ? 2 : 1; /* "!!" or "!" handle */
        put_n(e, tag, h);
        write_tag_uri(e, tag + h);
    } else {
        put_n(e, "!<", 2);
        write_tag_uri(e, tag);
        put(e, '>');
    }
    e->whitespace = false;
}

static void write_anchor(em *e, const char *a)
{
    if (!a)
        return;
    write_indicator(e, "&", true, false, false);
    put_n(e, a, strlen(a));
    e->whitespace = false;
}

static bool printable_ascii(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E)
            return false;
    return true;
}

/* Writes a scalar in the current context. `indent` is the block scalar content indent. */
static void emit_scalar(em *e, const krm_node *s, bool simple_key, int indent, const char *lc)
{
    const char *v = s->value ? s->value : "";
    size_t n = s->len;
    if (s->str == KRM_SRC_BLOCK_PLAIN && !e->flow && s->style == KRM_PLAIN && n > 0 &&
        !KX(s, tag) && printable_ascii(v, n) &&
        !(simple_key && n == 2 && v[0] == '<' && v[1] == '<')) {
        /* read as a one-line plain scalar in block context: it writes back the same way */
        write_anchor(e, KX(s, anchor));
        write_plain(e, v, n, indent);
        if (lc)
            line_comment(e, lc, indent);
        return;
    }
    krm_style style = (krm_style)s->style;
    bool force_quote = false;
    const char *tag =
        KX(s, tag); /* explicit tags are written back as they were (go-yaml TaggedStyle) */
    if (style == KRM_PLAIN && n == 2 && v[0] == '<' && v[1] == '<' && simple_key)
        tag = "!!merge";
    if (s->str == 1 && !tag && style == KRM_PLAIN && krm_scalar_resolves_non_str(v, n))
        force_quote = true;
    if (style == KRM_PLAIN && memchr(v, '\n', n))
        style = KRM_LITERAL;
    else if (force_quote && style == KRM_PLAIN)
        style = KRM_DOUBLE;
    krm_scalar_info si;
    krm_scalar_analyze(v, n, &si);
    if (simple_key && si.multiline)
        style = KRM_DOUBLE;
    if (style == KRM_PLAIN) {
        if ((e->flow && !si.flow_plain) || (!e->flow && !si.block_plain))
            style = KRM_SINGLE;
        if (n == 0 && (e->flow || simple_key))
            style = KRM_SINGLE;
    }
    if (style == KRM_SINGLE && !si.single_ok)
        style = KRM_DOUBLE;
    if ((style == KRM_LITERAL || style == KRM_FOLDED) && (!si.block_ok || e->flow || simple_key))
        style = KRM_DOUBLE;
    write_anchor(e, KX(s, anchor));
    write_tag(e, tag);
    switch (style) {
    case KRM_PLAIN:
        write_plain(e, v, n, indent);
        break;
    case KRM_SINGLE:
        write_single(e, v, n, indent);
        break;
    case KRM_DOUBLE:
        write_double(e, v, n);
        break;
    case KRM_LITERAL:
        write_literal(e, v, n, indent, lc);
        return;
    case KRM_FOLDED:
        write_folded(e, v, n, indent, lc);
        return;
    }
    if (lc)
        line_comment(e, lc, indent);
}

static void emit_node(em *e, const krm_node *n, int indent, int ctx);

enum { CTX_ROOT, CTX_VALUE, CTX_ITEM };

static bool is_block(const em *e, const krm_node *n)
{
    return !e->flow && (n->kind == KRM_MAP || n->kind == KRM_SEQ) && !(n->flow & 1) && n->n > 0;
}

static bool simple_key(const krm_node *k);

/* Flow collections, with go-yaml's way of keeping comments inside them: a head
 * comment opens a new line at the flow indent, a line comment ends its entry
 * with "," and a line break. `indent` is the indent of the entries. */
static void emit_flow(em *e, const krm_node *n, int indent)
{
    write_anchor(e, KX(n, anchor));
    write_tag(e, KX(n, tag));
    bool map = n->kind == KRM_MAP;
    write_indicator(e, map ? "{" : "[", true, true, false);
    e->flow++;
    bool trail = false;
    for (size_t i = 0; i < n->n; i += map ? 2 : 1) {
        const krm_node *k = n->items[i];
        const krm_node *v = map && i + 1 < n->n ? n->items[i + 1] : NULL;
        if (i > 0 && !trail)
            write_indicator(e, ",", false, false, false);
        if (KX(k, head) && !e->in_key) {
            write_indent(e, indent);
            write_comment(e, KX(k, head), indent);
        }
        if (e->column == 0)
            write_indent(e, indent);
        const char *lc, *foot;
        if (map && !simple_key(k)) {
            /* a long key: "? key : value", as go-yaml writes it in flow style */
            write_indicator(e, "?", true, false, false);
            if (k->kind == KRM_SCALAR)
                emit_scalar(e, k, false, indent, NULL);
            else
                emit_node(e, k, indent + 2, CTX_VALUE);
            write_indicator(e, ":", true, false, false);
            if (v)
                emit_node(e, v, indent + 2, CTX_VALUE);
            lc = v && KX(v, line_c) ? KX(v, line_c) : KX(k, line_c);
            foot = KX(k, foot) ? KX(k, foot) : v ? KX(v, foot) : NULL;
        } else if (map) {
            if (k->kind == KRM_SCALAR)
                emit_scalar(e, k, true, indent, NULL);
            else
                emit_node(e, k, indent + 2, CTX_VALUE);
            write_indicator(e, ":", false, false, false);
            if (v)
                emit_node(e, v, indent + 2, CTX_VALUE);
            lc = v && KX(v, line_c) ? KX(v, line_c) : KX(k, line_c);
            foot = KX(k, foot) ? KX(k, foot) : v ? KX(v, foot) : NULL;
        } else {
            emit_node(e, k, indent + 2, CTX_VALUE);
            lc = KX(k, line_c);
            foot = KX(k, foot);
        }
        trail = (lc || foot) && !e->in_key;
        if (trail) {
            write_indicator(e, ",", false, false, false);
            line_comment(e, lc, indent);
            foot_comment(e, foot, indent);
        }
    }
    e->flow--;
    if (!map && e->column == 0)
        write_indent(e, indent - 2);
    write_indicator(e, map ? "}" : "]", false, false, false);
}

static void emit_block_seq(em *e, const krm_node *q, int indent);
static void emit_block_map(em *e, const krm_node *m, int indent);

/* The body after "- ", "? " or a complex key's ": ": `indent` is the body's indent. */
static void emit_body(em *e, const krm_node *it, int indent, const char *lc)
{
    if (is_block(e, it)) {
        if (KX(it, anchor))
            write_anchor(e, KX(it, anchor));
        write_tag(e, KX(it, tag));
        if (it->kind == KRM_MAP)
            emit_block_map(e, it, indent);
        else
            emit_block_seq(e, it, indent);
        line_comment(e, lc, indent - 2);
    } else if (it->kind == KRM_SCALAR) {
        emit_scalar(e, it, false, indent, lc);
    } else {
        emit_node(e, it, indent, CTX_ITEM);
        line_comment(e, lc, indent - 2);
    }
}

/* go-yaml writes a key as "? key" when it is long, spans lines or is a collection. */
static bool simple_key(const krm_node *k)
{
    const char *a = KX(k, anchor), *t = KX(k, tag);
    size_t len = (a ? strlen(a) : 0) + (t ? strlen(t) : 0);
    if (k->kind == KRM_SCALAR)
        return len + k->len <= 128 && !memchr(k->value ? k->value : "", '\n', k->len);
    if (k->kind == KRM_ALIAS)
        return k->len <= 128;
    return k->n == 0 && len <= 128;
}

static void emit_block_map(em *e, const krm_node *m, int indent)
{
    const char *tail = NULL;
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const krm_node *k = m->items[i], *v = m->items[i + 1];
        if (tail) {
            write_indent(e, indent);
            write_comment(e, tail, indent);
            e->foot_indent = indent;
            tail = NULL;
        }
        if (KX(k, head)) {
            write_indent(e, indent);
            write_comment(e, KX(k, head), indent);
        }
        write_indent(e, indent);
        if (!simple_key(k)) {
            write_indicator(e, "?", true, false, true);
            emit_body(e, k, indent + 2, KX(k, line_c));
            write_indent(e, indent);
            write_indicator(e, ":", true, false, true);
            emit_body(e, v, indent + 2, KX(v, line_c));
            tail = KX(k, foot);
            continue;
        }
        if (k->kind == KRM_SCALAR)
            emit_scalar(e, k, true, indent + 2, NULL);
        else if (k->kind == KRM_ALIAS) {
            write_indicator(e, "*", true, false, false);
            put_n(e, k->value, k->len);
            e->whitespace = false;
        } else {
            int save = e->flow;
            e->flow = 1;
            e->in_key++;
            emit_flow(e, k, indent);
            e->in_key--;
            e->flow = save;
        }
        write_indicator(e, ":", false, false, false);
        const char *klc = KX(k, line_c);
        if (is_block(e, v)) {
            if (KX(v, anchor))
                write_anchor(e, KX(v, anchor));
            write_tag(e, KX(v, tag));
            line_comment(e, klc, indent);
            if (v->kind == KRM_MAP)
                emit_block_map(e, v, indent + 2);
            else
                emit_block_seq(e, v, e->wide ? indent + 2 : indent);
        } else {
            const char *lc = KX(v, line_c) ? KX(v, line_c) : klc;
            if (v->kind == KRM_SCALAR) {
                emit_scalar(e, v, false, indent + 2, lc);
            } else {
                emit_node(e, v, indent + 2, CTX_VALUE);
                line_comment(e, lc, indent);
            }
        }
        tail = KX(k, foot);
    }
    if (tail) {
        write_indent(e, indent);
        write_comment(e, tail, indent);
        e->foot_indent = indent;
    }
}

static void emit_block_seq(em *e, const krm_node *q, int indent)
{
    for (size_t i = 0; i < q->n; i++) {
        const krm_node *it = q->items[i];
        if (KX(it, head)) {
            write_indent(e, indent);
            write_comment(e, KX(it, head), indent);
        }
        write_indent(e, indent);
        write_indicator(e, "-", true, false, true);
        emit_body(e, it, indent + 2, KX(it, line_c));
        foot_comment(e, KX(it, foot), indent);
    }
}

static void emit_node(em *e, const krm_node *n, int indent, int ctx)
{
    (void)ctx;
    if (++e->depth > 10000) {
        e->err = -1;
        e->depth--;
        return;
    }
    switch (n->kind) {
    case KRM_SCALAR:
        emit_scalar(e, n, false, indent, NULL);
        break;
    case KRM_ALIAS:
        write_indicator(e, "*", true, false, false);
        put_n(e, n->value, n->len);
        e->whitespace = false;
        break;
    case KRM_MAP:
    case KRM_SEQ:
        if (is_block(e, n)) {
            if (n->kind == KRM_MAP)
                emit_block_map(e, n, indent);
            else
                emit_block_seq(e, n, indent);
        } else {
            emit_flow(e, n, indent);
        }
        break;
    }
    e->depth--;
}

static int emit_root_em(em *ep, const krm_node *n, krm_seqindent si, const char *foot)
{
    em e = *ep;
    e.column = 0;
    e.whitespace = e.indention = true;
    e.foot_indent = -1;
    e.wide = si == KRM_SEQ_WIDE;
    if (KX(n, head) && is_block(&e, n)) {
        write_indent(&e, 0);
        write_comment(&e, KX(n, head), 0);
    }
    if (n->kind == KRM_SCALAR && !is_block(&e, n)) {
        emit_scalar(&e, n, false, 2, KX(n, line_c));
    } else if (is_block(&e, n)) {
        write_anchor(&e, KX(n, anchor));
        if (KX(n, anchor))
            put_break(&e);
        emit_node(&e, n, 0, CTX_ROOT);
    } else {
        emit_node(&e, n, 2, CTX_ROOT);
        line_comment(&e, KX(n, line_c), 0);
    }
    if (foot) {
        e.foot_indent = 0;
        foot_comment(&e, foot, 0);
    }
    if (e.column != 0)
        put_break(&e);
    ep->err = e.err;
    return e.err ? -1 : 0;
}

int krm_node_emit(const krm_node *n, krm_seqindent si, krm_buf *out)
{
    em e = {.out = out};
    emit_root_em(&e, n, si, NULL);
    return em_finish(&e);
}

static bool doc_empty(const krm_doc *d)
{
    const krm_node *r = d->root;
    return !r || (r->kind == KRM_SCALAR && r->len == 0 && r->style == KRM_PLAIN && !KX(r, anchor) &&
                  !KX(r, tag));
}

static int stream_emit(em *e, const krm_stream *s)
{
    bool first = true;
    for (size_t i = 0; i < s->ndocs && !e->err; i++) {
        const krm_doc *d = s->docs[i];
        if (doc_empty(d))
            continue;
        if (!first)
            put_n(e, "---\n", 4);
        first = false;
        emit_root_em(e, d->root, (krm_seqindent)d->seqindent, d->foot);
    }
    return em_finish(e);
}

int krm_stream_emit(const krm_stream *s, krm_buf *out)
{
    em e = {.out = out};
    return stream_emit(&e, s);
}

int krm_stream_emit_to(const krm_stream *s, int (*write)(void *ctx, const char *p, size_t n),
                       void *ctx)
{
    krm_buf b = {0};
    em e = {.out = &b, .sink = write, .sink_ctx = ctx};
    int rc = stream_emit(&e, s);
    krm_buf_free(&b);
    return rc;
}

int krm_emit_resource_list(krm_node *const *items, size_t n, const krm_node *fn_config,
                           krm_buf *out)
{
    static const char hdr[] = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n";
    if (krm_buf_put(out, hdr, sizeof hdr - 1) < 0)
        return -1;
    em e = {.out = out, .whitespace = true, .indention = true, .foot_indent = -1};
    if (n == 0) {
        put_n(&e, "items: []", 9);
        put_break(&e);
    } else {
        put_n(&e, "items:", 6);
        e.whitespace = false;
        e.indention = false;
        krm_node seq = {
            .kind = KRM_SEQ, .flow = KRM_EXACT, .n = (uint32_t)n, .items = (krm_node **)items};
        emit_block_seq(&e, &seq, 0);
    }
    if (fn_config) {
        write_indent(&e, 0);
        put_n(&e, "functionConfig:", 15);
        e.whitespace = false;
        e.indention = false;
        if (is_block(&e, fn_config)) {
            if (fn_config->kind == KRM_MAP)
                emit_block_map(&e, fn_config, 2);
            else
                emit_block_seq(&e, fn_config, 0);
        } else {
            emit_node(&e, fn_config, 2, CTX_VALUE);
        }
    }
    if (e.column != 0)
        put_break(&e);
    return em_finish(&e);
}

/* ---- JSON ---- */

static void json_str(krm_buf *b, const char *v, size_t n)
{
    krm_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            krm_buf_put(b, tmp, 2);
        } else if (c == '\n') {
            krm_buf_put(b, "\\n", 2);
        } else if (c == '\r') {
            krm_buf_put(b, "\\r", 2);
        } else if (c == '\t') {
            krm_buf_put(b, "\\t", 2);
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            krm_buf_put(b, tmp, 6);
        } else {
            krm_buf_put(b, v + i, 1);
        }
    }
    krm_buf_put(b, "\"", 1);
}

static void json_indent(krm_buf *b, int ind)
{
    krm_buf_put(b, "\n", 1);
    for (int i = 0; i < ind; i++)
        krm_buf_put(b, " ", 1);
}

typedef struct jctx {
    const krm_node *path[1024]; /* ancestors, to refuse aliases that loop back */
    int depth;
    size_t budget; /* nodes left to write: aliases cannot blow the output up */
} jctx;

static const krm_node *json_deref(const krm_node *n, const jctx *j)
{
    for (int i = 0; n && n->kind == KRM_ALIAS && KX(n, target) && i < 64; i++) {
        n = KX(n, target);
        for (int k = 0; k < j->depth; k++)
            if (j->path[k] == n)
                return NULL;
    }
    return n;
}

static int key_cmp(const void *a, const void *b)
{
    const krm_node *ka = **(const krm_node *const *const *)a,
                   *kb = **(const krm_node *const *const *)b;
    size_t la = KLEN(ka), lb = KLEN(kb), n = la < lb ? la : lb;
    int c = memcmp(krm_node_value(ka), krm_node_value(kb), n);
    return c ? c : (la > lb) - (la < lb);
}

static int json_node(krm_buf *b, const krm_node *n, int ind, jctx *j)
{
    const krm_node *orig = n;
    n = json_deref(n, j);
    if (!n && orig)
        return porch_error_set(400, "alias *%s refers to its own ancestor; cannot write JSON",
                               orig->value);
    if (!n || j->depth >= 1024 || j->budget == 0)
        return porch_error_set(400, "document too deep or too large for JSON output");
    j->budget--;
    if (n->kind == KRM_SCALAR) {
        const char *tg = KX(n, tag);
        if (n->style == KRM_PLAIN && n->str != 1 && !(tg && !strcmp(tg, "!!str"))) {
            char k = krm_scalar_json_kind(n->value ? n->value : "", n->len);
            if (k == 'n')
                return krm_buf_put(b, "null", 4);
            if (k != 's')
                return krm_buf_put(b, n->value, n->len);
        }
        json_str(b, n->value ? n->value : "", n->len);
        return 0;
    }
    bool map = n->kind == KRM_MAP;
    size_t cnt = map ? n->n / 2 : n->n;
    if (cnt == 0)
        return krm_buf_put(b, map ? "{}" : "[]", 2);
    krm_buf_put(b, map ? "{" : "[", 1);
    krm_node **order = n->items;
    krm_node ***keys = NULL;
    if (map) {
        keys = malloc(cnt * sizeof *keys);
        if (!keys)
            return porch_error_set(500, "out of memory");
        for (size_t i = 0; i < cnt; i++)
            keys[i] = &n->items[2 * i];
        qsort(keys, cnt, sizeof *keys, key_cmp);
    }
    j->path[j->depth++] = n;
    int rc = 0;
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        if (i)
            krm_buf_put(b, ",", 1);
        json_indent(b, ind + 2);
        if (map) {
            const krm_node *k = keys[i][0];
            if (k->kind != KRM_SCALAR) {
                rc = porch_error_set(
                    400, "line %d: a non-scalar mapping key cannot be written as JSON", k->line);
                break;
            }
            json_str(b, krm_node_value(k), k->len);
            krm_buf_put(b, ": ", 2);
            rc = json_node(b, keys[i][1], ind + 2, j);
        } else {
            rc = json_node(b, order[i], ind + 2, j);
        }
    }
    j->depth--;
    free(keys);
    if (rc < 0)
        return rc;
    json_indent(b, ind);
    return krm_buf_put(b, map ? "}" : "]", 1);
}

int krm_node_emit_json(const krm_node *n, krm_buf *out)
{
    jctx *j = calloc(1, sizeof *j);
    if (!j)
        return porch_error_set(500, "out of memory");
    j->budget = 10000000;
    int rc = json_node(out, n, 0, j);
    free(j);
    if (rc < 0)
        return -1;
    return krm_buf_put(out, "\n", 1);
}
