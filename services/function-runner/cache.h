/* The function-runner's result cache: evaluate replies (serialized JSON)
 * keyed by sha256 of (image, functionConfig, ResourceList), bounded both in
 * entries and in bytes with least-recently-used eviction. Thread-safe. */
#ifndef PORCH_FR_CACHE_H
#define PORCH_FR_CACHE_H

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

/* A malloc'd copy of the value (NUL-terminated) or NULL on a miss; marks it recently used. */
char *fr_cache_get(fr_cache *c, const unsigned char key[FR_KEY_LEN], size_t *len);
/* Stores a copy; a value larger than max_bytes is not stored. */
void fr_cache_put(fr_cache *c, const unsigned char key[FR_KEY_LEN], const char *value, size_t len);
void fr_cache_stats_get(fr_cache *c, fr_cache_stats *st);

#endif
