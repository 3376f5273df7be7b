/* The git-adapter's bus ops: thin handlers that decode args, take the
 * repository's lock, call common/gitrepo and shape the result. Policy (who may
 * do what, metadata, the cache) lives in the engine; this is the mechanism. */
#include "ops.h"

#include "error/error.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ga_table_init(ga_table *t, const char *mirrors_dir)
{
    pthread_mutex_init(&t->lock, NULL);
    t->head = NULL;
    t->mirrors_dir = mirrors_dir;
    if (gitrepo_chores_new(&t->chores) != 0) { /* writes then do their chores inline */
        log_warn("no file-system chores thread: writes make and free files inline",
                 "error", json_string(porch_error_last()->message));
        porch_error_clear();
        t->chores = NULL;
    }
}

static void entry_free(ga_repo *r)
{
    gitrepo_free(r->repo);
    json_decref(r->config);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void ga_table_free(ga_table *t)
{
    ga_repo *r = t->head;
    while (r) {
        ga_repo *next = r->next;
        entry_free(r);
        r = next;
    }
    t->head = NULL;
    gitrepo_chores_free(t->chores); /* after the repositories that use it */
    t->chores = NULL;
    pthread_mutex_destroy(&t->lock);
}

/* ---- args ---- */

static const char *arg_str(json_t *args, const char *key)
{
    json_t *v = json_object_get(args, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int need_str(json_t *args, const char *key, const char **out)
{
    *out = arg_str(args, key);
    if (!*out || !**out)
        return porch_error_set(400, "args.%s is required (a non-empty string)", key);
    return 0;
}

static int repo_key(json_t *args, char *key, size_t len)
{
    const char *ns, *name;
    if (need_str(args, "namespace", &ns) != 0 || need_str(args, "repository", &name) != 0)
        return -1;
    snprintf(key, len, "%s/%s", ns, name);
    return 0;
}

/* ---- the table: acquire an entry locked, release it ---- */

static ga_repo *table_find(ga_table *t, const char *key)
{
    for (ga_repo *r = t->head; r; r = r->next)
        if (!r->closed && strcmp(r->key, key) == 0)
            return r;
    return NULL;
}

/* The entry for args' repository, locked; 404 when it was never opened. */
static int acquire(ga_table *t, json_t *args, int create, ga_repo **out)
{
    char key[512];
    *out = NULL;
    if (repo_key(args, key, sizeof key) != 0)
        return -1;
    pthread_mutex_lock(&t->lock);
    ga_repo *r = table_find(t, key);
    if (!r && create) {
        r = calloc(1, sizeof *r);
        snprintf(r->key, sizeof r->key, "%s", key);
        pthread_mutex_init(&r->lock, NULL);
        r->next = t->head;
        t->head = r;
    }
    if (r)
        r->refs++;
    pthread_mutex_unlock(&t->lock);
    if (!r)
        return porch_error_set(404, "repository %s is not open in the git adapter; open it first",
                               key);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&r->lock);
    json_t *waited_json = log_ms_since(&t0);
    if (json_real_value(waited_json) >= 1.0) /* another request on this repository held it */
        log_debug("waited for the repository", "repository", json_string(key), "ms", waited_json);
    else
        json_decref(waited_json);
    if (r->closed || (!create && !r->repo)) {
        pthread_mutex_unlock(&r->lock);
        pthread_mutex_lock(&t->lock);
        r->refs--;
        pthread_mutex_unlock(&t->lock);
        return porch_error_set(404, "repository %s is not open in the git adapter", key);
    }
    *out = r;
    return 0;
}

static void release(ga_table *t, ga_repo *r)
{
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_lock(&t->lock);
    r->refs--;
    int dead = r->closed && r->refs == 0;
    if (dead) {
        for (ga_repo **p = &t->head; *p; p = &(*p)->next)
            if (*p == r) {
                *p = r->next;
                break;
            }
    }
    pthread_mutex_unlock(&t->lock);
    if (dead)
        entry_free(r);
}

/* ---- open / close ---- */

/* What identifies a mirror configuration (credentials excluded from comparison). */
static json_t *config_identity(json_t *args)
{
    return json_pack("{s:s?, s:s?, s:s?, s:b, s:b}", "url", arg_str(args, "url"), "branch",
                     arg_str(args, "branch"), "directory", arg_str(args, "directory"),
                     "createBranch", json_is_true(json_object_get(args, "createBranch")),
                     "deployment", json_is_true(json_object_get(args, "deployment")));
}

static int op_open(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    const char *url;
    if (need_str(req->args, "url", &url) != 0)
        return -1;
    ga_repo *r;
    if (acquire(t, req->args, 1, &r) != 0)
        return -1;
    json_t *ident = config_identity(req->args);
    int rc = 0;
    json_t *auth = json_object_get(req->args, "auth");
    if (r->repo && json_equal(ident, r->config) && !json_object_size(auth)) {
        rc = gitrepo_fetch(r->repo); /* refresh */
    } else {
        gitrepo_free(r->repo);
        r->repo = NULL;
        json_decref(r->config);
        r->config = NULL;
        gitrepo_config cfg = {
            .name = arg_str(req->args, "repository"),
            .namespace_ = arg_str(req->args, "namespace"),
            .url = url,
            .branch = arg_str(req->args, "branch"),
            .directory = arg_str(req->args, "directory"),
            .create_branch = json_is_true(json_object_get(req->args, "createBranch")),
            .deployment = json_is_true(json_object_get(req->args, "deployment")),
            .username = arg_str(auth, "username"),
            .password = arg_str(auth, "password"),
            .bearer_token = arg_str(auth, "bearerToken"),
            .cache_dir = t->mirrors_dir,
            .chores = t->chores,
        };
        rc = gitrepo_open(&cfg, &r->repo);
        if (rc == 0)
            r->config = json_incref(ident);
    }
    json_decref(ident);
    if (rc == 0) {
        char head[GITREPO_SHA_HEX], version[65];
        gitrepo_branch_head(r->repo, head);
        gitrepo_version(r->repo, version);
        *result = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "ready", 1, "reason", "Ready",
                            "message", "Repository Ready", "gitCommitHash", head, "version",
                            version, "mirror", gitrepo_mirror_path(r->repo));
    } else {
        const porch_error *e = porch_error_last();
        *details =
            json_pack("{s:b, s:s, s:s}", "ready", 0, "reason", "Error", "message", e->message);
        if (!r->repo) {
            /* a failed first open leaves nothing registered */
            pthread_mutex_lock(&t->lock);
            r->closed = 1;
            pthread_mutex_unlock(&t->lock);
        }
    }
    release(t, r);
    return rc;
}

static int op_close(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    char mirror[4096];
    snprintf(mirror, sizeof mirror, "%s", gitrepo_mirror_path(r->repo));
    const char *url = json_string_value(json_object_get(r->config, "url"));
    /* the mirror goes too unless another open repository shares the URL */
    int shared = 0;
    pthread_mutex_lock(&t->lock);
    r->closed = 1;
    for (ga_repo *o = t->head; o; o = o->next)
        if (o != r && !o->closed && o->config &&
            json_equal(json_object_get(o->config, "url"), json_object_get(r->config, "url")))
            shared = 1;
    pthread_mutex_unlock(&t->lock);
    gitrepo_free(r->repo);
    r->repo = NULL;
    int removed = 0;
    if (!shared && strncmp(mirror, t->mirrors_dir, strlen(t->mirrors_dir)) == 0) {
        char cmd[8300];
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", mirror);
        removed = system(cmd) == 0;
    }
    log_info("repository closed", "repository", json_string(r->key), "url",
             json_string(url ? url : ""));
    release(t, r);
    *result = json_pack("{s:b, s:b}", "closed", 1, "mirrorRemoved", removed);
    return 0;
}

static int op_check(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    char head[GITREPO_SHA_HEX];
    int rc = gitrepo_check(r->repo, head);
    if (rc == 0)
        *result = json_pack("{s:b, s:s}", "ready", 1, "gitCommitHash", head);
    else
        *details = json_pack("{s:b, s:s, s:s}", "ready", 0, "reason", "Error", "message",
                             porch_error_last()->message);
    release(t, r);
    return rc;
}

/* ---- reads ---- */

static int op_list(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    int rc = 0;
    json_t *fetch = json_object_get(req->args, "fetch");
    if (!json_is_false(fetch))
        rc = gitrepo_fetch(r->repo);
    json_t *items = NULL;
    const char *package = arg_str(req->args, "package");
    const char *if_version = arg_str(req->args, "ifVersion");
    char version[65];
    if (rc == 0)
        gitrepo_version(r->repo, version);
    if (rc == 0 && if_version && strcmp(if_version, version) == 0) {
        /* nothing moved since the caller's listing: skip discovery */
        *result = json_pack("{s:[], s:s, s:b}", "items", "version", version, "notModified", 1);
        release(t, r);
        return 0;
    }
    if (rc == 0)
        rc = package ? gitrepo_list_package(r->repo, package, &items)
                     : gitrepo_list(r->repo, &items);
    if (rc == 0)
        *result = json_pack("{s:o, s:s}", "items", items, "version", version);
    release(t, r);
    return rc;
}

static int op_read(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    const char *name;
    if (need_str(req->args, "name", &name) != 0)
        return -1;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    json_t *item = NULL, *res = NULL, *bin = NULL;
    int rc = gitrepo_read_revision(r->repo, name, &item, &res, &bin);
    if (rc == 0) {
        json_t *meta = json_object_get(item, "metadata"), *spec = json_object_get(item, "spec");
        *result = json_pack("{s:s, s:O, s:O, s:o}", "name", name, "resourceVersion",
                            json_object_get(meta, "resourceVersion"), "packageName",
                            json_object_get(spec, "packageName"), "resources", res);
        if (json_object_size(bin))
            json_object_set(*result, "binary", bin);
        json_object_set(*result, "item", item);
    }
    json_decref(bin);
    json_decref(item);
    release(t, r);
    return rc;
}

/* ---- writes ---- */

static gitrepo_author author_of(const bus_request *req)
{
    json_t *a = json_object_get(req->args, "author");
    gitrepo_author au = {arg_str(a, "name"), arg_str(a, "email")};
    return au;
}

/* Writes answer with the revision as now listed unless args.item is false
 * (the engine re-reads through the cache's sync and skips the listing). */
static int want_item(const bus_request *req)
{
    return !json_is_false(json_object_get(req->args, "item"));
}

/* args.listPackage (a package path): the write's answer also carries that
 * package's revisions as now listed ("listed"), so the cache's sync after the
 * write needs no listing call of its own. A listing that fails is left out
 * (the write itself succeeded; the cache then lists). */
static void attach_listing(const bus_request *req, ga_repo *r, json_t *result)
{
    const char *pkg = arg_str(req->args, "listPackage");
    json_t *items = NULL;
    if (!pkg || !result)
        return;
    if (gitrepo_list_package(r->repo, pkg, &items) != 0) {
        porch_error_clear();
        return;
    }
    json_object_set_new(result, "listed", json_pack("{s:o}", "items", items));
}

/* Decodes a write's draft from args (borrowed from them); 400 names what is wrong. */
static int draft_spec_of(const bus_request *req, gitrepo_draft_spec *spec)
{
    const char *pkg, *ws;
    if (need_str(req->args, "packageName", &pkg) != 0 ||
        need_str(req->args, "workspaceName", &ws) != 0)
        return -1;
    json_t *resources = json_object_get(req->args, "resources");
    if (!json_is_object(resources))
        return porch_error_set(400, "args.resources is required (path → file content)");
    const char *lifecycle = arg_str(req->args, "lifecycle");
    if (lifecycle && strcmp(lifecycle, "Draft") != 0 && strcmp(lifecycle, "Proposed") != 0)
        return porch_error_set(400, "args.lifecycle must be Draft or Proposed, not \"%s\"",
                               lifecycle);
    json_t *task = json_object_get(req->args, "task");
    *spec = (gitrepo_draft_spec){
        .package = pkg,
        .workspace = ws,
        .resources = resources,
        .binary = json_object_get(req->args, "binary"),
        .task = json_is_object(task) ? task : NULL,
        .message = arg_str(req->args, "message"),
        .expect = arg_str(req->args, "expect"),
        .propose = lifecycle && !strcmp(lifecycle, "Proposed"),
        .author = author_of(req),
    };
    return 0;
}

static int op_write_draft(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    gitrepo_draft_spec spec;
    ga_repo *r;
    if (draft_spec_of(req, &spec) != 0 || acquire(t, req->args, 0, &r) != 0)
        return -1;
    char sha[GITREPO_SHA_HEX], name[GITREPO_NAME_MAX];
    int rc = gitrepo_write_draft(r->repo, &spec, sha);
    json_t *item = NULL;
    if (rc == 0)
        rc = gitrepo_name_compose(arg_str(req->args, "repository"), spec.package, spec.workspace,
                                  name, sizeof name);
    if (rc == 0 && want_item(req))
        rc = gitrepo_find(r->repo, name, &item);
    if (rc == 0)
        *result = json_pack("{s:s, s:s}", "name", name, "resourceVersion", sha);
    if (rc == 0 && item)
        json_object_set_new(*result, "item", item);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == 0)
        attach_listing(req, r, *result);
    log_debug("listed", "ms", log_ms_since(&t0));
    release(t, r);
    return rc;
}

