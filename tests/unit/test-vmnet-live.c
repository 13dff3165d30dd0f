/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Drift readers: what a live libvirt network and a live NAT table really do, as canonical text.
 * Expected values are independent fixtures: tests/data/network-spec/ (the spec of each case),
 * tests/data/network-live/ (libvirt 9.0's own `net-dumpxml --inactive` of each golden XML and
 * of hand edits made the way `virsh net-edit` saves them, with expected specs written by hand),
 * tests/data/nft-live/ (`nft list table` of the golden tables loaded into a namespace, and of
 * hand edits, with expected essentials written by hand). The real nft checks every golden table
 * and lists it back inside a user namespace, so no root is needed.
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
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <nftables/libnftables.h>

#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/spawn.h"
#include "kvmlab/vmnet.h"
#include "vmnet-lab.h"

/* The essentials of a fixture XML, with the stored spec taken from its own metadata as the
 * engine does. */
static char *essentials_of(const char *rel)
{
    _cleanup_free_ char *xml = golden_read(rel);
    VmnetOwner owner = {0};
    Error err = ERROR_INIT;
    char *spec = NULL;

    if (!xml)
        fprintf(stderr, "missing fixture tests/data/%s\n", rel);
    assert_non_null(xml);
    assert_int_equal(vmnet_owner_parse(xml, &owner, &err), 0);
    int r = vmnet_libvirt_xml_essentials(xml, owner.spec, &spec, &err);
    if (r < 0)
        fprintf(stderr, "%s: %s\n", rel, err.message);
    assert_int_equal(r, 0);
    vmnet_owner_clear(&owner);
    return spec;
}

static void expect_text(const char *what, const char *want_rel, const char *have)
{
    _cleanup_free_ char *want = golden_read(want_rel);
    assert_non_null(want);
    if (strcmp(want, have) != 0)
        fprintf(stderr, "%s: want (tests/data/%s):\n%s--- have:\n%s", what, want_rel, want, have);
    assert_string_equal(have, want);
}

/* What kvmlab writes reads back as the spec it was written from. */
static void test_written_xml(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        _cleanup_free_ char *xml_rel = NULL, *spec_rel = NULL;
        assert_true(asprintf(&xml_rel, "network-xml/%s.out", vmnet_cases[i].name) > 0);
        assert_true(asprintf(&spec_rel, "network-spec/%s.out", vmnet_cases[i].name) > 0);
        _cleanup_free_ char *have = essentials_of(xml_rel);
        expect_text(xml_rel, spec_rel, have);
    }
}

/* The same networks as libvirt itself dumps them (uuid, reordered namespaces, split <ip>). */
static void test_libvirt_dump(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        _cleanup_free_ char *xml_rel = NULL, *spec_rel = NULL;
        assert_true(asprintf(&xml_rel, "network-live/%s.xml", vmnet_cases[i].name) > 0);
        assert_true(asprintf(&spec_rel, "network-spec/%s.out", vmnet_cases[i].name) > 0);
        _cleanup_free_ char *have = essentials_of(xml_rel);
        expect_text(xml_rel, spec_rel, have);
    }
}

DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose)
DEFINE_TRIVIAL_CLEANUP_FUNC(virNetworkPtr, virNetworkFree)

static void silent_error(void *userdata, virErrorPtr e)
{
    (void)userdata;
    (void)e;
}

/* Every golden XML through libvirt's in-process test driver, which the engine's unit tests use:
 * what it dumps must read back as the spec, or every converged network there would drift. */
static void test_test_driver(void **state)
{
    (void)state;
    virSetErrorFunc(NULL, silent_error);
    _cleanup_(virConnectClosep) virConnectPtr conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    for (size_t i = 0; i < ELEMENTSOF(vmnet_cases); i++) {
        _cleanup_free_ char *xml_rel = NULL, *spec_rel = NULL;
        assert_true(asprintf(&xml_rel, "network-xml/%s.out", vmnet_cases[i].name) > 0);
        assert_true(asprintf(&spec_rel, "network-spec/%s.out", vmnet_cases[i].name) > 0);
        _cleanup_free_ char *xml = golden_read(xml_rel);
        assert_non_null(xml);
        _cleanup_(virNetworkFreep) virNetworkPtr net = virNetworkDefineXML(conn, xml);
        if (!net)
            fprintf(stderr, "%s: %s\n", xml_rel, virGetLastErrorMessage());
        assert_non_null(net);
        _cleanup_free_ char *dumped = virNetworkGetXMLDesc(net, 0);
        assert_non_null(dumped);
        VmnetOwner owner = {0};
        Error err = ERROR_INIT;
        char *have = NULL;
        assert_int_equal(vmnet_owner_parse(dumped, &owner, &err), 0);
        assert_int_equal(vmnet_libvirt_xml_essentials(dumped, owner.spec, &have, &err), 0);
        vmnet_owner_clear(&owner);
        expect_text(xml_rel, spec_rel, have);
        free(have);
        assert_int_equal(virNetworkUndefine(net), 0);
    }
}

