/* Shared helpers of `porchctl fn source` / `fn sink`: reading whole files and
 * stdin, listing a package's KRM files the way kpt does, writing files. */
#ifndef PORCHCTL_CMD_FN_IO_H
#define PORCHCTL_CMD_FN_IO_H

#include <stddef.h>

int fnio_read_file(const char *path, char **out, size_t *len);
int fnio_read_stdin(char **out, size_t *len);
/* Lists *.yaml, *.yml, *.json and Kptfile under root (dot entries included),
 * as root-relative paths sorted bytewise. Caller frees each string and the array. */
int fnio_list_package(const char *root, char ***out, size_t *n);
int fnio_write_file(const char *path, const char *data, size_t len);

#endif
