/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvmlab/error.h"
#include "kvmlab/lab.h"

/*
 * Storage: what an OS can boot from (osinfo-db), what the hypervisor offers (domain
 * capabilities), the disk bus per disk with its reason, disk serials and disk XML. Everything
 * here is pure apart from os_facts_lookup(), which reads the installed osinfo-db once.
 * Pools, volumes and the shared image store build on it (storage/pool.c, storage/imagestore.c).
 */

/* ---- OS facts (storage/osdb.c, libosinfo) ---------------------------------------------- */

typedef struct OsFacts {
    char *id;        /* the id the lab file gave: "debian12" */
    char *osinfo_id; /* the osinfo-db entry the facts come from: "debian11" for debian12 on an
                        osinfo-db older than debian12 */
    char *family;    /* osinfo distro: "debian", "ubuntu", "rhel", "centos", "alpinelinux",
                        "win", ... */
    bool windows;
    bool virtio_blk;  /* the OS's own drivers cover virtio-blk (derives-from and clones followed) */
    bool virtio_scsi; /* ... virtio-scsi */
    bool virtio_net;  /* ... virtio-net */
    bool virtio1;     /* the virtio drivers speak virtio 1.0 (modern virtio-pci): virtio devices
                         on q35's PCIe ports offer nothing else, so older drivers see no disk
                         there (virt-install's rule for q35 asks the same) */
    bool q35;         /* can boot from q35's AHCI; false: XP/2003-era Windows, Linux before AHCI */
    /* why osinfo_id differs from id, e.g. "debian12 is newer than this osinfo-db (20221203):
     * treated as debian11"; NULL when the id is in the database */
    char *placed;
    /* the override-table row that changed a fact, with its source; NULL when none did */
    char *override;
} OsFacts;

/* Keep the facts of every id looked up in files under @dir (NULL: no cache), so a later process
 * need not load osinfo-db (0.4 s); keyed by the database's version and directories' times. */
void os_facts_set_cache(const char *dir);

/* The installed osinfo-db's VERSION ("20221203"), NULL when there is none. */
const char *os_db_version(void);

/*
 * Facts about osinfo short id @id. An id the database lacks is placed by family and version
 * (the newest known release of that family, or osinfo's generic linuxNNNN) and ->placed says
 * so. 0; -ENOENT when no family rule can place it (@err: "os 'x' is not known to osinfo-db
 * 20221203; did you mean 'y'?"); -ENOMEM.
 */
int os_facts_lookup(const char *id, OsFacts *ret, Error *err);
void os_facts_clear(OsFacts *f);

/* ---- what the hypervisor offers (storage/domcaps.c, pure) -------------------------------- */

typedef enum DiskBus {
    DISK_BUS_VIRTIO,
    DISK_BUS_SCSI,
    DISK_BUS_SATA,
    DISK_BUS_IDE,
    DISK_BUS_MAX,
} DiskBus;

/* "virtio", "scsi", "sata", "ide"; disk_bus_from_string() gives -1 for anything else */
const char *disk_bus_to_string(DiskBus b);
int disk_bus_from_string(const char *s);

/* One answer of virConnectGetDomainCapabilities() for one machine type. */
typedef struct HvCaps {
    char *machine;   /* the canonical machine the answer is for: "pc-q35-7.2" */
    char *requested; /* the machine asked for: "q35" */
    bool buses[DISK_BUS_MAX];
    char **scsi_models; /* SCSI controller models known to exist; NULL when the answer does not
                           list them (then only virtio-scsi is assumed) */
    size_t n_scsi_models;
} HvCaps;

/* Parse a domain capabilities document. 0 or -EINVAL with @err set. */
int hv_caps_parse(const char *xml, const char *requested_machine, HvCaps *ret, Error *err);
void hv_caps_clear(HvCaps *c);
bool hv_caps_has_scsi_model(const HvCaps *c, const char *model);

/* ---- machine type and bus choice (storage/bus.c, pure) ----------------------------------- */

typedef struct MachineChoice {
    char *machine; /* "q35", "pc", or what the file gave */
    char *reason;  /* one line */
} MachineChoice;

/*
 * The machine type of a node: the file's when given; else q35, except pc for guests that
 * cannot boot from q35's SATA (@os->q35 false), for guests whose virtio drivers predate
 * virtio 1.0 (@os->virtio1 false: pc keeps their virtio-blk usable), or when a disk asks for
 * bus ide. @os may be NULL (no OS known: a modern Linux is assumed). 0 or -ENOMEM.
 */
int storage_machine_choose(const OsFacts *os, const char *file_machine, bool wants_ide,
                           MachineChoice *ret, Error *err);
void machine_choice_clear(MachineChoice *m);

typedef struct BusRequest {
    const OsFacts *os;   /* NULL: no OS known; a modern Linux is assumed and the reason says so */
    const char *machine; /* the chosen machine type */
    const HvCaps *caps;  /* NULL: not known yet */
    const char *bus;     /* the disk's explicit bus: "virtio" ... ; NULL */
    const char *vmware_controller; /* import hint: "lsilogic", "lsisas1068", "pvscsi",
                                      "buslogic", "sata", "ide", "nvme"; NULL */
    size_t n_disks;                /* disks on the node (the seed CD-ROM not counted) */
} BusRequest;

