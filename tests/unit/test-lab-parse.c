/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lab.yaml -> Lab: the README example gives the right model; every validation rule has a bad
 * file under tests/data/lab-parse/ whose diagnostics are compared with a golden .out file
 * (KVMLAB_REGENERATE=1 rewrites them; review the diff); the ok-*.yaml files must be accepted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "golden.h"
#include "kvmlab/lab.h"

static char *source_path(const char *rel)
{
    const char *root = getenv("KVMLAB_SOURCE_ROOT");
    char *p = NULL;
    if (asprintf(&p, "%s/%s", root && *root ? root : KVMLAB_SOURCE_ROOT, rel) < 0)
        return NULL;
    return p;
}

static uint32_t ip(const char *s)
{
    uint32_t a = 0;
    assert_int_equal(addr_ipv4_parse(s, &a), 0);
    return a;
}

static void assert_net(const Ipv4Net *n, const char *cidr)
{
    char buf[CIDR_STRLEN];
    assert_string_equal(addr_cidr_format(n, buf), cidr);
}

static void assert_mac(const MacAddr *m, const char *s)
{
    char buf[MAC_STRLEN];
    assert_string_equal(addr_mac_format(m, buf), s);
}

/* Load tests/data/lab-parse/<name> under its bare name, so goldens do not depend on paths. */
static int load_case(const char *name, Lab **ret, LabDiags *diags)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "lab-parse/%s", name);
    char *text = golden_read(rel);
    assert_non_null(text);
    Error err = ERROR_INIT;
    int r = lab_load_string(name, text, strlen(text), ret, diags, &err);
    assert_false(error_is_set(&err));
    free(text);
    return r;
}

static int load_text(const char *text, Lab **ret, LabDiags *diags)
{
    Error err = ERROR_INIT;
    int r = lab_load_string("inline.yaml", text, strlen(text), ret, diags, &err);
    assert_false(error_is_set(&err));
    return r;
}

/* Parse text that must be accepted, failing with its diagnostics otherwise. */
static Lab *load_ok(const char *text)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    int r = load_text(text, &lab, &d);
    if (r != 0) {
        char *s = lab_diags_format(&d);
        fprintf(stderr, "unexpected diagnostics:\n%s", s);
        free(s);
    }
    assert_int_equal(r, 0);
    assert_int_equal(d.n, 0);
    assert_non_null(lab);
    lab_diags_clear(&d);
    return lab;
}

/* Parse text that must be refused; returns the formatted diagnostics. */
static char *load_bad(const char *text)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    assert_int_equal(load_text(text, &lab, &d), -EINVAL);
    assert_null(lab);
    assert_true(d.n > 0);
    char *s = lab_diags_format(&d);
    lab_diags_clear(&d);
    return s;
}

