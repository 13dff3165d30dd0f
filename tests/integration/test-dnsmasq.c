/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kvmlab's own dnsmasq, for real: a namespace kdm-PID with the lab's bridge (N.1 and N.2), the
 * files written from a lab's spec, dnsmasq started inside the namespace and found again by its
 * pid file; a client namespace kdm-c-PID behind a veth on the bridge runs busybox udhcpc.
 * Proven: the daemon runs in the namespace as 'nobody' and listens for DNS on N.1 and N.2 only
 * (ss), DHCP on 67; dnsmasq_find() re-adopts it and refuses stale pid files (a dead PID, a live
 * process that is not dnsmasq, a dnsmasq of another configuration); the reserved client gets
 * its address, router N.2, DNS N.2 and the spec's lease time, its name resolves through N.2,
 * and the lease file shows the lease; a reservation added to the hosts file takes effect after
 * SIGHUP in the same process; a start-up failure reports dnsmasq's own words; stop leaves
 * neither process nor pid file. The root namespace is never touched.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/dnsmasq.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/lab.h"
#include "kvmlab/vmnet.h"

#define NET        "192.168.77"
#define MAC_CP     "52:54:00:4b:44:01" /* node cp's NIC: reserved at NET.50 */
#define MAC_LATE   "52:54:00:4b:44:02" /* reserved only by the reload test, at NET.60 */
#define LEASE_S    600
#define CLIENT_DEV "kdmc0"

static const char lab_text[] =
        "lab: kdm\n"
        "networks:\n"
        "  vmnet8:\n"
        "    type: nat\n"
        "    backend: bridge\n"
        "    subnet: " NET ".0/24\n"
        "    dhcp: {lease: 10m}\n"
        "images:\n"
        "  base: {build: debian-12}\n"
        "nodes:\n"
        "  - name: cp\n"
        "    image: base\n"
        "    networks: [{network: vmnet8, ip: " NET ".50, mac: \"" MAC_CP "\"}]\n";

static char ns[32], ns_client[32];
static char dir[] = "/tmp/kdm-int-XXXXXX";
static char script[256];
static DnsmasqPaths paths;
static VmnetSpec *spec;
static pid_t daemon_pid; /* the dnsmasq this test started */
static bool ready;

static int must(const char *netns, const char *const *argv)
{
    int st = fixture_run(netns, argv, NULL, 30000);
    if (st != 0)
        fprintf(stderr, "# '%s %s %s ...' failed with %d\n", argv[0], argv[1], argv[2], st);
    return st == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    if (!fixture_is_root())
        return 0;
    int id = (int)(getpid() % 100000);
    snprintf(ns, sizeof(ns), "kdm-%d", id);
    snprintf(ns_client, sizeof(ns_client), "kdm-c-%d", id);
    /* the state directory of a lab: every level searchable, as dnsmasq needs */
    if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
        return -1;
    char net_dir[256];
    snprintf(net_dir, sizeof(net_dir), "%s/labs/kdm/net/vmnet8", dir);
    if (dnsmasq_paths_init(&paths, net_dir) < 0)
        return -1;

    Lab *lab = fixture_lab_load("kdm.yaml", lab_text);
    Error err = ERROR_INIT;
    if (!lab || vmnet_spec_build(lab, lab_find_network(lab, "vmnet8"), NULL, &spec, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message ? err.message : "lab does not load");
        lab_free(lab);
        return -1;
    }
    lab_free(lab);

    /* udhcpc's script: configure the address (so the client can ask DNS) and print the offer */
    snprintf(script, sizeof(script), "%s/udhcpc.sh", dir);
    if (fs_write_atomic(script,
                        "#!/bin/sh\n"
                        "[ \"$1\" = bound ] || exit 0\n"
                        "ip addr add \"$ip/$mask\" dev \"$interface\"\n"
                        "echo \"ip=$ip router=$router dns=$dns lease=$lease\"\n",
                        0755, NULL) < 0)
        return -1;

    /* the lab's namespace with its bridge; the client's namespace behind a veth */
    const char *nsa[] = {"ip", "netns", "add", ns, NULL};
    const char *nsb[] = {"ip", "netns", "add", ns_client, NULL};
    if (must(NULL, nsa) < 0 || must(NULL, nsb) < 0)
        return -1;
    const char *lo[] = {"ip", "link", "set", "lo", "up", NULL};
    const char *br[] = {"ip", "link", "add", spec->bridge, "type", "bridge", NULL};
    const char *a1[] = {"ip", "addr", "add", NET ".1/24", "dev", spec->bridge, NULL};
    const char *a2[] = {"ip", "addr", "add", NET ".2/24", "dev", spec->bridge, NULL};
    const char *bu[] = {"ip", "link", "set", spec->bridge, "up", NULL};
    const char *veth[] = {"ip",   "link", "add",      "kdmv0", "type",    "veth",
                          "peer", "name", CLIENT_DEV, "netns", ns_client, NULL};
    const char *vm[] = {"ip", "link", "set", "kdmv0", "master", spec->bridge, "up", NULL};
    const char *cm[] = {"ip", "link", "set", CLIENT_DEV, "address", MAC_CP, "up", NULL};
    if (must(ns, lo) < 0 || must(ns, br) < 0 || must(ns, a1) < 0 || must(ns, a2) < 0 ||
        must(ns, bu) < 0 || must(ns, veth) < 0 || must(ns, vm) < 0 || must(ns_client, cm) < 0)
        return -1;
    ready = true;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* only the dnsmasq this test started, by its PID, and only while it is still that one */
    if (daemon_pid > 0 && dnsmasq_find(&paths) == daemon_pid)
        dnsmasq_stop(daemon_pid, &paths, NULL);
    if (ns_client[0]) {
        const char *d[] = {"ip", "netns", "del", ns_client, NULL};
        fixture_run(NULL, d, NULL, 10000);
    }
    if (ns[0]) {
        const char *d[] = {"ip", "netns", "del", ns, NULL};
        fixture_run(NULL, d, NULL, 10000);
    }
    fs_rm_rf(dir, NULL);
    dnsmasq_paths_clear(&paths);
    vmnet_spec_free(spec);
    return 0;
}

