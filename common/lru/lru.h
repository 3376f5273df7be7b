/* A bounded, thread-safe map of text keys to byte strings that forgets the
 * least recently used entries first: the services' small in-memory caches
 * (the engine's package files by commit, the API server's recent objects)
 * are built on it. Values are copied in and out; nothing is shared. */
#ifndef PORCH_LRU_H
#define PORCH_LRU_H

#include <stddef.h>

typedef struct lru_cache lru_cache;

/* A cache holding at most max_bytes of keys and values (0: it keeps nothing).
 * NULL when out of memory. */
lru_cache *lru_new(size_t max_bytes);
void lru_free(lru_cache *c);

/* Keeps a copy of data[0..len) under key, replacing what was there; the
 * coldest entries go until the total fits. An entry larger than the whole
 * budget is not kept (and evicts nothing). */
void lru_put(lru_cache *c, const char *key, const void *data, size_t len);

/* A malloc'd copy of the value (NUL-terminated past len, for text) in *out
 * and its length in *len: 1 when found (the entry becomes the most recently
 * used), else 0 with *out NULL. */
int lru_get(lru_cache *c, const char *key, char **out, size_t *len);

/* 1 when key is held (its recency unchanged, nothing copied), else 0. */
int lru_has(lru_cache *c, const char *key);

/* Forgets key (no-op when absent). */
void lru_remove(lru_cache *c, const char *key);

/* Entries held and their bytes (keys and values). */
void lru_usage(lru_cache *c, size_t *entries, size_t *bytes);

#endif
