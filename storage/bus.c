/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pure: the machine type of a node and the bus of each disk, each with a one-line reason that
 * names the fact it rests on and where that fact comes from. The rules are virt-install's and
 * virt-v2v's:
 *   - virtio-blk when the OS has virtio-blk drivers; on q35 only when they speak virtio 1.0,
 *     because libvirt puts virtio disks on q35's PCIe root ports, where QEMU offers modern
 *     virtio only (virt-install's supports_chipset_q35() asks the same);
 *   - otherwise an emulated controller every such OS drives: SATA (AHCI) on q35, IDE on pc;
 *   - virtio-scsi when the file asks for SCSI, for more disks than virtio-blk should take
 *     (VIRTIO_BLK_DISKS_MAX), or to keep a VMware SCSI disk a SCSI disk;
 *   - never a SCSI model the hypervisor may lack: only virtio-scsi unless its answer lists more.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/storage.h"

/*
 * Each virtio-blk disk is a PCI device of its own. QEMU's advice (Hajnoczi and Lopez,
 * "Configuring virtio-blk and virtio-scsi Devices", qemu.org, 2021-01-19): prefer virtio-scsi
 * for more than 28 disks, which is about what one PCI bus holds after the devices every guest
 * has. One virtio-scsi controller holds them all.
 */
#define VIRTIO_BLK_DISKS_MAX 28

/* pc's IDE has two channels of two devices; the cloud-init seed CD-ROM takes one. */
#define IDE_DISKS_MAX 3

static bool machine_is_q35(const char *m)
{
    return m && (strcmp(m, "q35") == 0 || strncmp(m, "pc-q35", 6) == 0);
}

/* "debian11", or "debian12 (treated as debian11)" for a placed id. New string. */
static char *os_name(const OsFacts *os)
{
    char *s = NULL;
    int r = os->placed && os->osinfo_id && strcmp(os->id, os->osinfo_id) != 0
                    ? asprintf(&s, "%s (treated as %s)", os->id, os->osinfo_id)
                    : asprintf(&s, "%s", os->id);
    return r < 0 ? NULL : s;
}

/* "osinfo-db 20221203"; with @virtio1 (the fact the override table corrects) plus the
 * override row when one changed it. New string. */
static char *os_source(const OsFacts *os, bool virtio1)
{
    const char *v = os_db_version();
    char *s = NULL;
    int r = virtio1 && os->override ? asprintf(&s, "osinfo-db %s and kvmlab's override: %s",
                                               v ? v : "", os->override)
                                    : asprintf(&s, "osinfo-db%s%s", v ? " " : "", v ? v : "");
    return r < 0 ? NULL : s;
}

static int oom(Error *err)
{
    return error_set(err, -ENOMEM, "Out of memory");
}

int storage_machine_choose(const OsFacts *os, const char *file_machine, bool wants_ide,
                           MachineChoice *ret, Error *err)
{
    MachineChoice m = {0};
    int r;

    if (file_machine) {
        m.machine = strdup(file_machine);
        r = asprintf(&m.reason, "machine '%s' asked for in the lab file", file_machine);
    } else if (wants_ide) {
        m.machine = strdup("pc");
        r = asprintf(&m.reason, "pc: a disk asks for bus ide, which q35 does not have");
    } else if (!os) {
        m.machine = strdup("q35");
        r = asprintf(&m.reason, "q35: no OS given, a modern Linux is assumed");
    } else {
        _cleanup_free_ char *name = os_name(os);
        _cleanup_free_ char *src = os_source(os, os->q35);
        if (!name || !src)
            return oom(err);
        if (!os->q35) {
            m.machine = strdup("pc");
            r = asprintf(&m.reason, "pc: %s cannot boot from q35's SATA (%s lists no q35 support)",
                         name, src);
        } else if (os->virtio_blk && !os->virtio1) {
            m.machine = strdup("pc");
            r = asprintf(&m.reason,
                         "pc: %s's virtio drivers predate virtio 1.0, which q35's PCIe slots need "
                         "(%s)",
                         name, src);
        } else {
            m.machine = strdup("q35");
            r = asprintf(&m.reason, "q35: %s supports it (%s)", name, src);
        }
    }
    if (r < 0)
        m.reason = NULL;
    if (!m.machine || !m.reason) {
        machine_choice_clear(&m);
        return oom(err);
    }
    *ret = m;
    return 0;
}

void machine_choice_clear(MachineChoice *m)
{
    if (!m)
        return;
    free(m->machine);
    free(m->reason);
    *m = (MachineChoice){0};
}

/* Fill @c (bus, a copy of @controller, the formatted reason). 0 or -ENOMEM. */
static int choice_set(BusChoice *c, DiskBus bus, const char *controller, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int choice_set(BusChoice *c, DiskBus bus, const char *controller, const char *fmt, ...)
{
    va_list ap;
    c->bus = bus;
    if (controller && !(c->controller = strdup(controller)))
        return -ENOMEM;
    va_start(ap, fmt);
    int r = vasprintf(&c->reason, fmt, ap);
    va_end(ap);
    if (r < 0) {
        c->reason = NULL;
        return -ENOMEM;
    }
    return 0;
}

static const char *controller_of(DiskBus b)
{
    switch (b) {
    case DISK_BUS_SATA:
        return "ahci";
    case DISK_BUS_IDE:
        return "ide";
    case DISK_BUS_SCSI:
        return "virtio-scsi";
    case DISK_BUS_VIRTIO:
    case DISK_BUS_MAX:
        break;
    }
    return NULL;
}

static bool bus_offered(const HvCaps *caps, DiskBus b)
{
    return !caps || caps->buses[b];
}

/* virtio-scsi can be used: known to exist, or nothing known yet. */
static bool virtio_scsi_offered(const HvCaps *caps)
{
    return !caps || hv_caps_has_scsi_model(caps, "virtio-scsi");
}

/* Why a VMware SCSI controller has no twin here; NULL for a hint that is not one. */
static const char *vmware_scsi_why(const char *hint)
{
    if (!hint)
        return NULL;
    if (strcmp(hint, "lsilogic") == 0)
        return "QEMU's lsilogic is a 53C895A, not VMware's LSI 53C1030";
    if (strcmp(hint, "lsisas1068") == 0)
        return "QEMU's lsisas1068 shows the guest no disks";
    if (strcmp(hint, "buslogic") == 0)
        return "QEMU has no BusLogic controller";
    if (strcmp(hint, "pvscsi") == 0)
        return "the hypervisor is not known to have vmpvscsi";
    return NULL;
}

static int explicit_bus(const BusRequest *req, const char *name, const char *src, BusChoice *c,
                        Error *err)
{
    const OsFacts *os = req->os;
    const HvCaps *caps = req->caps;
    bool q35 = machine_is_q35(req->machine);
    int b = disk_bus_from_string(req->bus);
    const char *machine = caps && caps->machine ? caps->machine : req->machine;
    _cleanup_free_ char *caveat = NULL;
    int r = 0;

    if (b < 0)
        return error_set(err, -EINVAL, "disk bus '%s' is not one of virtio, scsi, sata or ide",
                         req->bus);
    if (b == DISK_BUS_IDE && q35)
        return error_set(err, -EINVAL,
                         "bus 'ide' does not exist on machine '%s': use 'sata' or 'virtio'",
                         req->machine);
    if (!bus_offered(caps, (DiskBus)b))
        return error_set(err, -EINVAL, "bus '%s' is not offered by the hypervisor for machine '%s'",
                         req->bus, machine);
    if (b == DISK_BUS_SCSI && !virtio_scsi_offered(caps))
        return error_set(err, -EINVAL,
                         "bus 'scsi' needs a virtio-scsi controller, which the hypervisor does "
                         "not offer for machine '%s'",
                         machine);

    /* the file wins; say what may go wrong */
    if (os && b == DISK_BUS_VIRTIO && !os->virtio_blk)
        r = asprintf(&caveat, "; %s has no virtio-blk drivers (%s)", name, src);
    else if (os && b == DISK_BUS_VIRTIO && q35 && !os->virtio1)
        r = asprintf(&caveat,
                     "; %s's virtio drivers predate virtio 1.0, which q35's PCIe slots need (%s)",
                     name, src);
    else if (os && b == DISK_BUS_SCSI && !os->virtio_scsi)
        r = asprintf(&caveat, "; %s has no virtio-scsi drivers (%s)", name, src);
    else if (os && b == DISK_BUS_SATA && !os->q35)
        r = asprintf(&caveat, "; %s may have no AHCI driver (%s lists no q35 support)", name, src);
    if (r < 0)
        return oom(err);
    if (choice_set(c, (DiskBus)b, controller_of((DiskBus)b), "%s asked for in the lab file%s",
                   req->bus, caveat ? caveat : "") < 0)
        return oom(err);
    return 0;
}

int storage_bus_choose(const BusRequest *req, BusChoice *ret, Error *err)
{
    const OsFacts *os = req->os;
    const HvCaps *caps = req->caps;
    bool q35 = machine_is_q35(req->machine);
    const char *machine = caps && caps->machine ? caps->machine : req->machine;
    /* no OS known: a modern Linux (virtio-blk, virtio-scsi, virtio 1.0) is assumed */
    bool has_blk = os ? os->virtio_blk : true;
    bool has_scsi = os ? os->virtio_scsi : true;
    bool has_v1 = os ? os->virtio1 : true;
    _cleanup_free_ char *name = os ? os_name(os) : strdup("a modern Linux (no OS given)");
    _cleanup_free_ char *src = os ? os_source(os, false) : strdup("assumed");
    /* on q35 virtio-blk rests on virtio 1.0 too */
    _cleanup_free_ char *src_v1 = os ? os_source(os, true) : strdup("assumed");
    _cleanup_free_ char *note = NULL;   /* why VMware's controller was not kept */
    _cleanup_free_ char *passed = NULL; /* why virtio-blk was passed over */
    BusChoice c = {0};
    int r = 0;

    if (!name || !src || !src_v1)
        return oom(err);
    if (!req->machine)
        return error_set(err, -EINVAL, "No machine type to choose a disk bus for");
    if (req->bus) {
        if ((r = explicit_bus(req, name, src, &c, err)) < 0) {
            bus_choice_clear(&c);
            return r;
        }
        *ret = c;
        return 0;
    }

    /* a VMware SCSI disk stays a SCSI disk (sdX, as the imported guest knows it) where the
     * guest has virtio-scsi drivers; VMware's own controllers have no safe twin here */
    const char *why = vmware_scsi_why(req->vmware_controller);
    if (why) {
        if (has_scsi && bus_offered(caps, DISK_BUS_SCSI) && virtio_scsi_offered(caps)) {
            r = choice_set(&c, DISK_BUS_SCSI, "virtio-scsi",
                           "the VMware disk was on %s (SCSI): virtio-scsi keeps it a SCSI disk and "
                           "%s has virtio-scsi drivers (%s)",
                           req->vmware_controller, name, src);
            goto done;
        }
        if (strcmp(req->vmware_controller, "pvscsi") == 0 && caps &&
            hv_caps_has_scsi_model(caps, "vmpvscsi")) {
            r = choice_set(&c, DISK_BUS_SCSI, "vmpvscsi",
                           "the VMware disk was on pvscsi: the hypervisor lists vmpvscsi, the same "
                           "paravirtual controller, for machine '%s'",
                           machine);
            goto done;
        }
        r = has_scsi ? asprintf(&note,
                                "VMware's %s is not kept: the hypervisor offers no virtio-scsi for "
                                "machine '%s'; ",
                                req->vmware_controller, machine)
                     : asprintf(&note,
                                "VMware's %s is not kept (%s) and %s has no virtio-scsi "
                                "drivers; ",
                                req->vmware_controller, why, name);
        if (r < 0) {
            note = NULL;
            return oom(err);
        }
    }

    if (req->n_disks > VIRTIO_BLK_DISKS_MAX && has_scsi && bus_offered(caps, DISK_BUS_SCSI) &&
        virtio_scsi_offered(caps)) {
        r = choice_set(&c, DISK_BUS_SCSI, "virtio-scsi",
                       "%s%zu disks are more than the %d virtio-blk disks QEMU advises (one PCI "
                       "slot each) and %s has virtio-scsi drivers (%s)",
                       note ? note : "", req->n_disks, VIRTIO_BLK_DISKS_MAX, name, src);
        goto done;
    }

    if (!has_blk)
        r = asprintf(&passed, "%s has no virtio-blk drivers (%s)", name, src);
    else if (q35 && !has_v1)
        r = asprintf(&passed,
                     "%s's virtio drivers predate virtio 1.0, which q35's PCIe slots need (%s)",
                     name, src);
    else if (!bus_offered(caps, DISK_BUS_VIRTIO))
        r = asprintf(&passed, "the hypervisor offers no virtio bus for machine '%s'", machine);
    else {
        r = choice_set(&c, DISK_BUS_VIRTIO, NULL, "%s%s has virtio-blk drivers (%s)",
                       note ? note : "", name, q35 ? src_v1 : src);
        goto done;
    }
    if (r < 0)
        return oom(err);

    if (q35 && bus_offered(caps, DISK_BUS_SATA)) {
        /* the file chose q35 for an OS that may not boot from it: say so */
        _cleanup_free_ char *caveat = NULL;
        if (os && !os->q35 &&
            asprintf(&caveat, "; %s may have no AHCI driver (%s lists no q35 support)", name, src) <
                    0)
            return oom(err);
        r = choice_set(&c, DISK_BUS_SATA, "ahci", "%s%s: sata on q35%s", note ? note : "", passed,
                       caveat ? caveat : "");
    } else if (!q35 && bus_offered(caps, DISK_BUS_IDE)) {
        if (req->n_disks > IDE_DISKS_MAX)
            return error_set(err, -EINVAL,
                             "%s: ide on pc, which holds %d disks beside the seed CD-ROM, not %zu; "
                             "use fewer disks or an OS with virtio drivers",
                             passed, IDE_DISKS_MAX, req->n_disks);
        r = choice_set(&c, DISK_BUS_IDE, "ide", "%s%s: ide on pc", note ? note : "", passed);
    } else if (!q35 && bus_offered(caps, DISK_BUS_SATA)) {
        r = choice_set(&c, DISK_BUS_SATA, "ahci",
                       "%s%s, and the hypervisor offers no ide for machine '%s': sata",
                       note ? note : "", passed, machine);
    } else {
        return error_set(err, -EINVAL, "%s, and the hypervisor offers no %s for machine '%s'",
                         passed, q35 ? "sata" : "ide or sata", machine);
    }

done:
    if (r < 0) {
        bus_choice_clear(&c);
        return oom(err);
    }
    *ret = c;
    return 0;
}

void bus_choice_clear(BusChoice *c)
{
    if (!c)
        return;
    free(c->controller);
    free(c->reason);
    *c = (BusChoice){0};
}

DiskBus storage_cdrom_bus(const char *machine)
{
    return machine_is_q35(machine) ? DISK_BUS_SATA : DISK_BUS_IDE;
}
