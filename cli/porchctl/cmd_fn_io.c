/* File helpers for the fn sink command: whole-file reads and mkdir -p + write. */
#include "cmd_fn_io.h"
#include <stdbool.h>

#include "error/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int read_fp(FILE *f, char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    if (!b)
        return porch_error_set(500, "out of memory");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                return porch_error_set(500, "out of memory");
            }
            b = nb;
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    *out = b;
    *len = n;
    return 0;
}

int fnio_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return porch_error_set(404, "%s: %s", path, strerror(errno));
    int rc = read_fp(f, out, len);
    fclose(f);
    return rc;
}

int fnio_read_stdin(char **out, size_t *len)
{
    return read_fp(stdin, out, len);
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0755);
        *p = '/';
        if (r < 0 && errno != EEXIST)
            return porch_error_set(500, "mkdir %s: %s", path, strerror(errno));
    }
    return 0;
}

int fnio_write_file(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    if (mkdirs(tmp) < 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return porch_error_set(500, "%s: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len)
        return porch_error_set(500, "%s: write failed", path);
    return 0;
}
