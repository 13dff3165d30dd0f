/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Planning the lab's nodes (pure, but for reading the templates): one domain per node with its
 * disks on their buses, its NICs with their derived MACs and reserved addresses, its cloud-init
 * seed rendered from templates/, and the accelerator it starts with. The seed's content is part
 * of the domain's spec, so a changed lab file (a new node in /etc/hosts, another key) makes the
 * node again with a new instance-id, on the same disks.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/nodedomain.h"
#include "kvmlab/storage.h"
#include "kvmlab/storagepool.h"
#include "kvmlab/vmnet.h"
#include "planner.h"

void domain_plan_free(void *p)
{
    DomainPlan *d = p;
    if (!d)
        return;
    free(d->node);
    free(d->dir);
    free(d->seed_path);
    free(d->console_log);
    seed_files_clear(&d->seed);
    free(d->xml);
    free(d->xml_tcg);
    free(d->accel_note);
    for (size_t i = 0; i < d->n_nics; i++)
        free(d->nics[i].network);
    free(d->nics);
    free(d);
}

static const Resource *want_find(const Plan *p, ResourceKind kind, const char *key)
{
    for (size_t i = 0; i < p->n_want; i++)
        if (p->want[i].kind == kind && strcmp(p->want[i].key, key) == 0)
            return &p->want[i];
    return NULL;
}

/* The address network @key reserves (or the file fixes) for @mac, 0 when none. */
static uint32_t reserved_ip(const Plan *p, const char *key, const MacAddr *mac,
                            const VmnetSpec **ret_spec)
{
    const Resource *w = want_network(p, key);
    const VmnetSpec *spec = w ? w->data : NULL;
    *ret_spec = spec;
    for (size_t i = 0; spec && i < spec->n_hosts; i++)
        if (addr_mac_equal(&spec->hosts[i].mac, mac))
            return spec->hosts[i].ip;
    return 0;
}

/* The address a node is known by: its first NIC's. */
static uint32_t node_ip(const Plan *p, const LabNode *n)
{
    const VmnetSpec *spec;
    if (!n->n_nics)
        return 0;
    return n->nics[0].has_ip ? n->nics[0].ip
                             : reserved_ip(p, n->nics[0].network, &n->nics[0].mac, &spec);
}

static const char *nic_model(const NodeDisks *nd)
{
    /* an OS without virtio-net drivers gets the emulated NIC its machine has */
    if (!nd->has_os || nd->os.virtio_net)
        return "virtio";
    return strcmp(nd->machine.machine, "pc") == 0 ? "e1000" : "e1000e";
}

typedef struct SeedCtx {
    SeedNic *nics;
    SeedHost *hosts;
    size_t n_hosts;
} SeedCtx;

/* The lab's `templates:` directory, made absolute against the lab file's directory. */
static char *templates_dir(const Lab *lab)
{
    if (!lab->templates)
        return NULL;
    if (lab->templates[0] == '/' || !lab->file)
        return strdup(lab->templates);
    _cleanup_free_ char *copy = strdup(lab->file);
    return copy ? fs_path_join(dirname(copy), lab->templates) : NULL;
}

