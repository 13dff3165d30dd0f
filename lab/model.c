/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lab_network_clear(LabNetwork *n)
{
    free(n->name);
    free(n->interface);
    free(n->reservations);
    for (size_t i = 0; i < n->n_port_forwards; i++)
        free(n->port_forwards[i].node);
    free(n->port_forwards);
}

static void lab_image_clear(LabImage *img)
{
    free(img->name);
    free(img->source);
    free(img->os);
    free(img->sha256);
}

static void lab_node_clear(LabNode *node)
{
    free(node->name);
    free(node->base_name);
    free(node->image);
    free(node->os);
    free(node->machine);
    for (size_t i = 0; i < node->n_disks; i++) {
        free(node->disks[i].bus);
        free(node->disks[i].path);
        free(node->disks[i].image);
        free(node->disks[i].controller);
    }
    free(node->disks);
    for (size_t i = 0; i < node->n_nics; i++)
        free(node->nics[i].network);
    free(node->nics);
    for (size_t i = 0; i < node->n_cdroms; i++)
        free(node->cdroms[i].path);
    free(node->cdroms);
}

/* Free @lab and everything it owns. Accepts NULL. */
void lab_free(Lab *lab)
{
    if (!lab)
        return;
    free(lab->file);
    free(lab->name);
    free(lab->connect);
    free(lab->pool);
    free(lab->templates);
    for (size_t i = 0; i < lab->n_networks; i++)
        lab_network_clear(&lab->networks[i]);
    free(lab->networks);
    for (size_t i = 0; i < lab->n_images; i++)
        lab_image_clear(&lab->images[i]);
    free(lab->images);
    for (size_t i = 0; i < lab->n_nodes; i++)
        lab_node_clear(&lab->nodes[i]);
    free(lab->nodes);
    free(lab->kubernetes.version);
    free(lab->kubernetes.repository);
    free(lab->kubernetes.repository_key);
    free(lab);
}

/* Free every diagnostic and the file name; leaves @d empty and reusable. Accepts NULL. */
void lab_diags_clear(LabDiags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->items[i].message);
    free(d->items);
    free(d->file);
    d->items = NULL;
    d->n = 0;
    d->file = NULL;
}

/* One line per diagnostic, "FILE:LINE:COL: message"; "FILE: message" when the position is unknown.
 * Returns a new string (empty when there are no diagnostics), NULL on allocation failure. */
