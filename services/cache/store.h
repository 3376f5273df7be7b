/* The cache's SQLite store: opened in WAL mode under the data directory with
 * its schema created on first use. Everything in it can be rebuilt from the
 * remotes, so a missing or deleted file only costs warm-up time. */
#ifndef PORCH_CACHE_STORE_H
#define PORCH_CACHE_STORE_H

#include <jansson.h>

typedef struct cache_store cache_store;

int cache_store_open(const char *path, cache_store **out);
void cache_store_close(cache_store *store);
/* Runs a trivial query; fills `result` with journal mode and current event sequence. */
int cache_store_check(cache_store *store, json_t *result);

#endif
