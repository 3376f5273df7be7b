/* Private layout of the KRM document model, shared by its .c files only:
 * the arena that owns nodes and strings, and the node/document structs. */
#ifndef PORCH_KRM_INTERNAL_H
#define PORCH_KRM_INTERNAL_H

#include "krm.h"

#include <stdint.h>

typedef struct krm_chunk {
    struct krm_chunk *next;
    size_t used, cap;
    size_t mapped; /* a size_t keeps data[] 8-byte aligned */
    char data[];
} krm_chunk;

/* Rarely present parts of a node, kept out of line so a node stays 48 bytes. */
typedef struct krm_extra {
    char *tag, *anchor;
    char *head, *line_c, *foot;
    krm_node *target; /* alias target */
} krm_extra;

/* 32 bytes: a parsed package holds one node per scalar and collection. */
struct krm_node {
    uint8_t kind;  /* krm_kind */
    uint8_t style; /* krm_style for scalars */
    uint8_t flow;  /* collections: 1 = flow style, | KRM_EXACT */
    uint8_t str;   /* 1: made by krm_node_new_string, quote if it resolves to non-str;
                    * KRM_SRC_BLOCK_PLAIN: plain in block context in the source, so it can
                    * be written back plain in block context without analysis */
    union {
        uint32_t len; /* scalar text / alias name length */
        uint32_t n;   /* collections: slots used (2 per map pair) */
    };
    int32_t line, col; /* 1-based source position, 0 when created */
    union {
        char *value;      /* scalar text or alias name (NUL-terminated) */
        krm_node **items; /* seq items, or map key,value,key,value... */
    };
    krm_extra *x;
};
/* Collections parsed from a source hold exact-size item arrays; arrays grown by
 * krm_node_push have a power-of-two capacity. KRM_EXACT marks the former. */
#define KRM_EXACT 0x80
#define KRM_SRC_BLOCK_PLAIN 2

/* Text length of a scalar or alias; 0 for collections (whose `n` shares the slot). */
#define KLEN(node) ((node)->kind == KRM_SCALAR || (node)->kind == KRM_ALIAS ? (node)->len : 0u)
#define KX(node, field) ((node)->x ? (node)->x->field : NULL)
krm_extra *krm_node_x(krm_stream *s, krm_node *n); /* allocates on first use */

struct krm_doc {
    krm_node *root;
    char *head, *foot;
    uint8_t seqindent;
    uint8_t explicit_start;
    size_t src_start, src_end; /* byte range in the parsed input */
};

struct krm_stream {
    krm_chunk *chunks;
    size_t arena_bytes;
    krm_doc **docs;
    size_t ndocs, capdocs;
};

void *krm_alloc(krm_stream *s, size_t n); /* zeroed, lives as long as the stream */
char *krm_strndup(krm_stream *s, const char *p, size_t n);
krm_node *krm_node_alloc(krm_stream *s, krm_kind kind);
int krm_node_push(krm_stream *s, krm_node *coll, krm_node *item);

/* scalar.c: what the emitter needs to know about a scalar value. */
typedef struct krm_scalar_info {
    bool multiline, flow_plain, block_plain, single_ok, block_ok;
} krm_scalar_info;
void krm_scalar_analyze(const char *v, size_t len, krm_scalar_info *out);
/* True when a plain `v` would read back as something else than a string. */
bool krm_scalar_resolves_non_str(const char *v, size_t len);
/* The JSON kind of a plain scalar: 's' string, 'i' int, 'f' float, 'b' bool, 'n' null. */
char krm_scalar_json_kind(const char *v, size_t len);

#endif
