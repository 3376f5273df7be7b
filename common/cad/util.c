/* Small helpers of the CaD library: string lists, path joining, whole-file
 * reads and writes, recursive copy/remove and listing, shell-like splitting
 * of exec commands (as kpt splits `exec:` strings). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cad_internal.h"

#include "error/error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cad_strv_push(cad_strv *l, const char *s)
{
    if (l->n + 1 >= l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return porch_error_set(500, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    if (!(l->v[l->n] = strdup(s)))
        return porch_error_set(500, "out of memory");
    l->n++;
    l->v[l->n] = NULL;
    return 0;
}

void cad_strv_free(cad_strv *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

char *cad_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

char *cad_path_join(const char *a, const char *b)
{
    if (!a || !*a || !strcmp(a, "."))
        return strdup(b);
    if (!b || !*b || !strcmp(b, "."))
        return strdup(a);
    size_t la = strlen(a);
    return cad_sprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

int cad_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return porch_error_set(errno == ENOENT ? 404 : 500, "%s: %s", path, strerror(errno));
    size_t cap = 8192, n = 0;
    char *b = malloc(cap + 1);
    for (;;) {
        if (!b) {
            fclose(f);
            return porch_error_set(500, "out of memory");
        }
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(b, cap + 1);
        if (!nb)
            free(b);
        b = nb;
    }
    fclose(f);
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}

int cad_mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return porch_error_set(400, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return porch_error_set(500, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return porch_error_set(500, "mkdir %s: %s", tmp, strerror(errno));
    return 0;
}

int cad_write_file(const char *path, const char *data, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        if (cad_mkdirs(dir) < 0)
            return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return porch_error_set(500, "%s: %s", path, strerror(errno));
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    if (fclose(f) != 0 || w != len)
        return porch_error_set(500, "%s: write failed", path);
    return 0;
}

bool cad_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool cad_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int cad_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                    continue;
                char *c = cad_path_join(path, de->d_name);
                cad_rm_rf(c);
                free(c);
            }
            closedir(d);
        }
        return rmdir(path) < 0 ? porch_error_set(500, "rmdir %s: %s", path, strerror(errno)) : 0;
    }
    return unlink(path) < 0 ? porch_error_set(500, "unlink %s: %s", path, strerror(errno)) : 0;
}

int cad_copy_tree(const char *src, const char *dst, bool skip_git)
{
    struct stat st;
    if (lstat(src, &st) < 0)
        return porch_error_set(404, "%s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (cad_mkdirs(dst) < 0)
            return -1;
        DIR *d = opendir(src);
        if (!d)
            return porch_error_set(500, "%s: %s", src, strerror(errno));
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
                (skip_git && !strcmp(de->d_name, ".git")))
                continue;
            char *a = cad_path_join(src, de->d_name), *b = cad_path_join(dst, de->d_name);
            rc = cad_copy_tree(a, b, skip_git);
            free(a);
            free(b);
        }
        closedir(d);
        return rc;
    }
    if (S_ISLNK(st.st_mode)) {
        char t[PATH_MAX];
        ssize_t n = readlink(src, t, sizeof t - 1);
        if (n < 0)
            return porch_error_set(500, "readlink %s", src);
        t[n] = '\0';
        return symlink(t, dst) < 0 ? porch_error_set(500, "symlink %s", dst) : 0;
    }
    char *buf;
    size_t len;
    if (cad_read_file(src, &buf, &len) < 0)
        return -1;
    int rc = cad_write_file(dst, buf, len);
    free(buf);
    if (rc == 0)
        chmod(dst, st.st_mode & 07777);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_rec(const char *root, const char *rel, cad_strv *out, int depth)
{
    char *dir = *rel ? cad_path_join(root, rel) : strdup(root);
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
            continue;
        char *r = *rel ? cad_path_join(rel, de->d_name) : strdup(de->d_name);
        char *full = cad_path_join(root, r);
        struct stat st;
        if (stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                if (depth < 64)
                    rc = list_rec(root, r, out, depth + 1);
            } else {
                rc = cad_strv_push(out, r);
            }
        }
        free(r);
        free(full);
    }
    closedir(d);
    return rc;
}

int cad_list_files(const char *root, cad_strv *out)
{
    size_t start = out->n;
    if (list_rec(root, "", out, 0) < 0)
        return -1;
    qsort(out->v + start, out->n - start, sizeof *out->v, cmp_str);
    return 0;
}

int cad_shell_split(const char *cmd, cad_strv *out)
{
    size_t cap = strlen(cmd) + 1;
    char *w = malloc(cap);
    if (!w)
        return porch_error_set(500, "out of memory");
    const char *p = cmd;
    int rc = 0;
    while (*p && rc == 0) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        size_t n = 0;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'') {
                p++;
                while (*p && *p != '\'')
                    w[n++] = *p++;
                if (*p)
                    p++;
            } else if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                    if (*p == '\\' && p[1])
                        p++;
                    w[n++] = *p++;
                }
                if (*p)
                    p++;
            } else if (*p == '\\' && p[1]) {
                w[n++] = p[1];
                p += 2;
            } else {
                w[n++] = *p++;
            }
        }
        w[n] = '\0';
        rc = cad_strv_push(out, w);
    }
    free(w);
    return rc;
}

char *cad_abspath(const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return strdup(p);
    char *j = cad_path_join(cwd, p);
    /* normalise trailing "/." and "/" */
    size_t l = strlen(j);
    while (l > 1 && j[l - 1] == '/')
        j[--l] = '\0';
    if (l > 2 && !strcmp(j + l - 2, "/."))
        j[l - 2] = '\0';
    return j;
}
