/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/addr.h"
#include "kvmlab/error.h"

/*
 * The lab model: what lab.yaml says, parsed and validated (format v1). Pure data: nothing here
 * touches the host. Every element remembers where it came from (LabLoc) so later stages (plan,
 * host checks) can point at the line that caused a problem.
 */

#define LAB_NAME_MAX 12

typedef struct LabLoc {
    int line; /* 1-based; 0 when unknown */
    int col;  /* 1-based */
} LabLoc;

/* One located problem in a lab file. */
typedef struct LabDiag {
    LabLoc loc;
    char *message; /* whole sentence without the location prefix */
} LabDiag;

typedef struct LabDiags {
    char *file; /* path as given by the user */
    LabDiag *items;
    size_t n;
} LabDiags;

typedef enum VmnetType {
    VMNET_NAT,
    VMNET_HOSTONLY,
    VMNET_BRIDGED,
    VMNET_ISOLATED,
} VmnetType;

typedef enum VmnetBackend {
    VMNET_BACKEND_LIBVIRT,
    VMNET_BACKEND_BRIDGE,
} VmnetBackend;

typedef enum LabFirewall {
    LAB_FIREWALL_WARN,  /* plan and up name what drops and the rule that would help */
    LAB_FIREWALL_ALLOW, /* up adds those rules (down removes them) */
} LabFirewall;

typedef enum LabProto {
    LAB_PROTO_TCP,
    LAB_PROTO_UDP,
} LabProto;

typedef struct LabReservation {
    MacAddr mac;
    uint32_t ip;
    LabLoc loc;
} LabReservation;

typedef struct LabPortForward {
    LabProto proto;
    uint16_t host_port;
    char *node; /* node name (an expanded name such as worker-1, or a base name with count 1) */
    uint16_t port;
    LabLoc loc;
} LabPortForward;

typedef struct LabNetwork {
    char *name; /* key in the file: vmnet0..vmnet255 or any [a-z][a-z0-9-]* */
    VmnetType type;
    VmnetBackend backend;
    bool has_subnet; /* false: the planner picks a free /24 */
    Ipv4Net subnet;
    bool has_dhcp_range; /* false: the VMware plan, N.128-N.254 */
    uint32_t dhcp_start, dhcp_end;
    uint32_t lease_seconds; /* 0: the VMware default (1800 s) */
    char *interface;        /* bridged: the host NIC or bridge */
    bool macvtap;           /* bridged: guests on a macvtap of the NIC, no host change */
    LabLoc backend_loc;     /* where 'backend' is written (line 0: not written) */
    LabReservation *reservations;
    size_t n_reservations;
    LabPortForward *port_forwards;
    size_t n_port_forwards;
    LabLoc loc;
} LabNetwork;

typedef enum LabImageKind {
    LAB_IMAGE_BUILD,
    LAB_IMAGE_PATH,
    LAB_IMAGE_URL,
} LabImageKind;

typedef struct LabImage {
    char *name;
    LabImageKind kind;
    char *source; /* build recipe name, file path or URL */
    char *os;     /* osinfo short id, may be NULL */
    char *sha256; /* URL images: lower-case hex, may be NULL */
    LabLoc loc;
    LabLoc os_loc; /* the os: value, when given */
} LabImage;

typedef enum LabRole {
    LAB_ROLE_NONE,
    LAB_ROLE_CONTROL_PLANE,
    LAB_ROLE_WORKER,
} LabRole;

/* How a node's guest runs: LAB_ACCEL_UNSET (the file says nothing: the lab's, else auto). */
typedef enum LabAccel {
    LAB_ACCEL_UNSET,
    LAB_ACCEL_AUTO, /* kvm when the hypervisor offers it; a guest silent under kvm goes to tcg */
    LAB_ACCEL_KVM,
    LAB_ACCEL_TCG,
} LabAccel;

