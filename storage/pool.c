/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host side: the lab's storage pool, its volumes and its use of shared base images as engine
 * backends. All XML and spec text comes from poolxml.c; image files from imagestore.c.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spectext.h"
#include "kvmlab/storagepool.h"
#include "kvmlab/virt.h"

struct StorageCtx {
    virConnectPtr conn;
    char *state_root;
    char *lab;
    ImageProgressFn progress;
    void *userdata;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(virStoragePoolPtr, virStoragePoolFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(virStorageVolPtr, virStorageVolFree)
#define _cleanup_pool_ _cleanup_(virStoragePoolFreep)
#define _cleanup_vol_  _cleanup_(virStorageVolFreep)

StorageCtx *storage_ctx_new(void *conn, const char *state_root, const char *lab)
{
    StorageCtx *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->conn = conn;
    c->state_root = strdup(state_root);
    c->lab = strdup(lab);
    if (!c->state_root || !c->lab) {
        storage_ctx_free(c);
        return NULL;
    }
    return c;
}

void storage_ctx_free(StorageCtx *c)
{
    if (!c)
        return;
    free(c->state_root);
    free(c->lab);
    free(c);
}

void storage_ctx_set_progress(StorageCtx *c, ImageProgressFn fn, void *userdata)
{
    c->progress = fn;
    c->userdata = userdata;
}

/* ---- small readers ----------------------------------------------------------------------- */

/* A pool's persistent definition; drivers without VIR_STORAGE_XML_INACTIVE (libvirt's test
 * driver) give the one definition they have. */
static char *pool_definition(virStoragePoolPtr pool)
{
    char *xml = virStoragePoolGetXMLDesc(pool, VIR_STORAGE_XML_INACTIVE);
    if (!xml && (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT ||
                 virGetLastErrorCode() == VIR_ERR_INVALID_ARG))
        xml = virStoragePoolGetXMLDesc(pool, 0);
    return xml;
}

/* The text of the first node @expr selects in @xml, NULL when none. */
static char *xml_text(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "storage.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return NULL;
    char *out = NULL;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression((const xmlChar *)expr, ctx) : NULL;
    if (o && o->type == XPATH_STRING && o->stringval && *o->stringval)
        out = strdup((const char *)o->stringval);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return out;
}

/* The lab named by the marker in pool directory @path; NULL when there is none. */
static char *marker_lab(const char *path)
{
    _cleanup_free_ char *file = fs_path_join(path, POOL_MARKER);
    _cleanup_free_ char *text = NULL;
    if (!file || fs_read_all(file, &text, NULL, NULL) < 0)
        return NULL;
    return spec_text_get(text, "lab");
}

/* The lab that owns pool @name at @path: its marker names the lab and the pool has that lab's
 * pool name; NULL otherwise (a pool someone else defined on a lab's directory is not the lab's) */
static char *pool_owner(const char *name, const char *path)
{
    char *lab = marker_lab(path);
    size_t l = lab ? strlen(lab) : 0;
    if (lab && (strncmp(name, lab, l) != 0 || strcmp(name + l, "-pool") != 0)) {
        free(lab);
        lab = NULL;
    }
    return lab;
}

/* The lab that owns libvirt pool @pool (pool_owner() of its directory), NULL for none. */
static char *pool_lab(virStoragePoolPtr pool)
{
    _cleanup_free_ char *xml = pool_definition(pool);
    _cleanup_free_ char *path = xml ? xml_text(xml, "string(/pool/target/path)") : NULL;
    return path ? pool_owner(virStoragePoolGetName(pool), path) : NULL;
}

static int marker_write(const char *path, const char *lab, Error *err)
{
    _cleanup_free_ char *file = fs_path_join(path, POOL_MARKER);
    _cleanup_free_ char *text = NULL;
    if (!file || asprintf(&text, "lab=%s\nkey=pool\n", lab) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(file, text, 0644, err);
}

/* The names in lab @lab's volumes record, "\n"-joined with one around each. */
static char *record_read(const StorageCtx *c, const char *lab)
{
    _cleanup_free_ char *file = storage_volume_record(c->state_root, lab);
    char *text = NULL, *out = NULL;
    if (!file)
        return NULL;
    int r = fs_read_all(file, &text, NULL, NULL);
    if (r == -ENOENT)
        return strdup("\n");
    if (r < 0)
        return NULL; /* unreadable is not empty: callers refuse rather than forget names */
    if (asprintf(&out, "\n%s%s", text, *text && text[strlen(text) - 1] != '\n' ? "\n" : "") < 0)
        out = NULL;
    free(text);
    return out;
}

static bool record_has(const char *record, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = record ? strstr(record, name) : NULL; p; p = strstr(p + 1, name))
        if (p > record && p[-1] == '\n' && p[l] == '\n')
            return true;
    return false;
}

/* Add (@add) or drop volume @name in this lab's record. */
static int record_set(const StorageCtx *c, const char *name, bool add, Error *err)
{
    _cleanup_free_ char *file = storage_volume_record(c->state_root, c->lab);
    _cleanup_free_ char *old = record_read(c, c->lab);
    char *buf = NULL;
    size_t len = 0;
    if (!file || !old)
        return error_set(err, -ENOMEM, "Out of memory");
    if (add && record_has(old, name))
        return 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return error_set(err, -ENOMEM, "Out of memory");
    for (char *line = strtok(old, "\n"); line; line = strtok(NULL, "\n"))
        if (strcmp(line, name) != 0)
            fprintf(f, "%s\n", line);
    if (add)
        fprintf(f, "%s\n", name);
    fclose(f);
    _cleanup_free_ char *text = buf;
    _cleanup_free_ char *dir = NULL;
    if (!text || asprintf(&dir, "%s/labs/%s", c->state_root, c->lab) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!*text) {
        /* the last volume is gone: so is the record (and the lab's state directory when
         * nothing else is in it) */
        if (unlink(file) < 0 && errno != ENOENT)
            return error_set_errno(err, -errno, "Cannot remove '%s'", file);
        rmdir(dir);
        return 0;
    }
    int r = fs_mkdir_p(dir, 0711, err);
    return r < 0 ? r : fs_write_atomic(file, text, 0600, err);
}

/* Whether directory @path holds anything besides the marker; *ret_first names one such entry. */
static bool dir_has_others(const char *path, char **ret_first)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    bool found = false;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, POOL_MARKER) == 0 || strcmp(de->d_name, POOL_MARKER_MADE) == 0)
            continue;
        found = true;
        if (ret_first)
            *ret_first = strdup(de->d_name);
        break;
    }
    closedir(d);
    return found;
}

