/* KRM document model: a comment-preserving YAML tree built on libyaml's event
 * parser, with an emitter that writes what kpt (kyaml over go-yaml v3) writes,
 * plus the KRM helpers (identity, labels/annotations, paths, kpt annotations)
 * that the CaD library, the functions and porchctl share. */
#ifndef PORCH_KRM_H
#define PORCH_KRM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct krm_stream krm_stream; /* owns every node and document it holds */
typedef struct krm_doc krm_doc;
typedef struct krm_node krm_node;

typedef enum { KRM_SCALAR = 1, KRM_MAP, KRM_SEQ, KRM_ALIAS } krm_kind;
typedef enum { KRM_PLAIN = 0, KRM_SINGLE, KRM_DOUBLE, KRM_LITERAL, KRM_FOLDED } krm_style;
typedef enum { KRM_SEQ_COMPACT = 0, KRM_SEQ_WIDE = 1 } krm_seqindent;
typedef enum { KRM_COMMENT_HEAD = 0, KRM_COMMENT_LINE, KRM_COMMENT_FOOT } krm_comment;

/* Hostile-input limits; zero fields take the defaults below. */
typedef struct krm_limits {
    size_t max_depth;        /* nesting depth (default 256) */
    size_t max_doc_bytes;    /* one document (default 64 MiB) */
    size_t max_stream_bytes; /* whole input (default 256 MiB) */
    size_t max_alias_nodes;  /* nodes reachable through aliases (default 1,000,000) */
} krm_limits;

/* A growable output buffer; zero-initialise, release with krm_buf_free. */
typedef struct krm_buf {
    char *data;
    size_t len, cap;
} krm_buf;
int krm_buf_put(krm_buf *b, const void *p, size_t n);
void krm_buf_free(krm_buf *b);

/* ---- streams and documents ---- */
krm_stream *krm_stream_new(void);
void krm_stream_free(krm_stream *s);
/* Parses a YAML stream. `name` is used in error messages ("file:line:col: problem").
 * On error returns -1 with a 400 in the error slot and *out untouched. */
int krm_stream_parse(const char *buf, size_t len, const char *name, const krm_limits *lim,
                     krm_stream **out);
/* The first syntax error of buf as kpt prints it (go-yaml's text, "yaml:
 * line N: problem") into out; 0 when buf has none, -1 otherwise. */
int krm_syntax_error_goyaml(const char *buf, size_t len, char *out, size_t cap);
size_t krm_stream_count(const krm_stream *s);
krm_doc *krm_stream_doc(const krm_stream *s, size_t i); /* borrowed */
/* Appends a new document holding `root` (a node of this stream). */
krm_doc *krm_stream_add_doc(krm_stream *s, krm_node *root);
/* Writes every non-empty document, "---" between them, the way kpt writes a file. */
int krm_stream_emit(const krm_stream *s, krm_buf *out);

krm_node *krm_doc_root(const krm_doc *d);
void krm_doc_set_root(krm_doc *d, krm_node *root);
krm_seqindent krm_doc_seqindent(const krm_doc *d);
void krm_doc_set_seqindent(krm_doc *d, krm_seqindent si);
const char *krm_doc_comment(const krm_doc *d, krm_comment which); /* head or foot, NULL if none */
bool krm_doc_explicit_start(const krm_doc *d);

/* Same, handing the text to `write` in chunks of about 64 KiB instead of keeping it
 * all in memory; `write` returns 0, or negative to stop with an error. */
int krm_stream_emit_to(const krm_stream *s, int (*write)(void *ctx, const char *p, size_t n),
                       void *ctx);
/* Writes one node as a whole document (no "---"). */
int krm_node_emit(const krm_node *n, krm_seqindent si, krm_buf *out);
/* Writes a node as indented JSON with sorted keys (what kpt writes for *.json). */
int krm_node_emit_json(const krm_node *n, krm_buf *out);
/* Writes a ResourceList (items + optional functionConfig) as `kpt fn source` does. */
int krm_emit_resource_list(krm_node *const *items, size_t n, const krm_node *fn_config,
                           krm_buf *out);

/* ---- nodes ---- */
krm_kind krm_node_kind(const krm_node *n);
krm_style krm_node_style(const krm_node *n);
bool krm_node_is_flow(const krm_node *n);
const char *krm_node_value(const krm_node *n); /* scalar text / alias name, NUL-terminated */
size_t krm_node_len(const krm_node *n);
const char *krm_node_tag(const krm_node *n);    /* explicit tag as written, or NULL */
const char *krm_node_anchor(const krm_node *n); /* or NULL */
const krm_node *krm_node_alias_target(const krm_node *n);
int krm_node_line(const krm_node *n); /* 1-based source line, 0 for new nodes */
int krm_node_column(const krm_node *n);
const char *krm_node_comment(const krm_node *n, krm_comment which); /* NULL if none */
int krm_node_set_comment(krm_stream *s, krm_node *n, krm_comment which, const char *text);
bool krm_scalar_is_null(const krm_node *n);