static void write_files(const char *hosts)
{
    uint32_t up = 0;
    assert_int_equal(addr_ipv4_parse("192.0.2.53", &up), 0);
    _cleanup_free_ char *conf = NULL, *addn = dnsmasq_addn_hosts_build(spec);
    _cleanup_free_ char *h = hosts ? NULL : dnsmasq_hosts_build(spec);
    Error err = ERROR_INIT;
    assert_int_equal(dnsmasq_conf_build(spec, &paths, &up, 1, &conf, &err), 0);
    int r = dnsmasq_files_write(&paths, conf, hosts ? hosts : h, addn, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
}

/* The inode of a namespace file (/run/netns/NS or /proc/PID/ns/net). */
static ino_t ns_inode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* The "Uid:" line's real uid of @pid. */
static long proc_uid(pid_t pid)
{
    char path[64];
    _cleanup_free_ char *status = NULL;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    assert_int_equal(fs_read_all(path, &status, NULL, NULL), 0);
    const char *u = strstr(status, "\nUid:");
    assert_non_null(u);
    return strtol(u + 5, NULL, 10);
}

static void test_start(void **state)
{
    (void)state;
    if (!ready)
        skip();
    write_files(NULL);
    Error err = ERROR_INIT;
    pid_t pid = 0;
    int r = dnsmasq_start(ns, &paths, &pid, &err);
    if (r < 0)
        fprintf(stderr, "# %s\n", err.message);
    assert_int_equal(r, 0);
    daemon_pid = pid;
    assert_true(pid > 0);
    assert_int_equal(kill(pid, 0), 0);

    /* in the lab's namespace, not ours */
    char nspath[128], procns[64];
    snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns);
    snprintf(procns, sizeof(procns), "/proc/%d/ns/net", (int)pid);
    assert_true(ns_inode(procns) == ns_inode(nspath));
    assert_true(ns_inode(procns) != ns_inode("/proc/self/ns/net"));
    /* dropped to Debian's compiled-in user */
    assert_int_equal(proc_uid(pid), 65534);

    /* what the kernel says it listens on: DNS on N.1 and N.2 only, DHCP on 67 */
    char *out = NULL;
    const char *ss[] = {"ss", "-Hulnp", NULL};
    assert_int_equal(fixture_run(ns, ss, &out, 10000), 0);
    assert_non_null(strstr(out, NET ".1:53 "));
    assert_non_null(strstr(out, NET ".2:53 "));
    assert_non_null(strstr(out, ":67 "));
    assert_null(strstr(out, "127.0.0.1:53 "));
    char who[32];
    snprintf(who, sizeof(who), "pid=%d,", (int)pid);
    assert_non_null(strstr(out, who));
    free(out);
}

static void test_find_readopts(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    /* a later kvmlab run knows only the directory */
    DnsmasqPaths again = {0};
    assert_int_equal(dnsmasq_paths_init(&again, paths.dir), 0);
    assert_int_equal(dnsmasq_find(&again), daemon_pid);
    assert_int_equal(dnsmasq_find(&again), daemon_pid); /* and it signalled nothing */
    assert_int_equal(kill(daemon_pid, 0), 0);
    dnsmasq_paths_clear(&again);
}

