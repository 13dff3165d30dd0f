/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain XML of a node (node_domain_xml): golden files in tests/data/domain-xml/ (hand-checked:
 * see the README there), each accepted by the real consumers (virt-xml-validate's domain
 * schema, and libvirt's parser through test:///default, whose dump must say what the case's
 * inputs say); node_domain_parse reads libvirt's dump back to the inputs; hand-made documents
 * for the parser's units, namespaces and errors; node_uuid against values computed with
 * Python's uuid.uuid5.
 *
 * Regenerate the golden files only by hand, then read the diff line by line:
 *   KVMLAB_REGENERATE=1 BUILD/tests/unit/test-node-domxml && git diff tests/data/domain-xml
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
#include "kvmlab/node.h"
#include "kvmlab/spawn.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, xmlXPathFreeContext)

#define POOL "/var/lib/kvmlab/pools/demo/"
#define MAC(a, b, c)                                                                               \
    {                                                                                              \
        {                                                                                          \
            0x52, 0x54, 0x00, a, b, c                                                              \
        }                                                                                          \
    }

/* ---- the cases ------------------------------------------------------------------------- */

/* Disks as storage_disks_xml() writes them (written here by hand, at <devices> indentation). */
static const char disks_q35[] = "    <disk type='file' device='disk'>\n"
                                "      <driver name='qemu' type='qcow2'/>\n"
                                "      <source file='" POOL "cp-1-0.qcow2'/>\n"
                                "      <target dev='vda' bus='virtio'/>\n"
                                "      <serial>cp-1-0</serial>\n"
                                "    </disk>\n"
                                "    <disk type='file' device='cdrom'>\n"
                                "      <driver name='qemu' type='raw'/>\n"
                                "      <source file='" POOL "cp-1-seed.iso'/>\n"
                                "      <target dev='sda' bus='sata'/>\n"
                                "      <readonly/>\n"
                                "      <address type='drive' controller='0' bus='0' target='0' "
                                "unit='0'/>\n"
                                "    </disk>\n"
                                "    <controller type='sata' index='0'/>\n";

static const char disks_pc[] = "    <disk type='file' device='disk'>\n"
                               "      <driver name='qemu' type='qcow2'/>\n"
                               "      <source file='" POOL "w-1-0.qcow2'/>\n"
                               "      <target dev='vda' bus='virtio'/>\n"
                               "      <serial>w-1-0</serial>\n"
                               "    </disk>\n"
                               "    <disk type='file' device='cdrom'>\n"
                               "      <driver name='qemu' type='raw'/>\n"
                               "      <source file='" POOL "w-1-seed.iso'/>\n"
                               "      <target dev='hdc' bus='ide'/>\n"
                               "      <readonly/>\n"
                               "      <address type='drive' controller='0' bus='1' target='0' "
                               "unit='0'/>\n"
                               "    </disk>\n"
                               "    <controller type='ide' index='0'/>\n";

static const char disk_one[] = "    <disk type='file' device='disk'>\n"
                               "      <driver name='qemu' type='qcow2'/>\n"
                               "      <source file='" POOL "n-0.qcow2'/>\n"
                               "      <target dev='vda' bus='virtio'/>\n"
                               "    </disk>\n";

/* an imported node: its boot disk, an ISO and an empty drive, then the seed (SATA on q35) */
static const char disks_cdroms[] = "    <disk type='file' device='disk'>\n"
                                   "      <driver name='qemu' type='qcow2'/>\n"
                                   "      <source file='" POOL "imp-0.qcow2'/>\n"
                                   "      <target dev='vda' bus='virtio'/>\n"
                                   "      <serial>imp-0</serial>\n"
                                   "    </disk>\n"
                                   "    <disk type='file' device='cdrom'>\n"
                                   "      <driver name='qemu' type='raw'/>\n"
                                   "      <source file='/srv/isos/tools.iso'/>\n"
                                   "      <target dev='sda' bus='sata'/>\n"
                                   "      <readonly/>\n"
                                   "      <address type='drive' controller='0' bus='0' target='0' "
                                   "unit='0'/>\n"
                                   "    </disk>\n"
                                   "    <disk type='file' device='cdrom'>\n"
                                   "      <driver name='qemu' type='raw'/>\n"
                                   "      <target dev='sdb' bus='sata'/>\n"
                                   "      <readonly/>\n"
                                   "      <address type='drive' controller='0' bus='0' target='0' "
                                   "unit='1'/>\n"
                                   "    </disk>\n"
                                   "    <disk type='file' device='cdrom'>\n"
                                   "      <driver name='qemu' type='raw'/>\n"
                                   "      <source file='" POOL "imp-seed.iso'/>\n"
                                   "      <target dev='sdc' bus='sata'/>\n"
                                   "      <readonly/>\n"
                                   "      <address type='drive' controller='0' bus='0' target='0' "
                                   "unit='2'/>\n"
                                   "    </disk>\n"
                                   "    <controller type='sata' index='0'/>\n";

