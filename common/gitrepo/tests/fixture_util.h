/* Helpers for tests on Porch's fixture repositories (../shared/fixtures/porch-git):
 * locating them, unpacking a tar into a fresh temporary directory, cleaning up. */
#ifndef PORCH_GITREPO_FIXTURE_UTIL_H
#define PORCH_GITREPO_FIXTURE_UTIL_H

#include <stddef.h>

/* The fixtures directory, or NULL (with a message on stderr) when ../shared is absent. */
const char *fixture_dir(void);
/* Unpacks <fixture>.tar into a new temp dir; *repo_path = its bare .git directory. 0 or -1. */
int fixture_unpack(const char *fixture, char *tmpdir, size_t tmplen, char *repo_path,
                   size_t repolen);
void fixture_cleanup(const char *tmpdir);

#endif