/* Hand edits that keep the metadata (libvirt's dump after each), and a foreign network. */
static void test_hand_edits(void **state)
{
    (void)state;
    static const char *const edits[] = {
            "edit-range",
            "edit-reservation-removed",
            "edit-reservation-dhcp-only",
            "edit-lease",
            "edit-bridge",
            "edit-forward-route",
            "edit-subnet",
            "edit-no-router",
            "edit-netmask-no-lease",
            "forward-nat",
            "foreign-default",
    };
    for (size_t i = 0; i < ELEMENTSOF(edits); i++) {
        _cleanup_free_ char *xml_rel = NULL, *spec_rel = NULL;
        assert_true(asprintf(&xml_rel, "network-live/%s.xml", edits[i]) > 0);
        assert_true(asprintf(&spec_rel, "network-live/%s.out", edits[i]) > 0);
        _cleanup_free_ char *have = essentials_of(xml_rel);
        expect_text(xml_rel, spec_rel, have);
    }
}

static char *essentials_str(const char *xml, const char *stored)
{
    Error err = ERROR_INIT;
    char *spec = NULL;
    int r = vmnet_libvirt_xml_essentials(xml, stored, &spec, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(r, 0);
    return spec;
}

/* Facts the XML cannot carry come from the stored text, and only those. */
static void test_stored_facts(void **state)
{
    (void)state;
    const char *xml = "<network><name>n</name><bridge name='b'/>"
                      "<ip address='10.1.2.1' prefix='24'><dhcp>"
                      "<range start='10.1.2.128' end='10.1.2.254'>"
                      "<lease expiry='90' unit='seconds'/></range></dhcp></ip></network>";
    /* a stored text that lies about everything else: only backend and max-lease are taken */
    const char *stored = "type=nat\nbackend=bridge\nname=x\nbridge=y\nsubnet=10.9.9.0/24\n"
                         "dhcp=10.9.9.2-10.9.9.3\nlive.lease=1800\nlive.max-lease=7200\n";
    _cleanup_free_ char *a = essentials_str(xml, stored);
    assert_string_equal(a, "type=hostonly\nbackend=bridge\nname=n\nbridge=b\n"
                           "subnet=10.1.2.0/24\nhost=10.1.2.1\ndhcp=10.1.2.128-10.1.2.254\n"
                           "live.lease=90\nlive.max-lease=7200\n");
    _cleanup_free_ char *b = essentials_str(xml, NULL);
    assert_string_equal(b, "type=hostonly\nbackend=libvirt\nname=n\nbridge=b\n"
                           "subnet=10.1.2.0/24\nhost=10.1.2.1\ndhcp=10.1.2.128-10.1.2.254\n"
                           "live.lease=90\n");
}

/* Foreign, odd and broken documents: facts present are read, nothing else, and no crash. */
static void test_odd_xml(void **state)
{
    (void)state;
    static const struct {
        const char *xml, *want;
    } cases[] = {
            {"<network/>", "type=isolated\nbackend=libvirt\nname=\nbridge=\n"},
            {"<domain><name>vm</name></domain>",
             "type=isolated\nbackend=libvirt\nname=\nbridge=\n"},
            /* libvirt's NAT is a <forward> without a mode */
            {"<network><name>d</name><forward/><bridge name='virbr9'/></network>",
             "type=nat\nbackend=libvirt\nname=d\nbridge=virbr9\n"},
            {"<network><forward mode='hostdev'><pf dev='eth0'/></forward></network>",
             "type=hostdev\nbackend=libvirt\nname=\nbridge=\n"},
            /* macvtap: no bridge, the device is the interface */
            /* macvtap devices of a NIC: no bridge of its own */
            {"<network><forward mode='bridge' dev='eth1'/></network>",
             "type=bridged\nbackend=libvirt\nname=\nbridge=\ninterface=eth1\nmacvtap=yes\n"},
            /* IPv6 only: no IPv4 facts */
            {"<network><ip family='ipv6' address='fd00::1' prefix='64'/></network>",
             "type=isolated\nbackend=libvirt\nname=\nbridge=\n"},
            /* junk values are left out, not guessed */
            {"<network><ip address='300.1.1.1' prefix='24'><dhcp><range start='x' end='y'/>"
             "<host mac='zz' ip='10.0.0.5'/><host name='n'/></dhcp></ip>"
             "<ip address='10.0.0.1' prefix='99'/></network>",
             "type=hostonly\nbackend=libvirt\nname=\nbridge=\nlive.host=-,10.0.0.5,-\n"},
            {"<network><ip address='10.0.0.1' prefix='24'><dhcp>"
             "<range start='10.0.0.9' end='10.0.0.20'><lease expiry='z'/></range>"
             "<host mac='zz' ip='10.0.0.5'/></dhcp></ip>"
             "<dnsmasq:options xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
             "<dnsmasq:option value='dhcp-option=option:router,bogus'/></dnsmasq:options>"
             "<dns><host ip='10.0.0.6'><hostname>only.dns</hostname></host></dns></network>",
             "type=hostonly\nbackend=libvirt\nname=\nbridge=\nsubnet=10.0.0.0/24\n"
             "host=10.0.0.1\ndhcp=10.0.0.9-10.0.0.20\nlive.lease=3600\n"
             "live.host=-,10.0.0.5,-\nlive.host=-,10.0.0.6,- (DNS only only.dns)\n"},
            /* a host-only network whose router option was given an address by hand */
            {"<network><ip address='10.0.0.1' prefix='24'/>"
             "<dnsmasq:options xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>"
             "<dnsmasq:option value='dhcp-option=3,10.0.0.254'/></dnsmasq:options></network>",
             "type=hostonly\nbackend=libvirt\nname=\nbridge=\nsubnet=10.0.0.0/24\n"
             "host=10.0.0.1\ngateway=10.0.0.254\n"},
            /* a reservation whose DNS entry names another host */
            {"<network><domain name='l.lab'/><dns><host ip='10.0.0.7'>"
             "<hostname>b.l.lab</hostname></host></dns><ip address='10.0.0.1' prefix='24'><dhcp>"
             "<host mac='52:54:00:00:00:07' name='a' ip='10.0.0.7'/></dhcp></ip></network>",
             "type=hostonly\nbackend=libvirt\nname=\nbridge=\nsubnet=10.0.0.0/24\n"
             "host=10.0.0.1\ndomain=l.lab\nlive.host=52:54:00:00:00:07,10.0.0.7,a (DNS b)\n"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *have = essentials_str(cases[i].xml, NULL);
        if (strcmp(have, cases[i].want) != 0)
            fprintf(stderr, "case %zu:\n%s", i, cases[i].xml);
        assert_string_equal(have, cases[i].want);
    }

    static const char *const broken[] = {"", "not xml", "<network>", "<a></b>"};
    for (size_t i = 0; i < ELEMENTSOF(broken); i++) {
        Error err = ERROR_INIT;
        char *spec = NULL;
        assert_int_equal(vmnet_libvirt_xml_essentials(broken[i], NULL, &spec, &err), -EINVAL);
        assert_null(spec);
        assert_non_null(err.message);
        error_clear(&err);
    }
    Error err = ERROR_INIT;
    char *spec = NULL;
    assert_int_equal(vmnet_libvirt_xml_essentials(NULL, NULL, &spec, &err), -EINVAL);
    error_clear(&err);
}

/* The set behind tests/data/nft/nat-and-forwards.out (test-vmnet-nft.c builds the same). */
static void cka_set(Ipv4Net nat[2], VmnetForward fw[2], VmnetForwardSet *set)
{
    assert_int_equal(addr_cidr_parse("192.168.208.0/24", &nat[0]), 0);
    assert_int_equal(addr_cidr_parse("10.55.0.0/24", &nat[1]), 0);
    fw[0] = (VmnetForward){LAB_PROTO_TCP, 2222, 0, 22, (char *)"cp"};
    fw[1] = (VmnetForward){LAB_PROTO_UDP, 5353, 0, 53, (char *)"worker-1"};
    assert_int_equal(addr_ipv4_parse("192.168.208.10", &fw[0].target_ip), 0);
    assert_int_equal(addr_ipv4_parse("10.55.0.20", &fw[1].target_ip), 0);
    *set = (VmnetForwardSet){(char *)"cka", nat, 2, fw, 2};
}

static char *nft_essentials(const char *listing)
{
    Error err = ERROR_INIT;
    char *spec = NULL;
    int r = vmnet_nft_listing_essentials(listing, &spec, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.message);
    assert_int_equal(r, 0);
    return spec;
}

/* Real listings (nft 1.0.6) of the golden tables and of hand-edited ones. */
static void test_nft_listings(void **state)
{
    (void)state;
    static const char *const cases[] = {"nat-and-forwards", "nat-only", "edit-rules-deleted",
                                        "edit-port-changed"};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *rel = NULL, *want_rel = NULL;
        assert_true(asprintf(&rel, "nft-live/%s.txt", cases[i]) > 0);
        assert_true(asprintf(&want_rel, "nft-live/%s.out", cases[i]) > 0);
        _cleanup_free_ char *listing = golden_read(rel);
        assert_non_null(listing);
        _cleanup_free_ char *have = nft_essentials(listing);
        expect_text(rel, want_rel, have);
    }
    /* the formatter's own text reads the same as nft's listing of it */
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *rel = NULL, *want_rel = NULL;
        assert_true(asprintf(&rel, "nft/%s.out", cases[i]) > 0);
        assert_true(asprintf(&want_rel, "nft-live/%s.out", cases[i]) > 0);
        _cleanup_free_ char *text = golden_read(rel);
        _cleanup_free_ char *have = nft_essentials(text);
        expect_text(rel, want_rel, have);
    }
    /* and the engine's wanted side says the same of the set */
    Ipv4Net nat[2];
    VmnetForward fw[2];
    VmnetForwardSet set;
    cka_set(nat, fw, &set);
    _cleanup_free_ char *want = vmnet_nft_set_essentials(&set);
    expect_text("vmnet_nft_set_essentials", "nft-live/nat-and-forwards.out", want);
}

