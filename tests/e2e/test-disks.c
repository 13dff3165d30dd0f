/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk buses as a guest sees them. In a private libvirtd (the sandbox, no network), test guests
 * boot under TCG with qcow2 disks made by qemu-img and disk XML from storage_disks_xml(): virtio
 * on q35, virtio-scsi on q35, SATA on q35 (past the first AHCI controller's 6 ports, with a
 * CD-ROM) and IDE on pc (with a CD-ROM), plus VMware's SCSI HBAs on pc (lsilogic, vmpvscsi,
 * lsisas1078, two disks each). Each guest reports every disk with its serial and the
 * drivers bound from the disk up to its PCI function; the expected chains and sizes are this
 * file's facts (TESTING.md, "Disk buses as the guest sees them"), never read back from the code
 * under test. Before that, every golden file of tests/data/disk-xml/ is defined on the real QEMU
 * driver. Everything the test made (daemon, namespace, files) is removed, also on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "golden.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/sandbox.h"
#include "kvmlab/storage.h"
#include "kvmlab/virt.h"

/* TCG on 2 cores: two guests at a time */
#define PARALLEL 2
/* from start to DONE; alone a guest needs 5-15 s */
#define GUEST_TIMEOUT_S 150
#define MAX_DISKS       8

typedef struct GuestCase {
    const char *os;      /* osinfo short id the bus chooser will be given */
    const char *machine; /* "q35", "pc" */
    const char *bus;     /* the disks' explicit bus; NULL: the chooser decides */
    DiskBus expect_bus;
    size_t n_disks;
    const char *chain;       /* drivers= the guest must report for disks 0..n_first-1 */
    size_t n_first;          /* how many disks sit on the first controller */
    const char *chain_rest;  /* drivers= of the disks after those */
    bool cdrom;              /* also a CD-ROM (a NoCloud seed ISO) on the machine's CD-ROM bus */
    const char *cdrom_chain; /* drivers= of the CD-ROM */
} GuestCase;

/*
 * The expected chains: the disk's driver (virtio_blk; sd_mod for SCSI, SATA and IDE disks,
 * sr_mod for CD-ROMs), then the host adapter's (virtio_scsi, ahci, ata_piix), then the PCI
 * function's when it is a separate driver (virtio_pci), then bridges with a driver of their own:
 * pcieport, for on q35 libvirt puts each PCI Express device behind a pcie-root-port of its own.
 * q35's first AHCI controller is built into the chipset (00:1f.2, on the root bus: no bridge);
 * a second one is an added ich9-ahci behind a root port.
 */
static const GuestCase guest_cases[] = {
        {"debian12", "q35", NULL, DISK_BUS_VIRTIO, 2, "virtio_blk,virtio_pci,pcieport", 2, NULL,
         false, NULL},
        {"rhel9.0", "q35", "scsi", DISK_BUS_SCSI, 3, "sd_mod,virtio_scsi,virtio_pci,pcieport", 3,
         NULL, false, NULL},
        /* 7 disks and the CD-ROM: ports 0-5 of AHCI 0, ports 0-1 of AHCI 1 */
        {"win10", "q35", NULL, DISK_BUS_SATA, 7, "sd_mod,ahci", 6, "sd_mod,ahci,pcieport", true,
         "sr_mod,ahci,pcieport"},
        {"winxp", "pc", NULL, DISK_BUS_IDE, 2, "sd_mod,ata_piix", 2, NULL, true, "sr_mod,ata_piix"},
};

/*
 * A guest imported from VMware keeps its SCSI HBA (the import hint): two disks on each model
 * kvmlab places disks on besides virtio-scsi, interleaved, on pc. This checks the addresses
 * storage_disks_xml() gives each model (by unit on lsilogic, by target on the others: LUNs
 * other than 0 would not exist there) in a guest. The chains: TESTING.md's table.
 */
static const struct {
    const char *model;
    const char *chain;
} hba_cases[] = {
        {"lsilogic", "sd_mod,sym53c8xx"},
        {"vmpvscsi", "sd_mod,vmw_pvscsi"},
        {"lsisas1078", "sd_mod,megaraid_sas"},
};
#define HBA_DISKS_EACH 2

