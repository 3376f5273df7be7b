/* porch-oci-adapter: packages stored as OCI images in a registry (push, pull,
 * tags). This foundation serves health and describe; the registry ops come later. */
#include "svc/svc.h"

int main(int argc, char **argv)
{
    svc_context ctx;
    int rc = svc_init(&ctx, SVC_OCI_ADAPTER, 0, NULL, 0, argc, argv);
    if (rc == 0)
        rc = svc_run(&ctx);
    svc_free(&ctx);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
