/* Repository sync (see sync.h). One mutex serialises syncs so the thread and
 * the `sync` op never reconcile the same repository at once; reconciling
 * only writes objects whose content changed, so a quiet remote costs reads. */
#include "sync.h"
#include "cron.h"
#include "error/error.h"
#include "log/log.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SYNC_POLL_MS 1000
#define SYNC_GIT_DEADLINE_MS 120000
#define SYNC_MAX_REPOS 4096
#define SYNC_BATCH 256 /* revisions stored per transaction by a sync */
#define SYNC_CLOSED (-2) /* synced_repo.generation of an unregistered repository */

typedef struct synced_repo {
    char key[320]; /* "<ns>/<name>" */
    json_int_t generation;
    time_t next_due;      /* next scheduled sync (0: none planned) */
    char run_once[64];    /* spec.sync.runOnceAt already honoured */
    char version[72];     /* the adapter's ref version at the last full listing */
    json_int_t listed_generation; /* the spec generation that listing was made for */
} synced_repo;

#define SYNC_STRIPES 16

struct cache_sync {
    cache_store *store;
    bus_client *git;
    int period_s;
    pthread_t thread;
    int running;
    atomic_int stop;
    pthread_mutex_t lock; /* one full sync at a time; guards `seen` */
    /* One sync of a repository at a time: a package sync after a write (the
     * common case) takes only its repository's stripe, so it no longer waits
     * for another repository's full sync (a second for a large one); a full
     * sync takes `lock`, then the stripe. */
    pthread_mutex_t stripes[SYNC_STRIPES];
    synced_repo *seen;
    size_t n_seen;
};

/* ---- small helpers ---- */

static const char *jstr(json_t *obj, const char *path)
{
    /* "a.b.c" through nested objects */
    char key[64];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = json_object_get(obj, key);
        p = dot ? dot + 1 : p + n;
    }
    return json_string_value(obj);
}

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Decodes a Secret data value (base64) into a new string; NULL when absent or bad. */
static char *secret_value(json_t *secret, const char *key)
{
    const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    if (!b64) {
        const char *plain = json_string_value(json_object_get(json_object_get(secret, "stringData"), key));
        return plain ? strdup(plain) : NULL;
    }
    size_t len = strlen(b64);
    unsigned char *out = malloc(len + 1);
    if (!out)
        return NULL;
    int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
    if (n < 0) {
        free(out);
        return NULL;
    }
    while (len > 0 && b64[len - 1] == '=' && n > 0) { /* EVP_DecodeBlock counts padding */
        n--;
        len--;
    }
    out[n] = '\0';
    return (char *)out;
}