/* One guest as booted: its disks with bus, controller and the chain expected for each. */
typedef struct Guest {
    const char *label; /* for messages: the os id, or "vmware-hbas" */
    const char *machine;
    size_t n_disks;
    DiskBus bus[MAX_DISKS];
    const char *controller[MAX_DISKS];
    const char *chain[MAX_DISKS];
    bool cdrom;
    DiskBus cdrom_bus;
    const char *cdrom_chain;

    char name[64];
    char console[4200];
    char disk[MAX_DISKS][4200];
    char serial[MAX_DISKS][24];
    char iso[4200];
    bool started, finished;
    struct timespec t0;
    double seconds;
} Guest;

#define N_GUESTS (ELEMENTSOF(guest_cases) + 1)

static Sandbox *sb;
static virConnectPtr conn;
static char tmpdir[] = "/tmp/kvdx-disks-XXXXXX";
static bool have_tmpdir;
static Guest guests[N_GUESTS];

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int setup(void **state)
{
    if (!fixture_is_root())
        return 0;
    Error err = ERROR_INIT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!mkdtemp(tmpdir))
        return -1;
    have_tmpdir = true;
    const char *kernel, *initrd;
    if (fixture_guest_image(&kernel, &initrd) < 0)
        return -1;
    if (sandbox_new(fixture_state_root(), fixture_lab_name("kvdx"), &sb, &err) < 0 ||
        sandbox_ensure(sb, NULL, &err) < 0 || virt_connect(sb->uri, &conn, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        error_clear(&err);
        return -1;
    }
    printf("# sandbox '%s' up in %.1f s\n", sb->netns, elapsed(&t0));
    return 0;
}

static int teardown(void **state)
{
    if (conn) {
        for (size_t i = 0; i < ELEMENTSOF(guests); i++)
            if (guests[i].name[0])
                fixture_guest_remove(conn, guests[i].name);
        virConnectClose(conn);
        conn = NULL;
    }
    if (sb) {
        Error err = ERROR_INIT;
        if (sandbox_destroy(sb, &err) < 0)
            fprintf(stderr, "# %s\n", err.message);
        error_clear(&err);
        sandbox_free(sb);
        sb = NULL;
    }
    if (have_tmpdir)
        fs_rm_rf(tmpdir, NULL);
    return 0;
}

/* ---- the golden files, defined on the real QEMU driver --------------------------------- */

static const struct {
    const char *name;
    const char *machine;
} goldens[] = {
        {"virtio-only", "q35"}, {"virtio-scsi", "q35"}, {"sata-8", "q35"}, {"ide-pc-cdrom", "pc"},
        {"mixed", "q35"},       {"scsi-hbas", "pc"},    {"escape", "q35"},
};

/* libvirt's QEMU driver checks at define what the test driver cannot: the machine has the buses
 * and controller models, and the addresses fit them. */
static void test_goldens_on_qemu(void **state)
{
    if (!conn)
        skip();
    for (size_t i = 0; i < ELEMENTSOF(goldens); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "disk-xml/%s.out", goldens[i].name);
        char *g = golden_read(rel);
        assert_non_null(g);
        char *xml = NULL;
        assert_true(asprintf(&xml,
                             "<domain type='qemu'>\n"
                             "  <name>kvdx-golden-%s</name>\n"
                             "  <memory unit='MiB'>256</memory>\n"
                             "  <os>\n"
                             "    <type arch='x86_64' machine='%s'>hvm</type>\n"
                             "  </os>\n"
                             "  <devices>\n"
                             "%s"
                             "  </devices>\n"
                             "</domain>\n",
                             goldens[i].name, goldens[i].machine, g) > 0);
        virDomainPtr d = virDomainDefineXML(conn, xml);
        if (!d)
            fail_msg("%s: the QEMU driver refuses it: %s", goldens[i].name,
                     virGetLastErrorMessage());
        assert_int_equal(virDomainUndefine(d), 0);
        virDomainFree(d);
        free(xml);
        free(g);
    }
}

/* ---- guests ---------------------------------------------------------------------------- */

static const char *controller_of(DiskBus b)
{
    switch (b) {
    case DISK_BUS_SCSI:
        return "virtio-scsi";
    case DISK_BUS_SATA:
        return "ahci";
    case DISK_BUS_IDE:
        return "ide";
    default:
        return NULL;
    }
}

