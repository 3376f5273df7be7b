/* The function-runner's result cache: evaluate results (immutable jansson
 * values, shared by reference: a hit costs no JSON parsing) keyed by sha256
 * of (functions, ResourceList), bounded both in entries and in bytes (the
 * caller's size estimate) with least-recently-used eviction. Thread-safe. */
#ifndef PORCH_FR_CACHE_H
#define PORCH_FR_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FR_KEY_LEN 32

typedef struct fr_cache fr_cache;

typedef struct fr_cache_stats {
    uint64_t hits, misses, evictions;
    size_t entries, bytes;
} fr_cache_stats;

/* max_entries 0 disables the cache (every get misses, put does nothing). */
int fr_cache_new(size_t max_entries, size_t max_bytes, fr_cache **out);
void fr_cache_free(fr_cache *c);

/* sha256 over the parts, each prefixed by its length so (a,bc) != (ab,c). */
void fr_cache_key(const char *const *parts, const size_t *lens, size_t n,
                  unsigned char key[FR_KEY_LEN]);

/* A new reference to the value, or NULL on a miss; marks it recently used.
 * Values are shared: never modify one (json_copy it first). */
json_t *fr_cache_get(fr_cache *c, const unsigned char key[FR_KEY_LEN]);
/* Keeps a reference to `value` (counted as `bytes`); larger than max_bytes: not stored. */
void fr_cache_put(fr_cache *c, const unsigned char key[FR_KEY_LEN], json_t *value, size_t bytes);
void fr_cache_stats_get(fr_cache *c, fr_cache_stats *st);

#endif
