/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A node's cloud-init seed as a guest sees it. Three seeds are rendered with node_seed_render()
 * (a bootstrapping control plane with two NICs, one static, and /etc/hosts; a worker of it; a
 * plain VM) with a fresh token and cluster CA, written with node_seed_write(), and each node's
 * domain is built like the engine builds it (storage_disks_xml() with a root disk and the seed
 * CD-ROM on storage_cdrom_bus(), node_domain_xml() under TCG) on q35 (SATA CD-ROM) and pc (IDE
 * CD-ROM), with the test guest's kernel and initrd booted directly. The guest mounts the CD-ROM
 * labelled cidata and prints every file's name and size and every line of meta-data, user-data
 * and network-config on its console, which node_domain_xml() logs to a file. That observation is
 * compared with the rendered strings: the same files, sizes and lines, byte for byte. Everything
 * the test made (domains, daemon, namespace, files) is removed, also on failure.
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
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/node.h"
#include "kvmlab/sandbox.h"
#include "kvmlab/storage.h"
#include "kvmlab/virt.h"

/* from start to DONE; alone the guest needs 5-15 s, three at once on 2 cores take longer */
#define GUEST_TIMEOUT_S 240
#define MAX_LINES       2048

#define IP(a, b, c, d)                                                                             \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* The lab's public key: any one OpenSSH line does; the guest only has to carry it. */
#define SSH_PUBKEY                                                                                 \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvmlabE2eSeedTestKeyNotUsedForLogin0000000 kvmlab@e2e"

/* What the guest reported about one seed file. */
typedef struct SeenFile {
    char *name;
    long size; /* -1: no size line */
    char **lines;
    size_t n_lines;
} SeenFile;

typedef struct Guest {
    const char *node;
    const char *machine;
    const char *cdrom_chain; /* drivers= of the seed CD-ROM (TESTING.md, disk buses) */
    SeedInput in;
    SeedNic nics[2];
    SeedFiles files;
    char instance_id[96];

    char name[64];
    char console[4200];
    char iso[4200];
    char disk[4200];
    char *serial;
    bool finished;
    struct timespec t0;
    double seconds;
} Guest;

static Sandbox *sb;
static virConnectPtr conn;
static char tmpdir[] = "/tmp/kves-seed-XXXXXX";
static bool have_tmpdir;
static char *token, *ca_cert, *ca_key, *ca_hash;
static SeedHost hosts[3];
static Guest guests[3];

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int setup(void **state)
{
    /* no skip: a test that cannot run fails */
    if (!fixture_is_root())
        return -1;
    Error err = ERROR_INIT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!mkdtemp(tmpdir))
        return -1;
    have_tmpdir = true;
    const char *kernel, *initrd;
    if (fixture_guest_image(&kernel, &initrd) < 0)
        return -1;
    if (sandbox_new(fixture_state_root(), fixture_lab_name("kves"), &sb, &err) < 0 ||
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
    for (size_t i = 0; i < ELEMENTSOF(guests); i++) {
        seed_files_clear(&guests[i].files);
        free(guests[i].serial);
    }
    free(token);
    free(ca_cert);
    free(ca_key);
    free(ca_hash);
    return 0;
}

/* ---- the seeds ------------------------------------------------------------------------- */

static void secrets_make(void)
{
    Error err = ERROR_INIT;
    assert_int_equal(node_token_new(&token, &err), 0);
    assert_int_equal(node_ca_new(&ca_cert, &ca_key, &err), 0);
    assert_int_equal(node_ca_hash(ca_cert, &ca_hash, &err), 0);
    /* the PEM lines this test looks for in the guest's report */
    assert_non_null(strstr(ca_cert, "-----BEGIN CERTIFICATE-----\n"));
    assert_non_null(strstr(ca_key, "PRIVATE KEY-----\n"));
}