static void guest_name(Guest *g, const char *label)
{
    g->label = label;
    snprintf(g->name, sizeof(g->name), "%s-%s", sb->lab, label);
    snprintf(g->console, sizeof(g->console), "%s/%s-console.log", tmpdir, g->name);
}

/* A guest of the bus-choice table. */
static void guest_from_case(Guest *g, const GuestCase *c)
{
    guest_name(g, c->os);
    g->machine = c->machine;
    g->n_disks = c->n_disks;
    assert_true(c->n_disks <= MAX_DISKS);
    /* the bus each disk gets comes from the chooser, given the OS's facts (osinfo-db), the
     * machine and what this sandbox's hypervisor offers for it; the table says what it must be */
    OsFacts os = {0};
    HvCaps caps = {0};
    Error err = ERROR_INIT;
    assert_int_equal(os_facts_lookup(c->os, &os, &err), 0);
    char *xml = virConnectGetDomainCapabilities(conn, NULL, "x86_64", c->machine, NULL, 0);
    assert_non_null(xml);
    assert_int_equal(hv_caps_parse(xml, c->machine, &caps, &err), 0);
    free(xml);
    for (size_t k = 0; k < c->n_disks; k++) {
        BusRequest req = {.os = &os,
                          .machine = c->machine,
                          .caps = &caps,
                          .bus = c->bus,
                          .n_disks = c->n_disks};
        BusChoice choice = {0};
        assert_int_equal(storage_bus_choose(&req, &choice, &err), 0);
        printf("# %s disk %zu: %s (%s): %s\n", c->os, k, disk_bus_to_string(choice.bus),
               choice.controller ? choice.controller : "-", choice.reason);
        assert_int_equal(choice.bus, c->expect_bus);
        g->bus[k] = choice.bus;
        /* controller_of() keeps the strings alive; it must be the chooser's */
        if (choice.controller)
            assert_string_equal(choice.controller, controller_of(choice.bus));
        else
            assert_null(controller_of(choice.bus));
        g->controller[k] = controller_of(choice.bus);
        bus_choice_clear(&choice);
        g->chain[k] = k < c->n_first ? c->chain : c->chain_rest;
        snprintf(g->serial[k], sizeof(g->serial[k]), "%s-%zu", c->os, k);
    }
    os_facts_clear(&os);
    hv_caps_clear(&caps);
    g->cdrom = c->cdrom;
    g->cdrom_bus = storage_cdrom_bus(c->machine);
    assert_int_equal(g->cdrom_bus, strcmp(c->machine, "pc") == 0 ? DISK_BUS_IDE : DISK_BUS_SATA);
    g->cdrom_chain = c->cdrom_chain;
}

static void guest_vmware_hbas(Guest *g)
{
    guest_name(g, "vmware-hbas");
    g->machine = "pc";
    g->n_disks = ELEMENTSOF(hba_cases) * HBA_DISKS_EACH;
    assert_true(g->n_disks <= MAX_DISKS);
    for (size_t k = 0; k < g->n_disks; k++) {
        size_t m = k % ELEMENTSOF(hba_cases);
        g->bus[k] = DISK_BUS_SCSI;
        g->controller[k] = hba_cases[m].model;
        g->chain[k] = hba_cases[m].chain;
        snprintf(g->serial[k], sizeof(g->serial[k]), "%s-%zu", hba_cases[m].model,
                 k / ELEMENTSOF(hba_cases));
    }
}