static void test_example(void **state)
{
    char *path = source_path("examples/kvmlab.yaml");
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_int_equal(lab_load_file(path, &lab, &d, &err), 0);
    assert_int_equal(d.n, 0);
    assert_non_null(lab);
    assert_string_equal(lab->file, path);
    assert_string_equal(lab->name, "cka");
    assert_string_equal(lab->connect, "sandbox");
    assert_string_equal(lab->pool, "/srv/vms/cka");

    /* networks, in file order */
    assert_int_equal(lab->n_networks, 4);
    const LabNetwork *n8 = lab_find_network(lab, "vmnet8");
    assert_ptr_equal(n8, &lab->networks[0]);
    assert_int_equal(n8->type, VMNET_NAT);
    assert_int_equal(n8->backend, VMNET_BACKEND_LIBVIRT);
    assert_true(n8->has_subnet);
    assert_net(&n8->subnet, "192.168.208.0/24");
    assert_false(n8->has_dhcp_range);
    assert_int_equal(n8->lease_seconds, 0);
    assert_int_equal(n8->n_port_forwards, 1);
    assert_int_equal(n8->port_forwards[0].proto, LAB_PROTO_TCP);
    assert_int_equal(n8->port_forwards[0].host_port, 2222);
    assert_string_equal(n8->port_forwards[0].node, "cp");
    assert_int_equal(n8->port_forwards[0].port, 22);
    assert_int_equal(n8->port_forwards[0].loc.line, 7);
    assert_int_equal(n8->loc.line, 4);
    assert_int_equal(n8->loc.col, 3);

    const LabNetwork *n1 = lab_find_network(lab, "vmnet1");
    assert_int_equal(n1->type, VMNET_HOSTONLY);
    assert_net(&n1->subnet, "192.168.201.0/24");
    assert_null(n1->interface);

    const LabNetwork *n0 = lab_find_network(lab, "vmnet0");
    assert_int_equal(n0->type, VMNET_BRIDGED);
    assert_false(n0->has_subnet);
    assert_string_equal(n0->interface, "lan0");

    const LabNetwork *n5 = lab_find_network(lab, "vmnet5");
    assert_int_equal(n5->type, VMNET_NAT);
    assert_net(&n5->subnet, "10.55.0.0/24");
    assert_true(n5->has_dhcp_range);
    assert_int_equal(n5->dhcp_start, ip("10.55.0.100"));
    assert_int_equal(n5->dhcp_end, ip("10.55.0.200"));
    assert_int_equal(n5->lease_seconds, 1800);
    assert_int_equal(n5->n_reservations, 1);
    assert_mac(&n5->reservations[0].mac, "52:54:00:aa:bb:01");
    assert_int_equal(n5->reservations[0].ip, ip("10.55.0.10"));
    assert_null(lab_find_network(lab, "vmnet9"));

    /* images */
    assert_int_equal(lab->n_images, 1);
    const LabImage *img = lab_find_image(lab, "debian12");
    assert_non_null(img);
    assert_int_equal(img->kind, LAB_IMAGE_BUILD);
    assert_string_equal(img->source, "debian-12");
    assert_null(img->os);
    assert_null(img->sha256);

    /* nodes, expanded: count 2 gives worker-1 and worker-2 */
    assert_int_equal(lab->n_nodes, 4);
    assert_string_equal(lab->nodes[0].name, "cp");
    assert_string_equal(lab->nodes[1].name, "old");
    assert_string_equal(lab->nodes[2].name, "worker-1");
    assert_string_equal(lab->nodes[3].name, "worker-2");
    assert_null(lab_find_node(lab, "worker"));

    const LabNode *cp = lab_find_node(lab, "cp");
    assert_string_equal(cp->base_name, "cp");
    assert_int_equal(cp->index, 0);
    assert_int_equal(cp->role, LAB_ROLE_CONTROL_PLANE);
    assert_string_equal(cp->image, "debian12");
    assert_int_equal(cp->cpus, 2);
    assert_int_equal(cp->memory_mib, 2048);
    assert_int_equal(cp->n_disks, 1);
    assert_int_equal(cp->disks[0].size_bytes, 20ULL << 30);
    assert_null(cp->disks[0].bus);
    assert_int_equal(cp->n_nics, 2);
    assert_string_equal(cp->nics[0].network, "vmnet8");
    assert_false(cp->nics[0].has_ip);
    assert_false(cp->nics[0].has_mac);
    assert_string_equal(cp->nics[1].network, "vmnet1");
    assert_true(cp->nics[1].has_ip);
    assert_int_equal(cp->nics[1].ip, ip("192.168.201.10"));

    const LabNode *old = lab_find_node(lab, "old");
    assert_int_equal(old->role, LAB_ROLE_NONE);
    assert_string_equal(old->os, "centos7.0");
    assert_string_equal(old->machine, "pc");
    assert_int_equal(old->cpus, LAB_DEFAULT_CPUS);
    assert_int_equal(old->memory_mib, LAB_DEFAULT_MEMORY_MIB);
    assert_int_equal(old->n_disks, 0);
    assert_int_equal(old->n_nics, 1);

    for (unsigned i = 1; i <= 2; i++) {
        const LabNode *w = &lab->nodes[1 + i];
        assert_string_equal(w->base_name, "worker");
        assert_int_equal(w->index, i);
        assert_int_equal(w->role, LAB_ROLE_WORKER);
        assert_int_equal(w->memory_mib, 1536);
        assert_int_equal(w->cpus, 1);
        assert_int_equal(w->n_disks, 2);
        assert_int_equal(w->disks[0].size_bytes, 20ULL << 30);
        assert_null(w->disks[0].bus);
        assert_int_equal(w->disks[1].size_bytes, 5ULL << 30);
        assert_string_equal(w->disks[1].bus, "sata");
        assert_int_equal(w->n_nics, 2);
        assert_int_equal(w->loc.line, 22);
    }

    /* every NIC has a MAC derived from lab, node and index, and they all differ */
    MacAddr macs[16];
    size_t n_macs = 0;
    for (size_t i = 0; i < lab->n_nodes; i++) {
        const LabNode *node = &lab->nodes[i];
        for (size_t j = 0; j < node->n_nics; j++) {
            MacAddr want = addr_mac_derive("cka", node->name, (unsigned)j);
            assert_true(addr_mac_equal(&node->nics[j].mac, &want));
            assert_int_equal(node->nics[j].mac.b[0], 0x52);
            assert_int_equal(node->nics[j].mac.b[1], 0x54);
            assert_int_equal(node->nics[j].mac.b[2], 0x00);
            for (size_t k = 0; k < n_macs; k++)
                assert_false(addr_mac_equal(&macs[k], &node->nics[j].mac));
            macs[n_macs++] = node->nics[j].mac;
        }
    }
    assert_int_equal(n_macs, 7);

    assert_true(lab->kubernetes.present);
    assert_string_equal(lab->kubernetes.version, "1.31");
    assert_true(lab->kubernetes.has_pod_subnet);
    assert_net(&lab->kubernetes.pod_subnet, "10.244.0.0/16");
    assert_false(lab->kubernetes.has_service_subnet);
    assert_true(lab->kubernetes.bootstrap);

    lab_free(lab);
    free(path);
}

/* The same file gives the same MACs: a re-created node keeps its lease. */
static void test_example_stable(void **state)
{
    char *path = source_path("examples/kvmlab.yaml");
    Lab *a = NULL, *b = NULL;
    Error err = ERROR_INIT;
    assert_int_equal(lab_load_file(path, &a, NULL, &err), 0);
    assert_int_equal(lab_load_file(path, &b, NULL, &err), 0);
    for (size_t i = 0; i < a->n_nodes; i++)
        for (size_t j = 0; j < a->nodes[i].n_nics; j++)
            assert_true(addr_mac_equal(&a->nodes[i].nics[j].mac, &b->nodes[i].nics[j].mac));
    lab_free(a);
    lab_free(b);
    free(path);

    /* another lab name gives other MACs */
    Lab *x = load_ok("lab: one\nnetworks: {vmnet8: {type: nat}}\nimages: {i: {build: d}}\n"
                     "nodes: [{name: n, image: i, networks: [vmnet8]}]\n");
    Lab *y = load_ok("lab: two\nnetworks: {vmnet8: {type: nat}}\nimages: {i: {build: d}}\n"
                     "nodes: [{name: n, image: i, networks: [vmnet8]}]\n");
    assert_false(addr_mac_equal(&x->nodes[0].nics[0].mac, &y->nodes[0].nics[0].mac));
    lab_free(x);
    lab_free(y);
}

