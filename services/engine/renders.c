/* Renders ahead of time: a cache of finished renders keyed by the SHA-256 of
 * their input file set, and one background thread that renders a freshly
 * written Draft while the engine would otherwise be idle. A propose
 * re-renders its Draft (spec §3.7) and newest kpt rewrites the render record
 * each time, so that render cannot be skipped; done ahead, the propose finds
 * its result, and the git adapter has its trees written already (staged).
 * Renders in the engine run built-in functions only (no exec), so a render
 * is a pure function of its files and a cached result is what a fresh one
 * would give; failures are never cached. */
#include "engine.h"
#include "error/error.h"
#include "log/log.h"
#include "lru/lru.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct engine_renders {
    lru_cache *done; /* input digest → {"resources": output, "status": renderStatus} */
    int ahead;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    json_t *next;       /* the file set queued to render ahead (owned) */
    json_t *next_stage; /* where its render is staged (owned; NULL: not staged) */
    char running[65];   /* digest of the one being rendered ahead, "" when none */
    int stop;
    unsigned long found, rendered, ahead_done, staged; /* counters, under mu */
} engine_renders;

static void count(engine_renders *r, unsigned long *counter)
{
    pthread_mutex_lock(&r->mu);
    (*counter)++;
    pthread_mutex_unlock(&r->mu);
}

/* Hex SHA-256 of the file set's canonical JSON; -1 when it cannot be made. */
static int digest(json_t *resources, char out[65])
{
    char *text = json_dumps(resources, JSON_SORT_KEYS | JSON_COMPACT);
    unsigned char md[32];
    unsigned int n = 0;
    int ok = text && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) == 1 && n == 32;
    free(text);
    if (!ok)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static void store(engine_renders *r, const char *key, json_t *resources, json_t *status)
{
    json_t *entry = json_pack("{s:O, s:O*}", "resources", resources, "status", status);
    char *text = entry ? json_dumps(entry, JSON_COMPACT) : NULL;
    if (text)
        lru_put(r->done, key, text, strlen(text));
    free(text);
    json_decref(entry);
}

/* 1 with *resources and *status replaced by the cached render of key. */
static int lookup(engine_renders *r, const char *key, json_t **resources, json_t **status)
{
    char *text = NULL;
    size_t len = 0;
    if (!lru_get(r->done, key, &text, &len))
        return 0;
    json_t *entry = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *out = json_object_get(entry, "resources");
    if (!json_is_object(out)) {
        json_decref(entry);
        return 0;
    }
    json_decref(*resources);
    *resources = json_incref(out);
    *status = json_incref(json_object_get(entry, "status"));
    json_decref(entry);
    return 1;
}

