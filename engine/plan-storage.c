/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Planning the lab's storage (pure): its pool, the base images its nodes use from the shared
 * store, and one volume per disk: the root disk a qcow2 overlay on its base, data disks empty.
 * Data is never lost: a disk never shrinks and never changes its base; both are refused here,
 * before anything changes, with the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spectext.h"
#include "kvmlab/storage.h"
#include "kvmlab/storagepool.h"
#include "planner.h"

static void pool_spec_free(void *d)
{
    PoolSpec *s = d;
    if (!s)
        return;
    free(s->name);
    free(s->path);
    free(s);
}

static void image_spec_free(void *d)
{
    ImageSpec *s = d;
    if (!s)
        return;
    free(s->store_name);
    free(s->base_dir);
    free(s);
}

static void volume_spec_free(void *d)
{
    VolumeSpec *s = d;
    if (!s)
        return;
    free(s->pool);
    free(s->pool_path);
    free(s->volume);
    free(s->backing);
    free(s->backing_format);
    free(s->image);
    free(s);
}

/* "20 GiB", "512 MiB", "1.5 GiB": sizes as people read them. */
static void size_human(uint64_t b, char buf[32])
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(*units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%" PRIu64 " bytes", b);
    else if (v == (double)(uint64_t)v)
        snprintf(buf, 32, "%" PRIu64 " %s", (uint64_t)v, units[u]);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
}

/* The directory of the lab file, for relative paths; "." when there is none. */
static char *lab_base_dir(const Lab *lab)
{
    if (!lab->file)
        return strdup(".");
    _cleanup_free_ char *copy = strdup(lab->file);
    return copy ? strdup(dirname(copy)) : NULL;
}

static const ImageInfo *store_find(const HostState *host, const char *name)
{
    for (size_t i = 0; i < host->n_images; i++)
        if (strcmp(host->images[i].name, name) == 0)
            return &host->images[i];
    return NULL;
}

static bool image_used(const Lab *lab, const char *name)
{
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *n = &lab->nodes[i];
        for (size_t d = 0; d < (n->n_disks ? n->n_disks : 1); d++) {
            const char *img = lab_disk_image(n, d);
            if (img && strcmp(img, name) == 0)
                return true;
        }
    }
    return false;
}

/* Per lab image: its store name, and whether volumes can be made on it in this run. */
typedef struct ImagePlan {
    char *store_name;
    char *path;
    const ImageInfo *info; /* in the store already; NULL otherwise */
    bool available;
} ImagePlan;

static Resource *want_new(Plan *p, ResourceKind kind)
{
    if (plan_want_reserve(p, 1) < 0)
        return NULL;
    Resource *w = &p->want[p->n_want++];
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    return w;
}

static int finish(Resource *w, Error *err)
{
    if (!w->key || !w->name || !w->spec || !(w->hash = storage_spec_hash(w->spec)))
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
}

