/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt network XML from a spec: golden files in tests/data/network-xml/, acceptance by the
 * real consumers (virt-xml-validate, and libvirt's parser through test:///default), the
 * virNetworkUpdate() snippets, and the owner metadata read back after libvirt re-formats it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/spawn.h"
#include "kvmlab/vmnet.h"
#include "vmnet-lab.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Lab *, lab_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
DEFINE_TRIVIAL_CLEANUP_FUNC(virNetworkPtr, virNetworkFree)

static VmnetSpec *case_spec(const VmnetCase *c)
{
    _cleanup_(lab_freep) Lab *lab = c->build();
    Error err = ERROR_INIT;
    VmnetSpec *s = NULL;
    int r = vmnet_spec_build(lab, lab_find_network(lab, c->key), NULL, &s, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", c->name, err.message);
    assert_int_equal(r, 0);
    error_clear(&err);
    return s;
}

static char *case_xml(const VmnetCase *c)
{
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = case_spec(c);
    Error err = ERROR_INIT;
    char *xml = NULL;
    int r = vmnet_libvirt_xml_format(s, &xml, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", c->name, err.message);
    assert_int_equal(r, 0);
    return xml;
}

static void test_xml_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        const VmnetCase *c = &vmnet_cases[i];
        _cleanup_free_ char *xml = case_xml(c);
        _cleanup_free_ char *again = case_xml(c);
        _cleanup_free_ char *rel = NULL;
        assert_string_equal(xml, again);
        assert_true(asprintf(&rel, "network-xml/%s.out", c->name) > 0);
        assert_int_equal(golden_check(rel, xml), 0);
    }
}

/* The consumer's schema accepts every golden file (virt-xml-validate, libvirt-clients). */
static void test_xml_schema(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        _cleanup_free_ char *rel = NULL, *path = NULL;
        assert_true(asprintf(&rel, "network-xml/%s.out", vmnet_cases[i].name) > 0);
        assert_non_null(path = golden_path(rel));
        const char *argv[] = {"virt-xml-validate", path, "network", NULL};
        SpawnResult res = {0};
        Error err = ERROR_INIT;
        int r = spawn_run(argv, NULL, &res, &err);
        /* scripts/setup.sh installs it (libvirt-clients, libxml2-utils): a missing validator
         * is a failure, not a reason to skip */
        if (r < 0 || res.status == 127)
            fprintf(stderr, "cannot run virt-xml-validate: %s\n",
                    err.message ? err.message : res.err);
        assert_int_equal(r, 0);
        error_clear(&err);
        if (res.status != 0)
            fprintf(stderr, "%s: %s%s", path, res.out, res.err);
        assert_int_equal(res.status, 0);
        spawn_result_clear(&res);
    }
}

static void silent_error(void *userdata, virErrorPtr e)
{
    (void)userdata;
    (void)e;
}

/* libvirt's own parser takes each network (test:///default runs in this process), and the
 * owner comes back intact from libvirt's re-formatted XML. */
static void test_xml_libvirt_roundtrip(void **state)
{
    (void)state;
    virSetErrorFunc(NULL, silent_error);
    _cleanup_(virConnectClosep) virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);

    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        const VmnetCase *c = &vmnet_cases[i];
        _cleanup_(vmnet_spec_freep) VmnetSpec *s = case_spec(c);
        _cleanup_free_ char *xml = case_xml(c);
        _cleanup_free_ char *text = vmnet_spec_format(s);
        _cleanup_free_ char *hash = vmnet_spec_hash(s);

        _cleanup_(virNetworkFreep) virNetworkPtr net = virNetworkDefineXML(conn, xml);
        if (!net)
            fprintf(stderr, "%s: %s\n", c->name, virGetLastErrorMessage());
        assert_non_null(net);
        assert_string_equal(virNetworkGetName(net), s->name);
        _cleanup_free_ char *dumped = virNetworkGetXMLDesc(net, 0);
        assert_non_null(dumped);

        /* what libvirt kept is what we meant */
        assert_non_null(strstr(dumped, s->bridge));
        if (s->dhcp) {
            char ip[IPV4_STRLEN], want[64];
            snprintf(want, sizeof(want), "<ip address='%s'", addr_ipv4_format(s->host_ip, ip));
            assert_non_null(strstr(dumped, want));
        }

        VmnetOwner o = {0};
        Error err = ERROR_INIT;
        assert_int_equal(vmnet_owner_parse(dumped, &o, &err), 0);
        assert_string_equal(o.lab, s->lab);
        assert_string_equal(o.key, s->key);
        assert_string_equal(o.hash, hash);
        assert_string_equal(o.spec, text);
        vmnet_owner_clear(&o);
        assert_int_equal(virNetworkUndefine(net), 0);
    }
}