static void test_nft_odd(void **state)
{
    (void)state;
    Error err = ERROR_INIT;
    char *spec = NULL;
    assert_int_equal(vmnet_nft_listing_essentials("", &spec, &err), -EINVAL);
    error_clear(&err);
    assert_int_equal(vmnet_nft_listing_essentials(NULL, &spec, &err), -EINVAL);
    error_clear(&err);
    assert_null(spec);

    /* an empty table: every chain is missing */
    _cleanup_free_ char *a = nft_essentials("table ip kvmlab-x {\n}\n");
    assert_string_equal(a, "chain=postrouting: missing\nchain=prerouting: missing\n"
                           "chain=output: missing\n");
    /* a set, a foreign chain, a masquerade rule with its exceptions removed, a forward to a
     * port nft would never print, and nesting that never closes */
    _cleanup_free_ char *b = nft_essentials(
            "table ip kvmlab-x {\n"
            "\tset s {\n\t\ttype ipv4_addr\n\t}\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority 100; policy accept;\n"
            "\t\tip saddr 10.0.0.0/24 masquerade\n"
            "\t}\n"
            "\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
            "\t\tfib daddr type local tcp dport 0 dnat to 10.0.0.5:22\n"
            "\t}\n"
            "\tchain extra {\n"
            "\t\tcounter\n"
            "\t}\n"
            "\tchain output {\n"
            "\t\ttype filter hook output priority -100; policy accept;\n"
            "\t\tfib daddr type local tcp dport 22 dnat to 10.0.0.5:22 comment \"n\"\n");
    assert_string_equal(b, "forward=tcp/22,10.0.0.5:22 (output only)\n"
                           "other=table: set s {\n"
                           "other=table: type ipv4_addr\n"
                           "other=postrouting: ip saddr 10.0.0.0/24 masquerade\n"
                           "other=prerouting: fib daddr type local tcp dport 0 dnat to "
                           "10.0.0.5:22\n"
                           "other=extra: counter\n"
                           "chain=output: type filter hook output priority -100; policy accept;\n");
}