static int plan_pool(const Lab *lab, const HostState *host, Plan *p, const char *base_dir,
                     char **ret_name, char **ret_path, Error *err)
{
    _cleanup_free_ char *path = NULL;
    if (lab->pool && lab->pool[0] == '/')
        path = strdup(lab->pool);
    else if (lab->pool)
        path = fs_path_join(base_dir, lab->pool);
    else if (!lab->pool && asprintf(&path, "%s/labs/%s/pool", host->state_root, lab->name) < 0)
        path = NULL;
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");
    /* trailing slashes would make two spellings of one directory */
    for (size_t l = strlen(path); l > 1 && path[l - 1] == '/'; l--)
        path[l - 1] = '\0';

    const Observed *o = ours_by_key(p, RESOURCE_POOL, "pool");
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *x = &p->have[i];
        _cleanup_free_ char *xp = x->kind == RESOURCE_POOL && x->spec && !is_ours(p, x)
                                          ? spec_text_get(x->spec, "path")
                                          : NULL;
        if (xp && strcmp(xp, path) == 0)
            return error_set(err, -EEXIST,
                             "%s%s%d:%d: the lab's pool directory '%s' is already the directory of "
                             "storage pool '%s'%s%s%s; give the lab a directory of its own",
                             lab->file ? lab->file : "", lab->file ? ":" : "",
                             lab->pool ? lab->pool_loc.line : 1, lab->pool ? lab->pool_loc.col : 1,
                             path, x->name, x->lab ? " of lab '" : "", x->lab ? x->lab : "",
                             x->lab ? "'" : "");
    }
    Resource *w = want_new(p, RESOURCE_POOL);
    PoolSpec *spec = calloc(1, sizeof(*spec));
    if (!w || !spec) {
        free(spec);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    w->data = spec;
    w->data_free = pool_spec_free;
    w->key = strdup("pool");
    if (o)
        w->name = strdup(o->name);
    else if (asprintf(&w->name, "%s-pool", lab->name) < 0)
        w->name = NULL;
    w->spec = storage_pool_spec_text(path);
    spec->name = w->name ? strdup(w->name) : NULL;
    spec->path = strdup(path);
    if (asprintf(&w->note, "a directory pool in %s", path) < 0)
        w->note = NULL;
    int r = finish(w, err);
    if (r < 0 || !spec->name || !spec->path)
        return error_set(err, -ENOMEM, "Out of memory");
    /* the pool's directory is where its record says; moving it would move every disk */
    _cleanup_free_ char *old = o && o->spec ? spec_text_get(o->spec, "path") : NULL;
    if (old && strcmp(old, path) != 0)
        return error_set(err, -EPERM,
                         "%s%sThe lab's storage pool '%s' is in '%s' and the lab file now puts "
                         "it in '%s': kvmlab does not move disks; run 'kvmlab down' first or "
                         "give the old path",
                         lab->file ? lab->file : "", lab->file ? ": " : "", o->name, old, path);
    *ret_name = strdup(w->name);
    *ret_path = steal_pointer(&path);
    return *ret_name ? 0 : error_set(err, -ENOMEM, "Out of memory");
}