/* ---- the lab's pool ---------------------------------------------------------------------- */

static int pool_observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    StorageCtx *c = ctx;
    virStoragePoolPtr *pools = NULL;
    int n = virConnectListAllStoragePools(c->conn, &pools, 0);
    if (n < 0)
        return virt_error(err, "Cannot list storage pools");
    Observed *out = calloc((size_t)n + 1, sizeof(*out));
    size_t k = 0;
    int r = 0;
    if (!out) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const char *name = virStoragePoolGetName(pools[i]);
        if (strcmp(name, IMAGE_POOL_NAME) == 0)
            continue; /* the shared store: no lab's, never removed by one */
        _cleanup_free_ char *xml = pool_definition(pools[i]);
        if (!xml) {
            r = virt_error(err, "Cannot read the definition of storage pool '%s'", name);
            goto done;
        }
        Observed *o = &out[k++];
        o->kind = RESOURCE_POOL;
        o->name = strdup(name);
        o->active = virStoragePoolIsActive(pools[i]) == 1;
        int autostart = 0;
        o->autostart = virStoragePoolGetAutostart(pools[i], &autostart) == 0 && autostart;
        _cleanup_free_ char *type = xml_text(xml, "string(/pool/@type)");
        _cleanup_free_ char *path = xml_text(xml, "string(/pool/target/path)");
        if (path && type && strcmp(type, "dir") == 0) {
            o->lab = pool_owner(name, path);
            o->spec = storage_pool_spec_text(path);
            o->live_spec = o->spec ? strdup(o->spec) : NULL;
            o->hash = storage_spec_hash(o->spec);
        }
        if (o->lab)
            o->key = strdup("pool");
        o->definition = steal_pointer(&xml);
        if (!o->name || (o->lab && (!o->key || !o->spec || !o->live_spec || !o->hash))) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
    }
    *ret = steal_pointer(&out);
    *ret_n = k;
