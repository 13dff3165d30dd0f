/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kvmlab's own dnsmasq, the text side: configuration, hosts and addn-hosts files from labs in
 * tests/data/dnsmasq/<case>.in (golden <case>.{conf,hosts,addn-hosts}.out), each configuration
 * accepted by the real `dnsmasq --test`, and the lease file read back from a fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fixture.h"
#include "golden.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/dnsmasq.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spawn.h"
#include "kvmlab/vmnet.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(Lab *, lab_free)

typedef struct DnsmasqCase {
    const char *name; /* tests/data/dnsmasq/<name>.in */
    const char *key;  /* the network */
    bool dhcp_off;    /* no lab file knob turns DHCP off: the spec is changed */
} DnsmasqCase;

static const DnsmasqCase cases[] = {
        {"nat-reservations-nodes", "vmnet8", false},
        {"hostonly", "vmnet1", false},
        {"nat-dhcp-off", "vmnet8", true},
};

/* The upstream servers passed to every case: only NAT writes them. */
static const char *const upstream_text[] = {"9.9.9.9", "192.168.1.1"};

/* Where the goldens say the files are: the layout under the default state directory. */
static char *golden_dir(const VmnetSpec *s)
{
    char *d = NULL;
    assert_true(asprintf(&d, "/var/lib/kvmlab/labs/%s/net/%s", s->lab, s->key) > 0);
    return d;
}

static VmnetSpec *case_spec(const char *name, const char *key)
{
    _cleanup_free_ char *rel = NULL, *text = NULL;
    assert_true(asprintf(&rel, "dnsmasq/%s.in", name) > 0);
    assert_non_null(text = golden_read(rel));
    _cleanup_(lab_freep) Lab *lab = fixture_lab_load(rel, text);
    assert_non_null(lab);
    const LabNetwork *net = lab_find_network(lab, key);
    assert_non_null(net);
    assert_int_equal(net->backend, VMNET_BACKEND_BRIDGE);

    Error err = ERROR_INIT;
    VmnetSpec *s = NULL;
    int r = vmnet_spec_build(lab, net, NULL, &s, &err);
    if (r < 0)
        fprintf(stderr, "# %s: %s\n", name, err.message);
    assert_int_equal(r, 0);
    error_clear(&err);
    return s;
}

static char *conf_build_in(const VmnetSpec *s, const char *dir)
{
    uint32_t up[ELEMENTSOF(upstream_text)];
    for (size_t i = 0; i < ELEMENTSOF(up); i++)
        assert_int_equal(addr_ipv4_parse(upstream_text[i], &up[i]), 0);
    DnsmasqPaths p = {0};
    assert_int_equal(dnsmasq_paths_init(&p, dir), 0);
    Error err = ERROR_INIT;
    char *conf = NULL;
    int r = dnsmasq_conf_build(s, &p, up, ELEMENTSOF(up), &conf, &err);
    if (r < 0)
        fprintf(stderr, "# %s: %s\n", s->key, err.message);
    assert_int_equal(r, 0);
    error_clear(&err);
    dnsmasq_paths_clear(&p);
    return conf;
}

static VmnetSpec *dnsmasq_case_spec(const DnsmasqCase *c)
{
    VmnetSpec *s = case_spec(c->name, c->key);
    if (c->dhcp_off)
        s->dhcp = false;
    return s;
}

static void check_golden(const char *name, const char *what, const char *text)
{
    _cleanup_free_ char *rel = NULL;
    assert_non_null(text);
    assert_true(asprintf(&rel, "dnsmasq/%s.%s.out", name, what) > 0);
    assert_int_equal(golden_check(rel, text), 0);
}

static void test_golden(void **state)
{
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DnsmasqCase *c = &cases[i];
        _cleanup_(vmnet_spec_freep) VmnetSpec *s = dnsmasq_case_spec(c);
        _cleanup_free_ char *dir = golden_dir(s);
        _cleanup_free_ char *conf = conf_build_in(s, dir);
        _cleanup_free_ char *again = conf_build_in(s, dir);
        _cleanup_free_ char *hosts = dnsmasq_hosts_build(s);
        _cleanup_free_ char *addn = dnsmasq_addn_hosts_build(s);
        assert_string_equal(conf, again);
        check_golden(c->name, "conf", conf);
        check_golden(c->name, "hosts", hosts);
        check_golden(c->name, "addn-hosts", addn);
    }
}

