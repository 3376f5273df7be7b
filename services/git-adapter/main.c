/* porch-git-adapter: everything libgit2 — local mirrors of remote
 * repositories under DATA/git, package trees, commits, refs, pushes, through
 * common/gitrepo. Serves health (libgit2 version, mirror directory), describe,
 * and the repository ops of ops.c over the table of open repositories. */
#include "error/error.h"
#include "ops.h"
#include "svc/svc.h"

#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct git_adapter {
    svc_context svc;
    char mirrors_dir[4096];
    ga_table repos;
} git_adapter;

static int check_health(void *userdata, json_t *result)
{
    git_adapter *ga = userdata;
    int major, minor, rev;
    git_libgit2_version(&major, &minor, &rev);
    if (access(ga->mirrors_dir, W_OK) != 0)
        return porch_error_set(503, "mirror directory %s is not writable: %s", ga->mirrors_dir,
                               strerror(errno));
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", major, minor, rev);
    json_object_set_new(result, "libgit2", json_string(version));
    return 0;
}

int main(int argc, char **argv)
{
    git_adapter ga;
    int rc = svc_init(&ga.svc, SVC_GIT_ADAPTER, 0, NULL, 0, argc, argv);
    if (rc == 0) {
        snprintf(ga.mirrors_dir, sizeof ga.mirrors_dir, "%s/git", ga.svc.data_dir);
        if (mkdir(ga.mirrors_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "porch-git-adapter: cannot create %s: %s\n", ga.mirrors_dir,
                    strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0) {
        gitrepo_library_init(0);
        ga_table_init(&ga.repos, ga.mirrors_dir);
        ga.svc.health_check = check_health;
        ga.svc.health_userdata = &ga;
        rc = ga_ops_register(ga.svc.bus, &ga.repos);
        if (rc == 0)
            rc = svc_run(&ga.svc);
        ga_table_free(&ga.repos);
        git_libgit2_shutdown();
    }
    svc_free(&ga.svc);
    return rc > 0 ? 0 : (rc < 0 ? 1 : 0);
}