done:
    if (out) {
        for (size_t i = 0; i < k; i++)
            observed_clear(&out[i]);
        free(out);
    }
    for (int i = 0; i < n; i++)
        virStoragePoolFree(pools[i]);
    free(pools);
    return r;
}

/* Define, build, start and autostart pool @name at @path (the marker first). */
static int pool_make(StorageCtx *c, const char *name, const char *path, const char *lab, Error *err)
{
    int r = fs_mkdir_p(path, 0711, err);
    if (r < 0)
        return r;
    if (lab && (r = marker_write(path, lab, err)) < 0)
        return r;
    _cleanup_free_ char *xml = storage_pool_xml(name, path);
    if (!xml)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolDefineXML(c->conn, xml, 0);
    if (!pool)
        return virt_error(err, "Cannot define storage pool '%s'", name);
    if (virStoragePoolCreate(pool, 0) < 0) {
        r = virt_error(err, "Cannot start storage pool '%s'", name);
        virStoragePoolUndefine(pool);
        return r;
    }
    if (virStoragePoolSetAutostart(pool, 1) < 0) {
        r = virt_error(err, "Cannot mark storage pool '%s' autostart", name);
        virStoragePoolDestroy(pool);
        virStoragePoolUndefine(pool);
        return r;
    }
    return 0;
}

static int pool_create(void *ctx, const Resource *want, Error *err)
{
    StorageCtx *c = ctx;
    const PoolSpec *spec = want->data;
    struct stat st;
    bool existed = stat(spec->path, &st) == 0;
    _cleanup_free_ char *marker = fs_path_join(spec->path, POOL_MARKER);
    _cleanup_free_ char *other = marker_lab(spec->path);
    if (!marker)
        return error_set(err, -ENOMEM, "Out of memory");
    if (other && strcmp(other, c->lab) != 0)
        return error_set(err, -EEXIST,
                         "The directory '%s' is the storage pool of lab '%s' already; give lab "
                         "'%s' a directory of its own",
                         spec->path, other, c->lab);
    bool had_marker = other != NULL;
    _cleanup_free_ char *made = fs_path_join(spec->path, POOL_MARKER_MADE);
    if (!made)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = 0;
    if (!existed) {
        /* that kvmlab made the directory is written before anything else in it, so a crash
         * at any later point still lets `down` remove the directory (and only one it made) */
        r = fs_mkdir_p(spec->path, 0711, err);
        if (r >= 0)
            r = fs_write_atomic(made, "", 0644, err);
    }
    if (r >= 0)
        r = pool_make(c, spec->name, spec->path, c->lab, err);
    if (r < 0) {
        /* nothing of ours stays behind: the marker and the directory this call made */
        if (!had_marker)
            unlink(marker);
        if (!existed) {
            unlink(made);
            rmdir(spec->path);
        }
        return r;
    }
    return 0;
}

static int pool_start(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolLookupByName(c->conn, have->name);
    if (!pool)
        return virt_error(err, "Cannot find storage pool '%s'", have->name);
    if (virStoragePoolCreate(pool, 0) < 0)
        return virt_error(err, "Cannot start storage pool '%s'", have->name);
    return 0;
}

static int pool_update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    return error_set(err, -EOPNOTSUPP, "Storage pool '%s' cannot change in place", have->name);
}

