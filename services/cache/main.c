/* porch-cache: the metadata index in SQLite (repositories, package
 * revisions, the event log behind resourceVersion and watch) and the
 * repository sync loop. This foundation opens DATA/cache.db in WAL mode and
 * serves health (which queries SQLite), describe, and the object ops (put, get,
 * list, delete, events) that back the API's stored kinds and watches. */
#include "error/error.h"
#include "objects.h"
#include "store.h"
#include "svc/svc.h"

#include <stdio.h>

typedef struct cache_service {
    svc_context svc;
    cache_store *store;
} cache_service;

static int check_health(void *userdata, json_t *result)
{
    cache_service *cache = userdata;
    return cache_store_check(cache->store, result);
}

int main(int argc, char **argv)
{
    cache_service cache = {0};
    int rc = svc_init(&cache.svc, SVC_CACHE, SVC_PEER(SVC_GIT_ADAPTER) | SVC_PEER(SVC_OCI_ADAPTER),
                      NULL, 0, argc, argv);
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
            rc = svc_run(&cache.svc);
    }
    cache_store_close(cache.store);
    svc_free(&cache.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
