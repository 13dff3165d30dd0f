/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hypervisor's answer (real libvirt 9.0 domain capabilities, tests/data/domcaps/), the
 * machine type and the bus of each disk, disk serials and the disks of a node. Every expected
 * value is written by hand from the rules (storage/bus.c's header), the facts in TESTING.md
 * ("Disk buses as the guest sees them", "OS facts") and the fixtures; none is produced by the
 * code under test. The OS facts are osinfo-db 20221203's (test-storage-osdb checks them).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"
#include "kvmlab/storage.h"

#define DB "osinfo-db 20221203"

/* ---- domain capabilities ------------------------------------------------------------------ */

/* The hypervisor answers the tests choose against, by name. */
enum {
    CAPS_Q35,        /* qemu-q35.xml, as libvirt answered */
    CAPS_PC,         /* qemu-pc.xml, as libvirt answered */
    CAPS_Q35_NOSCSI, /* qemu-q35.xml without the scsi bus (edited by hand) */
    CAPS_Q35_MODELS, /* q35 with a hand-made model list: virtio-scsi and vmpvscsi */
    CAPS_Q35_LSI,    /* q35 with a hand-made model list without virtio-scsi: lsilogic */
    CAPS_N,
};
static HvCaps caps[CAPS_N];

static void parse_fixture(const char *file, const char *requested, HvCaps *ret)
{
    char *xml = golden_read(file);
    if (!xml)
        fprintf(stderr, "cannot read tests/data/%s\n", file);
    assert_non_null(xml);
    Error err = ERROR_INIT;
    int r = hv_caps_parse(xml, requested, ret, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", file, err.message);
    assert_int_equal(r, 0);
    free(xml);
}

static char **models(const char *a, const char *b, size_t *ret_n)
{
    char **v = calloc(2, sizeof(*v));
    v[0] = strdup(a);
    *ret_n = 1;
    if (b) {
        v[1] = strdup(b);
        *ret_n = 2;
    }
    return v;
}

static int setup_caps(void **state)
{
    parse_fixture("domcaps/qemu-q35.xml", "q35", &caps[CAPS_Q35]);
    parse_fixture("domcaps/qemu-pc.xml", "pc", &caps[CAPS_PC]);
    parse_fixture("domcaps/qemu-q35-noscsi.xml", "q35", &caps[CAPS_Q35_NOSCSI]);
    parse_fixture("domcaps/qemu-q35.xml", "q35", &caps[CAPS_Q35_MODELS]);
    caps[CAPS_Q35_MODELS].scsi_models =
            models("virtio-scsi", "vmpvscsi", &caps[CAPS_Q35_MODELS].n_scsi_models);
    parse_fixture("domcaps/qemu-q35.xml", "q35", &caps[CAPS_Q35_LSI]);
    caps[CAPS_Q35_LSI].scsi_models = models("lsilogic", NULL, &caps[CAPS_Q35_LSI].n_scsi_models);
    return 0;
}

static int teardown_caps(void **state)
{
    for (size_t i = 0; i < CAPS_N; i++)
        hv_caps_clear(&caps[i]);
    return 0;
}

static void test_caps_fixtures(void **state)
{
    /* as the fixtures say: <machine> and devices/disk/enum[@name='bus'] */
    assert_string_equal(caps[CAPS_Q35].machine, "pc-q35-7.2");
    assert_string_equal(caps[CAPS_Q35].requested, "q35");
    assert_true(caps[CAPS_Q35].buses[DISK_BUS_VIRTIO]);
    assert_true(caps[CAPS_Q35].buses[DISK_BUS_SCSI]);
    assert_true(caps[CAPS_Q35].buses[DISK_BUS_SATA]);
    assert_false(caps[CAPS_Q35].buses[DISK_BUS_IDE]); /* TESTING.md: ide only for pc */
    assert_null(caps[CAPS_Q35].scsi_models);          /* libvirt 9.0 lists no models */
    assert_int_equal(caps[CAPS_Q35].n_scsi_models, 0);

    assert_string_equal(caps[CAPS_PC].machine, "pc-i440fx-7.2");
    assert_string_equal(caps[CAPS_PC].requested, "pc");
    assert_true(caps[CAPS_PC].buses[DISK_BUS_VIRTIO]);
    assert_true(caps[CAPS_PC].buses[DISK_BUS_SCSI]);
    assert_true(caps[CAPS_PC].buses[DISK_BUS_SATA]);
    assert_true(caps[CAPS_PC].buses[DISK_BUS_IDE]);
    assert_null(caps[CAPS_PC].scsi_models);

    assert_string_equal(caps[CAPS_Q35_NOSCSI].machine, "pc-q35-7.2");
    assert_true(caps[CAPS_Q35_NOSCSI].buses[DISK_BUS_VIRTIO]);
    assert_false(caps[CAPS_Q35_NOSCSI].buses[DISK_BUS_SCSI]);
    assert_true(caps[CAPS_Q35_NOSCSI].buses[DISK_BUS_SATA]);
    assert_false(caps[CAPS_Q35_NOSCSI].buses[DISK_BUS_IDE]);
}

static void test_caps_models(void **state)
{
    /* no list: virtio-scsi only, and only with a SCSI bus */
    assert_true(hv_caps_has_scsi_model(&caps[CAPS_Q35], "virtio-scsi"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35], "lsilogic"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35], "lsisas1068"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35], "buslogic"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35], "vmpvscsi"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35_NOSCSI], "virtio-scsi"));
    /* a list: exactly what it names */
    assert_true(hv_caps_has_scsi_model(&caps[CAPS_Q35_MODELS], "vmpvscsi"));
    assert_true(hv_caps_has_scsi_model(&caps[CAPS_Q35_MODELS], "virtio-scsi"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35_MODELS], "lsilogic"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35_LSI], "virtio-scsi"));
    assert_true(hv_caps_has_scsi_model(&caps[CAPS_Q35_LSI], "lsilogic"));
    assert_false(hv_caps_has_scsi_model(NULL, "virtio-scsi"));
    assert_false(hv_caps_has_scsi_model(&caps[CAPS_Q35], NULL));
}

