/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kvmlab/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/text.h"

/*
 * The <disk> and <controller> elements of a domain's disks. Every disk gets an explicit drive
 * address, so libvirt's guess from the target name never decides where a disk goes (that guess
 * puts 7 SCSI disks on a controller and adds further controllers of QEMU's default SCSI model,
 * lsilogic, rather than virtio-scsi). The layout is libvirt's own dump: single quotes, two-space
 * steps, elements indented for their place in <domain><devices> (four spaces), children in the
 * order virDomainDiskDefFormat writes them, controllers grouped by type (ide, scsi, sata) and
 * sorted by index as libvirt keeps them.
 */

/* AHCI: QEMU's ich9-ahci has 6 ports; libvirt's SATA drive address is controller, bus 0, unit
 * 0-5. */
#define SATA_PORTS 6
/* IDE on pc: the PIIX controller's primary and secondary bus, two units (master, slave) each. */
#define IDE_BUSES 2
#define IDE_UNITS 2
#define IDE_MAX   (IDE_BUSES * IDE_UNITS)

/*
 * Where a SCSI disk's number goes. libvirt 9.0 hands the drive address to QEMU as scsi-id =
 * unit for lsilogic (and wants target 0 there), as scsi-id = target and lun = unit for every
 * other model (seen with `virsh domxml-to-native`). QEMU 7.2's lsi53c895a and pvscsi take LUN 0
 * only; virtio-scsi takes ids 0-255 and LUNs 0-16383. So virtio-scsi numbers disks by unit on
 * target 0 (libvirt's own layout) and one controller holds them all; the other HBAs hold 7
 * disks each (ids 0-6: 7 is the HBA's own id by SCSI custom, and libvirt refuses unit 7 on
 * lsilogic and vmpvscsi), numbered by unit on lsilogic and by target elsewhere.
 */
typedef struct ScsiModel {
    const char *model;
    bool by_target; /* the disk's number goes in target (unit 0); else in unit (target 0) */
    unsigned per_controller;
} ScsiModel;

static const ScsiModel scsi_models[] = {
        {"virtio-scsi", false, 16384},
        {"virtio-transitional", false, 16384},
        {"virtio-non-transitional", false, 16384},
        {"lsilogic", false, 7},
        {"vmpvscsi", true, 7},
        {"lsisas1078", true, 7},
};

static const ScsiModel *scsi_model_find(const char *model)
{
    for (size_t i = 0; i < ELEMENTSOF(scsi_models); i++)
        if (strcmp(scsi_models[i].model, model) == 0)
            return &scsi_models[i];
    return NULL;
}

static const char *bus_name(DiskBus b)
{
    switch (b) {
    case DISK_BUS_VIRTIO:
        return "virtio";
    case DISK_BUS_SCSI:
        return "scsi";
    case DISK_BUS_SATA:
        return "sata";
    case DISK_BUS_IDE:
        return "ide";
    case DISK_BUS_MAX:
        break;
    }
    return NULL;
}

/* Target name number @idx after @prefix: a..z, aa..az, ba.. (bijective base 26, as libvirt
 * reads target names). */
static void target_name(FILE *f, const char *prefix, size_t idx)
{
    char rev[16];
    size_t len = 0;
    for (size_t n = idx + 1; n > 0 && len < sizeof(rev); n /= 26) {
        n--;
        rev[len++] = (char)('a' + n % 26);
    }
    fputs(prefix, f);
    while (len > 0)
        fputc(rev[--len], f);
}

/* The characters libvirt's QEMU driver takes in a <serial> (others: "driver serial '...'
 * contains unsafe characters", at define time of a QEMU domain). */
static bool serial_is_safe(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_ .+-", c)))
            return false;
    }
    return true;
}

/* What one disk asks for, checked before anything is placed. */
static int disk_check(const DiskXml *d, size_t i, Error *err)
{
    if ((!d->path && !d->cdrom) || (d->path && !d->path[0]))
        return error_set(err, -EINVAL, "Disk %zu has no source file", i);
    const char *shown = d->path ? d->path : "an empty CD-ROM drive";
    const char *bus = bus_name(d->bus);
    if (!bus)
        return error_set(err, -EINVAL, "Disk %zu ('%s') has no valid bus", i, shown);
    if (!d->format || !d->format[0])
        return error_set(err, -EINVAL, "Disk %zu ('%s') has no format", i, shown);
    switch (d->bus) {
    case DISK_BUS_VIRTIO:
        if (d->cdrom)
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') is a CD-ROM on bus 'virtio', which cannot hold one "
                             "(use sata, ide or scsi)",
                             i, shown);
        if (d->controller)
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') is on bus 'virtio', which has no controller, but "
                             "names controller '%s'",
                             i, shown, d->controller);
        break;
    case DISK_BUS_SCSI:
        if (d->controller && !scsi_model_find(d->controller))
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') names SCSI controller model '%s', which kvmlab "
                             "does not place disks on (virtio-scsi, lsilogic, vmpvscsi, "
                             "lsisas1078)",
                             i, shown, d->controller);
        break;
    case DISK_BUS_SATA:
        if (d->controller && strcmp(d->controller, "ahci") != 0)
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') is on bus 'sata' but names controller '%s' "
                             "(a SATA disk sits on 'ahci')",
                             i, shown, d->controller);
        break;
    case DISK_BUS_IDE:
        if (d->controller && strcmp(d->controller, "ide") != 0)
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') is on bus 'ide' but names controller '%s' (an IDE "
                             "disk sits on 'ide')",
                             i, shown, d->controller);
        break;
    case DISK_BUS_MAX:
        break;
    }
    if (d->serial) {
        if (!serial_is_safe(d->serial))
            return error_set(err, -EINVAL,
                             "Serial '%s' of disk %zu ('%s') holds characters libvirt's QEMU "
                             "driver refuses (it takes letters, digits, '_', ' ', '.', '+' "
                             "and '-')",
                             d->serial, i, shown);
        /* QEMU cuts a longer one short without a word: the guest would see another serial */
        if (d->bus != DISK_BUS_SCSI && strlen(d->serial) > DISK_SERIAL_MAX)
            return error_set(err, -EINVAL,
                             "Serial '%s' of disk %zu ('%s') is longer than the %d bytes a %s "
                             "disk holds",
                             d->serial, i, shown, DISK_SERIAL_MAX,
                             d->bus == DISK_BUS_VIRTIO ? "virtio" : "SATA or IDE");
    }
    return 0;
}

