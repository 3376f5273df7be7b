/* Tests of the exec sandbox with real processes: data flows both ways without
 * deadlock, failures and hostile functions (sleeping, fork-bombing, flooding
 * stdout, leaving children behind) end within their limits with clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error/error.h"
#include "fn/exec.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int run_sh(const char *script, const fn_exec_limits *limits, const char *input,
                  fn_exec_result *res)
{
    char *args[] = {"-c", (char *)script, NULL};
    fn_exec_spec spec = {.path = "/bin/sh", .args = args, .name = "test-fn"};
    return fn_exec_run(&spec, limits, input, input ? strlen(input) : 0, res);
}

static void large_input_round_trips_without_deadlock(void **state)
{
    size_t n = 5u << 20;
    char *input = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        input[i] = (char)('a' + i % 26);
    input[n] = '\0';
    fn_exec_result res;
    fn_exec_limits limits = {.timeout_ms = 10000};
    assert_int_equal(run_sh("cat", &limits, input, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out_len, n);
    assert_memory_equal(res.out, input, n);
    fn_exec_result_free(&res);
    free(input);
}

static void failure_reports_exit_code_and_stderr(void **state)
{
    fn_exec_result res;
    fn_exec_spec spec = {.path = "/bin/sh", .name = "gcr.io/kpt-fn/broken:v1"};
    char *args[] = {"-c", "echo 'set-labels: bad config' >&2; exit 3", NULL};
    spec.args = args;
    assert_int_equal(fn_exec_run(&spec, NULL, NULL, 0, &res), 0);
    assert_int_equal(res.exit_code, 3);
    assert_int_equal(fn_exec_check(&spec, NULL, &res), -1);
    assert_string_equal(porch_error_last()->message,
                        "function gcr.io/kpt-fn/broken:v1 failed with exit code 3: "
                        "set-labels: bad config");
    fn_exec_result_free(&res);
}

static void missing_executable_is_404(void **state)
{
    fn_exec_result res;
    fn_exec_spec spec = {.path = "/nonexistent/fn", .name = "exec:/nonexistent/fn"};
    assert_int_equal(fn_exec_run(&spec, NULL, "x", 1, &res), -1);
    assert_int_equal(porch_error_last()->code, 404);
    assert_non_null(strstr(porch_error_last()->message, "No such file"));
    fn_exec_result_free(&res);
}

static void sleeper_is_killed_at_deadline(void **state)
{
    fn_exec_result res;
    fn_exec_limits limits = {.timeout_ms = 300};
    double t0 = now_ms();
    assert_int_equal(run_sh("sleep 1000", &limits, "input", &res), 0);
    double elapsed = now_ms() - t0;
    assert_true(res.timed_out);
    assert_true(elapsed >= 290 && elapsed < 10000); /* killed, not left to sleep 1000 s */
    fn_exec_spec spec = {.path = "/bin/sh", .name = "sleepy"};
    assert_int_equal(fn_exec_check(&spec, &limits, &res), -1);
    assert_int_equal(porch_error_last()->code, 504);
    assert_non_null(strstr(porch_error_last()->message, "timed out after 300 ms"));
    fn_exec_result_free(&res);
}

static void flood_is_capped(void **state)
{
    fn_exec_result res;
    fn_exec_limits limits = {.timeout_ms = 10000, .max_stdout = 1u << 20};
    double t0 = now_ms();
    assert_int_equal(run_sh("head -c 1073741824 /dev/zero", &limits, NULL, &res), 0);
    assert_true(res.stdout_overflow);
    assert_true(res.out_len <= (1u << 20));
    assert_true(now_ms() - t0 < 20000);
    fn_exec_spec spec = {.path = "/bin/sh", .name = "flood"};
    assert_int_equal(fn_exec_check(&spec, &limits, &res), -1);
    assert_int_equal(porch_error_last()->code, 413);
    fn_exec_result_free(&res);
}

static void fork_bomb_is_contained(void **state)
{
    fn_exec_result res;
    fn_exec_limits limits;
    fn_exec_limits_service(&limits);
    limits.timeout_ms = 1000;
    limits.max_processes = 32;
    double t0 = now_ms();
    assert_int_equal(run_sh("b() { b | b & }; b; sleep 100", &limits, NULL, &res), 0);
    assert_true(now_ms() - t0 < 20000);
    assert_true(res.timed_out || res.exit_code != 0);
    fn_exec_result_free(&res);
}

static void *bomb_thread(void *arg)
{
    fn_exec_result *res = arg;
    fn_exec_limits limits;
    fn_exec_limits_service(&limits);
    limits.timeout_ms = 2500;
    limits.max_processes = 32;
    run_sh("b() { b | b & }; b; sleep 100", &limits, NULL, res);
    return NULL;
}

/* Regression: every function ran as nobody, so a fork bomb used up the
 * process limit of the functions running beside it ("Cannot fork"). Each
 * call now has a uid of its own (only when root: skipped otherwise). */
static void a_fork_bomb_does_not_starve_a_concurrent_function(void **state)
{
    if (geteuid() != 0)
        skip();
    fn_exec_result bomb, res;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bomb_thread, &bomb), 0);
    usleep(700 * 1000);
    fn_exec_limits limits;
    fn_exec_limits_service(&limits);
    limits.timeout_ms = 5000;
    limits.max_processes = 32;
    assert_int_equal(run_sh("echo one | cat; echo two | cat", &limits, NULL, &res), 0);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out, "one\ntwo\n");
    fn_exec_result_free(&res);
    pthread_join(t, NULL);
    fn_exec_result_free(&bomb);
}