static void check_caps_error(const char *xml, int want, const char *message)
{
    HvCaps c = {.machine = NULL};
    Error err = ERROR_INIT;
    assert_int_equal(hv_caps_parse(xml, "q35", &c, &err), want);
    assert_string_equal(err.message, message);
    assert_null(c.machine);
    error_clear(&err);
}

static void test_caps_parse(void **state)
{
    check_caps_error("<domainCapabilities><machine>pc", -EINVAL,
                     "The hypervisor's domain capabilities are not XML");
    check_caps_error("<capabilities><host/></capabilities>", -EINVAL,
                     "The hypervisor's answer is not a <domainCapabilities> document");
    check_caps_error(NULL, -EINVAL, "No domain capabilities to read");

    /* a disk that is not supported offers no bus; unknown bus names are left out */
    HvCaps c;
    Error err = ERROR_INIT;
    assert_int_equal(hv_caps_parse("<domainCapabilities><machine> pc-q35-9.9 </machine><devices>"
                                   "<disk supported='no'><enum name='bus'><value>virtio</value>"
                                   "</enum></disk></devices></domainCapabilities>",
                                   NULL, &c, &err),
                     0);
    assert_string_equal(c.machine, "pc-q35-9.9");
    assert_null(c.requested);
    for (int b = 0; b < DISK_BUS_MAX; b++)
        assert_false(c.buses[b]);
    hv_caps_clear(&c);
    assert_int_equal(hv_caps_parse("<domainCapabilities><devices><disk supported='yes'>"
                                   "<enum name='bus'><value>xen</value><value>sata</value>"
                                   "</enum></disk></devices></domainCapabilities>",
                                   "q35", &c, &err),
                     0);
    assert_null(c.machine);
    assert_true(c.buses[DISK_BUS_SATA]);
    assert_false(c.buses[DISK_BUS_VIRTIO]);
    hv_caps_clear(&c);
    hv_caps_clear(&c);
    hv_caps_clear(NULL);
}

static void test_bus_strings(void **state)
{
    assert_string_equal(disk_bus_to_string(DISK_BUS_VIRTIO), "virtio");
    assert_string_equal(disk_bus_to_string(DISK_BUS_SCSI), "scsi");
    assert_string_equal(disk_bus_to_string(DISK_BUS_SATA), "sata");
    assert_string_equal(disk_bus_to_string(DISK_BUS_IDE), "ide");
    assert_null(disk_bus_to_string(DISK_BUS_MAX));
    assert_int_equal(disk_bus_from_string("virtio"), DISK_BUS_VIRTIO);
    assert_int_equal(disk_bus_from_string("scsi"), DISK_BUS_SCSI);
    assert_int_equal(disk_bus_from_string("sata"), DISK_BUS_SATA);
    assert_int_equal(disk_bus_from_string("ide"), DISK_BUS_IDE);
    assert_int_equal(disk_bus_from_string("usb"), -1);
    assert_int_equal(disk_bus_from_string("IDE"), -1);
    assert_int_equal(disk_bus_from_string(""), -1);
    assert_int_equal(disk_bus_from_string(NULL), -1);
    /* TESTING.md: the seed CD-ROM is read from SATA on q35 and IDE on pc */
    assert_int_equal(storage_cdrom_bus("q35"), DISK_BUS_SATA);
    assert_int_equal(storage_cdrom_bus("pc-q35-7.2"), DISK_BUS_SATA);
    assert_int_equal(storage_cdrom_bus("pc"), DISK_BUS_IDE);
    assert_int_equal(storage_cdrom_bus("pc-i440fx-7.2"), DISK_BUS_IDE);
}

/* ---- OS facts used by the tables, looked up once ---------------------------------------- */

static const char *const os_ids[] = {
        "debian12",    "ubuntu22.04", "centos7.0", "rhel9.0", "alpinelinux3.18",
        "win10",       "win2k19",     "winxp",     "win2k3",  "debian8",
        "ubuntu16.04", "ubuntu14.04", "rhel4.0",   NULL,
};
static OsFacts os_facts[sizeof(os_ids) / sizeof(os_ids[0])];