static synced_repo *seen_entry(cache_sync *sync, const char *key, int create)
{
    for (size_t i = 0; i < sync->n_seen; i++)
        if (strcmp(sync->seen[i].key, key) == 0)
            return &sync->seen[i];
    if (!create || sync->n_seen >= SYNC_MAX_REPOS)
        return NULL;
    synced_repo *grown = realloc(sync->seen, (sync->n_seen + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    sync->seen = grown;
    synced_repo *e = &sync->seen[sync->n_seen++];
    memset(e, 0, sizeof *e); /* realloc leaves the new entry's next_due and run_once unset */
    snprintf(e->key, sizeof e->key, "%s", key);
    e->generation = -1;
    return e;
}

/* ---- talking to the git adapter ---- */

/* The git adapter's `open` args for a Repository (credentials from its Secret). */
static json_t *git_args(cache_sync *sync, json_t *repo, const char *ns, const char *name)
{
    json_t *git = json_object_get(json_object_get(repo, "spec"), "git");
    json_t *spec = json_object_get(repo, "spec");
    const char *branch = jstr(git, "branch");
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "namespace", ns, "repository",
                          name, "url", jstr(git, "repo") ? jstr(git, "repo") : "", "branch",
                          branch && *branch ? branch : "main", "directory",
                          jstr(git, "directory") ? jstr(git, "directory") : "", "createBranch",
                          json_is_true(json_object_get(git, "createBranch")), "deployment",
                          json_is_true(json_object_get(spec, "deployment")));
    const char *secret_name = jstr(git, "secretRef.name");
    if (secret_name && *secret_name) {
        json_t *secret = NULL, *auth = json_object();
        if (cache_store_get(sync->store, "secrets", ns, secret_name, &secret) == 0) {
            const char *keys[] = {"username", "password", "bearerToken"};
            for (size_t i = 0; i < 3; i++) {
                char *v = secret_value(secret, keys[i]);
                if (v)
                    json_object_set_new(auth, keys[i], json_string(v));
                free(v);
            }
            json_decref(secret);
        }
        json_object_set_new(r, "auth", auth);
    }
    return r;
}

/* Opens (or refreshes: open fetches) the repository in the git adapter and lists it. */
/* Lists the repository (or one package) through the git adapter. A full sync
 * opens it first (open fetches); a package sync after a write reads the
 * mirror as the write left it — the adapter's own push moved its refs — and
 * opens only when the adapter does not have the repository (it restarted). */
static int git_list(cache_sync *sync, json_t *repo, const char *ns, const char *name,
                    const char *pkg, const char *if_version, json_t **result)
{
    bus_call_opts opts = {.deadline_ms = SYNC_GIT_DEADLINE_MS};
    json_t *list_args = json_pack("{s:s, s:s, s:b}", "namespace", ns, "repository", name, "fetch", 0);
    if (pkg)
        json_object_set_new(list_args, "package", json_string(pkg));
    if (if_version && *if_version)
        json_object_set_new(list_args, "ifVersion", json_string(if_version));
    int rc = -1;
    if (pkg) {
        rc = bus_client_call(sync->git, "git-adapter.list", list_args, &opts, result, NULL);
        if (rc == 0 || porch_error_last()->code != 404) {
            json_decref(list_args);
            return rc;
        }
    }
    json_t *args = git_args(sync, repo, ns, name), *opened = NULL;
    rc = bus_client_call(sync->git, "git-adapter.open", args, &opts, &opened, NULL);
    json_decref(args);
    json_decref(opened);
    if (rc == 0)
        rc = bus_client_call(sync->git, "git-adapter.list", list_args, &opts, result, NULL);
    json_decref(list_args);
    return rc;
}

/* ---- reconciling objects ---- */

/* What the sync owns in a revision: everything but server metadata and the
 * user's labels/annotations, which come from the revision's PackageRevMeta
 * (kept in config.db, so they survive the loss of cache.db; like Porch's
 * PackageRev objects) — or from the stored object when there is none. */
static json_t *merge_user_metadata(json_t *desired, json_t *stored)
{
    json_t *out = json_deep_copy(desired);
    json_t *meta = json_object_get(out, "metadata");
    json_object_del(meta, "resourceVersion");
    json_t *smeta = json_object_get(stored, "metadata");
    json_t *labels = json_deep_copy(json_object_get(smeta, "labels"));
    if (!labels)
        labels = json_object();
    json_object_del(labels, "kpt.dev/latest-revision");
    json_t *want = json_object_get(json_object_get(meta, "labels"), "kpt.dev/latest-revision");
    if (want)
        json_object_set(labels, "kpt.dev/latest-revision", want);
    if (json_object_size(labels))
        json_object_set_new(meta, "labels", labels);
    else {
        json_object_del(meta, "labels");
        json_decref(labels);
    }
    const char *keep[] = {"annotations", "finalizers", "ownerReferences"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(smeta, keep[i]);
        if (v)
            json_object_set(meta, keep[i], v);
    }
    return out;
}

static int same_content(json_t *a, json_t *b)
{
    const char *keys[] = {"spec", "status"};
    for (size_t i = 0; i < 2; i++)
        if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
            return 0;
    json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    return json_equal(json_object_get(ma, "labels"), json_object_get(mb, "labels")) &&
           json_equal(json_object_get(ma, "uid"), json_object_get(mb, "uid"));
}

/* Upserts the desired objects of `kind` for repository `name` and deletes
 * those of it that are no longer desired. Returns how many are desired. */
static int reconcile(cache_sync *sync, const char *kind, const char *ns, const char *name,
                     const char *pkg, json_t *desired, json_t *stored_out)
{
    json_t *wanted = json_object(); /* name → 1 */
    size_t i;
    json_t *item;
    cache_store_batch_begin(sync->store);
    json_array_foreach(desired, i, item) {
        if (i > 0 && i % SYNC_BATCH == 0) { /* let readers in between chunks */
            cache_store_batch_end(sync->store);
            cache_store_batch_begin(sync->store);
        }
        const char *obj_name = jstr(item, "metadata.name");
        if (!obj_name)
            continue;
        json_object_set_new(wanted, obj_name, json_true());
        json_t *stored = NULL, *user = NULL;
        cache_store_get(sync->store, kind, ns, obj_name, &stored);
        if (!strcmp(kind, CACHE_KIND_REVISION))
            cache_store_get(sync->store, CACHE_KIND_REVMETA, ns, obj_name, &user);
        porch_error_clear();
        json_t *merged = merge_user_metadata(item, user ? user : stored);
        json_decref(user);
        if (!stored || !same_content(merged, stored)) {
            json_t *out = NULL;
            if (cache_store_put(sync->store, kind, ns, obj_name, merged, CACHE_PUT_UPSERT, NULL,
                                &out) < 0)
                log_warn("sync: cannot store object", "name", json_string(obj_name),
                         "error", json_string(porch_error_last()->message));
            if (stored_out && out)
                json_array_append(stored_out, out);
            json_decref(out);
        } else if (stored_out) {
            json_array_append(stored_out, stored);
        }
        json_decref(merged);
        json_decref(stored);
    }
    json_t *items = NULL;
    if (cache_store_list_owned(sync->store, kind, ns, name, pkg, &items) == 0) {
        json_array_foreach(items, i, item) {
            const char *obj_name = jstr(item, "metadata.name");
            if (obj_name && !json_object_get(wanted, obj_name)) {
                json_t *gone = NULL;
                cache_store_delete(sync->store, kind, ns, obj_name, NULL, NULL, &gone);
                json_decref(gone);
                gone = NULL;
                if (!strcmp(kind, CACHE_KIND_REVISION) &&
                    cache_store_delete(sync->store, CACHE_KIND_REVMETA, ns, obj_name, NULL, NULL,
                                       &gone) < 0)
                    porch_error_clear();
                json_decref(gone);
            }
        }
    }
    json_decref(items);
    if (cache_store_batch_end(sync->store) < 0)
        log_warn("sync: cannot commit", "repository", json_string(name),
                 "error", json_string(porch_error_last()->message));
    int n = (int)json_object_size(wanted);
    json_decref(wanted);
    return n;
}

/* PorchPackage objects (spec §8): one per package path, latest published revision. */
static json_t *packages_of(json_t *revisions, const char *ns, const char *repo)
{
    json_t *by_name = json_object();
    size_t i;
    json_t *rev;
    json_array_foreach(revisions, i, rev) {
        const char *pkg = jstr(rev, "spec.packageName");
        if (!pkg)
            continue;
        char name[600];
        snprintf(name, sizeof name, "%s.%s", repo, pkg);
        for (char *p = name; *p; p++)
            if (*p == '/')
                *p = '.';
        json_t *obj = json_object_get(by_name, name);
        if (!obj) {
            obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:i}}", "apiVersion",
                            "porch.kpt.dev/v1alpha1", "kind", "PorchPackage", "metadata", "name",
                            name, "namespace", ns, "spec", "packageName", pkg, "repository", repo,
                            "status", "latestRevision", 0);
            json_object_set_new(by_name, name, obj);
        }
        json_int_t r = json_integer_value(json_object_get(json_object_get(rev, "spec"), "revision"));
        const char *lc = jstr(rev, "spec.lifecycle");
        json_t *st = json_object_get(obj, "status");
        if (lc && (!strcmp(lc, "Published") || !strcmp(lc, "DeletionProposed")) &&
            r > json_integer_value(json_object_get(st, "latestRevision")))
            json_object_set_new(st, "latestRevision", json_integer(r));
    }
    json_t *list = json_array();
    const char *key;
    json_t *obj;
    json_object_foreach(by_name, key, obj) json_array_append(list, obj);
    json_decref(by_name);
    return list;
}