/* kubernetes.install_packages */
typedef enum LabInstallPackages {
    LAB_INSTALL_AUTO,  /* install when the guest reaches the repository, else say so */
    LAB_INSTALL_TRUE,  /* an unreachable repository is an error */
    LAB_INSTALL_FALSE, /* skip (the image carries them, or no repository is reachable) */
} LabInstallPackages;

typedef struct LabNic {
    char *network; /* a key of Lab.networks */
    bool has_ip;
    uint32_t ip;
    bool has_mac;
    MacAddr mac;       /* derived from lab/node/index when not given */
    const char *model; /* static string: virtio, e1000, e1000e, rtl8139, pcnet, vmxnet3; NULL:
                          chosen from the guest's OS and machine */
    LabLoc loc;
} LabNic;

typedef struct LabDisk {
    uint64_t size_bytes; /* 0: the size of its content (a disk with path or image) */
    char *bus;           /* NULL: chosen by storage/ from os, machine and hypervisor */
    /* its content: a file of any format qemu-img reads, as written (relative: to the lab
     * file's directory), under a qcow2 overlay that kvmlab makes and the file is never written;
     * or a key of Lab.images; both NULL: an empty disk (disk 0: the node's image) */
    char *path;
    char *image;
    /* VMware's controller of the disk (lsilogic, lsisas1068, pvscsi, buslogic, sata, ide,
     * nvme): a hint for the bus choice, NULL */
    char *controller;
    LabLoc loc;
    LabLoc content_loc; /* the path: or image: value, when given */
} LabDisk;

typedef enum LabFirmware {
    LAB_FIRMWARE_BIOS,
    LAB_FIRMWARE_EFI,
} LabFirmware;

/* A CD-ROM drive of a node: an ISO file attached read-only, or an empty drive. */
typedef struct LabCdrom {
    char *path; /* as written (relative: to the lab file's directory); NULL: empty drive */
    LabLoc loc;
} LabCdrom;

/* A node after `count` expansion: count: 2 of "worker" gives worker-1 and worker-2. */
typedef struct LabNode {
    char *name;
    char *base_name; /* the name in the file */
    unsigned index;  /* 1..count, 0 when count was not given */
    LabRole role;
    char *image;   /* a key of Lab.images; NULL when disk 0 names its own content */
    char *os;      /* override of the image's os, may be NULL */
    char *machine; /* pc | q35 | other QEMU machine, may be NULL */
    unsigned cpus;
    uint64_t memory_mib;
    LabDisk *disks;
    size_t n_disks;
    LabNic *nics;
    size_t n_nics;
    LabCdrom *cdroms; /* after the disks, before the cloud-init seed */
    size_t n_cdroms;
    LabFirmware firmware;
    bool secure_boot; /* only with LAB_FIRMWARE_EFI */
    LabAccel accel;   /* LAB_ACCEL_UNSET: the lab's */
    bool cloud_init;  /* false: the image has no cloud-init; ready when it has an address */
    bool start;       /* false: `up` defines it with its disks but does not start it */
    LabLoc loc;
    LabLoc os_loc; /* the os: value, when given */
} LabNode;

typedef struct LabKubernetes {
    bool present;
    char *version; /* "1.31" */
    bool has_pod_subnet;
    Ipv4Net pod_subnet;
    bool has_service_subnet;
    Ipv4Net service_subnet;
    bool bootstrap;
    char *repository;     /* apt repository URL; NULL: pkgs.k8s.io for the version */
    char *repository_key; /* its signing key's URL; NULL: <repository>/Release.key; "none" */
    LabInstallPackages install_packages;
    LabLoc loc;
} LabKubernetes;

typedef struct Lab {
    char *file; /* path the lab came from, may be NULL */
    char *name;
    char *connect; /* "sandbox", a libvirt URI, or NULL for the default */
    char *pool;    /* the lab pool's directory as the file gives it, NULL: in kvmlab's state */
    LabLoc pool_loc;
    LabAccel accel;       /* LAB_ACCEL_UNSET: auto */
    LabFirewall firewall; /* what to do about a host firewall that drops the lab's traffic */
    char *templates; /* `templates: DIR` as written (relative: to the file's directory), NULL */
    LabLoc templates_loc;
    LabNetwork *networks;
    size_t n_networks;
    LabImage *images;
    size_t n_images;
    LabNode *nodes;
    size_t n_nodes;
    LabKubernetes kubernetes;
} Lab;