static int plan_image(const Lab *lab, const HostState *host, Plan *p, const LabImage *img,
                      const char *base_dir, bool want, ImagePlan *ip, Error *err)
{
    _cleanup_free_ char *store = image_store_dir(host->state_root);
    ip->store_name = image_store_name(img, base_dir);
    if (!store || !ip->store_name || asprintf(&ip->path, "%s/%s.qcow2", store, ip->store_name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    ip->info = store_find(host, ip->store_name);
    if (!want)
        return 0;
    ip->available = true;
    Resource *w = want_new(p, RESOURCE_IMAGE);
    ImageSpec *spec = calloc(1, sizeof(*spec));
    if (!w || !spec) {
        free(spec);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    w->data = spec;
    w->data_free = image_spec_free;
    spec->image = img;
    spec->store_name = strdup(ip->store_name);
    spec->base_dir = strdup(base_dir);
    w->key = strdup(img->name);
    w->name = strdup(ip->store_name);
    if (asprintf(&w->spec, "store=%s\n", ip->store_name) < 0)
        w->spec = NULL;
    int r;
    if (ip->info)
        r = asprintf(&w->note, "in the shared image store already");
    else if (img->kind == LAB_IMAGE_URL)
        r = asprintf(&w->note, "to be downloaded from %s", img->source);
    else if (img->kind == LAB_IMAGE_BUILD)
        r = asprintf(&w->note, "to be built from recipe %s (debootstrap: minutes)", img->source);
    else
        r = asprintf(&w->note, "to be imported from %s", img->source);
    if (r < 0)
        w->note = NULL;
    if (!spec->store_name || !spec->base_dir)
        return error_set(err, -ENOMEM, "Out of memory");
    return finish(w, err);
}

/* What a volume rests on: a store image, a disk's content file, or nothing (an empty disk). */
typedef struct VolumeBase {
    const char *path;       /* NULL: an empty disk */
    const char *format;     /* the base's format */
    const char *store_name; /* a store image's name, NULL for a content file */
    const char *label;      /* for messages: the lab's image key or the file as written */
    bool file;              /* a disk's content file (path:) */
    bool size_known;        /* virtual_size is known (an image in the store, a read file) */
    uint64_t virtual_size;
} VolumeBase;

static int plan_volume(const Lab *lab, Plan *p, const LabNode *node, size_t index, const char *pool,
                       const char *pool_path, const VolumeBase *base, Error *err)
{
    const LabDisk *d = index < node->n_disks ? &node->disks[index] : NULL;
    /* libvirt makes volumes in whole KiB: want what it will make, or the next plan would see a
     * bigger volume than the file asks */
    uint64_t capacity = d ? (d->size_bytes + 1023) / 1024 * 1024 : 0;
    const char *backing = base->path;
    char have_h[32], want_h[32];
    const char *file = lab->file ? lab->file : "lab file";
    LabLoc loc = d ? d->loc : node->loc;

    if (backing && base->size_known && capacity && capacity < base->virtual_size) {
        size_human(capacity, want_h);
        size_human(base->virtual_size, have_h);
        if (index == 0 && !base->file)
            return error_set(err, -EINVAL,
                             "%s:%d:%d: the root disk of node '%s' is %s but its image '%s' is "
                             "%s: a root disk holds the whole image; give it at least %s",
                             file, loc.line, loc.col, node->name, want_h, base->label, have_h,
                             have_h);
        return error_set(err, -EINVAL,
                         "%s:%d:%d: disk %zu of node '%s' is %s but its %s '%s' is %s: the disk "
                         "holds all of it; give it at least %s",
                         file, loc.line, loc.col, index, node->name, want_h,
                         base->file ? "content" : "image", base->label, have_h, have_h);
    }
    if (backing && !capacity && base->size_known)
        capacity = (base->virtual_size + 1023) / 1024 * 1024; /* libvirt's whole KiB */

    Resource *w = want_new(p, RESOURCE_VOLUME);
    VolumeSpec *spec = calloc(1, sizeof(*spec));
    if (!w || !spec) {
        free(spec);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    w->data = spec;
    w->data_free = volume_spec_free;
    if (asprintf(&w->key, "%s-%zu", node->name, index) < 0)
        w->key = NULL;
    if (asprintf(&spec->volume, "%s-%zu.qcow2", node->name, index) < 0)
        spec->volume = NULL;
    if (spec->volume && asprintf(&w->name, "%s/%s", pool, spec->volume) < 0)
        w->name = NULL;
    spec->pool = strdup(pool);
    spec->pool_path = strdup(pool_path);
    spec->backing = backing ? strdup(backing) : NULL;
    spec->backing_format = backing ? strdup(base->format) : NULL;
    spec->image = base->store_name ? strdup(base->store_name) : NULL;
    if (!w->key || !spec->volume || !spec->pool || !spec->pool_path ||
        (backing && (!spec->backing || !spec->backing_format)) ||
        (base->store_name && !spec->image))
        return error_set(err, -ENOMEM, "Out of memory");

    const Observed *o = ours_by_key(p, RESOURCE_VOLUME, w->key);
    if (o && o->live_spec) {
        _cleanup_free_ char *hf = spec_text_get(o->live_spec, "format");
        if (hf && strcmp(hf, "qcow2") != 0)
            return error_set(err, -EPERM,
                             "%s:%d:%d: disk %zu of node '%s' is a %s volume now (changed outside "
                             "kvmlab), not the qcow2 kvmlab made: making it again would lose its "
                             "data; convert it back or remove the node (or run 'kvmlab down') "
                             "first",
                             file, loc.line, loc.col, index, node->name, hf);
        _cleanup_free_ char *hb = spec_text_get(o->live_spec, "backing");
        _cleanup_free_ char *hc = spec_text_get(o->live_spec, "live.capacity");
        uint64_t have = hc ? strtoull(hc, NULL, 10) : 0;
        const char *wb = backing ? backing : "none";
        if (hb && strcmp(hb, wb) != 0)
            return error_set(err, -EPERM,
                             "%s:%d:%d: disk %zu of node '%s' was made %s%s and the lab file now "
                             "gives it %s%s: that needs a new volume and its data would be "
                             "lost; kvmlab never does that: remove the node (or run 'kvmlab "
                             "down') first",
                             file, loc.line, loc.col, index, node->name,
                             strcmp(hb, "none") ? "on the base " : "empty",
                             strcmp(hb, "none") ? hb : "", backing ? "the base " : "no base",
                             backing ? backing : "");
        if (capacity && capacity < have) {
            size_human(have, have_h);
            size_human(capacity, want_h);
            return error_set(err, -EPERM,
                             "%s:%d:%d: disk %zu of node '%s' is %s and the lab file asks %s: "
                             "a disk never shrinks (its data would be lost); give it at least "
                             "%s",
                             file, loc.line, loc.col, index, node->name, have_h, want_h, have_h);
        }
        if (!capacity)
            capacity = have;
    }
    spec->capacity = capacity;
    w->spec = storage_volume_spec_text(backing, capacity);
    char size[32] = "the image's size";
    if (capacity)
        size_human(capacity, size);
    int r;
    if (base->file)
        r = asprintf(&w->note, "%s disk, %s, an overlay on %s file %s (never written)",
                     index == 0 ? "boot" : "data", size, base->format, backing);
    else if (backing)
        r = asprintf(&w->note, "%s disk, %s, an overlay on image '%s'",
                     index == 0 ? "root" : "data", size, base->label);
    else
        r = asprintf(&w->note, "data disk, %s", size);
    if (r < 0)
        w->note = NULL;
    return finish(w, err);
}

/* A node whose image cannot be had this run (none of that name: validation refuses it first,
 * so this is a safety net): refused when it has disks already, rather than planning them
 * away. */
static int keep_node_volumes(const Lab *lab, Plan *p, const LabNode *node, const char *image,
                             Error *err)
{
    size_t l = strlen(node->name);
    for (size_t i = 0; i < p->n_have; i++) {
        const Observed *o = &p->have[i];
        if (o->kind != RESOURCE_VOLUME || !is_ours(p, o) || !o->key ||
            strncmp(o->key, node->name, l) != 0 || o->key[l] != '-' ||
            strspn(o->key + l + 1, "0123456789") != strlen(o->key + l + 1))
            continue;
        return error_set(err, -EPERM,
                         "%s:%d:%d: node '%s' has disks ('%s' ...) but image '%s' is not in "
                         "the image store, so kvmlab cannot tell what they should be; its disks "
                         "are kept: put the image back (kvmlab image build/up) or remove the node",
                         lab->file ? lab->file : "lab file", node->loc.line, node->loc.col,
                         node->name, o->name, image);
    }
    return 0;
}

int plan_storage(const Lab *lab, const HostState *host, Plan *p, Error *err)
{
    if (!lab->n_nodes)
        return 0; /* a lab of networks only has no storage */
    if (!host->storage) {
        char *note = strdup("the nodes' disks are not made: kvmlab makes storage only with a "
                            "libvirt daemon on this machine (the sandbox or qemu:///system)");
        return add_note(p, note) < 0 ? error_set(err, -ENOMEM, "Out of memory") : 0;
    }
    _cleanup_free_ char *base_dir = lab_base_dir(lab);
    _cleanup_free_ char *pool = NULL, *pool_path = NULL;
    ImagePlan *ips = calloc(lab->n_images + 1, sizeof(*ips));
    int r = 0;
    if (!base_dir || !ips) {
        free(ips);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    /* a pool only when some node gets a disk in this run */
    bool any = false;
    for (size_t i = 0; i < lab->n_nodes && !any; i++) {
        const char *img = lab_disk_image(&lab->nodes[i], 0);
        any = lab_disk_path(&lab->nodes[i], 0) || (img && lab_find_image(lab, img));
    }
    if (any)
        r = plan_pool(lab, host, p, base_dir, &pool, &pool_path, err);
    for (size_t i = 0; r >= 0 && i < lab->n_images; i++) {
        if (!image_used(lab, lab->images[i].name))
            continue;
        r = plan_image(lab, host, p, &lab->images[i], base_dir, any, &ips[i], err);
    }
    for (size_t i = 0; r >= 0 && i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        size_t n = node->n_disks ? node->n_disks : 1;
        VolumeBase *bases = calloc(n, sizeof(*bases));
        const char *missing = NULL;
        if (!bases) {
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        for (size_t d = 0; r >= 0 && d < n && !missing; d++) {
            const char *img = lab_disk_image(node, d);
            const char *path = lab_disk_path(node, d);
            if (img) {
                size_t k = 0;
                while (k < lab->n_images && strcmp(lab->images[k].name, img) != 0)
                    k++;
                if (k == lab->n_images || !ips[k].available) {
                    missing = img;
                    break;
                }
                bases[d] =
                        (VolumeBase){.path = ips[k].path,
                                     .format = "qcow2",
                                     .store_name = ips[k].store_name,
                                     .label = img,
                                     .size_known = ips[k].info != NULL,
                                     .virtual_size = ips[k].info ? ips[k].info->virtual_size : 0};
            } else if (path) {
                const DiskSource *src =
                        disk_source_find(host->disk_sources, host->n_disk_sources, path);
                const LabLoc l = node->disks[d].content_loc;
                if (!src)
                    /* observation reads every content file before planning */
                    r = error_set(err, -ENOENT,
                                  "%s:%d:%d: disk %zu of node '%s': '%s' was not read before "
                                  "planning",
                                  lab->file ? lab->file : "lab file", l.line, l.col, d, node->name,
                                  path);
                else
                    bases[d] = (VolumeBase){.path = src->path,
                                            .format = src->format,
                                            .label = path,
                                            .file = true,
                                            .size_known = true,
                                            .virtual_size = src->virtual_size};
            }
        }
        if (r >= 0 && missing)
            /* no image to make disks on this run: disks the node has already stay as they
             * are, never deleted for it */
            r = keep_node_volumes(lab, p, node, missing, err);
        for (size_t d = 0; r >= 0 && !missing && d < n; d++)
            r = plan_volume(lab, p, node, d, pool, pool_path, &bases[d], err);
        free(bases);
    }
    for (size_t i = 0; i < lab->n_images; i++) {
        free(ips[i].store_name);
        free(ips[i].path);
    }
    free(ips);
    return r;
}

/* The node of @lab whose disk volume key @key is ("a" for "a-2"), or NULL. */
static const LabNode *node_of_key(const Lab *lab, const char *key)
{
    for (size_t i = 0; i < lab->n_nodes; i++) {
        size_t l = strlen(lab->nodes[i].name);
        if (strncmp(key, lab->nodes[i].name, l) == 0 && key[l] == '-' && key[l + 1] &&
            strspn(key + l + 1, "0123456789") == strlen(key + l + 1))
            return &lab->nodes[i];
    }
    return NULL;
}

int plan_storage_drift(const Lab *lab, const HostState *host, Plan *p, Error *err)
{
    for (size_t i = 0; i < p->n_actions; i++) {
        Action *a = &p->actions[i];
        const LabNode *node = a->kind == RESOURCE_VOLUME && a->type == ACTION_DELETE && a->have->key
                                      ? node_of_key(lab, a->have->key)
                                      : NULL;
        if (node && !host->delete_disks)
            /* disks are matched by their place in the list: taking one out of the middle would
             * delete the last one's data, so only when asked */
            return error_set(err, -EPERM,
                             "%s:%d:%d: node '%s' lists %zu disk%s and has '%s' beyond them: "
                             "it and the data on it would be deleted. Disks are matched by their "
                             "place in the list, so taking one out of the middle deletes the "
                             "last one; to delete it, run 'kvmlab up --delete-disks'",
                             lab->file ? lab->file : "lab file", node->loc.line, node->loc.col,
                             node->name, node->n_disks ? node->n_disks : 1,
                             node->n_disks == 1 || !node->n_disks ? "" : "s", a->have->key);
        if (a->kind == RESOURCE_VOLUME && a->type == ACTION_DELETE && a->have->key) {
            char *reason = NULL;
            if (asprintf(&reason,
                         "'%s' is no longer in the lab file: the volume and the data on it are "
                         "deleted",
                         a->have->key) < 0)
                return error_set(err, -ENOMEM, "Out of memory");
            free(a->reason);
            a->reason = reason;
            continue;
        }
        if (a->kind != RESOURCE_VOLUME || a->type != ACTION_CREATE || !host->volume_record)
            continue;
        const VolumeSpec *spec = a->want->data;
        _cleanup_free_ char *needle = NULL;
        if (asprintf(&needle, "\n%s\n", spec->volume) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        if (!strstr(host->volume_record, needle))
            continue;
        char *reason = NULL;
        if (asprintf(&reason,
                     "drift: '%s' is in kvmlab's record and missing (deleted outside kvmlab, or a "
                     "run stopped before making it); made again %s "
                     "(what it held is gone)",
                     a->want->key, spec->backing ? "from its image" : "empty") < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        free(a->reason);
        a->reason = reason;
        a->drift = true;
    }
    return 0;
}
