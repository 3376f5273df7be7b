/* porch-engine: package lifecycle rules and tasks (init, edit, clone,
 * render on resource updates), stateless. Reads come from porch-cache;
 * writes go to porch-git-adapter and are then synced into the cache, so a
 * 2xx means the change is pushed and visible to readers. */
#include "engine.h"
#include "error/error.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes /dev/shm/porch-engine-<pid>-* directories of engines that died
 * without cleaning up (a SIGKILL); their pid no longer runs. */
static void remove_stale_work_dirs(void)
{
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = 0;
        char path[512];
        if (sscanf(e->d_name, "porch-engine-%ld-", &pid) != 1 || pid <= 0 || pid == getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        engine_workdir_remove(path);
    }
    if (d)
        closedir(d);
}

int main(int argc, char **argv)
{
    static engine eng;
    char *work_dir = NULL, *content_mb = NULL;
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
    };
    int rc = svc_init(&eng.svc, SVC_ENGINE,
                      SVC_PEER(SVC_CACHE) | SVC_PEER(SVC_FUNCTION_RUNNER) | SVC_PEER(SVC_GIT_ADAPTER),
                      flags, 2, argc, argv);
    long mb = -1;
    if (rc == 0) {
        char *end = NULL;
        mb = content_mb ? strtol(content_mb, &end, 10) : 64;
        if (content_mb && (end == content_mb || *end || mb < 0 || mb > 65536)) {
            fprintf(stderr, "porch-engine: --content-cache-mb must be a number of MiB from 0 to "
                            "65536, not \"%s\"\n", content_mb);
            rc = -1;
        }
    }
    free(content_mb);
    if (rc == 0 && !(eng.contents = engine_contents_new((size_t)mb << 20))) {
        fprintf(stderr, "porch-engine: out of memory\n");
        rc = -1;
    }
    if (rc == 0 && work_dir && *work_dir) {
        snprintf(eng.work_dir, sizeof eng.work_dir, "%s", work_dir);
    } else if (rc == 0) {
        /* Scratch files live for one request: in memory they cost no inode
         * allocation on the data disk (a third of a create on ext4). */
        snprintf(eng.work_dir, sizeof eng.work_dir, "/dev/shm/porch-engine-%ld-XXXXXX",
                 (long)getpid());
        own_work_dir = access("/dev/shm", W_OK) == 0 && mkdtemp(eng.work_dir) != NULL;
        if (own_work_dir)
            remove_stale_work_dirs();
        if (!own_work_dir)
            snprintf(eng.work_dir, sizeof eng.work_dir, "%s/engine-work", eng.svc.data_dir);
    }
    if (rc == 0 && !own_work_dir && mkdir(eng.work_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "porch-engine: cannot create %s: %s\n", eng.work_dir, strerror(errno));
        rc = -1;
    }
    free(work_dir);
    if (rc == 0 && (svc_peer_client(&eng.svc, SVC_CACHE, &eng.cache) < 0 ||
                    svc_peer_client(&eng.svc, SVC_GIT_ADAPTER, &eng.git) < 0 ||
                    engine_ops_register(&eng) < 0 || engine_resources_register(&eng) < 0)) {
        fprintf(stderr, "porch-engine: %s\n", porch_error_last()->message);
        rc = -1;
    }
    if (rc == 0)
        rc = svc_run(&eng.svc);
    if (own_work_dir)
        engine_workdir_remove(eng.work_dir);
    bus_client_free(eng.cache);
    bus_client_free(eng.git);
    engine_contents_free(eng.contents);
    svc_free(&eng.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
