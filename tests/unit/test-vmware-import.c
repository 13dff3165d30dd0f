/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VMware's files to a lab file, pure: the fixtures of tests/data/vmware/import (a networking
 * file, vmnet8's dhcpd.conf and nat.conf, vmnet1's dhcpd.conf, two .vmx) parsed and mapped; the
 * lab file read back with kvmlab's own parser (what `validate` accepts) and every fact compared
 * with the values the fixtures hold (written here by hand). Then hostile names and paths: mapped
 * to safe names or dropped, never in the lab file as they came.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/lab.h"
#include "kvmlab/vmware.h"

static char *fixture(const char *rel, size_t *ret_len)
{
    const char *root = getenv("KVMLAB_SOURCE_ROOT");
    assert_non_null(root);
    _cleanup_free_ char *p = NULL;
    assert_true(asprintf(&p, "%s/tests/data/vmware/import/%s", root, rel) > 0);
    char *text = NULL;
    assert_int_equal(fs_read_all(p, &text, ret_len, NULL), 0);
    return text;
}

static uint32_t ip(const char *s)
{
    uint32_t a = 0;
    assert_int_equal(addr_ipv4_parse(s, &a), 0);
    return a;
}

static void assert_mac(const MacAddr *m, const char *want)
{
    char b[MAC_STRLEN];
    assert_string_equal(addr_mac_format(m, b), want);
}

/* @text as TAP comments, line by line. */
static void comment(const char *text)
{
    for (const char *l = text; *l;) {
        size_t n = strcspn(l, "\n");
        printf("# %.*s\n", (int)n, l);
        l += n + (l[n] == '\n');
    }
}

static bool summary_has(const VmwWarnings *s, const char *needle)
{
    for (size_t i = 0; i < s->n; i++)
        if (strstr(s->v[i], needle))
            return true;
    return false;
}

typedef struct Parsed {
    VmwNetworking net;
    VmwDhcpd d8, d1;
    VmwNatConf n8;
    VmwVmx web, win;
    VmwWarnings w;
} Parsed;

static void parse_all(Parsed *p)
{
    static const struct {
        const char *file;
        int kind;
    } files[] = {{"vmnet/networking", 0},
                 {"vmnet/vmnet8/dhcpd/dhcpd.conf", 1},
                 {"vmnet/vmnet1/dhcpd/dhcpd.conf", 2},
                 {"vmnet/vmnet8/nat/nat.conf", 3},
                 {"vms/web/web.vmx", 4},
                 {"vms/win/win.vmx", 5}};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        size_t len = 0;
        _cleanup_free_ char *t = fixture(files[i].file, &len);
        int r = files[i].kind == 0
                        ? vmw_networking_parse(t, len, files[i].file, &p->net, &p->w, NULL)
                : files[i].kind == 1 ? vmw_dhcpd_parse(t, len, files[i].file, &p->d8, &p->w, NULL)
                : files[i].kind == 2 ? vmw_dhcpd_parse(t, len, files[i].file, &p->d1, &p->w, NULL)
                : files[i].kind == 3 ? vmw_natconf_parse(t, len, files[i].file, &p->n8, &p->w, NULL)
                : files[i].kind == 4 ? vmw_vmx_parse(t, len, files[i].file, &p->web, &p->w, NULL)
                                     : vmw_vmx_parse(t, len, files[i].file, &p->win, &p->w, NULL);
        assert_int_equal(r, 0);
    }
    for (size_t i = 0; i < p->w.n; i++)
        printf("# warning: %s\n", p->w.v[i]);
    assert_int_equal(p->w.n, 0);
}

static void parsed_clear(Parsed *p)
{
    vmw_networking_clear(&p->net);
    vmw_dhcpd_clear(&p->d8);
    vmw_dhcpd_clear(&p->d1);
    vmw_natconf_clear(&p->n8);
    vmw_vmx_clear(&p->web);
    vmw_vmx_clear(&p->win);
    vmw_warnings_clear(&p->w);
}

