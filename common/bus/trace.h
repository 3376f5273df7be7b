/* Optional message trace (a debug option): every bus message a server receives
 * or sends is appended to a file as one JSON line, so tests can validate real
 * traffic against schemas/bus/. Internal to common/bus. */
#ifndef PORCH_BUS_TRACE_H
#define PORCH_BUS_TRACE_H

#include <stddef.h>

/* direction: "request" or "reply"; `op` names the op the message belongs to. */
void bus_trace_write(const char *path, const char *svc, const char *direction, const char *op,
                     const char *data, size_t len);

#endif
