/* porch-cache: the metadata index in SQLite (repositories, package
 * revisions, the event log behind resourceVersion and watch) and the
 * repository sync loop. This foundation opens DATA/cache.db in WAL mode and
 * serves health (which queries SQLite), describe, and the object ops (put, get,
 * list, delete, events) that back the API's stored kinds and watches. */
#include "error/error.h"
#include "objects.h"
#include "store.h"
#include "sync.h"
#include "svc/svc.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct cache_service {
    svc_context svc;
    cache_store *store;
    bus_client *git;
    cache_sync *sync;
    char *sync_period;
} cache_service;

static int check_health(void *userdata, json_t *result)
{
    cache_service *cache = userdata;
    return cache_store_check(cache->store, result);
}

int main(int argc, char **argv)
{
    cache_service cache = {0};
    const svc_flag flags[] = {
        {"--sync-period", "PORCH_SYNC_PERIOD", "60", "seconds between full repository syncs",
         &cache.sync_period},
    };
    int rc = svc_init(&cache.svc, SVC_CACHE, SVC_PEER(SVC_GIT_ADAPTER) | SVC_PEER(SVC_OCI_ADAPTER),
                      flags, 1, argc, argv);
    int period = cache.sync_period ? atoi(cache.sync_period) : 60;
    if (rc == 0 && (period < 1 || period > 86400)) {
        fprintf(stderr, "porch-cache: --sync-period \"%s\" must be 1 to 86400 seconds\n",
                cache.sync_period);
        rc = -1;
    }
    if (rc == 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/cache.db", cache.svc.data_dir);
        rc = cache_store_open(path, &cache.store);
        if (rc < 0)
            fprintf(stderr, "porch-cache: %s\n", porch_error_last()->message);
    }
    if (rc == 0) {
        cache.svc.health_check = check_health;
        cache.svc.health_userdata = &cache;
        rc = cache_objects_register(cache.svc.bus, cache.store);
        if (rc == 0)
            rc = svc_peer_client(&cache.svc, SVC_GIT_ADAPTER, &cache.git);
        if (rc == 0)
            rc = cache_sync_new(cache.store, cache.git, period, &cache.sync);
        if (rc == 0)
            rc = cache_sync_register(cache.svc.bus, cache.sync);
        if (rc == 0)
            rc = cache_sync_start(cache.sync);
        if (rc == 0)
            rc = svc_run(&cache.svc);
        else
            fprintf(stderr, "porch-cache: %s\n", porch_error_last()->message);
    }
    if (cache_sync_free(cache.sync) == 0) {
        bus_client_free(cache.git);
        cache_store_close(cache.store);
    }
    free(cache.sync_period);
    svc_free(&cache.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