static void write_pid(const char *path, long pid)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld\n", pid);
    assert_int_equal(fs_write_atomic(path, buf, 0644, NULL), 0);
}

static void test_find_stale(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    char other_dir[256];
    snprintf(other_dir, sizeof(other_dir), "%s/labs/kdm/net/other", dir);
    assert_int_equal(fs_mkdir_p(other_dir, 0755, NULL), 0);
    DnsmasqPaths o = {0};
    assert_int_equal(dnsmasq_paths_init(&o, other_dir), 0);

    assert_int_equal(dnsmasq_find(&o), 0); /* no pid file */

    write_pid(o.pid, (long)getpid()); /* alive, but this test, not dnsmasq */
    assert_int_equal(dnsmasq_find(&o), 0);

    pid_t child = fork(); /* a process that is gone */
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    write_pid(o.pid, (long)child);
    assert_int_equal(dnsmasq_find(&o), 0);

    write_pid(o.pid, (long)daemon_pid); /* a real dnsmasq, of another configuration */
    assert_int_equal(dnsmasq_find(&o), 0);

    assert_int_equal(fs_write_atomic(o.pid, "junk\n", 0644, NULL), 0);
    assert_int_equal(dnsmasq_find(&o), 0);
    dnsmasq_paths_clear(&o);

    /* none of that disturbed the real one */
    assert_int_equal(dnsmasq_find(&paths), daemon_pid);
}

/* Run udhcpc in the client's namespace; the script's line. */
static char *dhcp_once(void)
{
    const char *flush[] = {"ip", "addr", "flush", "dev", CLIENT_DEV, NULL};
    assert_int_equal(fixture_run(ns_client, flush, NULL, 10000), 0);
    const char *argv[] = {"busybox", "udhcpc", "-i", CLIENT_DEV, "-n", "-q", "-f",
                          "-s",      script,   "-t", "5",        "-T", "2",  NULL};
    char *out = NULL;
    int st = fixture_run(ns_client, argv, &out, 30000);
    if (st != 0)
        fprintf(stderr, "# udhcpc: status %d, %s\n", st, out ? out : "");
    assert_int_equal(st, 0);
    assert_non_null(out);
    return out;
}

static void test_dhcp_reserved(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    time_t before = time(NULL);
    _cleanup_free_ char *out = dhcp_once();
    char want[128];
    snprintf(want, sizeof(want), "ip=" NET ".50 router=" NET ".2 dns=" NET ".2 lease=%d\n",
             LEASE_S);
    if (!strstr(out, want))
        fprintf(stderr, "# got: %s# want: %s", out, want);
    assert_non_null(strstr(out, want));

    /* the node's name through the lab's DNS on N.2 */
    _cleanup_free_ char *ns_out = NULL;
    const char *lookup[] = {"busybox", "nslookup", "cp.kdm.lab", NET ".2", NULL};
    assert_int_equal(fixture_run(ns_client, lookup, &ns_out, 10000), 0);
    assert_non_null(strstr(ns_out, "Address: " NET ".50"));

    /* the lease file shows it (dnsmasq writes it right after the ACK; wait a little) */
    DnsmasqLease *v = NULL;
    size_t n = 0;
    const DnsmasqLease *mine = NULL;
    MacAddr mac;
    assert_int_equal(addr_mac_parse(MAC_CP, &mac), 0);
    for (int i = 0; i < 50 && !mine; i++) {
        _cleanup_free_ char *text = NULL;
        dnsmasq_leases_free(v, n);
        v = NULL;
        n = 0;
        if (fs_read_all(paths.leases, &text, NULL, NULL) == 0)
            assert_int_equal(dnsmasq_leases_parse(text, &v, &n, NULL), 0);
        for (size_t k = 0; k < n; k++)
            if (addr_mac_equal(&v[k].mac, &mac))
                mine = &v[k];
        if (!mine)
            usleep(100000);
    }
    assert_non_null(mine);
    char ip[IPV4_STRLEN];
    assert_string_equal(addr_ipv4_format(mine->ip, ip), NET ".50");
    assert_string_equal(mine->hostname, "cp");
    assert_true(mine->expiry >= before + LEASE_S && mine->expiry <= time(NULL) + LEASE_S);
    dnsmasq_leases_free(v, n);
}

