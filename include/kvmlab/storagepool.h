/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/error.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/lab.h"
#include "kvmlab/resource.h"

/*
 * A lab's storage as engine resources: its directory pool, the base images it uses from the
 * shared store, and its volumes (each node's root disk as a qcow2 overlay on its base, data
 * disks). libvirt keeps no metadata on pools and volumes, so ownership is kvmlab's own record:
 * a marker file in the pool's directory names the lab (written before the pool is defined), and
 * the lab's state lists the volumes it made (written before each is created), so a crash
 * between the two never leaves an object that looks foreign or one that looks ours but is not.
 */

/* The marker in a lab pool's directory: "lab=NAME\nkey=pool\n". */
#define POOL_MARKER ".kvmlab-pool"
/* Beside it when kvmlab made the directory itself (then `down` removes the directory too). */
#define POOL_MARKER_MADE ".kvmlab-pool-made"

typedef struct PoolSpec {
    char *name; /* <lab>-pool */
    char *path; /* its directory */
} PoolSpec;

typedef struct ImageSpec {
    const LabImage *image; /* borrowed from the lab */
    char *store_name;
    char *base_dir; /* the lab file's directory, for relative paths */
} ImageSpec;

typedef struct VolumeSpec {
    char *pool;           /* the lab pool's name */
    char *pool_path;      /* its directory */
    char *volume;         /* file name in the pool: "<node>-<n>.qcow2" */
    char *backing;        /* the base's path: a store image or a disk's content file; NULL: empty */
    char *backing_format; /* the base's format (qemu-img info's for a content file), NULL */
    char *image;          /* the base's store name when it is a store image, else NULL */
    uint64_t capacity;    /* bytes; 0: the base's own size */
} VolumeSpec;

/* The pool XML and volume XML kvmlab defines (pure). New strings, NULL on OOM. */
char *storage_pool_xml(const char *name, const char *path);
/* @backing_format: the base's format ("qcow2" when NULL), recorded in the overlay. */
char *storage_volume_xml(const char *name, uint64_t capacity, const char *backing,
                         const char *backing_format);

/* The canonical spec texts the engine compares (pure). */
char *storage_pool_spec_text(const char *path);
char *storage_volume_spec_text(const char *backing, uint64_t capacity);
char *storage_image_spec_text(const LabImage *img, const char *store_name);
/* a short stable hash of a spec text */
char *storage_spec_hash(const char *spec);

/* Where lab @lab's volumes record lives: <state_root>/labs/<lab>/volumes. New string. */
char *storage_volume_record(const char *state_root, const char *lab);

/* The backends. @state_root and @lab are copied. Free the ctx with storage_backend_free(). */
typedef struct StorageCtx StorageCtx;
StorageCtx *storage_ctx_new(void *conn, const char *state_root, const char *lab);
void storage_ctx_free(StorageCtx *c);
void storage_ctx_set_progress(StorageCtx *c, ImageProgressFn fn, void *userdata);
void storage_pool_backend(StorageCtx *c, EngineBackend *ret);
void storage_image_backend(StorageCtx *c, EngineBackend *ret);
void storage_volume_backend(StorageCtx *c, EngineBackend *ret);