static void test_networks_example(void **state)
{
    char *path = source_path("examples/networks.yaml");
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_int_equal(lab_load_file(path, &lab, &d, &err), 0);
    assert_string_equal(lab->name, "netdemo");
    assert_string_equal(lab->connect, "sandbox");
    assert_int_equal(lab->n_networks, 3);
    assert_int_equal(lab->n_nodes, 0);
    assert_int_equal(lab->n_images, 0);
    assert_int_equal(lab_find_network(lab, "vmnet8")->type, VMNET_NAT);
    assert_net(&lab_find_network(lab, "vmnet8")->subnet, "192.168.208.0/24");
    assert_int_equal(lab_find_network(lab, "vmnet1")->type, VMNET_HOSTONLY);
    assert_net(&lab_find_network(lab, "vmnet1")->subnet, "192.168.201.0/24");
    const LabNetwork *n2 = lab_find_network(lab, "vmnet2");
    assert_int_equal(n2->type, VMNET_ISOLATED);
    assert_false(n2->has_subnet);
    assert_false(lab->kubernetes.present);
    lab_free(lab);
    free(path);
}

static void test_missing_file(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_int_equal(lab_load_file("/nonexistent/lab.yaml", &lab, &d, &err), -ENOENT);
    assert_null(lab);
    assert_int_equal(d.n, 0);
    assert_true(error_is_set(&err));
    assert_non_null(strstr(err.message, "'/nonexistent/lab.yaml'"));
    error_clear(&err);
}

/* A syntax error in a real file is located under the path the user gave. */
static void test_file_syntax_error(void **state)
{
    char *path = source_path("tests/data/lab-parse/syntax-error.yaml");
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_int_equal(lab_load_file(path, &lab, &d, &err), -EINVAL);
    assert_false(error_is_set(&err));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.file, path);
    assert_int_equal(d.items[0].loc.line, 4);
    char *s = lab_diags_format(&d);
    assert_true(strncmp(s, path, strlen(path)) == 0);
    assert_non_null(strstr(s, ":4:"));
    free(s);
    lab_diags_clear(&d);
    free(path);
}

/* Every problem of a file is reported, in file order. */
static void test_many_problems(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};

    assert_int_equal(load_case("many-problems.yaml", &lab, &d), -EINVAL);
    assert_null(lab);
    assert_true(d.n >= 15);
    for (size_t i = 1; i < d.n; i++)
        assert_true(d.items[i - 1].loc.line <= d.items[i].loc.line);
    /* one from each section, so a walker that stops early is caught */
    char *s = lab_diags_format(&d);
    assert_non_null(strstr(s, "many-problems.yaml:1:6: lab name 'Many'"));
    assert_non_null(strstr(s, "did you mean 'networks'?"));
    assert_non_null(strstr(s, "did you mean '192.168.208.0/24'?"));
    assert_non_null(strstr(s, "undefined node 'ghost'"));
    assert_non_null(strstr(s, "bridged network 'vmnet0' needs 'interface'"));
    assert_non_null(strstr(s, "undefined image 'bsae'; did you mean 'base'?"));
    assert_non_null(strstr(s, "undefined network 'vmnet7'; did you mean 'vmnet8'?"));
    assert_non_null(strstr(s, "disk size 'huge'"));
    assert_non_null(strstr(s, "unknown key 'cni'"));
    free(s);
    lab_diags_clear(&d);
}

/* A reused LabDiags holds only the new file's problems. */
static void test_diags_reused(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};

    assert_int_equal(load_case("many-problems.yaml", &lab, &d), -EINVAL);
    assert_int_equal(load_case("connect.yaml", &lab, &d), -EINVAL);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.file, "connect.yaml");
    lab_diags_clear(&d);
    lab_diags_clear(&d);
}

static void test_wide_subnet_model(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};

    assert_int_equal(load_case("ok-wide-subnet.yaml", &lab, &d), 0);
    const LabNetwork *n = lab_find_network(lab, "lab-net");
    assert_int_equal(n->backend, VMNET_BACKEND_BRIDGE);
    assert_net(&n->subnet, "10.20.0.0/16");
    assert_true(n->has_dhcp_range);
    assert_int_equal(n->dhcp_start, ip("10.20.1.0"));
    assert_int_equal(n->dhcp_end, ip("10.20.1.255"));
    assert_int_equal(n->lease_seconds, 5400);
    assert_int_equal(n->port_forwards[0].proto, LAB_PROTO_UDP);
    const LabImage *img = lab_find_image(lab, "dns");
    assert_int_equal(img->kind, LAB_IMAGE_URL);
    assert_string_equal(img->source, "https://example.org/dns.qcow2");
    assert_string_equal(img->sha256,
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    const LabNode *node = lab_find_node(lab, "dns");
    assert_string_equal(node->machine, "pc-q35-8.2");
    assert_int_equal(node->disks[0].size_bytes, 512ULL << 20);
    assert_string_equal(node->disks[0].bus, "scsi");
    assert_int_equal(node->disks[1].size_bytes, 1ULL << 40);
    assert_true(node->nics[0].has_mac);
    assert_mac(&node->nics[0].mac, "52:54:00:00:00:53");
    assert_int_equal(node->nics[0].ip, ip("10.20.0.53"));
    assert_false(node->nics[1].has_mac);
    assert_string_equal(lab->kubernetes.version, "1.30");
    assert_false(lab->kubernetes.bootstrap);
    lab_free(lab);
}

