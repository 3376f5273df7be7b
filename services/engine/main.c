/* porch-engine: package lifecycle rules and tasks (init, edit, clone,
 * render on resource updates), stateless. Reads come from porch-cache;
 * writes go to porch-git-adapter and are then synced into the cache, so a
 * 2xx means the change is pushed and visible to readers. */
#include "cad/cad.h"
#include "engine.h"
#include "error/error.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A size in MiB from 0 to 65536 (text; NULL keeps *out). */
static int parse_mb(const char *flag, const char *text, long *out)
{
    if (!text)
        return 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end || v < 0 || v > 65536) {
        fprintf(stderr, "porch-engine: %s must be a number of MiB from 0 to 65536, not \"%s\"\n",
                flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* health: the caches' use, for operators and tests */
static int health_extra(void *userdata, json_t *result)
{
    engine *eng = userdata;
    size_t entries = 0, bytes = 0;
    if (eng->contents)
        engine_contents_usage(eng->contents, &entries, &bytes);
    json_object_set_new(result, "contentCache", json_pack("{s:I, s:I}", "entries", (json_int_t)entries,
                                                          "bytes", (json_int_t)bytes));
    json_object_set_new(result, "renderCache", engine_renders_stats(eng));
    return 0;
}

int main(int argc, char **argv)
{
    static engine eng;
    char *work_dir = NULL, *content_mb = NULL, *render_mb = NULL, *ahead = NULL;
    /* Renders parse and free many small documents per request; glibc's
     * default trimming gave each free back with madvise (a TLB shootdown on
     * every CPU), a third of a render's time. Keep up to 64 MiB instead. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    int own_work_dir = 0;
    pthread_mutex_init(&eng.locks_mutex, NULL);
    const svc_flag flags[] = {
        {"--work-dir", "PORCH_ENGINE_WORK_DIR", NULL,
         "scratch directory for package files during init and render (default: a new directory "
         "in /dev/shm when it is writable, else DATA/engine-work)",
         &work_dir},
        {"--content-cache-mb", "PORCH_ENGINE_CONTENT_CACHE_MB", "64",
         "package files kept in memory by commit, so the next change of a revision this engine "
         "wrote or read needs no git read (MiB; 0 turns it off)",
         &content_mb},
        {"--render-cache-mb", "PORCH_ENGINE_RENDER_CACHE_MB", "16",
         "finished renders kept by their input files (MiB; 0 turns the cache and rendering "
         "ahead off)",
         &render_mb},
        {"--render-ahead", "PORCH_ENGINE_RENDER_AHEAD", "true",
         "render a freshly written Draft in the background, so its propose (which re-renders) "
         "finds the result (true or false)",
         &ahead},
    };
    int rc = svc_init(&eng.svc, SVC_ENGINE,
                      SVC_PEER(SVC_CACHE) | SVC_PEER(SVC_FUNCTION_RUNNER) | SVC_PEER(SVC_GIT_ADAPTER),
                      flags, 4, argc, argv);
    long mb = 64, rmb = 16;
    if (rc == 0 && (parse_mb("--content-cache-mb", content_mb, &mb) < 0 ||
                    parse_mb("--render-cache-mb", render_mb, &rmb) < 0))
        rc = -1;
    if (rc == 0 && ahead && strcmp(ahead, "true") != 0 && strcmp(ahead, "false") != 0) {
        fprintf(stderr, "porch-engine: --render-ahead must be true or false, not \"%s\"\n", ahead);
        rc = -1;
    }
    if (rc == 0 && engine_renders_start(&eng, (size_t)rmb << 20, !ahead || !strcmp(ahead, "true")) < 0) {
        fprintf(stderr, "porch-engine: %s\n", porch_error_last()->message);
        rc = -1;
    }
    free(content_mb);
    free(render_mb);
    free(ahead);
    if (rc == 0 && !(eng.contents = engine_contents_new((size_t)mb << 20))) {
        fprintf(stderr, "porch-engine: out of memory\n");
        rc = -1;
    }
    if (rc == 0 && work_dir && *work_dir) {
        snprintf(eng.work_dir, sizeof eng.work_dir, "%s", work_dir);
        if (mkdir(eng.work_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "porch-engine: cannot create %s: %s\n", eng.work_dir, strerror(errno));
            rc = -1;
        }
    } else if (rc == 0) {
        char fallback[4096];
        snprintf(fallback, sizeof fallback, "%s/engine-work", eng.svc.data_dir);
        if (cad_scratch_dir("engine", fallback, eng.work_dir, sizeof eng.work_dir,
                            &own_work_dir) < 0) {
            fprintf(stderr, "porch-engine: %s\n", porch_error_last()->message);
            rc = -1;
        }
    }
    free(work_dir);
    if (rc == 0 && (svc_peer_client(&eng.svc, SVC_CACHE, &eng.cache) < 0 ||
                    svc_peer_client(&eng.svc, SVC_GIT_ADAPTER, &eng.git) < 0 ||
                    svc_peer_client(&eng.svc, SVC_FUNCTION_RUNNER, &eng.functions) < 0 ||
                    engine_ops_register(&eng) < 0 || engine_resources_register(&eng) < 0)) {
        fprintf(stderr, "porch-engine: %s\n", porch_error_last()->message);
        rc = -1;
    }
    eng.svc.health_check = health_extra;
    eng.svc.health_userdata = &eng;
    if (rc == 0)
        rc = svc_run(&eng.svc);
    if (own_work_dir)
        cad_workdir_remove(eng.work_dir);
    bus_client_free(eng.cache);
    bus_client_free(eng.git);
    bus_client_free(eng.functions);
    engine_contents_free(eng.contents);
    engine_renders_stop(&eng);
    svc_free(&eng.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