static const DomainNic nics_two[] = {
        {"demo-vmnet8", NULL, MAC(0x1a, 0x2b, 0x3c), "virtio"},
        {"demo-vmnet1", NULL, MAC(0x1a, 0x2b, 0x3d), "e1000e"},
};
static const DomainNic nic_net[] = {{"demo-vmnet8", NULL, MAC(0x00, 0x00, 0x01), "virtio"}};
static const DomainNic nic_bridge[] = {{NULL, "br-lan", MAC(0xaa, 0xbb, 0xcc), "virtio"}};

typedef struct DomCase {
    const char *name; /* tests/data/domain-xml/<name>.xml */
    DomainSpec spec;
} DomCase;

static const DomCase cases[] = {
        {"direct-kernel-tcg-q35",
         {
                 .name = "demo-cp-1",
                 .uuid = "8562c763-4d22-5f97-a406-0eba050c9940",
                 .lab = "demo",
                 .key = "cp-1",
                 .hash = "3f5a0c1e9b7d2468",
                 .spec = "cpus=2\nmemory=2048\n",
                 .kvm = false,
                 .cpus = 2,
                 .memory_mib = 2048,
                 .machine = "q35",
                 .kernel = "/var/lib/kvmlab/images/vmlinuz-6.1.0-57-amd64",
                 .initrd = "/var/lib/kvmlab/images/initrd.img-6.1.0-57-amd64",
                 .cmdline = "console=ttyS0 root=/dev/vda rw panic=-1",
                 .disks_xml = disks_q35,
                 .nics = nics_two,
                 .n_nics = 2,
                 .console_log = "/var/lib/kvmlab/labs/demo/cp-1/console.log",
         }},
        {"kvm-pc-disk-boot",
         {
                 .name = "demo-w-1",
                 .uuid = "75fc7e9b-1572-5657-92a5-0715d842d913",
                 .lab = "demo",
                 .key = "w-1",
                 .hash = "0000aaaa1111bbbb",
                 .spec = "cpus=4\n",
                 .kvm = true,
                 .cpus = 4,
                 .memory_mib = 4096,
                 .machine = "pc",
                 .disks_xml = disks_pc,
                 .nics = nic_net,
                 .n_nics = 1,
                 .console_log = "/var/lib/kvmlab/labs/demo/w-1/console.log",
         }},
        {"bridge-nic",
         {
                 .name = "demo-br",
                 .uuid = "58d97025-2f18-57eb-9483-c696150a41f3",
                 .lab = "demo",
                 .key = "br",
                 .hash = "h",
                 .spec = "s",
                 .kvm = false,
                 .cpus = 1,
                 .memory_mib = 512,
                 .machine = "q35",
                 .disks_xml = disk_one,
                 .nics = nic_bridge,
                 .n_nics = 1,
                 .console_log = "/tmp/br/console.log",
         }},
        {"accel-fallback",
         {
                 .name = "demo-fb",
                 .uuid = "b5150076-a3a4-5346-a492-45b9fe74aa47",
                 .lab = "demo",
                 .key = "fb",
                 .hash = "h2",
                 .spec = "accel=kvm\n",
                 .accel_fallback = "kvm was asked for but /dev/kvm is missing",
                 .kvm = false,
                 .cpus = 1,
                 .memory_mib = 1024,
                 .machine = "q35",
                 .disks_xml = disk_one,
                 .nics = nic_net,
                 .n_nics = 1,
                 .console_log = "/tmp/fb/console.log",
         }},
        {"efi-cdroms",
         {
                 .name = "demo-imp",
                 .uuid = "0f3c8a52-6d1e-5b7a-9c44-2e8d61f0a7b3",
                 .lab = "demo",
                 .key = "imp",
                 .hash = "e1f1e1f1e1f1e1f1",
                 .spec = "firmware=efi\n",
                 .kvm = true,
                 .cpus = 2,
                 .memory_mib = 2048,
                 .machine = "q35",
                 .efi = true,
                 .disks_xml = disks_cdroms,
                 .nics = nic_net,
                 .n_nics = 1,
                 .console_log = "/var/lib/kvmlab/labs/demo/imp/console.log",
         }},
        {"secure-boot",
         {
                 .name = "demo-sb",
                 .uuid = "6a0e2f4b-8c1d-5e3f-a7b9-0c2d4e6f8a1b",
                 .lab = "demo",
                 .key = "sb",
                 .hash = "5b5b5b5b5b5b5b5b",
                 .spec = "firmware=efi,secure-boot\n",
                 .kvm = false,
                 .cpus = 1,
                 .memory_mib = 1024,
                 .machine = "q35",
                 .efi = true,
                 .secure_boot = true,
                 .disks_xml = disk_one,
                 .nics = nic_net,
                 .n_nics = 1,
                 .console_log = "/var/lib/kvmlab/labs/demo/sb/console.log",
         }},
        {"escape",
         {
                 .name = "demo-esc",
                 .lab = "demo",
                 .key = "k'ey\"<&>",
                 .hash = "h&h",
                 .spec = "cmd='a \"b\" <c> & d'\nx=1\n",
                 .accel_fallback = "<why> & 'how'",
                 .kvm = true,
                 .cpus = 1,
                 .memory_mib = 256,
                 .machine = "q35",
                 .kernel = "/srv/k&k/vmlinuz",
                 .cmdline = "console=ttyS0 msg=\"a<b&c\" x='y'",
                 .nics = nic_net,
                 .n_nics = 1,
                 .console_log = "/srv/lab's & \"logs\"/<c>.log",
         }},
};