/* The seed input of the lab's three nodes: the engine's fields, filled by hand. */
static void guests_describe(void)
{
    const char *lab = sb->lab;
    hosts[0] = (SeedHost){"cp-1", IP(10, 77, 0, 10)};
    hosts[1] = (SeedHost){"w-1", IP(10, 77, 0, 11)};
    hosts[2] = (SeedHost){"vm-1", IP(10, 77, 0, 12)};

    static const struct {
        const char *node, *machine, *cdrom_chain;
        LabRole role;
    } t[] = {
            {"cp-1", "q35", "sr_mod,ahci", LAB_ROLE_CONTROL_PLANE},
            {"w-1", "pc", "sr_mod,ata_piix", LAB_ROLE_WORKER},
            {"vm-1", "q35", "sr_mod,ahci", LAB_ROLE_NONE},
    };
    for (size_t i = 0; i < ELEMENTSOF(guests); i++) {
        Guest *g = &guests[i];
        g->node = t[i].node;
        g->machine = t[i].machine;
        g->cdrom_chain = t[i].cdrom_chain;
        snprintf(g->name, sizeof(g->name), "%s-%s", lab, g->node);
        snprintf(g->console, sizeof(g->console), "%s/%s-console.log", tmpdir, g->node);
        snprintf(g->iso, sizeof(g->iso), "%s/%s-seed.iso", tmpdir, g->node);
        snprintf(g->disk, sizeof(g->disk), "%s/%s-0.qcow2", tmpdir, g->node);
        g->serial = storage_disk_serial(g->node, 0);
        assert_non_null(g->serial);

        /* NIC 0: DHCP with the address the network reserves for its MAC */
        g->nics[0] = (SeedNic){.mac = addr_mac_derive(lab, g->node, 0),
                               .dhcp = true,
                               .ip = hosts[i].ip,
                               .prefix = 24};
        size_t n_nics = 1;
        if (t[i].role == LAB_ROLE_CONTROL_PLANE) {
            /* NIC 1: static, with a default route and DNS */
            g->nics[1] = (SeedNic){.mac = addr_mac_derive(lab, g->node, 1),
                                   .dhcp = false,
                                   .ip = IP(192, 168, 178, 10),
                                   .prefix = 24,
                                   .gateway = IP(192, 168, 178, 1),
                                   .dns = IP(192, 168, 178, 53)};
            n_nics = 2;
        }
        /* a new one per run, as a changed seed gets */
        snprintf(g->instance_id, sizeof(g->instance_id), "%s-%s-%ld", lab, g->node,
                 (long)time(NULL));
        g->in = (SeedInput){
                .lab = lab,
                .node = g->node,
                .instance_id = g->instance_id,
                .role = t[i].role,
                .ssh_pubkey = SSH_PUBKEY,
                .nics = g->nics,
                .n_nics = n_nics,
                .hosts = hosts,
                .n_hosts = ELEMENTSOF(hosts),
        };
        if (t[i].role != LAB_ROLE_NONE) {
            g->in.k8s_version = "1.31";
            g->in.install_packages = LAB_INSTALL_AUTO;
            g->in.bootstrap = true;
            g->in.token = token;
            g->in.ca_cert_pem = ca_cert;
            /* the worker is handed the key too: the renderer must still leave it out */
            g->in.ca_key_pem = ca_key;
            g->in.ca_hash = ca_hash;
            g->in.control_plane_ip = hosts[0].ip;
            g->in.control_plane = "cp-1";
            g->in.pod_subnet = "10.244.0.0/16";
            g->in.service_subnet = "10.96.0.0/12";
        }
    }
}

static void seed_make(Guest *g)
{
    Error err = ERROR_INIT;
    int r = node_seed_render(&g->in, &g->files, &err);
    if (r < 0)
        fail_msg("rendering the seed of '%s': %s", g->node, err.message);
    const SeedFile files[] = {
            {"meta-data", g->files.meta_data, strlen(g->files.meta_data)},
            {"user-data", g->files.user_data, strlen(g->files.user_data)},
            {"network-config", g->files.network_config, strlen(g->files.network_config)},
    };
    r = node_seed_write(g->iso, files, ELEMENTSOF(files), &err);
    if (r < 0)
        fail_msg("writing the seed of '%s': %s", g->node, err.message);
    /* a trailing \r would be taken for the console's line end below */
    assert_null(strchr(g->files.meta_data, '\r'));
    assert_null(strchr(g->files.user_data, '\r'));
    assert_null(strchr(g->files.network_config, '\r'));
}

