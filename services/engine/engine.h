/* porch-engine's shared context and the helpers its op handlers share:
 * peer calls (cache, git adapter, function runner), per-object try-locks, and package file
 * sets materialised in a work directory for the CaD library. */
#ifndef PORCH_ENGINE_H
#define PORCH_ENGINE_H

#include "bus/bus.h"
#include "contents.h"
#include "svc/svc.h"

#include <pthread.h>

#define ENGINE_KIND_REPOSITORY "repositories.config.porch.kpt.dev"
#define ENGINE_KIND_REVISION "packagerevisions.porch.kpt.dev"
#define ENGINE_KIND_REVMETA "packagerevmetas.porch.kpt.dev"
#define ENGINE_MAX_LOCKS 1024

typedef struct engine {
    svc_context svc;
    bus_client *cache;
    bus_client *git;
    bus_client *functions; /* porch-function-runner: every function of a render runs there */
    char work_dir[4096]; /* per-request package directories (--work-dir) */
    pthread_mutex_t locks_mutex;
    char *locks[ENGINE_MAX_LOCKS];  /* keys of objects being changed right now */
    engine_contents *contents;      /* package files by commit (--content-cache-mb) */
    struct engine_renders *renders; /* finished renders by input, and the render-ahead thread */
} engine;

/* Handlers carry the caller's request id and identity on to their peers. */
typedef struct engine_call {
    engine *eng;
    const bus_request *req;
    json_t *listed; /* the package as the last git write listed it (args.listPackage),
                     * handed to cache.sync so the cache need not list it again */
} engine_call;

/* Drops what the call still holds (its last write's listing). */
void engine_call_end(engine_call *c);

/* A peer call with the request's id and caller; *result is a new reference. */
int engine_cache(engine_call *c, const char *op, json_t *args, json_t **result);
/* A git-adapter call; when the adapter has not opened the repository (it
 * restarted), asks the cache to sync it (which opens it) and tries again. */
int engine_git(engine_call *c, const char *ns, const char *repo, const char *op, json_t *args,
               json_t **result);

/* Non-blocking lock of an object: 409 "another request is already in progress". */
int engine_lock(engine *eng, const char *key, const char *what);
void engine_unlock(engine *eng, const char *key);

/* ---- package file sets (files.c) ---- */

/* A fresh work directory under eng->work_dir (malloc'd path; cad_workdir_remove removes it). */
int engine_workdir_new(engine *eng, char **out);

/* ---- the ops (ops.c, resources.c) ---- */
int engine_ops_register(engine *eng);
int engine_resources_register(engine *eng);

/* obj[a][b] (or obj[a] when b is NULL) as a string, borrowed; NULL when absent. */
const char *engine_str(json_t *obj, const char *a, const char *b);
/* s, or "" when NULL. */
const char *engine_or_empty(const char *s);
/* A revision's files (path → text) as of its commit: from the content cache,
 * else through the git adapter (and then kept); new reference. */
int engine_read_files(engine_call *c, json_t *pr, json_t **resources);
/* git-adapter.write_draft of args (packageName, resources, ...); the files
 * written are kept in the content cache under the new commit. */
int engine_write_draft(engine_call *c, const char *ns, const char *repo, json_t *args,
                       json_t **result);

/* Renders a file set in place (kpt fn render, spec §15.1, run by
 * porch-function-runner's `render`); *status (new reference) is the renderStatus. -1 with
 * the function's failure in the error slot when the render failed (the file
 * set then holds what kpt leaves behind). engine_render answers from the
 * render cache when this exact file set was rendered before (renders.c);
 * engine_render_files always runs the pipeline (resources.c). */
int engine_render(engine *eng, json_t **resources, json_t **status);
int engine_render_files(engine *eng, json_t **resources, json_t **status);

/* ---- renders ahead of time (renders.c) ---- */

/* Starts the render cache (max_bytes; 0: none) and, when `ahead`, the
 * thread that renders a freshly written Draft in the background, so the
 * render of its propose (which re-renders, spec §3.7) is found done. */
int engine_renders_start(engine *eng, size_t max_bytes, int ahead);
void engine_renders_stop(engine *eng);
/* Queues a render of `resources` (borrowed; copied) for the cache; a newer
 * request replaces one not yet started. No-op when rendering ahead is off.
 * `stage_at` (borrowed, may be NULL): {namespace, repository, packageName,
 * workspaceName, expect: the Draft's commit} — the render is then handed to
 * the git adapter to stage the trees of the Draft's next commit. */
void engine_render_ahead(engine *eng, json_t *resources, json_t *stage_at);
/* Where a Draft's render ahead is staged (engine_render_ahead's stage_at; new reference). */
json_t *engine_stage_at(const char *ns, const char *repo, json_t *pr, const char *commit);
/* The render cache's counters for health: foundDone, rendered, renderedAhead,
 * staged, entries, bytes. */
json_t *engine_renders_stats(engine *eng);
/* Syncs package `pkg` of repository `repo` into the cache after a write (with
 * the write's listing, when it brought one) and returns revision `name` as
 * readers now see it (new reference); name and out NULL: only the sync. */
int engine_sync_package(engine_call *c, const char *ns, const char *repo, const char *pkg,
                        const char *name, json_t **out);
/* Common reads used by both. */
int engine_get_revision(engine_call *c, const char *ns, const char *name, json_t **pr);
/* The git commit a revision was read from (its selfLock), or "". */
const char *engine_revision_commit(json_t *pr);
/* Commit author for the caller (NULL name/email: Porch). New reference. */
json_t *engine_author(engine_call *c);

#endif
