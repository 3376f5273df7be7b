/* Appends traced bus messages as JSON lines (see trace.h). One write(2) per
 * line with O_APPEND keeps lines whole when several processes share a file. */
#include "bus/trace.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bus_trace_write(const char *path, const char *svc, const char *direction, const char *op,
                     const char *data, size_t len)
{
    if (!path || !*path)
        return;
    json_error_t jerr;
    json_t *msg = json_loadb(data, len, 0, &jerr);
    json_t *line = json_pack("{s:s, s:s, s:s}", "svc", svc ? svc : "", "dir", direction, "op",
                             op ? op : "");
    /* Unparseable messages are kept as text so the schema check can flag them. */
    if (!msg)
        msg = json_stringn(data, len);
    json_object_set_new(line, "msg", msg ? msg : json_string("<invalid UTF-8>"));
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        size_t n = strlen(text);
        text[n] = '\n';
        ssize_t w = write(fd, text, n + 1);
        (void)w;
        close(fd);
    }
    free(text);
}