/* Facts the goldens must show, stated here independently of them (VMware's plan). */
static void test_plan_facts(void **state)
{
    (void)state;
    _cleanup_(vmnet_spec_freep) VmnetSpec *nat = case_spec("nat-reservations-nodes", "vmnet8");
    _cleanup_(vmnet_spec_freep) VmnetSpec *ho = case_spec("hostonly", "vmnet1");
    _cleanup_free_ char *c1 = conf_build_in(nat, "/s"), *c2 = conf_build_in(ho, "/s");

    assert_non_null(strstr(c1, "\ndhcp-option=option:router,192.168.100.2\n"));
    assert_non_null(strstr(c1, "\ndhcp-option=option:dns-server,192.168.100.2\n"));
    assert_non_null(strstr(c1, "\nlisten-address=192.168.100.1\nlisten-address=192.168.100.2\n"));
    assert_non_null(
            strstr(c1, "\ndhcp-range=192.168.100.128,192.168.100.254,255.255.255.0,3600\n"));
    assert_non_null(strstr(c1, "\nserver=9.9.9.9\nserver=192.168.1.1\n"));
    assert_non_null(strstr(c1, "\ndomain=k8s.lab\nlocal=/k8s.lab/\n"));
    assert_non_null(strstr(c1, "\ninterface=k8s-vmnet8\n"));
    assert_null(strstr(c1, "port="));

    assert_non_null(strstr(c2, "\ndhcp-option=option:router\n"));
    assert_non_null(strstr(c2, "\ndhcp-option=option:dns-server,192.168.56.1\n"));
    assert_null(strstr(c2, "server="));
    assert_null(strstr(c2, "192.168.56.2\n"));
    assert_null(strstr(c2, "192.168.56.2,"));

    /* reservations sorted by address, named ones with the name; the file's are unnamed */
    _cleanup_free_ char *h = dnsmasq_hosts_build(nat);
    assert_true(strncmp(h, "52:54:00:", 9) == 0); /* cp at .10 comes first */
    assert_non_null(strstr(h, ",192.168.100.10,cp\n"));
    assert_non_null(strstr(h, "00:50:56:aa:00:02,192.168.100.20\n"));
    assert_non_null(strstr(h, "00:50:56:aa:00:01,192.168.100.200\n"));
    const char *p20 = strstr(h, ",192.168.100.20\n"), *p200 = strstr(h, ",192.168.100.200\n");
    assert_true(p20 < p200);
    _cleanup_free_ char *a = dnsmasq_addn_hosts_build(nat);
    assert_non_null(strstr(a, "192.168.100.10 cp.k8s.lab cp\n"));
    assert_null(strstr(a, "192.168.100.20 "));
}

/* Hosts given out of order still come out sorted; empty specs give empty files. */
static void test_hosts_sorted(void **state)
{
    (void)state;
    VmnetHost hosts[] = {
            {.name = (char *)"b", .ip = 0x0a000005, .mac = {{0x52, 0x54, 0, 0, 0, 5}}},
            {.name = NULL, .ip = 0x0a000003, .mac = {{0x52, 0x54, 0, 0, 0, 3}}},
            {.name = (char *)"a", .ip = 0x0a000004, .mac = {{0x52, 0x54, 0, 0, 0, 4}}},
    };
    VmnetSpec s = {.domain = (char *)"x.lab", .hosts = hosts, .n_hosts = 3};
    _cleanup_free_ char *h = dnsmasq_hosts_build(&s);
    assert_string_equal(h, "52:54:00:00:00:03,10.0.0.3\n"
                           "52:54:00:00:00:04,10.0.0.4,a\n"
                           "52:54:00:00:00:05,10.0.0.5,b\n");
    _cleanup_free_ char *a = dnsmasq_addn_hosts_build(&s);
    assert_string_equal(a, "10.0.0.4 a.x.lab a\n10.0.0.5 b.x.lab b\n");

    VmnetSpec empty = {.domain = (char *)"x.lab"};
    _cleanup_free_ char *e1 = dnsmasq_hosts_build(&empty), *e2 = dnsmasq_addn_hosts_build(&empty);
    assert_string_equal(e1, "");
    assert_string_equal(e2, "");
}

