/* Tests of the service scaffolding: defaults under the data directory, flags
 * beating environment variables, peers' flags, and clear refusals of bad
 * flags (unknown, bad level, bad URL, socket path too long). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svc/svc.h"

static char data_dir[64];

static int init(svc_context *ctx, svc_id id, unsigned peers, int argc, char **argv)
{
    return svc_init(ctx, id, peers, NULL, 0, argc, argv);
}

static void defaults_live_under_data_dir(void **state)
{
    svc_context ctx;
    char *argv[] = {"porch-engine", "--data-dir", data_dir, NULL};
    assert_int_equal(init(&ctx, SVC_ENGINE, SVC_PEER(SVC_CACHE), 3, argv), 0);
    char expect[200];
    snprintf(expect, sizeof expect, "ipc://%s/engine.sock", ctx.data_dir);
    assert_string_equal(ctx.listen_url, expect);
    snprintf(expect, sizeof expect, "ipc://%s/cache.sock", ctx.data_dir);
    assert_string_equal(ctx.peer_urls[SVC_CACHE], expect);
    assert_null(ctx.peer_urls[SVC_GIT_ADAPTER]);
    assert_int_equal(ctx.level, LOG_INFO);
    svc_free(&ctx);
}

static void flag_beats_environment(void **state)
{
    svc_context ctx;
    setenv("PORCH_LOG_LEVEL", "error", 1);
    setenv("PORCH_CACHE_URL", "tcp://127.0.0.1:7001", 1);
    char *argv[] = {"porch-engine", "--data-dir", data_dir, "--log-level=debug", NULL};
    assert_int_equal(init(&ctx, SVC_ENGINE, SVC_PEER(SVC_CACHE), 4, argv), 0);
    assert_int_equal(ctx.level, LOG_DEBUG);
    assert_string_equal(ctx.peer_urls[SVC_CACHE], "tcp://127.0.0.1:7001");
    svc_free(&ctx);
    unsetenv("PORCH_LOG_LEVEL");
    unsetenv("PORCH_CACHE_URL");
}

static void peer_flag_takes_several_urls(void **state)
{
    svc_context ctx;
    char *argv[] = {"porch-cache", "--data-dir", data_dir, "--git-adapter-url",
                    "tcp://127.0.0.1:1,tcp://127.0.0.1:2", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, SVC_PEER(SVC_GIT_ADAPTER), 5, argv), 0);
    assert_string_equal(ctx.peer_urls[SVC_GIT_ADAPTER], "tcp://127.0.0.1:1,tcp://127.0.0.1:2");
    svc_free(&ctx);
}

static void bad_flags_are_refused(void **state)
{
    svc_context ctx;
    char *unknown[] = {"porch-cache", "--data-dir", data_dir, "--bogus", "1", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 5, unknown), -1);
    svc_free(&ctx);
    char *level[] = {"porch-cache", "--data-dir", data_dir, "--log-level", "loud", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 5, level), -1);
    svc_free(&ctx);
    char *url[] = {"porch-cache", "--data-dir", data_dir, "--listen", "http://x", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 5, url), -1);
    svc_free(&ctx);
    char *missing[] = {"porch-cache", "--data-dir", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 2, missing), -1);
    svc_free(&ctx);
    char *peer[] = {"porch-engine", "--data-dir", data_dir, "--cache-url", "nope", NULL};
    assert_int_equal(init(&ctx, SVC_ENGINE, SVC_PEER(SVC_CACHE), 5, peer), -1);
    svc_free(&ctx);
}

static void over_long_socket_path_is_refused(void **state)
{
    svc_context ctx;
    char url[300] = "ipc:///tmp/";
    memset(url + strlen(url), 'x', 150);
    char *argv[] = {"porch-cache", "--data-dir", data_dir, "--listen", url, NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 5, argv), -1);
    svc_free(&ctx);
}

static void help_and_version_return_one(void **state)
{
    svc_context ctx;
    char *argv[] = {"porch-cache", "--version", NULL};
    assert_int_equal(init(&ctx, SVC_CACHE, 0, 2, argv), 1);
    svc_free(&ctx);
}

static void names_round_trip(void **state)
{
    for (int i = 0; i < SVC_COUNT; i++)
        assert_int_equal(svc_lookup(svc_name((svc_id)i)), i);
    assert_int_equal(svc_lookup("kube-apiserver"), -1);
    assert_string_equal(svc_name(SVC_FUNCTION_RUNNER), "function-runner");
}

int main(void)
{
    snprintf(data_dir, sizeof data_dir, "/tmp/porch-svc-test-XXXXXX");
    if (!mkdtemp(data_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_live_under_data_dir),
        cmocka_unit_test(flag_beats_environment),
        cmocka_unit_test(peer_flag_takes_several_urls),
        cmocka_unit_test(bad_flags_are_refused),
        cmocka_unit_test(over_long_socket_path_is_refused),
        cmocka_unit_test(help_and_version_return_one),
        cmocka_unit_test(names_round_trip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", data_dir);
    return rc | (system(cmd) != 0);
}