static const OsFacts *os_get(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; os_ids[i]; i++) {
        if (strcmp(os_ids[i], id) != 0)
            continue;
        if (!os_facts[i].id) {
            Error err = ERROR_INIT;
            if (os_facts_lookup(id, &os_facts[i], &err) < 0)
                fprintf(stderr, "%s: %s\n", id, err.message);
            assert_non_null(os_facts[i].id);
        }
        return &os_facts[i];
    }
    fail_msg("test table names '%s', which os_ids lacks", id);
    return NULL;
}

static int teardown_os(void **state)
{
    for (size_t i = 0; os_ids[i]; i++)
        os_facts_clear(&os_facts[i]);
    return 0;
}

/* ---- the machine type --------------------------------------------------------------------- */

typedef struct MachineCase {
    const char *os; /* NULL: none known */
    const char *file_machine;
    bool wants_ide;
    const char *machine;
    const char *reason;
} MachineCase;

#define UBUNTU16_OVERRIDE                                                                          \
    "kvmlab's override: ubuntu16.04: virtio 1.0 drivers, which osinfo-db lists from ubuntu17.04 "  \
    "only: Ubuntu 15.10-16.10 ship Linux 4.2-4.8, and Linux has had virtio 1.0 PCI drivers since " \
    "4.0"

static const MachineCase machine_cases[] = {
        {"debian12", NULL, false, "q35",
         "q35: debian12 (treated as debian11) supports it (" DB ")"},
        {"ubuntu22.04", NULL, false, "q35", "q35: ubuntu22.04 supports it (" DB ")"},
        {"centos7.0", NULL, false, "q35", "q35: centos7.0 supports it (" DB ")"},
        {"rhel9.0", NULL, false, "q35", "q35: rhel9.0 supports it (" DB ")"},
        {"alpinelinux3.18", NULL, false, "q35",
         "q35: alpinelinux3.18 (treated as alpinelinux3.17) supports it (" DB ")"},
        {"win10", NULL, false, "q35", "q35: win10 supports it (" DB ")"},
        {"win2k19", NULL, false, "q35", "q35: win2k19 supports it (" DB ")"},
        /* XP/2003-era Windows and Linux before AHCI: pc */
        {"winxp", NULL, false, "pc",
         "pc: winxp cannot boot from q35's SATA (" DB " lists no q35 support)"},
        {"win2k3", NULL, false, "pc",
         "pc: win2k3 cannot boot from q35's SATA (" DB " lists no q35 support)"},
        {"rhel4.0", NULL, false, "pc",
         "pc: rhel4.0 cannot boot from q35's SATA (" DB " lists no q35 support)"},
        /* virtio without virtio 1.0: pc keeps virtio-blk usable */
        {"debian8", NULL, false, "pc",
         "pc: debian8's virtio drivers predate virtio 1.0, which q35's PCIe slots need (" DB ")"},
        /* ... unless the override table knows better */
        {"ubuntu16.04", NULL, false, "q35",
         "q35: ubuntu16.04 supports it (" DB " and " UBUNTU16_OVERRIDE ")"},
        {NULL, NULL, false, "q35", "q35: no OS given, a modern Linux is assumed"},
        /* the file wins */
        {"debian12", "pc", false, "pc", "machine 'pc' asked for in the lab file"},
        {"winxp", "q35", false, "q35", "machine 'q35' asked for in the lab file"},
        {"debian12", "pc-q35-7.2", true, "pc-q35-7.2",
         "machine 'pc-q35-7.2' asked for in the lab file"},
        {"debian12", NULL, true, "pc", "pc: a disk asks for bus ide, which q35 does not have"},
        {NULL, NULL, true, "pc", "pc: a disk asks for bus ide, which q35 does not have"},
};

static void test_machine(void **state)
{
    for (size_t i = 0; i < sizeof(machine_cases) / sizeof(machine_cases[0]); i++) {
        const MachineCase *c = &machine_cases[i];
        MachineChoice m = {.machine = NULL};
        Error err = ERROR_INIT;
        fprintf(stderr, "# machine case %zu: %s %s\n", i, c->os ? c->os : "-",
                c->file_machine ? c->file_machine : "-");
        assert_int_equal(
                storage_machine_choose(os_get(c->os), c->file_machine, c->wants_ide, &m, &err), 0);
        assert_string_equal(m.machine, c->machine);
        assert_string_equal(m.reason, c->reason);
        machine_choice_clear(&m);
        machine_choice_clear(&m);
    }
}

/* ---- the bus of a disk -------------------------------------------------------------------- */

typedef struct BusCase {
    const char *os; /* NULL: none known */
    const char *machine;
    int caps; /* CAPS_*, or -1: not known yet */
    const char *bus;
    const char *hint;
    size_t n_disks;
    int rc;
    DiskBus want_bus;
    const char *controller;
    const char *reason; /* or the error's message */
} BusCase;

