/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/lab.h"
#include "kvmlab/spawn.h"

Lab *fixture_lab_load(const char *name, const char *text)
{
    Lab *lab = NULL;
    LabDiags d = {0};
    Error err = ERROR_INIT;
    if (lab_load_string(name, text, strlen(text), &lab, &d, &err) < 0) {
        char *s = lab_diags_format(&d);
        fprintf(stderr, "# %s%s\n", s ? s : "", err.message ? err.message : "");
        free(s);
        lab = NULL;
    }
    lab_diags_clear(&d);
    error_clear(&err);
    return lab;
}

bool fixture_is_root(void)
{
    if (geteuid() == 0)
        return true;
    fprintf(stderr, "# not root: this test needs namespaces and a private libvirtd\n");
    return false;
}

const char *fixture_state_root(void)
{
    static char path[4096];
    if (!path[0]) {
        const char *b = getenv("KVMLAB_BUILD_ROOT");
        snprintf(path, sizeof(path), "%s/test-state", b && *b ? b : "/tmp/kvmlab-tests");
        fs_mkdir_p(path, 0700, NULL);
    }
    return path;
}

const char *fixture_lab_name(const char *prefix)
{
    static char name[16];
    snprintf(name, sizeof(name), "%.6s%d", prefix, (int)(getpid() % 100000));
    return name;
}

int fixture_guest_image(const char **ret_kernel, const char **ret_initrd)
{
    static char kernel[4096], initrd[4096];
    if (!kernel[0]) {
        char script[4096], cache[4096];
        snprintf(script, sizeof(script), "%s/tests/guest/mkguest.sh", KVMLAB_SOURCE_ROOT);
        snprintf(cache, sizeof(cache), "%s/guest", fixture_state_root());
        const char *argv[] = {script, cache, NULL};
        Error err = ERROR_INIT;
        _cleanup_free_ char *out = NULL;
        SpawnOpts o = {.timeout_ms = 300000};
        if (spawn_check(argv, &o, &out, &err) < 0) {
            fprintf(stderr, "# cannot build the test guest: %s\n", err.message);
            error_clear(&err);
            return -1;
        }
        out[strcspn(out, "\n")] = 0;
        _cleanup_free_ char *env = NULL;
        if (fs_read_all(out, &env, NULL, &err) < 0) {
            fprintf(stderr, "# %s\n", err.message);
            error_clear(&err);
            return -1;
        }
        for (char *l = strtok(env, "\n"); l; l = strtok(NULL, "\n")) {
            if (strncmp(l, "KERNEL=", 7) == 0)
                snprintf(kernel, sizeof(kernel), "%s", l + 7);
            else if (strncmp(l, "INITRD=", 7) == 0)
                snprintf(initrd, sizeof(initrd), "%s", l + 7);
        }
        if (!kernel[0] || !initrd[0]) {
            fprintf(stderr, "# guest.env '%s' lacks KERNEL or INITRD\n", out);
            return -1;
        }
    }
    *ret_kernel = kernel;
    *ret_initrd = initrd;
    return 0;
}

int fixture_guest_start(virConnectPtr conn, const char *name, const FixtureNic *nics, size_t n_nics,
                        const char *console_path, const char *append)
{
    return fixture_guest_start_ex(conn, name, nics, n_nics, NULL, 0, NULL, console_path, append);
}

int fixture_make_disk(const char *path, const char *size)
{
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
    return fixture_run(NULL, argv, NULL, 30000) == 0 ? 0 : -1;
}

int fixture_make_seed(const char *path, const char *meta_data, const char *user_data)
{
    char dir[] = "/tmp/kvmlab-seed-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char md[64], ud[64];
    snprintf(md, sizeof(md), "%s/meta-data", dir);
    snprintf(ud, sizeof(ud), "%s/user-data", dir);
    int r = -1;
    if (fs_write_atomic(md, meta_data, 0644, NULL) == 0 &&
        fs_write_atomic(ud, user_data, 0644, NULL) == 0) {
        const char *argv[] = {"genisoimage", "-quiet", "-output", path, "-volid", "cidata",
                              "-joliet",     "-rock",  md,        ud,   NULL};
        r = fixture_run(NULL, argv, NULL, 30000) == 0 ? 0 : -1;
    }
    unlink(md);
    unlink(ud);
    rmdir(dir);
    return r;
}