static Lab *load(const char *text)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    int r = lab_load_string("import.yaml", text, strlen(text), &lab, &d, NULL);
    if (r < 0) {
        _cleanup_free_ char *s = lab_diags_format(&d);
        fail_msg("the imported lab file is refused:\n%s\n%s", s ? s : "", text);
    }
    lab_diags_clear(&d);
    return lab;
}

static void test_fixture_set(void **state)
{
    (void)state;
    Parsed p = {0};
    parse_all(&p);
    char *web_paths[] = {strdup("/vm/web/web.vmdk"), strdup("/vm/web/missing.iso")};
    bool web_exists[] = {true, false};
    char *win_paths[] = {strdup("/vm/win/win.vmdk")};
    bool win_exists[] = {true};
    /* the disks in VMware's order: web's scsi0:0 then its sata0:1 CD-ROM */
    assert_int_equal(p.web.n_disks, 2);
    assert_int_equal(p.win.n_disks, 1);
    VmwImportVm vms[] = {
            {.vmx_path = "web.vmx",
             .vmx = &p.web,
             .paths = web_paths,
             .exists = web_exists,
             .virtio_net = true},
            {.vmx_path = "win.vmx", .vmx = &p.win, .paths = win_paths, .exists = win_exists},
    };
    VmwImportInput in = {.lab = "imp", .networking = &p.net, .vms = vms, .n_vms = 2};
    in.dhcpd[8] = &p.d8;
    in.dhcpd[1] = &p.d1;
    in.nat[8] = &p.n8;
    char *text = NULL;
    VmwWarnings summary = {0};
    assert_int_equal(vmw_import_build(&in, &text, &summary, NULL), 0);
    comment(text);
    for (size_t i = 0; i < summary.n; i++)
        printf("# summary: %s\n", summary.v[i]);
    Lab *lab = load(text);

    /* vmnet8: NAT on VMware's subnet, its DHCP range and lease time */
    const LabNetwork *n8 = lab_find_network(lab, "vmnet8");
    assert_non_null(n8);
    assert_int_equal(n8->type, VMNET_NAT);
    char cidr[CIDR_STRLEN];
    assert_string_equal(addr_cidr_format(&n8->subnet, cidr), "172.16.1.0/24");
    assert_true(n8->has_dhcp_range);
    assert_int_equal(n8->dhcp_start, ip("172.16.1.128"));
    assert_int_equal(n8->dhcp_end, ip("172.16.1.254"));
    assert_int_equal(n8->lease_seconds, 1800);
    /* the printer's reservation stays one; the host adapter's block is no guest; web's
     * reservation became web's fixed address */
    assert_int_equal(n8->n_reservations, 1);
    assert_mac(&n8->reservations[0].mac, "00:0c:29:11:22:33");
    assert_int_equal(n8->reservations[0].ip, ip("172.16.1.60"));
    /* the forwards to web's address (networking and nat.conf) are web's; 9090 has no VM */
    assert_int_equal(n8->n_port_forwards, 2);
    bool f2222 = false, f8080 = false;
    for (size_t i = 0; i < n8->n_port_forwards; i++) {
        const LabPortForward *f = &n8->port_forwards[i];
        assert_string_equal(f->node, "web-server");
        f2222 |= f->host_port == 2222 && f->port == 22 && f->proto == LAB_PROTO_TCP;
        f8080 |= f->host_port == 8080 && f->port == 80 && f->proto == LAB_PROTO_TCP;
    }
    assert_true(f2222 && f8080);
    assert_true(summary_has(&summary, "9090 -> 172.16.1.99:22: no imported VM"));

    /* vmnet1: host-only, its own lease time */
    const LabNetwork *n1 = lab_find_network(lab, "vmnet1");
    assert_non_null(n1);
    assert_int_equal(n1->type, VMNET_HOSTONLY);
    assert_string_equal(addr_cidr_format(&n1->subnet, cidr), "192.168.56.0/24");
    assert_int_equal(n1->lease_seconds, 3600);

    /* web: a safe name from its display name, its resources, its NICs' MACs */
    const LabNode *web = lab_find_node(lab, "web-server");
    assert_non_null(web);
    assert_string_equal(web->os, "ubuntu22.04");
    assert_int_equal(web->cpus, 2);
    assert_int_equal(web->memory_mib, 2048);
    assert_false(web->cloud_init);
    assert_int_equal(web->n_nics, 2);
    assert_string_equal(web->nics[0].network, "vmnet8");
    assert_mac(&web->nics[0].mac, "00:0c:29:aa:bb:cc");
    assert_true(web->nics[0].has_ip);
    assert_int_equal(web->nics[0].ip, ip("172.16.1.50"));
    assert_null(web->nics[0].model); /* virtio-net: kvmlab's virtio */
    assert_string_equal(web->nics[1].network, "vmnet1");
    assert_mac(&web->nics[1].mac, "00:0c:29:aa:bb:d6");
    assert_int_equal(web->n_disks, 1);
    assert_non_null(strstr(text, "{path: \"/vm/web/web.vmdk\", controller: lsilogic}"));
    /* the ISO that is not there: an empty drive and a warning */
    assert_true(summary_has(&summary, "ISO of sata0:1 cannot be found"));

    /* win: EFI with secure boot, SATA disk, the NIC model nearest e1000e */
    const LabNode *win = lab_find_node(lab, "win-10");
    assert_non_null(win);
    assert_string_equal(win->os, "win10");
    assert_int_equal(win->memory_mib, 4096);
    assert_int_equal(win->n_nics, 1);
    assert_string_equal(win->nics[0].network, "vmnet1");
    assert_mac(&win->nics[0].mac, "00:50:56:01:02:03");
    assert_string_equal(win->nics[0].model, "e1000e");
    assert_non_null(strstr(text, "firmware: efi\n    secure_boot: true\n"));
    assert_non_null(strstr(text, "{path: \"/vm/win/win.vmdk\", controller: sata}"));

    lab_free(lab);
    free(text);
    vmw_warnings_clear(&summary);
    for (size_t i = 0; i < ELEMENTSOF(web_paths); i++)
        free(web_paths[i]);
    free(win_paths[0]);
    parsed_clear(&p);
}