char *lab_diags_format(const LabDiags *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const char *file = d && d->file ? d->file : "<lab>";
    for (size_t i = 0; d && i < d->n; i++) {
        const LabDiag *g = &d->items[i];
        if (g->loc.line > 0)
            fprintf(f, "%s:%d:%d: %s\n", file, g->loc.line, g->loc.col, g->message);
        else
            fprintf(f, "%s: %s\n", file, g->message);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The network called @name (a key of the lab's networks), or NULL. */
const LabNetwork *lab_find_network(const Lab *lab, const char *name)
{
    for (size_t i = 0; lab && name && i < lab->n_networks; i++)
        if (strcmp(lab->networks[i].name, name) == 0)
            return &lab->networks[i];
    return NULL;
}

/* The node called @name after count expansion (worker-1, not worker), or NULL. */
const LabNode *lab_find_node(const Lab *lab, const char *name)
{
    for (size_t i = 0; lab && name && i < lab->n_nodes; i++)
        if (strcmp(lab->nodes[i].name, name) == 0)
            return &lab->nodes[i];
    return NULL;
}

/* The image called @name, or NULL. */
const LabImage *lab_find_image(const Lab *lab, const char *name)
{
    for (size_t i = 0; lab && name && i < lab->n_images; i++)
        if (strcmp(lab->images[i].name, name) == 0)
            return &lab->images[i];
    return NULL;
}

/* The lab-file spelling of @t; "unknown" for values outside the enum. */
const char *vmnet_type_to_string(VmnetType t)
{
    switch (t) {
    case VMNET_NAT:
        return "nat";
    case VMNET_HOSTONLY:
        return "hostonly";
    case VMNET_BRIDGED:
        return "bridged";
    case VMNET_ISOLATED:
        return "isolated";
    }
    return "unknown";
}

/* The lab-file spelling of @b. */
const char *vmnet_backend_to_string(VmnetBackend b)
{
    switch (b) {
    case VMNET_BACKEND_LIBVIRT:
        return "libvirt";
    case VMNET_BACKEND_BRIDGE:
        return "bridge";
    }
    return "unknown";
}

/* The lab-file spelling of @p. */
const char *lab_proto_to_string(LabProto p)
{
    switch (p) {
    case LAB_PROTO_TCP:
        return "tcp";
    case LAB_PROTO_UDP:
        return "udp";
    }
    return "unknown";
}

/* The lab-file spelling of @r; "none" when the file gave no role. */
const char *lab_role_to_string(LabRole r)
{
    switch (r) {
    case LAB_ROLE_NONE:
        return "none";
    case LAB_ROLE_CONTROL_PLANE:
        return "control-plane";
    case LAB_ROLE_WORKER:
        return "worker";
    }
    return "unknown";
}

const char *lab_accel_to_string(LabAccel a)
{
    switch (a) {
    case LAB_ACCEL_UNSET:
    case LAB_ACCEL_AUTO:
        return "auto";
    case LAB_ACCEL_KVM:
        return "kvm";
    case LAB_ACCEL_TCG:
        return "tcg";
    }
    return "auto";
}

LabAccel lab_node_accel(const Lab *lab, const LabNode *node)
{
    if (node && node->accel != LAB_ACCEL_UNSET)
        return node->accel;
    if (lab && lab->accel != LAB_ACCEL_UNSET)
        return lab->accel;
    return LAB_ACCEL_AUTO;
}

/* Read a run of decimal digits into *ret; -EINVAL when there is none, -ERANGE on overflow. */
static int parse_digits(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *p = s;
    *ret = v;
    return 0;
}

/*
 * Parse a duration: a plain number of seconds ("1800"), or one or more number+unit parts with
 * units s, m, h, d, w ("30m", "2h", "1d", "1h30m"). Returns 0, -EINVAL for bad syntax or
 * -ERANGE when the result does not fit 32 bits.
 */
int lab_duration_parse(const char *s, uint32_t *ret_seconds)
{
    uint64_t total = 0;
    const char *p = s;
    bool plain = true;

    if (!s || !*s)
        return -EINVAL;
    while (*p) {
        uint64_t v, mult;
        int r = parse_digits(&p, &v);
        if (r < 0)
            return r;
        switch (*p) {
        case 's':
            mult = 1;
            break;
        case 'm':
            mult = 60;
            break;
        case 'h':
            mult = 3600;
            break;
        case 'd':
            mult = 86400;
            break;
        case 'w':
            mult = 7 * 86400;
            break;
        case '\0':
            /* a bare number is seconds, but only on its own: "1h30" is more likely a typo */
            if (!plain)
                return -EINVAL;
            mult = 1;
            break;
        default:
            return -EINVAL;
        }
        if (*p)
            p++;
        plain = false;
        if (v > UINT32_MAX / mult)
            return -ERANGE;
        total += v * mult;
        if (total > UINT32_MAX)
            return -ERANGE;
    }
    if (ret_seconds)
        *ret_seconds = (uint32_t)total;
    return 0;
}

/*
 * Parse a size: a plain number of bytes ("1048576") or a number with a binary unit K, M, G, T
 * (case-insensitive), optionally followed by 'i' and/or 'B' ("512M", "20G", "5GiB", "1TB"), with
 * optional blanks before the unit. A lone 'B' means bytes. Returns 0, -EINVAL for bad syntax or
 * -ERANGE when the result does not fit 64 bits.
 */
int lab_size_parse(const char *s, uint64_t *ret_bytes)
{
    const char *p = s;
    uint64_t v;
    unsigned shift = 0;

    if (!s)
        return -EINVAL;
    int r = parse_digits(&p, &v);
    if (r < 0)
        return r;
    while (*p == ' ' || *p == '\t')
        p++;
    switch (*p) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    case 'B':
    case '\0':
        break;
    default:
        return -EINVAL;
    }
    if (shift > 0) {
        p++;
        if (*p == 'i')
            p++;
    }
    if (*p == 'B')
        p++;
    if (*p)
        return -EINVAL;
    if (shift > 0 && v > (UINT64_MAX >> shift))
        return -ERANGE;
    if (ret_bytes)
        *ret_bytes = v << shift;
    return 0;
}

const char *lab_disk_image(const LabNode *node, size_t index)
{
    const LabDisk *d = index < node->n_disks ? &node->disks[index] : NULL;
    if (d && (d->image || d->path))
        return d->image;
    return index == 0 ? node->image : NULL;
}

const char *lab_disk_path(const LabNode *node, size_t index)
{
    return index < node->n_disks ? node->disks[index].path : NULL;
}

const char *lab_firmware_to_string(LabFirmware f)
{
    return f == LAB_FIRMWARE_EFI ? "efi" : "bios";
}
