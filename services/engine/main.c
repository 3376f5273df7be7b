/* porch-engine: package lifecycle rules and tasks (init, edit, clone,
 * render on resource updates), stateless. Reads come from porch-cache;
 * writes go to porch-git-adapter and are then synced into the cache, so a
 * 2xx means the change is pushed and visible to readers. */
#include "engine.h"
#include "error/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    static engine eng;
    pthread_mutex_init(&eng.locks_mutex, NULL);
    int rc = svc_init(&eng.svc, SVC_ENGINE,
                      SVC_PEER(SVC_CACHE) | SVC_PEER(SVC_FUNCTION_RUNNER) | SVC_PEER(SVC_GIT_ADAPTER),
                      NULL, 0, argc, argv);
    if (rc == 0) {
        snprintf(eng.work_dir, sizeof eng.work_dir, "%s/engine-work", eng.svc.data_dir);
        if (mkdir(eng.work_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "porch-engine: cannot create %s: %s\n", eng.work_dir, strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && (svc_peer_client(&eng.svc, SVC_CACHE, &eng.cache) < 0 ||
                    svc_peer_client(&eng.svc, SVC_GIT_ADAPTER, &eng.git) < 0 ||
                    engine_ops_register(&eng) < 0 || engine_resources_register(&eng) < 0)) {
        fprintf(stderr, "porch-engine: %s\n", porch_error_last()->message);
        rc = -1;
    }
    if (rc == 0)
        rc = svc_run(&eng.svc);
    bus_client_free(eng.cache);
    bus_client_free(eng.git);
    svc_free(&eng.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