int fixture_guest_start_ex(virConnectPtr conn, const char *name, const FixtureNic *nics,
                           size_t n_nics, const FixtureDisk *disks, size_t n_disks,
                           const char *seed_iso, const char *console_path, const char *append)
{
    const char *kernel, *initrd;
    if (fixture_guest_image(&kernel, &initrd) < 0)
        return -1;
    char *xml = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&xml, &len);
    /* TCG: KVM does not run normal kernels on these machines */
    fprintf(f,
            "<domain type='qemu'>\n"
            "  <name>%s</name>\n"
            "  <memory unit='MiB'>256</memory>\n"
            "  <vcpu>1</vcpu>\n"
            "  <os>\n"
            "    <type arch='x86_64' machine='pc'>hvm</type>\n"
            "    <kernel>%s</kernel>\n"
            "    <initrd>%s</initrd>\n"
            "    <cmdline>console=ttyS0 quiet panic=-1 kvmlab.name=%s%s%s</cmdline>\n"
            "  </os>\n"
            "  <features><acpi/></features>\n"
            "  <on_poweroff>destroy</on_poweroff>\n"
            "  <on_reboot>destroy</on_reboot>\n"
            "  <on_crash>destroy</on_crash>\n"
            "  <devices>\n"
            "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n",
            name, kernel, initrd, name, append ? " " : "", append ? append : "");
    for (size_t i = 0; i < n_nics; i++) {
        /* "bridge:NAME": a Linux bridge (kvmlab's bridge backend), else a libvirt network */
        bool br = strncmp(nics[i].network, "bridge:", 7) == 0;
        fprintf(f,
                "    <interface type='%s'>\n"
                "      <source %s='%s'/>\n"
                "      <mac address='%s'/>\n"
                "      <model type='virtio'/>\n"
                "    </interface>\n",
                br ? "bridge" : "network", br ? "bridge" : "network",
                br ? nics[i].network + 7 : nics[i].network, nics[i].mac);
    }
    for (size_t i = 0; i < n_disks; i++)
        fprintf(f,
                "    <disk type='file' device='disk'>\n"
                "      <driver name='qemu' type='qcow2'/>\n"
                "      <source file='%s'/>\n"
                "      <target dev='vd%c' bus='virtio'/>\n"
                "      <serial>%s</serial>\n"
                "    </disk>\n",
                disks[i].path, (char)('a' + i), disks[i].serial);
    if (seed_iso)
        fprintf(f,
                "    <disk type='file' device='cdrom'>\n"
                "      <driver name='qemu' type='raw'/>\n"
                "      <source file='%s'/>\n"
                "      <target dev='hdc' bus='ide'/>\n"
                "      <readonly/>\n"
                "    </disk>\n",
                seed_iso);
    fprintf(f,
            "    <serial type='file'>\n"
            "      <source path='%s'/>\n"
            "      <target port='0'/>\n"
            "    </serial>\n"
            "    <controller type='usb' model='none'/>\n"
            "    <memballoon model='none'/>\n"
            "  </devices>\n"
            "</domain>\n",
            console_path);
    fclose(f);
    unlink(console_path);
    virDomainPtr dom = virDomainDefineXML(conn, xml);
    free(xml);
    if (!dom) {
        fprintf(stderr, "# cannot define guest '%s': %s\n", name, virGetLastErrorMessage());
        return -1;
    }
    int r = virDomainCreate(dom);
    if (r < 0)
        fprintf(stderr, "# cannot start guest '%s': %s\n", name, virGetLastErrorMessage());
    virDomainFree(dom);
    return r < 0 ? -1 : 0;
}

void fixture_guest_remove(virConnectPtr conn, const char *name)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    if (!dom)
        return;
    if (virDomainIsActive(dom) == 1)
        virDomainDestroy(dom);
    virDomainUndefine(dom);
    virDomainFree(dom);
}

char *fixture_console_wait(const char *path, const char *needle, int timeout_s)
{
    return fixture_console_wait2(path, needle, NULL, timeout_s);
}