static int pool_remove(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    _cleanup_free_ char *path = have->spec ? spec_text_get(have->spec, "path") : NULL;
    /* files kvmlab did not make stay, and so does their directory; the pool object goes (a
     * directory pool's undefine deletes no file) */
    bool others = path && dir_has_others(path, NULL);
    virStoragePoolPtr pool = virStoragePoolLookupByName(c->conn, have->name);
    if (!pool && virGetLastErrorCode() != VIR_ERR_NO_STORAGE_POOL)
        return virt_error(err, "Cannot find storage pool '%s'", have->name);
    int r = 0;
    if (pool) {
        if (virStoragePoolIsActive(pool) == 1 && virStoragePoolDestroy(pool) < 0)
            r = virt_error(err, "Cannot stop storage pool '%s'", have->name);
        else if (virStoragePoolUndefine(pool) < 0)
            r = virt_error(err, "Cannot undefine storage pool '%s'", have->name);
        virStoragePoolFree(pool);
    }
    if (r == 0 && path) {
        _cleanup_free_ char *marker = fs_path_join(path, POOL_MARKER);
        _cleanup_free_ char *made = fs_path_join(path, POOL_MARKER_MADE);
        bool ours = made && access(made, F_OK) == 0;
        if (made)
            unlink(made);
        if (marker)
            unlink(marker);
        /* a directory the file named and that was there before stays, as does one that holds
         * files kvmlab did not make */
        if (ours && !others && rmdir(path) < 0 && errno != ENOENT)
            r = error_set_errno(err, -errno, "Cannot remove the directory '%s' of pool '%s'", path,
                                have->name);
    }
    return r;
}

static int pool_restore(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    _cleanup_free_ char *path = have->spec ? spec_text_get(have->spec, "path") : NULL;
    if (!have->definition)
        return error_set(err, -EINVAL, "Storage pool '%s' cannot be restored", have->name);
    if (path &&
        (fs_mkdir_p(path, 0711, err) < 0 || (have->lab && marker_write(path, have->lab, err) < 0)))
        return err->code;
    virStoragePoolPtr old = virStoragePoolLookupByName(c->conn, have->name);
    if (old) {
        if (virStoragePoolIsActive(old) == 1)
            virStoragePoolDestroy(old);
        virStoragePoolFree(old);
    }
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolDefineXML(c->conn, have->definition, 0);
    if (!pool)
        return virt_error(err, "Cannot restore storage pool '%s'", have->name);
    if (have->active && virStoragePoolCreate(pool, 0) < 0)
        return virt_error(err, "Cannot start storage pool '%s' again", have->name);
    if (virStoragePoolSetAutostart(pool, have->autostart) < 0)
        return virt_error(err, "Cannot restore autostart of storage pool '%s'", have->name);
    return 0;
}

void storage_pool_backend(StorageCtx *c, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_POOL,
            .label = "pool",
            .observe = pool_observe,
            .create = pool_create,
            .start = pool_start,
            .update = pool_update,
            .remove = pool_remove,
            .restore = pool_restore,
            .ctx = c,
    };
}

/* ---- base images from the shared store --------------------------------------------------- */

static int image_observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    StorageCtx *c = ctx;
    ImageInfo *v = NULL;
    size_t n = 0, k = 0;
    int r = image_store_list(c->state_root, &v, &n, err);
    if (r < 0)
        return r;
    Observed *out = calloc(n + 1, sizeof(*out));
    if (!out)
        r = error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; r >= 0 && i < n; i++) {
        bool used = false;
        for (size_t j = 0; j < v[i].n_users; j++)
            used |= strcmp(v[i].users[j], c->lab) == 0;
        /* the store is shared: an image this lab does not use is nobody's clash */
        if (!used)
            continue;
        Observed *o = &out[k++];
        o->kind = RESOURCE_IMAGE;
        o->name = strdup(v[i].name);
        o->lab = strdup(c->lab);
        /* matched by store name: labs may call one image by different keys */
        o->key = NULL;
        if (asprintf(&o->spec, "store=%s\n", v[i].name) < 0)
            o->spec = NULL;
        o->live_spec = o->spec ? strdup(o->spec) : NULL;
        o->hash = storage_spec_hash(o->spec);
        o->definition = o->spec ? strdup(o->spec) : NULL; /* the use, for undo */
        o->active = true;
        if (!o->name || !o->lab || !o->spec || !o->live_spec || !o->hash || !o->definition)
            r = error_set(err, -ENOMEM, "Out of memory");
    }
    for (size_t i = 0; i < n; i++)
        image_info_clear(&v[i]);
    free(v);
    if (r < 0) {
        for (size_t i = 0; i < k; i++)
            observed_clear(&out[i]);
        free(out);
        return r;
    }
    *ret = out;
    *ret_n = k;
    return 0;
}

