/* End-to-end tests of the bus over real ipc sockets: results and errors
 * travel intact, ops are routed by verb with or without the service prefix,
 * concurrent callers get their own replies, deadlines give 504, and a missing
 * or dying peer gives a prompt 503 instead of a hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "error/error.h"
#include "log/log.h"

#include <nng/nng.h>

extern char **environ;

typedef struct fixture {
    char dir[64];
    char url[128];
    bus_server *srv;
    bus_client *client;
} fixture;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int handle_echo(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    *result = json_pack("{s:O, s:s}", "args", req->args, "id", req->id);
    if (req->caller)
        json_object_set(*result, "caller", req->caller);
    return 0;
}

static int handle_conflict(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    *details = json_pack("{s:s, s:s}", "name", "p1", "kind", "PackageRevision");
    return porch_error_set_reason(409, "AlreadyExists", "packagerevision p1 already exists");
}

static int handle_slow(const bus_request *req, json_t **result, json_t **details, void *ud)
{
    usleep(400 * 1000);
    *result = json_object();
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/porch-bus-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "ipc://%s/t.sock", f->dir);
    bus_server_opts opts = {.service = "test", .listen_url = f->url, .workers = 4};
    assert_int_equal(bus_server_new(&opts, &f->srv), 0);
    bus_server_register(f->srv, "echo", handle_echo, NULL);
    bus_server_register(f->srv, "conflict", handle_conflict, NULL);
    bus_server_register(f->srv, "slow", handle_slow, NULL);
    assert_int_equal(bus_server_start(f->srv), 0);
    const char *urls[] = {f->url};
    bus_client_opts copts = {.peer = "test"};
    assert_int_equal(bus_client_new(urls, 1, &copts, &f->client), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bus_client_free(f->client);
    bus_server_stop(f->srv, 1000);
    bus_server_free(f->srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void result_and_caller_travel(void **state)
{
    fixture *f = *state;
    json_t *args = json_pack("{s:s, s:i}", "name", "p1", "n", 7);
    json_t *caller = json_pack("{s:s, s:[s]}", "user", "alice", "groups", "dev");
    bus_call_opts opts = {.rid = "rid-42", .caller = caller};
    json_t *result = NULL;
    assert_int_equal(bus_client_call(f->client, "echo", args, &opts, &result, NULL), 0);
    assert_true(json_equal(json_object_get(result, "args"), args));
    assert_true(json_equal(json_object_get(result, "caller"), caller));
    assert_string_equal(json_string_value(json_object_get(result, "id")), "rid-42");
    json_decref(result);
    json_decref(args);
    json_decref(caller);
}

static void service_prefix_routes_to_same_verb(void **state)
{
    fixture *f = *state;
    json_t *result = NULL;
    assert_int_equal(bus_client_call(f->client, "test.echo", NULL, NULL, &result, NULL), 0);
    json_decref(result);
    assert_int_equal(bus_client_call(f->client, "engine.echo", NULL, NULL, &result, NULL), -1);
    assert_int_equal(porch_error_last()->code, 404);
    assert_non_null(strstr(porch_error_last()->message, "engine.echo"));
    assert_int_equal(bus_client_call(f->client, "nosuch", NULL, NULL, &result, NULL), -1);
    assert_int_equal(porch_error_last()->code, 404);
}

static void errors_keep_code_reason_details(void **state)
{
    fixture *f = *state;
    json_t *result = NULL, *details = NULL;
    assert_int_equal(bus_client_call(f->client, "conflict", NULL, NULL, &result, &details), -1);
    assert_null(result);
    assert_int_equal(porch_error_last()->code, 409);
    assert_string_equal(porch_error_last()->reason, "AlreadyExists");
    assert_string_equal(porch_error_last()->message, "packagerevision p1 already exists");
    assert_string_equal(json_string_value(json_object_get(details, "name")), "p1");
    json_decref(details);
}

static void missed_deadline_is_504(void **state)
{
    fixture *f = *state;
    json_t *result = NULL;
    bus_call_opts opts = {.deadline_ms = 100};
    double t0 = now_ms();
    assert_int_equal(bus_client_call(f->client, "slow", NULL, &opts, &result, NULL), -1);
    assert_int_equal(porch_error_last()->code, 504);
    assert_true(now_ms() - t0 < 350);
    /* the server is still healthy afterwards */
    assert_int_equal(bus_client_call(f->client, "echo", NULL, NULL, &result, NULL), 0);
    json_decref(result);
}

typedef struct caller_thread {
    bus_client *client;
    int index;
    int mismatches;
} caller_thread;

static void *call_many(void *arg)
{
    caller_thread *ct = arg;
    for (int i = 0; i < 50; i++) {
        json_t *args = json_pack("{s:i, s:i}", "thread", ct->index, "i", i);
        json_t *result = NULL;
        if (bus_client_call(ct->client, "echo", args, NULL, &result, NULL) != 0 ||
            !json_equal(json_object_get(result, "args"), args))
            ct->mismatches++;
        json_decref(result);
        json_decref(args);
    }
    return NULL;
}