char *fixture_console_wait2(const char *path, const char *needle, const char *needle2,
                            int timeout_s)
{
    time_t end = time(NULL) + timeout_s;
    do {
        _cleanup_free_ char *text = NULL;
        if (fs_read_all(path, &text, NULL, NULL) == 0) {
            for (char *l = strtok(text, "\r\n"); l; l = strtok(NULL, "\r\n")) {
                char *k = strstr(l, "KVMLAB-E2E: ");
                if (k && strstr(k, needle) && (!needle2 || strstr(k, needle2)))
                    return strdup(k);
            }
        }
        usleep(200000);
    } while (time(NULL) < end);
    /* what the guest did say, for the failure's log */
    _cleanup_free_ char *text = NULL;
    fprintf(stderr, "# no console line with '%s'%s%s%s; the guest said:\n", needle,
            needle2 ? " and '" : "", needle2 ? needle2 : "", needle2 ? "'" : "");
    if (fs_read_all(path, &text, NULL, NULL) == 0)
        for (char *l = strtok(text, "\r\n"); l; l = strtok(NULL, "\r\n")) {
            char *k = strstr(l, "KVMLAB-E2E: ");
            if (k)
                fprintf(stderr, "#   %s\n", k);
        }
    return NULL;
}

char *fixture_line_field(const char *line, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = line; p && *p;) {
        if ((p == line || p[-1] == ' ') && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return strndup(p + klen + 1, strcspn(p + klen + 1, " "));
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return NULL;
}

int fixture_run(const char *netns, const char *const *argv, char **ret_out, int timeout_ms)
{
    SpawnOpts o = {.netns = netns, .timeout_ms = timeout_ms};
    SpawnResult res = {0};
    Error err = ERROR_INIT;
    if (spawn_run(argv, &o, &res, &err) < 0) {
        fprintf(stderr, "# %s\n", err.message);
        error_clear(&err);
        return -1;
    }
    if (ret_out)
        *ret_out = steal_pointer(&res.out);
    int st = res.status;
    spawn_result_clear(&res);
    return st;
}

struct FixturePeer {
    char netns[64];
    char ip[32];
    int port;
    int timeout_s;
    int listen_fd; /* ready to accept once the thread set it (or -1 on failure) */
    char seen[64];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    bool is_ready;
};

static void *peer_thread(void *arg)
{
    FixturePeer *p = arg;
    int fd = -1;
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", p->netns);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns >= 0 && setns(ns, CLONE_NEWNET) == 0) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
        inet_pton(AF_INET, p->ip, &a.sin_addr);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
            fprintf(stderr, "# peer: cannot listen on %s:%d: %s\n", p->ip, p->port,
                    strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    if (ns >= 0)
        close(ns);
    pthread_mutex_lock(&p->lock);
    p->listen_fd = fd;
    p->is_ready = true;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
    if (fd < 0)
        return NULL;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, p->timeout_s * 1000) == 1) {
        struct sockaddr_in peer;
        socklen_t len = sizeof(peer);
        int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        if (c >= 0) {
            inet_ntop(AF_INET, &peer.sin_addr, p->seen, sizeof(p->seen));
            char line[96];
            int n = snprintf(line, sizeof(line), "SEEN=%s\n", p->seen);
            if (write(c, line, (size_t)n) < 0)
                p->seen[0] = 0;
            usleep(200000);
            close(c);
        }
    }
    close(fd);
    return NULL;
}

FixturePeer *fixture_peer_start(const char *netns, const char *ip, int port, int timeout_s)
{
    FixturePeer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->netns, sizeof(p->netns), "%s", netns);
    snprintf(p->ip, sizeof(p->ip), "%s", ip);
    p->port = port;
    p->timeout_s = timeout_s;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    if (pthread_create(&p->thread, NULL, peer_thread, p) != 0) {
        free(p);
        return NULL;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->is_ready)
        pthread_cond_wait(&p->ready, &p->lock);
    pthread_mutex_unlock(&p->lock);
    if (p->listen_fd < 0) {
        pthread_join(p->thread, NULL);
        free(p);
        return NULL;
    }
    return p;
}

char *fixture_peer_finish(FixturePeer *p)
{
    if (!p)
        return NULL;
    pthread_join(p->thread, NULL);
    char *seen = p->seen[0] ? strdup(p->seen) : NULL;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->ready);
    free(p);
    return seen;
}
