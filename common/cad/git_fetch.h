/* libgit2 access used by pkg get/update/diff (see git_fetch.c). */
#ifndef PORCH_CAD_GIT_FETCH_H
#define PORCH_CAD_GIT_FETCH_H

typedef struct cad_git cad_git;

/* Opens a local repository (path or file://, ".git" appended when needed)
 * or clones a remote one into a temporary bare repository. */
int cad_git_open(const char *url, cad_git **out);
void cad_git_close(cad_git *g);
/* Resolves a branch, tag or commit (NULL = the default branch, whose name
 * goes to *ref_out) to a commit id in hex. */
int cad_git_resolve(cad_git *g, const char *ref, char **ref_out, char hex[41]);
/* Writes the files of `dir` ("" or "/" = root) at commit `hex` under dest. */
int cad_git_export(cad_git *g, const char *hex, const char *dir, const char *dest);

#endif