#define NOCAPS -1
#define VIRTIO DISK_BUS_VIRTIO
#define SCSI   DISK_BUS_SCSI
#define SATA   DISK_BUS_SATA
#define IDE    DISK_BUS_IDE

#define DEBIAN12 "debian12 (treated as debian11)"

static const BusCase bus_cases[] = {
        /* virtio-blk when the OS has the drivers, on both machines, whatever is known */
        {"debian12", "q35", CAPS_Q35, NULL, NULL, 1, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"debian12", "pc", CAPS_PC, NULL, NULL, 1, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"debian12", "q35", NOCAPS, NULL, NULL, 1, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"ubuntu22.04", "q35", CAPS_Q35, NULL, NULL, 2, 0, VIRTIO, NULL,
         "ubuntu22.04 has virtio-blk drivers (" DB ")"},
        {"centos7.0", "q35", CAPS_Q35, NULL, NULL, 1, 0, VIRTIO, NULL,
         "centos7.0 has virtio-blk drivers (" DB ")"},
        {"rhel9.0", "pc", CAPS_PC, NULL, NULL, 1, 0, VIRTIO, NULL,
         "rhel9.0 has virtio-blk drivers (" DB ")"},
        {"alpinelinux3.18", "q35", CAPS_Q35_NOSCSI, NULL, NULL, 1, 0, VIRTIO, NULL,
         "alpinelinux3.18 (treated as alpinelinux3.17) has virtio-blk drivers (" DB ")"},
        {NULL, "q35", CAPS_Q35, NULL, NULL, 1, 0, VIRTIO, NULL,
         "a modern Linux (no OS given) has virtio-blk drivers (assumed)"},
        {NULL, "pc", NOCAPS, NULL, NULL, 1, 0, VIRTIO, NULL,
         "a modern Linux (no OS given) has virtio-blk drivers (assumed)"},

        /* Windows without virtio drivers: SATA on q35, IDE on pc */
        {"win10", "q35", CAPS_Q35, NULL, NULL, 1, 0, SATA, "ahci",
         "win10 has no virtio-blk drivers (" DB "): sata on q35"},
        {"win10", "pc", CAPS_PC, NULL, NULL, 1, 0, IDE, "ide",
         "win10 has no virtio-blk drivers (" DB "): ide on pc"},
        {"win2k19", "q35", CAPS_Q35_NOSCSI, NULL, NULL, 1, 0, SATA, "ahci",
         "win2k19 has no virtio-blk drivers (" DB "): sata on q35"},
        {"win2k19", "q35", NOCAPS, NULL, NULL, 40, 0, SATA, "ahci",
         "win2k19 has no virtio-blk drivers (" DB "): sata on q35"},
        {"winxp", "pc", CAPS_PC, NULL, NULL, 1, 0, IDE, "ide",
         "winxp has no virtio-blk drivers (" DB "): ide on pc"},
        {"win2k3", "pc", NOCAPS, NULL, NULL, 3, 0, IDE, "ide",
         "win2k3 has no virtio-blk drivers (" DB "): ide on pc"},
        /* pc's IDE holds four devices, one of them the seed CD-ROM */
        {"winxp", "pc", CAPS_PC, NULL, NULL, 4, -EINVAL, 0, NULL,
         "winxp has no virtio-blk drivers (" DB "): ide on pc, which holds 3 disks beside the "
         "seed CD-ROM, not 4; use fewer disks or an OS with virtio drivers"},
        /* the file put XP on q35: SATA is all there is, with a warning */
        {"winxp", "q35", CAPS_Q35, NULL, NULL, 1, 0, SATA, "ahci",
         "winxp has no virtio-blk drivers (" DB "): sata on q35; winxp may have no AHCI driver "
         "(" DB " lists no q35 support)"},
        {"rhel4.0", "pc", CAPS_PC, NULL, NULL, 1, 0, IDE, "ide",
         "rhel4.0 has no virtio-blk drivers (" DB "): ide on pc"},

        /* virtio drivers older than virtio 1.0 see no disk on q35's PCIe slots */
        {"debian8", "q35", CAPS_Q35, NULL, NULL, 1, 0, SATA, "ahci",
         "debian8's virtio drivers predate virtio 1.0, which q35's PCIe slots need (" DB
         "): sata on q35"},
        {"ubuntu14.04", "q35", NOCAPS, NULL, NULL, 1, 0, SATA, "ahci",
         "ubuntu14.04's virtio drivers predate virtio 1.0, which q35's PCIe slots need (" DB
         "): sata on q35"},
        {"debian8", "pc", CAPS_PC, NULL, NULL, 1, 0, VIRTIO, NULL,
         "debian8 has virtio-blk drivers (" DB ")"},
        /* the override: ubuntu16.04 speaks virtio 1.0 */
        {"ubuntu16.04", "q35", CAPS_Q35, NULL, NULL, 1, 0, VIRTIO, NULL,
         "ubuntu16.04 has virtio-blk drivers (" DB " and " UBUNTU16_OVERRIDE ")"},
        {"ubuntu16.04", "pc", CAPS_PC, NULL, NULL, 1, 0, VIRTIO, NULL,
         "ubuntu16.04 has virtio-blk drivers (" DB ")"},

        /* more disks than virtio-blk should take: virtio-scsi where there is one */
        {"debian12", "q35", CAPS_Q35, NULL, NULL, 28, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"debian12", "q35", CAPS_Q35, NULL, NULL, 29, 0, SCSI, "virtio-scsi",
         "29 disks are more than the 28 virtio-blk disks QEMU advises (one PCI slot each) "
         "and " DEBIAN12 " has virtio-scsi drivers (" DB ")"},
        {"rhel9.0", "pc", NOCAPS, NULL, NULL, 64, 0, SCSI, "virtio-scsi",
         "64 disks are more than the 28 virtio-blk disks QEMU advises (one PCI slot each) and "
         "rhel9.0 has virtio-scsi drivers (" DB ")"},
        {"debian12", "q35", CAPS_Q35_NOSCSI, NULL, NULL, 30, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"debian12", "q35", CAPS_Q35_LSI, NULL, NULL, 30, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        /* no virtio-scsi drivers (osinfo-db lists none for ubuntu16.04) */
        {"ubuntu16.04", "pc", CAPS_PC, NULL, NULL, 30, 0, VIRTIO, NULL,
         "ubuntu16.04 has virtio-blk drivers (" DB ")"},

        /* an explicit bus wins, with what may go wrong */
        {"debian12", "q35", CAPS_Q35, "scsi", NULL, 1, 0, SCSI, "virtio-scsi",
         "scsi asked for in the lab file"},
        {"debian12", "q35", CAPS_Q35, "sata", NULL, 1, 0, SATA, "ahci",
         "sata asked for in the lab file"},
        {"debian12", "pc", CAPS_PC, "ide", NULL, 1, 0, IDE, "ide", "ide asked for in the lab file"},
        {"debian12", "pc", NOCAPS, "virtio", NULL, 1, 0, VIRTIO, NULL,
         "virtio asked for in the lab file"},
        {"win10", "q35", CAPS_Q35, "virtio", NULL, 1, 0, VIRTIO, NULL,
         "virtio asked for in the lab file; win10 has no virtio-blk drivers (" DB ")"},
        {"win2k19", "q35", CAPS_Q35, "scsi", NULL, 1, 0, SCSI, "virtio-scsi",
         "scsi asked for in the lab file; win2k19 has no virtio-scsi drivers (" DB ")"},
        {"winxp", "pc", CAPS_PC, "sata", NULL, 1, 0, SATA, "ahci",
         "sata asked for in the lab file; winxp may have no AHCI driver (" DB
         " lists no q35 support)"},
        {"debian8", "q35", CAPS_Q35, "virtio", NULL, 1, 0, VIRTIO, NULL,
         "virtio asked for in the lab file; debian8's virtio drivers predate virtio 1.0, which "
         "q35's PCIe slots need (" DB ")"},
        {NULL, "q35", CAPS_Q35, "sata", NULL, 1, 0, SATA, "ahci", "sata asked for in the lab file"},
        /* ... unless it cannot be */
        {"debian12", "q35", CAPS_Q35, "ide", NULL, 1, -EINVAL, 0, NULL,
         "bus 'ide' does not exist on machine 'q35': use 'sata' or 'virtio'"},
        {"winxp", "pc-q35-7.2", NOCAPS, "ide", NULL, 1, -EINVAL, 0, NULL,
         "bus 'ide' does not exist on machine 'pc-q35-7.2': use 'sata' or 'virtio'"},
        {"debian12", "q35", CAPS_Q35_NOSCSI, "scsi", NULL, 1, -EINVAL, 0, NULL,
         "bus 'scsi' is not offered by the hypervisor for machine 'pc-q35-7.2'"},
        {"debian12", "q35", CAPS_Q35_LSI, "scsi", NULL, 1, -EINVAL, 0, NULL,
         "bus 'scsi' needs a virtio-scsi controller, which the hypervisor does not offer for "
         "machine 'pc-q35-7.2'"},
        {"debian12", "q35", CAPS_Q35, "usb", NULL, 1, -EINVAL, 0, NULL,
         "disk bus 'usb' is not one of virtio, scsi, sata or ide"},

        /* VMware's SCSI controllers: a SCSI disk stays one through virtio-scsi ... */
        {"debian12", "q35", CAPS_Q35, NULL, "lsilogic", 1, 0, SCSI, "virtio-scsi",
         "the VMware disk was on lsilogic (SCSI): virtio-scsi keeps it a SCSI disk and " DEBIAN12
         " has virtio-scsi drivers (" DB ")"},
        {"rhel9.0", "pc", CAPS_PC, NULL, "lsisas1068", 1, 0, SCSI, "virtio-scsi",
         "the VMware disk was on lsisas1068 (SCSI): virtio-scsi keeps it a SCSI disk and rhel9.0 "
         "has virtio-scsi drivers (" DB ")"},
        {"centos7.0", "q35", NOCAPS, NULL, "buslogic", 1, 0, SCSI, "virtio-scsi",
         "the VMware disk was on buslogic (SCSI): virtio-scsi keeps it a SCSI disk and centos7.0 "
         "has virtio-scsi drivers (" DB ")"},
        {"ubuntu22.04", "q35", CAPS_Q35, NULL, "pvscsi", 1, 0, SCSI, "virtio-scsi",
         "the VMware disk was on pvscsi (SCSI): virtio-scsi keeps it a SCSI disk and ubuntu22.04 "
         "has virtio-scsi drivers (" DB ")"},
        /* ... not where the hypervisor has no virtio-scsi ... */
        {"debian12", "q35", CAPS_Q35_NOSCSI, NULL, "pvscsi", 1, 0, VIRTIO, NULL,
         "VMware's pvscsi is not kept: the hypervisor offers no virtio-scsi for machine "
         "'pc-q35-7.2'; " DEBIAN12 " has virtio-blk drivers (" DB ")"},
        /* ... and never as a model the hypervisor may lack (lsisas1068 shows no disks,
         * buslogic does not exist, lsilogic is another chip) */
        {"win10", "q35", CAPS_Q35, NULL, "lsilogic", 1, 0, SATA, "ahci",
         "VMware's lsilogic is not kept (QEMU's lsilogic is a 53C895A, not VMware's LSI "
         "53C1030) and win10 has no virtio-scsi drivers; win10 has no virtio-blk drivers (" DB
         "): sata on q35"},
        {"win2k19", "q35", CAPS_Q35_LSI, NULL, "lsisas1068", 1, 0, SATA, "ahci",
         "VMware's lsisas1068 is not kept (QEMU's lsisas1068 shows the guest no disks) and "
         "win2k19 has no virtio-scsi drivers; win2k19 has no virtio-blk drivers (" DB
         "): sata on q35"},
        {"win2k3", "pc", CAPS_PC, NULL, "buslogic", 1, 0, IDE, "ide",
         "VMware's buslogic is not kept (QEMU has no BusLogic controller) and win2k3 has no "
         "virtio-scsi drivers; win2k3 has no virtio-blk drivers (" DB "): ide on pc"},
        {"win10", "q35", CAPS_Q35, NULL, "pvscsi", 1, 0, SATA, "ahci",
         "VMware's pvscsi is not kept (the hypervisor is not known to have vmpvscsi) and win10 "
         "has no virtio-scsi drivers; win10 has no virtio-blk drivers (" DB "): sata on q35"},
        /* pvscsi has a twin where the hypervisor lists vmpvscsi (TESTING.md: vmw_pvscsi) */
        {"win10", "q35", CAPS_Q35_MODELS, NULL, "pvscsi", 1, 0, SCSI, "vmpvscsi",
         "the VMware disk was on pvscsi: the hypervisor lists vmpvscsi, the same paravirtual "
         "controller, for machine 'pc-q35-7.2'"},
        /* the other hints change nothing */
        {"debian12", "q35", CAPS_Q35, NULL, "sata", 1, 0, VIRTIO, NULL,
         DEBIAN12 " has virtio-blk drivers (" DB ")"},
        {"win10", "pc", CAPS_PC, NULL, "nvme", 1, 0, IDE, "ide",
         "win10 has no virtio-blk drivers (" DB "): ide on pc"},
        /* an explicit bus wins over a hint */
        {"debian12", "q35", CAPS_Q35, "virtio", "lsilogic", 1, 0, VIRTIO, NULL,
         "virtio asked for in the lab file"},
};

static void test_bus_no_machine(void **state)
{
    BusRequest req = {.machine = NULL, .n_disks = 1};
    BusChoice ch = {.reason = NULL};
    Error err = ERROR_INIT;
    assert_int_equal(storage_bus_choose(&req, &ch, &err), -EINVAL);
    assert_string_equal(err.message, "No machine type to choose a disk bus for");
    assert_null(ch.reason);
    error_clear(&err);
}

static void test_bus_table(void **state)
{
    for (size_t i = 0; i < sizeof(bus_cases) / sizeof(bus_cases[0]); i++) {
        const BusCase *c = &bus_cases[i];
        BusRequest req = {
                .os = os_get(c->os),
                .machine = c->machine,
                .caps = c->caps >= 0 ? &caps[c->caps] : NULL,
                .bus = c->bus,
                .vmware_controller = c->hint,
                .n_disks = c->n_disks,
        };
        BusChoice ch = {.reason = NULL};
        Error err = ERROR_INIT;
        fprintf(stderr, "# bus case %zu: %s %s caps %d bus %s hint %s disks %zu\n", i,
                c->os ? c->os : "-", c->machine, c->caps, c->bus ? c->bus : "-",
                c->hint ? c->hint : "-", c->n_disks);
        int r = storage_bus_choose(&req, &ch, &err);
        if (r != c->rc)
            fprintf(stderr, "got %d: %s\n", r, r < 0 ? err.message : ch.reason);
        assert_int_equal(r, c->rc);
        if (r < 0) {
            assert_string_equal(err.message, c->reason);
            assert_null(ch.reason);
            error_clear(&err);
            continue;
        }
        assert_string_equal(disk_bus_to_string(ch.bus), disk_bus_to_string(c->want_bus));
        if (c->controller)
            assert_string_equal(ch.controller, c->controller);
        else
            assert_null(ch.controller);
        assert_string_equal(ch.reason, c->reason);
        assert_null(strchr(ch.reason, '\n')); /* one line */
        bus_choice_clear(&ch);
        bus_choice_clear(&ch);
    }
}

/* ---- serials ------------------------------------------------------------------------------ */

static bool serial_ok(const char *s)
{
    if (strlen(s) > DISK_SERIAL_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_.+-", *s)))
            return false;
    return true;
}

static void check_serial(const char *node, size_t index, const char *want)
{
    char *s = storage_disk_serial(node, index);
    assert_non_null(s);
    assert_string_equal(s, want);
    assert_true(serial_ok(s));
    free(s);
}

static void test_serial(void **state)
{
    /* short names as they are */
    check_serial("cp", 0, "cp-0");
    check_serial("worker-1", 2, "worker-1-2");
    check_serial("abcdefghijklmnopqr", 0, "abcdefghijklmnopqr-0"); /* exactly 20 bytes */
    /*
     * Longer: the first letters, '.', 24 bits of FNV-1a over the whole name, "-N". The hashes
     * come from an independent FNV-1a (python3: h = 0xcbf29ce484222325; per byte h ^= b,
     * h = h * 0x100000001b3 mod 2^64; then h & 0xffffff).
     */
    check_serial("abcdefghijklmnopqr", 10, "abcdefghij.f8eeba-10");
    /* a 30-character node name (the parser allows 32) */
    check_serial("a-node-name-that-is-really-lon", 0, "a-node-nam.7abea0-0");
    check_serial("a-node-name-that-is-really-lon", 1, "a-node-nam.7abea0-1");
    /* the same first ten letters, another name: another serial */
    check_serial("a-node-name-that-is-really-lox", 0, "a-node-nam.7ae402-0");
    check_serial("kubernetes-control-plane", 3, "kubernetes.5e28fa-3");
    /* a long index takes room from the prefix, never from the limit */
    check_serial("kubernetes-control-plane", 123, "kubernete.5e28fa-123");
    /* a prefix does not end in '-' */
    check_serial("abcdefghi-klmnopqrstu", 0, "abcdefghi.eb9be3-0");
    /* characters a serial cannot hold, and '.', which marks the shortened form */
    check_serial("a.b", 1, "a_b.66522c-1");

    char *a = storage_disk_serial("a-node-name-that-is-really-lon", 7);
    char *b = storage_disk_serial("a-node-name-that-is-really-lox", 7);
    assert_string_not_equal(a, b);
    assert_true(serial_ok(a) && serial_ok(b));
    free(a);
    free(b);
    assert_null(storage_disk_serial(NULL, 0));
}

/* ---- the disks of a node, and validate's check -------------------------------------------- */

static const char lab_text[] = "lab: disks\n"
                               "images:\n"
                               "  deb: {build: debian-12}\n"
                               "  xp: {path: /images/xp.qcow2, os: winxp}\n"
                               "  typo: {path: /images/t.qcow2, os: debain12}\n"
                               "  other: {build: foo-1}\n"
                               "nodes:\n"
                               "  - {name: a, image: deb}\n"
                               "  - name: b\n"
                               "    image: deb\n"
                               "    os: win10\n"
                               "    disks: [{size: 20G}, {size: 5G, bus: scsi}]\n"
                               "  - {name: c, image: xp, disks: [{size: 10G}]}\n"
                               "  - {name: d, image: deb, disks: [{size: 1G, bus: ide}]}\n"
                               "  - {name: e, image: deb, machine: pc-q35-7.2}\n"
                               "  - {name: f, image: typo}\n"
                               "  - {name: g, count: 2, image: deb, os: ubunto22.04}\n"
                               "  - {name: h, image: other}\n";

static Lab *load_lab(void)
{
    Lab *lab = NULL;
    LabDiags diags = {.file = NULL};
    Error err = ERROR_INIT;
    int r = lab_load_string("disks.yaml", lab_text, strlen(lab_text), &lab, &diags, &err);
    if (r < 0) {
        char *s = lab_diags_format(&diags);
        fprintf(stderr, "%s%s\n", s ? s : "", err.message ? err.message : "");
        free(s);
    }
    assert_int_equal(r, 0);
    return lab;
}

static void test_node_disks(void **state)
{
    Lab *lab = load_lab();
    HvCaps both[2] = {caps[CAPS_Q35], caps[CAPS_PC]}; /* borrowed, not freed here */
    NodeDisks d;
    Error err = ERROR_INIT;

    /* the OS a build: recipe implies; one implied root disk of the image's size */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "a"), both, 2, &d, &err), 0);
    assert_string_equal(d.node, "a");
    assert_true(d.has_os);
    assert_string_equal(d.os.id, "debian12");
    assert_string_equal(d.machine.machine, "q35");
    assert_true(d.caps_known);
    assert_int_equal(d.n_disks, 1);
    assert_int_equal(d.disks[0].index, 0);
    assert_string_equal(d.disks[0].serial, "a-0");
    assert_int_equal(d.disks[0].size_bytes, 0);
    assert_int_equal(d.disks[0].loc.line, 8); /* the node */
    assert_int_equal(d.disks[0].choice.bus, DISK_BUS_VIRTIO);
    assert_string_equal(d.disks[0].choice.reason, DEBIAN12 " has virtio-blk drivers (" DB ")");
    node_disks_clear(&d);

    /* the node's os: over the image's; disks in order, each with its bus */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "b"), both, 2, &d, &err), 0);
    assert_string_equal(d.os.id, "win10");
    assert_string_equal(d.machine.machine, "q35");
    assert_int_equal(d.n_disks, 2);
    assert_string_equal(d.disks[0].serial, "b-0");
    assert_int_equal(d.disks[0].size_bytes, 20ULL << 30);
    assert_int_equal(d.disks[0].choice.bus, DISK_BUS_SATA);
    assert_string_equal(d.disks[0].choice.controller, "ahci");
    assert_string_equal(d.disks[1].serial, "b-1");
    assert_int_equal(d.disks[1].size_bytes, 5ULL << 30);
    assert_int_equal(d.disks[1].loc.line, 12);
    assert_int_equal(d.disks[1].choice.bus, DISK_BUS_SCSI);
    assert_string_equal(d.disks[1].choice.controller, "virtio-scsi");
    assert_string_equal(d.disks[1].choice.reason,
                        "scsi asked for in the lab file; win10 has no virtio-scsi drivers (" DB
                        ")");
    node_disks_clear(&d);

    /* the image's os: winxp: pc, IDE */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "c"), both, 2, &d, &err), 0);
    assert_string_equal(d.machine.machine, "pc");
    assert_int_equal(d.disks[0].choice.bus, DISK_BUS_IDE);
    node_disks_clear(&d);

    /* bus ide: machine pc */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "d"), both, 2, &d, &err), 0);
    assert_string_equal(d.machine.machine, "pc");
    assert_string_equal(d.machine.reason, "pc: a disk asks for bus ide, which q35 does not have");
    assert_int_equal(d.disks[0].choice.bus, DISK_BUS_IDE);
    node_disks_clear(&d);

    /* a versioned machine matches the answer for it; without answers nothing is checked */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "e"), both, 2, &d, &err), 0);
    assert_string_equal(d.machine.machine, "pc-q35-7.2");
    assert_true(d.caps_known);
    node_disks_clear(&d);
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "e"), NULL, 0, &d, &err), 0);
    assert_false(d.caps_known);
    node_disks_clear(&d);

    /* an unknown os: from the image */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "f"), both, 2, &d, &err), -ENOENT);
    assert_string_equal(err.message, "node 'f': os 'debain12' is not known to osinfo-db 20221203; "
                                     "did you mean 'debian12'?");
    error_clear(&err);

    /* a recipe whose implied id nothing knows: no OS known */
    assert_int_equal(storage_node_disks(lab, lab_find_node(lab, "h"), both, 2, &d, &err), 0);
    assert_false(d.has_os);
    assert_string_equal(d.machine.reason, "q35: no OS given, a modern Linux is assumed");
    node_disks_clear(&d);
    node_disks_clear(NULL);
    lab_free(lab);
}

