/* Runs function executables in a small sandbox (see exec.h). fork + exec so
 * the child can set its own process group, rlimits and identity before it
 * runs anything; the parent multiplexes stdin/stdout/stderr with poll() so a
 * function that neither reads nor writes cannot deadlock us. */
#include "fn/exec.h"
#include "error/error.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define FN_EXEC_DEFAULT_STDERR (1u << 20)
#define FN_EXEC_EXIT_GRACE_MS 200

typedef struct growbuf {
    char *data;
    size_t len, cap, limit;
    int overflow;
} growbuf;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fn_exec_limits_service(fn_exec_limits *limits)
{
    memset(limits, 0, sizeof *limits);
    limits->timeout_ms = 30000;
    limits->max_stdout = 64u << 20;
    limits->max_stderr = FN_EXEC_DEFAULT_STDERR;
    limits->max_memory = 1ul << 30;
    limits->max_file_size = 64ul << 20;
    limits->max_processes = 64;
    limits->max_cpu_seconds = 31;
    limits->drop_to_nobody = 1;
}

/* Appends up to the limit; returns 1 when more arrived than the limit allows. */
static int growbuf_append(growbuf *b, const char *data, size_t n)
{
    if (b->limit && b->len + n > b->limit) {
        n = b->limit > b->len ? b->limit - b->len : 0;
        b->overflow = 1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return b->overflow = 1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return b->overflow;
}

static void set_limit(int resource, unsigned long value)
{
    if (value == 0)
        return;
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    setrlimit(resource, &rl);
}

/* Builds the child's environment: inherited, or a minimal scrubbed one. */
static char **build_env(const fn_exec_spec *spec)
{
    static const char *const scrubbed[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
        "HOME=/tmp", NULL};
    size_t n_base = 0, n_extra = 0;
    char *const *base = spec->inherit_env ? environ : (char *const *)scrubbed;
    while (base[n_base])
        n_base++;
    while (spec->env && spec->env[n_extra])
        n_extra++;
    char **env = calloc(n_base + n_extra + 1, sizeof *env);
    if (!env)
        return NULL;
    memcpy(env, base, n_base * sizeof *env);
    for (size_t i = 0; i < n_extra; i++)
        env[n_base + i] = (char *)spec->env[i];
    return env;
}

/* Who the child becomes: decided in the parent, because getpwnam() after
 * fork() in a threaded process may deadlock on a lock held by another thread. */
typedef struct run_as {
    int drop;
    uid_t uid;
    gid_t gid;
} run_as;

static run_as pick_user(const fn_exec_limits *limits)
{
    static _Atomic unsigned next_slot;
    static _Atomic int seeded;
    run_as who = {0};
    if (!limits->drop_to_nobody || geteuid() != 0)
        return who;
    /* Each process starts at its own place in the range: two runners (or test
     * processes) on one host counting from the same slot handed out the same
     * uids, and a fork bomb in one then starved the other's function. */
    int expect = 0;
    if (atomic_compare_exchange_strong(&seeded, &expect, 1)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        atomic_fetch_add(&next_slot, ((unsigned)getpid() * 2654435761u) ^ (unsigned)ts.tv_nsec);
    }
    struct passwd pwbuf, *pw = NULL;
    char buf[1024];
    who.drop = 1;
    who.gid = getpwnam_r("nobody", &pwbuf, buf, sizeof buf, &pw) == 0 && pw ? pw->pw_gid : 65534;
    who.uid = (uid_t)(FN_EXEC_UID_BASE + next_slot++ % FN_EXEC_UID_SLOTS);
    return who;
}

/* In the child: never returns. Reports an exec failure's errno on `report_fd`. */
static void run_child(const fn_exec_spec *spec, const fn_exec_limits *limits, const run_as *who,
                      char **argv, char **env, int pipes[3][2], int report_fd)
{
    setpgid(0, 0);
    dup2(pipes[0][0], 0);
    dup2(pipes[1][1], 1);
    dup2(pipes[2][1], 2);
    signal(SIGPIPE, SIG_DFL);
    if (spec->workdir && chdir(spec->workdir) != 0)
        goto fail;
    set_limit(RLIMIT_AS, limits->max_memory);
    set_limit(RLIMIT_FSIZE, limits->max_file_size);
    set_limit(RLIMIT_NPROC, limits->max_processes);
    set_limit(RLIMIT_CPU, limits->max_cpu_seconds);
    set_limit(RLIMIT_CORE, 1); /* no core dumps; 0 would be ignored as "unlimited" above */
    if (who->drop && (setgroups(0, NULL) != 0 || setgid(who->gid) != 0 || setuid(who->uid) != 0))
        goto fail;
    execve(spec->path, argv, env);
fail:;
    int err = errno;
    ssize_t w = write(report_fd, &err, sizeof err);
    (void)w;
    _exit(127);
}

static void close_pipes(int pipes[3][2])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (pipes[i][j] >= 0) {
                close(pipes[i][j]);
                pipes[i][j] = -1;
            }
}