/* Define and start @g the way a node is made. 0 or -1 (message on stderr). */
static int guest_start(Guest *g)
{
    const char *kernel, *initrd;
    if (fixture_guest_image(&kernel, &initrd) < 0)
        return -1;
    if (fixture_make_disk(g->disk, "16M") < 0) {
        fprintf(stderr, "# qemu-img create '%s' failed\n", g->disk);
        return -1;
    }
    const DiskXml disks[] = {
            {.path = g->disk, .format = "qcow2", .bus = DISK_BUS_VIRTIO, .serial = g->serial},
            {.path = g->iso, .format = "raw", .bus = storage_cdrom_bus(g->machine), .cdrom = true},
    };
    Error err = ERROR_INIT;
    _cleanup_free_ char *dx = NULL, *xml = NULL, *cmdline = NULL, *uuid = NULL;
    if (storage_disks_xml(disks, ELEMENTSOF(disks), &dx, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        error_clear(&err);
        return -1;
    }
    /* the test guest takes no network config: no NICs, no DHCP; it stays up until destroyed */
    if (asprintf(&cmdline,
                 "console=ttyS0 quiet panic=-1 kvmlab.dhcp=0 kvmlab.hold=600 kvmlab.name=%s",
                 g->node) < 0)
        return -1;
    uuid = node_uuid(sb->lab, g->node);
    DomainSpec s = {
            .name = g->name,
            .uuid = uuid,
            .lab = sb->lab,
            .key = g->node,
            .hash = "e2e-seed",
            .spec = "e2e-seed",
            .kvm = false,
            .cpus = 1,
            .memory_mib = 256,
            .machine = g->machine,
            .kernel = kernel,
            .initrd = initrd,
            .cmdline = cmdline,
            .disks_xml = dx,
            .console_log = g->console,
    };
    if (node_domain_xml(&s, &xml, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        error_clear(&err);
        return -1;
    }
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    if (!dom) {
        fprintf(stderr, "# cannot define '%s': %s\n", g->name, virGetLastErrorMessage());
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &g->t0);
    int r = virDomainCreate(dom);
    if (r < 0)
        fprintf(stderr, "# cannot start '%s': %s\n", g->name, virGetLastErrorMessage());
    virDomainFree(dom);
    return r < 0 ? -1 : 0;
}

static bool guest_active(const Guest *g)
{
    virDomainPtr dom = virDomainLookupByName(conn, g->name);
    if (!dom)
        return false;
    bool a = virDomainIsActive(dom) == 1;
    virDomainFree(dom);
    return a;
}

/* ---- the guest's report ------------------------------------------------------------------ */

static SeenFile *seen_get(SeenFile *seen, size_t *n, const char *name, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen(seen[i].name) == len && strncmp(seen[i].name, name, len) == 0)
            return &seen[i];
    assert_true(*n < 8);
    seen[*n] = (SeenFile){.name = strndup(name, len), .size = -1};
    assert_non_null(seen[*n].name);
    return &seen[(*n)++];
}

static void seen_clear(SeenFile *seen, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(seen[i].name);
        for (size_t k = 0; k < seen[i].n_lines; k++)
            free(seen[i].lines[k]);
        free(seen[i].lines);
    }
}

/*
 * The SEED lines of console log @log: how many seeds the guest mounted (in *ret_seeds), and per
 * file its size and lines. The guest's line ends in \r\n on the serial port; a line's value is
 * everything after "line=", so only that \r is cut.
 */
