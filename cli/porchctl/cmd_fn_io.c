/* File helpers for the fn source/sink commands: whole-file reads, the package
 * walk (kpt's file selection and byte order) and mkdir -p + write. */
#include "cmd_fn_io.h"
#include <stdbool.h>

#include "error/error.h"

#include <dirent.h>
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

typedef struct list {
    char **v;
    size_t n, cap;
} list;

static bool wanted(const char *name)
{
    size_t l = strlen(name);
    if (!strcmp(name, "Kptfile"))
        return true;
    return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml")) ||
           (l > 5 && !strcmp(name + l - 5, ".json"));
}

static int walk(const char *root, const char *rel, list *l, int depth)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dir)
        return porch_error_set(400, "path too long under %s", root);
    DIR *d = opendir(dir);
    if (!d)
        return porch_error_set(404, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
            continue;
        char r[4096], full[4096];
        if (snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= (int)sizeof r ||
            snprintf(full, sizeof full, "%s/%s", root, r) >= (int)sizeof full)
            continue;
        struct stat st;
        if (stat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 64)
                rc = walk(root, r, l, depth + 1);
        } else if (S_ISREG(st.st_mode) && wanted(de->d_name)) {
            if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 32;
                char **nv = realloc(l->v, l->cap * sizeof *nv);
                if (!nv) {
                    rc = porch_error_set(500, "out of memory");
                    break;
                }
                l->v = nv;
            }
            l->v[l->n++] = strdup(r);
        }
    }
    closedir(d);
    return rc;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fnio_list_package(const char *root, char ***out, size_t *n)
{
    list l = {0};
    if (walk(root, "", &l, 0) < 0) {
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
        free(l.v);
        return -1;
    }
    qsort(l.v, l.n, sizeof *l.v, cmp);
    *out = l.v;
    *n = l.n;
    return 0;
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