/* nft's own checker accepts every golden table, and its listing reads as the fixture says.
 * nft needs CAP_NET_ADMIN, which an unprivileged user namespace gives without root. */
static const char *nft_path(void)
{
    static const char *const paths[] = {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"};
    for (size_t i = 0; i < ELEMENTSOF(paths); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int nft_in_userns(const char *const *args, const char *input, SpawnResult *res)
{
    const char *argv[8] = {"unshare", "--map-root-user", "--net", nft_path()};
    size_t n = 4;
    for (; *args && n < ELEMENTSOF(argv) - 1; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    SpawnOpts opts = {.stdin_data = input, .timeout_ms = 20000};
    Error err = ERROR_INIT;
    int r = spawn_run(argv, &opts, res, &err);
    if (r < 0)
        fprintf(stderr, "%s\n", err.message);
    error_clear(&err);
    return r;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int r = n == (ssize_t)strlen(text) ? 0 : -EIO;
    close(fd);
    return r;
}

/* In a child: a fresh user and network namespace (root inside, nobody outside), @text loaded
 * through libnftables, then the table listed by a second command; the listing comes back over
 * a pipe. New string, or NULL when any step failed (the reason on stderr). */
static char *nft_load_list(const char *text)
{
    char table[64], cmd[128];
    int p[2];
    if (sscanf(text, "table ip %63s", table) != 1 || pipe2(p, O_CLOEXEC) < 0)
        return NULL;
    snprintf(cmd, sizeof(cmd), "list table ip %s", table);
    uid_t uid = getuid();
    gid_t gid = getgid();
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        char map[64];
        close(p[0]);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
            perror("unshare");
            _exit(1);
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        if (write_file("/proc/self/setgroups", "deny") < 0 ||
            write_file("/proc/self/uid_map", map) < 0)
            _exit(2);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        if (write_file("/proc/self/gid_map", map) < 0)
            _exit(3);
        struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx)
            _exit(4);
        nft_ctx_buffer_output(ctx);
        if (nft_run_cmd_from_buffer(ctx, text) != 0 || nft_run_cmd_from_buffer(ctx, cmd) != 0)
            _exit(5);
        const char *out = nft_ctx_get_output_buffer(ctx);
        size_t len = strlen(out);
        _exit(write(p[1], out, len) == (ssize_t)len ? 0 : 6);
    }
    close(p[1]);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char chunk[4096];
    ssize_t n;
    while (f && (n = read(p[0], chunk, sizeof(chunk))) > 0)
        fwrite(chunk, 1, (size_t)n, f);
    close(p[0]);
    if (f)
        fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "loading table '%s' in a user namespace failed (status %d)\n", table,
                status);
        free(buf);
        return NULL;
    }
    return buf;
}

