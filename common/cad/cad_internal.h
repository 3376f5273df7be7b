/* Private helpers of the CaD library shared by its .c files: string and file
 * utilities, the in-memory package (resources read from files, written back
 * as kpt does) and the function runner (ResourceList in, ResourceList out). */
#ifndef PORCH_CAD_INTERNAL_H
#define PORCH_CAD_INTERNAL_H

#include "cad.h"
#include "krm/krm.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- util.c ---- */
typedef struct cad_strv {
    char **v;
    size_t n, cap;
} cad_strv;
int cad_strv_push(cad_strv *l, const char *s);
void cad_strv_free(cad_strv *l);
char *cad_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cad_path_join(const char *a, const char *b);
int cad_read_file(const char *path, char **out, size_t *len);
int cad_write_file(const char *path, const char *data, size_t len); /* mkdir -p parents */
int cad_mkdirs(const char *path);
int cad_rm_rf(const char *path);
int cad_copy_tree(const char *src, const char *dst, bool skip_git);
bool cad_is_dir(const char *path);
bool cad_exists(const char *path);
/* Files under root (recursive, sorted, root-relative), skipping .git. */
int cad_list_files(const char *root, cad_strv *out);
/* Shell-like split ("sed -e 's/a/b/'" -> sed, -e, s/a/b/). */
int cad_shell_split(const char *cmd, cad_strv *out);
char *cad_abspath(const char *p);

/* ---- pkg.c: packages as resources ---- */
typedef struct cad_items {
    krm_node **v;
    size_t n, cap;
} cad_items;
int cad_items_push(cad_items *it, krm_node *n);

typedef struct cad_doc_head { /* a resource read from a file whose document has a head comment */
    const krm_node *root;
    const char *comment; /* lives in root's stream */
} cad_doc_head;

typedef struct cad_pool { /* owns streams and source buffers */
    krm_stream **s;
    size_t n, cap;
    char **bufs;
    size_t nb, capb;
    cad_doc_head *heads; /* documents' head comments by resource (kyaml keeps the document) */
    size_t nh, caph;
} cad_pool;
krm_stream *cad_pool_stream(cad_pool *p); /* a new empty stream owned by the pool */
int cad_pool_keep(cad_pool *p, krm_stream *s, char *buf);
void cad_pool_free(cad_pool *p);
/* The head comment of the document root was read from (a comment block
 * followed by a blank line at the top of the document), or NULL. */
const char *cad_pool_doc_head(const cad_pool *p, const krm_node *root);

/* Reads the KRM files of `dir` (recursing into subpackages when `subpkgs`),
 * annotating each resource with path/index/seqindent (and package-path when
 * `pkg_path` is set). Adds the relative file names that held resources to `files`. */
int cad_pkg_read(cad_pool *pool, const char *dir, bool subpkgs, const char *pkg_path,
                 cad_items *out, cad_strv *files);
/* kpt's GetValidatedFnConfigFromPath: the file at fs_path must hold exactly
 * one KRM resource (empty documents do not count). `path` names it in
 * messages as the user wrote it, `shown` in an open error. Returns the
 * resource (its stream kept in pool) or NULL with kpt's message. */
krm_node *cad_fn_config_read(cad_pool *pool, const char *fs_path, const char *path,
                             const char *shown);
/* kpt's AreKRM over items[from..]: apiVersion, kind and metadata.name
 * (kustomization files excepted); the error names the file. */
int cad_items_check_krm(const cad_items *items, size_t from);
/* Writes items back under `dir` (package-path annotations win), dropping kpt's
 * annotations; deletes files of `old_files` (absolute) that lost all their resources. */
int cad_pkg_write(const char *dir, cad_items *items, const cad_strv *old_files);
/* Emits items as plain documents (annotations removed), like `-o unwrap`. */
int cad_items_unwrap(cad_items *items, krm_buf *out);
void cad_default_path(const krm_node *r, char *out, size_t cap);
int cad_set_anno_q(krm_stream *s, krm_node *r, const char *k, const char *v);
bool cad_is_kptfile(const krm_node *r);

/* ---- fnrun.c: one function over a list of items ---- */
typedef struct cad_fnspec {
    const char *image;
    const char *exec;
    const char *display;      /* name in messages */
    krm_node *config;         /* functionConfig, borrowed or NULL */
    krm_node *selectors;      /* Kptfile-style seq of selector maps, or NULL */
    krm_node *exclude;
    const cad_selector *match; /* CLI selectors, or NULL */
    const cad_selector *cli_exclude;
} cad_fnspec;

typedef struct cad_fnres {
    int exit_code;
    char *stderr_text;   /* malloc'd */
    char *error;         /* execution error (could not run), malloc'd */
    krm_node *results;   /* seq of result maps (in `rs`), or NULL */
    krm_stream *rs;      /* owns results */
    size_t nselected;
    bool had_selection;
} cad_fnres;
void cad_fnres_free(cad_fnres *r);

/* Runs fn over `items` (replaced by the output on success, unless validator).
 * Returns 0 when the function succeeded, -1 otherwise (r filled either way). */
int cad_fn_run(cad_pool *pool, const cad_fn_opts *o, const cad_fnspec *fn, cad_items *items,
               bool validator, cad_fnres *r);
/* Prints kpt's [PASS]/[FAIL] block (results, stderr, exit code). */
void cad_fn_report(FILE *log, const cad_fnspec *fn, const cad_fnres *r, bool ok, bool truncate);
/* Results file: one FunctionResultList. */
typedef struct cad_resultlist {
    krm_stream *s;
    krm_node *items;
    int exit_code;
} cad_resultlist;
int cad_resultlist_add(cad_resultlist *l, const cad_fnspec *fn, const cad_fnres *r);
int cad_resultlist_write(cad_resultlist *l, const char *dir, FILE *log);
void cad_resultlist_free(cad_resultlist *l);
krm_node *cad_configmap(krm_stream *s, krm_node *data_map, bool eval_order);

/* ---- get.c, shared with update ---- */
int cad_kptfile_set_upstream(krm_stream *s, krm_node *root, krm_node *up, krm_node *lock);
void cad_res_identifier(const krm_node *r, char *out, size_t cap);
int cad_mark_resources(const char *dest);
bool cad_mark_stream(krm_stream *s);
int cad_mark_xform(const char *rel, const char *in, size_t len, char **out, size_t *outlen);
int cad_fetch_into(const cad_get_opts *o, const char *dest, const char *name);

#endif