static char *case_xml(const DomCase *c)
{
    char *xml = NULL;
    Error err = ERROR_INIT;
    int r = node_domain_xml(&c->spec, &xml, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", c->name, err.message);
    assert_int_equal(r, 0);
    assert_non_null(xml);
    error_clear(&err);
    return xml;
}

static char *case_golden(const DomCase *c)
{
    _cleanup_free_ char *rel = NULL;
    assert_true(asprintf(&rel, "domain-xml/%s.xml", c->name) > 0);
    char *g = golden_read(rel);
    if (!g)
        fprintf(stderr, "tests/data/%s is missing\n", rel);
    assert_non_null(g);
    return g;
}

/* ---- golden files ---------------------------------------------------------------------- */

static void test_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DomCase *c = &cases[i];
        _cleanup_free_ char *xml = case_xml(c);
        _cleanup_free_ char *again = case_xml(c);
        _cleanup_free_ char *rel = NULL;
        assert_string_equal(xml, again);
        assert_true(asprintf(&rel, "domain-xml/%s.xml", c->name) > 0);
        if (golden_check(rel, xml) != 0)
            fail_msg("%s differs from its golden file", c->name);
    }
}

/* ---- virt-xml-validate ----------------------------------------------------------------- */

static void test_schema(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DomCase *c = &cases[i];
        _cleanup_free_ char *rel = NULL, *path = NULL;
        assert_true(asprintf(&rel, "domain-xml/%s.xml", c->name) > 0);
        assert_non_null(path = golden_path(rel));

        const char *argv[] = {"virt-xml-validate", path, "domain", NULL};
        SpawnResult res = {0};
        Error err = ERROR_INIT;
        int r = spawn_run(argv, NULL, &res, &err);
        /* scripts/setup.sh installs it (libvirt-clients, xmllint from libxml2-utils): a
         * missing validator is a failure, not a reason to skip */
        if (r < 0 || res.status == 127)
            fprintf(stderr, "cannot run virt-xml-validate (libvirt-clients): %s\n",
                    err.message ? err.message : res.err);
        assert_int_equal(r, 0);
        if (res.status != 0)
            fprintf(stderr, "%s: %s%s", c->name, res.out, res.err);
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

/* The string value of @expr (relative to /domain) in @ctx's document; new string. */
static char *xp(xmlXPathContextPtr ctx, const char *expr)
{
    _cleanup_free_ char *e = NULL;
    assert_true(asprintf(&e, "string(/domain/%s)", expr) > 0);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST e, ctx);
    assert_non_null(o);
    char *s = strdup(o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return s;
}

static int xp_count(xmlXPathContextPtr ctx, const char *expr)
{
    _cleanup_free_ char *e = NULL;
    assert_true(asprintf(&e, "count(/domain/%s)", expr) > 0);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST e, ctx);
    assert_non_null(o);
    int n = (int)xmlXPathCastToNumber(o);
    xmlXPathFreeObject(o);
    return n;
}