static void test_reload(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    /* a new MAC: a pool address before the reservation exists */
    const char *mac2[] = {"ip", "link", "set", CLIENT_DEV, "address", MAC_LATE, NULL};
    assert_int_equal(fixture_run(ns_client, mac2, NULL, 10000), 0);
    _cleanup_free_ char *before = dhcp_once();
    assert_null(strstr(before, "ip=" NET ".60 "));
    assert_non_null(strstr(before, "ip=" NET ".1")); /* .128-.254: the pool */

    _cleanup_free_ char *hosts = NULL, *base = dnsmasq_hosts_build(spec);
    assert_true(asprintf(&hosts, "%s" MAC_LATE "," NET ".60,late\n", base) > 0);
    write_files(hosts);
    /* the file alone changes nothing: dnsmasq does not watch dhcp-hostsfile */
    _cleanup_free_ char *unsignalled = dhcp_once();
    assert_null(strstr(unsignalled, "ip=" NET ".60 "));
    Error err = ERROR_INIT;
    assert_int_equal(dnsmasq_reload(daemon_pid, &err), 0);
    usleep(300000);
    assert_int_equal(dnsmasq_find(&paths), daemon_pid); /* the same process */

    /* the same MAC asks again: the re-read reservation answers, not its pool lease */
    _cleanup_free_ char *after = dhcp_once();
    if (!strstr(after, "ip=" NET ".60 "))
        fprintf(stderr, "# after reload: %s", after);
    assert_non_null(strstr(after, "ip=" NET ".60 "));

    assert_int_equal(dnsmasq_reload(0, &err), -EINVAL);
    error_clear(&err);
}

/* Start dnsmasq in a fresh directory under the lab's with the spec's configuration, or with
 * one that listens on an address the bridge lacks (@foreign); its error message. */
static char *start_fails(const char *name, bool foreign)
{
    char d[256];
    snprintf(d, sizeof(d), "%s/labs/kdm/net/%s", dir, name);
    DnsmasqPaths b = {0};
    assert_int_equal(dnsmasq_paths_init(&b, d), 0);
    _cleanup_free_ char *conf = NULL;
    Error err = ERROR_INIT;
    /* DNS on another port and no DHCP: nothing clashes with the running one */
    if (foreign)
        assert_true(asprintf(&conf,
                             "interface=%s\nbind-interfaces\nport=5353\n"
                             "listen-address=198.51.100.7\npid-file=%s\n",
                             spec->bridge, b.pid) > 0);
    else
        assert_int_equal(dnsmasq_conf_build(spec, &b, NULL, 0, &conf, &err), 0);
    assert_int_equal(dnsmasq_files_write(&b, conf, "", "", &err), 0);
    pid_t pid = 0;
    int r = dnsmasq_start(ns, &b, &pid, &err);
    assert_true(r < 0);
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, b.conf));
    assert_int_equal(pid, 0);
    assert_int_equal(dnsmasq_find(&b), 0);
    dnsmasq_paths_clear(&b);
    return steal_pointer(&err.message);
}

static void test_start_failure(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    /* a second dnsmasq on the same bridge: the addresses are taken */
    _cleanup_free_ char *m1 = start_fails("twin", false);
    assert_non_null(strstr(m1, "dnsmasq: failed to create listening socket for " NET "."));
    assert_non_null(strstr(m1, "Address already in use"));

    /* an address the bridge does not have */
    _cleanup_free_ char *m2 = start_fails("bad", true);
    assert_non_null(strstr(m2, "dnsmasq: failed to create listening socket for 198.51.100.7: "
                               "Cannot assign requested address"));

    /* the running one is untouched */
    assert_int_equal(dnsmasq_find(&paths), daemon_pid);
}

static void test_stop(void **state)
{
    (void)state;
    if (!ready || daemon_pid <= 0)
        skip();
    Error err = ERROR_INIT;
    assert_int_equal(dnsmasq_stop(daemon_pid, &paths, &err), 0);
    /* gone from /proc once init has reaped it (the daemon is not our child) */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/%d", (int)daemon_pid);
    for (int i = 0; i < 50 && access(proc, F_OK) == 0; i++)
        usleep(100000);
    assert_int_equal(access(proc, F_OK), -1);
    assert_int_equal(access(paths.pid, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(dnsmasq_find(&paths), 0);
    /* nothing left listening in the namespace */
    char *out = NULL;
    const char *ss[] = {"ss", "-Hulnp", NULL};
    assert_int_equal(fixture_run(ns, ss, &out, 10000), 0);
    assert_null(strstr(out, "dnsmasq"));
    free(out);
    /* stopping what is gone, or nothing, is no error */
    assert_int_equal(dnsmasq_stop(daemon_pid, &paths, &err), 0);
    assert_int_equal(dnsmasq_stop(0, NULL, &err), 0);
    daemon_pid = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_start),      cmocka_unit_test(test_find_readopts),
            cmocka_unit_test(test_find_stale), cmocka_unit_test(test_dhcp_reserved),
            cmocka_unit_test(test_reload),     cmocka_unit_test(test_start_failure),
            cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