/* Values YAML would read as numbers keep the text as written. */
static void test_scalar_text(void **state)
{
    Lab *lab = load_ok("lab: v\nkubernetes: {version: 1.30}\n");
    assert_string_equal(lab->kubernetes.version, "1.30");
    lab_free(lab);

    lab = load_ok("lab: m\nimages: {i: {build: d}}\n"
                  "nodes: [{name: a, image: i, memory: 4G}, {name: b, image: i, memory: \"3072\"},"
                  " {name: c, image: i, memory: 512MiB}]\n");
    assert_int_equal(lab->nodes[0].memory_mib, 4096);
    assert_int_equal(lab->nodes[1].memory_mib, 3072);
    assert_int_equal(lab->nodes[2].memory_mib, 512);
    lab_free(lab);
}

/* A node with count may only be reached by its expanded names. */
static void test_count_names(void **state)
{
    Lab *lab = load_ok(
            "lab: c\nnetworks: {vmnet8: {type: nat, port_forwards: "
            "[{host_port: 2201, node: w-1, port: 22}, {host_port: 2202, node: w-2, port: 22}]}}\n"
            "images: {i: {build: d}}\n"
            "nodes: [{name: w, count: 2, image: i, networks: [vmnet8]},"
            " {name: one, count: 1, image: i}]\n");
    assert_int_equal(lab->n_nodes, 3);
    assert_string_equal(lab->nodes[2].name, "one-1");
    assert_int_equal(lab->nodes[2].index, 1);
    lab_free(lab);

    char *s = load_bad("lab: c\nnetworks: {vmnet8: {type: nat, port_forwards: "
                       "[{host_port: 2201, node: one, port: 22}]}}\n"
                       "images: {i: {build: d}}\nnodes: [{name: one, count: 1, image: i, networks: "
                       "[vmnet8]}]\n");
    assert_string_equal(s, "inline.yaml:2:72: port forward targets 'one', which has count 1; name "
                           "one of its copies, such as 'one-1'\n");
    free(s);
}

/* libfyaml must not print anything itself: only cli/ prints. */
static void test_quiet(void **state)
{
    fflush(stderr);
    FILE *saved = stderr;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    stderr = mem;
    char *s = load_bad("lab: x\nnetworks: [\n");
    stderr = saved;
    fclose(mem);
    assert_int_equal(len, 0);
    assert_non_null(strstr(s, "invalid YAML"));
    free(s);
    free(buf);
}

/* ---- bounded input ---------------------------------------------------------------------- */

/* A growing text buffer for generated lab files. */
typedef struct Buf {
    char *s;
    size_t len;
    FILE *f;
} Buf;

static void buf_open(Buf *b)
{
    *b = (Buf){0};
    b->f = open_memstream(&b->s, &b->len);
    assert_non_null(b->f);
}

static char *buf_close(Buf *b)
{
    assert_int_equal(fclose(b->f), 0);
    return b->s;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Load @len bytes of @text, which must be refused with a diagnostic containing @want at
 * @line:@col. A hang would be killed by the alarm, so it fails instead of blocking the suite. */
static void assert_refused_at(const char *text, size_t len, int line, int col, const char *want)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    alarm(20);
    int r = lab_load_string("bounded.yaml", text, len, &lab, &d, &err);
    alarm(0);
    if (r != -EINVAL || d.n == 0 || !strstr(d.items[0].message, want)) {
        char *s = lab_diags_format(&d);
        fprintf(stderr, "r=%d, want '%s' at %d:%d, got:\n%s", r, want, line, col, s ? s : "");
        free(s);
    }
    assert_int_equal(r, -EINVAL);
    assert_null(lab);
    assert_true(d.n >= 1);
    assert_non_null(strstr(d.items[0].message, want));
    assert_int_equal(d.items[0].loc.line, line);
    assert_int_equal(d.items[0].loc.col, col);
    lab_diags_clear(&d);
}

/* "%\xff" at the start of a line made libfyaml loop forever; text that is not UTF-8 is refused
 * where its first bad byte is, before libfyaml sees it. */
static void test_utf8(void **state)
{
    assert_refused_at("%\xff\n", 3, 1, 2, "not valid UTF-8: byte 0xff");
    assert_refused_at("lab: x\n%\xff", 9, 2, 2, "not valid UTF-8: byte 0xff");
    /* a column counts characters: 'é' is one */
    assert_refused_at("lab: \xc3\xa9\xc3(\n", 10, 1, 7, "byte 0xc3");
    assert_refused_at("lab: \xc0\xaf\n", 8, 1, 6, "byte 0xc0");          /* overlong '/' */
    assert_refused_at("lab: \xed\xa0\x80\n", 9, 1, 6, "byte 0xed");      /* a surrogate */
    assert_refused_at("lab: \xf4\x90\x80\x80\n", 10, 1, 6, "byte 0xf4"); /* past U+10FFFF */
    assert_refused_at("lab: a\xe2\x82", 8, 1, 7, "byte 0xe2");           /* cut short */

    /* well-formed text of all lengths goes through */
    Lab *lab =
            load_ok("lab: u\nimages: {i: {build: \xc3\xa9t\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xa7}}\n"
                    "connect: 'qemu:///\xf0\x9f\x90\xa7'\n");
    assert_string_equal(lab->connect, "qemu:///\xf0\x9f\x90\xa7");
    lab_free(lab);
}

/* At most LAB_FILE_MAX_BYTES: a larger file, and /dev/zero, are refused by their size without
 * being read to the end. */