/* Make the guest's files and define and start it. 0 or -1 (message on stderr). */
static int guest_start(Guest *g)
{
    const char *kernel, *initrd;
    if (fixture_guest_image(&kernel, &initrd) < 0)
        return -1;

    DiskXml disks[MAX_DISKS + 1];
    size_t n = 0;
    for (size_t i = 0; i < g->n_disks; i++) {
        snprintf(g->disk[i], sizeof(g->disk[i]), "%s/%s-%zu.qcow2", tmpdir, g->name, i);
        /* 16 MiB + i: the size tells which file the guest found behind a serial */
        char size[16];
        snprintf(size, sizeof(size), "%zuM", 16 + i);
        if (fixture_make_disk(g->disk[i], size) < 0) {
            fprintf(stderr, "# qemu-img create '%s' failed\n", g->disk[i]);
            return -1;
        }
        disks[n++] =
                (DiskXml){g->disk[i], "qcow2", g->bus[i], g->controller[i], g->serial[i], false};
    }
    if (g->cdrom) {
        snprintf(g->iso, sizeof(g->iso), "%s/%s-seed.iso", tmpdir, g->name);
        if (fixture_make_seed(g->iso, "instance-id: kvdx\n", "#cloud-config\n") < 0) {
            fprintf(stderr, "# genisoimage '%s' failed\n", g->iso);
            return -1;
        }
        disks[n++] =
                (DiskXml){g->iso, "raw", g->cdrom_bus, controller_of(g->cdrom_bus), NULL, true};
    }
    char *dx = NULL;
    Error err = ERROR_INIT;
    if (storage_disks_xml(disks, n, &dx, &err) < 0) {
        fprintf(stderr, "# %s: %s\n", g->name, err.message);
        error_clear(&err);
        return -1;
    }

    char *xml = NULL;
    /* TESTING.md, "Guests under TCG": direct kernel boot, no USB, no balloon, console to a
     * file; no NIC and no DHCP; power off right after the report */
    int r = asprintf(&xml,
                     "<domain type='qemu'>\n"
                     "  <name>%s</name>\n"
                     "  <memory unit='MiB'>256</memory>\n"
                     "  <vcpu>1</vcpu>\n"
                     "  <os>\n"
                     "    <type arch='x86_64' machine='%s'>hvm</type>\n"
                     "    <kernel>%s</kernel>\n"
                     "    <initrd>%s</initrd>\n"
                     "    <cmdline>console=ttyS0 quiet panic=-1 kvmlab.dhcp=0 kvmlab.hold=0 "
                     "kvmlab.name=%s</cmdline>\n"
                     "  </os>\n"
                     "  <features><acpi/></features>\n"
                     "  <on_poweroff>destroy</on_poweroff>\n"
                     "  <on_reboot>destroy</on_reboot>\n"
                     "  <on_crash>destroy</on_crash>\n"
                     "  <devices>\n"
                     "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
                     "%s"
                     "    <serial type='file'>\n"
                     "      <source path='%s'/>\n"
                     "      <target port='0'/>\n"
                     "    </serial>\n"
                     "    <controller type='usb' model='none'/>\n"
                     "    <memballoon model='none'/>\n"
                     "  </devices>\n"
                     "</domain>\n",
                     g->name, g->machine, kernel, initrd, g->name, dx, g->console);
    free(dx);
    if (r < 0)
        return -1;
    virDomainPtr d = virDomainDefineXML(conn, xml);
    if (!d) {
        fprintf(stderr, "# cannot define '%s': %s\n%s", g->name, virGetLastErrorMessage(), xml);
        free(xml);
        return -1;
    }
    free(xml);
    clock_gettime(CLOCK_MONOTONIC, &g->t0);
    r = virDomainCreate(d);
    if (r < 0)
        fprintf(stderr, "# cannot start '%s': %s\n", g->name, virGetLastErrorMessage());
    virDomainFree(d);
    g->started = r == 0;
    return r < 0 ? -1 : 0;
}

/* Whether the console holds a line with @needle (after "KVMLAB-E2E: "). */
static bool console_has(const char *path, const char *needle)
{
    char *text = NULL;
    bool found = false;
    if (fs_read_all(path, &text, NULL, NULL) == 0) {
        for (char *l = strtok(text, "\r\n"); l && !found; l = strtok(NULL, "\r\n")) {
            char *k = strstr(l, "KVMLAB-E2E: ");
            found = k && strstr(k, needle);
        }
    }
    free(text);
    return found;
}

static bool guest_active(const Guest *g)
{
    virDomainPtr d = virDomainLookupByName(conn, g->name);
    if (!d)
        return false;
    bool active = virDomainIsActive(d) == 1;
    virDomainFree(d);
    return active;
}