/* --convert: every disk an image of the lab, each disk naming it. */
static void test_convert(void **state)
{
    (void)state;
    Parsed p = {0};
    parse_all(&p);
    char *paths[] = {strdup("/vm/win/win.vmdk")};
    bool exists[] = {true};
    VmwImportVm vm = {.vmx_path = "win.vmx", .vmx = &p.win, .paths = paths, .exists = exists};
    VmwImportInput in = {.lab = "conv", .vms = &vm, .n_vms = 1, .convert = true};
    char *text = NULL;
    VmwWarnings summary = {0};
    assert_int_equal(vmw_import_build(&in, &text, &summary, NULL), 0);
    Lab *lab = load(text);
    const LabImage *img = lab_find_image(lab, "win-10-disk0");
    assert_non_null(img);
    assert_int_equal(img->kind, LAB_IMAGE_PATH);
    assert_string_equal(img->source, "/vm/win/win.vmdk");
    assert_string_equal(img->os, "win10");
    assert_non_null(strstr(text, "{image: win-10-disk0, controller: sata}"));
    /* without a networking file, VMnet1 is VMware's default host-only network */
    const LabNetwork *n1 = lab_find_network(lab, "vmnet1");
    assert_non_null(n1);
    assert_int_equal(n1->type, VMNET_HOSTONLY);
    lab_free(lab);
    free(text);
    free(paths[0]);
    vmw_warnings_clear(&summary);
    parsed_clear(&p);
}

/* Names and paths that arrive from VMware's files: quotes, semicolons, "../", newlines,
 * non-UTF-8 bytes. Mapped to safe names or dropped; the lab file never carries them raw. */