static void test_file_size(void **state)
{
    char path[] = "/tmp/kvp-lab-XXXXXX";
    int fd = mkstemp(path);
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_true(fd >= 0);
    /* a valid file of exactly the limit is accepted: a comment pads it */
    FILE *f = fdopen(fd, "w");
    fputs("lab: big\n#", f);
    for (size_t i = 10; i < LAB_FILE_MAX_BYTES - 1; i++)
        fputc('x', f);
    fputc('\n', f);
    fflush(f);
    assert_int_equal(lab_load_file(path, &lab, &d, &err), 0);
    lab_free(lab);
    lab = NULL;
    /* one byte more is refused */
    fputc('\n', f);
    fclose(f);
    assert_int_equal(lab_load_file(path, &lab, &d, &err), -EINVAL);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.items[0].message, "larger than 4 MiB"));
    assert_int_equal(d.items[0].loc.line, 1);
    unlink(path);

    double t0 = now();
    assert_int_equal(lab_load_file("/dev/zero", &lab, &d, &err), -EINVAL);
    assert_true(now() - t0 < 10);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.items[0].message, "larger than 4 MiB"));
    assert_false(error_is_set(&err));
    lab_diags_clear(&d);
}

/* A directory says so (it said "Input/output error"). */
static void test_directory(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;

    assert_int_equal(lab_load_file("/tmp", &lab, &d, &err), -EISDIR);
    assert_null(lab);
    assert_int_equal(d.n, 0);
    assert_non_null(strstr(err.message, "'/tmp'"));
    assert_non_null(strstr(err.message, "Is a directory"));
    error_clear(&err);
}

/* A generated lab refused with a message naming @limit; the load must finish in seconds. */
static void assert_limit(const char *text, const char *want)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    double t0 = now();

    alarm(60);
    int r = load_text(text, &lab, &d);
    alarm(0);
    assert_true(now() - t0 < 10);
    char *s = lab_diags_format(&d);
    if (!strstr(s, want))
        fprintf(stderr, "want '%s' in:\n%.2000s", want, s);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(s, want));
    for (size_t i = 0; i < d.n; i++)
        assert_true(d.items[i].loc.line > 0);
    free(s);
    lab_diags_clear(&d);
}

static void test_limits(void **state)
{
    Buf b;
    char *text;

    /* 256 networks are fine, 257 are not */
    buf_open(&b);
    fputs("lab: many\nnetworks:\n", b.f);
    for (int i = 0; i < LAB_NETWORKS_MAX; i++)
        fprintf(b.f, "  n%d: {type: isolated}\n", i);
    text = buf_close(&b);
    Lab *lab = load_ok(text);
    assert_int_equal(lab->n_networks, LAB_NETWORKS_MAX);
    lab_free(lab);
    text = realloc(text, strlen(text) + 128);
    strcat(text, "  n256: {type: isolated}\n");
    assert_limit(text, "inline.yaml:259:3: network 'n256' is one too many: a lab has at most 256 "
                       "networks");
    /* a NIC on a network past the limit is not also called undefined */
    strcat(text, "images: {i: {build: d}}\nnodes: [{name: a, image: i, networks: [n256]}]\n");
    LabDiags d = {0};
    assert_int_equal(load_text(text, &lab, &d), -EINVAL);
    assert_int_equal(d.n, 1);
    lab_diags_clear(&d);
    free(text);

    /* 1,024 nodes after count are fine, one more is not */
    buf_open(&b);
    fputs("lab: many\nimages: {i: {build: d}}\nnodes:\n", b.f);
    for (int i = 0; i < LAB_NODES_MAX / 64; i++)
        fprintf(b.f, "  - {name: w%d, count: 64, image: i}\n", i);
    text = buf_close(&b);
    lab = load_ok(text);
    assert_int_equal(lab->n_nodes, LAB_NODES_MAX);
    lab_free(lab);
    text = realloc(text, strlen(text) + 64);
    strcat(text, "  - {name: last, count: 1, image: i}\n");
    assert_limit(text, "inline.yaml:20:25: node 'last' brings the lab to 1025 nodes; a lab has at "
                       "most 1024 (after 'count')");
    free(text);

    /* 16 NICs and 64 disks per node */
    buf_open(&b);
    fputs("lab: nics\nnetworks: {n: {type: isolated}}\nimages: {i: {build: d}}\nnodes:\n"
          "  - {name: a, image: i, networks: [",
          b.f);
    for (int i = 0; i <= LAB_NICS_PER_NODE_MAX; i++)
        fputs(i ? ", n" : "n", b.f);
    fputs("]}\n  - {name: b, image: i, disks: [", b.f);
    for (int i = 0; i <= LAB_DISKS_PER_NODE_MAX; i++)
        fputs(i ? ", {size: 1G}" : "{size: 1G}", b.f);
    fputs("]}\n", b.f);
    text = buf_close(&b);
    assert_limit(text, "inline.yaml:5:35: node 'a' has 17 NICs; a node has at most 16");
    assert_limit(text, "inline.yaml:6:32: node 'b' has 65 disks; a node has at most 64");
    free(text);
}

/* An anchored list of 20,000 networks reused by nodes with count: 64 took 8.3 GB; aliases that
 * double at each level (a billion values) are refused where they pass the bound. */
static void test_alias_bombs(void **state)
{
    Buf b;
    char *text;

    buf_open(&b);
    fputs("lab: bomb\nnetworks: {n: {type: isolated}}\nimages: {i: {build: d}}\n"
          "x-nets: &nets [n",
          b.f);
    for (int i = 1; i < 20000; i++)
        fputs(", n", b.f);
    fputs("]\nnodes:\n", b.f);
    for (int i = 0; i < 100; i++)
        fprintf(b.f, "  - {name: w%d, count: 64, image: i, networks: *nets}\n", i);
    text = buf_close(&b);
    assert_limit(text, "node 'w0' has 20000 NICs; a node has at most 16");
    free(text);

    buf_open(&b);
    fputs("lab: laughs\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n", b.f);
    for (int i = 1; i < 10; i++) {
        fprintf(b.f, "a%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            fprintf(b.f, "%s*a%d", j ? ", " : "", i - 1);
        fputs("]\n", b.f);
    }
    text = buf_close(&b);
    assert_limit(text, "makes the aliases of the lab file stand for more than 100000 values");
    free(text);
}

static int mac_cmp(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(MacAddr));
}

