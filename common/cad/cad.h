/* The CaD library: kpt's package algorithms shared by porchctl and the
 * server — init, get (clone with upstream pointers), update (3-way merge),
 * diff, eval (one function) and render (a package's pipelines, subpackages
 * first). Functions run through the exec sandbox or a built-in evaluator. */
#ifndef PORCH_CAD_H
#define PORCH_CAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- pkg init ---- */
typedef struct cad_init_opts {
    const char *dir;         /* existing directory */
    const char *display;     /* how to name dir in messages (the CLI argument), or NULL */
    const char *name;        /* package name; default: basename of dir */
    const char *description; /* default "sample description" */
    const char *keywords;    /* comma separated, or NULL */
    const char *site;        /* or NULL */
    FILE *log;               /* "writing ..." lines, or NULL */
} cad_init_opts;
int cad_pkg_init(const cad_init_opts *o);

/* ---- pkg get ---- */
typedef struct cad_get_opts {
    const char *repo;      /* file://..., /path, https://... (without .git suffix handling) */
    const char *directory; /* subdirectory in the repo, "" or "/" for the root */
    const char *ref;       /* branch, tag or commit; NULL = default branch */
    const char *dest;      /* destination directory (must not exist, or be empty) */
    const char *strategy;  /* update strategy recorded in the Kptfile, default resource-merge */
    FILE *log;
} cad_get_opts;
/* Splits a kpt package argument "REPO[.git]/DIR[@REF]" into its parts (malloc'd). */
int cad_parse_pkg_arg(const char *arg, char **repo, char **dir, char **ref);
int cad_pkg_get(const cad_get_opts *o);

/* ---- pkg update ---- */
typedef struct cad_update_opts {
    const char *dir;      /* local package */
    const char *ref;      /* new ref, or NULL to keep upstream.git.ref */
    const char *strategy; /* NULL: from the Kptfile */
    FILE *log;
} cad_update_opts;
int cad_pkg_update(const cad_update_opts *o);

/* ---- pkg diff ---- */
typedef struct cad_diff_opts {
    const char *dir;
    const char *version;   /* NULL: the upstreamLock commit */
    const char *diff_type; /* local (default), remote, combined, 3way */
    const char *diff_tool; /* default "diff" */
    const char *diff_tool_opts; /* default "-r -i -w" */
} cad_diff_opts;
int cad_pkg_diff(const cad_diff_opts *o);

/* ---- functions ---- */
typedef struct cad_selector {
    const char *api_version, *kind, *name, *ns;
    const char *labels;      /* "k=v,k2=v2" or NULL */
    const char *annotations; /* same */
} cad_selector;

struct fn_exec_result;

/* Runs the function of `image` over the ResourceList text rl[0..len) somewhere
 * else — porch-engine runs them through porch-function-runner — filling res
 * as fn_runtime_eval_text does (malloc'd out and err, exit_code). Returns 0,
 * or -1 with the error slot set when the function could not be run at all. */
typedef int (*cad_image_runner)(void *ud, const char *image, const char *rl, size_t len,
                                struct fn_exec_result *res);

typedef struct cad_fn_opts {
    bool allow_exec;
    bool truncate_output;  /* kpt's --truncate-output (default true) */
    const char *results_dir; /* or NULL */
    FILE *log;             /* progress ([RUNNING]/[PASS]), normally stderr */
    cad_image_runner run_image; /* NULL: the built-in functions, in this process */
    void *run_image_ud;
} cad_fn_opts;

typedef struct cad_eval_opts {
    cad_fn_opts fn;
    const char *dir;        /* package, or "-" for stdin */
    const char *image;      /* one of image / exec */
    const char *exec;
    const char *fn_config;  /* file, or NULL */
    char *const *kv;        /* "k=v" list for a ConfigMap functionConfig, NULL-terminated */
    cad_selector match;     /* --match-* */
    cad_selector exclude;   /* --exclude-* */
    const char *output;     /* NULL (in place), "stdout", "unwrap" or a directory */
    bool include_meta;      /* --include-meta-resources (accepted; Kptfile is always included) */
    bool save;              /* -s: save the function in the Kptfile pipeline */
    const char *fn_type;    /* -t mutator|validator */
} cad_eval_opts;
int cad_fn_eval(const cad_eval_opts *o);

typedef struct cad_render_opts {
    cad_fn_opts fn;
    const char *dir;
    const char *output; /* NULL, "stdout", "unwrap" or a directory */
} cad_render_opts;
int cad_fn_render(const cad_render_opts *o);

/* ---- package file sets (files.c): path → text objects on disk ---- */
/* A fresh private directory under parent (malloc'd path in *out). */
int cad_workdir_new(const char *parent, char **out);
/* Removes dir and everything under it. */
void cad_workdir_remove(const char *dir);
/* A service's parent of work directories: /dev/shm/porch-<name>-<pid>-XXXXXX
 * when /dev/shm is writable (*own = 1: the caller removes it at exit; those
 * of dead processes of the same name are removed here), else `fallback`,
 * made if missing (*own = 0). */
int cad_scratch_dir(const char *name, const char *fallback, char *out, size_t len, int *own);
/* Writes every path → text of `resources` under dir; paths must stay inside (400). */
int cad_files_write(const char *dir, json_t *resources);
/* Reads every regular file under dir (but .git) back into a new path → text object. */
int cad_files_read(const char *dir, json_t **resources);
/* Renders a file set (kpt fn render) in a work directory under parent with
 * fn's options (its results_dir is set here): *resources is replaced by the
 * files as the render left them; *status (new) is {"error": message or "",
 * "result": the FunctionResultList}. -1 with the render's error (500) when a
 * function could not run or ran and failed; -1 without a status when the
 * file set cannot be laid out (a path outside the package: 400). */
int cad_render_files(json_t **resources, const char *parent, const cad_fn_opts *fn,
                     json_t **status);

/* ---- fn source ---- */
/* The package at dir (subpackages included, .krmignore honoured, kpt's
 * path/index/seqindent annotations) as a ResourceList, with the first
 * resource of the file fn_config (or none when NULL) as functionConfig.
 * *out is malloc'd text, NULL on error. */
int cad_fn_source(const char *dir, const char *fn_config, char **out, size_t *len);

#endif