static void test_hostile(void **state)
{
    (void)state;
    static const char vmx[] = "displayName = \"../../etc\\\"; rm -rf /|0A\xff\xfe\"\n"
                              "guestOS = \"otherlinux-64\"\n"
                              "sata0.present = \"TRUE\"\n"
                              "sata0:0.present = \"TRUE\"\n"
                              "sata0:0.fileName = \"a|22b|0Ac.vmdk\"\n"
                              "sata0:1.present = \"TRUE\"\n"
                              "sata0:1.fileName = \"x.vmdk\"\n"
                              "sata0:2.present = \"TRUE\"\n"
                              "sata0:2.fileName = \"ok.vmdk\"\n"
                              "ethernet0.present = \"TRUE\"\n"
                              "ethernet0.connectionType = \"custom\"\n"
                              "ethernet0.vnet = \"evil; net\\\"|0A\"\n";
    static const char net[] = "add_bridge_mapping eth0;reboot 0\n"
                              "answer VNET_8_NAT yes\n"
                              "answer VNET_8_HOSTONLY_SUBNET 10.9.0.0\n"
                              "answer VNET_8_HOSTONLY_NETMASK 255.255.255.0\n";
    VmwVmx x = {0};
    VmwNetworking n = {0};
    VmwWarnings w = {0};
    assert_int_equal(vmw_vmx_parse(vmx, sizeof(vmx) - 1, "hostile.vmx", &x, &w, NULL), 0);
    assert_int_equal(vmw_networking_parse(net, sizeof(net) - 1, "networking", &n, &w, NULL), 0);
    assert_int_equal(x.n_disks, 3);
    /* the first path holds a quote and a newline, the second is not UTF-8, the third is fine */
    char *paths[] = {strdup("/vm/a\"b\nc.vmdk"), strdup("/vm/\xff/x.vmdk"),
                     strdup("/vm/o\"k.vmdk")};
    bool exists[] = {true, true, true};
    VmwImportVm vm = {.vmx_path = "hostile.vmx", .vmx = &x, .paths = paths, .exists = exists};
    VmwImportInput in = {.lab = "hostile",
                         .networking = &n,
                         .vms = &vm,
                         .n_vms = 1,
                         .default_bridge_nic = "eth0"};
    char *text = NULL;
    VmwWarnings summary = {0};
    assert_int_equal(vmw_import_build(&in, &text, &summary, NULL), 0);
    comment(text);
    for (size_t i = 0; i < summary.n; i++)
        printf("# summary: %s\n", summary.v[i]);
    /* nothing raw: no semicolon, no "..", no byte outside printable ASCII and newlines */
    assert_null(strstr(text, ";"));
    assert_null(strstr(text, ".."));
    assert_null(strstr(text, "rm -rf"));
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c != '\n' && (*c < 0x20 || *c > 0x7e))
            fail_msg("byte 0x%02x in the lab file", *c);
    Lab *lab = load(text);
    assert_int_equal(lab->n_nodes, 1);
    const char *name = lab->nodes[0].name;
    for (const char *c = name; *c; c++)
        assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-');
    /* two disk paths dropped: a newline, non-UTF-8; the quote is quoted */
    assert_int_equal(lab->nodes[0].n_disks, 1);
    assert_non_null(strstr(text, "{path: \"/vm/o\\\"k.vmdk\", controller: sata}"));
    assert_true(summary_has(&summary, "bytes a lab file cannot hold"));
    /* the custom vnet: a safe network name */
    assert_int_equal(lab->nodes[0].n_nics, 1);
    for (const char *c = lab->nodes[0].nics[0].network; *c; c++)
        assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-');
    /* the bridge mapping to "eth0;reboot" is refused as an interface name */
    assert_null(lab_find_network(lab, "vmnet0"));
    lab_free(lab);
    free(text);
    for (size_t i = 0; i < ELEMENTSOF(paths); i++)
        free(paths[i]);
    vmw_warnings_clear(&summary);
    vmw_warnings_clear(&w);
    vmw_vmx_clear(&x);
    vmw_networking_clear(&n);
}

static char *net_fixture(const char *name, size_t *ret_len)
{
    const char *root = getenv("KVMLAB_SOURCE_ROOT");
    _cleanup_free_ char *p = NULL;
    assert_true(asprintf(&p, "%s/tests/data/vmware/net/%s", root, name) > 0);
    char *text = NULL;
    assert_int_equal(fs_read_all(p, &text, ret_len, NULL), 0);
    return text;
}

