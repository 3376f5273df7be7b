/* Package file sets on disk for the CaD library (see engine.h): written into
 * a private work directory with every path checked to stay inside it, read
 * back after init or render. Binary-safe reading is the git adapter's job;
 * packages here are text (YAML, Markdown). */
#include "engine.h"
#include "error/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENGINE_MAX_FILE (16u << 20)

int engine_workdir_new(engine *eng, char **out)
{
    size_t len = strlen(eng->work_dir) + 16;
    char *dir = malloc(len);
    if (!dir)
        return porch_error_set(500, "engine: out of memory");
    snprintf(dir, len, "%s/w-XXXXXX", eng->work_dir);
    if (!mkdtemp(dir)) {
        free(dir);
        return porch_error_set(500, "engine: cannot create a work directory: %s", strerror(errno));
    }
    *out = dir;
    return 0;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char child[8400];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(child);
            else
                unlink(child);
        }
        closedir(d);
    }
    rmdir(path);
}

void engine_workdir_remove(const char *dir)
{
    if (dir)
        remove_tree(dir);
}

/* A package path: relative, no empty, "." or ".." segments, no NUL. */
static int check_path(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 1024)
        return porch_error_set(400, "spec.resources: invalid file path \"%.200s\"", p);
    for (const char *seg = p; seg;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return porch_error_set(400, "spec.resources: file path \"%.200s\" must stay inside "
                                        "the package", p);
        seg = slash ? slash + 1 : NULL;
    }
    return 0;
}

static int mkdirs_for(const char *dir, const char *rel)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return porch_error_set(400, "spec.resources: cannot create directory for \"%s\": %s",
                                   rel, strerror(errno));
        *p = '/';
    }
    return 0;
}

int engine_files_write(const char *dir, json_t *resources)
{
    if (!json_is_object(resources))
        return porch_error_set(400, "spec.resources must be an object of path → content");
    const char *rel;
    json_t *content;
    json_object_foreach(resources, rel, content) {
        if (!json_is_string(content))
            return porch_error_set(400, "spec.resources[\"%.200s\"] must be a string", rel);
        if (check_path(rel) < 0 || mkdirs_for(dir, rel) < 0)
            return -1;
        char path[8400];
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return porch_error_set(400, "spec.resources: cannot write \"%s\": %s", rel,
                                   strerror(errno));
        size_t len = json_string_length(content);
        ssize_t w = write(fd, json_string_value(content), len);
        close(fd);
        if (w != (ssize_t)len)
            return porch_error_set(500, "engine: short write of %s", rel);
    }
    return 0;
}

static int read_tree(const char *root, const char *rel, json_t *out)
{
    char path[8400];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return porch_error_set(500, "engine: cannot read %s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".git"))
            continue;
        char child_rel[4096], child[8400];
        if (snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, *rel ? "/" : "",
                     e->d_name) >= (int)sizeof child_rel) {
            rc = porch_error_set(400, "path too long under %s", rel);
            break;
        }
        snprintf(child, sizeof child, "%s/%s", root, child_rel);
        struct stat st;
        if (lstat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = read_tree(root, child_rel, out);
        } else if (S_ISREG(st.st_mode)) {
            if ((size_t)st.st_size > ENGINE_MAX_FILE) {
                rc = porch_error_set(413, "file %s is larger than %u bytes", child_rel,
                                     ENGINE_MAX_FILE);
                break;
            }
            FILE *f = fopen(child, "rb");
            char *buf = malloc((size_t)st.st_size + 1);
            size_t n = f && buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
            if (f)
                fclose(f);
            json_t *s = buf ? json_stringn(buf, n) : NULL;
            free(buf);
            if (!s) {
                rc = porch_error_set(422, "file %s is not UTF-8 text", child_rel);
                break;
            }
            json_object_set_new(out, child_rel, s);
        }
    }
    closedir(d);
    return rc;
}

int engine_files_read(const char *dir, json_t **resources)
{
    json_t *out = json_object();
    if (read_tree(dir, "", out) < 0) {
        json_decref(out);
        return -1;
    }
    *resources = out;
    return 0;
}