int engine_render(engine *eng, json_t **resources, json_t **status)
{
    engine_renders *r = eng->renders;
    char key[65];
    *status = NULL;
    if (!r || digest(*resources, key) != 0)
        return engine_render_files(eng, resources, status);
    pthread_mutex_lock(&r->mu); /* the same input being rendered ahead: wait for it */
    while (strcmp(r->running, key) == 0)
        pthread_cond_wait(&r->cond, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (lookup(r, key, resources, status)) {
        count(r, &r->found);
        log_debug("render found done", "files",
                  json_integer((json_int_t)json_object_size(*resources)));
        return 0;
    }
    count(r, &r->rendered);
    int rc = engine_render_files(eng, resources, status);
    if (rc == 0)
        store(r, key, *resources, *status);
    return rc;
}

/* Has the git adapter write the trees of the Draft's next commit — the
 * render of its files — so the propose's write finds them (git-adapter
 * stage_draft). A failure only means the propose builds them itself. */
static void stage(engine *eng, json_t *where, json_t *rendered)
{
    json_t *args = json_deep_copy(where), *res = NULL;
    json_object_set(args, "resources", rendered);
    bus_call_opts opts = {.rid = "render-ahead", .deadline_ms = 10000};
    if (bus_client_call(eng->git, "git-adapter.stage_draft", args, &opts, &res, NULL) == 0)
        count(eng->renders, &eng->renders->staged);
    else
        porch_error_clear();
    json_decref(args);
    json_decref(res);
}

/* Renders `files` (owned) into the cache unless it is there already; with
 * `want`, answers with the render (new reference; NULL when it failed). */
static json_t *render_into_cache(engine *eng, json_t *files, const char *key, int want)
{
    engine_renders *r = eng->renders;
    json_t *status = NULL, *out = NULL;
    pthread_mutex_lock(&r->mu);
    int done = lru_has(r->done, key);
    if (!done)
        snprintf(r->running, sizeof r->running, "%s", key);
    pthread_mutex_unlock(&r->mu);
    if (done) {
        if (want && !lookup(r, key, &out, &status))
            out = NULL;
    } else {
        if (engine_render_files(eng, &files, &status) == 0) {
            store(r, key, files, status);
            out = want ? json_incref(files) : NULL;
        } else {
            porch_error_clear(); /* the request that needs it will fail on its own */
        }
        pthread_mutex_lock(&r->mu);
        r->ahead_done++;
        r->running[0] = '\0';
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
    }
    json_decref(files);
    json_decref(status);
    return out;
}

static void *ahead_main(void *arg)
{
    engine *eng = arg;
    engine_renders *r = eng->renders;
    log_set_rid("render-ahead");
    /* behind the requests being served: a render ahead only uses idle time */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->next)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop)
            break;
        json_t *files = r->next, *where = r->next_stage;
        r->next = r->next_stage = NULL;
        pthread_mutex_unlock(&r->mu);
        char key[65];
        if (digest(files, key) == 0) {
            json_t *rendered = render_into_cache(eng, files, key, where != NULL);
            if (rendered)
                stage(eng, where, rendered);
            json_decref(rendered);
        } else {
            json_decref(files);
        }
        json_decref(where);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int engine_renders_start(engine *eng, size_t max_bytes, int ahead)
{
    if (max_bytes == 0)
        return 0; /* no cache: every render runs, nothing is digested or queued */
    engine_renders *r = calloc(1, sizeof *r);
    if (!r || !(r->done = lru_new(max_bytes))) {
        free(r);
        return porch_error_set(500, "engine: out of memory for the render cache");
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->ahead = ahead;
    eng->renders = r;
    if (r->ahead) {
        if (pthread_create(&r->thread, NULL, ahead_main, eng) != 0)
            return porch_error_set(500, "engine: cannot start the render-ahead thread");
        r->started = 1;
    }
    return 0;
}

void engine_renders_stop(engine *eng)
{
    engine_renders *r = eng->renders;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    if (r->started)
        pthread_join(r->thread, NULL);
    json_decref(r->next);
    json_decref(r->next_stage);
    lru_free(r->done);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r);
    eng->renders = NULL;
}

json_t *engine_renders_stats(engine *eng)
{
    engine_renders *r = eng->renders;
    if (!r)
        return json_object();
    size_t entries, bytes;
    lru_usage(r->done, &entries, &bytes);
    pthread_mutex_lock(&r->mu);
    json_t *out =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "foundDone", (json_int_t)r->found,
                  "rendered", (json_int_t)r->rendered, "renderedAhead", (json_int_t)r->ahead_done,
                  "staged", (json_int_t)r->staged, "entries", (json_int_t)entries, "bytes",
                  (json_int_t)bytes, "ahead", r->ahead);
    pthread_mutex_unlock(&r->mu);
    return out;
}

void engine_render_ahead(engine *eng, json_t *resources, json_t *stage_at)
{
    engine_renders *r = eng->renders;
    if (!r || !r->ahead || !json_is_object(resources))
        return;
    json_t *copy = json_deep_copy(resources);
    pthread_mutex_lock(&r->mu);
    json_decref(r->next);
    json_decref(r->next_stage);
    r->next = copy;
    r->next_stage = json_incref(stage_at);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}