/* The trees a write_draft of args would commit, written ahead (no commit, no
 * push): args as write_draft's, `expect` required. */
static int op_stage_draft(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    gitrepo_draft_spec spec;
    ga_repo *r;
    if (draft_spec_of(req, &spec) != 0 || acquire(t, req->args, 0, &r) != 0)
        return -1;
    int rc = gitrepo_stage_draft(r->repo, &spec);
    if (rc == 0)
        *result = json_pack("{s:b}", "staged", 1);
    release(t, r);
    return rc;
}

static int op_set_lifecycle(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    const char *name, *lifecycle;
    if (need_str(req->args, "name", &name) != 0 ||
        need_str(req->args, "lifecycle", &lifecycle) != 0)
        return -1;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    gitrepo_author au = author_of(req);
    json_t *item = NULL;
    int rc = gitrepo_set_lifecycle(
        r->repo, name, lifecycle, (int)json_integer_value(json_object_get(req->args, "revision")),
        arg_str(req->args, "expect"), &au, want_item(req) ? &item : NULL);
    if (rc == 0)
        *result = item ? json_pack("{s:o}", "item", item) : json_object();
    if (rc == 0)
        attach_listing(req, r, *result);
    release(t, r);
    return rc;
}

static int op_delete(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    ga_table *t = ud;
    const char *name;
    if (need_str(req->args, "name", &name) != 0)
        return -1;
    ga_repo *r;
    if (acquire(t, req->args, 0, &r) != 0)
        return -1;
    gitrepo_author au = author_of(req);
    int rc = gitrepo_delete(r->repo, name, arg_str(req->args, "expect"), &au);
    if (rc == 0)
        *result = json_pack("{s:s}", "deleted", name);
    if (rc == 0)
        attach_listing(req, r, *result);
    release(t, r);
    return rc;
}

int ga_ops_register(bus_server *srv, ga_table *t)
{
    static const struct {
        const char *verb;
        bus_handler_fn fn;
    } ops[] = {
        {"open", op_open},
        {"check", op_check},
        {"close", op_close},
        {"list", op_list},
        {"read", op_read},
        {"write_draft", op_write_draft},
        {"stage_draft", op_stage_draft},
        {"set_lifecycle", op_set_lifecycle},
        {"delete", op_delete},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (bus_server_register(srv, ops[i].verb, ops[i].fn, t) != 0)
            return -1;
    return 0;
}