/* Regression: every process counted its uids from the same slot, so a fork
 * bomb in one runner starved the first function of another runner on the same
 * host (ctest -j2 hit it between two test processes). */
/* One function in a fresh process: exit status 0 when it ran fine. */
static int echo_check(void)
{
    fn_exec_result res;
    fn_exec_limits limits;
    fn_exec_limits_service(&limits);
    limits.timeout_ms = 5000;
    limits.max_processes = 32;
    int ok = run_sh("echo one | cat; echo two | cat", &limits, NULL, &res) == 0 &&
             res.exit_code == 0 && res.out && strcmp(res.out, "one\ntwo\n") == 0;
    if (!ok)
        fprintf(stderr, "echo check: exit %d, out \"%s\", err \"%s\"\n", res.exit_code,
                res.out ? res.out : "", res.err ? res.err : "");
    fn_exec_result_free(&res);
    return ok ? 0 : 1;
}

static pid_t spawn_self(const char *mode)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_fn_exec", mode, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Regression: every process counted its uids from the same slot, so a fork
 * bomb in one runner starved the first function of another runner on the same
 * host (ctest -j2 hit it between two test processes). Two fresh processes, as
 * two runners would be. */
static void a_fork_bomb_in_another_process_does_not_starve_ours(void **state)
{
    if (geteuid() != 0)
        skip();
    pid_t bomber = spawn_self("--fork-bomb");
    assert_true(bomber > 0);
    usleep(700 * 1000);
    pid_t checker = spawn_self("--echo-check");
    assert_true(checker > 0);
    int status = -1, bomb_status = -1;
    waitpid(checker, &status, 0);
    waitpid(bomber, &bomb_status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void leftover_children_do_not_hold_the_call(void **state)
{
    fn_exec_result res;
    fn_exec_limits limits = {.timeout_ms = 10000};
    double t0 = now_ms();
    assert_int_equal(run_sh("sleep 100 & echo done", &limits, NULL, &res), 0);
    assert_true(now_ms() - t0 < 20000); /* not the 100 s the child sleeps */
    assert_false(res.timed_out);
    assert_string_equal(res.out, "done\n");
    fn_exec_result_free(&res);
}

static void environment_is_scrubbed_unless_inherited(void **state)
{
    setenv("PORCH_TEST_SECRET", "hunter2", 1);
    fn_exec_result res;
    char *args[] = {"-c", "env", NULL};
    const char *extra[] = {"FN_EXTRA=1", NULL};
    fn_exec_spec spec = {.path = "/bin/sh", .args = args, .env = extra};
    assert_int_equal(fn_exec_run(&spec, NULL, NULL, 0, &res), 0);
    assert_null(strstr(res.out, "hunter2"));
    assert_non_null(strstr(res.out, "PATH="));
    assert_non_null(strstr(res.out, "FN_EXTRA=1"));
    fn_exec_result_free(&res);
    spec.inherit_env = 1;
    assert_int_equal(fn_exec_run(&spec, NULL, NULL, 0, &res), 0);
    assert_non_null(strstr(res.out, "PORCH_TEST_SECRET=hunter2"));
    fn_exec_result_free(&res);
}

static void function_ignoring_stdin_still_completes(void **state)
{
    size_t n = 4u << 20;
    char *input = calloc(1, n + 1);
    memset(input, 'x', n);
    fn_exec_result res;
    fn_exec_limits limits = {.timeout_ms = 5000};
    assert_int_equal(run_sh("exec 0<&-; echo ok", &limits, input, &res), 0);
    assert_false(res.timed_out);
    assert_string_equal(res.out, "ok\n");
    fn_exec_result_free(&res);
    free(input);
}

/* Regression: a function that exits as soon as its outputs close used to be
 * killed by the group kill before it was reaped, reading as exit code 137. */
static void clean_exit_right_after_eof_is_not_a_kill(void **state)
{
    for (int i = 0; i < 30; i++) {
        fn_exec_result res;
        assert_int_equal(run_sh("exec cat", NULL, "items: []\n", &res), 0);
        assert_int_equal(res.exit_code, 0);
        fn_exec_result_free(&res);
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "--fork-bomb") == 0) { /* the other processes of a test */
        fn_exec_result bomb;
        bomb_thread(&bomb);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--echo-check") == 0)
        return echo_check();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_input_round_trips_without_deadlock),
        cmocka_unit_test(clean_exit_right_after_eof_is_not_a_kill),
        cmocka_unit_test(failure_reports_exit_code_and_stderr),
        cmocka_unit_test(missing_executable_is_404),
        cmocka_unit_test(sleeper_is_killed_at_deadline),
        cmocka_unit_test(flood_is_capped),
        cmocka_unit_test(fork_bomb_is_contained),
        cmocka_unit_test(a_fork_bomb_does_not_starve_a_concurrent_function),
        cmocka_unit_test(a_fork_bomb_in_another_process_does_not_starve_ours),
        cmocka_unit_test(leftover_children_do_not_hold_the_call),
        cmocka_unit_test(environment_is_scrubbed_unless_inherited),
        cmocka_unit_test(function_ignoring_stdin_still_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