/* The store as a directory pool in this daemon, running and refreshed (new files seen). */
static int image_pool_ensure(StorageCtx *c, Error *err)
{
    _cleanup_free_ char *dir = image_store_dir(c->state_root);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolLookupByName(c->conn, IMAGE_POOL_NAME);
    if (!pool)
        return pool_make(c, IMAGE_POOL_NAME, dir, NULL, err);
    if (virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) < 0)
        return virt_error(err, "Cannot start storage pool '%s'", IMAGE_POOL_NAME);
    if (virStoragePoolRefresh(pool, 0) < 0)
        return virt_error(err, "Cannot refresh storage pool '%s'", IMAGE_POOL_NAME);
    return 0;
}

static int image_create(void *ctx, const Resource *want, Error *err)
{
    StorageCtx *c = ctx;
    const ImageSpec *spec = want->data;
    ImageInfo info = {0};
    /* a build: image runs debootstrap (minutes); the others are imported or downloaded */
    int r = spec->image->kind == LAB_IMAGE_BUILD
                    ? image_store_build(c->state_root, spec->image, c->progress, c->userdata, &info,
                                        err)
                    : image_store_import(c->state_root, spec->image, spec->base_dir, c->progress,
                                         c->userdata, &info, err);
    image_info_clear(&info);
    if (r < 0)
        return r;
    r = image_store_set_use(c->state_root, spec->store_name, c->lab, true, err);
    if (r < 0)
        return r;
    r = image_pool_ensure(c, err);
    if (r < 0)
        image_store_set_use(c->state_root, spec->store_name, c->lab, false, NULL);
    return r;
}

static int image_start(void *ctx, const Observed *have, Error *err)
{
    return image_pool_ensure(ctx, err);
}

static int image_update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    return image_pool_ensure(ctx, err);
}

/* The first volume in a pool of this lab whose backing file is @path; NULL when none. */
static char *overlay_on(StorageCtx *c, const char *path)
{
    virStoragePoolPtr *pools = NULL;
    int n = virConnectListAllStoragePools(c->conn, &pools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE);
    char *found = NULL;
    for (int i = 0; i < n; i++) {
        const char *pname = virStoragePoolGetName(pools[i]);
        _cleanup_free_ char *lab = pool_lab(pools[i]);
        virStorageVolPtr *vols = NULL;
        int nv = lab && strcmp(lab, c->lab) == 0 ? virStoragePoolListAllVolumes(pools[i], &vols, 0)
                                                 : 0;
        for (int k = 0; k < nv; k++) {
            _cleanup_free_ char *vx = found ? NULL : virStorageVolGetXMLDesc(vols[k], 0);
            _cleanup_free_ char *b = vx ? xml_text(vx, "string(/volume/backingStore/path)") : NULL;
            if (b && strcmp(b, path) == 0 &&
                asprintf(&found, "%s/%s", pname, virStorageVolGetName(vols[k])) < 0)
                found = NULL;
            virStorageVolFree(vols[k]);
        }
        free(vols);
    }
    for (int i = 0; i < n; i++)
        virStoragePoolFree(pools[i]);
    free(pools);
    return found;
}

