/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The pieces of the image store that touch files, qemu-img and the network, apart from the
 * store's bookkeeping (imagestore.c) so the unit tests can reach them: what qemu-img says about
 * a file (qemuimg.c), sha256 of a file and what its first bytes are (sniff.c), and a resumable
 * download (fetch.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/error.h"
#include "kvmlab/imagestore.h"

/* @p made absolute against @base (itself made absolute against the current directory) and
 * cleaned of "", "." and ".." components without looking at the file system. New string, NULL
 * when out of memory. */
char *image_path_absolute(const char *p, const char *base);

/* ---- qemu-img (qemuimg.c) ---------------------------------------------------------------- */

typedef struct QemuImgInfo {
    char *format; /* "qcow2", "raw", "vmdk", ... as qemu-img probed it */
    uint64_t virtual_size;
    uint64_t actual_size; /* allocated bytes on the host */
    char *backing;        /* "full-backing-filename" (or "backing-filename"), NULL when none */
    char *data_file;      /* a qcow2's external data file, NULL when none */
    char *create_type;    /* vmdk: "monolithicSparse", "streamOptimized", ...; NULL otherwise */
    char **extents;       /* vmdk: the file of each extent */
    size_t n_extents;
} QemuImgInfo;

/* Parse the output of `qemu-img info --output=json` (pure). 0 or -EINVAL with @err set. */
int qemu_img_info_parse(const char *json, QemuImgInfo *ret, Error *err);

/* Run `qemu-img info --output=json PATH` (never trusting the name) and parse it. 0 or -errno;
 * a file qemu-img cannot open is -EINVAL naming @path and quoting qemu-img. */
int qemu_img_info(const char *path, QemuImgInfo *ret, Error *err);

void qemu_img_info_clear(QemuImgInfo *i);

/*
 * Every other file image @path reads (backing file, qcow2 data file, vmdk extents) must lie in
 * @path's own directory: a file probed as qcow2 or vmdk could otherwise name any file of the
 * host (a raw disk whose guest wrote a qcow2 header; a descriptor whose extent is /dev/sda),
 * and a guest would read it. 0, or -EPERM with @err naming the file and what it reaches.
 */
int qemu_img_info_confined(const char *path, const QemuImgInfo *qi, Error *err);

/*
 * `qemu-img convert -f @format -O qcow2 @src @dst`: a standalone qcow2 (a backing chain is read
 * through). Progress is what qemu-img has read against @expected (the source's allocated size;
 * capped below 100% until qemu-img is done), reported as @what. A pending interrupt
 * (interrupt.h) stops qemu-img: -EINTR. On failure @dst is removed. 0 or -errno.
 */
int qemu_img_convert(const char *src, const char *format, const char *dst, uint64_t expected,
                     const char *what, ImageProgressFn progress, void *userdata, Error *err);

/* ---- what a file is (sniff.c) ------------------------------------------------------------ */

/*
 * What the first bytes of a file say (pure): "qcow2", "vmdk" (a sparse extent, "KDMV"),
 * "vmdk-descriptor" (a text descriptor that names other files), or a kind of file that is no
 * disk image: "gzip", "xz", "bzip2", "zstd", "zip", "tar", "iso9660". NULL when nothing known
 * matches (raw data, or something else). @head holds the first @len bytes (64 KiB suffice).
 */
const char *image_sniff(const unsigned char *head, size_t len);

/* image_sniff() on the start of file @path. 0 or -errno with @err naming the path. */
int image_sniff_file(const char *path, const char **ret, Error *err);

/* ---- sha256 (sniff.c, OpenSSL EVP) ------------------------------------------------------- */

/* Lower-case hex sha256 of @len bytes at @data into @ret (65 bytes). 0 or -ENOMEM. */
int sha256_hex(const void *data, size_t len, char ret[65]);

/* A decimal number without sign into *ret: 0, or -EINVAL (NULL, empty, a sign, junk, too big). */
int image_parse_u64(const char *s, uint64_t *ret);

/* sha256 of the whole file @path, progress as @what; a pending interrupt gives -EINTR. */
int sha256_file(const char *path, const char *what, ImageProgressFn progress, void *userdata,
                char ret[65], Error *err);

/* ---- download (fetch.c, libcurl) --------------------------------------------------------- */

/*
 * Download @url (http, https or file) into @part. A non-empty @part is taken as the start of
 * the same file and only the rest is asked for (a Range request); a server that answers with
 * the whole file (200) instead of the rest (206) restarts it from 0. Redirects are followed;
 * an answer >= 400 fails naming the status and the URL (a 4xx answer removes @part: the URL is
 * wrong, nothing there is worth resuming); a stall (connect timeout, less than 1 KiB/s for
 * 60 s) fails. A pending interrupt (interrupt.h) aborts the transfer with -EINTR and keeps
 * @part for the next run. Progress as @what: bytes of the whole file. *ret_fetched (may be
 * NULL) gets the bytes this call received. 0 when @part holds the whole file as the server
 * sent it (not verified: the caller checks its sha256), or -errno with @err set.
 */
int fetch_url(const char *url, const char *part, const char *what, ImageProgressFn progress,
              void *userdata, uint64_t *ret_fetched, Error *err);

/* ---- building images (imagebuild.c) ------------------------------------------------------ */

/* What the store name of a build of @recipe hashes besides the recipe's name: its revision,
 * so a changed recipe gets a new name and is built anew. NULL for an unknown recipe. */
const char *image_recipe_revision(const char *recipe);

/* The osinfo id of what @recipe builds ("debian12"); NULL for an unknown recipe. */
const char *image_recipe_os(const char *recipe);

/*
 * The first Debian mirror for @suite in apt's sources, read in apt's order: @sources_list
 * (one-line format, "deb [OPTIONS] URI SUITE COMPONENT..."), then the files of @sources_dir by
 * name ("*.list" one-line, "*.sources" deb822 stanzas: Types, URIs, Suites, Components,
 * Enabled). Only "deb" entries of @suite with component "main" and an http, https, ftp or file
 * URI count (debootstrap cannot use "mirror+" or "cdrom:"). Missing files are fine. *ret is a
 * new string; -ENOENT with @err saying where it looked when there is none.
 */
int image_build_find_mirror(const char *sources_list, const char *sources_dir, const char *suite,
                            char **ret, Error *err);

/*
 * Remove the build tree @path: first every mount at or under it (read from /proc/self/mounts,
 * deepest first, detached), then its files with nftw(FTW_PHYS|FTW_MOUNT|FTW_DEPTH), which never
 * follows a symlink nor crosses into another file system, so nothing outside @path is touched.
 * Missing is fine. 0 or -errno with @err naming what could not be removed.
 */
int image_build_tree_remove(const char *path, Error *err);

/*
 * Build recipe @recipe as image @name of the store directory @dir: the qcow2 into @tmp, the
 * kernel and initrd into @kernel_tmp and @initrd_tmp (0644), for the store to rename into
 * place. Its work tree "<dir>/.build-<name>.XXXXXX" is gone when it returns, whatever happened;
 * on failure the three outputs are removed too. 0 or -errno with @err set.
 */
int image_build_run(const char *dir, const char *name, const char *recipe, const char *tmp,
                    const char *kernel_tmp, const char *initrd_tmp, ImageProgressFn progress,
                    void *userdata, Error *err);