/* Pumps stdin/stdout/stderr until both outputs close, the deadline passes or
 * stdout overflows. Returns 1 on timeout. */
static int pump(pid_t pid, const fn_exec_limits *limits, const char *input, size_t input_len,
                int in_fd, int out_fd, int err_fd, growbuf *out, growbuf *err, int *status,
                int *reaped)
{
    int64_t deadline = limits->timeout_ms > 0 ? now_ms() + limits->timeout_ms : 0;
    int64_t exited_at = 0;
    size_t written = 0;
    int timed_out = 0;
    char buf[65536];
    if (input_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    while (out_fd >= 0 || err_fd >= 0) {
        struct pollfd pfd[3];
        int n = 0;
        if (in_fd >= 0)
            pfd[n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
        if (out_fd >= 0)
            pfd[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
        if (err_fd >= 0)
            pfd[n++] = (struct pollfd){.fd = err_fd, .events = POLLIN};
        int64_t now = now_ms();
        if (deadline && now >= deadline) {
            timed_out = 1;
            break;
        }
        if (!*reaped && waitpid(pid, status, WNOHANG) == pid) {
            *reaped = 1;
            exited_at = now;
        }
        /* A grandchild may hold the pipes open after the function exited. */
        if (exited_at && now - exited_at > FN_EXEC_EXIT_GRACE_MS)
            break;
        int wait = deadline ? (int)(deadline - now) : 100;
        poll(pfd, (nfds_t)n, wait < 100 ? wait : 100);
        for (int i = 0; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            if (pfd[i].fd == in_fd) {
                ssize_t w = write(in_fd, input + written, input_len - written);
                if (w > 0)
                    written += (size_t)w;
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    written = input_len; /* the function closed stdin: stop feeding it */
                if (written >= input_len) {
                    close(in_fd);
                    in_fd = -1;
                }
                continue;
            }
            ssize_t r = read(pfd[i].fd, buf, sizeof buf);
            if (r > 0) {
                growbuf *b = pfd[i].fd == out_fd ? out : err;
                growbuf_append(b, buf, (size_t)r);
                if (b == out && out->overflow)
                    goto done;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(pfd[i].fd);
                if (pfd[i].fd == out_fd)
                    out_fd = -1;
                else
                    err_fd = -1;
            }
        }
    }
done:
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return timed_out;
}

int fn_exec_run(const fn_exec_spec *spec, const fn_exec_limits *limits, const char *input,
                size_t input_len, fn_exec_result *res)
{
    static const fn_exec_limits no_limits = {0};
    memset(res, 0, sizeof *res);
    if (!limits)
        limits = &no_limits;
    const char *name = spec->name ? spec->name : spec->path;
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int report[2] = {-1, -1};
    for (int i = 0; i < 3; i++)
        if (pipe2(pipes[i], O_CLOEXEC) != 0) {
            close_pipes(pipes);
            return porch_error_set(500, "function %s: cannot create pipes: %s", name,
                                   strerror(errno));
        }
    if (pipe2(report, O_CLOEXEC) != 0) {
        close_pipes(pipes);
        return porch_error_set(500, "function %s: cannot create pipes: %s", name, strerror(errno));
    }
    size_t n_args = 0;
    while (spec->args && spec->args[n_args])
        n_args++;
    char **argv = calloc(n_args + 2, sizeof *argv);
    char **env = build_env(spec);
    if (!argv || !env) {
        free(argv);
        free(env);
        close_pipes(pipes);
        close(report[0]);
        close(report[1]);
        return porch_error_set(500, "function %s: out of memory", name);
    }
    argv[0] = (char *)spec->path;
    for (size_t i = 0; i < n_args; i++)
        argv[i + 1] = spec->args[i];

    run_as who = pick_user(limits);
    pid_t pid = fork();
    if (pid == 0)
        run_child(spec, limits, &who, argv, env, pipes, report[1]);
    free(argv);
    free(env);
    close(report[1]);
    if (pid < 0) {
        close_pipes(pipes);
        close(report[0]);
        return porch_error_set(503, "function %s: cannot fork: %s", name, strerror(errno));
    }
    setpgid(pid, pid);
    int child_errno = 0;
    ssize_t got = read(report[0], &child_errno, sizeof child_errno);
    close(report[0]);
    if (got == (ssize_t)sizeof child_errno) {
        waitpid(pid, NULL, 0);
        close_pipes(pipes);
        return porch_error_set(child_errno == ENOENT ? 404 : 500,
                               "function %s: cannot run %s: %s", name, spec->path,
                               strerror(child_errno));
    }
    int in_fd = pipes[0][1], out_fd = pipes[1][0], err_fd = pipes[2][0];
    pipes[0][1] = pipes[1][0] = pipes[2][0] = -1;
    close_pipes(pipes);
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
    fcntl(out_fd, F_SETFL, O_NONBLOCK);
    fcntl(err_fd, F_SETFL, O_NONBLOCK);

    growbuf out = {.limit = limits->max_stdout};
    growbuf err = {.limit = limits->max_stderr ? limits->max_stderr : FN_EXEC_DEFAULT_STDERR};
    int status = 0, reaped = 0;
    res->timed_out = pump(pid, limits, input, input_len, in_fd, out_fd, err_fd, &out, &err,
                          &status, &reaped);
    res->stdout_overflow = out.overflow;
    /* Its outputs closed: let the function finish exiting before the group
     * is killed, or a clean exit would read as a SIGKILL (137). */
    if (!reaped && !res->timed_out && !out.overflow) {
        int64_t until = now_ms() + FN_EXEC_EXIT_GRACE_MS;
        while (!reaped && now_ms() < until) {
            if (waitpid(pid, &status, WNOHANG) == pid)
                reaped = 1;
            else
                usleep(1000);
        }
    }
    /* Whatever happened, nothing of the function outlives the call. */
    kill(-pid, SIGKILL);
    if (!reaped)
        waitpid(pid, &status, 0);
    res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                       : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1);
    res->out = out.data ? out.data : calloc(1, 1);
    res->out_len = out.len;
    res->err = err.data ? err.data : calloc(1, 1);
    res->err_len = err.len;
    return 0;
}

int fn_exec_check(const fn_exec_spec *spec, const fn_exec_limits *limits,
                  const fn_exec_result *res)
{
    const char *name = spec->name ? spec->name : spec->path;
    if (res->timed_out)
        return porch_error_set(504, "function %s timed out after %d ms and was killed", name,
                               limits ? limits->timeout_ms : 0);
    if (res->stdout_overflow)
        return porch_error_set(413, "function %s wrote more than %zu bytes of output and was "
                                    "killed", name, limits ? limits->max_stdout : 0);
    if (res->exit_code != 0) {
        /* The end of stderr says most; keep the message bounded. */
        const char *tail = res->err;
        size_t len = res->err_len;
        while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' '))
            len--;
        if (len > 1024) {
            tail += len - 1024;
            len = 1024;
        }
        return porch_error_set(500, "function %s failed with exit code %d%s%.*s", name,
                               res->exit_code, len ? ": " : "", (int)len, tail);
    }
    return 0;
}

void fn_exec_result_free(fn_exec_result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}
