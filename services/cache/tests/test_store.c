/* Tests of the cache store on a real SQLite file: Kubernetes create/update/
 * delete semantics (AlreadyExists, NotFound, stale resourceVersion → 409,
 * preconditions), server-owned metadata, paging, and the event feed behind
 * watch (ordering, kinds filter, long-poll wake-up, 410 for pruned history,
 * and survival across reopen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error/error.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    cache_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/porch-cache-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/cache.db", f->dir);
    assert_int_equal(cache_store_open(f->path, &f->store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cache_store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static json_t *secret(const char *value)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
                     "metadata", "name", "ignored", "data", "password", value);
}

static const char *meta(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void create_sets_server_metadata(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("a"), *stored;
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "s1", obj, CACHE_PUT_CREATE, NULL,
                                     &stored), 0);
    assert_string_equal(meta(stored, "name"), "s1");
    assert_string_equal(meta(stored, "namespace"), "ns1");
    assert_string_equal(meta(stored, "resourceVersion"), "1");
    assert_int_equal(strlen(meta(stored, "uid")), 36);
    assert_non_null(meta(stored, "creationTimestamp"));
    json_decref(stored);
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "s1", obj, CACHE_PUT_CREATE, NULL,
                                     &stored), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_string_equal(porch_error_last()->reason, "AlreadyExists");
    json_decref(obj);
}

static void update_checks_resource_version(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("a"), *v1, *v2;
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "s1", obj, CACHE_PUT_CREATE, NULL,
                                     &v1), 0);
    json_t *changed = secret("b");
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "s1", changed, CACHE_PUT_UPDATE,
                                     "999", &v2), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_string_equal(porch_error_last()->reason, "Conflict");
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "s1", changed, CACHE_PUT_UPDATE,
                                     meta(v1, "resourceVersion"), &v2), 0);
    assert_string_equal(meta(v2, "uid"), meta(v1, "uid"));
    assert_string_equal(meta(v2, "resourceVersion"), "2");
    json_t *got;
    assert_int_equal(cache_store_get(f->store, "secrets", "ns1", "s1", &got), 0);
    assert_true(json_equal(got, v2));
    json_decref(v2);
    assert_int_equal(cache_store_put(f->store, "secrets", "ns1", "nope", changed, CACHE_PUT_UPDATE,
                                     NULL, &v2), -1);
    assert_null(v2);
    assert_int_equal(porch_error_last()->code, 404);
    json_decref(got);
    json_decref(v1);
    json_decref(v2);
    json_decref(obj);
    json_decref(changed);
}

static void generation_follows_spec(void **state)
{
    fixture *f = *state;
    json_t *a = json_pack("{s:{s:s}}", "spec", "x", "1"), *b = json_pack("{s:{s:s}}", "spec", "x", "2");
    json_t *s1, *s2, *s3;
    cache_store_put(f->store, "repositories", "d", "r", a, CACHE_PUT_CREATE, NULL, &s1);
    json_object_set_new(a, "status", json_pack("{s:s}", "ready", "yes"));
    cache_store_put(f->store, "repositories", "d", "r", a, CACHE_PUT_UPDATE, NULL, &s2);
    cache_store_put(f->store, "repositories", "d", "r", b, CACHE_PUT_UPDATE, NULL, &s3);
    json_t *m1 = json_object_get(s1, "metadata"), *m2 = json_object_get(s2, "metadata"),
           *m3 = json_object_get(s3, "metadata");
    assert_int_equal(json_integer_value(json_object_get(m1, "generation")), 1);
    assert_int_equal(json_integer_value(json_object_get(m2, "generation")), 1);
    assert_int_equal(json_integer_value(json_object_get(m3, "generation")), 2);
    json_decref(s1);
    json_decref(s2);
    json_decref(s3);
    json_decref(a);
    json_decref(b);
}

static void list_pages_in_order(void **state)
{
    fixture *f = *state;
    const char *names[][2] = {{"b", "x"}, {"a", "z"}, {"a", "y"}, {"c", "w"}};
    for (int i = 0; i < 4; i++) {
        json_t *obj = secret("v"), *stored;
        cache_store_put(f->store, "secrets", names[i][0], names[i][1], obj, CACHE_PUT_CREATE, NULL,
                        &stored);
        json_decref(stored);
        json_decref(obj);
    }
    json_t *items;
    char *next;
    int64_t rv;
    assert_int_equal(cache_store_list(f->store, "secrets", NULL, 3, NULL, &items, &next, &rv), 0);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(meta(json_array_get(items, 0), "name"), "y");
    assert_string_equal(meta(json_array_get(items, 2), "name"), "x");
    assert_string_equal(next, "b/x");
    assert_int_equal(rv, 4);
    json_decref(items);
    json_t *rest;
    char *end;
    assert_int_equal(cache_store_list(f->store, "secrets", NULL, 3, next, &rest, &end, &rv), 0);
    assert_int_equal(json_array_size(rest), 1);
    assert_string_equal(meta(json_array_get(rest, 0), "name"), "w");
    assert_null(end);
    json_decref(rest);
    free(next);
    assert_int_equal(cache_store_list(f->store, "secrets", "a", 0, NULL, &items, &next, &rv), 0);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    assert_int_equal(cache_store_list(f->store, "secrets", NULL, 0, "garbage", &items, &next, &rv), -1);
    assert_int_equal(porch_error_last()->code, 400);
}

static void delete_honours_preconditions(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("a"), *stored, *deleted;
    cache_store_put(f->store, "secrets", "n", "s", obj, CACHE_PUT_CREATE, NULL, &stored);
    assert_int_equal(cache_store_delete(f->store, "secrets", "n", "s", NULL, "other-uid", &deleted), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_int_equal(cache_store_delete(f->store, "secrets", "n", "s", "7", NULL, &deleted), -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_int_equal(cache_store_delete(f->store, "secrets", "n", "s", meta(stored, "resourceVersion"),
                                        meta(stored, "uid"), &deleted), 0);
    assert_string_equal(meta(deleted, "resourceVersion"), "2");
    json_decref(deleted);
    assert_int_equal(cache_store_delete(f->store, "secrets", "n", "s", NULL, NULL, &deleted), -1);
    assert_null(deleted);
    assert_int_equal(porch_error_last()->code, 404);
    json_decref(stored);
    json_decref(obj);
}

static void events_follow_writes(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("a"), *s, *d;
    cache_store_put(f->store, "secrets", "n", "s", obj, CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    cache_store_put(f->store, "namespaces", "", "n", obj, CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    cache_store_put(f->store, "secrets", "n", "s", obj, CACHE_PUT_UPDATE, NULL, &s);
    json_decref(s);
    cache_store_delete(f->store, "secrets", "n", "s", NULL, NULL, &d);
    json_decref(d);
    json_t *events, *kinds = json_pack("[s]", "secrets");
    int64_t rv;
    assert_int_equal(cache_store_events(f->store, kinds, 0, 0, 0, &events, &rv), 0);
    assert_int_equal(json_array_size(events), 3);
    const char *types[] = {"ADDED", "MODIFIED", "DELETED"};
    for (int i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(events, i), "type")),
                            types[i]);
    assert_int_equal(rv, 4);
    json_decref(events);
    assert_int_equal(cache_store_events(f->store, NULL, 2, 0, 0, &events, &rv), 0);
    assert_int_equal(json_array_size(events), 2);
    json_decref(events);
    json_decref(kinds);
    json_decref(obj);
}

typedef struct writer {
    cache_store *store;
} writer;

static void *write_later(void *arg)
{
    writer *w = arg;
    usleep(150 * 1000);
    json_t *obj = secret("late"), *s;
    cache_store_put(w->store, "secrets", "n", "late", obj, CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    json_decref(obj);
    return NULL;
}

static void long_poll_wakes_on_write(void **state)
{
    fixture *f = *state;
    writer w = {f->store};
    pthread_t t;
    pthread_create(&t, NULL, write_later, &w);
    json_t *events;
    int64_t rv;
    assert_int_equal(cache_store_events(f->store, NULL, 0, 0, 5000, &events, &rv), 0);
    pthread_join(t, NULL);
    assert_int_equal(json_array_size(events), 1);
    assert_int_equal(rv, 1);
    json_decref(events);
}

static void pruned_history_is_gone(void **state)
{
    fixture *f = *state;
    cache_store_set_retention(f->store, 10);
    json_t *obj = secret("a"), *s;
    for (int i = 0; i < 30; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        cache_store_put(f->store, "secrets", "n", name, obj, CACHE_PUT_CREATE, NULL, &s);
        json_decref(s);
    }
    json_t *events;
    int64_t rv;
    assert_int_equal(cache_store_events(f->store, NULL, 2, 0, 0, &events, &rv), -1);
    assert_int_equal(porch_error_last()->code, 410);
    assert_int_equal(cache_store_events(f->store, NULL, 25, 0, 0, &events, &rv), 0);
    assert_int_equal(json_array_size(events), 5);
    json_decref(events);
    json_decref(obj);
}

static void data_survives_reopen(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("keep"), *s;
    cache_store_put(f->store, "secrets", "n", "k", obj, CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    cache_store_close(f->store);
    assert_int_equal(cache_store_open(f->path, &f->store), 0);
    json_t *got;
    assert_int_equal(cache_store_get(f->store, "secrets", "n", "k", &got), 0);
    assert_string_equal(meta(got, "resourceVersion"), "1");
    json_decref(got);
    cache_store_put(f->store, "secrets", "n", "k2", obj, CACHE_PUT_CREATE, NULL, &s);
    assert_string_equal(meta(s, "resourceVersion"), "2");
    json_decref(s);
    json_decref(obj);
}

static void users_objects_survive_the_loss_of_cache_db(void **state)
{
    fixture *f = *state;
    json_t *obj = secret("keep"), *s;
    cache_store_put(f->store, "secrets", "n", "k", obj, CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    cache_store_put(f->store, "packagerevisions.porch.kpt.dev", "n", "r.p.w", obj,
                    CACHE_PUT_CREATE, NULL, &s);
    json_decref(s);
    cache_store_close(f->store);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -f %s %s-wal %s-shm", f->path, f->path, f->path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cache_store_open(f->path, &f->store), 0);
    json_t *got;
    assert_int_equal(cache_store_get(f->store, "secrets", "n", "k", &got), 0);
    json_decref(got);
    assert_int_equal(cache_store_get(f->store, "packagerevisions.porch.kpt.dev", "n", "r.p.w", &got), -1);
    assert_int_equal(porch_error_last()->code, 404);
    /* resourceVersions keep growing past what config.db holds */
    cache_store_put(f->store, "secrets", "n", "k2", obj, CACHE_PUT_CREATE, NULL, &s);
    assert_string_equal(meta(s, "resourceVersion"), "2");
    json_decref(s);
    json_decref(obj);
}

