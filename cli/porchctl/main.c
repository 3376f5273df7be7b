/* porchctl entry point: finds the command in the table and runs it, printing
 * kpt-style usage for `--help` and for unknown commands. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const porchctl_command commands[] = {
    {NULL, "version", "Print the version of porchctl", porchctl_cmd_version},
    {"fn", "source", "Print a package as a ResourceList", porchctl_cmd_fn_source},
    {"fn", "sink", "Write a ResourceList from stdin to a directory", porchctl_cmd_fn_sink},
    {"fn", "eval", "Execute a function on a package's resources", porchctl_cmd_fn_eval},
    {"fn", "render", "Render a package: run its pipelines, subpackages first", porchctl_cmd_fn_render},
    {"pkg", "init", "Initialize an empty package", porchctl_cmd_pkg_init},
    {"pkg", "get", "Fetch a package from a git repository", porchctl_cmd_pkg_get},
    {"pkg", "update", "Apply upstream package updates", porchctl_cmd_pkg_update},
    {"pkg", "diff", "Show differences between a local package and upstream", porchctl_cmd_pkg_diff},
};

static const size_t n_commands = sizeof commands / sizeof commands[0];

static void print_usage(FILE *out)
{
    fprintf(out, "porchctl: kpt-compatible package tool for Porch in C\n\nUsage:\n"
                 "  porchctl [group] command [flags]\n\nCommands:\n");
    for (size_t i = 0; i < n_commands; i++)
        fprintf(out, "  %-4s %-10s %s\n", commands[i].group ? commands[i].group : "",
                commands[i].name, commands[i].summary);
}

int porchctl_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("%s\n", PORCH_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < n_commands; i++) {
        const porchctl_command *c = &commands[i];
        if (c->group == NULL && strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
        if (c->group && argc >= 3 && strcmp(argv[1], c->group) == 0 &&
            strcmp(argv[2], c->name) == 0)
            return c->run(argc - 2, argv + 2);
    }
    fprintf(stderr, "Error: unknown command \"%s\" for \"porchctl\"\n", argv[1]);
    print_usage(stderr);
    return 1;
}