/* Check one reported disk: the line for @serial (or the CD-ROM's, by its label). */
static void disk_expect(const Guest *g, const char *needle, const char *chain, const char *sectors,
                        const char *ro)
{
    char *line = fixture_console_wait(g->console, needle, 1);
    if (!line)
        fail_msg("%s: no disk with '%s' reported", g->name, needle);
    printf("# %s: %s\n", g->name, line);
    char *drivers = fixture_line_field(line, "drivers");
    char *sec = fixture_line_field(line, "sectors");
    char *r = fixture_line_field(line, "ro");
    assert_non_null(drivers);
    if (strcmp(drivers, chain) != 0)
        fail_msg("%s: '%s' is behind drivers '%s', expected '%s'", g->name, needle, drivers, chain);
    if (sectors)
        assert_string_equal(sec, sectors);
    assert_string_equal(r, ro);
    free(drivers);
    free(sec);
    free(r);
    free(line);
}

static void test_guest_disks(void **state)
{
    if (!conn)
        skip();
    const size_t n = N_GUESTS;
    for (size_t i = 0; i < ELEMENTSOF(guest_cases); i++)
        guest_from_case(&guests[i], &guest_cases[i]);
    guest_vmware_hbas(&guests[ELEMENTSOF(guest_cases)]);

    /* at most PARALLEL guests run; the next starts when one has reported (and powers off) */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t next = 0, running = 0, finished = 0;
    while (finished < n) {
        while (running < PARALLEL && next < n) {
            if (guest_start(&guests[next]) < 0)
                fail_msg("guest '%s' did not start", guests[next].name);
            next++;
            running++;
        }
        usleep(250000);
        for (size_t i = 0; i < next; i++) {
            Guest *g = &guests[i];
            if (g->finished)
                continue;
            bool done = console_has(g->console, "DONE ");
            if (done || !guest_active(g) || elapsed(&g->t0) > GUEST_TIMEOUT_S) {
                g->finished = true;
                g->seconds = elapsed(&g->t0);
                running--;
                finished++;
                if (!done) {
                    /* prints what the guest did say */
                    free(fixture_console_wait(g->console, "DONE ", 0));
                    fail_msg("guest '%s' (%s on %s) ended or timed out after %.1f s without "
                             "DONE",
                             g->name, g->label, g->machine, g->seconds);
                }
                printf("# %s (%s): DONE after %.1f s\n", g->name, g->machine, g->seconds);
            }
        }
    }
    printf("# %zu guests in %.1f s, %d at a time\n", n, elapsed(&t0), PARALLEL);

    for (size_t i = 0; i < n; i++) {
        const Guest *g = &guests[i];
        for (size_t k = 0; k < g->n_disks; k++) {
            char needle[64], sectors[32];
            /* " ro=" after it: "x-1" must not match "x-10" */
            snprintf(needle, sizeof(needle), "serial=%s ro=", g->serial[k]);
            snprintf(sectors, sizeof(sectors), "%zu", (16 + k) * 2048);
            disk_expect(g, needle, g->chain[k], sectors, "0");
        }
        if (g->cdrom)
            disk_expect(g, "label=cidata", g->cdrom_chain, NULL, "1");
        /* nothing else: no disk the machine adds on its own */
        char want[32];
        snprintf(want, sizeof(want), "DISKS count=%zu ", g->n_disks + (g->cdrom ? 1 : 0));
        char *count = fixture_console_wait(g->console, want, 1);
        if (!count)
            fail_msg("%s: the guest did not report %s", g->name, want);
        free(count);
    }
}

/* ---- nothing stays ---------------------------------------------------------------------- */

static void test_nothing_left(void **state)
{
    if (!conn)
        skip();
    for (size_t i = 0; i < ELEMENTSOF(guests); i++)
        if (guests[i].name[0])
            fixture_guest_remove(conn, guests[i].name);
    virConnectClose(conn);
    conn = NULL;
    Error err = ERROR_INIT;
    int r = sandbox_destroy(sb, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    assert_false(sandbox_exists(sb));
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(sandbox_netns_pids(sb->netns, &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(pids);
    assert_int_equal(fs_rm_rf(tmpdir, &err), 0);
    assert_int_equal(access(tmpdir, F_OK), -1);
    have_tmpdir = false;
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_goldens_on_qemu),
            cmocka_unit_test(test_guest_disks),
            cmocka_unit_test(test_nothing_left),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