/* Writes the Ready condition into the Repository's status, retrying on a
 * concurrent spec change (the resourceVersion precondition). */
static void set_ready(cache_sync *sync, const char *ns, const char *name, int ready,
                      const char *message, int packages, time_t next_due, const char *run_once)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        json_t *repo = NULL;
        if (cache_store_get(sync->store, CACHE_KIND_REPOSITORY, ns, name, &repo) < 0)
            return;
        json_t *status = json_object_get(repo, "status");
        if (!json_is_object(status)) {
            status = json_object();
            json_object_set_new(repo, "status", status);
        }
        json_t *old = NULL;
        json_t *conds = json_object_get(status, "conditions");
        size_t i;
        json_t *c;
        json_array_foreach(conds, i, c) if (!strcmp(jstr(c, "type") ? jstr(c, "type") : "", "Ready"))
            old = c;
        const char *want = ready ? "True" : "False";
        char now[32];
        now_rfc3339(now, sizeof now);
        const char *since = old && !strcmp(jstr(old, "status") ? jstr(old, "status") : "", want)
                                ? jstr(old, "lastTransitionTime") : now;
        json_int_t gen = json_integer_value(json_object_get(json_object_get(repo, "metadata"), "generation"));
        json_t *cond = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "type", "Ready", "status", want,
                                 "reason", ready ? "Ready" : "Error", "message", message ? message : "",
                                 "observedGeneration", gen, "lastTransitionTime", since ? since : now);
        json_object_set_new(status, "conditions", json_pack("[o]", cond));
        json_object_set_new(status, "observedGeneration", json_integer(gen));
        json_object_set_new(status, "lastFullSyncTime", json_string(now));
        if (ready)
            json_object_set_new(status, "packageCount", json_integer(packages));
        if (next_due > 0) {
            char when[32];
            struct tm tm;
            gmtime_r(&next_due, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            json_object_set_new(status, "nextFullSyncTime", json_string(when));
        }
        if (run_once && *run_once)
            json_object_set_new(status, "observedRunOnceAt", json_string(run_once));
        const char *rv = jstr(repo, "metadata.resourceVersion");
        char rv_copy[32];
        snprintf(rv_copy, sizeof rv_copy, "%s", rv ? rv : "");
        json_t *out = NULL;
        int rc = cache_store_put(sync->store, CACHE_KIND_REPOSITORY, ns, name, repo,
                                 CACHE_PUT_UPDATE, rv_copy, &out);
        json_decref(out);
        json_decref(repo);
        if (rc == 0 || porch_error_last()->code != 409)
            return;
    }
}

