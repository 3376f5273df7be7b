/* porch-function-runner: evaluates KRM functions (built-in C implementations
 * and sandboxed executables). This foundation serves health and describe; the
 * evaluate op comes with the function-runner work. */
#include "svc/svc.h"

int main(int argc, char **argv)
{
    svc_context ctx;
    int rc = svc_init(&ctx, SVC_FUNCTION_RUNNER, 0, NULL, 0, argc, argv);
    if (rc == 0)
        rc = svc_run(&ctx);
    svc_free(&ctx);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