static void test_nft_real(void **state)
{
    (void)state;
    /* scripts/setup.sh installs nftables: a missing nft is a failure, not a skip */
    assert_non_null(nft_path());
    static const char *const cases[] = {"nat-and-forwards", "nat-only"};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *rel = NULL, *want_rel = NULL;
        assert_true(asprintf(&rel, "nft/%s.out", cases[i]) > 0);
        assert_true(asprintf(&want_rel, "nft-live/%s.out", cases[i]) > 0);
        _cleanup_free_ char *path = golden_path(rel);
        _cleanup_free_ char *text = golden_read(rel);
        assert_non_null(text);

        const char *check[] = {"-c", "-f", path, NULL};
        SpawnResult res = {0};
        assert_int_equal(nft_in_userns(check, NULL, &res), 0);
        if (res.status != 0)
            fprintf(stderr, "nft -c -f %s: %s\n", path, res.err);
        assert_int_equal(res.status, 0);
        spawn_result_clear(&res);

        /* load, then list back in a second command: nft lists a table added in the same
         * batch without its rules, so one "nft -f" with both would prove nothing */
        _cleanup_free_ char *listing = nft_load_list(text);
        assert_non_null(listing);
        _cleanup_free_ char *have = nft_essentials(listing);
        expect_text("nft's listing", want_rel, have);
    }
    /* the checker is not a rubber stamp */
    const char *check[] = {"-c", "-f", "-", NULL};
    SpawnResult res = {0};
    assert_int_equal(
            nft_in_userns(check,
                          "table ip t {\n\tchain c {\n\t\ttype nat hook postrouting "
                          "priority srcnat; policy accept;\n\t\tmasquerade bogus\n\t}\n}\n",
                          &res),
            0);
    assert_int_not_equal(res.status, 0);
    spawn_result_clear(&res);
}

static void expect_phrase(const char *key, const char *have, const char *want, const char *phrase)
{
    _cleanup_free_ char *p = vmnet_spec_drift_phrase(key, have, want);
    assert_non_null(p);
    assert_string_equal(p, phrase);
}

