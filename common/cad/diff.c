/* `pkg diff`: stages the local package and upstream versions in a temp
 * directory (Kptfiles left out, upstream marked as pkg get marks it) and
 * runs the external diff tool on two of them, as kpt does. */
#include "cad_internal.h"
#include "git_fetch.h"

#include "error/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void drop_kptfiles(const char *dir)
{
    cad_strv f = {0};
    cad_list_files(dir, &f);
    for (size_t i = 0; i < f.n; i++) {
        const char *b = strrchr(f.v[i], '/');
        if (!strcmp(b ? b + 1 : f.v[i], "Kptfile")) {
            char *p = cad_path_join(dir, f.v[i]);
            unlink(p);
            free(p);
        }
    }
    cad_strv_free(&f);
}

/* kpt's staging directory: $TMPDIR/kpt-<digits>. */
static char *stage_dir(void)
{
    const char *td = getenv("TMPDIR");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int i = 0; i < 100; i++) {
        char *p = cad_sprintf("%s/kpt-%u%u", td && *td ? td : "/tmp", (unsigned)rand() % 100000u,
                              (unsigned)rand() % 100000u);
        if (mkdir(p, 0700) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static int run_tool(const char *tool, const char *opts, const char *a, const char *b)
{
    cad_strv argv = {0};
    cad_strv_push(&argv, tool);
    if (opts && *opts)
        cad_shell_split(opts, &argv);
    cad_strv_push(&argv, a);
    cad_strv_push(&argv, b);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        cad_strv_free(&argv);
        return porch_error_set(500, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        execvp(tool, argv.v);
        fprintf(stderr, "Error: %s: %s\n", tool, strerror(errno));
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    cad_strv_free(&argv);
    if (WIFEXITED(st) && WEXITSTATUS(st) > 1)
        return porch_error_set(500, "%s exited with status %d", tool, WEXITSTATUS(st));
    return 0;
}

static int fetch_version(cad_git *g, const char *ref, const char *dir, const char *dest)
{
    char hex[41];
    if (cad_git_resolve(g, ref, NULL, hex) < 0)
        return porch_error_set(404, "unknown ref \"%s\"", ref);
    if (cad_git_export(g, hex, dir, dest, cad_mark_xform) < 0)
        return -1;
    drop_kptfiles(dest);
    return 0;
}

int cad_pkg_diff(const cad_diff_opts *o)
{
    char *kp = cad_path_join(o->dir, "Kptfile"), *buf = NULL;
    size_t len;
    krm_stream *ks = NULL;
    int rc = cad_read_file(kp, &buf, &len);
    free(kp);
    if (rc < 0)
        return porch_error_set(404, "%s: no Kptfile found (not a kpt package)", o->dir);
    rc = krm_stream_parse(buf, len, "Kptfile", NULL, &ks);
    free(buf);
    if (rc < 0)
        return -1;
    krm_node *root = krm_stream_count(ks) ? krm_doc_root(krm_stream_doc(ks, 0)) : NULL;
    krm_node *g = root ? krm_path_get(root, "upstreamLock.git") : NULL;
    if (!g)
        g = root ? krm_path_get(root, "upstream.git") : NULL;
    if (!g) {
        krm_stream_free(ks);
        return porch_error_set(400, "package must have an upstream reference");
    }
    krm_node *rn = krm_map_get(g, "repo"), *dn = krm_map_get(g, "directory"), *refn = krm_map_get(g, "ref"),
             *cn = krm_map_get(g, "commit");
    char *repo = strdup(rn ? krm_node_value(rn) : ""), *dir = strdup(dn ? krm_node_value(dn) : "/");
    char *ref = strdup(refn ? krm_node_value(refn) : "main");
    char *commit = cn ? strdup(krm_node_value(cn)) : strdup(ref);
    krm_stream_free(ks);
    const char *type = o->diff_type ? o->diff_type : "local";
    char *stage = stage_dir();
    const char *sd = stage ? stage : "/tmp";
    char *local = cad_sprintf("%s/local-%s", sd, ref), *remote = cad_sprintf("%s/remote-%s", sd, ref);
    char *target = o->version ? cad_sprintf("%s/target-%s", sd, o->version) : NULL;
    cad_git *git = NULL;
    rc = stage ? cad_git_open(repo, &git) : porch_error_set(500, "cannot create a temporary directory");
    if (rc == 0)
        rc = fetch_version(git, commit, dir, remote);
    if (rc == 0 && target && strcmp(type, "local"))
        rc = fetch_version(git, o->version, dir, target);
    cad_git_close(git);
    if (rc == 0 && (!strcmp(type, "local") || !strcmp(type, "combined") || !strcmp(type, "3way"))) {
        rc = cad_copy_tree(o->dir, local, true);
        drop_kptfiles(local);
    }
    const char *tool = o->diff_tool ? o->diff_tool : "diff", *opts = o->diff_tool_opts;
    if (rc == 0) {
        if (!strcmp(type, "local"))
            rc = run_tool(tool, opts, local, remote);
        else if (!strcmp(type, "remote"))
            rc = run_tool(tool, opts, remote, target ? target : remote);
        else if (!strcmp(type, "combined"))
            rc = run_tool(tool, opts, local, target ? target : remote);
        else if (!strcmp(type, "3way")) {
            rc = run_tool(tool, opts, local, remote);
            if (rc == 0 && target)
                rc = run_tool(tool, opts, remote, target);
        } else
            rc = porch_error_set(400, "invalid diff-type \"%s\": must be local, remote, combined or 3way", type);
    }
    if (stage) {
        porch_error keep = *porch_error_last();
        cad_rm_rf(stage);
        if (rc < 0)
            porch_error_set(keep.code, "%s", keep.message);
    }
    free(stage);
    free(local);
    free(remote);
    free(target);
    free(repo);
    free(dir);
    free(ref);
    free(commit);
    return rc;
}
