/* The evaluator interface: one call runs one KRM function over a ResourceList
 * held in a krm tree, whatever runs it — a built-in C implementation in this
 * process, a sandboxed executable (exec.h), or porch-function-runner over the
 * bus. The CaD library (render, eval) and the function-runner service both
 * use it; the runtime's configuration decides what may run. */
#ifndef PORCH_FN_H
#define PORCH_FN_H

#include "fn/exec.h"
#include "krm/krm.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- results (kpt's FunctionResult items) ---- */
/* FN_SEV_NONE: the function gave no severity (kpt writes the result without one). */
typedef enum { FN_SEV_INFO = 0, FN_SEV_WARNING, FN_SEV_ERROR, FN_SEV_NONE } fn_severity;

typedef struct fn_result {
    char *message;
    fn_severity severity;
    /* resourceRef (all may be NULL) */
    char *ref_api_version, *ref_kind, *ref_name, *ref_namespace;
    char *field_path; /* field.path, or NULL */
    char *file_path;  /* file.path, or NULL */
    int file_index;   /* file.index, -1 when unset */
} fn_result;

typedef struct fn_results {
    fn_result *items;
    size_t len, cap;
} fn_results;

/* Appends a result; strings are copied (NULL allowed). */
int fn_results_add(fn_results *r, fn_severity sev, const char *message, const krm_node *resource,
                   const char *field_path);
/* Appends a copy of `src` (every string copied; NULL allowed). */
int fn_results_add_full(fn_results *r, const fn_result *src);
void fn_results_free(fn_results *r);
/* The results as a new kpt-style sequence in `s` (message, severity, resourceRef,
 * field.path, file.path/index — empty fields left out), as in a ResourceList. */
krm_node *fn_results_to_node(krm_stream *s, const fn_results *r);
/* "info", "warning", "error", or NULL for FN_SEV_NONE. */
const char *fn_severity_name(fn_severity sev);
bool fn_results_has_error(const fn_results *r);

/* ---- what to run ---- */
typedef struct fn_call {
    const char *image;      /* e.g. "gcr.io/kpt-fn/set-labels:v0.2.0"; NULL for exec */
    const char *exec_path;  /* exec function path (CLI --exec / Kptfile exec:), or NULL */
    char *const *exec_args; /* extra exec arguments, NULL-terminated, or NULL */
    const char *workdir;    /* cwd for exec functions, or NULL */
    int timeout_ms;         /* this call's deadline for exec functions when shorter than the
                               runtime's (e.g. what is left of a bus request); 0 = runtime's */
} fn_call;

/* ---- the runtime ---- */
typedef struct fn_runtime fn_runtime;

typedef struct fn_runtime_opts {
    bool builtins;   /* run built-in implementations of catalog images (default on) */
    bool allow_exec; /* allow exec_path functions (CLI --allow-exec) */
    const char
        *image_map; /* file mapping images to executables (function-runner config), or NULL */
    const char *const *deny_images; /* image patterns never run, NULL-terminated, or NULL */
    fn_exec_limits limits; /* for exec functions; zero = none (CLI), see fn_exec_limits_service */
    bool inherit_env;      /* exec functions see the caller's environment (CLI parity) */
} fn_runtime_opts;

int fn_runtime_new(const fn_runtime_opts *opts, fn_runtime **out);
void fn_runtime_free(fn_runtime *rt);

/* Runs `call` over the ResourceList `rl` (a mapping with kind ResourceList,
 * items, and optional functionConfig) in stream `s`. On success `rl`'s items
 * are replaced by the function's output items (in place for built-ins,
 * re-parsed for exec) and its results appended to `results`; stderr of exec
 * functions goes to `stderr_out` when non-NULL (malloc'd). Returns 0 when the
 * function ran and succeeded (results may still hold errors: check
 * fn_results_has_error), or negative with porch_error_last() naming the
 * function (unknown image → 404 listing what is available, exec not allowed,
 * timeout, non-zero exit, output that is not a ResourceList). */
int fn_runtime_eval(fn_runtime *rt, const fn_call *call, krm_stream *s, krm_node *rl,
                    fn_results *results, char **stderr_out);

/* The same over wire text, for callers that already speak the exec protocol:
 * `in` is a ResourceList as YAML; on return `res` looks like an exec run
 * (out = the output ResourceList with `results`, err, exit_code 0 or 1 when
 * the function failed or reported an error result) whatever ran the function.
 * Returns 0 when the function ran (look at res->exit_code), or negative when
 * it could not run at all (unknown image 404, denied 403, exec not allowed,
 * input that is not a ResourceList 400). Free `res` with fn_exec_result_free. */
int fn_runtime_eval_text(fn_runtime *rt, const fn_call *call, const char *in, size_t len,
                         fn_exec_result *res);

/* A new JSON-ready description of what can run: built-in names and mapped images,
 * as a NUL-terminated text list for messages ("apply-setters, set-labels, ..."). */
char *fn_runtime_available(const fn_runtime *rt);

/* The images of the image map (borrowed), for describe: i < fn_runtime_mapped_count. */
size_t fn_runtime_mapped_count(const fn_runtime *rt);
const char *fn_runtime_mapped_image(const fn_runtime *rt, size_t i, const char **exec);

/* The catalog name of an image, or NULL when it is not a catalog image:
 * "gcr.io/kpt-fn/set-labels:v0.2.0", "ghcr.io/kptdev/krm-functions-catalog/set-labels",
 * "set-labels:latest" → "set-labels" (copied into buf). */
const char *fn_image_function_name(const char *image, char *buf, size_t len);

/* kpt's expansion of a short image name: "set-labels:v1" →
 * "ghcr.io/kptdev/krm-functions-catalog/set-labels:v1"; any image with a '/'
 * is copied as is. Returns buf. */
const char *fn_image_expand(const char *image, char *buf, size_t len);

#endif