#define assert_xp(ctx, expr, want)                                                                 \
    do {                                                                                           \
        _cleanup_free_ char *_got = xp(ctx, expr);                                                 \
        if (strcmp(_got, want) != 0)                                                               \
            fail_msg("%s: %s is '%s', want '%s'", c->name, expr, _got, want);                      \
    } while (0)

/* What libvirt understood, read from its dump with XPath (not with the code under test). */
static void dump_check(const DomCase *c, const char *dumped)
{
    const DomainSpec *s = &c->spec;
    _cleanup_(xmlFreeDocp) xmlDocPtr doc =
            xmlReadMemory(dumped, (int)strlen(dumped), "d.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    _cleanup_(xmlXPathFreeContextp) xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    char buf[64];

    assert_xp(ctx, "@type", s->kvm ? "kvm" : "qemu");
    assert_xp(ctx, "name", s->name);
    if (s->uuid)
        assert_xp(ctx, "uuid", s->uuid);
    snprintf(buf, sizeof(buf), "%u", s->cpus);
    assert_xp(ctx, "vcpu", buf);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)s->memory_mib * 1024);
    assert_xp(ctx, "memory[@unit='KiB']", buf);
    assert_xp(ctx, "os/type/@machine", s->machine);
    assert_xp(ctx, "os/type", "hvm");
    assert_xp(ctx, "os/kernel", s->kernel ? s->kernel : "");
    assert_xp(ctx, "os/initrd", s->initrd ? s->initrd : "");
    assert_xp(ctx, "os/cmdline", s->cmdline ? s->cmdline : "");
    /* libvirt adds <boot dev='hd'/> itself when there is none, kernel or not: ours is read
     * from our own document (test_libvirt_roundtrip) */
    assert_xp(ctx, "os/boot/@dev", "hd");
    assert_xp(ctx, "cpu/@mode", s->kvm ? "host-passthrough" : "");
    assert_int_equal(xp_count(ctx, "cpu"), s->kvm ? 1 : 0);
    /* firmware: libvirt keeps the wish for autoselection (test:///default has no descriptors
     * to resolve it with) */
    assert_xp(ctx, "os/@firmware", s->efi ? "efi" : "");
    assert_xp(ctx, "os/firmware/feature[@name='secure-boot']/@enabled",
              !s->efi          ? ""
              : s->secure_boot ? "yes"
                               : "no");
    assert_xp(ctx, "os/firmware/feature[@name='enrolled-keys']/@enabled",
              s->secure_boot ? "yes" : "");
    assert_xp(ctx, "features/smm/@state", s->secure_boot ? "on" : "");
    assert_int_equal(xp_count(ctx, "features/acpi"), 1);
    assert_int_equal(xp_count(ctx, "features/apic"), 1);
    assert_xp(ctx, "clock/@offset", "utc");
    assert_xp(ctx, "clock/timer[@name='hpet']/@present", "no");
    assert_xp(ctx, "on_poweroff", "destroy");
    assert_xp(ctx, "on_reboot", "restart");
    assert_xp(ctx, "on_crash", "destroy");
    assert_xp(ctx, "devices/emulator", "/usr/bin/qemu-system-x86_64");

    assert_int_equal(xp_count(ctx, "devices/interface"), (int)s->n_nics);
    for (size_t i = 0; i < s->n_nics; i++) {
        const DomainNic *n = &s->nics[i];
        char e[96];
        snprintf(e, sizeof(e), "devices/interface[%zu]/@type", i + 1);
        assert_xp(ctx, e, n->network ? "network" : "bridge");
        snprintf(e, sizeof(e), "devices/interface[%zu]/source/@%s", i + 1,
                 n->network ? "network" : "bridge");
        assert_xp(ctx, e, n->network ? n->network : n->bridge);
        snprintf(e, sizeof(e), "devices/interface[%zu]/model/@type", i + 1);
        assert_xp(ctx, e, n->model);
    }

    assert_int_equal(xp_count(ctx, "devices/serial"), 1);
    assert_xp(ctx, "devices/serial/@type", "pty");
    assert_xp(ctx, "devices/serial/log/@file", s->console_log);
    assert_xp(ctx, "devices/serial/log/@append", "off");
    assert_xp(ctx, "devices/serial/target/@port", "0");
    assert_int_equal(xp_count(ctx, "devices/console"), 1);
    assert_xp(ctx, "devices/console/@type", "pty");
    assert_xp(ctx, "devices/console/target/@type", "serial");
    assert_xp(ctx, "devices/channel[@type='unix']/target[@type='virtio']/@name",
              "org.qemu.guest_agent.0");
    assert_xp(ctx, "devices/rng/@model", "virtio");
    assert_xp(ctx, "devices/rng/backend[@model='random']", "/dev/urandom");
    assert_xp(ctx, "devices/controller[@type='usb']/@model", "none");
    assert_xp(ctx, "devices/memballoon/@model", "none");
}

