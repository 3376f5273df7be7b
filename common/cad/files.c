/* Package file sets (path → text, as the Porch API carries them) on disk for
 * the package algorithms: written into a private work directory with every
 * path checked to stay inside it, read back after init or render, and the
 * render of a whole file set (porch-function-runner's `render`, porch-engine's
 * init and clone). Packages here are text; binary files are the git layer's. */
#include "cad.h"
#include "cad_internal.h"
#include "error/error.h"
#include "krm/krm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAD_MAX_FILE (16u << 20)

int cad_workdir_new(const char *parent, char **out)
{
    size_t len = strlen(parent) + 16;
    char *dir = malloc(len);
    if (!dir)
        return porch_error_set(500, "out of memory");
    snprintf(dir, len, "%s/w-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        free(dir);
        return porch_error_set(500, "cannot create a work directory: %s", strerror(errno));
    }
    *out = dir;
    return 0;
}

void cad_workdir_remove(const char *dir)
{
    porch_error kept = *porch_error_last(); /* the caller's, if any: scratch left is not one */
    if (!dir || cad_rm_rf(dir) == 0)
        return;
    if (kept.code)
        porch_error_set_reason(kept.code, kept.reason, "%s", kept.message);
    else
        porch_error_clear();
}

/* Removes /dev/shm/porch-<name>-<pid>-* directories of processes that died
 * without cleaning up (a SIGKILL): their pid no longer runs. */
static void remove_stale_scratch(const char *name)
{
    DIR *d = opendir("/dev/shm");
    char prefix[128];
    snprintf(prefix, sizeof prefix, "porch-%s-", name);
    size_t plen = strlen(prefix);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        char *end = NULL;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (pid <= 0 || *end != '-' || pid == (long)getpid() ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[512];
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        cad_workdir_remove(path);
    }
    if (d)
        closedir(d);
}

int cad_scratch_dir(const char *name, const char *fallback, char *out, size_t len, int *own)
{
    /* Scratch files live for one request: in memory they cost no inode
     * allocation on the data disk (a third of a create on ext4). */
    snprintf(out, len, "/dev/shm/porch-%s-%ld-XXXXXX", name, (long)getpid());
    *own = access("/dev/shm", W_OK) == 0 && mkdtemp(out) != NULL;
    if (*own) {
        remove_stale_scratch(name);
        return 0;
    }
    snprintf(out, len, "%s", fallback);
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return porch_error_set(500, "cannot create %s: %s", out, strerror(errno));
    return 0;
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

int cad_files_write(const char *dir, json_t *resources)
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
            return porch_error_set(500, "short write of %s", rel);
    }
    return 0;
}

static int read_tree(const char *root, const char *rel, json_t *out)
{
    char path[8400];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return porch_error_set(500, "cannot read %s: %s", path, strerror(errno));
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
            if ((size_t)st.st_size > CAD_MAX_FILE) {
                rc = porch_error_set(413, "file %s is larger than %u bytes", child_rel,
                                     CAD_MAX_FILE);
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

int cad_files_read(const char *dir, json_t **resources)
{
    json_t *out = json_object();
    if (read_tree(dir, "", out) < 0) {
        json_decref(out);
        return -1;
    }
    *resources = out;
    return 0;
}

/* results.yaml of a render as JSON (NULL when absent or unreadable). */
static json_t *read_results(const char *results_dir)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/results.yaml", results_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    if (mem)
        fclose(mem);
    krm_stream *s = NULL;
    json_t *out = NULL;
    if (buf && krm_stream_parse(buf, len, "results.yaml", NULL, &s) == 0 &&
        krm_stream_count(s) > 0) {
        krm_buf jb = {0};
        if (krm_node_emit_json(krm_doc_root(krm_stream_doc(s, 0)), &jb) == 0)
            out = json_loadb(jb.data, jb.len, 0, NULL);
        krm_buf_free(&jb);
    }
    krm_stream_free(s);
    free(buf);
    return out;
}

int cad_render_files(json_t **resources, const char *parent, const cad_fn_opts *fn,
                     json_t **status)
{
    *status = NULL;
    char *dir = NULL;
    if (cad_workdir_new(parent, &dir) < 0)
        return -1;
    char pkg[4200], results[4200];
    snprintf(pkg, sizeof pkg, "%s/pkg", dir);
    snprintf(results, sizeof results, "%s/results", dir);
    int rc = mkdir(pkg, 0700) == 0 && mkdir(results, 0700) == 0
                 ? cad_files_write(pkg, *resources)
                 : porch_error_set(500, "cannot prepare the render directory");
    if (rc < 0) {
        cad_workdir_remove(dir);
        free(dir);
        return -1;
    }
    cad_render_opts o = {.fn = *fn, .dir = pkg};
    o.fn.results_dir = results;
    /* 1 is a function that ran and failed (kpt's "already handled error"):
     * as much a failed render as one that could not run */
    int render_rc = cad_fn_render(&o);
    char message[PORCH_ERROR_MESSAGE_MAX] = "";
    if (render_rc != 0)
        snprintf(message, sizeof message, "%s", porch_error_last()->message);
    json_t *rendered = NULL;
    if (cad_files_read(pkg, &rendered) == 0) {
        json_decref(*resources);
        *resources = rendered;
    }
    json_t *result = read_results(results);
    if (!result)
        result = json_pack("{s:s, s:s, s:i, s:[]}", "apiVersion", "kpt.dev/v1", "kind",
                           "FunctionResultList", "exitCode", render_rc != 0, "items");
    *status = json_pack("{s:s, s:o}", "error", message, "result", result);
    cad_workdir_remove(dir);
    free(dir);
    return render_rc != 0 ? porch_error_set(500, "%s", message) : 0;
}