/* Duplicate keys and names are found in linear time: 200,000 keys took minutes before. */
static void test_linear_duplicates(void **state)
{
    Buf b;
    buf_open(&b);
    fputs("lab: wide\nnetworks:\n", b.f);
    for (int i = 0; i < 200000; i++)
        fprintf(b.f, "  n%d: 0\n", i);
    fputs("  n7: 1\n", b.f);
    char *text = buf_close(&b);
    assert_limit(text, "inline.yaml:200003:3: duplicate key 'n7'; it was first given at line 10");
    free(text);

    /* 1,024 nodes with 16 NICs each: 16,384 MACs and names compared */
    buf_open(&b);
    fputs("lab: macs\nnetworks: {n: {type: isolated}}\nimages: {i: {build: d}}\nnodes:\n", b.f);
    for (int i = 0; i < LAB_NODES_MAX / 64; i++) {
        fprintf(b.f, "  - {name: w%d, count: 64, image: i, networks: [n", i);
        for (int j = 1; j < LAB_NICS_PER_NODE_MAX; j++)
            fputs(", n", b.f);
        fputs("]}\n", b.f);
    }
    text = buf_close(&b);
    double t0 = now();
    Lab *lab = load_ok(text);
    assert_true(now() - t0 < 5);
    assert_int_equal(lab->n_nodes, LAB_NODES_MAX);

    /* 16,384 MACs from 24 bits: some derivations collide (before the salt this valid lab was
     * refused with "MAC ... is already used"); all differ, and a salted one is the derivation
     * of a NIC index no real NIC has */
    size_t n = 0, salted = 0;
    MacAddr *all = calloc(LAB_NODES_MAX * LAB_NICS_PER_NODE_MAX, sizeof(*all));
    for (size_t i = 0; i < lab->n_nodes; i++) {
        for (size_t j = 0; j < lab->nodes[i].n_nics; j++) {
            const MacAddr *m = &lab->nodes[i].nics[j].mac;
            MacAddr plain = addr_mac_derive("macs", lab->nodes[i].name, (unsigned)j);
            all[n++] = *m;
            if (addr_mac_equal(m, &plain))
                continue;
            MacAddr once = addr_mac_derive("macs", lab->nodes[i].name, (unsigned)j + 1000);
            MacAddr twice = addr_mac_derive("macs", lab->nodes[i].name, (unsigned)j + 2000);
            assert_true(addr_mac_equal(m, &once) || addr_mac_equal(m, &twice));
            salted++;
        }
    }
    assert_int_equal(n, LAB_NODES_MAX * LAB_NICS_PER_NODE_MAX);
    assert_true(salted > 0);
    qsort(all, n, sizeof(*all), mac_cmp);
    for (size_t i = 1; i < n; i++)
        assert_false(addr_mac_equal(&all[i - 1], &all[i]));
    free(all);
    lab_free(lab);
    free(text);
}

/* Twelve single quotes leaked 512 bytes in libfyaml 0.7.12's token text: the value is right and
 * the heap does not grow when the same file is read again and again. */
static void test_no_leak(void **state)
{
    static const char text[] = "lab: ''''''''''''\nconnect: 'qemu:///''''''''''''\n  x  y'\n";
    Lab *lab = NULL;
    LabDiags d = {0};

    assert_int_equal(load_text(text, &lab, &d), -EINVAL);
    assert_string_equal(d.items[0].message,
                        "lab name ''''''' must start with a lower-case letter and contain only "
                        "lower-case letters, digits and '-'");
    lab_diags_clear(&d);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(load_text(text, &lab, &d), -EINVAL);
        lab_diags_clear(&d);
    }
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(load_text(text, &lab, &d), -EINVAL);
        lab_diags_clear(&d);
    }
    size_t after = mallinfo2().uordblks;
    /* 1,000 leaks of 512 bytes would be 500 KiB */
    assert_true(after < before + 16 * 1024);

    lab = load_ok("lab: q\nconnect: 'qemu:///''a''\n   b\n\n   c'\n");
    assert_string_equal(lab->connect, "qemu:///'a' b\nc");
    lab_free(lab);
    /* folding as libfyaml does it: a leading break is a space, each empty line a newline */
    lab = load_ok("lab: q\nimages: {a: {build: '\n\n  x''y'}, b: {build: 'x''\n  ''y  '}}\n");
    assert_string_equal(lab->images[0].source, "\nx'y");
    assert_string_equal(lab->images[1].source, "x' 'y  ");
    lab_free(lab);
}

/* Too many problems: the first LAB_DIAGS_MAX, then one line that says so. */
static void test_diags_max(void **state)
{
    Buf b;
    buf_open(&b);
    fputs("lab: noisy\nimages:\n", b.f);
    for (int i = 0; i < 1000; i++)
        fprintf(b.f, "  i%d: {}\n", i);
    char *text = buf_close(&b);
    Lab *lab = NULL;
    LabDiags d = {0};
    assert_int_equal(load_text(text, &lab, &d), -EINVAL);
    assert_int_equal(d.n, LAB_DIAGS_MAX + 1);
    assert_non_null(strstr(d.items[LAB_DIAGS_MAX].message, "too many problems"));
    lab_diags_clear(&d);
    free(text);
}

