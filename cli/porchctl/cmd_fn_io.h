/* Shared helpers of `porchctl fn sink`: reading whole files and stdin, writing files. */
#ifndef PORCHCTL_CMD_FN_IO_H
#define PORCHCTL_CMD_FN_IO_H

#include <stddef.h>

int fnio_read_file(const char *path, char **out, size_t *len);
int fnio_read_stdin(char **out, size_t *len);
int fnio_write_file(const char *path, const char *data, size_t len);

#endif
