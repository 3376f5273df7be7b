/* The engine's content cache (see contents.h): package file sets serialised
 * as compact JSON in an lru_cache under "ns/repo/pkg/commit" keys. */
#include "contents.h"
#include "lru/lru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct engine_contents {
    lru_cache *lru;
};

engine_contents *engine_contents_new(size_t max_bytes)
{
    engine_contents *cc = calloc(1, sizeof *cc);
    if (cc && !(cc->lru = lru_new(max_bytes))) {
        free(cc);
        cc = NULL;
    }
    return cc;
}

void engine_contents_free(engine_contents *cc)
{
    if (!cc)
        return;
    lru_free(cc->lru);
    free(cc);
}

static int is_commit(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n != 40 && n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int is_part(const char *s)
{
    return s && *s && !strchr(s, '\x1f');
}

/* "ns\x1frepo\x1fpkg\x1fcommit" in buf; 0, or -1 for a part missing or
 * holding the separator (two keys could then read alike), or a bad commit. */
static int make_key(char *buf, size_t len, const char *ns, const char *repo, const char *pkg,
                    const char *commit)
{
    if (!is_part(ns) || !is_part(repo) || !is_part(pkg) || !is_commit(commit))
        return -1;
    int n = snprintf(buf, len, "%s\x1f%s\x1f%s\x1f%s", ns, repo, pkg, commit);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* A non-empty object of path → string. */
static int is_file_set(json_t *files)
{
    if (!json_is_object(files) || json_object_size(files) == 0)
        return 0;
    const char *path;
    json_t *text;
    json_object_foreach(files, path, text)
    {
        if (!json_is_string(text))
            return 0;
    }
    return 1;
}

void engine_contents_put(engine_contents *cc, const char *ns, const char *repo, const char *pkg,
                         const char *commit, json_t *files)
{
    char key[1024];
    if (!cc || !is_file_set(files) || make_key(key, sizeof key, ns, repo, pkg, commit) != 0)
        return;
    char *text = json_dumps(files, JSON_COMPACT);
    if (text)
        lru_put(cc->lru, key, text, strlen(text));
    free(text);
}

int engine_contents_get(engine_contents *cc, const char *ns, const char *repo, const char *pkg,
                        const char *commit, json_t **out)
{
    *out = NULL;
    char key[1024], *text = NULL;
    size_t len = 0;
    if (!cc || make_key(key, sizeof key, ns, repo, pkg, commit) != 0 ||
        !lru_get(cc->lru, key, &text, &len))
        return 0;
    *out = json_loadb(text, len, 0, NULL);
    free(text);
    return *out != NULL;
}

void engine_contents_usage(engine_contents *cc, size_t *entries, size_t *bytes)
{
    lru_usage(cc->lru, entries, bytes);
}