/* node_domain_parse of @xml gives back the case's inputs. */
static void parse_check(const DomCase *c, const char *xml)
{
    const DomainSpec *s = &c->spec;
    DomainLive d = {0};
    Error err = ERROR_INIT;
    int r = node_domain_parse(xml, &d, &err);
    if (r < 0)
        fail_msg("%s: %s", c->name, err.message);
    assert_string_equal(d.lab, s->lab);
    assert_string_equal(d.key, s->key);
    assert_string_equal(d.hash, s->hash);
    assert_string_equal(d.spec, s->spec);
    if (s->accel_fallback)
        assert_string_equal(d.accel_fallback, s->accel_fallback);
    else
        assert_null(d.accel_fallback);
    assert_int_equal(d.kvm, s->kvm);
    assert_int_equal(d.cpus, s->cpus);
    assert_int_equal(d.memory_mib, s->memory_mib);
    assert_int_equal(d.n_macs, s->n_nics);
    for (size_t i = 0; i < s->n_nics; i++) {
        char want[MAC_STRLEN];
        const uint8_t *b = s->nics[i].mac.b;
        /* lower case, formatted here rather than with addr_mac_format */
        snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                 b[5]);
        assert_string_equal(d.macs[i], want);
    }
    assert_string_equal(d.console_log, s->console_log);
    domain_live_clear(&d);
    domain_live_clear(&d); /* cleared twice: harmless */
}

static void test_libvirt_roundtrip(void **state)
{
    (void)state;
    virSetErrorFunc(NULL, silent_error);
    _cleanup_(virConnectClosep) virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DomCase *c = &cases[i];
        _cleanup_free_ char *golden = case_golden(c);
        _cleanup_(virDomainFreep) virDomainPtr d = virDomainDefineXML(conn, golden);
        if (!d)
            fail_msg("%s: libvirt refuses the domain: %s", c->name, virGetLastErrorMessage());
        _cleanup_free_ char *dumped = virDomainGetXMLDesc(d, 0);
        assert_non_null(dumped);
        /* a boot device only without a kernel */
        assert_int_equal(strstr(golden, "<boot dev='hd'/>") != NULL, c->spec.kernel == NULL);
        dump_check(c, dumped);
        parse_check(c, dumped);
        parse_check(c, golden);
        assert_int_equal(virDomainUndefine(d), 0);
    }
}

/* ---- the spec's errors ----------------------------------------------------------------- */

