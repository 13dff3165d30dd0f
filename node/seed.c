/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NoCloud seed ISO, written in-process with libisofs: no genisoimage/xorriso at run time,
 * no shell. The files come from memory (iso_memory_stream_new), libisofs formats the image in
 * its writer thread, and we copy its burn source into a temporary file that is renamed into
 * place, so a reader (libvirt, a booting guest) never sees half an image.
 */
#include "kvmlab/node.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* We read libisofs's burn source ourselves, without libburn: this asks libisofs.h for its
 * copy of struct burn_source. */
#define LIBISOFS_WITHOUT_LIBBURN 1
/* libisofs.h declares iso_init() and iso_finish() with empty parentheses. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libisofs.h>
#pragma GCC diagnostic pop

#include "kvmlab/cleanup.h"

#define SEED_VOLUME_ID "cidata"
/* libisofs's burn source delivers whole 2048-byte sectors; a read larger than what is left
 * at the end returns EOF and drops the rest, so we read sector by sector as libburn does. */
#define SEED_SECTOR 2048

static pthread_once_t seed_iso_once = PTHREAD_ONCE_INIT;
static int seed_iso_init_result;

static void seed_iso_init(void)
{
    /* Library code never prints: keep libisofs's messages off stderr and out of its queue
     * (we report its return codes instead). The API takes non-const strings. */
    char never[] = "NEVER", id[] = "kvmlab";
    seed_iso_init_result = iso_init();
    if (seed_iso_init_result >= 0)
        iso_set_msgs_severities(never, never, id);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(IsoImage *, iso_image_unref)
DEFINE_TRIVIAL_CLEANUP_FUNC(IsoWriteOpts *, iso_write_opts_free)

/* A libisofs error code as a negative errno. */
static int seed_iso_errno(int code)
{
    return code == (int)ISO_OUT_OF_MEM ? -ENOMEM : -EIO;
}

/* Add @f to the root of @image. */
static int seed_add_file(IsoImage *image, const SeedFile *f, const char *path, Error *err)
{
    if (!f->name || !f->name[0] || strchr(f->name, '/'))
        return error_set(err, -EINVAL, "Cannot write seed '%s': invalid file name '%s'", path,
                         f->name ? f->name : "");
    /* The stream owns and frees its buffer; an empty file still needs one. */
    unsigned char *buf = malloc(f->len ? f->len : 1);
    if (!buf)
        return error_set(err, -ENOMEM, "Out of memory");
    if (f->len)
        memcpy(buf, f->data, f->len);
    IsoStream *stream = NULL;
    int r = iso_memory_stream_new(buf, f->len, &stream);
    if (r < 0) {
        free(buf);
        return error_set(err, seed_iso_errno(r), "Cannot write seed '%s': %s", path,
                         iso_error_to_msg(r));
    }
    /* On success the new file takes our reference to the stream. */
    r = iso_tree_add_new_file(iso_image_get_root(image), f->name, stream, NULL);
    if (r < 0) {
        iso_stream_unref(stream);
        if (r == (int)ISO_NODE_NAME_NOT_UNIQUE)
            return error_set(err, -EEXIST, "Cannot write seed '%s': file '%s' given twice", path,
                             f->name);
        return error_set(err, seed_iso_errno(r), "Cannot write seed '%s': file '%s': %s", path,
                         f->name, iso_error_to_msg(r));
    }
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Copy the image generated from @image with @opts into @fd. */
static int seed_copy_image(IsoImage *image, IsoWriteOpts *opts, int fd, const char *path,
                           Error *err)
{
    struct burn_source *src = NULL;
    int r = iso_image_create_burn_source(image, opts, &src);
    if (r < 0)
        return error_set(err, seed_iso_errno(r), "Cannot write seed '%s': %s", path,
                         iso_error_to_msg(r));

    off_t expected = src->get_size(src), done = 0;
    unsigned char buf[SEED_SECTOR];
    int ret = 0;
    for (;;) {
        int k = src->read ? src->read(src, buf, sizeof(buf)) : src->read_xt(src, buf, sizeof(buf));
        if (k < 0) {
            ret = error_set(err, -EIO, "Cannot write seed '%s': libisofs failed to generate it",
                            path);
            break;
        }
        if (k == 0)
            break;
        r = write_all(fd, buf, (size_t)k);
        if (r < 0) {
            ret = error_set_errno(err, r, "Cannot write seed '%s'", path);
            break;
        }
        done += k;
    }
    if (ret == 0 && done != expected)
        ret = error_set(err, -EIO,
                        "Cannot write seed '%s': the image ended after %lld of %lld bytes", path,
                        (long long)done, (long long)expected);
    /* The writer thread must be told to stop when we did not read to the end; free_data then
     * joins it and frees the image's copy. */
    if (ret < 0 && src->version >= 1 && src->cancel)
        src->cancel(src);
    src->free_data(src);
    free(src);
    return ret;
}

int node_seed_write(const char *path, const SeedFile *files, size_t n, Error *err)
{
    pthread_once(&seed_iso_once, seed_iso_init);
    if (seed_iso_init_result < 0)
        return error_set(err, -EIO, "Cannot write seed '%s': libisofs failed to initialise: %s",
                         path, iso_error_to_msg(seed_iso_init_result));

    _cleanup_(iso_image_unrefp) IsoImage *image = NULL;
    int r = iso_image_new(SEED_VOLUME_ID, &image);
    if (r < 0)
        return error_set(err, seed_iso_errno(r), "Cannot write seed '%s': %s", path,
                         iso_error_to_msg(r));
    iso_image_set_volume_id(image, SEED_VOLUME_ID);
    for (size_t i = 0; i < n; i++) {
        r = seed_add_file(image, &files[i], path, err);
        if (r < 0)
            return r;
    }

    /* Profile 2 (distribution): Rock Ridge and Joliet, neutral owners and modes (root, 0444),
     * timestamps of the recording. Level 3 lifts the 4 GiB-per-extent limit of levels 1-2;
     * relaxed volume attributes keep the label lower case "cidata" in the primary volume
     * descriptor (strict d-characters would make it "CIDATA"). Joliet names go without the
     * forced dot and ";1" ("meta-data", not "meta-data.;1"), as genisoimage writes them. */
    _cleanup_(iso_write_opts_freep) IsoWriteOpts *opts = NULL;
    r = iso_write_opts_new(&opts, 2);
    if (r >= 0)
        r = iso_write_opts_set_iso_level(opts, 3);
    if (r >= 0)
        r = iso_write_opts_set_rockridge(opts, 1);
    if (r >= 0)
        r = iso_write_opts_set_joliet(opts, 1);
    if (r >= 0)
        r = iso_write_opts_set_relaxed_vol_atts(opts, 1);
    if (r >= 0)
        r = iso_write_opts_set_omit_version_numbers(opts, 2);
    if (r >= 0)
        r = iso_write_opts_set_no_force_dots(opts, 2);
    if (r < 0)
        return error_set(err, seed_iso_errno(r), "Cannot write seed '%s': %s", path,
                         iso_error_to_msg(r));

    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot write seed '%s'", path);

    r = seed_copy_image(image, opts, fd, path, err);
    if (r == 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0))
        r = error_set_errno(err, -errno, "Cannot write seed '%s'", path);
    if (r == 0) {
        int fd2 = fd;
        fd = -1;
        if (close(fd2) < 0)
            r = error_set_errno(err, -errno, "Cannot write seed '%s'", path);
    }
    if (r == 0 && rename(tmp, path) < 0)
        r = error_set_errno(err, -errno, "Cannot write seed '%s'", path);
    if (r < 0)
        unlink(tmp);
    return r;
}
