/* The per-thread error slot (see error.h). Thread-local storage keeps one
 * slot per worker thread so concurrent requests never see each other's errors. */
#include "error/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local porch_error tls_error;

const char *porch_error_reason_for(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "BadRequest";
    }
}

int porch_error_setv(int code, const char *fmt, va_list ap)
{
    tls_error.code = code;
    snprintf(tls_error.reason, sizeof tls_error.reason, "%s", porch_error_reason_for(code));
    vsnprintf(tls_error.message, sizeof tls_error.message, fmt, ap);
    return -1;
}

int porch_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    porch_error_setv(code, fmt, ap);
    va_end(ap);
    return -1;
}

int porch_error_set_reason(int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    porch_error_setv(code, fmt, ap);
    va_end(ap);
    if (reason && *reason)
        snprintf(tls_error.reason, sizeof tls_error.reason, "%s", reason);
    return -1;
}

const porch_error *porch_error_last(void)
{
    return &tls_error;
}

void porch_error_clear(void)
{
    tls_error.code = 0;
    tls_error.reason[0] = '\0';
    tls_error.message[0] = '\0';
}