static void test_drift_phrase(void **state)
{
    (void)state;
    expect_phrase("dhcp", "192.168.236.200-192.168.236.254", "192.168.236.128-192.168.236.254",
                  "dhcp range 192.168.236.200-.254, want .128-.254");
    /* another /24: nothing to shorten against */
    expect_phrase("dhcp", "10.0.0.128-10.0.1.254", "192.168.1.128-192.168.1.254",
                  "dhcp range 10.0.0.128-10.0.1.254, want 192.168.1.128-.254");
    expect_phrase("dhcp", NULL, "192.168.1.128-192.168.1.254",
                  "dhcp range none, want 192.168.1.128-.254");
    expect_phrase("dhcp", "192.168.1.128-192.168.1.254", NULL,
                  "dhcp range 192.168.1.128-.254, want none");
    expect_phrase("type", "route", "nat", "type route, want nat");
    expect_phrase("backend", "libvirt", "bridge", "backend libvirt, want bridge");
    expect_phrase("name", "a-vmnet8", "b-vmnet8", "name a-vmnet8, want b-vmnet8");
    expect_phrase("bridge", "demo-br1", "demo-vmnet1", "bridge demo-br1, want demo-vmnet1");
    expect_phrase("subnet", "192.168.57.0/24", "192.168.56.0/24",
                  "subnet 192.168.57.0/24, want 192.168.56.0/24");
    expect_phrase("host", "192.168.57.1", "192.168.56.1",
                  "host address 192.168.57.1, want 192.168.56.1");
    expect_phrase("gateway", "192.168.100.1", "192.168.100.2",
                  "gateway 192.168.100.1, want 192.168.100.2");
    expect_phrase("gateway", NULL, "192.168.100.2", "gateway none, want 192.168.100.2");
    expect_phrase("interface", "br1", "br0", "interface br1, want br0");
    expect_phrase("domain", "x.lab", "demo.lab", "DNS domain x.lab, want demo.lab");
    expect_phrase("live.lease", "7200", "1800", "lease 2 h, want 30 min");
    expect_phrase("live.lease", "90", "0", "lease 90 s, want infinite");
    expect_phrase("live.max-lease", NULL, "7200", "max lease none, want 2 h");
    expect_phrase("live.host", NULL, "52:54:00:71:4a:fc,192.168.100.78,worker-1",
                  "reservation 52:54:00:71:4a:fc 192.168.100.78 (worker-1) missing");
    expect_phrase("live.host", "00:50:56:aa:00:02,192.168.100.20,-", NULL,
                  "reservation 00:50:56:aa:00:02 192.168.100.20 not wanted");
    expect_phrase("live.host", "52:54:00:10:5c:3a,192.168.56.78,db (no DNS)",
                  "52:54:00:10:5c:3a,192.168.56.78,db",
                  "reservation 52:54:00:10:5c:3a 192.168.56.78 (db, no DNS), want "
                  "52:54:00:10:5c:3a 192.168.56.78 (db)");
    expect_phrase("live.host", "-,192.168.100.78,- (DNS only worker-1)", NULL,
                  "reservation - 192.168.100.78 (DNS only worker-1) not wanted");
    expect_phrase("live.host", "52:54:00:00:00:07,10.0.0.7,a (DNS b)",
                  "52:54:00:00:00:07,10.0.0.7,a",
                  "reservation 52:54:00:00:00:07 10.0.0.7 (a, DNS b), want 52:54:00:00:00:07 "
                  "10.0.0.7 (a)");
    expect_phrase("masquerade", NULL, "10.55.0.0/24", "masquerade for 10.55.0.0/24 missing");
    expect_phrase("forward", "tcp/2223,192.168.208.10:22", NULL,
                  "port forward tcp/2223 to 192.168.208.10:22 not wanted");
    expect_phrase("forward", NULL, "udp/5353,10.55.0.20:53",
                  "port forward udp/5353 to 10.55.0.20:53 missing");
    expect_phrase("chain", "output: type nat hook output priority -100; policy drop;", NULL,
                  "nft chain output: type nat hook output priority -100; policy drop; not wanted");
    expect_phrase("other", "prerouting: tcp dport 8080 dnat to 192.168.208.11:80", NULL,
                  "nft rule prerouting: tcp dport 8080 dnat to 192.168.208.11:80 not wanted");
    expect_phrase("future-key", "a", NULL, "future-key a, want none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_written_xml),  cmocka_unit_test(test_libvirt_dump),
            cmocka_unit_test(test_test_driver),  cmocka_unit_test(test_hand_edits),
            cmocka_unit_test(test_stored_facts), cmocka_unit_test(test_odd_xml),
            cmocka_unit_test(test_nft_listings), cmocka_unit_test(test_nft_odd),
            cmocka_unit_test(test_nft_real),     cmocka_unit_test(test_drift_phrase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
