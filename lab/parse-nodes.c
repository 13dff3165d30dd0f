/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lab file parser: The 'nodes' section, with count expansion.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kvmlab/cleanup.h"
#include "parser.h"

/* ---- nodes ------------------------------------------------------------------------------ */

static const char *const role_names[] = {"control-plane", "worker", NULL};
static const char *const bus_names[] = {"virtio", "scsi", "sata", "ide", NULL};

static bool machine_is_valid(const char *s)
{
    if (streq(s, "pc") || streq(s, "q35"))
        return true;
    if (strncmp(s, "pc-", 3) != 0 || !s[3])
        return false;
    for (s += 3; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
            return false;
    return true;
}

static bool machine_is_q35(const char *s)
{
    return s && (streq(s, "q35") || strncmp(s, "pc-q35", 6) == 0);
}

static void parse_memory(Ctx *c, const YNode *n, uint64_t *ret_mib)
{
    const char *s = y_text(c, n, "'memory'", "a number of MiB or a size such as '2G'");
    uint64_t mib;
    if (!s)
        return;
    if (strspn(s, "0123456789") == strlen(s)) {
        /* a plain number counts MiB, as in libvirt's <memory unit='MiB'> */
        errno = 0;
        mib = strtoull(s, NULL, 10);
        if (errno == ERANGE)
            mib = UINT64_MAX;
    } else {
        uint64_t bytes;
        int r = lab_size_parse(s, &bytes);
        if (r == -EINVAL) {
            diag(c, n->loc, "memory '%s' is not a number of MiB or a size such as '2G' or '1536M'",
                 s);
            return;
        }
        if (r < 0) {
            mib = UINT64_MAX;
        } else if (bytes % (1ULL << 20)) {
            diag(c, n->loc, "memory '%s' is not a whole number of MiB", s);
            return;
        } else {
            mib = bytes >> 20;
        }
    }
    if (mib < MEMORY_MIN_MIB)
        diag(c, n->loc, "memory '%s' is too small: a node needs at least %d MiB", s,
             MEMORY_MIN_MIB);
    else if (mib > MEMORY_MAX_MIB)
        diag(c, n->loc, "memory '%s' is more than 1 TiB", s);
    else
        *ret_mib = mib;
}

static const char *const controller_names[] = {"lsilogic", "lsisas1068", "pvscsi", "buslogic",
                                               "sata",     "ide",        "nvme",   NULL};

/* The size: of a disk into @d; false after reporting it. */
static bool parse_disk_size(Ctx *c, const YNode *size, LabDisk *d)
{
    const char *s = y_text(c, size, "disk size", "a size such as '20G'");
    int r = s ? lab_size_parse(s, &d->size_bytes) : 0;
    if (!s)
        return false; /* already reported */
    if (r == -EINVAL)
        diag(c, size->loc, "disk size '%s' is not a size such as '20G' or '512M'", s);
    else if (r < 0 || d->size_bytes > DISK_MAX_BYTES)
        diag(c, size->loc, "disk size '%s' is larger than 64 TiB", s);
    else if (d->size_bytes < DISK_MIN_BYTES)
        diag(c, size->loc,
             "disk size '%s' is smaller than 1 MiB (a plain number counts bytes; add a unit such "
             "as 'G')",
             s);
    else
        return true;
    return false;
}

/* The content of a disk (path: or image:) into @d; false after reporting a problem. */
static bool parse_disk_content(Ctx *c, const YNode *path, const YNode *image, const NodeEntry *e,
                               LabDisk *d)
{
    const char *s;
    if (path && image) {
        diag(c, image->loc,
             "a disk of %s has both 'path' and 'image': its content is one file or one image",
             e->label);
        return false;
    }
    if (path) {
        if (!(s = y_text(c, path, "disk 'path'", "a file name such as 'disk1.vmdk'")))
            return false;
        if (!*s) {
            diag(c, path->loc, "disk 'path' is empty: give a file name such as 'disk1.vmdk'");
            return false;
        }
        d->path = xstrdup(s);
        d->content_loc = path->loc;
    } else if (image) {
        if (!(s = y_str(c, image, "disk 'image'")))
            return false;
        if (!lab_find_image(c->lab, s)) {
            _cleanup_free_ const char **names = names_of(c->lab, NAMES_IMAGES);
            if (c->lab->n_images == 0)
                diag(c, image->loc,
                     "a disk of %s uses undefined image '%s'; the lab defines no "
                     "images",
                     e->label, s);
            else
                diag_suggest(c, image->loc, closest(s, names),
                             "a disk of %s uses undefined image '%s'", e->label, s);
            return false;
        }
        d->image = xstrdup(s);
        d->content_loc = image->loc;
    }
    return true;
}

static void disk_clear(LabDisk *d)
{
    free(d->bus);
    free(d->path);
    free(d->image);
    free(d->controller);
}

static void parse_disks(Ctx *c, const YNode *seq, const NodeEntry *e, const char *machine,
                        LabNode *tmpl)
{
    static const char *const keys[] = {"size", "bus", "path", "image", "controller", NULL};
    _cleanup_free_ char *where = xasprintf("in a disk of %s", e->label);

    if (!y_want_seq(c, seq, "'disks'", "a list of {size, bus, path, image, controller} mappings"))
        return;
    if (seq->n_items > LAB_DISKS_PER_NODE_MAX) {
        diag(c, seq->loc, "%s has %zu disks; a node has at most %d", e->label, seq->n_items,
             LAB_DISKS_PER_NODE_MAX);
        return;
    }
    for (size_t i = 0; i < seq->n_items; i++) {
        const YNode *item = seq->items[i];
        if (item->type != Y_MAP) {
            diag_type(c, item, "a disk",
                      "a mapping with 'size', 'path' or 'image', and optionally 'bus'");
            continue;
        }
        map_check_keys(c, item, keys, where);
        LabDisk d = {.loc = item->loc};
        const YNode *size = map_get(item, "size"), *bus = map_get(item, "bus");
        const YNode *path = map_get(item, "path"), *image = map_get(item, "image");
        const YNode *ctl = map_get(item, "controller");
        bool ok = parse_disk_content(c, path, image, e, &d);
        if (size) {
            ok = parse_disk_size(c, size, &d) && ok;
        } else if (!path && !image) {
            diag(c, item->loc,
                 "a disk needs a 'size' such as '20G', or its content: 'path' or "
                 "'image'");
            ok = false;
        }
        if (bus) {
            int b = y_enum(c, bus, "disk bus", bus_names);
            if (b < 0) {
                ok = false;
            } else if (streq(bus_names[b], "ide") && machine_is_q35(machine)) {
                diag(c, bus->loc,
                     "machine '%s' has no IDE bus; use 'sata' or 'virtio' for this disk", machine);
                ok = false;
            } else {
                d.bus = xstrdup(bus_names[b]);
            }
        }
        if (ctl) {
            int k = y_enum(c, ctl, "disk controller", controller_names);
            if (k < 0)
                ok = false;
            else
                d.controller = xstrdup(controller_names[k]);
        }
        if (ok)
            *ARRAY_PUSH(tmpl->disks, tmpl->n_disks) = d;
        else
            disk_clear(&d);
    }
}

static void parse_cdroms(Ctx *c, const YNode *seq, const NodeEntry *e, LabNode *tmpl)
{
    if (!y_want_seq(c, seq, "'cdroms'", "a list of ISO file names (null for an empty drive)"))
        return;
    if (seq->n_items > LAB_CDROMS_PER_NODE_MAX) {
        diag(c, seq->loc, "%s has %zu CD-ROM drives; a node has at most %d", e->label, seq->n_items,
             LAB_CDROMS_PER_NODE_MAX);
        return;
    }
    for (size_t i = 0; i < seq->n_items; i++) {
        const YNode *item = seq->items[i];
        LabCdrom cd = {.loc = item->loc};
        if (item->type == Y_SCALAR && y_is_null(item)) {
            *ARRAY_PUSH(tmpl->cdroms, tmpl->n_cdroms) = cd; /* an empty drive */
            continue;
        }
        const char *s = y_text(c, item, "a CD-ROM", "an ISO file name, or null for an empty drive");
        if (!s)
            continue;
        if (!*s) {
            diag(c, item->loc,
                 "a CD-ROM's file name is empty: give an ISO file, or null for an "
                 "empty drive");
            continue;
        }
        cd.path = xstrdup(s);
        *ARRAY_PUSH(tmpl->cdroms, tmpl->n_cdroms) = cd;
    }
}

/* Where a NIC's ip and mac were written, parallel to the template's nics. */
typedef struct NicLocs {
    LabLoc ip;
    LabLoc mac;
} NicLocs;

static void parse_nics(Ctx *c, const YNode *seq, const NodeEntry *e, LabNode *tmpl, NicLocs **locs)
{
    static const char *const keys[] = {"network", "ip", "mac", "model", NULL};
    /* QEMU's NIC models: virtio, and the emulated ones guests without virtio-net drivers know
     * (vmxnet3 for VMware guests with VMware Tools, pcnet for VMware's vlance) */
    static const char *const models[] = {"virtio", "e1000",   "e1000e", "rtl8139",
                                         "pcnet",  "vmxnet3", NULL};
    _cleanup_free_ char *where = xasprintf("in a NIC of %s", e->label);
    const Lab *lab = c->lab;

    if (!y_want_seq(c, seq, "'networks'",
                    "a list of network names or {network, ip, mac, model} mappings"))
        return;
    if (seq->n_items > LAB_NICS_PER_NODE_MAX) {
        diag(c, seq->loc, "%s has %zu NICs; a node has at most %d", e->label, seq->n_items,
             LAB_NICS_PER_NODE_MAX);
        return;
    }
    for (size_t i = 0; i < seq->n_items; i++) {
        const YNode *item = seq->items[i], *netn = item, *ip = NULL, *mac = NULL, *model = NULL;
        LabNic nic = {.loc = item->loc};
        bool ok = true;

        if (item->type == Y_MAP) {
            map_check_keys(c, item, keys, where);
            netn = map_get(item, "network");
            ip = map_get(item, "ip");
            mac = map_get(item, "mac");
            model = map_get(item, "model");
            if (!netn) {
                diag(c, item->loc, "a NIC needs a 'network'");
                continue;
            }
        }
        const char *name = y_str(c, netn, "a NIC's network");
        if (!name)
            continue;
        const LabNetwork *net = lab_find_network(lab, name);
        size_t net_idx = net ? (size_t)(net - lab->networks) : 0;
        if (!net && c->networks_full) {
            ok = false; /* it may be one of the networks past the limit, which were not read */
        } else if (!net) {
            _cleanup_free_ const char **names = names_of(lab, NAMES_NETWORKS);
            if (lab->n_networks == 0)
                diag(c, netn->loc,
                     "%s is attached to undefined network '%s'; the lab defines no networks",
                     e->label, name);
            else
                diag_suggest(c, netn->loc, closest(name, names),
                             "%s is attached to undefined network '%s'", e->label, name);
            ok = false;
        }
        if (ip && y_ipv4(c, ip, "IP", &nic.ip)) {
            char a[IPV4_STRLEN];
            addr_ipv4_format(nic.ip, a);
            if (e->count > 1) {
                diag(c, ip->loc,
                     "%s has count %u, so all its copies would share IP '%s'; remove 'ip' "
                     "or list the nodes one by one",
                     e->label, e->count, a);
                ok = false;
            } else if (net && c->net_aux[net_idx].type_known && net->type == VMNET_BRIDGED) {
                /* kvmlab neither hands out nor checks addresses on the LAN */
                diag(c, ip->loc,
                     "%s cannot have a fixed IP on bridged network '%s': its guests get their "
                     "addresses from the LAN; remove 'ip'",
                     e->label, name);
                ok = false;
            } else if (net && !net->has_subnet) {
                if (!c->net_aux[net_idx].subnet_bad)
                    diag(c, ip->loc, "IP '%s' needs network '%s' to have a 'subnet'", a, name);
                ok = false;
            } else if (net && !check_guest_ip(c, net, nic.ip, ip->loc, "IP")) {
                ok = false;
            }
            nic.has_ip = true;
        } else if (ip) {
            ok = false;
        }
        if (mac && y_mac(c, mac, "MAC", &nic.mac)) {
            if (e->count > 1) {
                diag(c, mac->loc,
                     "%s has count %u, so all its copies would share MAC '%s'; remove 'mac' "
                     "or list the nodes one by one",
                     e->label, e->count, mac->text);
                ok = false;
            }
            nic.has_mac = true;
        } else if (mac) {
            ok = false;
        }
        if (model) {
            int m = y_enum(c, model, "NIC model", models);
            if (m < 0)
                ok = false;
            else
                nic.model = models[m];
        }
        if (!ok)
            continue;
        nic.network = xstrdup(name);
        *ARRAY_PUSH(tmpl->nics, tmpl->n_nics) = nic;
        /* for the duplicate checks after expansion */
        *locs = xrealloc(*locs, tmpl->n_nics, sizeof(**locs));
        (*locs)[tmpl->n_nics - 1] = (NicLocs){ip ? ip->loc : nic.loc, mac ? mac->loc : nic.loc};
    }
}

static void node_template_clear(LabNode *n)
{
    free(n->name);
    for (size_t i = 0; i < n->n_disks; i++)
        disk_clear(&n->disks[i]);
    free(n->disks);
    for (size_t i = 0; i < n->n_nics; i++)
        free(n->nics[i].network);
    free(n->nics);
    for (size_t i = 0; i < n->n_cdroms; i++)
        free(n->cdroms[i].path);
    free(n->cdroms);
    free(n->image);
    free(n->os);
    free(n->machine);
}

typedef struct DerivedKey {
    const Ctx *c;
    const MacAddr *mac;
} DerivedKey;

static bool derived_eq(const void *ud, size_t entry)
{
    const DerivedKey *k = ud;
    return addr_mac_equal(&k->c->derived[entry].mac, k->mac);
}

/*
 * The MAC of NIC @nic of node @node: derived from lab, node and NIC index, so a re-created node
 * keeps its lease. The derivation keeps 24 bits, so among the 16,384 NICs a lab may have some
 * would share one: a MAC another node already derived is derived again with a salt (NIC index
 * + 1000 * k, which no real index reaches), in file order, so the result is still stable.
 */
/* Take @mac for @node (a string that outlives the Ctx) in the index of derived MACs. */
static void derived_add(Ctx *c, const MacAddr *mac, const char *node, uint64_t h)
{
    DerivedMac *d = ARRAY_PUSH(c->derived, c->n_derived);
    d->mac = *mac;
    d->node = node;
    index_add(&c->derived_index, h, c->n_derived - 1);
}

/* vmnet/netxml.c gives each libvirt bridge the MAC derived from "bridge:<key>" and NIC 0: a
 * node's NIC on the same segment must not derive it too. Call before the nodes are read. */
void reserve_bridge_macs(Ctx *c)
{
    const Lab *lab = c->lab;
    for (size_t i = 0; i < lab->n_networks; i++) {
        char *what = xasprintf("bridge:%s", lab->networks[i].name);
        *ARRAY_PUSH(c->bridge_keys, c->n_bridge_keys) = what;
        MacAddr mac = addr_mac_derive(lab->name ? lab->name : "", what, 0);
        DerivedKey key = {c, &mac};
        uint64_t h = hash_fnv1a(HASH_FNV_INIT, mac.b, sizeof(mac.b));
        if (!index_find(&c->derived_index, h, derived_eq, &key))
            derived_add(c, &mac, what, h);
    }
}

static MacAddr mac_derive(Ctx *c, const char *node, unsigned nic)
{
    const char *lab = c->lab->name ? c->lab->name : "";
    MacAddr mac = addr_mac_derive(lab, node, nic);

    for (unsigned k = 1;; k++) {
        DerivedKey key = {c, &mac};
        uint64_t h = hash_fnv1a(HASH_FNV_INIT, mac.b, sizeof(mac.b));
        const size_t *e = index_find(&c->derived_index, h, derived_eq, &key);
        /* the same name twice derives the same MAC: that is reported as a duplicate name */
        if (!e || streq(c->derived[*e].node, node)) {
            if (!e)
                derived_add(c, &mac, node, h);
            return mac;
        }
        mac = addr_mac_derive(lab, node, nic + 1000 * k);
    }
}

/* Append one expanded copy of @tmpl to the lab. */
static void node_expand(Ctx *c, const LabNode *tmpl, const NicLocs *locs, unsigned index)
{
    Lab *lab = c->lab;
    LabNode *n = ARRAY_PUSH(lab->nodes, lab->n_nodes);

    *n = *tmpl;
    n->base_name = xstrdup(tmpl->name);
    n->name = index ? xasprintf("%s-%u", tmpl->name, index) : xstrdup(tmpl->name);
    n->index = index;
    n->image = xstrdup(tmpl->image);
    n->os = xstrdup(tmpl->os);
    n->machine = xstrdup(tmpl->machine);
    n->disks = tmpl->n_disks ? xcalloc(tmpl->n_disks, sizeof(*n->disks)) : NULL;
    for (size_t i = 0; i < tmpl->n_disks; i++) {
        n->disks[i] = tmpl->disks[i];
        n->disks[i].bus = xstrdup(tmpl->disks[i].bus);
        n->disks[i].path = xstrdup(tmpl->disks[i].path);
        n->disks[i].image = xstrdup(tmpl->disks[i].image);
        n->disks[i].controller = xstrdup(tmpl->disks[i].controller);
    }
    n->cdroms = tmpl->n_cdroms ? xcalloc(tmpl->n_cdroms, sizeof(*n->cdroms)) : NULL;
    for (size_t i = 0; i < tmpl->n_cdroms; i++) {
        n->cdroms[i] = tmpl->cdroms[i];
        n->cdroms[i].path = xstrdup(tmpl->cdroms[i].path);
    }
    n->nics = tmpl->n_nics ? xcalloc(tmpl->n_nics, sizeof(*n->nics)) : NULL;
    for (size_t i = 0; i < tmpl->n_nics; i++) {
        LabNic *nic = &n->nics[i];
        *nic = tmpl->nics[i];
        nic->network = xstrdup(tmpl->nics[i].network);
        if (!nic->has_mac)
            nic->mac = mac_derive(c, n->name, (unsigned)i);
        use_mac(c, &nic->mac, locs[i].mac,
                nic->has_mac ? xasprintf("node '%s'", n->name)
                             : xasprintf("node '%s' (derived for NIC %zu)", n->name, i));
        if (nic->has_ip) {
            const LabNetwork *net = lab_find_network(lab, nic->network);
            use_ip(c, (size_t)(net - lab->networks), nic->ip, locs[i].ip,
                   xasprintf("node '%s'", n->name));
        }
    }
}

LabAccel parse_accel(Ctx *c, const YNode *v)
{
    static const char *const names[] = {"auto", "kvm", "tcg", NULL};
    int r = y_enum(c, v, "accel", names);
    return r < 0 ? LAB_ACCEL_UNSET : (LabAccel)(r + 1);
}

void parse_node(Ctx *c, const YNode *m)
{
    static const char *const keys[] = {"name",    "count",      "role",   "image",    "os",
                                       "machine", "cpus",       "memory", "disks",    "networks",
                                       "accel",   "cloud_init", "start",  "firmware", "secure_boot",
                                       "cdroms",  NULL};
    static const char *const firmware_names[] = {"bios", "efi", NULL};
    Lab *lab = c->lab;
    NodeEntry *e = ARRAY_PUSH(c->entries, c->n_entries);
    LabNode tmpl = {.cpus = LAB_DEFAULT_CPUS,
                    .memory_mib = LAB_DEFAULT_MEMORY_MIB,
                    .cloud_init = true,
                    .start = true,
                    .loc = m->loc};
    _cleanup_free_ NicLocs *locs = NULL;
    const YNode *v;
    uint64_t u;

    e->loc = m->loc;
    e->first = lab->n_nodes;
    e->count = 1;
    e->label = xasprintf("the node at line %d", m->loc.line);
    if (m->type != Y_MAP) {
        diag_type(c, m, "a node", "a mapping with at least 'name' and 'image'");
        return;
    }

    const YNode *name = map_get(m, "name");
    const char *s = name ? y_str(c, name, "node 'name'") : NULL;
    if (!name)
        diag(c, m->loc, "a node needs a 'name'");
    tmpl.name = xstrdup(s ? s : "");
    if (s) {
        /* made before the old one goes, so an allocation failure leaves no dangling label */
        char *label = xasprintf("node '%s'", s);
        free(e->label);
        e->label = label;
    }
    _cleanup_free_ char *where = xasprintf("in %s", e->label);
    map_check_keys(c, m, keys, where);

    if ((v = map_get(m, "count")) && y_uint(c, v, "'count'", 1, NODE_COUNT_MAX, &u)) {
        e->count_loc = v->loc;
        e->has_count = true;
        e->count = (unsigned)u;
    }
    if (s) {
        /* a node repeated by an alias is reported where the alias is, not at its anchor */
        e->name_loc = m->shared ? m->loc : name->loc;
        int suffix = e->has_count ? snprintf(NULL, 0, "-%u", e->count) : 0;
        if (!name_is_simple(s) || s[strlen(s) - 1] == '-')
            diag(c, name->loc,
                 "node name '%s' must start with a lower-case letter, contain only lower-case "
                 "letters, digits and '-', and not end with '-'",
                 s);
        else if (strlen(s) + (size_t)suffix > NODE_NAME_MAX)
            diag(c, name->loc,
                 suffix ? "node name '%s' is too long: with its '-N' suffix it must fit in %d "
                          "characters"
                        : "node name '%s' is longer than %d characters",
                 s, NODE_NAME_MAX);
    }
    if ((v = map_get(m, "role"))) {
        int r = y_enum(c, v, "node role", role_names);
        if (r >= 0)
            tmpl.role = (LabRole)(r + 1);
    }

    const YNode *image = map_get(m, "image");
    if (image && (s = y_str(c, image, "node 'image'"))) {
        tmpl.image = xstrdup(s);
        if (!lab_find_image(lab, s)) {
            _cleanup_free_ const char **names = names_of(lab, NAMES_IMAGES);
            if (lab->n_images == 0)
                diag(c, image->loc, "%s uses undefined image '%s'; the lab defines no images",
                     e->label, s);
            else
                diag_suggest(c, image->loc, closest(s, names), "%s uses undefined image '%s'",
                             e->label, s);
        }
    }
    if ((v = map_get(m, "os"))) {
        tmpl.os_loc = v->loc;
        check_os(c, v, &tmpl.os);
    }
    if ((v = map_get(m, "machine")) && (s = y_str(c, v, "'machine'"))) {
        if (!machine_is_valid(s))
            diag(c, v->loc,
                 "machine '%s' is not a PC machine type: use 'pc', 'q35' or a versioned 'pc-q35-*' "
                 "or 'pc-i440fx-*'",
                 s);
        else
            tmpl.machine = xstrdup(s);
    }
    if ((v = map_get(m, "cpus"))) {
        e->cpus_loc = v->loc;
        if (y_uint(c, v, "'cpus'", 1, NODE_CPUS_MAX, &u))
            tmpl.cpus = (unsigned)u;
    }
    if ((v = map_get(m, "memory"))) {
        e->memory_loc = v->loc;
        parse_memory(c, v, &tmpl.memory_mib);
    }
    if ((v = map_get(m, "accel")))
        tmpl.accel = parse_accel(c, v);
    if ((v = map_get(m, "cloud_init")))
        (void)y_bool(c, v, "node 'cloud_init'", &tmpl.cloud_init);
    if ((v = map_get(m, "start")))
        (void)y_bool(c, v, "node 'start'", &tmpl.start);
    if (!tmpl.cloud_init && tmpl.role != LAB_ROLE_NONE && (v = map_get(m, "cloud_init")))
        diag(c, v->loc,
             "%s has a role but 'cloud_init: false': the kubeadm preparation is done by cloud-init",
             e->label);
    const YNode *disks = map_get(m, "disks");
    if (disks)
        parse_disks(c, disks, e, tmpl.machine, &tmpl);
    /* the boot disk's content: the node's image, or what its first disk names */
    const YNode *d0 =
            disks && disks->type == Y_SEQ && disks->n_items && disks->items[0]->type == Y_MAP
                    ? disks->items[0]
                    : NULL;
    const YNode *d0_content = d0 ? map_get(d0, "path") : NULL;
    if (d0 && !d0_content)
        d0_content = map_get(d0, "image");
    if (image && d0_content)
        diag(c, d0_content->loc,
             "%s has an 'image' and its first disk names its content too ('%s'): the boot disk "
             "has one content; remove one of them",
             e->label, map_get(d0, "path") ? "path" : "image");
    else if (!image && !d0_content)
        diag(c, m->loc, "%s needs an 'image' (or a first disk with 'path' or 'image')", e->label);
    if ((v = map_get(m, "firmware"))) {
        int f = y_enum(c, v, "firmware", firmware_names);
        if (f >= 0)
            tmpl.firmware = (LabFirmware)f;
    }
    if ((v = map_get(m, "secure_boot")) && y_bool(c, v, "node 'secure_boot'", &tmpl.secure_boot) &&
        tmpl.secure_boot && tmpl.firmware != LAB_FIRMWARE_EFI) {
        diag(c, v->loc,
             "%s has 'secure_boot: true' without 'firmware: efi': secure boot is a "
             "feature of UEFI firmware; add 'firmware: efi'",
             e->label);
        tmpl.secure_boot = false;
    } else if (v && tmpl.secure_boot && tmpl.machine && !machine_is_q35(tmpl.machine)) {
        diag(c, v->loc,
             "%s has 'secure_boot: true' on machine '%s': secure boot needs SMM, which kvmlab "
             "gives on q35 only; use machine 'q35' or leave 'machine' out",
             e->label, tmpl.machine);
        tmpl.secure_boot = false;
    }
    if ((v = map_get(m, "cdroms")))
        parse_cdroms(c, v, e, &tmpl);
    if ((v = map_get(m, "networks")))
        parse_nics(c, v, e, &tmpl, &locs);

    /* checked before expanding, so a large count costs nothing */
    if (lab->n_nodes + e->count > LAB_NODES_MAX) {
        if (!c->nodes_full)
            diag(c, e->has_count ? e->count_loc : e->loc,
                 "%s brings the lab to %zu nodes; a lab has at most %d (after 'count')", e->label,
                 lab->n_nodes + e->count, LAB_NODES_MAX);
        c->nodes_full = true;
    } else if (!e->has_count) {
        node_expand(c, &tmpl, locs, 0);
    } else {
        for (unsigned i = 1; i <= e->count; i++)
            node_expand(c, &tmpl, locs, i);
    }
    e->n = lab->n_nodes - e->first;
    node_template_clear(&tmpl);
}