static int run_dnsmasq_test(const char *conf_path, char **ret_out)
{
    _cleanup_free_ char *arg = NULL;
    assert_true(asprintf(&arg, "--conf-file=%s", conf_path) > 0);
    const char *argv[] = {"dnsmasq", "--test", arg, NULL};
    SpawnResult res = {0};
    Error err = ERROR_INIT;
    int r = spawn_run(argv, NULL, &res, &err);
    /* dnsmasq-base is a dependency of the project: missing is a failure, not a skip */
    if (r < 0 || res.status == 127)
        fprintf(stderr, "# cannot run dnsmasq: %s\n", err.message ? err.message : res.err);
    assert_int_equal(r, 0);
    error_clear(&err);
    int status = res.status;
    assert_true(asprintf(ret_out, "%s%s", res.out ? res.out : "", res.err ? res.err : "") > 0);
    spawn_result_clear(&res);
    return status;
}

/* Replace every @from in @s by @to. New string. */
static char *replace_all(const char *s, const char *from, const char *to)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        if (!q) {
            fputs(p, f);
            break;
        }
        fwrite(p, 1, (size_t)(q - p), f);
        fputs(to, f);
        p = q + strlen(from);
    }
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* The real consumer: every golden configuration, with its files in a temporary directory,
 * passes `dnsmasq --test`; a broken one does not (so the check can fail). */
static char tmpl[] = "/tmp/kdm-unit-XXXXXX";
static bool tmpl_made;

static void test_dnsmasq_accepts(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpl));
    tmpl_made = true;

    /* mkdtemp() makes it 0700: dnsmasq, once it is 'nobody', could not read the hosts files */
    {
        _cleanup_free_ char *dir = fs_path_join(tmpl, "x");
        DnsmasqPaths p = {0};
        Error err = ERROR_INIT;
        assert_int_equal(dnsmasq_paths_init(&p, dir), 0);
        assert_int_equal(dnsmasq_files_write(&p, "", "", "", &err), -EACCES);
        assert_non_null(strstr(err.message, tmpl));
        error_clear(&err);
        dnsmasq_paths_clear(&p);
    }
    assert_int_equal(chmod(tmpl, 0755), 0);

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const DnsmasqCase *c = &cases[i];
        _cleanup_(vmnet_spec_freep) VmnetSpec *s = dnsmasq_case_spec(c);
        _cleanup_free_ char *dir = fs_path_join(tmpl, c->name), *gdir = golden_dir(s);
        _cleanup_free_ char *rel = NULL, *golden = NULL, *want = NULL, *out = NULL;
        _cleanup_free_ char *conf = conf_build_in(s, dir);
        _cleanup_free_ char *hosts = dnsmasq_hosts_build(s), *addn = dnsmasq_addn_hosts_build(s);
        DnsmasqPaths p = {0};
        Error err = ERROR_INIT;

        /* the text checked is the golden's, with only the directory moved */
        assert_true(asprintf(&rel, "dnsmasq/%s.conf.out", c->name) > 0);
        assert_non_null(golden = golden_read(rel));
        want = replace_all(golden, gdir, dir);
        assert_string_equal(conf, want);

        assert_int_equal(dnsmasq_paths_init(&p, dir), 0);
        int r = dnsmasq_files_write(&p, conf, hosts, addn, &err);
        if (r < 0)
            fprintf(stderr, "# %s\n", err.message);
        assert_int_equal(r, 0);
        int status = run_dnsmasq_test(p.conf, &out);
        if (status != 0)
            fprintf(stderr, "# %s: %s", c->name, out);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "syntax check OK"));
        free(out);
        out = NULL;

        /* negative control: a range outside every address dnsmasq understands */
        _cleanup_free_ char *bad = NULL;
        assert_true(asprintf(&bad, "%sdhcp-range=192.168.1.300,192.168.1.2,1800\n", conf) > 0);
        assert_int_equal(fs_write_atomic(p.conf, bad, 0644, NULL), 0);
        assert_int_not_equal(run_dnsmasq_test(p.conf, &out), 0);
        dnsmasq_paths_clear(&p);
    }
}

/* Isolated and bridged networks have no host address on the bridge: no dnsmasq. The message
 * is a golden too. */
static void test_no_dnsmasq(void **state)
{
    (void)state;
    _cleanup_(vmnet_spec_freep) VmnetSpec *s = case_spec("isolated", "lan");
    DnsmasqPaths p = {0};
    Error err = ERROR_INIT;
    char *conf = NULL;
    assert_int_equal(dnsmasq_paths_init(&p, "/s"), 0);
    assert_int_equal(dnsmasq_conf_build(s, &p, NULL, 0, &conf, &err), -EINVAL);
    assert_null(conf);
    _cleanup_free_ char *msg = NULL;
    assert_true(asprintf(&msg, "%s\n", err.message) > 0);
    assert_int_equal(golden_check("dnsmasq/isolated.out", msg), 0);
    error_clear(&err);

    /* a line break in a path would start another option: refused */
    _cleanup_(vmnet_spec_freep) VmnetSpec *ho = case_spec("hostonly", "vmnet1");
    free(p.pid);
    assert_non_null(p.pid = strdup("/s/pid\nuser=root"));
    assert_int_equal(dnsmasq_conf_build(ho, &p, NULL, 0, &conf, &err), -EINVAL);
    assert_non_null(strstr(err.message, "'vmnet1'"));
    error_clear(&err);
    dnsmasq_paths_clear(&p);
}