krm_node *krm_node_new_map(krm_stream *s);
krm_node *krm_node_new_seq(krm_stream *s);
/* A string scalar: written quoted when it would otherwise read back as another type. */
krm_node *krm_node_new_string(krm_stream *s, const char *v);
/* A scalar written in `style` exactly (e.g. an int as plain "3"). */
krm_node *krm_node_new_scalar(krm_stream *s, const char *v, size_t len, krm_style style);
int krm_scalar_set(krm_stream *s, krm_node *n, const char *v); /* keeps style and comments */
void krm_node_set_style(krm_node *n, krm_style style);
void krm_node_set_flow(krm_node *n, bool flow);

/* Deep copy into stream `dst` (aliases are copied as aliases). */
krm_node *krm_node_copy(krm_stream *dst, const krm_node *n);
/* Structural equality: same kinds, keys in any order, same scalar values
 * (styles, comments and tags that do not change the value are ignored). */
bool krm_node_equal(const krm_node *a, const krm_node *b);

size_t krm_map_len(const krm_node *m);
krm_node *krm_map_key_at(const krm_node *m, size_t i);
krm_node *krm_map_value_at(const krm_node *m, size_t i);
krm_node *krm_map_get(const krm_node *m, const char *key); /* borrowed or NULL */
/* Replaces the value of `key` (keeping the key's comments) or appends the pair. */
int krm_map_set(krm_stream *s, krm_node *m, const char *key, krm_node *value);
int krm_map_delete(krm_node *m, const char *key); /* 0 deleted, 1 absent */
size_t krm_seq_len(const krm_node *q);
krm_node *krm_seq_at(const krm_node *q, size_t i);
int krm_seq_append(krm_stream *s, krm_node *q, krm_node *item);
int krm_seq_delete(krm_node *q, size_t i);

/* ---- KRM helpers (root = a resource's top mapping) ---- */
const char *krm_res_api_version(const krm_node *root);
const char *krm_res_kind(const krm_node *root);
const char *krm_res_name(const krm_node *root);
const char *krm_res_namespace(const krm_node *root);
const char *krm_res_annotation(const krm_node *root, const char *key);
const char *krm_res_label(const krm_node *root, const char *key);
/* Set creates metadata / annotations / labels maps when missing (appended last). */
int krm_res_set_annotation(krm_stream *s, krm_node *root, const char *key, const char *value);
int krm_res_set_label(krm_stream *s, krm_node *root, const char *key, const char *value);
/* Delete drops the annotations/labels map when it becomes empty, and metadata too. */
int krm_res_delete_annotation(krm_node *root, const char *key);
int krm_res_delete_label(krm_node *root, const char *key);

/* Paths: "spec.template.spec.containers[name=main].image", "a.b[0]", "metadata.labels.app". */
krm_node *krm_path_get(const krm_node *root, const char *path);
/* Sets the node at `path`, creating intermediate maps (not list entries). */
int krm_path_set(krm_stream *s, krm_node *root, const char *path, krm_node *value);
int krm_path_delete(krm_node *root, const char *path);

/* kpt's path/index annotations (spec §17). */
#define KRM_ANNO_PATH "config.kubernetes.io/path"
#define KRM_ANNO_INDEX "config.kubernetes.io/index"
#define KRM_ANNO_IPATH "internal.config.kubernetes.io/path"
#define KRM_ANNO_IINDEX "internal.config.kubernetes.io/index"
#define KRM_ANNO_SEQINDENT "internal.config.kubernetes.io/seqindent"
/* Adds index, path (legacy + internal) and seqindent as `kpt fn source` does. */
int krm_res_set_kpt_annotations(krm_stream *s, krm_node *root, const char *path, int index,
                                krm_seqindent si);
/* Reads path/index, preferring internal.* and falling back to the legacy keys. */
const char *krm_res_path(const krm_node *root);
int krm_res_index(const krm_node *root); /* -1 when absent */
/* Removes every kpt-internal annotation (path, index, seqindent, legacy ones). */
int krm_res_clear_kpt_annotations(krm_node *root);

/* Legacy/new annotation migration around a function call (spec §17, kyaml kio.Pipeline).
 * Before: fills the missing half of each path/index/id pair from the other (differing
 * halves are an error), adds the temporary migration id `seq`, and reports the input's
 * format. After: when the function changed only one half the other follows, missing
 * halves are filled, both kept or one dropped to match `fmt`, the temporary id removed.
 * `before` is the item as it was handed to the function (NULL for a new item). */
typedef enum {
    KRM_ANNO_BOTH = 0,
    KRM_ANNO_INTERNAL_ONLY,
    KRM_ANNO_LEGACY_ONLY,
    KRM_ANNO_NONE
} krm_anno_format;
#define KRM_ANNO_ID "internal.config.kubernetes.io/id"
#define KRM_ANNO_LEGACY_ID "config.k8s.io/id"
#define KRM_ANNO_MIGRATION_ID "internal.config.kubernetes.io/annotations-migration-resource-id"
int krm_res_migrate_pre(krm_stream *s, krm_node *root, int seq, krm_anno_format *fmt);
int krm_res_migrate_post(krm_stream *s, krm_node *after, const krm_node *before,
                         krm_anno_format fmt);

/* Comment healing: copies comments of `before` onto the matching nodes of
 * `after` (same key paths; list items matched by name/key or position) where
 * `after` has none, as kpt does after a function runs. */
int krm_heal_comments(krm_stream *s, const krm_node *before, krm_node *after);

#endif