static int render_seed(const Lab *lab, const HostState *host, const Plan *p, const LabNode *node,
                       DomainPlan *d, uint64_t *ret_hash, Error *err)
{
    _cleanup_free_ char *tdir = templates_dir(lab);
    /* `plan` before the first `up` has no secrets yet: stand-ins of the same shape (the nodes
     * do not exist then, so nothing compares against them) */
    static char token[] = "000000.0000000000000000", made[] = "(made by the first up)",
                hash[] = "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                pubkey[] = "ssh-ed25519 AAAA(made-by-the-first-up) kvmlab";
    static const LabSecrets pending = {
            .token = token,
            .ca_cert_pem = made,
            .ca_key_pem = made,
            .ca_hash = hash,
            .ssh_pubkey = pubkey,
    };
    const LabSecrets *sec = host->secrets ? host->secrets : &pending;
    _cleanup_free_ SeedNic *nics = calloc(node->n_nics + 1, sizeof(*nics));
    _cleanup_free_ SeedHost *hosts = calloc(lab->n_nodes + 1, sizeof(*hosts));
    char pod[32] = "", svc[32] = "";
    if (!nics || !hosts)
        return error_set(err, -ENOMEM, "Out of memory");
    for (size_t i = 0; i < node->n_nics; i++) {
        const LabNic *nic = &node->nics[i];
        const VmnetSpec *spec = NULL;
        SeedNic *s = &nics[i];
        s->mac = nic->mac;
        s->ip = d->nics[i].ip;
        (void)reserved_ip(p, nic->network, &nic->mac, &spec);
        s->prefix = spec && spec->has_subnet ? (unsigned)spec->subnet.prefix : 24;
        s->dhcp = !nic->has_ip;
        if (nic->has_ip && spec && spec->type == VMNET_NAT) {
            s->gateway = spec->gateway_ip;
            s->dns = spec->gateway_ip;
        }
    }
    const LabNode *cp = NULL;
    size_t nh = 0;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        uint32_t ip = node_ip(p, &lab->nodes[i]);
        if (lab->nodes[i].role == LAB_ROLE_CONTROL_PLANE && !cp)
            cp = &lab->nodes[i];
        if (ip)
            hosts[nh++] = (SeedHost){.name = lab->nodes[i].name, .ip = ip};
    }
    const LabKubernetes *k = &lab->kubernetes;
    if (k->has_pod_subnet)
        addr_cidr_format(&k->pod_subnet, pod);
    if (k->has_service_subnet)
        addr_cidr_format(&k->service_subnet, svc);
    SeedInput in = {
            .lab = lab->name,
            .node = node->name,
            .instance_id = "pending",
            .role = node->role,
            .ssh_pubkey = sec && sec->ssh_pubkey ? sec->ssh_pubkey : "",
            .nics = nics,
            .n_nics = node->n_nics,
            .hosts = hosts,
            .n_hosts = nh,
            .k8s_version = k->version ? k->version : "1.31",
            .k8s_repository = k->repository,
            .k8s_repository_key = k->repository_key,
            .install_packages = k->install_packages,
            .bootstrap = k->bootstrap && cp,
            .token = sec && sec->token ? sec->token : "",
            .ca_cert_pem = sec && sec->ca_cert_pem ? sec->ca_cert_pem : "",
            .ca_key_pem = node == cp && sec && sec->ca_key_pem ? sec->ca_key_pem : NULL,
            .ca_hash = sec && sec->ca_hash ? sec->ca_hash : "",
            .control_plane_ip = cp ? node_ip(p, cp) : 0,
            .control_plane = cp ? cp->name : NULL,
            .pod_subnet = k->has_pod_subnet ? pod : NULL,
            .service_subnet = k->has_service_subnet ? svc : NULL,
            .templates_dir = tdir,
    };
    /* the instance-id names the content: a seed that changes is a new instance to cloud-init.
     * The other nodes' addresses in /etc/hosts are left out of it: adding a node to the lab
     * must not make every other node again (they find it through the network's DNS) */
    SeedFiles first = {0};
    in.n_hosts = 0;
    int r = node_seed_render(&in, &first, err);
    in.n_hosts = nh;
    if (r < 0)
        return r;
    uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, first.meta_data);
    h = hash_fnv1a_str(h, first.network_config);
    h = hash_fnv1a_str(h, first.user_data);
    seed_files_clear(&first);
    char id[96];
    snprintf(id, sizeof(id), "%s-%s-%08llx", lab->name, node->name,
             (unsigned long long)(h & 0xffffffffULL));
    in.instance_id = id;
    *ret_hash = h;
    return node_seed_render(&in, &d->seed, err);
}

