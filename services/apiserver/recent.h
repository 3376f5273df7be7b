/* The API server's recent objects: package revisions as this server last
 * read or wrote them, by namespace and name, so a write that needs the
 * current object (a PATCH's base, a PUT's server-owned fields) can skip its
 * cache round trip when the copy is the version the client names. A copy is
 * only ever a shortcut: the engine checks every write's resourceVersion
 * against porch-cache, so a stale copy costs a retry, never a lost update. */
#ifndef PORCH_APISERVER_RECENT_H
#define PORCH_APISERVER_RECENT_H

#include <jansson.h>
#include <stddef.h>

/* What the API server keeps: a few hundred package revisions' worth. */
#define APISERVER_RECENT_BYTES (2u << 20)

typedef struct apiserver_recent apiserver_recent;

/* At most max_bytes of serialised objects (0 keeps nothing); NULL when out of memory. */
apiserver_recent *apiserver_recent_new(size_t max_bytes);
void apiserver_recent_free(apiserver_recent *r);

/* Keeps a copy of obj (borrowed), which must carry metadata.name and a
 * non-empty metadata.resourceVersion, as the current version in namespace ns. */
void apiserver_recent_put(apiserver_recent *r, const char *ns, json_t *obj);

/* A new copy of the object kept for ns/name in *out: 1 when there is one and,
 * with want_rv, its resourceVersion is exactly want_rv; else 0 (*out NULL). */
int apiserver_recent_get(apiserver_recent *r, const char *ns, const char *name, const char *want_rv,
                         json_t **out);

/* Forgets ns/name (no-op when absent). */
void apiserver_recent_forget(apiserver_recent *r, const char *ns, const char *name);

#endif