static time_t parse_rfc3339(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? timegm(&tm) : 0;
}

/* Plans the next sync of a repository from spec.sync (schedule, runOnceAt)
 * or the default period, and notes a runOnceAt that this sync honoured. */
static void plan_next(cache_sync *sync, synced_repo *seen, json_t *repo, time_t now)
{
    json_t *spec_sync = json_object_get(json_object_get(repo, "spec"), "sync");
    const char *schedule = jstr(spec_sync, "schedule");
    const char *run_once = jstr(spec_sync, "runOnceAt");
    cron_schedule cs;
    time_t next = now + sync->period_s;
    if (schedule && *schedule) {
        if (cron_parse(schedule, &cs) == 0 && cron_next(&cs, now) > 0)
            next = cron_next(&cs, now);
        else
            log_warn("sync: bad schedule, using the default period", "schedule",
                     json_string(schedule), "error", json_string(porch_error_last()->message));
    }
    if (run_once && *run_once && strcmp(run_once, seen->run_once) != 0) {
        time_t at = parse_rfc3339(run_once);
        if (at > 0 && at <= now)
            snprintf(seen->run_once, sizeof seen->run_once, "%s", run_once); /* done by this sync */
        else if (at > now && at < next)
            next = at;
    }
    seen->next_due = next;
}