/* The disks of @node as <disk> elements: its volumes as plan-storage made them, then the seed. */
static int disks_xml(const Lab *lab, const Plan *p, const LabNode *node, const NodeDisks *nd,
                     const DomainPlan *d, FILE *spec, char **ret, Error *err)
{
    DiskXml *v = calloc(nd->n_disks + node->n_cdroms + 2, sizeof(*v));
    char **paths = calloc(nd->n_disks + node->n_cdroms + 1, sizeof(*paths));
    int r = 0;
    if (!v || !paths) {
        r = error_set(err, -ENOMEM, "Out of memory");
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < nd->n_disks; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%s-%zu", node->name, nd->disks[i].index);
        const Resource *w = want_find(p, RESOURCE_VOLUME, key);
        const VolumeSpec *vs = w ? w->data : NULL;
        if (!vs) {
            r = -ENOENT; /* its disks are not planned on this run */
            goto done;
        }
        paths[i] = fs_path_join(vs->pool_path, vs->volume);
        if (!paths[i]) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
        v[n++] = (DiskXml){.path = paths[i],
                           .format = "qcow2",
                           .bus = nd->disks[i].choice.bus,
                           .controller = nd->disks[i].choice.controller,
                           .serial = nd->disks[i].serial};
        fprintf(spec, "disk=%s,%s,%s\n", paths[i], disk_bus_to_string(nd->disks[i].choice.bus),
                nd->disks[i].serial);
    }
    /* the node's CD-ROMs, then the seed: on the bus the machine has for them */
    DiskBus cb = storage_cdrom_bus(nd->machine.machine);
    for (size_t i = 0; i < node->n_cdroms; i++) {
        const char *iso = node->cdroms[i].path;
        char **path = &paths[nd->n_disks + i];
        if (iso && !(*path = storage_lab_file_path(lab, iso))) {
            r = error_set(err, -ENOMEM, "Out of memory");
            goto done;
        }
        v[n++] = (DiskXml){.path = *path, .format = "raw", .bus = cb, .cdrom = true};
        fprintf(spec, "cdrom=%s,%s\n", *path ? *path : "empty", disk_bus_to_string(cb));
    }
    if (d->seed_path) {
        DiskBus b = cb;
        v[n++] = (DiskXml){.path = d->seed_path, .format = "raw", .bus = b, .cdrom = true};
        fprintf(spec, "cdrom=%s,%s\n", d->seed_path, disk_bus_to_string(b));
    }
    r = storage_disks_xml(v, n, ret, err);
done:
    for (size_t i = 0; paths && i < nd->n_disks + node->n_cdroms; i++)
        free(paths[i]);
    free(paths);
    free(v);
    return r;
}

/* What the node's domain was made as before, from its XML: the tcg fallback it recorded. */
static char *observed_fallback(const Plan *p, const char *key)
{
    const Observed *o = ours_by_key(p, RESOURCE_DOMAIN, key);
    DomainLive live = {0};
    Error ignore = ERROR_INIT;
    char *why = NULL;
    if (o && o->definition && node_domain_parse(o->definition, &live, &ignore) >= 0) {
        why = live.accel_fallback;
        live.accel_fallback = NULL;
    }
    domain_live_clear(&live);
    error_clear(&ignore);
    return why;
}