/* Windows: no networking file (the registry has it), one vmnetdhcp.conf and one vmnetnat.conf.
 * The vmnets come from the host adapters' blocks, vmnet8 is NAT because vmnetnat.conf's gateway
 * is in its subnet; a forward whose address a VM's reservation holds becomes that node's. */
static void test_windows(void **state)
{
    (void)state;
    size_t l1 = 0, l2 = 0;
    _cleanup_free_ char *dt = net_fixture("vmnetdhcp-windows.conf", &l1);
    _cleanup_free_ char *nt = net_fixture("vmnetnat-windows.conf", &l2);
    VmwDhcpd d = {0};
    VmwNatConf nc = {0};
    VmwWarnings w = {0};
    assert_int_equal(vmw_dhcpd_parse(dt, l1, "vmnetdhcp.conf", &d, &w, NULL), 0);
    assert_int_equal(vmw_natconf_parse(nt, l2, "vmnetnat.conf", &nc, &w, NULL), 0);
    /* a VM whose NIC has the reservation 00:0c:29:4f:5a:6b -> 192.168.174.140 */
    static const char vmx[] = "displayName = \"win10\"\nguestOS = \"windows9-64\"\n"
                              "sata0.present = \"TRUE\"\nsata0:0.present = \"TRUE\"\n"
                              "sata0:0.fileName = \"w.vmdk\"\nethernet0.present = \"TRUE\"\n"
                              "ethernet0.connectionType = \"nat\"\n"
                              "ethernet0.address = \"00:0C:29:4F:5A:6B\"\n"
                              "ethernet0.addressType = \"static\"\n";
    VmwVmx x = {0};
    assert_int_equal(vmw_vmx_parse(vmx, sizeof(vmx) - 1, "w.vmx", &x, &w, NULL), 0);
    char *paths[] = {strdup("/vm/w.vmdk")};
    bool exists[] = {true};
    VmwImportVm vm = {.vmx_path = "w.vmx", .vmx = &x, .paths = paths, .exists = exists};
    VmwImportInput in = {.lab = "win", .windows = true, .vms = &vm, .n_vms = 1};
    in.dhcpd[0] = &d;
    in.nat[0] = &nc;
    char *text = NULL;
    VmwWarnings summary = {0};
    assert_int_equal(vmw_import_build(&in, &text, &summary, NULL), 0);
    comment(text);
    Lab *lab = load(text);
    char cidr[CIDR_STRLEN];
    const LabNetwork *n1 = lab_find_network(lab, "vmnet1");
    assert_non_null(n1);
    assert_int_equal(n1->type, VMNET_HOSTONLY);
    assert_string_equal(addr_cidr_format(&n1->subnet, cidr), "192.168.80.0/24");
    const LabNetwork *n8 = lab_find_network(lab, "vmnet8");
    assert_non_null(n8);
    assert_int_equal(n8->type, VMNET_NAT);
    assert_string_equal(addr_cidr_format(&n8->subnet, cidr), "192.168.174.0/24");
    assert_int_equal(n8->lease_seconds, 3600);
    /* 3389 goes to the VM (its reservation became its address); 8889 is on vmnet1: not NAT */
    assert_int_equal(n8->n_port_forwards, 1);
    assert_int_equal(n8->port_forwards[0].host_port, 3389);
    assert_string_equal(n8->port_forwards[0].node, "win10");
    const LabNode *node = lab_find_node(lab, "win10");
    assert_non_null(node);
    assert_true(node->nics[0].has_ip);
    assert_int_equal(node->nics[0].ip, ip("192.168.174.140"));
    assert_true(summary_has(&summary, "8889 -> 192.168.80.130:22"));
    lab_free(lab);
    free(text);
    free(paths[0]);
    vmw_warnings_clear(&summary);
    vmw_warnings_clear(&w);
    vmw_vmx_clear(&x);
    vmw_dhcpd_clear(&d);
    vmw_natconf_clear(&nc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fixture_set),
            cmocka_unit_test(test_convert),
            cmocka_unit_test(test_hostile),
            cmocka_unit_test(test_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