static int sync_locked(cache_sync *sync, const char *ns, const char *name, const char *pkg,
                       json_t *listed, json_t **summary)
{
    json_t *repo = NULL;
    if (cache_store_get(sync->store, CACHE_KIND_REPOSITORY, ns, name, &repo) < 0) {
        if (pkg) /* the clean-up of an unregistered repository is the full sync's */
            return porch_error_set(404, "repositories.config.porch.kpt.dev \"%s\" not found", name);
        json_t *none = json_array();
        reconcile(sync, CACHE_KIND_REVISION, ns, name, NULL, none, NULL);
        reconcile(sync, CACHE_KIND_PACKAGE, ns, name, NULL, none, NULL);
        json_decref(none);
        /* Unregistered: the adapter drops its mirror (a 404 means it had none).
         * Once per unregistration: later events of the same repository (its
         * status updates replayed late) must not close it again and again. */
        char key[320];
        snprintf(key, sizeof key, "%s/%s", ns, name);
        synced_repo *seen = seen_entry(sync, key, 1);
        if (!seen || seen->generation != SYNC_CLOSED) {
            json_t *args = json_pack("{s:s, s:s}", "namespace", ns, "repository", name),
                   *closed = NULL;
            bus_client_call(sync->git, "git-adapter.close", args, NULL, &closed, NULL);
            json_decref(args);
            json_decref(closed);
            if (seen)
                seen->generation = SYNC_CLOSED;
        }
        return porch_error_set(404, "repositories.config.porch.kpt.dev \"%s\" not found", name);
    }
    const char *type = jstr(repo, "spec.type");
    json_t *result = NULL;
    int rc;
    if (type && strcmp(type, "git") != 0) {
        rc = porch_error_set(501, "repository type \"%s\" is not supported yet", type);
    } else {
        /* A full sync of an unchanged spec asks the adapter to skip discovery
         * when no ref moved since the last listing (the common periodic case). */
        char key0[320];
        snprintf(key0, sizeof key0, "%s/%s", ns, name);
        synced_repo *prev = pkg ? NULL : seen_entry(sync, key0, 0);
        json_int_t gen0 = json_integer_value(json_object_get(json_object_get(repo, "metadata"), "generation"));
        const char *if_version = prev && prev->listed_generation == gen0 ? prev->version : NULL;
        if (listed) {
            result = json_incref(listed);
            rc = 0;
        } else {
            rc = git_list(sync, repo, ns, name, pkg, if_version, &result);
        }
    }
    if (pkg) {
        /* One package after a write: no status change, no re-planning; a
         * failure leaves the index as it was (the next full sync repairs it). */
        json_decref(repo);
        if (rc < 0)
            return -1;
        json_t *items = json_object_get(result, "items"), *stored = json_array();
        int n_rev = reconcile(sync, CACHE_KIND_REVISION, ns, name, pkg, items, stored);
        json_t *pkgs = packages_of(items, ns, name);
        int n_pkg = reconcile(sync, CACHE_KIND_PACKAGE, ns, name, pkg, pkgs, NULL);
        json_decref(pkgs);
        json_decref(result);
        if (summary)
            *summary = json_pack("{s:i, s:i, s:b, s:s, s:o}", "revisions", n_rev, "packages", n_pkg,
                                 "ready", 1, "message", "", "items", stored);
        else
            json_decref(stored);
        return 0;
    }
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    synced_repo *seen = seen_entry(sync, key, 1);
    char observed_run_once[64] = "";
    if (seen) {
        seen->generation = json_integer_value(json_object_get(json_object_get(repo, "metadata"), "generation"));
        plan_next(sync, seen, repo, time(NULL));
        snprintf(observed_run_once, sizeof observed_run_once, "%s", seen->run_once);
    }
    time_t next_due = seen ? seen->next_due : 0;
    json_decref(repo);
    if (rc < 0) {
        char message[PORCH_ERROR_MESSAGE_MAX];
        snprintf(message, sizeof message, "%s", porch_error_last()->message);
        int code = porch_error_last()->code;
        json_t *none = json_array();
        reconcile(sync, CACHE_KIND_REVISION, ns, name, NULL, none, NULL);
        reconcile(sync, CACHE_KIND_PACKAGE, ns, name, NULL, none, NULL);
        json_decref(none);
        if (seen)
            seen->version[0] = '\0'; /* the index was emptied: the next listing is a full one */
        set_ready(sync, ns, name, 0, message, 0, next_due, observed_run_once);
        log_info("sync: repository not ready", "repository", json_string(key),
                 "error", json_string(message));
        if (summary)
            *summary = json_pack("{s:i, s:i, s:b, s:s}", "revisions", 0, "packages", 0, "ready", 0,
                                 "message", message);
        return porch_error_set(code, "%s", message);
    }
    json_t *items = json_object_get(result, "items");
    int n_rev, n_pkg;
    if (json_is_true(json_object_get(result, "notModified"))) {
        json_t *owned = NULL;
        n_rev = n_pkg = 0;
        if (cache_store_list_owned(sync->store, CACHE_KIND_PACKAGE, ns, name, NULL, &owned) == 0)
            n_pkg = (int)json_array_size(owned);
        json_decref(owned);
    } else {
        n_rev = reconcile(sync, CACHE_KIND_REVISION, ns, name, NULL, items, NULL);
        json_t *pkgs = packages_of(items, ns, name);
        n_pkg = reconcile(sync, CACHE_KIND_PACKAGE, ns, name, NULL, pkgs, NULL);
        json_decref(pkgs);
    }
    if (seen) {
        const char *version = json_string_value(json_object_get(result, "version"));
        snprintf(seen->version, sizeof seen->version, "%s", version ? version : "");
        seen->listed_generation = seen->generation;
    }
    json_decref(result);
    set_ready(sync, ns, name, 1, "", n_pkg, next_due, observed_run_once);
    if (summary)
        *summary = json_pack("{s:i, s:i, s:b, s:s}", "revisions", n_rev, "packages", n_pkg,
                             "ready", 1, "message", "");
    return 0;
}