/* A node NIC never derives the MAC of a network's bridge (vmnet/netxml.c derives that from
 * "bridge:<key>"): in lab 'col', NIC 5 of node 'n14515' derives the MAC of bridge 'v186' (found
 * by search), and gets the salted derivation instead. */
static void test_bridge_mac(void **state)
{
    MacAddr bridge = addr_mac_derive("col", "bridge:v186", 0);
    MacAddr plain = addr_mac_derive("col", "n14515", 5);
    MacAddr salted = addr_mac_derive("col", "n14515", 1005);
    assert_true(addr_mac_equal(&bridge, &plain));

    Lab *lab = load_ok("lab: col\nnetworks: {v186: {type: nat}}\nimages: {i: {build: d}}\n"
                       "nodes: [{name: n14515, image: i, networks: [v186, v186, v186, v186, v186, "
                       "v186]}]\n");
    assert_false(addr_mac_equal(&lab->nodes[0].nics[5].mac, &bridge));
    assert_true(addr_mac_equal(&lab->nodes[0].nics[5].mac, &salted));
    MacAddr nic0 = addr_mac_derive("col", "n14515", 0);
    assert_true(addr_mac_equal(&lab->nodes[0].nics[0].mac, &nic0));
    lab_free(lab);
}

/* accel (lab and node, the node's wins), templates, cloud_init and the kubernetes repository. */
static void test_node_options(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    assert_int_equal(load_case("ok-node-options.yaml", &lab, &d), 0);
    assert_int_equal(lab->accel, LAB_ACCEL_TCG);
    assert_string_equal(lab->templates, "my-templates");
    assert_int_equal(lab_node_accel(lab, &lab->nodes[0]), LAB_ACCEL_KVM);
    assert_int_equal(lab_node_accel(lab, &lab->nodes[1]), LAB_ACCEL_AUTO);
    assert_int_equal(lab_node_accel(lab, &lab->nodes[2]), LAB_ACCEL_TCG);
    assert_true(lab->nodes[0].cloud_init);
    assert_false(lab->nodes[1].cloud_init);
    assert_null(lab->nodes[0].nics[0].model);
    assert_string_equal(lab->nodes[1].nics[0].model, "vmxnet3");
    assert_string_equal(lab->kubernetes.repository, "http://10.0.0.1:8080/k8s/");
    assert_string_equal(lab->kubernetes.repository_key, "none");
    assert_int_equal(lab->kubernetes.install_packages, LAB_INSTALL_FALSE);
    lab_free(lab);
    /* the defaults: auto everywhere, packages installed when reachable */
    assert_int_equal(load_case("ok-minimal.yaml", &lab, &d), 0);
    assert_int_equal(lab->accel, LAB_ACCEL_UNSET);
    assert_int_equal(lab->kubernetes.install_packages, LAB_INSTALL_AUTO);
    for (size_t i = 0; i < lab->n_nodes; i++) {
        assert_int_equal(lab_node_accel(lab, &lab->nodes[i]), LAB_ACCEL_AUTO);
        assert_true(lab->nodes[i].cloud_init);
    }
    lab_free(lab);
}

/* Disk contents (path, image), VMware controllers, firmware, secure boot and CD-ROMs. */
static void test_vmware_disks(void **state)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    assert_int_equal(load_case("ok-vmware-disks.yaml", &lab, &d), 0);
    const LabNode *n = lab_find_node(lab, "imported");
    assert_non_null(n);
    assert_null(n->image);
    assert_int_equal(n->n_disks, 3);
    assert_string_equal(n->disks[0].path, "disks/imported.vmdk");
    assert_int_equal(n->disks[0].size_bytes, 0);
    assert_string_equal(n->disks[0].controller, "lsisas1068");
    assert_int_equal(n->disks[0].content_loc.line, 10);
    assert_int_equal(n->disks[0].content_loc.col, 16);
    assert_string_equal(n->disks[1].path, "/srv/data.vmdk");
    assert_int_equal(n->disks[1].size_bytes, 40ULL << 30);
    assert_string_equal(n->disks[1].bus, "scsi");
    assert_string_equal(n->disks[1].controller, "pvscsi");
    assert_null(n->disks[2].path);
    assert_null(n->disks[2].image);
    assert_string_equal(n->disks[2].controller, "nvme");
    assert_null(lab_disk_image(n, 0));
    assert_string_equal(lab_disk_path(n, 0), "disks/imported.vmdk");
    assert_int_equal(n->firmware, LAB_FIRMWARE_EFI);
    assert_true(n->secure_boot);
    assert_int_equal(n->n_cdroms, 3);
    assert_string_equal(n->cdroms[0].path, "tools.iso");
    assert_null(n->cdroms[1].path);
    assert_string_equal(n->cdroms[2].path, "/isos/install.iso");
    assert_int_equal(n->cdroms[2].loc.line, 13);

    n = lab_find_node(lab, "fromimage");
    assert_null(n->image);
    assert_string_equal(lab_disk_image(n, 0), "win");
    assert_string_equal(lab_disk_image(n, 1), "base");
    assert_int_equal(n->disks[0].size_bytes, 30ULL << 30);
    assert_int_equal(n->firmware, LAB_FIRMWARE_BIOS);
    assert_false(n->secure_boot);
    assert_int_equal(n->n_cdroms, 0);

    n = lab_find_node(lab, "plain");
    assert_string_equal(lab_disk_image(n, 0), "base");
    assert_null(lab_disk_image(n, 1));
    assert_string_equal(lab_disk_path(n, 1), "extra.qcow2");
    assert_int_equal(n->firmware, LAB_FIRMWARE_EFI);
    assert_false(n->secure_boot);

    n = lab_find_node(lab, "legacy");
    assert_string_equal(lab_disk_image(n, 0), "base");
    assert_null(lab_disk_path(n, 0));
    assert_string_equal(lab_firmware_to_string(n->firmware), "bios");
    lab_free(lab);
}