static void test_lease_units(void **state)
{
    (void)state;
    static const struct {
        uint32_t seconds;
        const char *element;
    } cases[] = {
            {1800, "<lease expiry='30' unit='minutes'/>"},
            {7200, "<lease expiry='2' unit='hours'/>"},
            {150, "<lease expiry='150' unit='seconds'/>"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(lab_freep) Lab *lab = case_nat_default();
        lab->networks[0].lease_seconds = cases[i].seconds;
        _cleanup_(vmnet_spec_freep) VmnetSpec *s = NULL;
        _cleanup_free_ char *xml = NULL;
        Error err = ERROR_INIT;
        assert_int_equal(vmnet_spec_build(lab, &lab->networks[0], NULL, &s, &err), 0);
        assert_int_equal(vmnet_libvirt_xml_format(s, &xml, &err), 0);
        assert_non_null(strstr(xml, cases[i].element));
    }
}

static void test_update_snippets(void **state)
{
    (void)state;
    VmnetSpec s = {.domain = (char *)"demo.lab"};
    VmnetHost named = {.name = (char *)"cp",
                       .mac = tl_mac("52:54:00:01:02:03"),
                       .ip = tl_ip("192.168.100.10")};
    VmnetHost anon = {
            .name = NULL, .mac = tl_mac("00:50:56:aa:00:01"), .ip = tl_ip("192.168.100.200")};
    VmnetHost odd = {.name = (char *)"a&b'c",
                     .mac = tl_mac("52:54:00:01:02:04"),
                     .ip = tl_ip("192.168.100.11")};

    _cleanup_free_ char *d1 = vmnet_libvirt_dhcp_host_format(&s, &named);
    assert_string_equal(d1, "<host mac='52:54:00:01:02:03' name='cp' ip='192.168.100.10'/>");
    _cleanup_free_ char *d2 = vmnet_libvirt_dhcp_host_format(&s, &anon);
    assert_string_equal(d2, "<host mac='00:50:56:aa:00:01' ip='192.168.100.200'/>");
    _cleanup_free_ char *d3 = vmnet_libvirt_dhcp_host_format(&s, &odd);
    assert_string_equal(
            d3, "<host mac='52:54:00:01:02:04' name='a&amp;b&apos;c' ip='192.168.100.11'/>");

    _cleanup_free_ char *n1 = vmnet_libvirt_dns_host_format(&named, s.domain);
    assert_string_equal(n1, "<host ip='192.168.100.10'>\n"
                            "  <hostname>cp.demo.lab</hostname>\n"
                            "  <hostname>cp</hostname>\n"
                            "</host>");
    assert_null(vmnet_libvirt_dns_host_format(&anon, s.domain));

    /* each snippet is a well-formed element on its own */
    const char *snippets[] = {d1, d2, d3, n1};
    for (size_t i = 0; i < ELEMENTSOF(snippets); i++) {
        xmlDocPtr doc = xmlReadMemory(snippets[i], (int)strlen(snippets[i]), "s.xml", NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        assert_non_null(doc);
        xmlFreeDoc(doc);
    }
}

static void test_bridge_backend_refused(void **state)
{
    (void)state;
    _cleanup_(lab_freep) Lab *lab = case_nat_default();
    lab->networks[0].backend = VMNET_BACKEND_BRIDGE;
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = NULL;
    char *xml = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(vmnet_spec_build(lab, &lab->networks[0], NULL, &s, &err), 0);
    assert_int_equal(vmnet_libvirt_xml_format(s, &xml, &err), -EINVAL);
    assert_null(xml);
    assert_string_equal(
            err.message,
            "Network 'vmnet8' uses the 'bridge' backend, which has no libvirt network XML");
    error_clear(&err);
}

/* Parse @xml and compare the owner with the expected fields (NULL: absent). */
static void owner_expect(const char *xml, const char *lab, const char *key, const char *hash,
                         const char *spec)
{
    VmnetOwner o = {0};
    Error err = ERROR_INIT;
    int r = vmnet_owner_parse(xml, &o, &err);
    if (r < 0)
        fprintf(stderr, "vmnet_owner_parse: %s\n", err.message);
    assert_int_equal(r, 0);
#define FIELD_EQ(got, want)                                                                        \
    do {                                                                                           \
        if (want)                                                                                  \
            assert_string_equal(got, want);                                                        \
        else                                                                                       \
            assert_null(got);                                                                      \
    } while (0)
    FIELD_EQ(o.lab, lab);
    FIELD_EQ(o.key, key);
    FIELD_EQ(o.hash, hash);
    FIELD_EQ(o.spec, spec);
#undef FIELD_EQ
    vmnet_owner_clear(&o);
}

static void test_owner_variants(void **state)
{
    (void)state;
    /* another prefix, double quotes, entities, and foreign metadata next to ours */
    owner_expect("<network>\n"
                 "  <name>demo-vmnet8</name>\n"
                 "  <metadata>\n"
                 "    <other:thing "
                 "xmlns:other=\"urn:example\"><other:name>x</other:name></other:thing>\n"
                 "    <ns0:lab xmlns:ns0=\"https://kvmlab.dev/xmlns/lab/1\">\n"
                 "      <ns0:name>demo</ns0:name>\n"
                 "      <ns0:key>vmnet8</ns0:key>\n"
                 "      <ns0:hash>0123456789abcdef</ns0:hash>\n"
                 "      <ns0:spec>type=nat\nlive.host=a,b,&amp;\n</ns0:spec>\n"
                 "    </ns0:lab>\n"
                 "  </metadata>\n"
                 "</network>\n",
                 "demo", "vmnet8", "0123456789abcdef", "type=nat\nlive.host=a,b,&\n");

    /* as the real daemon dumps it: the dnsmasq namespace moved to the root, double quotes */
    owner_expect("<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\n"
                 "  <name>demo-lan</name>\n"
                 "  <uuid>4bd00857-173c-4da3-933c-c5735b754617</uuid>\n"
                 "  <metadata>\n"
                 "    <kvmlab:lab xmlns:kvmlab=\"https://kvmlab.dev/xmlns/lab/1\">\n"
                 "      <kvmlab:name>demo</kvmlab:name>\n"
                 "      <kvmlab:key>lan</kvmlab:key>\n"
                 "      <kvmlab:hash>64402323c2d6cb58</kvmlab:hash>\n"
                 "      <kvmlab:spec>type=isolated\n</kvmlab:spec>\n"
                 "    </kvmlab:lab>\n"
                 "  </metadata>\n"
                 "  <bridge name='demo-lan' stp='off' delay='0'/>\n"
                 "</network>\n",
                 "demo", "lan", "64402323c2d6cb58", "type=isolated\n");

    /* a default namespace instead of a prefix, on a domain */
    owner_expect("<domain type='qemu'><name>demo-cp</name><metadata>"
                 "<lab xmlns='https://kvmlab.dev/xmlns/lab/1'><name>demo</name><key>cp</key>"
                 "</lab></metadata></domain>",
                 "demo", "cp", NULL, NULL);

    /* the right prefix bound to another namespace is not ours */
    owner_expect("<network><name>x</name><metadata>"
                 "<kvmlab:lab xmlns:kvmlab='https://example.org/not-kvmlab'>"
                 "<kvmlab:name>demo</kvmlab:name></kvmlab:lab></metadata></network>",
                 NULL, NULL, NULL, NULL);

    /* our element outside <metadata> does not count either */
    owner_expect("<network><name>x</name>"
                 "<kvmlab:lab xmlns:kvmlab='https://kvmlab.dev/xmlns/lab/1'>"
                 "<kvmlab:name>demo</kvmlab:name></kvmlab:lab></network>",
                 NULL, NULL, NULL, NULL);

    /* a network nobody annotated (libvirt's default) */
    owner_expect("<network><name>default</name><forward mode='nat'/>"
                 "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>",
                 NULL, NULL, NULL, NULL);
}

static void test_owner_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"<network><name>x</network>", "", "not xml at all"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        VmnetOwner o = {.lab = NULL};
        Error err = ERROR_INIT;
        assert_int_equal(vmnet_owner_parse(bad[i], &o, &err), -EINVAL);
        assert_non_null(err.message);
        assert_memory_equal(err.message, "Cannot parse the XML document: ", 31);
        assert_null(o.lab);
        error_clear(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_xml_golden),
            cmocka_unit_test(test_xml_schema),
            cmocka_unit_test(test_xml_libvirt_roundtrip),
            cmocka_unit_test(test_lease_units),
            cmocka_unit_test(test_update_snippets),
            cmocka_unit_test(test_bridge_backend_refused),
            cmocka_unit_test(test_owner_variants),
            cmocka_unit_test(test_owner_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
