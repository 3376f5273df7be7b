/* Private to common/fn: what a built-in function sees (the ResourceList's
 * stream, items and functionConfig, the results to append to), the table of
 * built-ins, and the small KRM helpers several built-ins share (config forms,
 * local-config filtering, GVK matching). */
#ifndef PORCH_FN_BUILTIN_H
#define PORCH_FN_BUILTIN_H

#include "fn/fn.h"

typedef struct fn_ctx {
    krm_stream *s;
    krm_node *rl;     /* the ResourceList mapping */
    krm_node *items;  /* its items sequence (created when missing) */
    krm_node *config; /* functionConfig mapping, or NULL */
    fn_results *results;
    const char *name; /* the function's catalog name */
} fn_ctx;

/* Runs over ctx; 0 on success, negative with porch_error_set() when the
 * function fails (an error result is also appended). */
typedef int (*fn_builtin_run)(fn_ctx *ctx);

typedef struct fn_builtin {
    const char *name;
    fn_builtin_run run;
    /* The catalog function is built on the kpt functions SDK (fn.AsMain),
     * which sorts the items it writes by "apiVersion kind namespace name". */
    bool sdk_sorted;
} fn_builtin;

const fn_builtin *fn_builtin_find(const char *name);
size_t fn_builtin_count(void);
const fn_builtin *fn_builtin_at(size_t i);

int fn_builtin_apply_replacements(fn_ctx *c);
int fn_builtin_apply_setters(fn_ctx *c);
int fn_builtin_create_setters(fn_ctx *c);
int fn_builtin_list_setters(fn_ctx *c);
int fn_builtin_ensure_name_substring(fn_ctx *c);
int fn_builtin_remove_local_config_resources(fn_ctx *c);
int fn_builtin_search_replace(fn_ctx *c);
int fn_builtin_set_annotations(fn_ctx *c);
int fn_builtin_set_image(fn_ctx *c);
int fn_builtin_set_labels(fn_ctx *c);
int fn_builtin_set_namespace(fn_ctx *c);
int fn_builtin_upsert_resource(fn_ctx *c);
int fn_builtin_set_enforcement_action(fn_ctx *c);
int fn_builtin_format(fn_ctx *c);
int fn_builtin_fix(fn_ctx *c);

/* ---- shared helpers (fn_util.c) ---- */
/* Appends an error result and sets the error slot: "<fn>: <message>"; returns -1. */
int fn_fail(fn_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with the functionConfig as the result's resourceRef (kpt's ErrorConfigObjectResult). */
int fn_fail_config(fn_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a result with an explicit message (printf-style). */
int fn_resultf(fn_ctx *c, fn_severity sev, const krm_node *res, const char *field, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
const char *fn_config_kind(const fn_ctx *c);          /* NULL when no config */
bool fn_config_is(const fn_ctx *c, const char *kind); /* kind match (any apiVersion) */
/* The config's `data` mapping when it is a ConfigMap, else NULL. */
krm_node *fn_config_data(const fn_ctx *c);
/* A scalar field of the config: data.<key> for ConfigMaps, <key> at top level otherwise. */
const char *fn_config_get(const fn_ctx *c, const char *key);
bool fn_is_local_config(const krm_node *item);
/* Group of a resource's apiVersion ("" for core), copied into buf. */
const char *fn_res_group(const krm_node *item, char *buf, size_t len);
/* kpt SDK IsGVK: a group/version/kind empty in the query or in the resource
 * matches anything. */
bool fn_is_gvk(const krm_node *item, const char *group, const char *version, const char *kind);
/* kpt SDK scope: built-in Kubernetes kinds by their known scope, anything
 * else namespace-scoped only when it has metadata.namespace. */
bool fn_is_namespace_scoped(const krm_node *item);
/* "Kind/name" or "Kind/ns/name" as kpt's ShortString writes (into buf). */
const char *fn_short_string(const krm_node *item, char *buf, size_t len);
/* Calls `fn` for every node tagged with a "# kpt-set: PATTERN" line comment
 * (on the value, or on the key of a block sequence); `path` is the dotted
 * field path. Stops when fn returns negative. */
typedef struct fn_setter_site {
    krm_node *item;   /* the resource */
    krm_node *value;  /* the tagged node */
    krm_node *parent; /* its mapping, or NULL for a sequence item */
    const char *key;  /* its key in parent, or NULL */
    const char *pattern, *path;
} fn_setter_site;
typedef int (*fn_setter_visit)(fn_ctx *c, const fn_setter_site *site, void *ud);
int fn_walk_setters(fn_ctx *c, krm_node *item, fn_setter_visit fn, void *ud);
/* Sets the scalar `node` (the value of `key` in mapping `parent`, or a
 * list item when parent is NULL) to text: a plain number or bool stays a
 * plain scalar when the new text is one too (kyaml keeps the tag); anything
 * else keeps the node's style and comments. */
int fn_scalar_replace(krm_stream *s, krm_node *parent, const char *key, krm_node *node,
                      const char *text);
/* "int", "float" or "bool" when a plain scalar with this text is one, else NULL. */
const char *fn_plain_type(const char *v);
/* A scalar's value or NULL when `n` is not a scalar. */
const char *fn_scalar(const krm_node *n);
/* Gets or creates a mapping under key (appended); NULL when the key holds a non-map. */
krm_node *fn_ensure_map(krm_stream *s, krm_node *parent, const char *key);
/* Sets key to a string scalar: keeps the existing node (style, comments) when present. */
int fn_set_string(krm_stream *s, krm_node *m, const char *key, const char *value);
/* Sorts a string array in place (strcmp order). */
void fn_sort_strings(const char **v, size_t n);

#endif