int cache_sync_repository(cache_sync *sync, const char *ns, const char *name, const char *pkg,
                          json_t *listed, json_t **summary)
{
    if (summary)
        *summary = NULL;
    /* FNV-1a of "ns/name" picks the repository's stripe */
    unsigned h = 2166136261u;
    for (const char *p = ns; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    pthread_mutex_t *stripe = &sync->stripes[h % SYNC_STRIPES];
    if (pkg) {
        pthread_mutex_lock(stripe);
        int rc = sync_locked(sync, ns, name, pkg, listed, summary);
        pthread_mutex_unlock(stripe);
        if (rc == 0 || porch_error_last()->code != 404)
            return rc;
        /* the repository is gone: a full sync removes what it had */
    }
    pthread_mutex_lock(&sync->lock);
    pthread_mutex_lock(stripe);
    int rc = sync_locked(sync, ns, name, NULL, NULL, pkg ? NULL : summary);
    pthread_mutex_unlock(stripe);
    pthread_mutex_unlock(&sync->lock);
    return rc;
}

/* ---- the background thread ---- */

static void sync_all(cache_sync *sync)
{
    json_t *repos = NULL;
    char *next = NULL;
    int64_t rv;
    if (cache_store_list(sync->store, CACHE_KIND_REPOSITORY, NULL, 0, NULL, &repos, &next, &rv) < 0)
        return;
    size_t i;
    json_t *repo;
    json_array_foreach(repos, i, repo) {
        if (atomic_load(&sync->stop))
            break;
        const char *ns = jstr(repo, "metadata.namespace");
        const char *name = jstr(repo, "metadata.name");
        if (ns && name)
            cache_sync_repository(sync, ns, name, NULL, NULL, NULL);
    }
    free(next);
    json_decref(repos);
}

/* A Repository event needs a sync when it is new, deleted, or its spec
 * (generation) changed — not for our own status updates. */
static void handle_event(cache_sync *sync, json_t *ev)
{
    const char *type = jstr(ev, "type");
    json_t *obj = json_object_get(ev, "object");
    const char *ns = jstr(obj, "metadata.namespace");
    const char *name = jstr(obj, "metadata.name");
    if (!type || !ns || !name)
        return;
    char key[320];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    json_int_t gen = json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
    pthread_mutex_lock(&sync->lock);
    synced_repo *seen = seen_entry(sync, key, 0);
    int needed = !strcmp(type, "DELETED") || !seen || seen->generation != gen;
    if (!strcmp(type, "DELETED") && seen && seen->generation == SYNC_CLOSED)
        needed = 0; /* already unregistered */
    else if (!strcmp(type, "DELETED") && seen)
        seen->generation = -1;
    pthread_mutex_unlock(&sync->lock);
    if (needed)
        cache_sync_repository(sync, ns, name, NULL, NULL, NULL);
}

/* Syncs every repository whose planned time has come. */
static void sync_due(cache_sync *sync)
{
    time_t now = time(NULL);
    char keys[64][320];
    size_t n = 0;
    pthread_mutex_lock(&sync->lock);
    for (size_t i = 0; i < sync->n_seen && n < 64; i++)
        if (sync->seen[i].generation >= 0 && sync->seen[i].next_due > 0 &&
            sync->seen[i].next_due <= now)
            snprintf(keys[n++], sizeof keys[0], "%s", sync->seen[i].key);
    pthread_mutex_unlock(&sync->lock);
    for (size_t i = 0; i < n && !atomic_load(&sync->stop); i++) {
        char *slash = strchr(keys[i], '/');
        if (!slash)
            continue;
        *slash = '\0';
        cache_sync_repository(sync, keys[i], slash + 1, NULL, NULL, NULL);
    }
}

static void *sync_main(void *arg)
{
    cache_sync *sync = arg;
    json_t *kinds = json_pack("[s]", CACHE_KIND_REPOSITORY);
    json_t *probe = json_object();
    cache_store_check(sync->store, probe);
    int64_t since = json_integer_value(json_object_get(probe, "event_seq"));
    json_decref(probe);
    sync_all(sync);
    while (!atomic_load(&sync->stop)) {
        json_t *events = NULL;
        int64_t rv = since;
        if (cache_store_events(sync->store, kinds, since, 100, SYNC_POLL_MS, &events, &rv) < 0) {
            /* history pruned under us: resync everything from now */
            json_t *now = json_object();
            cache_store_check(sync->store, now);
            since = json_integer_value(json_object_get(now, "event_seq"));
            json_decref(now);
            sync_all(sync);
            continue;
        }
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev) handle_event(sync, ev);
        json_decref(events);
        since = rv;
        sync_due(sync);
    }
    json_decref(kinds);
    return NULL;
}