/* A SCSI controller in use: its model and how many disks it holds; its index is its place in
 * the array. */
typedef struct ScsiCtl {
    const ScsiModel *model;
    unsigned used;
} ScsiCtl;

int storage_disks_xml(const DiskXml *disks, size_t n, char **ret, Error *err)
{
    if (n > 0 && !disks)
        return error_set(err, -EINVAL, "No disks given for %zu disks", n);
    for (size_t i = 0; i < n; i++) {
        int r = disk_check(&disks[i], i, err);
        if (r < 0)
            return r;
    }

    size_t n_ide = 0;
    for (size_t i = 0; i < n; i++)
        if (disks[i].bus == DISK_BUS_IDE && ++n_ide > IDE_MAX)
            return error_set(err, -EINVAL,
                             "Disk %zu ('%s') would be IDE device %zu, but IDE holds %d devices "
                             "(machine pc: %d buses of %d units); put the others on virtio, "
                             "sata or scsi",
                             i, disks[i].path, n_ide, IDE_MAX, IDE_BUSES, IDE_UNITS);

    _cleanup_free_ ScsiCtl *scsi = calloc(n > 0 ? n : 1, sizeof(*scsi));
    if (!scsi)
        return error_set(err, -ENOMEM, "Out of memory");
    size_t n_scsi = 0;
    size_t n_vd = 0, n_sd = 0, n_hd = 0, n_sata = 0;
    n_ide = 0;

    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return error_set(err, -ENOMEM, "Out of memory");

    for (size_t i = 0; i < n; i++) {
        const DiskXml *d = &disks[i];
        fprintf(f, "    <disk type='file' device='%s'>\n", d->cdrom ? "cdrom" : "disk");
        fputs("      <driver name='qemu' type='", f);
        text_put_xml_escaped(f, d->format);
        fputs("'/>\n", f);
        /* a CD-ROM without a path is an empty drive */
        if (d->path) {
            fputs("      <source file='", f);
            text_put_xml_escaped(f, d->path);
            fputs("'/>\n", f);
        }
        fputs("      <target dev='", f);
        switch (d->bus) {
        case DISK_BUS_VIRTIO:
            target_name(f, "vd", n_vd++);
            break;
        case DISK_BUS_SCSI:
        case DISK_BUS_SATA:
            /* SCSI and SATA disks both become sdX in the guest: one sequence */
            target_name(f, "sd", n_sd++);
            break;
        case DISK_BUS_IDE:
        case DISK_BUS_MAX:
            target_name(f, "hd", n_hd++);
            break;
        }
        fprintf(f, "' bus='%s'/>\n", bus_name(d->bus));
        if (d->cdrom)
            fputs("      <readonly/>\n", f);
        if (d->serial) {
            fputs("      <serial>", f);
            text_put_xml_escaped(f, d->serial);
            fputs("</serial>\n", f);
        }

        unsigned ctl = 0, bus = 0, target = 0, unit = 0;
        switch (d->bus) {
        case DISK_BUS_VIRTIO:
        case DISK_BUS_MAX:
            break;
        case DISK_BUS_SCSI: {
            const ScsiModel *m = scsi_model_find(d->controller ? d->controller : "virtio-scsi");
            /* the newest controller of this model while it has room, else a new one */
            size_t c = n_scsi;
            while (c > 0 && scsi[c - 1].model != m)
                c--;
            if (c == 0 || scsi[c - 1].used >= m->per_controller) {
                scsi[n_scsi].model = m;
                c = ++n_scsi;
            }
            ScsiCtl *s = &scsi[c - 1];
            ctl = (unsigned)(c - 1);
            if (m->by_target)
                target = s->used;
            else
                unit = s->used;
            s->used++;
            break;
        }
        case DISK_BUS_SATA:
            ctl = (unsigned)(n_sata / SATA_PORTS);
            unit = (unsigned)(n_sata % SATA_PORTS);
            n_sata++;
            break;
        case DISK_BUS_IDE:
            bus = (unsigned)(n_ide / IDE_UNITS);
            unit = (unsigned)(n_ide % IDE_UNITS);
            n_ide++;
            break;
        }
        if (d->bus != DISK_BUS_VIRTIO)
            fprintf(f,
                    "      <address type='drive' controller='%u' bus='%u' target='%u' "
                    "unit='%u'/>\n",
                    ctl, bus, target, unit);
        fputs("    </disk>\n", f);
    }

    if (n_ide > 0)
        fputs("    <controller type='ide' index='0'/>\n", f);
    for (size_t c = 0; c < n_scsi; c++)
        fprintf(f, "    <controller type='scsi' index='%zu' model='%s'/>\n", c,
                scsi[c].model->model);
    for (size_t c = 0; c < (n_sata + SATA_PORTS - 1) / SATA_PORTS; c++)
        fprintf(f, "    <controller type='sata' index='%zu'/>\n", c);

    if (fclose(f) != 0)
        return error_set(err, -ENOMEM, "Out of memory");
    *ret = steal_pointer(&buf);
    return 0;
}
