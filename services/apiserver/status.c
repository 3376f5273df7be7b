/* Kubernetes `Status` bodies: every error the apiserver returns to a client
 * (404 for unknown paths, 401 without a client certificate, 503 from a dead
 * peer) has this shape so kubectl prints "Error from server (Reason): msg". */
#include "apiserver.h"

#include "error/error.h"

json_t *apiserver_status_new(int code, const char *reason, const char *message)
{
    if (reason == NULL)
        reason = porch_error_reason_for(code);
    return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                     "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                     message ? message : "", "reason", reason ? reason : "", "code", code);
}