static int image_remove(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    /* never while a disk of the lab rests on it (a delete of that disk failed): released, the
     * image could be removed from under it */
    _cleanup_free_ char *store = image_store_dir(c->state_root);
    _cleanup_free_ char *path = NULL;
    if (!store || asprintf(&path, "%s/%s.qcow2", store, have->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_free_ char *overlay = overlay_on(c, path);
    if (overlay)
        return error_set(err, -EBUSY,
                         "Image '%s' stays in use by lab '%s': volume '%s' still rests on it",
                         have->name, c->lab, overlay);
    /* released, not deleted: the store keeps it for the next lab (`kvmlab image rm`) */
    int r = image_store_set_use(c->state_root, have->name, c->lab, false, err);
    return r == -ENOENT ? 0 : r;
}

static int image_restore(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    return image_store_set_use(c->state_root, have->name, c->lab, true, err);
}

void storage_image_backend(StorageCtx *c, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_IMAGE,
            .label = "image",
            .observe = image_observe,
            .create = image_create,
            .start = image_start,
            .update = image_update,
            .remove = image_remove,
            .restore = image_restore,
            .ctx = c,
    };
}

/* ---- volumes ----------------------------------------------------------------------------- */

/* Observed volumes of one pool whose marker names lab @lab. */
static int observe_pool_volumes(StorageCtx *c, virStoragePoolPtr pool, const char *lab,
                                Observed **out, size_t *k, size_t *cap, Error *err)
{
    const char *pname = virStoragePoolGetName(pool);
    if (virStoragePoolIsActive(pool) != 1) {
        /* the lab's own pool should run (it is autostarted): started to see its volumes; one
         * that cannot start (its directory removed by hand) has none to see */
        if (strcmp(lab, c->lab) != 0 || virStoragePoolCreate(pool, 0) < 0)
            return 0;
    }
    /* what is on disk now (a volume file removed by hand), not libvirt's last listing */
    if (strcmp(lab, c->lab) == 0 && virStoragePoolRefresh(pool, 0) < 0)
        return virt_error(err, "Cannot refresh storage pool '%s'", pname);
    _cleanup_free_ char *record = record_read(c, lab);
    if (!record && strcmp(lab, c->lab) == 0)
        return error_set(err, -EIO, "Cannot read the volumes record of lab '%s'", lab);
    virStorageVolPtr *vols = NULL;
    int n = virStoragePoolListAllVolumes(pool, &vols, 0);
    if (n < 0)
        return virt_error(err, "Cannot list the volumes of storage pool '%s'", pname);
    int r = 0;
    for (int i = 0; i < n && r >= 0; i++) {
        const char *vname = virStorageVolGetName(vols[i]);
        if (strcmp(vname, POOL_MARKER) == 0 || strcmp(vname, POOL_MARKER_MADE) == 0)
            continue; /* kvmlab's own records, not disks */
        if (*k == *cap) {
            size_t ncap = *cap ? *cap * 2 : 16;
            Observed *nv = realloc(*out, ncap * sizeof(*nv));
            if (!nv) {
                r = error_set(err, -ENOMEM, "Out of memory");
                break;
            }
            *out = nv;
            *cap = ncap;
        }
        Observed *o = &(*out)[*k];
        memset(o, 0, sizeof(*o));
        (*k)++;
        o->kind = RESOURCE_VOLUME;
        o->active = true;
        if (asprintf(&o->name, "%s/%s", pname, vname) < 0) {
            o->name = NULL;
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        /* a file kvmlab did not make in the lab's pool is not the lab's */
        if (!record_has(record, vname) || !record)
            continue;
        o->lab = strdup(lab);
        size_t l = strlen(vname);
        o->key = l > 6 && strcmp(vname + l - 6, ".qcow2") == 0 ? strndup(vname, l - 6)
                                                               : strdup(vname);
        virStorageVolInfo info;
        _cleanup_free_ char *xml = virStorageVolGetXMLDesc(vols[i], 0);
        if (!xml || virStorageVolGetInfo(vols[i], &info) < 0) {
            r = virt_error(err, "Cannot read volume '%s'", o->name);
            break;
        }
        _cleanup_free_ char *backing = xml_text(xml, "string(/volume/backingStore/path)");
        _cleanup_free_ char *format = xml_text(xml, "string(/volume/target/format/@type)");
        if (asprintf(&o->live_spec, "format=%s\nbacking=%s\nlive.capacity=%llu\n",
                     format ? format : "raw", backing ? backing : "none", info.capacity) < 0)
            o->live_spec = NULL;
        o->spec = o->live_spec ? strdup(o->live_spec) : NULL;
        o->definition = o->live_spec ? strdup(o->live_spec) : NULL; /* its size, for undo */
        o->hash = storage_spec_hash(o->spec);
        if (!o->lab || !o->key || !o->spec || !o->live_spec || !o->hash || !o->definition)
            r = error_set(err, -ENOMEM, "Out of memory");
    }
    for (int i = 0; i < n; i++)
        virStorageVolFree(vols[i]);
    free(vols);
    return r;
}

static int volume_observe(void *ctx, Observed **ret, size_t *ret_n, Error *err)
{
    StorageCtx *c = ctx;
    virStoragePoolPtr *pools = NULL;
    int n = virConnectListAllStoragePools(c->conn, &pools, 0);
    if (n < 0)
        return virt_error(err, "Cannot list storage pools");
    Observed *out = NULL;
    size_t k = 0, cap = 0;
    int r = 0;
    for (int i = 0; i < n && r >= 0; i++) {
        if (strcmp(virStoragePoolGetName(pools[i]), IMAGE_POOL_NAME) == 0)
            continue;
        _cleanup_free_ char *lab = pool_lab(pools[i]);
        if (lab)
            r = observe_pool_volumes(c, pools[i], lab, &out, &k, &cap, err);
    }
    for (int i = 0; i < n; i++)
        virStoragePoolFree(pools[i]);
    free(pools);
    if (r < 0) {
        for (size_t i = 0; i < k; i++)
            observed_clear(&out[i]);
        free(out);
        return r;
    }
    *ret = out;
    *ret_n = k;
    return 0;
}

/* The pool and volume names of "<pool>/<volume>". */
static int split_name(const char *name, char **ret_pool, const char **ret_vol)
{
    const char *slash = strchr(name, '/');
    if (!slash)
        return -EINVAL;
    *ret_pool = strndup(name, (size_t)(slash - name));
    *ret_vol = slash + 1;
    return *ret_pool ? 0 : -ENOMEM;
}

static int volume_create(void *ctx, const Resource *want, Error *err)
{
    StorageCtx *c = ctx;
    const VolumeSpec *spec = want->data;
    uint64_t capacity = spec->capacity;
    if (!capacity && spec->image) {
        ImageInfo info = {0};
        int r = image_store_lookup(c->state_root, spec->image, &info, err);
        capacity = (info.virtual_size + 1023) / 1024 * 1024; /* whole KiB, as libvirt makes it */
        image_info_clear(&info);
        if (r < 0)
            return r;
    }
    if (spec->image && spec->capacity) {
        ImageInfo info = {0};
        int r = image_store_lookup(c->state_root, spec->image, &info, err);
        uint64_t base = info.virtual_size;
        image_info_clear(&info);
        if (r < 0)
            return r;
        if (capacity < base)
            return error_set(err, -EINVAL,
                             "Volume '%s' would be %" PRIu64 " bytes but its image '%s' is %" PRIu64
                             " bytes: a root disk holds the whole image; give it at least that",
                             want->name, capacity, spec->image, base);
    }
    _cleanup_free_ char *xml =
            storage_volume_xml(spec->volume, capacity, spec->backing, spec->backing_format);
    if (!xml)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolLookupByName(c->conn, spec->pool);
    if (!pool)
        return virt_error(err, "Cannot find storage pool '%s'", spec->pool);
    /* recorded first: a crash after the volume exists never leaves it looking foreign */
    int r = record_set(c, spec->volume, true, err);
    if (r < 0)
        return r;
    _cleanup_vol_ virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);
    if (!vol) {
        r = virt_error(err, "Cannot create volume '%s'", want->name);
        record_set(c, spec->volume, false, NULL);
        return r;
    }
    return 0;
}

static virStorageVolPtr volume_lookup(StorageCtx *c, const char *name, Error *err)
{
    _cleanup_free_ char *pname = NULL;
    const char *vname = NULL;
    if (split_name(name, &pname, &vname) < 0) {
        error_set(err, -EINVAL, "'%s' is not a volume name of kvmlab's", name);
        return NULL;
    }
    _cleanup_pool_ virStoragePoolPtr pool = virStoragePoolLookupByName(c->conn, pname);
    if (!pool) {
        virt_error(err, "Cannot find storage pool '%s'", pname);
        return NULL;
    }
    virStorageVolPtr vol = virStorageVolLookupByName(pool, vname);
    if (!vol && virGetLastErrorCode() != VIR_ERR_NO_STORAGE_VOL)
        virt_error(err, "Cannot find volume '%s'", name);
    return vol;
}

static int volume_resize(StorageCtx *c, const char *name, uint64_t capacity, Error *err)
{
    Error lookup = ERROR_INIT;
    _cleanup_vol_ virStorageVolPtr vol = volume_lookup(c, name, &lookup);
    if (!vol) {
        if (error_is_set(&lookup)) {
            int r = error_set(err, lookup.code, "%s", lookup.message);
            error_clear(&lookup);
            return r;
        }
        return error_set(err, -ENOENT, "Volume '%s' is gone", name);
    }
    virStorageVolInfo info;
    if (virStorageVolGetInfo(vol, &info) < 0)
        return virt_error(err, "Cannot read volume '%s'", name);
    if (info.capacity == capacity)
        return 0;
    unsigned flags = capacity < info.capacity ? VIR_STORAGE_VOL_RESIZE_SHRINK : 0;
    if (virStorageVolResize(vol, capacity, flags) < 0)
        return virt_error(err, "Cannot resize volume '%s' to %" PRIu64 " bytes", name, capacity);
    return 0;
}

static int volume_update(void *ctx, const Resource *want, const Observed *have, Error *err)
{
    const VolumeSpec *spec = want->data;
    /* the planner lets only a grow through */
    return volume_resize(ctx, have->name, spec->capacity, err);
}

static int volume_start(void *ctx, const Observed *have, Error *err)
{
    return 0; /* a volume has no running state */
}

static int volume_remove(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    Error lookup = ERROR_INIT;
    virStorageVolPtr vol = volume_lookup(c, have->name, &lookup);
    int r = 0;
    if (!vol && error_is_set(&lookup)) {
        r = error_set(err, lookup.code, "%s", lookup.message);
        error_clear(&lookup);
        return r;
    }
    if (vol) {
        if (virStorageVolDelete(vol, 0) < 0)
            r = virt_error(err, "Cannot delete volume '%s'", have->name);
        virStorageVolFree(vol);
    }
    if (r == 0) {
        const char *slash = strchr(have->name, '/');
        r = record_set(c, slash ? slash + 1 : have->name, false, err);
    }
    return r;
}

static int volume_restore(void *ctx, const Observed *have, Error *err)
{
    StorageCtx *c = ctx;
    _cleanup_free_ char *cap =
            have->live_spec ? spec_text_get(have->live_spec, "live.capacity") : NULL;
    if (!cap)
        return error_set(err, -EINVAL, "Volume '%s' cannot be restored", have->name);
    int r = volume_resize(c, have->name, strtoull(cap, NULL, 10), err);
    if (r == -ENOENT)
        error_append(err, "its data cannot be brought back");
    return r;
}

void storage_volume_backend(StorageCtx *c, EngineBackend *ret)
{
    *ret = (EngineBackend){
            .kind = RESOURCE_VOLUME,
            .label = "volume",
            .observe = volume_observe,
            .create = volume_create,
            .start = volume_start,
            .update = volume_update,
            .remove = volume_remove,
            .restore = volume_restore,
            .ctx = c,
    };
}