static void test_paths(void **state)
{
    (void)state;
    DnsmasqPaths p = {0};
    assert_int_equal(dnsmasq_paths_init(&p, "/var/lib/kvmlab/labs/k8s/net/vmnet8"), 0);
    assert_string_equal(p.dir, "/var/lib/kvmlab/labs/k8s/net/vmnet8");
    assert_string_equal(p.conf, "/var/lib/kvmlab/labs/k8s/net/vmnet8/dnsmasq.conf");
    assert_string_equal(p.hosts, "/var/lib/kvmlab/labs/k8s/net/vmnet8/hosts");
    assert_string_equal(p.addn_hosts, "/var/lib/kvmlab/labs/k8s/net/vmnet8/addn-hosts");
    assert_string_equal(p.leases, "/var/lib/kvmlab/labs/k8s/net/vmnet8/leases");
    assert_string_equal(p.pid, "/var/lib/kvmlab/labs/k8s/net/vmnet8/pid");
    assert_string_equal(p.log, "/var/lib/kvmlab/labs/k8s/net/vmnet8/log");
    dnsmasq_paths_clear(&p);
    assert_null(p.dir);
    dnsmasq_paths_clear(&p); /* twice is fine */
}

/* The fixture tests/data/dnsmasq/leases.in: the first three lines are what dnsmasq 2.90 wrote
 * (a reserved client with a name, an infinite lease, an upper-case MAC), then the IPv6 "duid"
 * line and an IPv6 lease, junk, a bad address, too many fields, an empty line, a negative
 * expiry, and a tab-separated lease. */
static void test_leases_parse(void **state)
{
    (void)state;
    _cleanup_free_ char *text = golden_read("dnsmasq/leases.in");
    assert_non_null(text);
    DnsmasqLease *v = NULL;
    size_t n = 0;
    Error err = ERROR_INIT;
    assert_int_equal(dnsmasq_leases_parse(text, &v, &n, &err), 0);
    assert_int_equal(n, 4);
    char mac[MAC_STRLEN], ip[IPV4_STRLEN];

    assert_int_equal(v[0].expiry, 1796229124);
    assert_string_equal(addr_mac_format(&v[0].mac, mac), "52:54:00:11:22:33");
    assert_string_equal(addr_ipv4_format(v[0].ip, ip), "10.9.0.50");
    assert_string_equal(v[0].hostname, "web");
    assert_string_equal(v[0].client_id, "01:52:54:00:11:22:33");

    assert_int_equal(v[1].expiry, 0);
    assert_string_equal(addr_ipv4_format(v[1].ip, ip), "10.9.0.51");
    assert_null(v[1].hostname);
    assert_null(v[1].client_id);

    assert_string_equal(addr_mac_format(&v[2].mac, mac), "00:50:56:aa:00:01");
    assert_string_equal(addr_ipv4_format(v[2].ip, ip), "10.9.0.200");
    assert_null(v[2].hostname);

    assert_int_equal(v[3].expiry, 1796229600);
    assert_string_equal(v[3].hostname, "tabbed");
    dnsmasq_leases_free(v, n);

    /* no file content, and NULL, give no leases */
    v = NULL;
    assert_int_equal(dnsmasq_leases_parse("", &v, &n, &err), 0);
    assert_int_equal(n, 0);
    dnsmasq_leases_free(v, n);
    assert_int_equal(dnsmasq_leases_parse(NULL, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    dnsmasq_leases_free(v, n);
    dnsmasq_leases_free(NULL, 0);
}

/* The temporary directory goes whatever failed. */
static int teardown(void **state)
{
    (void)state;
    if (tmpl_made)
        fs_rm_rf(tmpl, NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_golden),       cmocka_unit_test(test_plan_facts),
            cmocka_unit_test(test_hosts_sorted), cmocka_unit_test(test_dnsmasq_accepts),
            cmocka_unit_test(test_no_dnsmasq),   cmocka_unit_test(test_paths),
            cmocka_unit_test(test_leases_parse),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
