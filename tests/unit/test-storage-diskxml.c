/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk XML (storage_disks_xml): golden files in tests/data/disk-xml/ (hand-checked: see the
 * README there), each wrapped into a minimal domain and accepted by the real consumers
 * (virt-xml-validate's domain schema, and libvirt's parser through test:///default, whose
 * re-formatted domain must hold every disk where we put it and exactly our controllers), then
 * the errors and the target names past 'z'.
 *
 * Regenerate the golden files only by hand, then read the diff line by line:
 *   KVMLAB_REGENERATE=1 BUILD/tests/unit/test-storage-diskxml && git diff tests/data/disk-xml
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/spawn.h"
#include "kvmlab/storage.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)

#define POOL "/var/lib/kvmlab/pools/demo-pool/"

/* ---- the cases ------------------------------------------------------------------------- */

static const DiskXml virtio_only[] = {
        {POOL "cp-0.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "cp-0", false},
        {POOL "cp-1.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "cp-1", false},
};

static const DiskXml virtio_scsi[] = {
        {POOL "db-0.qcow2", "qcow2", DISK_BUS_SCSI, "virtio-scsi", "db-0", false},
        {POOL "db-1.qcow2", "qcow2", DISK_BUS_SCSI, "virtio-scsi", "db-1", false},
        {POOL "db-2.raw", "raw", DISK_BUS_SCSI, NULL, "db-2", false},
};

static const DiskXml sata_8[] = {
        {POOL "win-0.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-0", false},
        {POOL "win-1.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-1", false},
        {POOL "win-2.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-2", false},
        {POOL "win-3.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-3", false},
        {POOL "win-4.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-4", false},
        {POOL "win-5.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-5", false},
        {POOL "win-6.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "win-6", false},
        {POOL "win-7.qcow2", "qcow2", DISK_BUS_SATA, NULL, "win-7", false},
};

static const DiskXml ide_pc_cdrom[] = {
        {POOL "xp-0.qcow2", "qcow2", DISK_BUS_IDE, "ide", "xp-0", false},
        {POOL "xp-1.qcow2", "qcow2", DISK_BUS_IDE, "ide", "xp-1", false},
        {POOL "xp-seed.iso", "raw", DISK_BUS_IDE, "ide", NULL, true},
};

/* what a node with a root disk, data disks on three buses and its seed would look like */
static const DiskXml mixed[] = {
        {POOL "n1-0.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "n1-0", false},
        {POOL "n1-1.qcow2", "qcow2", DISK_BUS_SCSI, "virtio-scsi", "n1-1", false},
        {POOL "n1-2.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "n1-2", false},
        {POOL "n1-seed.iso", "raw", DISK_BUS_SATA, "ahci", NULL, true},
        {POOL "n1-3.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "n1-3", false},
        {POOL "n1-4.qcow2", "qcow2", DISK_BUS_SCSI, "virtio-scsi", "n1-4", false},
};

/* VMware's HBAs: 7 disks per controller, by unit on lsilogic and by target on the others */
static const DiskXml scsi_hbas[] = {
        {POOL "vm-0.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-0", false},
        {POOL "vm-1.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-1", false},
        {POOL "vm-2.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-2", false},
        {POOL "vm-3.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-3", false},
        {POOL "vm-4.qcow2", "qcow2", DISK_BUS_SCSI, "vmpvscsi", "vm-4", false},
        {POOL "vm-5.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-5", false},
        {POOL "vm-6.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-6", false},
        {POOL "vm-7.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-7", false},
        {POOL "vm-8.qcow2", "qcow2", DISK_BUS_SCSI, "lsilogic", "vm-8", false},
        {POOL "vm-9.qcow2", "qcow2", DISK_BUS_SCSI, "vmpvscsi", "vm-9", false},
        {POOL "vm-10.qcow2", "qcow2", DISK_BUS_SCSI, "lsisas1078", "vm-10", false},
};

/* an imported node: its disk, two CD-ROMs (an ISO and an empty drive), then the seed */
static const DiskXml cdroms_q35[] = {
        {POOL "imp-0.qcow2", "qcow2", DISK_BUS_SATA, "ahci", "imp-0", false},
        {"/srv/isos/tools.iso", "raw", DISK_BUS_SATA, NULL, NULL, true},
        {NULL, "raw", DISK_BUS_SATA, NULL, NULL, true},
        {POOL "imp-seed.iso", "raw", DISK_BUS_SATA, NULL, NULL, true},
};

/* paths may hold anything a file name can */
static const DiskXml escape[] = {
        {"/srv/lab's \"vm\" <1> & more/disk.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "esc-0", false},
        {"/srv/a&b/seed <x>.iso", "raw", DISK_BUS_SATA, NULL, NULL, true},
};

typedef struct DiskCase {
    const char *name;    /* tests/data/disk-xml/<name>.out */
    const char *machine; /* the domain it is wrapped in */
    const DiskXml *disks;
    size_t n;
} DiskCase;

#define CASE(name, machine, arr)                                                                   \
    {                                                                                              \
        name, machine, arr, ELEMENTSOF(arr)                                                        \
    }

static const DiskCase cases[] = {
        CASE("virtio-only", "q35", virtio_only),
        CASE("virtio-scsi", "q35", virtio_scsi),
        CASE("sata-8", "q35", sata_8),
        CASE("ide-pc-cdrom", "pc", ide_pc_cdrom),
        CASE("mixed", "q35", mixed),
        CASE("scsi-hbas", "pc", scsi_hbas),
        CASE("escape", "q35", escape),
        CASE("cdroms-q35", "q35", cdroms_q35),
};

/* libvirt's names of the buses (this test's own table, not the code's) */
static const char *const bus_names[DISK_BUS_MAX] = {"virtio", "scsi", "sata", "ide"};

static char *case_xml(const DiskCase *c)
{
    char *xml = NULL;
    Error err = ERROR_INIT;
    int r = storage_disks_xml(c->disks, c->n, &xml, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", c->name, err.message);
    assert_int_equal(r, 0);
    assert_non_null(xml);
    error_clear(&err);
    return xml;
}

static char *case_golden(const DiskCase *c)
{
    _cleanup_free_ char *rel = NULL;
    assert_true(asprintf(&rel, "disk-xml/%s.out", c->name) > 0);
    char *g = golden_read(rel);
    if (!g)
        fprintf(stderr, "tests/data/%s is missing\n", rel);
    assert_non_null(g);
    return g;
}

/* A complete minimal domain around @devices (the golden's elements sit inside <devices>). */
static char *domain_wrap(const char *type, const char *name, const char *machine,
                         const char *devices)
{
    char *xml = NULL;
    assert_true(asprintf(&xml,
                         "<domain type='%s'>\n"
                         "  <name>%s</name>\n"
                         "  <memory unit='MiB'>256</memory>\n"
                         "  <vcpu>1</vcpu>\n"
                         "  <os>\n"
                         "    <type arch='x86_64' machine='%s'>hvm</type>\n"
                         "  </os>\n"
                         "  <devices>\n"
                         "%s"
                         "  </devices>\n"
                         "</domain>\n",
                         type, name, machine, devices) > 0);
    return xml;
}

/* ---- golden files ---------------------------------------------------------------------- */

static void test_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DiskCase *c = &cases[i];
        _cleanup_free_ char *xml = case_xml(c);
        _cleanup_free_ char *again = case_xml(c);
        _cleanup_free_ char *rel = NULL;
        assert_string_equal(xml, again);
        assert_true(asprintf(&rel, "disk-xml/%s.out", c->name) > 0);
        if (golden_check(rel, xml) != 0)
            fail_msg("%s differs from its golden file", c->name);
    }
}

/* ---- virt-xml-validate ----------------------------------------------------------------- */

static void test_schema(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DiskCase *c = &cases[i];
        _cleanup_free_ char *golden = case_golden(c);
        _cleanup_free_ char *dom = domain_wrap("qemu", "kvdx-schema", c->machine, golden);
        char path[] = "/tmp/kvdx-diskxml-XXXXXX.xml";
        int fd = mkstemps(path, 4);
        assert_true(fd >= 0);
        size_t len = strlen(dom);
        assert_int_equal(write(fd, dom, len), (ssize_t)len);
        close(fd);

        const char *argv[] = {"virt-xml-validate", path, "domain", NULL};
        SpawnResult res = {0};
        Error err = ERROR_INIT;
        int r = spawn_run(argv, NULL, &res, &err);
        unlink(path);
        /* scripts/setup.sh installs it (libvirt-clients, libxml2-utils): a missing validator
         * is a failure, not a reason to skip */
        if (r < 0 || res.status == 127)
            fprintf(stderr, "cannot run virt-xml-validate: %s\n",
                    err.message ? err.message : res.err);
        assert_int_equal(r, 0);
        if (res.status != 0)
            fprintf(stderr, "%s wrapped in a domain: %s%s", c->name, res.out, res.err);
        assert_int_equal(res.status, 0);
        spawn_result_clear(&res);
        error_clear(&err);
    }
}

/* ---- libvirt's parser: test:///default ------------------------------------------------- */

static void silent_error(void *userdata, virErrorPtr e)
{
    (void)userdata;
    (void)e;
}

static xmlDocPtr xml_parse(const char *text)
{
    xmlDocPtr doc = xmlReadMemory(text, (int)strlen(text), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    assert_non_null(doc);
    return doc;
}

/* The string value of @expr evaluated at @node; a new string ("" when nothing matches). */
static char *xp_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
    _cleanup_free_ char *e = NULL;
    assert_true(asprintf(&e, "string(%s)", expr) > 0);
    ctx->node = node;
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST e, ctx);
    assert_non_null(o);
    char *s = strdup(o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return s;
}

static double xp_number(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
    ctx->node = node;
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    assert_non_null(o);
    double v = xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return v;
}

static xmlNodePtr xp_node(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
    ctx->node = node;
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    assert_non_null(o);
    xmlNodePtr n = o->nodesetval && o->nodesetval->nodeNr > 0 ? o->nodesetval->nodeTab[0] : NULL;
    xmlXPathFreeObject(o);
    return n;
}

/* One "type/index/model" line per controller, in document order. */
static char *controllers_list(xmlXPathContextPtr ctx)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int n = (int)xp_number(ctx, NULL, "count(/domain/devices/controller)");
    for (int i = 1; i <= n; i++) {
        char expr[128];
        snprintf(expr, sizeof(expr), "/domain/devices/controller[%d]", i);
        xmlNodePtr c = xp_node(ctx, NULL, expr);
        _cleanup_free_ char *t = xp_string(ctx, c, "@type");
        _cleanup_free_ char *x = xp_string(ctx, c, "@index");
        _cleanup_free_ char *m = xp_string(ctx, c, "@model");
        fprintf(f, "%s/%s/%s\n", t, x, m);
    }
    fclose(f);
    return buf;
}

/*
 * libvirt took every disk as we meant it: the disk with our target name has the case's file,
 * format, bus, serial and CD-ROM-ness (from the case table, not from our XML) and our drive
 * address; and libvirt added no controller (it adds one for any drive address whose controller
 * is missing) and dropped none.
 */
static void roundtrip_check(const DiskCase *c, const char *ours, const char *dumped)
{
    _cleanup_(xmlFreeDocp) xmlDocPtr od = xml_parse(ours);
    _cleanup_(xmlFreeDocp) xmlDocPtr dd = xml_parse(dumped);
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr oc = xmlXPathNewContext(od);
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr dc = xmlXPathNewContext(dd);

    assert_int_equal((int)xp_number(oc, NULL, "count(/domain/devices/disk)"), (int)c->n);
    assert_int_equal((int)xp_number(dc, NULL, "count(/domain/devices/disk)"), (int)c->n);
    for (size_t i = 0; i < c->n; i++) {
        const DiskXml *d = &c->disks[i];
        char expr[128];
        snprintf(expr, sizeof(expr), "/domain/devices/disk[%zu]", i + 1);
        xmlNodePtr on = xp_node(oc, NULL, expr);
        assert_non_null(on);
        _cleanup_free_ char *dev = xp_string(oc, on, "target/@dev");
        assert_true(dev[0] != 0);

        /* find it in libvirt's dump (libvirt sorts disks its own way) */
        xmlNodePtr dn = NULL;
        int nd = (int)xp_number(dc, NULL, "count(/domain/devices/disk)");
        for (int k = 1; k <= nd && !dn; k++) {
            snprintf(expr, sizeof(expr), "/domain/devices/disk[%d]", k);
            xmlNodePtr cand = xp_node(dc, NULL, expr);
            _cleanup_free_ char *cd = xp_string(dc, cand, "target/@dev");
            if (strcmp(cd, dev) == 0)
                dn = cand;
        }
        if (!dn)
            fail_msg("%s: libvirt has no disk '%s'", c->name, dev);

        _cleanup_free_ char *file = xp_string(dc, dn, "source/@file");
        _cleanup_free_ char *fmt = xp_string(dc, dn, "driver/@type");
        _cleanup_free_ char *bus = xp_string(dc, dn, "target/@bus");
        _cleanup_free_ char *device = xp_string(dc, dn, "@device");
        _cleanup_free_ char *serial = xp_string(dc, dn, "serial");
        double ro = xp_number(dc, dn, "count(readonly)");
        assert_string_equal(file, d->path ? d->path : ""); /* an empty drive has no source */
        assert_string_equal(fmt, d->format);
        assert_string_equal(bus, bus_names[d->bus]);
        assert_string_equal(device, d->cdrom ? "cdrom" : "disk");
        assert_string_equal(serial, d->serial ? d->serial : "");
        assert_int_equal((int)ro, d->cdrom ? 1 : 0);

        _cleanup_free_ char *oaddr = xp_string(oc, on,
                                               "concat(address/@type, ' ', "
                                               "address/@controller, ' ', address/@bus, "
                                               "' ', address/@target, ' ', address/@unit)");
        _cleanup_free_ char *daddr = xp_string(dc, dn,
                                               "concat(address/@type, ' ', "
                                               "address/@controller, ' ', address/@bus, "
                                               "' ', address/@target, ' ', address/@unit)");
        if (d->bus == DISK_BUS_VIRTIO) {
            assert_string_equal(oaddr, "    "); /* none: libvirt gives it a PCI slot */
        } else {
            assert_string_equal(daddr, oaddr);
            assert_memory_equal(oaddr, "drive ", 6);
        }
    }

    _cleanup_free_ char *oc_list = controllers_list(oc);
    _cleanup_free_ char *dc_list = controllers_list(dc);
    if (strcmp(oc_list, dc_list) != 0)
        fail_msg("%s: libvirt's controllers differ from ours:\nours:\n%slibvirt's:\n%s", c->name,
                 oc_list, dc_list);
}

static void test_libvirt_define(void **state)
{
    (void)state;
    virSetErrorFunc(NULL, silent_error);
    _cleanup_(virConnectClosep) virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DiskCase *c = &cases[i];
        _cleanup_free_ char *golden = case_golden(c);
        _cleanup_free_ char *name = NULL;
        assert_true(asprintf(&name, "kvdx-%s", c->name) > 0);
        /* the test driver's domain type is 'test' */
        _cleanup_free_ char *dom = domain_wrap("test", name, c->machine, golden);
        _cleanup_(virDomainFreep) virDomainPtr d = virDomainDefineXML(conn, dom);
        if (!d)
            fail_msg("%s: libvirt refuses the domain: %s", c->name, virGetLastErrorMessage());
        _cleanup_free_ char *dumped = virDomainGetXMLDesc(d, 0);
        assert_non_null(dumped);
        roundtrip_check(c, dom, dumped);
        assert_int_equal(virDomainUndefine(d), 0);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void expect_error(const DiskXml *disks, size_t n, const char *message)
{
    char *xml = (char *)"untouched";
    Error err = ERROR_INIT;
    assert_int_equal(storage_disks_xml(disks, n, &xml, &err), -EINVAL);
    assert_string_equal(xml, "untouched");
    assert_non_null(err.message);
    if (strcmp(err.message, message) != 0)
        fail_msg("error message\n  got:  %s\n  want: %s", err.message, message);
    error_clear(&err);
}

static void test_ide_full(void **state)
{
    (void)state;
    DiskXml ide[5] = {
            {"/p/a.qcow2", "qcow2", DISK_BUS_IDE, NULL, "a", false},
            {"/p/b.qcow2", "qcow2", DISK_BUS_IDE, NULL, "b", false},
            {"/p/c.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "c", false},
            {"/p/seed.iso", "raw", DISK_BUS_IDE, NULL, NULL, true},
            {"/p/d.qcow2", "qcow2", DISK_BUS_IDE, NULL, "d", false},
    };
    /* four IDE devices fit: the last is hdd, secondary bus, slave */
    char *xml = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(storage_disks_xml(ide, 5, &xml, &err), 0);
    assert_non_null(strstr(xml, "<target dev='hdd' bus='ide'/>\n"
                                "      <serial>d</serial>\n"
                                "      <address type='drive' controller='0' bus='1' target='0' "
                                "unit='1'/>\n"));
    free(xml);

    /* a fifth does not */
    DiskXml five[6];
    memcpy(five, ide, sizeof(ide));
    five[5] = (DiskXml){"/p/e.qcow2", "qcow2", DISK_BUS_IDE, "ide", "e", false};
    expect_error(five, 6,
                 "Disk 5 ('/p/e.qcow2') would be IDE device 5, but IDE holds 4 devices "
                 "(machine pc: 2 buses of 2 units); put the others on virtio, sata or scsi");
}

static void test_refused(void **state)
{
    (void)state;
    DiskXml d = {"/p/x.iso", "raw", DISK_BUS_VIRTIO, NULL, NULL, true};
    expect_error(&d, 1,
                 "Disk 0 ('/p/x.iso') is a CD-ROM on bus 'virtio', which cannot hold one (use "
                 "sata, ide or scsi)");

    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_SCSI, "buslogic", "x", false};
    expect_error(&d, 1,
                 "Disk 0 ('/p/x.qcow2') names SCSI controller model 'buslogic', which kvmlab does "
                 "not place disks on (virtio-scsi, lsilogic, vmpvscsi, lsisas1078)");

    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_SATA, "ide", "x", false};
    expect_error(&d, 1,
                 "Disk 0 ('/p/x.qcow2') is on bus 'sata' but names controller 'ide' (a SATA disk "
                 "sits on 'ahci')");

    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_IDE, "ahci", "x", false};
    expect_error(&d, 1,
                 "Disk 0 ('/p/x.qcow2') is on bus 'ide' but names controller 'ahci' (an IDE disk "
                 "sits on 'ide')");

    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_VIRTIO, "virtio-scsi", "x", false};
    expect_error(&d, 1,
                 "Disk 0 ('/p/x.qcow2') is on bus 'virtio', which has no controller, but names "
                 "controller 'virtio-scsi'");

    /* libvirt's QEMU driver: "driver serial 'a&b' contains unsafe characters" */
    DiskXml two[2] = {
            {"/p/a.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "a", false},
            {"/p/b.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, "a&b", false},
    };
    expect_error(two, 2,
                 "Serial 'a&b' of disk 1 ('/p/b.qcow2') holds characters libvirt's QEMU driver "
                 "refuses (it takes letters, digits, '_', ' ', '.', '+' and '-')");

    /* 21 bytes: QEMU would cut it to 20 without a word */
    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_SATA, NULL, "abcdefghij0123456789k", false};
    expect_error(&d, 1,
                 "Serial 'abcdefghij0123456789k' of disk 0 ('/p/x.qcow2') is longer than the 20 "
                 "bytes a SATA or IDE disk holds");
    d.bus = DISK_BUS_VIRTIO;
    expect_error(&d, 1,
                 "Serial 'abcdefghij0123456789k' of disk 0 ('/p/x.qcow2') is longer than the 20 "
                 "bytes a virtio disk holds");
    /* 20 fit; SCSI (VPD page 0x80) takes longer ones */
    char *xml = NULL;
    Error err = ERROR_INIT;
    d.serial = "abcdefghij0123456789";
    assert_int_equal(storage_disks_xml(&d, 1, &xml, &err), 0);
    free(xml);
    d.serial = "abcdefghij0123456789k";
    d.bus = DISK_BUS_SCSI;
    assert_int_equal(storage_disks_xml(&d, 1, &xml, &err), 0);
    free(xml);

    d = (DiskXml){NULL, "qcow2", DISK_BUS_VIRTIO, NULL, "x", false};
    expect_error(&d, 1, "Disk 0 has no source file");
    d = (DiskXml){"/p/x.qcow2", NULL, DISK_BUS_VIRTIO, NULL, "x", false};
    expect_error(&d, 1, "Disk 0 ('/p/x.qcow2') has no format");
    d = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_MAX, NULL, "x", false};
    expect_error(&d, 1, "Disk 0 ('/p/x.qcow2') has no valid bus");
}

static void test_no_disks(void **state)
{
    (void)state;
    char *xml = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(storage_disks_xml(NULL, 0, &xml, &err), 0);
    assert_string_equal(xml, "");
    free(xml);
}

/* Past 26 disks the names go on as libvirt reads them: vdz, vdaa, vdab, ... vdzz, vdaaa. */
static void test_target_names(void **state)
{
    (void)state;
    enum { N = 703 };
    DiskXml *d = calloc(N, sizeof(*d));
    assert_non_null(d);
    for (size_t i = 0; i < N; i++)
        d[i] = (DiskXml){"/p/x.qcow2", "qcow2", DISK_BUS_VIRTIO, NULL, NULL, false};
    char *xml = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(storage_disks_xml(d, N, &xml, &err), 0);
    static const struct {
        size_t index;
        const char *dev;
    } names[] = {{0, "vda"},   {25, "vdz"},  {26, "vdaa"},  {27, "vdab"},
                 {51, "vdaz"}, {52, "vdba"}, {701, "vdzz"}, {702, "vdaaa"}};
    /* the i-th <target> in the output */
    for (size_t k = 0; k < ELEMENTSOF(names); k++) {
        const char *p = xml;
        for (size_t i = 0; i <= names[k].index; i++) {
            p = strstr(p, "<target dev='");
            assert_non_null(p);
            p += strlen("<target dev='");
        }
        assert_int_equal(strcspn(p, "'"), strlen(names[k].dev));
        assert_memory_equal(p, names[k].dev, strlen(names[k].dev));
    }
    free(xml);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_golden),         cmocka_unit_test(test_schema),
            cmocka_unit_test(test_libvirt_define), cmocka_unit_test(test_ide_full),
            cmocka_unit_test(test_refused),        cmocka_unit_test(test_no_disks),
            cmocka_unit_test(test_target_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
