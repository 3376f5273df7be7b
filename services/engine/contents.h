/* The engine's content cache: a package's files (path → text) as they are at
 * one commit, kept after the engine wrote or read them, so the next operation
 * on the same revision (a propose after a resources update, a read after a
 * create) needs no git-adapter read. Entries are keyed by namespace,
 * repository, package and commit: a commit never changes, so an entry is never
 * stale; a revision that moved has another commit and misses. Bounded by the
 * bytes of file text held; the least recently used entries go first. */
#ifndef PORCH_ENGINE_CONTENTS_H
#define PORCH_ENGINE_CONTENTS_H

#include <jansson.h>
#include <stddef.h>

typedef struct engine_contents engine_contents;

/* A cache holding at most max_bytes of file text (0: nothing is kept). */
engine_contents *engine_contents_new(size_t max_bytes);
void engine_contents_free(engine_contents *cc);

/* Keeps a copy of `files` (an object of path → string) as package `pkg` of
 * ns/repo at `commit` (40 hex digits). Anything else is ignored, as is a file
 * set larger than the whole budget. */
void engine_contents_put(engine_contents *cc, const char *ns, const char *repo, const char *pkg,
                         const char *commit, json_t *files);

/* A new copy of the files kept for that key in *out: 1 when found, else 0
 * (*out NULL). */
int engine_contents_get(engine_contents *cc, const char *ns, const char *repo, const char *pkg,
                        const char *commit, json_t **out);

/* What the cache holds now: entries and bytes of file text. */
void engine_contents_usage(engine_contents *cc, size_t *entries, size_t *bytes);

#endif
