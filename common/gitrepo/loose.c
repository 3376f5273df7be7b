/* Loose objects written as zlib streams of stored (uncompressed) deflate
 * blocks. A branch's root tree — thousands of entries, mostly binary ids
 * that do not compress — is rewritten by every commit; deflating it cost
 * more than the rest of the write (≈0.35 ms for 1,000 packages, for a third
 * off its size). Git reads stored blocks like any other (they are what
 * core.looseCompression=0 writes), and git gc packs them as usual. With
 * spare files at hand (chores.c) small blobs are written so too, into a
 * spare: no inode is made on the write's path. */
#include "internal.h"

#include <git2/sys/odb_backend.h>

#include "error/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STORED_BLOCK_MAX 65535u
#define STORED_BLOB_MAX (64u << 10) /* larger blobs: deflated, through libgit2 */

static uint32_t adler32(uint32_t adler, const unsigned char *p, size_t n)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
    while (n > 0) {
        size_t chunk = n < 5552 ? n : 5552; /* the largest run before the sums can overflow */
        n -= chunk;
        while (chunk--) {
            a += *p++;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

size_t gitrepo_zlib_stored_size(size_t n)
{
    size_t blocks = n / STORED_BLOCK_MAX + 1; /* an empty input still has one final block */
    return 2 + n + 5 * blocks + 4;
}

size_t gitrepo_zlib_stored(const unsigned char *in, size_t n, unsigned char *out)
{
    unsigned char *w = out;
    *w++ = 0x78; /* CMF: deflate, 32 KiB window */
    *w++ = 0x01; /* FLG: no dictionary, fastest; (0x78 << 8 | 0x01) % 31 == 0 */
    size_t off = 0;
    do {
        size_t len = n - off < STORED_BLOCK_MAX ? n - off : STORED_BLOCK_MAX;
        int last = off + len == n;
        *w++ = (unsigned char)(last ? 1 : 0); /* BFINAL, BTYPE 00 (stored) */
        w[0] = (unsigned char)(len & 0xff);
        w[1] = (unsigned char)(len >> 8);
        w[2] = (unsigned char)(~len & 0xff);
        w[3] = (unsigned char)((~len >> 8) & 0xff);
        w += 4;
        memcpy(w, in + off, len);
        w += len;
        off += len;
    } while (off < n);
    uint32_t sum = adler32(1, in, n);
    for (int i = 3; i >= 0; i--)
        *w++ = (unsigned char)(sum >> (8 * i));
    return (size_t)(w - out);
}

/* The file a new loose object is written into before its rename: a spare
 * (no inode made on the write's path) or a new temporary file in dir. */
static int object_file(gitrepo_spares *spares, const char *dir, const char *hex, char *tmp,
                       size_t len)
{
    unsigned long serial;
    if (gitrepo_spares_take(spares, tmp, len, &serial) == 0) {
        /* spares are empty; O_TRUNC would make ext4 start write-back at close */
        int fd = open(tmp, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            return fd;
    }
    /* per thread: two writers of one object (two handles on one remote) never share it */
    snprintf(tmp, len, "%s/tmp_obj_%ld_%s", dir, (long)syscall(SYS_gettid), hex + 2);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 && errno == ENOENT && mkdir(dir, 0755) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    return fd;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Writes a new object's loose file with stored deflate blocks (out: its id). */
static int write_stored(git_repository *git, gitrepo_spares *spares, const void *data, size_t len,
                        git_object_t type, const git_oid *out)
{
    char header[64];
    int hlen = snprintf(header, sizeof header, "%s %zu", git_object_type2string(type), len) + 1;
    size_t raw_len = (size_t)hlen + len;
    unsigned char *raw = malloc(raw_len), *z = malloc(gitrepo_zlib_stored_size(raw_len));
    if (!raw || !z) {
        free(raw);
        free(z);
        return porch_error_set(500, "out of memory writing an object");
    }
    memcpy(raw, header, (size_t)hlen);
    memcpy(raw + hlen, data, len);
    size_t zlen = gitrepo_zlib_stored(raw, raw_len, z);
    free(raw);
    char hex[GIT_OID_HEXSZ + 1], dir[4096], tmp[4200], final[4200];
    git_oid_tostr(hex, sizeof hex, out);
    const char *common = git_repository_commondir(git);
    snprintf(dir, sizeof dir, "%sobjects/%.2s", common, hex);
    snprintf(final, sizeof final, "%s/%s", dir, hex + 2);
    int fd = object_file(spares, dir, hex, tmp, sizeof tmp);
    int rc = 0;
    if (fd < 0) {
        rc = porch_error_set(500, "cannot create object file %s: %s", tmp, strerror(errno));
    } else {
        int bad = write_all(fd, z, zlen) != 0 || fchmod(fd, 0444) != 0;
        if (close(fd) != 0 || bad)
            rc = porch_error_set(500, "cannot write object file %s", tmp);
        /* the same name always holds the same bytes: replacing a racing writer's file is safe */
        if (rc == 0 && rename(tmp, final) != 0 &&
            !(errno == ENOENT && mkdir(dir, 0755) == 0 && rename(tmp, final) == 0))
            rc = porch_error_set(500, "cannot move object file into %s: %s", final,
                                 strerror(errno));
        if (rc != 0)
            unlink(tmp);
    }
    free(z);
    return rc;
}

int gitrepo_object_put(git_repository *git, gitrepo_spares *spares, const void *data,
                       size_t len, git_object_t type, int stored, git_oid *out)
{
    if (git_odb_hash(out, data, len, type) != 0)
        return gitrepo_git_error(500, "cannot hash an object");
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, git) != 0)
        return gitrepo_git_error(500, "cannot open the object database");
    int rc = -1;
    if (git_odb_exists_ext(odb, out, GIT_ODB_LOOKUP_NO_REFRESH)) {
        rc = git_odb_write(out, odb, data, len, type); /* freshens it for git gc */
    } else if (stored || (spares && len <= STORED_BLOB_MAX)) {
        git_odb_free(odb);
        return write_stored(git, spares, data, len, type, out);
    } else { /* the loose backend itself: git_odb_write rescans the packs for a new object */
        for (size_t i = 0; rc != 0 && i < git_odb_num_backends(odb); i++) {
            git_odb_backend *b = NULL;
            if (git_odb_get_backend(&b, odb, i) == 0 && b->write)
                rc = b->write(b, out, data, len, type) == 0 ? 0 : -1;
        }
        if (rc != 0) /* no loose backend that writes: libgit2's own way */
            rc = git_odb_write(out, odb, data, len, type);
    }
    git_odb_free(odb);
    return rc == 0 ? 0 : gitrepo_git_error(500, "cannot write an object");
}