static size_t seen_parse(char *log, SeenFile *seen, size_t *ret_seeds)
{
    size_t n = 0;
    *ret_seeds = 0;
    for (char *l = log, *next; l && *l; l = next) {
        next = strchr(l, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(l);
        if (len > 0 && l[len - 1] == '\r')
            l[--len] = '\0';
        const char *k = strstr(l, "KVMLAB-E2E: SEED ");
        if (!k)
            continue;
        k += strlen("KVMLAB-E2E: SEED ");
        if (strncmp(k, "dev=", 4) == 0) {
            assert_non_null(strstr(k, " label=cidata"));
            (*ret_seeds)++;
            continue;
        }
        assert_int_equal(strncmp(k, "file=", 5), 0);
        const char *name = k + 5;
        const char *sp = strchr(name, ' ');
        assert_non_null(sp);
        SeenFile *f = seen_get(seen, &n, name, (size_t)(sp - name));
        if (strncmp(sp + 1, "size=", 5) == 0) {
            assert_int_equal(f->size, -1);
            f->size = strtol(sp + 6, NULL, 10);
        } else {
            assert_int_equal(strncmp(sp + 1, "line=", 5), 0);
            assert_true(f->n_lines < MAX_LINES);
            if (!f->lines)
                assert_non_null(f->lines = calloc(MAX_LINES, sizeof(char *)));
            assert_non_null(f->lines[f->n_lines++] = strdup(sp + 6));
        }
    }
    return n;
}

/* Whether @seen holds line @want. */
static bool seen_has_line(const SeenFile *seen, const char *want)
{
    for (size_t k = 0; k < seen->n_lines; k++)
        if (strcmp(seen->lines[k], want) == 0)
            return true;
    return false;
}

/* Every line of @text (a last one without newline included) must be line for line in @seen. */
static void lines_expect(const Guest *g, const SeenFile *seen, const char *text)
{
    size_t i = 0;
    for (const char *p = text; *p; i++) {
        size_t len = strcspn(p, "\n");
        if (i >= seen->n_lines)
            fail_msg("%s: %s: the guest reported %zu lines, the seed has more (next: '%.*s')",
                     g->node, seen->name, seen->n_lines, (int)len, p);
        if (strlen(seen->lines[i]) != len || strncmp(seen->lines[i], p, len) != 0)
            fail_msg("%s: %s line %zu: the seed has '%.*s', the guest saw '%s'", g->node,
                     seen->name, i + 1, (int)len, p, seen->lines[i]);
        p += len;
        if (*p == '\n')
            p++;
    }
    if (seen->n_lines != i)
        fail_msg("%s: %s: the guest reported %zu lines, the seed has %zu", g->node, seen->name,
                 seen->n_lines, i);
}

/* Every line of PEM @pem, as the guest saw it in user-data (indented in a YAML block). */
static void pem_expect(const Guest *g, const SeenFile *ud, const char *pem)
{
    size_t n = 0;
    for (const char *p = pem; *p; n++) {
        size_t len = strcspn(p, "\n");
        bool found = false;
        for (size_t k = 0; k < ud->n_lines && !found; k++) {
            const char *l = ud->lines[k] + strspn(ud->lines[k], " ");
            found = strlen(l) == len && strncmp(l, p, len) == 0;
        }
        if (!found)
            fail_msg("%s: PEM line '%.*s' is not in the guest's user-data", g->node, (int)len, p);
        p += len;
        if (*p == '\n')
            p++;
    }
    assert_true(n > 2);
}

static bool lines_contain(const SeenFile *f, const char *needle)
{
    for (size_t k = 0; k < f->n_lines; k++)
        if (strstr(f->lines[k], needle))
            return true;
    return false;
}

static void guest_check(const Guest *g)
{
    _cleanup_free_ char *log = NULL;
    assert_int_equal(fs_read_all(g->console, &log, NULL, NULL), 0);

    /* the CD-ROM, on the machine's bus, labelled cidata; the root disk by its serial */
    char needle[128];
    snprintf(needle, sizeof(needle), "drivers=%s serial=", g->cdrom_chain);
    char *l = fixture_console_wait2(g->console, needle, " ro=1 label=cidata", 1);
    if (!l)
        fail_msg("%s (%s): no seed CD-ROM with '%s'", g->node, g->machine, needle);
    free(l);
    snprintf(needle, sizeof(needle), "serial=%s ro=0", g->serial);
    l = fixture_console_wait(g->console, needle, 1);
    if (!l)
        fail_msg("%s: no root disk with '%s'", g->node, needle);
    free(l);

    SeenFile seen[8] = {0};
    size_t n_seeds = 0;
    size_t n = seen_parse(log, seen, &n_seeds);
    assert_int_equal(n_seeds, 1);

    /* exactly these files, in the guest's `ls` order, each as long as the rendered string */
    static const char *const names[] = {"meta-data", "network-config", "user-data"};
    const char *texts[] = {g->files.meta_data, g->files.network_config, g->files.user_data};
    assert_int_equal(n, ELEMENTSOF(names));
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(seen[i].name, names[i]);
        assert_int_equal(seen[i].size, (long)strlen(texts[i]));
        lines_expect(g, &seen[i], texts[i]);
        printf("# %s: %s: %ld bytes, %zu lines as rendered\n", g->node, seen[i].name, seen[i].size,
               seen[i].n_lines);
    }

    /* a few lines spelled out from the templates' documented form, not from the renderer */
    const SeenFile *md = &seen[0], *ud = &seen[2];
    char want[256];
    snprintf(want, sizeof(want), "instance-id: \"%s\"", g->in.instance_id);
    assert_true(seen_has_line(md, want));
    snprintf(want, sizeof(want), "local-hostname: \"%s\"", g->node);
    assert_true(seen_has_line(md, want));
    assert_true(seen_has_line(ud, "#cloud-config"));
    assert_true(lines_contain(ud, SSH_PUBKEY));
    if (g->in.role == LAB_ROLE_CONTROL_PLANE) {
        pem_expect(g, ud, ca_cert);
        pem_expect(g, ud, ca_key);
        assert_true(lines_contain(ud, "PRIVATE KEY"));
        assert_non_null(strstr(g->files.user_data, "PRIVATE KEY"));
        assert_true(lines_contain(ud, token));
    } else if (g->in.role == LAB_ROLE_WORKER) {
        /* the worker joins with the token and the CA's hash, never the CA's key */
        assert_false(lines_contain(ud, "PRIVATE KEY"));
        assert_null(strstr(g->files.user_data, "PRIVATE KEY"));
        assert_true(lines_contain(ud, token));
        assert_true(lines_contain(ud, ca_hash));
    } else {
        assert_false(lines_contain(ud, "PRIVATE KEY"));
        assert_false(lines_contain(ud, token));
    }
    seen_clear(seen, n);
}

