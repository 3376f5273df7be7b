/* Per-thread error slot shared by every module: a failing call returns a
 * negative int and leaves here a Kubernetes-style code, reason and message,
 * so the text can travel unchanged to the user (bus reply, HTTP Status). */
#ifndef PORCH_ERROR_H
#define PORCH_ERROR_H

#include <stdarg.h>

#define PORCH_ERROR_MESSAGE_MAX 2048

typedef struct porch_error {
    int code;           /* HTTP status code: 400, 404, 409, 500, 503, 504 ... */
    char reason[64];    /* Kubernetes reason: "BadRequest", "NotFound", "Conflict" ... */
    char message[PORCH_ERROR_MESSAGE_MAX];
} porch_error;

/* Records an error for this thread and returns -1, so callers can write
 * `return porch_error_set(404, "package %s not found", name);`. */
int porch_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int porch_error_setv(int code, const char *fmt, va_list ap);

/* Same, with an explicit reason (e.g. "AlreadyExists" for a 409); the reason is copied. */
int porch_error_set_reason(int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Borrows this thread's last error; code 0 when none was set since the last clear. */
const porch_error *porch_error_last(void);
void porch_error_clear(void);

/* The Kubernetes reason for an HTTP status code ("Conflict" for 409). Static string. */
const char *porch_error_reason_for(int code);

#endif