int cache_sync_new(cache_store *store, bus_client *git, int period_s, cache_sync **out)
{
    cache_sync *sync = calloc(1, sizeof *sync);
    if (!sync)
        return porch_error_set(500, "cache: out of memory");
    sync->store = store;
    sync->git = git;
    sync->period_s = period_s > 0 ? period_s : 60;
    pthread_mutex_init(&sync->lock, NULL);
    for (int i = 0; i < SYNC_STRIPES; i++)
        pthread_mutex_init(&sync->stripes[i], NULL);
    *out = sync;
    return 0;
}

int cache_sync_start(cache_sync *sync)
{
    if (pthread_create(&sync->thread, NULL, sync_main, sync) != 0)
        return porch_error_set(500, "cache: cannot start the sync thread");
    sync->running = 1;
    return 0;
}

int cache_sync_free(cache_sync *sync)
{
    if (!sync)
        return 0;
    atomic_store(&sync->stop, 1);
    if (sync->running) {
        /* A sync may be waiting on the git adapter: don't hold shutdown for it. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (pthread_timedjoin_np(sync->thread, NULL, &until) != 0) {
            pthread_detach(sync->thread);
            return -1; /* still running: leave its memory alone, the process is exiting */
        }
    }
    pthread_mutex_destroy(&sync->lock);
    for (int i = 0; i < SYNC_STRIPES; i++)
        pthread_mutex_destroy(&sync->stripes[i]);
    free(sync->seen);
    free(sync);
    return 0;
}

/* args.listed must be revisions of exactly that package of that repository:
 * anything else would be reconciled into the wrong place. */
static int check_listed(json_t *listed, const char *repo, const char *pkg)
{
    json_t *items = json_object_get(listed, "items");
    if (!pkg)
        return porch_error_set(400, "args.listed needs args.package");
    if (!json_is_object(listed) || !json_is_array(items))
        return porch_error_set(400, "args.listed must be {\"items\": [...]}");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *name = jstr(it, "metadata.name"), *p = jstr(it, "spec.packageName");
        const char *r = jstr(it, "spec.repository");
        if (!json_is_object(it) || !name || !*name || !p || strcmp(p, pkg) != 0 || !r ||
            strcmp(r, repo) != 0)
            return porch_error_set(400, "args.listed.items[%zu] is not a revision of package "
                                        "\"%s\" in repository \"%s\"", i, pkg, repo);
    }
    return 0;
}

static int handle_sync(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    const char *ns = json_string_value(json_object_get(req->args, "namespace"));
    const char *name = json_string_value(json_object_get(req->args, "name"));
    if (!ns || !*ns || strlen(ns) > 63)
        return porch_error_set(400, "args.namespace is required");
    if (!name || !*name || strlen(name) > 253)
        return porch_error_set(400, "args.name (the Repository) is required");
    json_t *pkg_arg = json_object_get(req->args, "package");
    if (pkg_arg && (!json_is_string(pkg_arg) || json_string_length(pkg_arg) > 253))
        return porch_error_set(400, "args.package must be a package path");
    json_t *listed = json_object_get(req->args, "listed");
    if (listed && check_listed(listed, name, json_string_value(pkg_arg)) < 0)
        return -1;
    return cache_sync_repository(ud, ns, name, json_string_value(pkg_arg), listed, result);
}

int cache_sync_register(bus_server *bus, cache_sync *sync)
{
    return bus_server_register(bus, "sync", handle_sync, sync);
}