static void test_lab_check(void **state)
{
    Lab *lab = load_lab();
    LabDiags diags = {.file = NULL};

    /* one diagnostic per os: value, at the value (the two nodes of count: 2 share one); an
     * unknown build recipe at its image's line */
    assert_int_equal(storage_lab_check(lab, &diags), 3);
    char *s = lab_diags_format(&diags);
    assert_string_equal(s, "disks.yaml:5:37: os 'debain12' is not known to osinfo-db 20221203; "
                           "did you mean 'debian12'?\n"
                           "disks.yaml:6:3: image 'other': unknown build recipe 'foo-1'; the "
                           "known recipes are 'debian-12'\n"
                           "disks.yaml:17:41: os 'ubunto22.04' is not known to osinfo-db "
                           "20221203; did you mean 'ubuntu22.04'?\n");
    free(s);
    lab_diags_clear(&diags);
    lab_free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_caps_fixtures),  cmocka_unit_test(test_caps_models),
            cmocka_unit_test(test_caps_parse),     cmocka_unit_test(test_bus_strings),
            cmocka_unit_test(test_machine),        cmocka_unit_test(test_bus_table),
            cmocka_unit_test(test_bus_no_machine), cmocka_unit_test(test_serial),
            cmocka_unit_test(test_node_disks),     cmocka_unit_test(test_lab_check),
    };
    int r = cmocka_run_group_tests(tests, setup_caps, teardown_caps);
    teardown_os(NULL);
    return r;
}
