/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/error.h"
#include "kvmlab/lab.h"

/*
 * The shared image store: one directory under kvmlab's state root (<state_root>/images) that
 * holds base images as qcow2 files, shared by every lab; each lab's libvirt daemon sees it as
 * the directory pool IMAGE_POOL_NAME. Beside each image kvmlab keeps its own record: where it
 * came from and which labs use it. Changes to records happen under a lock on the store, so
 * labs may run at the same time. An image's file appears only once it is complete and
 * verified (written under a temporary name and renamed), so nothing half-made is ever used.
 */

#define IMAGE_POOL_NAME "kvmlab-images"

typedef struct ImageInfo {
    char *name;   /* as `kvmlab image list` shows it: "<image>-<12 hex>" */
    char *path;   /* <store>/<name>.qcow2 */
    char *kind;   /* "path", "url" or "build" */
    char *source; /* absolute path, URL or build recipe */
    char *os;     /* osinfo id, may be NULL */
    char *sha256; /* of the downloaded or imported file, lower-case hex; may be NULL */
    uint64_t virtual_size; /* bytes the guest sees */
    uint64_t file_size;    /* bytes on the host */
    char **users;          /* labs that use it, sorted */
    size_t n_users;
} ImageInfo;

/* Progress of an import or download: @done of @total bytes (@total 0 when unknown). */
typedef void (*ImageProgressFn)(const char *what, uint64_t done, uint64_t total, void *userdata);

/* <state_root>/images; new string */
char *image_store_dir(const char *state_root);

/*
 * The store name of lab image @img (pure): "<img->name>-<first 12 hex of sha256 over kind,
 * source (a path made absolute against @base_dir) and sha256>". New string.
 */
char *image_store_name(const LabImage *img, const char *base_dir);

/* The record of image @name. 0, -ENOENT when the store has no complete image of that name. */
int image_store_lookup(const char *state_root, const char *name, ImageInfo *ret, Error *err);

/*
 * Make lab image @img present in the store (relative paths resolved against @base_dir, the lab
 * file's directory): a cache hit when it is there already; a local qcow2 or raw file is copied
 * as qcow2, a vmdk converted (qemu-img convert); a URL downloaded with libcurl (resumed from a
 * partial download of the same URL, sha256 verified before use). Fills *ret. 0 or a negative
 * errno with @err set, and nothing new in the store.
 */
int image_store_import(const char *state_root, const LabImage *img, const char *base_dir,
                       ImageProgressFn progress, void *userdata, ImageInfo *ret, Error *err);

/* Record that lab @lab uses (@use true) or no longer uses image @name. 0 or -errno. */
int image_store_set_use(const char *state_root, const char *name, const char *lab, bool use,
                        Error *err);

/* Every complete image of the store, sorted by name. */
int image_store_list(const char *state_root, ImageInfo **ret, size_t *ret_n, Error *err);

/* Delete image @name: -EBUSY when a lab uses it (@err names the labs), -ENOENT when absent. */
int image_store_remove(const char *state_root, const char *name, Error *err);

void image_info_clear(ImageInfo *i);