static int plan_node(const Lab *lab, const HostState *host, Plan *p, const LabNode *node,
                     Error *err)
{
    _cleanup_(node_disks_clear) NodeDisks nd = {0};
    DomainPlan *d = calloc(1, sizeof(*d));
    char *spec_text = NULL;
    size_t spec_len = 0;
    FILE *spec = NULL;
    _cleanup_free_ char *dxml = NULL, *uuid = NULL, *name = NULL, *kernel = NULL, *initrd = NULL,
                        *fallback = NULL;
    int r;

    if (!d)
        return error_set(err, -ENOMEM, "Out of memory");
    r = storage_node_disks(lab, node, host->caps, host->n_caps, &nd, err);
    if (r < 0)
        goto fail;
    d->node = strdup(node->name);
    d->cloud_init = node->cloud_init;
    d->start = node->start;
    d->role = node->role;
    d->cpus = node->cpus;
    d->memory_mib = node->memory_mib;
    if (asprintf(&d->dir, "%s/labs/%s/nodes/%s", host->state_root, lab->name, node->name) < 0)
        d->dir = NULL;
    d->console_log = d->dir ? fs_path_join(d->dir, "console.log") : NULL;
    d->nics = calloc(node->n_nics + 1, sizeof(*d->nics));
    name = vmnet_object_name(lab->name, node->name);
    uuid = node_uuid(lab->name, node->name);
    spec = open_memstream(&spec_text, &spec_len);
    if (!d->node || !d->dir || !d->console_log || !d->nics || !name || !uuid || !spec)
        goto oom;
    d->n_nics = node->n_nics;
    for (size_t i = 0; i < node->n_nics; i++) {
        const VmnetSpec *vs;
        d->nics[i].network = strdup(node->nics[i].network);
        if (!d->nics[i].network)
            goto oom;
        d->nics[i].mac = node->nics[i].mac;
        d->nics[i].ip = node->nics[i].has_ip
                                ? node->nics[i].ip
                                : reserved_ip(p, node->nics[i].network, &node->nics[i].mac, &vs);
    }

    /* the image: a built one boots its own kernel directly; others through their bootloader */
    const char *boot = lab_disk_image(node, 0);
    const LabImage *img = boot ? lab_find_image(lab, boot) : NULL;
    if (img && img->kind == LAB_IMAGE_BUILD) {
        _cleanup_free_ char *copy = lab->file ? strdup(lab->file) : NULL;
        _cleanup_free_ char *store = image_store_dir(host->state_root);
        _cleanup_free_ char *sname = image_store_name(img, copy ? dirname(copy) : ".");
        if (!store || !sname || asprintf(&kernel, "%s/%s.vmlinuz", store, sname) < 0 ||
            asprintf(&initrd, "%s/%s.initrd", store, sname) < 0)
            goto oom;
    }

    fprintf(spec, "name=%s\nuuid=%s\nmachine=%s\naccel=%s\ncpus=%u\nmemory=%llu\n", name, uuid,
            nd.machine.machine, lab_accel_to_string(lab_node_accel(lab, node)), node->cpus,
            (unsigned long long)node->memory_mib);
    if (kernel)
        fprintf(spec, "kernel=%s\ninitrd=%s\ncmdline=%s\n", kernel, initrd, NODE_BUILD_CMDLINE);
    /* said only when not the default, so nodes made before the key existed stay as they are */
    if (node->firmware == LAB_FIRMWARE_EFI)
        fprintf(spec, "firmware=efi%s\n", node->secure_boot ? ",secure-boot" : "");
    if (node->secure_boot && strcmp(nd.machine.machine, "q35") != 0 &&
        strncmp(nd.machine.machine, "pc-q35", 6) != 0) {
        r = error_set(err, -EINVAL,
                      "%s:%d:%d: node '%s' asks for secure boot, which needs machine 'q35' (SMM), "
                      "but it runs on '%s' (%s)",
                      lab->file ? lab->file : "lab file", node->loc.line, node->loc.col, node->name,
                      nd.machine.machine, nd.machine.reason);
        goto fail;
    }
    /* the seed is named after its content: a node made again with another seed never has its
     * old definition (undoing a failed step) pointed at the new one */
    if (node->cloud_init) {
        uint64_t seed_hash = 0;
        r = render_seed(lab, host, p, node, d, &seed_hash, err);
        if (r < 0)
            goto fail;
        if (asprintf(&d->seed_path, "%s/seed-%016llx.iso", d->dir, (unsigned long long)seed_hash) <
            0) {
            d->seed_path = NULL;
            goto oom;
        }
    }
    r = disks_xml(lab, p, node, &nd, d, spec, &dxml, err);
    if (r == -ENOENT && !error_is_set(err)) {
        /* no disks this run (storage cannot be made here): the node is not made either */
        p->n_unmade_nodes++;
        r = 0;
        goto fail;
    }
    if (r < 0)
        goto fail;

    /* the domain's NICs: the libvirt networks the lab's networks are */
    DomainNic *dn = calloc(node->n_nics + 1, sizeof(*dn));
    if (!dn)
        goto oom;
    const char *model = nic_model(&nd);
    for (size_t i = 0; i < node->n_nics; i++) {
        const Resource *w = want_network(p, node->nics[i].network);
        const VmnetSpec *vs = w ? w->data : NULL;
        char mac[MAC_STRLEN];
        /* the bridge backend's networks are Linux bridges, which any libvirt attaches to */
        bool own = w && w->kind == RESOURCE_BRIDGE && vs;
        /* a model the file names (an imported VMware NIC), else the OS's */
        const char *m = node->nics[i].model ? node->nics[i].model : model;
        dn[i] = (DomainNic){.network = own ? NULL
                                       : w ? w->name
                                           : node->nics[i].network,
                            .bridge = own ? vs->bridge : NULL,
                            .mac = node->nics[i].mac,
                            .model = m};
        if (own)
            fprintf(spec, "nic=bridge:%s,%s\nmac=%s\n", dn[i].bridge, m,
                    addr_mac_format(&node->nics[i].mac, mac));
        else
            fprintf(spec, "nic=%s,%s\nmac=%s\n", dn[i].network, m,
                    addr_mac_format(&node->nics[i].mac, mac));
    }
    fprintf(spec, "console=%s\n", d->console_log);
    if (fclose(spec) != 0) {
        spec = NULL;
        free(dn);
        goto oom;
    }
    spec = NULL;

    /* the accelerator: the node's, else the lab's, else auto */
    LabAccel accel = lab_node_accel(lab, node);
    fallback = observed_fallback(p, node->name);
    if (accel == LAB_ACCEL_KVM) {
        d->kvm = true;
        d->insist_kvm = true;
    } else if (accel == LAB_ACCEL_AUTO) {
        if (fallback) {
            d->accel_note = strdup(fallback);
        } else if (!host->kvm) {
            d->accel_note = strdup("the hypervisor does not offer kvm here: running under tcg");
        } else if (host->kvm_silent) {
            d->accel_note = strdup(host->kvm_silent);
        } else {
            d->kvm = true;
        }
    }
    DomainSpec ds = {
            .name = name,
            .uuid = uuid,
            .lab = lab->name,
            .key = node->name,
            .spec = spec_text,
            .kvm = d->kvm,
            .accel_fallback = d->accel_note,
            .cpus = node->cpus,
            .memory_mib = node->memory_mib,
            .machine = nd.machine.machine,
            .kernel = kernel,
            .initrd = initrd,
            .cmdline = kernel ? NODE_BUILD_CMDLINE : NULL,
            .efi = node->firmware == LAB_FIRMWARE_EFI,
            .secure_boot = node->secure_boot,
            .disks_xml = dxml,
            .nics = dn,
            .n_nics = node->n_nics,
            .console_log = d->console_log,
    };
    Resource *w = NULL;
    if (plan_want_reserve(p, 1) < 0) {
        free(dn);
        goto oom;
    }
    w = &p->want[p->n_want];
    memset(w, 0, sizeof(*w));
    w->kind = RESOURCE_DOMAIN;
    w->key = strdup(node->name);
    w->name = strdup(name);
    w->spec = strdup(spec_text);
    if (w->spec)
        w->hash = storage_spec_hash(w->spec);
    ds.hash = w->hash;
    if (!w->key || !w->name || !w->spec || !w->hash) {
        resource_clear(w);
        free(dn);
        goto oom;
    }
    r = node_domain_xml(&ds, &d->xml, err);
    if (r >= 0 && d->kvm && accel == LAB_ACCEL_AUTO) {
        char why[160];
        snprintf(why, sizeof(why),
                 "kvm never ran the guest here (its console stayed silent for %d s under kvm)",
                 NODE_KVM_SILENT_S);
        DomainSpec t = ds;
        t.kvm = false;
        t.accel_fallback = why;
        r = node_domain_xml(&t, &d->xml_tcg, err);
    }
    free(dn);
    if (r < 0) {
        resource_clear(w);
        goto fail;
    }
    if (asprintf(&w->note, "%u vCPU%s, %llu MiB, %s, %s%s%s%s", node->cpus,
                 node->cpus == 1 ? "" : "s", (unsigned long long)node->memory_mib,
                 nd.machine.machine, d->kvm ? "kvm" : "tcg",
                 node->role != LAB_ROLE_NONE ? ", " : "",
                 node->role != LAB_ROLE_NONE ? lab_role_to_string(node->role) : "",
                 node->start ? "" : ", not started (start: false)") < 0)
        w->note = NULL;
    w->passive = !node->start;
    w->data = d;
    w->data_free = domain_plan_free;
    p->n_want++;
    free(spec_text);
    return 0;
oom:
    r = error_set(err, -ENOMEM, "Out of memory");
fail:
    if (spec)
        fclose(spec);
    free(spec_text);
    domain_plan_free(d);
    return r;
}

int plan_nodes(const Lab *lab, const HostState *host, Plan *p, Error *err)
{
    p->n_unmade_nodes = 0;
    if (!host->storage) {
        /* no disks here, so no nodes either; plan_storage said why */
        p->n_unmade_nodes = lab->n_nodes;
        return 0;
    }
    /* a lab's own templates that are not there would silently give the installed ones */
    _cleanup_free_ char *tdir = templates_dir(lab);
    struct stat st;
    if (lab->templates && (!tdir || stat(tdir, &st) < 0 || !S_ISDIR(st.st_mode)))
        return error_set(err, -ENOENT, "%s:%d:%d: templates '%s' is not a directory%s%s%s",
                         lab->file ? lab->file : "lab file", lab->templates_loc.line,
                         lab->templates_loc.col, lab->templates, tdir ? " ('" : "",
                         tdir ? tdir : "", tdir ? "')" : "");
    for (size_t i = 0; i < lab->n_nodes; i++) {
        int r = plan_node(lab, host, p, &lab->nodes[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}
