/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files a lab names for its disks and CD-ROMs are: a disk's content (path:) is read
 * with `qemu-img info`, so its format is what the file is and never what its name says, and an
 * ISO must be readable. Both are asked before planning, so a missing file stops `plan` at its
 * line before anything changes. The files are only ever read.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/storage.h"

char *storage_lab_file_path(const Lab *lab, const char *path)
{
    _cleanup_free_ char *copy = lab->file ? strdup(lab->file) : NULL;
    if (lab->file && !copy)
        return NULL;
    return image_path_absolute(path, copy ? dirname(copy) : ".");
}

const DiskSource *disk_source_find(const DiskSource *list, size_t n, const char *source)
{
    for (size_t i = 0; source && i < n; i++)
        if (strcmp(list[i].source, source) == 0)
            return &list[i];
    return NULL;
}

void disk_source_list_free(DiskSource *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].source);
        free(list[i].path);
        free(list[i].format);
    }
    free(list);
}

static const char *file_of(const Lab *lab)
{
    return lab->file ? lab->file : "lab file";
}

static int cmp_source(const void *a, const void *b)
{
    return strcmp(((const DiskSource *)a)->source, ((const DiskSource *)b)->source);
}

/* Read the content @d of disk @index of @node into a new entry of @list (unless it is there). */
static int read_one(const Lab *lab, const LabNode *node, size_t index, DiskSource **list, size_t *n,
                    Error *err)
{
    const LabDisk *d = &node->disks[index];
    const DiskSource *have = disk_source_find(*list, *n, d->path);
    if (!have) {
        _cleanup_free_ char *path = storage_lab_file_path(lab, d->path);
        if (!path)
            return error_set(err, -ENOMEM, "Out of memory");
        if (access(path, R_OK) < 0)
            return error_set_errno(err, -errno, "%s:%d:%d: disk %zu of node '%s': cannot read '%s'",
                                   file_of(lab), d->content_loc.line, d->content_loc.col, index,
                                   node->name, path);
        QemuImgInfo qi = {0};
        Error qerr = ERROR_INIT;
        int r = qemu_img_info(path, &qi, &qerr);
        if (r >= 0)
            r = qemu_img_info_confined(path, &qi, &qerr);
        if (r < 0) {
            error_set(err, r, "%s:%d:%d: disk %zu of node '%s': %s", file_of(lab),
                      d->content_loc.line, d->content_loc.col, index, node->name, qerr.message);
            error_clear(&qerr);
            qemu_img_info_clear(&qi);
            return r;
        }
        DiskSource *l = reallocarray(*list, *n + 1, sizeof(**list));
        if (!l) {
            qemu_img_info_clear(&qi);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        *list = l;
        DiskSource *s = &l[(*n)++];
        *s = (DiskSource){.source = strdup(d->path),
                          .path = steal_pointer(&path),
                          .format = steal_pointer(&qi.format),
                          .virtual_size = qi.virtual_size};
        qemu_img_info_clear(&qi);
        if (!s->source || !s->format)
            return error_set(err, -ENOMEM, "Out of memory");
        have = s;
    }
    if (d->size_bytes && d->size_bytes < have->virtual_size)
        return error_set(err, -EINVAL,
                         "%s:%d:%d: disk %zu of node '%s' asks %llu bytes but its content '%s' "
                         "is %llu bytes: a disk holds its whole content; give it at least that "
                         "or leave 'size' out",
                         file_of(lab), d->loc.line, d->loc.col, index, node->name,
                         (unsigned long long)d->size_bytes, d->path,
                         (unsigned long long)have->virtual_size);
    return 0;
}

int storage_disk_sources_read(const Lab *lab, DiskSource **ret, size_t *ret_n, Error *err)
{
    DiskSource *list = NULL;
    size_t n = 0;
    int r = 0;
    for (size_t i = 0; r >= 0 && i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        for (size_t k = 0; r >= 0 && k < node->n_disks; k++)
            if (node->disks[k].path)
                r = read_one(lab, node, k, &list, &n, err);
        for (size_t k = 0; r >= 0 && k < node->n_cdroms; k++) {
            const LabCdrom *cd = &node->cdroms[k];
            if (!cd->path)
                continue;
            _cleanup_free_ char *path = storage_lab_file_path(lab, cd->path);
            if (!path)
                r = error_set(err, -ENOMEM, "Out of memory");
            else if (access(path, R_OK) < 0)
                r = error_set_errno(err, -errno,
                                    "%s:%d:%d: CD-ROM %zu of node '%s': cannot read '%s'",
                                    file_of(lab), cd->loc.line, cd->loc.col, k, node->name, path);
        }
    }
    if (r < 0) {
        disk_source_list_free(list, n);
        return r;
    }
    if (n)
        qsort(list, n, sizeof(*list), cmp_source);
    *ret = list;
    *ret_n = n;
    return 0;
}
