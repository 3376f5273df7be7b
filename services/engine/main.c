/* porch-engine: package lifecycle rules and tasks (init, clone, edit,
 * upgrade, render). Stateless; talks to the cache and the function runner.
 * This foundation serves health and describe; the lifecycle ops come later. */
#include "svc/svc.h"

int main(int argc, char **argv)
{
    svc_context ctx;
    int rc = svc_init(&ctx, SVC_ENGINE, SVC_PEER(SVC_CACHE) | SVC_PEER(SVC_FUNCTION_RUNNER), NULL,
                      0, argc, argv);
    if (rc == 0)
        rc = svc_run(&ctx);
    svc_free(&ctx);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
