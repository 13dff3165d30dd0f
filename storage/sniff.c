/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a file's first bytes say it is, and sha256 over data and files (OpenSSL EVP). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/interrupt.h"

#define SNIFF_BYTES (64 * 1024)

static bool has(const unsigned char *head, size_t len, size_t off, const char *magic, size_t n)
{
    return len >= off + n && memcmp(head + off, magic, n) == 0;
}

const char *image_sniff(const unsigned char *head, size_t len)
{
    static const struct {
        size_t off;
        const char *magic;
        size_t n;
        const char *what;
    } known[] = {
            {0, "QFI\xfb", 4, "qcow2"},
            {0, "KDMV", 4, "vmdk"},
            {0, "# Disk DescriptorFile", 21, "vmdk-descriptor"},
            {0, "\x1f\x8b", 2, "gzip"},
            {0,
             "\xfd"
             "7zXZ\0",
             6, "xz"},
            {0, "BZh", 3, "bzip2"},
            {0, "\x28\xb5\x2f\xfd", 4, "zstd"},
            {0, "PK\x03\x04", 4, "zip"},
            {257, "ustar", 5, "tar"},
            /* ISO 9660: the primary volume descriptor in sector 16 */
            {0x8001, "CD001", 5, "iso9660"},
    };
    for (size_t i = 0; i < ELEMENTSOF(known); i++)
        if (has(head, len, known[i].off, known[i].magic, known[i].n))
            return known[i].what;
    return NULL;
}

int image_sniff_file(const char *path, const char **ret, Error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot read '%s'", path);
    _cleanup_free_ unsigned char *head = malloc(SNIFF_BYTES);
    if (!head)
        return error_set(err, -ENOMEM, "Out of memory");
    size_t len = 0;
    while (len < SNIFF_BYTES) {
        ssize_t k = read(fd, head + len, SNIFF_BYTES - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return error_set_errno(err, -errno, "Cannot read '%s'", path);
        if (k == 0)
            break;
        len += (size_t)k;
    }
    *ret = image_sniff(head, len);
    return 0;
}

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = 0;
}

int sha256_hex(const void *data, size_t len, char ret[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
        return -ENOMEM;
    to_hex(md, n, ret);
    return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)

int sha256_file(const char *path, const char *what, ImageProgressFn progress, void *userdata,
                char ret[65], Error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot read '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, -errno, "Cannot read '%s'", path);
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t bufsize = 1024 * 1024;
    _cleanup_free_ unsigned char *buf = malloc(bufsize);
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        return error_set(err, -ENOMEM, "Out of memory");
    uint64_t done = 0, total = (uint64_t)st.st_size;
    if (progress)
        progress(what, 0, total, userdata);
    for (;;) {
        if (interrupt_pending())
            return error_set(err, -EINTR, "Interrupted by %s while checking the sha256 of '%s'",
                             interrupt_signal_name(), path);
        ssize_t k = read(fd, buf, bufsize);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return error_set_errno(err, -errno, "Cannot read '%s'", path);
        if (k == 0)
            break;
        if (!EVP_DigestUpdate(ctx, buf, (size_t)k))
            return error_set(err, -EIO, "Cannot compute the sha256 of '%s'", path);
        done += (uint64_t)k;
        if (progress)
            progress(what, done, total > done ? total : done, userdata);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_DigestFinal_ex(ctx, md, &n) || n != 32)
        return error_set(err, -EIO, "Cannot compute the sha256 of '%s'", path);
    to_hex(md, n, ret);
    return 0;
}