static void expect_error(const DomainSpec *s, const char *message)
{
    char *xml = (char *)"untouched";
    Error err = ERROR_INIT;
    assert_int_equal(node_domain_xml(s, &xml, &err), -EINVAL);
    assert_string_equal(xml, "untouched");
    assert_non_null(err.message);
    if (strcmp(err.message, message) != 0)
        fail_msg("error message\n  got:  %s\n  want: %s", err.message, message);
    error_clear(&err);
}

static void test_refused(void **state)
{
    (void)state;
    DomainSpec s = cases[0].spec;
    s.name = NULL;
    expect_error(&s, "A domain needs a name");
    s.name = "";
    expect_error(&s, "A domain needs a name");

    s = cases[0].spec;
    s.hash = NULL;
    expect_error(&s, "Domain 'demo-cp-1' lacks its kvmlab metadata (lab, key, hash and spec)");
    s = cases[0].spec;
    s.cpus = 0;
    expect_error(&s, "Domain 'demo-cp-1' has no vCPUs");
    s = cases[0].spec;
    s.memory_mib = 0;
    expect_error(&s, "Domain 'demo-cp-1' has no memory");
    s = cases[0].spec;
    s.console_log = NULL;
    expect_error(&s, "Domain 'demo-cp-1' has no console log file");
    s = cases[0].spec;
    s.kernel = NULL;
    expect_error(&s, "Domain 'demo-cp-1' has an initrd or kernel command line but no kernel");

    DomainNic nics[2] = {nics_two[0], nics_two[1]};
    s = cases[0].spec;
    s.nics = nics;
    nics[1].bridge = "br0";
    expect_error(&s, "NIC 1 of domain 'demo-cp-1' needs either a network or a bridge");
    nics[1].bridge = NULL;
    nics[1].network = NULL;
    expect_error(&s, "NIC 1 of domain 'demo-cp-1' needs either a network or a bridge");
    nics[1].network = "n";
    nics[0].model = NULL;
    expect_error(&s, "NIC 0 of domain 'demo-cp-1' has no model");
}

/* No uuid, no NICs, no disks: none of them is written. */
static void test_minimal(void **state)
{
    (void)state;
    DomainSpec s = cases[2].spec;
    s.uuid = NULL;
    s.nics = NULL;
    s.n_nics = 0;
    s.disks_xml = NULL;
    s.machine = NULL;
    _cleanup_free_ char *xml = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(node_domain_xml(&s, &xml, &err), 0);
    assert_null(strstr(xml, "<uuid>"));
    assert_null(strstr(xml, "<interface"));
    assert_null(strstr(xml, "<disk"));
    assert_null(strstr(xml, "machine="));
    assert_non_null(strstr(xml, "    <type arch='x86_64'>hvm</type>\n"));
}

/* ---- the parser on hand-made documents ------------------------------------------------- */

static void parse_ok(const char *xml, DomainLive *ret)
{
    Error err = ERROR_INIT;
    int r = node_domain_parse(xml, ret, &err);
    if (r < 0)
        fail_msg("%s", err.message);
}

static uint64_t memory_of(const char *memory_element)
{
    _cleanup_free_ char *xml = NULL;
    DomainLive d = {0};
    assert_true(asprintf(&xml, "<domain type='qemu'><name>x</name>%s</domain>", memory_element) >
                0);
    parse_ok(xml, &d);
    uint64_t v = d.memory_mib;
    domain_live_clear(&d);
    return v;
}

static void test_parse_memory_units(void **state)
{
    (void)state;
    /* libvirt's units (virScaleInteger): no unit is KiB; KB, MB, GB are powers of 1000 */
    assert_int_equal(memory_of("<memory>262144</memory>"), 256);
    assert_int_equal(memory_of("<memory unit='KiB'>2097152</memory>"), 2048);
    assert_int_equal(memory_of("<memory unit='k'>1048576</memory>"), 1024);
    assert_int_equal(memory_of("<memory unit='MiB'>512</memory>"), 512);
    assert_int_equal(memory_of("<memory unit='M'>512</memory>"), 512);
    assert_int_equal(memory_of("<memory unit='GiB'>2</memory>"), 2048);
    assert_int_equal(memory_of("<memory unit='G'>3</memory>"), 3072);
    assert_int_equal(memory_of("<memory unit='TiB'>1</memory>"), 1048576);
    assert_int_equal(memory_of("<memory unit='bytes'>268435456</memory>"), 256);
    assert_int_equal(memory_of("<memory unit='b'>1048576</memory>"), 1);
    /* 10^9 bytes = 953.67 MiB */
    assert_int_equal(memory_of("<memory unit='GB'>1</memory>"), 953);
    assert_int_equal(memory_of("<memory unit='MB'>1000</memory>"), 953);
    assert_int_equal(memory_of("<memory unit='KB'>1048576</memory>"), 1000);
    assert_int_equal(memory_of("<memory unit='MiB'> 64\n</memory>"), 64);
}

