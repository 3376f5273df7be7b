/* Fixture repositories for the gitrepo tests: found as $PORCH_SOURCE_DIR/../shared
 * (never copied into the repository), unpacked with tar into mkdtemp directories. */
#include "fixture_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *fixture_dir(void)
{
    static char dir[4096];
    const char *src = getenv("PORCH_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/../shared/fixtures/porch-git", src ? src : ".");
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "SKIP: %s not found (the shared fixtures live next to the repository)\n",
                dir);
        return NULL;
    }
    return dir;
}

int fixture_unpack(const char *fixture, char *tmpdir, size_t tmplen, char *repo_path,
                   size_t repolen)
{
    const char *dir = fixture_dir();
    if (!dir)
        return -1;
    snprintf(tmpdir, tmplen, "/tmp/porch-gitrepo-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/remote' && tar xf '%s/%s.tar' --no-same-owner -C '%s/remote'", tmpdir,
             dir, fixture, tmpdir);
    if (system(cmd) != 0)
        return -1;
    snprintf(repo_path, repolen, "%s/remote/.git", tmpdir);
    return 0;
}

void fixture_cleanup(const char *tmpdir)
{
    char cmd[4200];
    if (!tmpdir || strncmp(tmpdir, "/tmp/porch-gitrepo-", 19) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}
