/* The exec evaluator's process sandbox: runs one function executable with a
 * ResourceList on stdin and collects stdout/stderr, under a deadline, rlimits
 * (CPU, memory, file size, processes), a scrubbed environment and output caps.
 * The whole process group dies on timeout or overflow. Knows nothing of YAML. */
#ifndef PORCH_FN_EXEC_H
#define PORCH_FN_EXEC_H

#include <stddef.h>
#include <sys/types.h>

/* Unprivileged uids for functions run by root: FN_EXEC_UID_BASE .. + FN_EXEC_UID_SLOTS - 1. */
#define FN_EXEC_UID_BASE 100000u
#define FN_EXEC_UID_SLOTS 4096u

typedef struct fn_exec_limits {
    int timeout_ms;            /* wall-clock deadline; 0 = none */
    size_t max_stdout;         /* bytes; over it the group is killed; 0 = unlimited */
    size_t max_stderr;         /* bytes kept (the rest is dropped, not fatal); 0 = 1 MiB */
    unsigned long max_memory;  /* RLIMIT_AS bytes; 0 = unlimited */
    unsigned long max_file_size; /* RLIMIT_FSIZE bytes; 0 = unlimited */
    unsigned long max_processes; /* RLIMIT_NPROC; 0 = unlimited (root is exempt unless dropped) */
    unsigned long max_cpu_seconds; /* RLIMIT_CPU; 0 = unlimited */
    int drop_to_nobody;        /* when running as root, run the function unprivileged: a uid of
                                  its own (FN_EXEC_UID_BASE + a slot per call, nobody's group),
                                  so concurrent functions never share RLIMIT_NPROC */
} fn_exec_limits;

/* Limits for the function-runner service: 30 s, 64 MiB out, 1 GiB memory,
 * 64 MiB files, 64 processes, an unprivileged uid of its own when root. */
void fn_exec_limits_service(fn_exec_limits *limits);

typedef struct fn_exec_spec {
    const char *path;          /* executable (absolute, or relative to cwd) */
    char *const *args;         /* extra arguments after argv[0], NULL-terminated, or NULL */
    const char *name;          /* what to call the function in errors (image or path) */
    const char *workdir;       /* child's cwd, or NULL to inherit */
    int inherit_env;           /* 1: the caller's environment (kpt CLI parity); 0: scrubbed */
    const char *const *env;    /* extra "KEY=VALUE" entries, NULL-terminated, or NULL */
} fn_exec_spec;

typedef struct fn_exec_result {
    int exit_code;             /* exit status, or 128 + signal number */
    int timed_out;             /* killed at the deadline */
    int stdout_overflow;       /* killed for writing more than max_stdout */
    char *out;                 /* stdout (malloc'd, NUL-terminated) */
    size_t out_len;
    char *err;                 /* stderr, possibly truncated (malloc'd, NUL-terminated) */
    size_t err_len;
} fn_exec_result;

/* Runs the function. Returns 0 when it ran (whatever its exit code: look at
 * `res`), or -1 when it could not be started (not found, not executable...)
 * with porch_error_last() naming the function. Free `res` either way. */
int fn_exec_run(const fn_exec_spec *spec, const fn_exec_limits *limits, const char *input,
                size_t input_len, fn_exec_result *res);

/* Turns a finished run into an error when it did not succeed: timeout (504),
 * overflow, non-zero exit (with the end of stderr) — naming the function.
 * Returns 0 when the run succeeded. */
int fn_exec_check(const fn_exec_spec *spec, const fn_exec_limits *limits,
                  const fn_exec_result *res);

void fn_exec_result_free(fn_exec_result *res);

#endif