static void test_bad_case(void **state)
{
    const char *name = *state;
    char file[128], out[160];
    Lab *lab = NULL;
    LabDiags d = {0};

    snprintf(file, sizeof(file), "%s.yaml", name);
    snprintf(out, sizeof(out), "lab-parse/%s.out", name);
    assert_int_equal(load_case(file, &lab, &d), -EINVAL);
    assert_null(lab);
    assert_true(d.n > 0);
    for (size_t i = 0; i < d.n; i++) {
        assert_true(d.items[i].loc.line > 0);
        assert_true(d.items[i].loc.col > 0);
    }
    char *s = lab_diags_format(&d);
    assert_int_equal(golden_check(out, s), 0);
    free(s);
    lab_diags_clear(&d);
}

static void test_ok_case(void **state)
{
    const char *name = *state;
    char file[128];
    Lab *lab = NULL;
    LabDiags d = {0};

    snprintf(file, sizeof(file), "%s.yaml", name);
    int r = load_case(file, &lab, &d);
    if (r != 0) {
        char *s = lab_diags_format(&d);
        fprintf(stderr, "%s", s);
        free(s);
    }
    assert_int_equal(r, 0);
    assert_non_null(lab);
    assert_int_equal(d.n, 0);
    lab_free(lab);
}

/* Every file under tests/data/lab-parse/: *.yaml with a golden .out, ok-*.yaml accepted. */
#define BAD_CASES(X)                                                                               \
    X("alias-unknown")                                                                             \
    X("bootstrap-two-cp")                                                                          \
    X("bridged")                                                                                   \
    X("connect")                                                                                   \
    X("dhcp-no-subnet")                                                                            \
    X("dhcp-range")                                                                                \
    X("duplicates")                                                                                \
    X("empty")                                                                                     \
    X("images")                                                                                    \
    X("interface-chars")                                                                           \
    X("isolated")                                                                                  \
    X("kubernetes")                                                                                \
    X("kubernetes-cp-small")                                                                       \
    X("lab-missing")                                                                               \
    X("lab-name")                                                                                  \
    X("lab-name-long")                                                                             \
    X("many-problems")                                                                             \
    X("multi-doc")                                                                                 \
    X("network-names")                                                                             \
    X("network-type")                                                                              \
    X("node-networks")                                                                             \
    X("node-options")                                                                              \
    X("nodes")                                                                                     \
    X("not-a-mapping")                                                                             \
    X("overlap")                                                                                   \
    X("port-forwards")                                                                             \
    X("reservations")                                                                              \
    X("static-full")                                                                               \
    X("subnet-invalid")                                                                            \
    X("subnet-not-24")                                                                             \
    X("subnet-too-small")                                                                          \
    X("syntax-error")                                                                              \
    X("syntax-indent")                                                                             \
    X("unknown-keys")                                                                              \
    X("vmware-disks")                                                                              \
    X("wrong-types")                                                                               \
    X("wrong-types-values")
#define OK_CASES(X)                                                                                \
    X("ok-anchors")                                                                                \
    X("ok-hostonly-range")                                                                         \
    X("ok-minimal")                                                                                \
    X("ok-node-options")                                                                           \
    X("ok-small-cp-no-bootstrap")                                                                  \
    X("ok-vmware-disks")                                                                           \
    X("ok-wide-subnet")

#define NAME(n) n ".yaml",
static const char *const case_files[] = {BAD_CASES(NAME) OK_CASES(NAME)};

/* A case file that is not in the lists above would never run: refuse it. */
static void test_cases_listed(void **state)
{
    char *dir = golden_path("lab-parse");
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        bool listed = false;
        for (size_t i = 0; i < sizeof(case_files) / sizeof(case_files[0]); i++)
            listed = listed || strcmp(case_files[i], de->d_name) == 0;
        if (!listed)
            fprintf(stderr, "tests/data/lab-parse/%s is not listed in %s\n", de->d_name, __FILE__);
        assert_true(listed);
        n++;
    }
    closedir(d);
    assert_int_equal(n, sizeof(case_files) / sizeof(case_files[0]));
    free(dir);
}

#define BAD(n) {"bad/" n, test_bad_case, NULL, NULL, (void *)n},
#define OK(n)  {"ok/" n, test_ok_case, NULL, NULL, (void *)n},

int main(void)
{
    /* one macro expansion per line */
    /* clang-format off */
    const struct CMUnitTest tests[] = {
            BAD_CASES(BAD)
            OK_CASES(OK)
            cmocka_unit_test(test_example),
            cmocka_unit_test(test_vmware_disks),
            cmocka_unit_test(test_example_stable),
            cmocka_unit_test(test_networks_example),
            cmocka_unit_test(test_missing_file),
            cmocka_unit_test(test_file_syntax_error),
            cmocka_unit_test(test_many_problems),
            cmocka_unit_test(test_diags_reused),
            cmocka_unit_test(test_wide_subnet_model),
            cmocka_unit_test(test_scalar_text),
            cmocka_unit_test(test_count_names),
            cmocka_unit_test(test_quiet),
            cmocka_unit_test(test_cases_listed),
            cmocka_unit_test(test_utf8),
            cmocka_unit_test(test_file_size),
            cmocka_unit_test(test_directory),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_alias_bombs),
            cmocka_unit_test(test_linear_duplicates),
            cmocka_unit_test(test_no_leak),
            cmocka_unit_test(test_diags_max),
            cmocka_unit_test(test_bridge_mac),
            cmocka_unit_test(test_node_options),
    };
    /* clang-format on */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