typedef struct BusChoice {
    DiskBus bus;
    char *controller; /* NULL for virtio; "virtio-scsi" (or another SCSI model), "ahci", "ide" */
    char *reason;     /* one line: "debian11 has virtio-blk drivers (osinfo-db 20221203)" */
} BusChoice;

/* The bus of one disk. 0; -EINVAL when nothing fits (an explicit bus the machine or hypervisor
 * lacks), with a sentence in @err. */
int storage_bus_choose(const BusRequest *req, BusChoice *ret, Error *err);
void bus_choice_clear(BusChoice *c);

/* The bus of the CD-ROM (the cloud-init seed) on @machine: sata on q35, ide on pc. */
DiskBus storage_cdrom_bus(const char *machine);

/* ---- disks of a node (storage/layout.c, pure) ------------------------------------------- */

/* Longest serial an ATA or virtio disk holds. */
#define DISK_SERIAL_MAX 20

/* Serial of disk @index (0: root) of @node: "<node>-<index>", shortened to a unique form of at
 * most DISK_SERIAL_MAX bytes when longer. New string. */
char *storage_disk_serial(const char *node, size_t index);

typedef struct DiskPlan {
    size_t index; /* 0: the root disk */
    char *serial;
    uint64_t size_bytes; /* 0: the image's own size (root disk of a node without disks:) */
    BusChoice choice;
    LabLoc loc; /* the disks: entry, or the node when the root disk is implied */
} DiskPlan;

typedef struct NodeDisks {
    char *node;
    bool has_os;
    OsFacts os;
    MachineChoice machine;
    bool caps_known; /* the buses were checked against the hypervisor's answer */
    DiskPlan *disks;
    size_t n_disks;
} NodeDisks;

/*
 * Every disk of @node as the file lists them (root first; one implied root disk when the node
 * has no disks:), with serial, bus, controller and reason. @caps holds the hypervisor's answers
 * by machine (matched on ->requested or ->machine); none matching: chosen without them.
 * 0; -ENOENT/-EINVAL with @err naming the node (unknown OS, a bus that cannot be).
 */
int storage_node_disks(const Lab *lab, const LabNode *node, const HvCaps *caps, size_t n_caps,
                       NodeDisks *ret, Error *err);
void node_disks_clear(NodeDisks *d);

/*
 * The checks `validate` adds to the parser's, each at the line that caused it: an OS id no
 * family rule places (with a did-you-mean), an unknown build: recipe (at the image's line), a
 * root disk smaller than a local image's own size when it can be read without the network.
 * Appends to @diags; returns how many it added.
 */
size_t storage_lab_check(const Lab *lab, LabDiags *diags);

/* ---- what a disk's content and a CD-ROM are (storage/disksource.c) --------------------- */

/* A file a node's disk names as its content (disks: [{path: FILE}]), as qemu-img sees it. */
typedef struct DiskSource {
    char *source; /* as the lab file writes it */
    char *path;   /* absolute, cleaned of "." and ".." (storage_lab_file_path()) */
    char *format; /* what `qemu-img info` says it is ("vmdk", "qcow2", "raw"), never the name's */
    uint64_t virtual_size; /* bytes the guest sees */
} DiskSource;

/* @path as lab file @lab writes it, made absolute: relative to the file's directory, itself
 * taken against the current directory; "." and ".." cleaned without looking at the file
 * system. New string, NULL when out of memory. */
char *storage_lab_file_path(const Lab *lab, const char *path);

/*
 * What every disk content file of @lab's nodes is, read with `qemu-img info` once per file (the
 * file is only read), into *ret (sorted by ->source; *ret_n 0 gives NULL), and whether every
 * CD-ROM file can be read. A file that is missing, unreadable or not a disk image qemu-img
 * reads, a content smaller than the disk's size: asks, or an ISO that cannot be read is
 * refused at its FILE:LINE:COL with -ENOENT, -EACCES or -EINVAL before anything changes.
 */
int storage_disk_sources_read(const Lab *lab, DiskSource **ret, size_t *ret_n, Error *err);
const DiskSource *disk_source_find(const DiskSource *list, size_t n, const char *source);
void disk_source_list_free(DiskSource *list, size_t n);

/* ---- disk XML (storage/diskxml.c, pure) -------------------------------------------------- */

typedef struct DiskXml {
    const char *path;   /* file: a volume's path, the seed ISO */
    const char *format; /* "qcow2", "raw" */
    DiskBus bus;
    const char *controller; /* BusChoice.controller */
    const char *serial;     /* NULL for a CD-ROM */
    bool cdrom;             /* read-only CD-ROM; @path NULL: an empty drive */
} DiskXml;

/*
 * The <disk> elements for a domain's disks in order, then the <controller> elements they need
 * (one virtio-scsi controller for all SCSI disks, AHCI controllers as SATA ports run out), with
 * targets (vda.., sda..) and addresses assigned, as one new string in *ret. 0; -EINVAL when they cannot fit (more than 4 IDE devices) with @err set.
 */
int storage_disks_xml(const DiskXml *disks, size_t n, char **ret, Error *err);