static void test_seed_seen(void **state)
{
    secrets_make();
    guests_describe();
    for (size_t i = 0; i < ELEMENTSOF(guests); i++)
        seed_make(&guests[i]);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < ELEMENTSOF(guests); i++)
        if (guest_start(&guests[i]) < 0)
            fail_msg("node '%s' did not start", guests[i].name);
    size_t finished = 0;
    while (finished < ELEMENTSOF(guests)) {
        usleep(250000);
        for (size_t i = 0; i < ELEMENTSOF(guests); i++) {
            Guest *g = &guests[i];
            if (g->finished)
                continue;
            _cleanup_free_ char *log = NULL;
            bool done = fs_read_all(g->console, &log, NULL, NULL) == 0 &&
                        strstr(log, "KVMLAB-E2E: DONE ");
            if (!done && guest_active(g) && elapsed(&g->t0) < GUEST_TIMEOUT_S)
                continue;
            g->finished = true;
            g->seconds = elapsed(&g->t0);
            finished++;
            if (!done) {
                free(fixture_console_wait(g->console, "DONE ", 0));
                fail_msg("node '%s' (%s) ended or timed out after %.1f s without DONE", g->name,
                         g->machine, g->seconds);
            }
            printf("# %s (%s): DONE after %.1f s\n", g->name, g->machine, g->seconds);
        }
    }
    printf("# %zu nodes booted and reported in %.1f s\n", ELEMENTSOF(guests), elapsed(&t0));
    for (size_t i = 0; i < ELEMENTSOF(guests); i++)
        guest_check(&guests[i]);
}

/* ---- nothing stays ---------------------------------------------------------------------- */

static void test_nothing_left(void **state)
{
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
            cmocka_unit_test(test_seed_seen),
            cmocka_unit_test(test_nothing_left),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