static void test_parse_namespace(void **state)
{
    (void)state;
    /* another prefix, and the namespace as default: matched by URI */
    static const char other_prefix[] =
            "<domain type='kvm'><metadata>"
            "<x:lab xmlns:x='https://kvmlab.dev/xmlns/lab/1'><x:name>L</x:name><x:key>K</x:key>"
            "<x:hash>H</x:hash><x:spec>S</x:spec><x:accel-fallback>F</x:accel-fallback></x:lab>"
            "</metadata><vcpu placement='static' current='1'>3</vcpu></domain>";
    static const char default_ns[] =
            "<domain type='kvm'><metadata>"
            "<lab xmlns='https://kvmlab.dev/xmlns/lab/1'><name>L</name><key>K</key>"
            "<hash>H</hash><spec>S</spec></lab></metadata></domain>";
    /* the same names in another namespace, or none, are not kvmlab's */
    static const char foreign[] = "<domain type='qemu'><metadata>"
                                  "<lab xmlns='https://example.org/lab'><name>L</name></lab>"
                                  "<lab><name>M</name></lab></metadata></domain>";

    DomainLive d = {0};
    parse_ok(other_prefix, &d);
    assert_string_equal(d.lab, "L");
    assert_string_equal(d.key, "K");
    assert_string_equal(d.hash, "H");
    assert_string_equal(d.spec, "S");
    assert_string_equal(d.accel_fallback, "F");
    assert_true(d.kvm);
    assert_int_equal(d.cpus, 3);
    domain_live_clear(&d);

    parse_ok(default_ns, &d);
    assert_string_equal(d.lab, "L");
    assert_string_equal(d.spec, "S");
    assert_null(d.accel_fallback);
    domain_live_clear(&d);

    parse_ok(foreign, &d);
    assert_null(d.lab);
    assert_null(d.key);
    assert_false(d.kvm);
    assert_int_equal(d.cpus, 0);
    assert_int_equal(d.memory_mib, 0);
    assert_int_equal(d.n_macs, 0);
    assert_null(d.console_log);
    domain_live_clear(&d);
}

static void test_parse_devices(void **state)
{
    (void)state;
    /* MACs in document order and lower case; the first serial with a log file is the
     * console, a pty serial without one before it is not */
    static const char xml[] =
            "<domain type='qemu'><devices>"
            "<interface type='network'><mac address='52:54:00:AB:CD:EF'/>"
            "<source network='a'/></interface>"
            "<serial type='pty'><source path='/dev/pts/3'/><target port='0'/></serial>"
            "<interface type='bridge'><source bridge='b'/><mac address='52:54:00:00:00:02'/>"
            "</interface>"
            "<serial type='file'><source path='/l/one.log'/><target port='1'/></serial>"
            "<serial type='file'><source path='/l/two.log'/><target port='2'/></serial>"
            "<interface type='user'/>"
            "</devices></domain>";
    DomainLive d = {0};
    parse_ok(xml, &d);
    assert_int_equal(d.n_macs, 2);
    assert_string_equal(d.macs[0], "52:54:00:ab:cd:ef");
    assert_string_equal(d.macs[1], "52:54:00:00:00:02");
    assert_string_equal(d.console_log, "/l/one.log");
    domain_live_clear(&d);
}

