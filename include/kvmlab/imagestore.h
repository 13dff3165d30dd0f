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
 *
 * Layout of the store directory (libvirt's directory pool lists every file in it as a volume;
 * the images are the "*.qcow2" ones):
 *   <name>.qcow2    the image, standalone qcow2 (no backing file), never changed once there
 *   <name>.record   kvmlab's record: "key=value" lines (see imagestore.c); written before the
 *                   image is renamed into place, so an image without a record never counts
 *   <name>.part     a download in progress, kept for a later run to resume
 *   <name>.vmlinuz  built images: the kernel of the image, for a direct kernel boot
 *   <name>.initrd   built images: its initramfs (finds the root file system by its label)
 *   .build-<name>.XXXXXX  a build in progress (a debootstrap tree), gone when the build ends
 *   <name>.lock     exists while an import or removal of <name> runs (flock)
 *   .lock           the store's lock (flock) for records; never removed
 */

#define IMAGE_POOL_NAME "kvmlab-images"

/* The kernel command line a built image boots with: its root file system has this label. */
#define IMAGE_BUILD_ROOT_LABEL "kvmlab-root"
#define IMAGE_BUILD_CMDLINE    "root=LABEL=" IMAGE_BUILD_ROOT_LABEL " rw console=ttyS0 panic=-1"

typedef struct ImageInfo {
    char *name;   /* as `kvmlab image list` shows it: "<image>-<12 hex>" */
    char *path;   /* <store>/<name>.qcow2 */
    char *kind;   /* "path", "url" or "build" */
    char *source; /* absolute path, URL or build recipe */
    char *os;     /* osinfo id, may be NULL */
    /* of the downloaded or imported file, lower-case hex; NULL for a path image imported
     * without a sha256 to check */
    char *sha256;
    char *format;          /* what the source was: "qcow2", "raw" or "vmdk" */
    char *imported_at;     /* UTC, "2024-05-01T12:00:00Z" */
    uint64_t virtual_size; /* bytes the guest sees */
    uint64_t file_size;    /* bytes on the host (allocated) */
    char **users;          /* labs that use it, sorted */
    size_t n_users;
    /* built images: the image's own kernel and initramfs beside it (<store>/<name>.vmlinuz,
     * .initrd), booted with IMAGE_BUILD_CMDLINE; NULL for other kinds */
    char *kernel;
    char *initrd;
    /* path images, filled by image_store_import() on a cache hit: the source file's size or
     * modification time differ from when it was imported. The stored copy is kept as it is
     * (overlays may stand on it); `kvmlab image rm` and a new import take the new content. */
    bool source_changed;
} ImageInfo;

/* Progress of an import or download: @done of @total bytes (@total 0 when unknown). */
typedef void (*ImageProgressFn)(const char *what, uint64_t done, uint64_t total, void *userdata);

/* <state_root>/images, made absolute against the current directory (@state_root NULL:
 * $KVMLAB_STATE_DIR, else /var/lib/kvmlab, the rule of sandbox_state_root()); new string.
 * Every function below takes @state_root the same way. */
char *image_store_dir(const char *state_root);

/*
 * The store name of lab image @img: "<img->name>-<first 12 hex of sha256 over kind, source (a
 * path made absolute against @base_dir and cleaned of "." and "..", without looking at the
 * file system) and sha256>". Pure when @base_dir is absolute (or the source is absolute or a
 * URL); a NULL or relative @base_dir is taken against the current directory. New string, NULL
 * when out of memory.
 */
char *image_store_name(const LabImage *img, const char *base_dir);

/* The record of image @name. 0, -ENOENT when the store has no complete image of that name. */
int image_store_lookup(const char *state_root, const char *name, ImageInfo *ret, Error *err);

/*
 * Make lab image @img present in the store (relative paths resolved against @base_dir, the lab
 * file's directory): a cache hit when it is there already; a local qcow2, raw or vmdk file is
 * converted to a standalone qcow2 (qemu-img convert; a qcow2 with a backing file is flattened);
 * a URL downloaded with libcurl (http, https, file; resumed from a partial download of the same
 * URL, sha256 verified before use; a downloaded image must be self-contained: a backing file,
 * an external data file or vmdk extents in other files are refused); a build: image is
 * image_store_build()'s. Whether a lab uses it is
 * image_store_set_use()'s (an `image rm` in between makes that -ENOENT, never a lost base).
 * @progress (may be NULL) is called with what is being done ("downloading NAME", "verifying
 * NAME", "converting NAME" for URLs; "verifying NAME", "importing NAME" for paths) and how far
 * it got; a cache hit calls it never. A pending SIGINT/SIGTERM/SIGHUP (interrupt.h)
 * stops it with -EINTR; a partial download is kept for the next run. Fills *ret. 0 or a
 * negative errno with @err set, and nothing new in the store but that partial download.
 */
int image_store_import(const char *state_root, const LabImage *img, const char *base_dir,
                       ImageProgressFn progress, void *userdata, ImageInfo *ret, Error *err);

/*
 * Record that lab @lab uses (@use true) or no longer uses image @name. Idempotent. 0; -ENOENT
 * when @use and the store has no image @name (no use of an absent image is ever recorded); a
 * negative errno.
 */
int image_store_set_use(const char *state_root, const char *name, const char *lab, bool use,
                        Error *err);

/* Every complete image of the store, sorted by name (an absent store is empty). *ret_n 0 gives
 * *ret NULL. Free with image_info_list_free(). */
int image_store_list(const char *state_root, ImageInfo **ret, size_t *ret_n, Error *err);

/* Delete image @name (and a partial download of it; a built image's kernel and initrd too):
 * -EBUSY when a lab uses it (@err names the labs) or an import of it runs, -ENOENT when
 * absent. */
int image_store_remove(const char *state_root, const char *name, Error *err);

void image_info_clear(ImageInfo *i);
void image_info_list_free(ImageInfo *list, size_t n);

/* ---- built images (imagebuild.c) --------------------------------------------------------- */

/* Whether @recipe names a build recipe kvmlab knows ("debian-12"). */
bool image_recipe_known(const char *recipe);

/* The known recipes for messages: "'debian-12'" (more are joined with ", "). New string, NULL
 * when out of memory. */
char *image_recipe_names(void);

/*
 * Make built image @img (kind LAB_IMAGE_BUILD, @img->source the recipe) present in the store:
 * a cache hit when it is there already (the store name hashes the recipe and its revision, so
 * a changed recipe builds anew). Otherwise, as root: debootstrap of the recipe's suite from the
 * first Debian mirror of this host's apt sources ($KVMLAB_MIRROR overrides it) into a
 * temporary tree in the store, configured to be one of many nodes (no machine-id, no ssh host
 * keys, cloud-init's NoCloud), made an ext4 file system labelled IMAGE_BUILD_ROOT_LABEL
 * (mkfs.ext4 -d: no loop device, no mount), converted to a standalone qcow2; the image's own
 * kernel and initrd are kept beside it (ImageInfo.kernel, .initrd). @progress (may be NULL)
 * hears "debootstrap NAME" (bytes in the tree so far), "configuring NAME", "making the file
 * system NAME" and "converting NAME"; a cache hit calls it never. A pending interrupt
 * (interrupt.h) stops the running step with -EINTR. Fills *ret. 0 or a negative errno with
 * @err set (-EINVAL for an unknown recipe, naming the known ones; -EPERM when not root); the
 * temporary tree is always removed, and a failed build leaves nothing in the store.
 */
int image_store_build(const char *state_root, const LabImage *img, ImageProgressFn progress,
                      void *userdata, ImageInfo *ret, Error *err);
