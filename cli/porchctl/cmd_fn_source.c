/* `porchctl fn source [DIR] [--fn-config FILE]`: prints the package as a
 * ResourceList with kpt's index/path/seqindent annotations on each item
 * (the package walk of eval and render: subpackages, .krmignore). */
#include "commands.h"

#include "cad/cad.h"
#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int porchctl_cmd_fn_source(int argc, char **argv)
{
    const char *dir = ".", *fn_config = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fn-config") && i + 1 < argc)
            fn_config = argv[++i];
        else if (!strncmp(argv[i], "--fn-config=", 12))
            fn_config = argv[i] + 12;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: porchctl fn source [DIR] [--fn-config FILE]\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "Error: unknown flag: %s\n", argv[i]);
            return 1;
        } else
            dir = argv[i];
    }
    char *out;
    size_t len;
    if (cad_fn_source(dir, fn_config, &out, &len) < 0) {
        fprintf(stderr, "Error: %s\n", porch_error_last()->message);
        return 1;
    }
    fwrite(out, 1, len, stdout);
    free(out);
    return 0;
}