static json_t *revision(const char *repo, const char *pkg)
{
    return json_pack("{s:s, s:s, s:{}, s:{s:s, s:s}}", "apiVersion", "porch.kpt.dev/v1alpha1",
                     "kind", "PackageRevision", "metadata", "spec", "repository", repo,
                     "packageName", pkg);
}

/* A batch is one transaction, but each write in it stays all-or-nothing:
 * a refused create leaves the others in, and every write has its event. */
static void batch_keeps_each_write_atomic(void **state)
{
    fixture *f = *state;
    json_t *out = NULL, *obj;
    const char *kind = "packagerevisions.porch.kpt.dev";
    obj = revision("r", "a");
    assert_int_equal(cache_store_put(f->store, kind, "ns", "r.a.w", obj, CACHE_PUT_CREATE, NULL,
                                     &out), 0);
    json_decref(out);
    json_decref(obj);
    cache_store_batch_begin(f->store);
    obj = revision("r", "b");
    assert_int_equal(cache_store_put(f->store, kind, "ns", "r.b.w", obj, CACHE_PUT_CREATE, NULL,
                                     &out), 0);
    json_decref(out);
    json_decref(obj);
    obj = revision("r", "other");
    assert_int_equal(cache_store_put(f->store, kind, "ns", "r.a.w", obj, CACHE_PUT_CREATE, NULL,
                                     &out), -1);
    assert_int_equal(porch_error_last()->code, 409);
    json_decref(obj);
    obj = revision("r", "c");
    assert_int_equal(cache_store_put(f->store, kind, "ns", "r.c.w", obj, CACHE_PUT_CREATE, NULL,
                                     &out), 0);
    json_decref(out);
    json_decref(obj);
    assert_int_equal(cache_store_batch_end(f->store), 0);
    /* one package's objects, by the owner index, in name order */
    json_t *items = NULL;
    assert_int_equal(cache_store_list_owned(f->store, kind, "ns", "r", "a", &items), 0);
    assert_int_equal(json_array_size(items), 1);
    json_t *spec = json_object_get(json_array_get(items, 0), "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "packageName")), "a");
    json_decref(items);
    assert_int_equal(cache_store_list_owned(f->store, kind, "ns", "r", NULL, &items), 0);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(meta(json_array_get(items, 2), "name"), "r.c.w");
    json_decref(items);
    /* three ADDED events, nothing for the refused write; they survive a reopen */
    cache_store_close(f->store);
    assert_int_equal(cache_store_open(f->path, &f->store), 0);
    json_t *events = NULL;
    int64_t rv = 0;
    assert_int_equal(cache_store_events(f->store, NULL, 0, 100, 0, &events, &rv), 0);
    assert_int_equal(json_array_size(events), 3);
    assert_int_equal(rv, 3);
    json_decref(events);
}

/* Revisions made from another one are found by index (§3.9's delete check);
 * a cache.db of schema 4 (no upstream column) is upgraded and filled in. */
static void upstream_references_are_indexed_and_upgraded(void **state)
{
    fixture *f = *state;
    cache_store_close(f->store);
    f->store = NULL;
    unlink(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    const char *old =
        "CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
        " rv INTEGER NOT NULL, body TEXT NOT NULL, owner TEXT NOT NULL DEFAULT '',"
        " grp TEXT NOT NULL DEFAULT '', PRIMARY KEY (kind, namespace, name));"
        "INSERT INTO objects VALUES ('packagerevisions.porch.kpt.dev', 'ns', 'r.copy.w', 1,"
        " '{\"metadata\":{\"name\":\"r.copy.w\"},\"spec\":{\"tasks\":[{\"type\":\"clone\","
        "\"clone\":{\"upstreamRef\":{\"upstreamRef\":{\"name\":\"r.app.v1\"}}}}]}}', 'r', 'copy');";
    assert_int_equal(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cache_store_open(f->path, &f->store), 0);
    const char *kind = "packagerevisions.porch.kpt.dev";
    json_t *items = NULL;
    assert_int_equal(cache_store_list_referencing(f->store, kind, "ns", "r.app.v1", &items), 0);
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(meta(json_array_get(items, 0), "name"), "r.copy.w");
    json_decref(items);
    /* a new upgrade to it is found too; other names are not */
    json_t *obj = json_pack("{s:{s:s, s:s, s:[{s:s, s:{s:{s:s}}}]}}", "spec", "repository", "r",
                            "packageName", "up", "tasks", "type", "upgrade", "upgrade",
                            "newUpstreamRef", "name", "r.app.v1"), *out = NULL;
    assert_int_equal(cache_store_put(f->store, kind, "ns", "r.up.w", obj, CACHE_PUT_CREATE, NULL,
                                     &out), 0);
    json_decref(out);
    json_decref(obj);
    assert_int_equal(cache_store_list_referencing(f->store, kind, "ns", "r.app.v1", &items), 0);
    assert_int_equal(json_array_size(items), 2);
    json_decref(items);
    assert_int_equal(cache_store_list_referencing(f->store, kind, "ns", "r.app", &items), 0);
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_sets_server_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(update_checks_resource_version, setup, teardown),
        cmocka_unit_test_setup_teardown(generation_follows_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(list_pages_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_honours_preconditions, setup, teardown),
        cmocka_unit_test_setup_teardown(events_follow_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(long_poll_wakes_on_write, setup, teardown),
        cmocka_unit_test_setup_teardown(pruned_history_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(data_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(users_objects_survive_the_loss_of_cache_db, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_keeps_each_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(upstream_references_are_indexed_and_upgraded, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
