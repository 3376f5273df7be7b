/* libgit2 access used by pkg get/update/diff (see git_fetch.c). */
#ifndef PORCH_CAD_GIT_FETCH_H
#define PORCH_CAD_GIT_FETCH_H

#include <stddef.h>

typedef struct cad_git cad_git;

/* Opens a local repository (path or file://, ".git" appended when needed)
 * or clones a remote one into a temporary bare repository. */
int cad_git_open(const char *url, cad_git **out);
void cad_git_close(cad_git *g);
/* Resolves a branch, tag or commit (NULL = the default branch, whose name
 * goes to *ref_out) to a commit id in hex. */
int cad_git_resolve(cad_git *g, const char *ref, char **ref_out, char hex[41]);
/* Rewrites a file's content on its way out (rel is dest-relative); returns 1
 * with a malloc'd *out when it changed it, 0 to keep it, -1 on error. */
typedef int (*cad_git_xform)(const char *rel, const char *in, size_t len, char **out, size_t *outlen);
/* Writes the files of `dir` ("" or "/" = root) at commit `hex` under dest,
 * passing each through xform when it is not NULL. */
int cad_git_export(cad_git *g, const char *hex, const char *dir, const char *dest, cad_git_xform xform);

#endif