static void concurrent_callers_get_their_own_replies(void **state)
{
    fixture *f = *state;
    pthread_t t[8];
    caller_thread ct[8];
    for (int i = 0; i < 8; i++) {
        ct[i] = (caller_thread){f->client, i, 0};
        pthread_create(&t[i], NULL, call_many, &ct[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(ct[i].mismatches, 0);
    }
}

/* Starts nngcat as a rep0 listener on url (another process, as a second porch
 * service would be); the caller kills and reaps it. */
static pid_t spawn_nngcat_listener(const char *url)
{
    char *argv[] = {"nngcat", "--rep0", "--listen", (char *)url, NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int spawned = posix_spawnp(&pid, "nngcat", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0)
        fail_msg("cannot start nngcat (Debian package nng-utils)");
    usleep(200 * 1000);
    return pid;
}

/* The socket is held by another process. (Held by this process, NNG's probe of
 * the socket lands on our own listener, and a close racing that probe's
 * negotiation leaves NNG-internal pipes unreaped at exit.) */
static void second_listener_on_same_socket_is_refused(void **state)
{
    fixture *f = *state;
    char url[160];
    snprintf(url, sizeof url, "ipc://%s/taken.sock", f->dir);
    pid_t pid = spawn_nngcat_listener(url);
    bus_server *dup;
    bus_server_opts opts = {.service = "test", .listen_url = url};
    assert_int_equal(bus_server_new(&opts, &dup), 0);
    int started = bus_server_start(dup);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(started, -1);
    assert_int_equal(porch_error_last()->code, 409);
    assert_non_null(strstr(porch_error_last()->message, "already in use"));
    bus_server_free(dup);
}

static void absent_peer_is_prompt_503(void **state)
{
    fixture *f = *state;
    char url[160];
    snprintf(url, sizeof url, "ipc://%s/nobody.sock", f->dir);
    const char *urls[] = {url};
    bus_client_opts copts = {.peer = "engine"};
    bus_client *client;
    assert_int_equal(bus_client_new(urls, 1, &copts, &client), 0);
    json_t *result = NULL;
    double t0 = now_ms();
    assert_int_equal(bus_client_call(client, "health", NULL, NULL, &result, NULL), -1);
    assert_true(now_ms() - t0 < 1000);
    assert_int_equal(porch_error_last()->code, 503);
    assert_non_null(strstr(porch_error_last()->message, "porch-engine is unavailable"));
    bus_client_free(client);
}

typedef struct killer {
    pid_t pid;
    int after_ms;
} killer;

static void *kill_later(void *arg)
{
    killer *k = arg;
    usleep((useconds_t)k->after_ms * 1000);
    kill(k->pid, SIGKILL);
    return NULL;
}

/* A peer that takes the request and dies before replying (nngcat as a rep0
 * that never answers, then killed) must give 503, well before the deadline. */
static void peer_dying_mid_call_is_503(void **state)
{
    fixture *f = *state;
    char url[160];
    snprintf(url, sizeof url, "ipc://%s/dying.sock", f->dir);
    pid_t pid = spawn_nngcat_listener(url);
    const char *urls[] = {url};
    bus_client_opts copts = {.peer = "cache"};
    bus_client *client;
    assert_int_equal(bus_client_new(urls, 1, &copts, &client), 0);
    killer k = {pid, 300};
    pthread_t t;
    pthread_create(&t, NULL, kill_later, &k);
    json_t *result = NULL;
    bus_call_opts opts = {.deadline_ms = 10000};
    double t0 = now_ms();
    assert_int_equal(bus_client_call(client, "health", NULL, &opts, &result, NULL), -1);
    double elapsed = now_ms() - t0;
    pthread_join(t, NULL);
    waitpid(pid, NULL, 0);
    assert_int_equal(porch_error_last()->code, 503);
    assert_non_null(strstr(porch_error_last()->message, "went away"));
    assert_true(elapsed < 3000);
    bus_client_free(client);
}

int main(void)
{
    log_setup("test", LOG_ERROR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(result_and_caller_travel, setup, teardown),
        cmocka_unit_test_setup_teardown(service_prefix_routes_to_same_verb, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_keep_code_reason_details, setup, teardown),
        cmocka_unit_test_setup_teardown(missed_deadline_is_504, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_callers_get_their_own_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(second_listener_on_same_socket_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(absent_peer_is_prompt_503, setup, teardown),
        cmocka_unit_test_setup_teardown(peer_dying_mid_call_is_503, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nng_fini(); /* let NNG reap its closed sockets so LeakSanitizer sees only our leaks */
    return rc;
}