static void expect_parse_error(const char *xml, const char *prefix)
{
    DomainLive d = {.cpus = 77};
    Error err = ERROR_INIT;
    assert_int_equal(node_domain_parse(xml, &d, &err), -EINVAL);
    assert_int_equal(d.cpus, 77); /* untouched */
    assert_non_null(err.message);
    if (strncmp(err.message, prefix, strlen(prefix)) != 0)
        fail_msg("error message\n  got:  %s\n  want: %s...", err.message, prefix);
    error_clear(&err);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error(NULL, "Cannot parse the domain XML: it is empty");
    expect_parse_error("", "Cannot parse the domain XML: ");
    expect_parse_error("<domain><name>x</domain>", "Cannot parse the domain XML: ");
    expect_parse_error("<network><name>x</name></network>",
                       "Cannot parse the domain XML: its root is <network>, not <domain>");
    expect_parse_error("<domain><vcpu>two</vcpu></domain>",
                       "The domain's vCPU count 'two' is not a number");
    expect_parse_error("<domain><vcpu>-1</vcpu></domain>",
                       "The domain's vCPU count '-1' is not a number");
    expect_parse_error("<domain><vcpu>4294967296</vcpu></domain>",
                       "The domain's vCPU count 4294967296 is too large");
    expect_parse_error("<domain><memory unit='PiB'>1</memory></domain>",
                       "The domain's memory has unknown unit 'PiB'");
    expect_parse_error("<domain><memory unit='TiB'>99999999</memory></domain>",
                       "The domain's memory '99999999 TiB' is too large");
    expect_parse_error("<domain><memory>1x</memory></domain>",
                       "The domain's memory '1x' is not a number");
    expect_parse_error("<domain><devices><interface><mac address='zz'/></interface></devices>"
                       "</domain>",
                       "The domain has an interface with MAC address 'zz'");
}

/* ---- node_uuid ------------------------------------------------------------------------- */

static void test_uuid(void **state)
{
    (void)state;
    /* python3 -c "import uuid; ns = uuid.uuid5(uuid.NAMESPACE_URL,
     *   'https://kvmlab.dev/xmlns/node/1'); print(uuid.uuid5(ns, 'demo/cp-1'))" */
    static const struct {
        const char *lab, *node, *uuid;
    } known[] = {
            {"demo", "cp-1", "8562c763-4d22-5f97-a406-0eba050c9940"},
            {"demo", "cp-2", "58d97025-2f18-57eb-9483-c696150a41f3"},
            {"other", "cp-1", "b5150076-a3a4-5346-a492-45b9fe74aa47"},
            {"lab-a", "worker-2", "75fc7e9b-1572-5657-92a5-0715d842d913"},
    };
    for (size_t i = 0; i < ELEMENTSOF(known); i++) {
        _cleanup_free_ char *u = node_uuid(known[i].lab, known[i].node);
        _cleanup_free_ char *again = node_uuid(known[i].lab, known[i].node);
        assert_non_null(u);
        assert_string_equal(u, known[i].uuid);
        assert_string_equal(again, u);
    }

    /* differs by lab and by node; version 5, variant 10 */
    static const char *const labs[] = {"demo", "demo2", "a"};
    static const char *const nodes[] = {"cp-1", "cp-2", "worker-1", "b"};
    char *seen[ELEMENTSOF(labs) * ELEMENTSOF(nodes)];
    size_t n = 0;
    for (size_t l = 0; l < ELEMENTSOF(labs); l++)
        for (size_t k = 0; k < ELEMENTSOF(nodes); k++) {
            char *u = node_uuid(labs[l], nodes[k]);
            assert_non_null(u);
            assert_int_equal(strlen(u), 36);
            for (size_t j = 0; j < 36; j++) {
                if (j == 8 || j == 13 || j == 18 || j == 23)
                    assert_int_equal(u[j], '-');
                else
                    assert_non_null(strchr("0123456789abcdef", u[j]));
            }
            assert_int_equal(u[14], '5');
            assert_non_null(strchr("89ab", u[19]));
            for (size_t j = 0; j < n; j++)
                assert_string_not_equal(u, seen[j]);
            seen[n++] = u;
        }
    for (size_t j = 0; j < n; j++)
        free(seen[j]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_golden),
            cmocka_unit_test(test_schema),
            cmocka_unit_test(test_libvirt_roundtrip),
            cmocka_unit_test(test_refused),
            cmocka_unit_test(test_minimal),
            cmocka_unit_test(test_parse_memory_units),
            cmocka_unit_test(test_parse_namespace),
            cmocka_unit_test(test_parse_devices),
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