/* Defaults the model applies when the file is silent. */
#define LAB_DEFAULT_CPUS       1
#define LAB_DEFAULT_MEMORY_MIB 1024
#define LAB_DEFAULT_LEASE_S    1800
#define LAB_MAX_LEASE_S        7200

/*
 * Bounds on what a lab file may ask for, so that a hostile or mistaken file costs bounded time
 * and memory: each is reported at FILE:LINE:COL naming the limit. Counts are after `count`
 * expansion.
 */
#define LAB_FILE_MAX_BYTES      (4u * 1024 * 1024)
#define LAB_NETWORKS_MAX        256
#define LAB_NODES_MAX           1024
#define LAB_NICS_PER_NODE_MAX   16
#define LAB_DISKS_PER_NODE_MAX  64
#define LAB_CDROMS_PER_NODE_MAX 8
/* values that YAML aliases may add to the file, in total (each alias counts its whole value) */
#define LAB_ALIAS_VALUES_MAX 100000
/* the parser stops collecting problems after this many and says so */
#define LAB_DIAGS_MAX 200

/*
 * Parse and validate the lab file at @path. On success stores a new Lab in *ret (free with
 * lab_free()) and returns 0. When the file has problems returns -EINVAL and fills @diags with
 * every problem found (not just the first, up to LAB_DIAGS_MAX), each located at FILE:LINE:COL;
 * a file that is larger than LAB_FILE_MAX_BYTES or not UTF-8 is such a problem. Other failures
 * return a negative errno with @err set: the file cannot be read (-EISDIR for a directory, ...),
 * or memory ran out (-ENOMEM).
 */
int lab_load_file(const char *path, Lab **ret, LabDiags *diags, Error *err);

/* As lab_load_file() for an in-memory document; @name is used as the file name in diagnostics. */
int lab_load_string(const char *name, const char *text, size_t len, Lab **ret, LabDiags *diags,
                    Error *err);

void lab_free(Lab *lab);
void lab_diags_clear(LabDiags *d);

/* Append "FILE:LINE:COL: message\n" for every diagnostic to a newly allocated string. */
char *lab_diags_format(const LabDiags *d);

const LabNetwork *lab_find_network(const Lab *lab, const char *name);
const LabNode *lab_find_node(const Lab *lab, const char *name);
const LabImage *lab_find_image(const Lab *lab, const char *name);
/* The key of Lab.images disk @index of @node rests on: the disk's image:, else for disk 0 the
 * node's image:; NULL for an empty disk or a path: disk. */
const char *lab_disk_image(const LabNode *node, size_t index);
/* The path: content of disk @index of @node, NULL when it has none. */
const char *lab_disk_path(const LabNode *node, size_t index);
const char *lab_firmware_to_string(LabFirmware f);

const char *vmnet_type_to_string(VmnetType t);
const char *vmnet_backend_to_string(VmnetBackend b);
const char *lab_proto_to_string(LabProto p);
const char *lab_role_to_string(LabRole r);
const char *lab_accel_to_string(LabAccel a);
/* The accelerator node @node runs with: its own, else the lab's, else auto. */
LabAccel lab_node_accel(const Lab *lab, const LabNode *node);

/* Parse "30m", "2h", "1800" (seconds), "1d", "1h30m". 0, -EINVAL, or -ERANGE past 32 bits. */
int lab_duration_parse(const char *s, uint32_t *ret_seconds);
/* Parse "20G", "512M", "1T", "1048576" (bytes), binary units. 0 or -EINVAL/-ERANGE. */
int lab_size_parse(const char *s, uint64_t *ret_bytes);
