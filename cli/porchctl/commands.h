/* The command table of porchctl: each command lives in its own cmd_*.c file
 * and is listed in main.c. A command returns the process exit code. */
#ifndef PORCHCTL_COMMANDS_H
#define PORCHCTL_COMMANDS_H

typedef struct porchctl_command {
    const char *group;   /* "fn", "pkg", or NULL for top-level */
    const char *name;    /* "source" */
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} porchctl_command;

int porchctl_cmd_version(int argc, char **argv);
int porchctl_cmd_fn_source(int argc, char **argv);
int porchctl_cmd_fn_sink(int argc, char **argv);
int porchctl_cmd_fn_eval(int argc, char **argv);
int porchctl_cmd_fn_render(int argc, char **argv);
int porchctl_cmd_pkg_init(int argc, char **argv);
int porchctl_cmd_pkg_get(int argc, char **argv);
int porchctl_cmd_pkg_update(int argc, char **argv);
int porchctl_cmd_pkg_diff(int argc, char **argv);

#endif
