/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox on the host: namespaces, mounts, the daemon process. Formats no text itself. */
#include "kvmlab/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/lablock.h"
#include "kvmlab/spawn.h"
#include "kvmlab/virt.h"

#define LIBVIRTD_BIN     "/usr/sbin/libvirtd"
#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS  10000
#define STRAY_WAIT_MS    15000

/* libvirt's directories and the sandbox subdirectory bind-mounted over each. */
static const struct {
    const char *target;
    const char *sub; /* NULL: the shared cache */
} binds[] = {
        {"/etc/libvirt", "etc"},     {"/run/libvirt", "run"},      {"/var/lib/libvirt", "lib"},
        {"/var/log/libvirt", "log"}, {"/var/cache/libvirt", NULL},
};

char *sandbox_state_root(void)
{
    const char *e = getenv("KVMLAB_STATE_DIR");
    if (!e || !*e)
        return strdup("/var/lib/kvmlab");
    if (e[0] == '/')
        return strdup(e);
    /* made absolute: daemons kvmlab starts (libvirtd, dnsmasq) do not run where kvmlab runs,
     * and a relative path in their configuration would name another place */
    char cwd[PATH_MAX];
    char *abs = NULL;
    if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, e) < 0)
        return NULL;
    return abs;
}

void sandbox_free(Sandbox *sb)
{
    if (!sb)
        return;
    free(sb->lab);
    free(sb->root);
    free(sb->netns);
    free(sb->dir);
    free(sb->cache);
    free(sb->sock);
    free(sb->uri);
    free(sb);
}

int sandbox_new(const char *state_root, const char *lab, Sandbox **ret, Error *err)
{
    _cleanup_free_ char *root = state_root ? strdup(state_root) : sandbox_state_root();
    const char *prefix = getenv("KVMLAB_NETNS_PREFIX");
    Sandbox *sb = calloc(1, sizeof(*sb));

    if (!sb || !root)
        goto oom;
    if (!prefix)
        prefix = "kvmlab-";
    sb->lab = strdup(lab);
    sb->root = strdup(root);
    if (asprintf(&sb->netns, "%s%s", prefix, lab) < 0)
        sb->netns = NULL;
    if (asprintf(&sb->dir, "%s/sandbox/%s", root, lab) < 0)
        sb->dir = NULL;
    if (asprintf(&sb->cache, "%s/cache/libvirt", root) < 0)
        sb->cache = NULL;
    if (asprintf(&sb->sock, "%s/sock/libvirt-sock", sb->dir ? sb->dir : "") < 0)
        sb->sock = NULL;
    if (asprintf(&sb->uri, "qemu+unix:///system?socket=%s", sb->sock ? sb->sock : "") < 0)
        sb->uri = NULL;
    if (!sb->lab || !sb->root || !sb->netns || !sb->dir || !sb->cache || !sb->sock || !sb->uri)
        goto oom;
    if (strlen(sb->netns) > 64) {
        sandbox_free(sb);
        return error_set(err, -ENAMETOOLONG, "Namespace name '%s%s' is too long", prefix, lab);
    }
    /* struct sockaddr_un holds 108 bytes; libvirtd's longest socket is libvirt-admin-sock */
    if (strlen(sb->dir) + strlen("/sock/libvirt-admin-sock") >= 108) {
        int r = error_set(err, -ENAMETOOLONG,
                          "The sandbox socket path '%s/sock/libvirt-admin-sock' is too long for "
                          "a UNIX socket; set KVMLAB_STATE_DIR to a shorter directory",
                          sb->dir);
        sandbox_free(sb);
        return r;
    }
    *ret = sb;
    return 0;
oom:
    sandbox_free(sb);
    return error_set(err, -ENOMEM, "Out of memory");
}

static char *netns_path(const char *netns)
{
    char *p = NULL;
    if (asprintf(&p, "/run/netns/%s", netns) < 0)
        return NULL;
    return p;
}

static bool netns_exists(const char *netns)
{
    _cleanup_free_ char *p = netns_path(netns);
    struct stat st;
    return p && stat(p, &st) == 0;
}

static int netns_inode(const char *netns, ino_t *ret)
{
    _cleanup_free_ char *p = netns_path(netns);
    struct stat st;
    if (!p)
        return -ENOMEM;
    if (stat(p, &st) < 0)
        return -errno;
    *ret = st.st_ino;
    return 0;
}

int sandbox_netns_pids(const char *netns, pid_t **ret, size_t *ret_n, Error *err)
{
    ino_t ino;
    int r = netns_inode(netns, &ino);
    *ret = NULL;
    *ret_n = 0;
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return error_set_errno(err, r, "Cannot inspect network namespace '%s'", netns);

    DIR *d = opendir("/proc");
    if (!d)
        return error_set_errno(err, -errno, "Cannot read '/proc'");
    pid_t *pids = NULL;
    size_t n = 0;
    struct dirent *de;
    pid_t self = getpid();
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self)
            continue;
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
        if (stat(path, &st) < 0 || st.st_ino != ino)
            continue;
        pid_t *np = realloc(pids, (n + 1) * sizeof(*pids));
        if (!np) {
            free(pids);
            closedir(d);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        pids = np;
        pids[n++] = (pid_t)pid;
    }
    closedir(d);
    *ret = pids;
    *ret_n = n;
    return 0;
}

static pid_t read_pidfile(const Sandbox *sb)
{
    _cleanup_free_ char *path = fs_path_join(sb->dir, "libvirtd.pid");
    _cleanup_free_ char *text = NULL;
    if (!path || fs_read_all(path, &text, NULL, NULL) < 0)
        return 0;
    long pid = strtol(text, NULL, 10);
    return pid > 0 ? (pid_t)pid : 0;
}

/* The command name of @pid into @buf (empty when it is gone). */
static void read_comm(pid_t pid, char *buf, size_t size)
{
    char path[64];
    buf[0] = 0;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (!fgets(buf, (int)size, f))
        buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

/* Whether @pid is a libvirtd inside our namespace (a stale pid file may name anything). */
static bool pid_is_our_daemon(const Sandbox *sb, pid_t pid)
{
    char path[64];
    char comm[32] = "";
    ino_t ino;
    struct stat st;

    if (pid <= 0 || kill(pid, 0) < 0)
        return false;
    read_comm(pid, comm, sizeof(comm));
    if (strcmp(comm, "libvirtd") != 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    return netns_inode(sb->netns, &ino) == 0 && stat(path, &st) == 0 && st.st_ino == ino;
}

bool sandbox_exists(const Sandbox *sb)
{
    struct stat st;
    return netns_exists(sb->netns) || stat(sb->dir, &st) == 0;
}

/* The daemon accepts connections on its socket. A plain connect(): a whole libvirt connection
 * here, closed again before the session opens its own, cost a tenth of a no-op plan. */
static bool daemon_answers(const Sandbox *sb)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sb->sock) >= sizeof(sa.sun_path))
        return false;
    strcpy(sa.sun_path, sb->sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

bool sandbox_is_running(const Sandbox *sb, pid_t *ret_pid)
{
    pid_t pid = read_pidfile(sb);
    if (!pid_is_our_daemon(sb, pid) || !daemon_answers(sb))
        return false;
    if (ret_pid)
        *ret_pid = pid;
    return true;
}

static int write_config(const Sandbox *sb, Error *err)
{
    /* libvirt's dnsmasq drops to an unprivileged user and must still read its hosts files under
     * /var/lib/libvirt and /run/libvirt: those bind-mount sources are world-traversable (their
     * parents are not walked through the mount); the configuration stays root's */
    static const struct {
        const char *sub;
        mode_t mode;
    } subdirs[] = {{"etc", 0700},
                   {"etc/qemu", 0700},
                   {"etc/qemu/networks", 0700},
                   {"etc/qemu/networks/autostart", 0700},
                   {"etc/storage", 0700},
                   {"run", 0755},
                   {"lib", 0755},
                   {"log", 0700},
                   {"sock", 0700}};
    int r;
    for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
        _cleanup_free_ char *p = fs_path_join(sb->dir, subdirs[i].sub);
        if (!p)
            return error_set(err, -ENOMEM, "Out of memory");
        r = fs_mkdir_p(p, 0700, err);
        if (r < 0)
            return r;
        if (chmod(p, subdirs[i].mode) < 0)
            return error_set_errno(err, -errno, "Cannot set the mode of '%s'", p);
    }
    r = fs_mkdir_p(sb->cache, 0700, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *conf = sandbox_libvirtd_conf_format(sb);
    _cleanup_free_ char *qconf = sandbox_qemu_conf_format();
    _cleanup_free_ char *conf_path = fs_path_join(sb->dir, "etc/libvirtd.conf");
    _cleanup_free_ char *qconf_path = fs_path_join(sb->dir, "etc/qemu.conf");
    if (!conf || !qconf || !conf_path || !qconf_path)
        return error_set(err, -ENOMEM, "Out of memory");
    r = fs_write_atomic(conf_path, conf, 0600, err);
    if (r < 0)
        return r;
    return fs_write_atomic(qconf_path, qconf, 0600, err);
}

/* Runs in the forked child before exec: a private mount namespace with the sandbox's state
 * bind-mounted over libvirt's directories, and /sys showing the sandbox's network namespace. */
static int daemon_child_setup(void *userdata)
{
    const Sandbox *sb = userdata;

    if (unshare(CLONE_NEWNS) < 0)
        return -errno;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    /* as `ip netns exec` does: sysfs of the new network namespace (bridges live there) */
    if (umount2("/sys", MNT_DETACH) < 0 && errno != EINVAL)
        return -errno;
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
        return -errno;
    for (size_t i = 0; i < ELEMENTSOF(binds); i++) {
        char src[4096];
        if (binds[i].sub)
            snprintf(src, sizeof(src), "%s/%s", sb->dir, binds[i].sub);
        else
            snprintf(src, sizeof(src), "%s", sb->cache);
        if (mkdir(binds[i].target, 0755) < 0 && errno != EEXIST)
            return -errno;
        if (mount(src, binds[i].target, NULL, MS_BIND, NULL) < 0)
            return -errno;
    }
    /* libvirtd --daemon points its own stdio at /dev/null once it forks, so our pipes close
     * and the front process reports start-up errors on them first */
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int netns_mark(const Sandbox *sb, Error *err);
static bool netns_is_pristine(const Sandbox *sb);
static int netns_mark_pending(const Sandbox *sb, Error *err);
static void netns_unmark(const Sandbox *sb);

static int netns_lo_up(const Sandbox *sb, Error *err)
{
    const char *lo[] = {"ip", "-n", sb->netns, "link", "set", "lo", "up", NULL};
    return spawn_check(lo, NULL, NULL, err);
}

/*
 * Create the namespace and record it as ours; *made tells the caller what to undo. The marker
 * says "pending" before `ip netns add` runs, so a crash between the two leaves a namespace that
 * the next run recognises (see netns_is_ours()) instead of one nobody may touch.
 */
static int netns_create(const Sandbox *sb, bool *made, Error *err)
{
    const char *add[] = {"ip", "netns", "add", sb->netns, NULL};
    int r = netns_mark_pending(sb, err);
    if (r < 0)
        return r;
    Error add_err = ERROR_INIT;
    r = spawn_check(add, NULL, NULL, &add_err);
    if (r < 0 && !(netns_exists(sb->netns) && netns_is_pristine(sb))) {
        netns_unmark(sb);
        r = error_set(err, r, "%s", add_err.message);
        error_clear(&add_err);
        return r;
    }
    /* made now, or by the `ip netns add` of a run that was killed while it ran (the namespace
     * is pristine and claimed): ours either way */
    error_clear(&add_err);
    *made = true;
    r = netns_mark(sb, err);
    if (r < 0)
        return r;
    return netns_lo_up(sb, err);
}

static int start_daemon(Sandbox *sb, Error *err)
{
    _cleanup_free_ char *pidfile = fs_path_join(sb->dir, "libvirtd.pid");
    _cleanup_free_ char *conf = fs_path_join(sb->dir, "etc/libvirtd.conf");
    if (!pidfile || !conf)
        return error_set(err, -ENOMEM, "Out of memory");
    unlink(pidfile);

    const char *argv[] = {LIBVIRTD_BIN, "--daemon", "--pid-file", pidfile, "--config", conf, NULL};
    SpawnOpts o = {
            .netns = sb->netns,
            .timeout_ms = START_TIMEOUT_MS,
            .child_setup = daemon_child_setup,
            .child_setup_data = sb,
    };
    SpawnResult res = {0};
    int r = spawn_run(argv, &o, &res, err);
    if (r < 0)
        return r;
    if (res.status != 0) {
        r = error_set(err, -EIO, "The sandbox daemon for lab '%s' did not start (status %d)%s%s",
                      sb->lab, res.status, res.err && *res.err ? ": " : "", res.err ? res.err : "");
        spawn_result_clear(&res);
        return r;
    }
    spawn_result_clear(&res);

    /* --daemon returns once the daemon forked; wait until its socket answers */
    for (int waited = 0; waited < START_TIMEOUT_MS; waited += 50) {
        if (sandbox_is_running(sb, NULL))
            return 0;
        if (interrupt_pending())
            return error_set(err, -EINTR,
                             "Interrupted by %s while the sandbox daemon for lab '%s' started",
                             interrupt_signal_name(), sb->lab);
        sleep_ms(50);
    }
    return error_set(err, -ETIMEDOUT,
                     "The sandbox daemon for lab '%s' did not answer within %d s; see '%s/log/"
                     "libvirtd.log'",
                     sb->lab, START_TIMEOUT_MS / 1000, sb->dir);
}

/* Tear down libvirt objects through the daemon so it ends its dnsmasq and QEMU cleanly. */
static void daemon_teardown(const Sandbox *sb)
{
    virt_init();
    virConnectPtr c = virConnectOpen(sb->uri);
    if (!c)
        return;
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, 0);
    for (int i = 0; i < n; i++) {
        if (virDomainIsActive(doms[i]) == 1)
            virDomainDestroy(doms[i]);
        virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_NVRAM);
        virDomainFree(doms[i]);
    }
    free(doms);
    virNetworkPtr *nets = NULL;
    n = virConnectListAllNetworks(c, &nets, 0);
    for (int i = 0; i < n; i++) {
        if (virNetworkIsActive(nets[i]) == 1)
            virNetworkDestroy(nets[i]);
        virNetworkUndefine(nets[i]);
        virNetworkFree(nets[i]);
    }
    free(nets);
    virConnectClose(c);
}

/* The file that records the inode of the namespace this sandbox made, so nothing is ever done
 * to a namespace of the same name that somebody else made. */
static char *netns_marker(const Sandbox *sb)
{
    return fs_path_join(sb->dir, "netns-inode");
}

static ino_t self_inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

#define MARK_PENDING "pending\n"

/*
 * Whether the namespace is exactly as `ip netns add` leaves it: no process inside, and no link
 * but a loopback that is still down. Only such a namespace is adopted on a "pending" marker, so
 * one that somebody else made and uses is never taken.
 */
static bool netns_is_pristine(const Sandbox *sb)
{
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    if (sandbox_netns_pids(sb->netns, &pids, &n, NULL) < 0 || n > 0)
        return false;
    const char *argv[] = {"ip", "-n", sb->netns, "-o", "link", "show", NULL};
    _cleanup_free_ char *out = NULL;
    if (spawn_check(argv, NULL, &out, NULL) < 0 || !out)
        return false;
    /* one line: "1: lo: <LOOPBACK> mtu 65536 qdisc noop state DOWN ..." */
    char *nl = strchr(out, '\n');
    if (nl && nl[1])
        return false;
    return strstr(out, ": lo: <LOOPBACK> ") != NULL;
}

/* The marker's text (NULL when there is none). New string. */
static char *netns_marker_read(const Sandbox *sb)
{
    _cleanup_free_ char *marker = netns_marker(sb);
    char *text = NULL;
    if (!marker || fs_read_all(marker, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

/*
 * Whether the namespace named like ours is the one this sandbox made (never the host's): its
 * inode is the one in the marker, or the marker says "pending" (a run died between writing it
 * and recording the inode) and the namespace is pristine.
 */
static bool netns_is_ours(const Sandbox *sb)
{
    ino_t ino;
    if (netns_inode(sb->netns, &ino) < 0)
        return false;
    if (ino == self_inode("/proc/1/ns/net") || ino == self_inode("/proc/self/ns/net"))
        return false;
    _cleanup_free_ char *text = netns_marker_read(sb);
    if (!text)
        return false;
    if (strcmp(text, MARK_PENDING) == 0)
        return netns_is_pristine(sb);
    return strtoull(text, NULL, 10) == (unsigned long long)ino;
}

static bool netns_marked_pending(const Sandbox *sb)
{
    _cleanup_free_ char *text = netns_marker_read(sb);
    return text && strcmp(text, MARK_PENDING) == 0;
}

static int netns_mark_pending(const Sandbox *sb, Error *err)
{
    _cleanup_free_ char *marker = netns_marker(sb);
    if (!marker)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(marker, MARK_PENDING, 0600, err);
}

static void netns_unmark(const Sandbox *sb)
{
    _cleanup_free_ char *marker = netns_marker(sb);
    if (marker)
        unlink(marker);
}

static int netns_mark(const Sandbox *sb, Error *err)
{
    ino_t ino;
    int r = netns_inode(sb->netns, &ino);
    if (r < 0)
        return error_set_errno(err, r, "Cannot inspect network namespace '%s'", sb->netns);
    char text[32];
    snprintf(text, sizeof(text), "%llu\n", (unsigned long long)ino);
    _cleanup_free_ char *marker = netns_marker(sb);
    if (!marker)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(marker, text, 0600, err);
}

/* Whether @pid has ended: gone, or a zombie (only a parent that does not reap keeps it). */
static bool pid_ended(pid_t pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64], stat_line[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    if (!fgets(stat_line, sizeof(stat_line), f))
        stat_line[0] = 0;
    fclose(f);
    char *end = strrchr(stat_line, ')');
    return end && end[1] == ' ' && end[2] == 'Z';
}

static bool wait_gone(pid_t pid, int timeout_ms)
{
    for (int w = 0; w < timeout_ms; w += 20) {
        if (pid_ended(pid))
            return true;
        sleep_ms(20);
    }
    return pid_ended(pid);
}

/* The programs a sandbox's daemon starts; nothing else in the namespace is ever signalled, so a
 * user's shell opened with `ip netns exec` survives. */
static bool comm_is_ours(pid_t pid)
{
    char comm[32];
    read_comm(pid, comm, sizeof(comm));
    return strcmp(comm, "libvirtd") == 0 || strcmp(comm, "dnsmasq") == 0 ||
           strncmp(comm, "qemu-system-", 12) == 0;
}

/* Signal through a pidfd when the kernel has them, so a recycled PID is never hit. */
/* Whether @pid still runs in the sandbox's namespace under one of our programs' names. */
static bool still_ours(const Sandbox *sb, pid_t pid)
{
    char path[64];
    struct stat st;
    ino_t ino;
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    return netns_inode(sb->netns, &ino) == 0 && stat(path, &st) == 0 && st.st_ino == ino &&
           comm_is_ours(pid);
}

static void signal_pid(const Sandbox *sb, pid_t pid, int sig)
{
#ifdef SYS_pidfd_open
    /* the pidfd pins the process: checked after it is open, nothing else can be hit */
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        if (still_ours(sb, pid))
            syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
        close(fd);
        return;
    }
    if (errno == ESRCH)
        return;
#endif
    if (still_ours(sb, pid))
        kill(pid, sig);
}

/* End the daemon, then what it left in our namespace (QEMU, dnsmasq). */
static int stop_processes(const Sandbox *sb, Error *err)
{
    int ret = 0;
    pid_t pid = read_pidfile(sb);

    if (pid_is_our_daemon(sb, pid)) {
        daemon_teardown(sb);
        signal_pid(sb, pid, SIGTERM);
        if (!wait_gone(pid, STOP_TIMEOUT_MS)) {
            signal_pid(sb, pid, SIGKILL);
            wait_gone(pid, 2000);
        }
    }
    for (int round = 0; round < 2; round++) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = sandbox_netns_pids(sb->netns, &pids, &n, err);
        if (r < 0 && !ret)
            ret = r;
        for (size_t i = 0; i < n; i++)
            signal_pid(sb, pids[i], round == 0 ? SIGTERM : SIGKILL);
        for (size_t i = 0; i < n; i++)
            if (comm_is_ours(pids[i]))
                wait_gone(pids[i], round == 0 ? 3000 : 1000);
    }
    return ret;
}

static int netns_delete(const Sandbox *sb, Error *err)
{
    const char *del[] = {"ip", "netns", "delete", sb->netns, NULL};
    return spawn_check(del, NULL, NULL, err);
}

/* The dnsmasq PID libvirt recorded for network @name (0: none). */
static pid_t network_dnsmasq_pid(const Sandbox *sb, const char *name)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *text = NULL;
    if (asprintf(&path, "%s/run/network/%s.pid", sb->dir, name) < 0)
        return 0;
    if (fs_read_all(path, &text, NULL, NULL) < 0)
        return 0;
    long pid = strtol(text, NULL, 10);
    return pid > 0 ? (pid_t)pid : 0;
}

static bool link_exists(const Sandbox *sb, const char *name)
{
    const char *argv[] = {"ip", "-n", sb->netns, "link", "show", "dev", name, NULL};
    SpawnResult res = {0};
    bool yes = spawn_run(argv, NULL, &res, NULL) == 0 && res.status == 0;
    spawn_result_clear(&res);
    return yes;
}

/*
 * A daemon that died (killed, crashed) while starting a network leaves its bridge and dnsmasq
 * behind, but never recorded the network as started: the new daemon sees it inactive, and
 * starting it fails with "File exists" for every later run. The new daemon knows which of its
 * networks run; in our namespace the bridges of the others and every dnsmasq that no running
 * network owns are what the dead daemon left, and go. Runs only right after this sandbox's
 * daemon was started again in a namespace that already existed; libvirt's own autostart is
 * done by then (it runs before the daemon opens its socket).
 */
static void clear_leftovers(const Sandbox *sb)
{
    virt_init();
    virConnectPtr c = virConnectOpen(sb->uri);
    if (!c)
        return;
    virNetworkPtr *nets = NULL;
    int n = virConnectListAllNetworks(c, &nets, 0);
    _cleanup_free_ pid_t *keep = calloc(n > 0 ? (size_t)n : 1, sizeof(*keep));
    size_t n_keep = 0;
    _cleanup_free_ char **stale = calloc(n > 0 ? (size_t)n : 1, sizeof(*stale));
    size_t n_stale = 0;
    for (int i = 0; i < n; i++) {
        const char *name = virNetworkGetName(nets[i]);
        if (virNetworkIsActive(nets[i]) == 1) {
            pid_t pid = name ? network_dnsmasq_pid(sb, name) : 0;
            if (keep && pid > 0)
                keep[n_keep++] = pid;
        } else if (stale) {
            char *br = virNetworkGetBridgeName(nets[i]);
            if (br)
                stale[n_stale++] = br;
        }
        virNetworkFree(nets[i]);
    }
    free(nets);
    virConnectClose(c);
    if (!keep)
        return; /* out of memory: better to keep everything */

    _cleanup_free_ pid_t *pids = NULL;
    size_t np = 0;
    if (sandbox_netns_pids(sb->netns, &pids, &np, NULL) == 0) {
        for (size_t i = 0; i < np; i++) {
            char comm[32];
            bool kept = false;
            read_comm(pids[i], comm, sizeof(comm));
            for (size_t k = 0; k < n_keep; k++)
                kept = kept || keep[k] == pids[i];
            if (kept || strcmp(comm, "dnsmasq") != 0)
                continue;
            signal_pid(sb, pids[i], SIGTERM);
            if (!wait_gone(pids[i], 3000)) {
                signal_pid(sb, pids[i], SIGKILL);
                wait_gone(pids[i], 1000);
            }
        }
    }
    for (size_t i = 0; i < n_stale; i++) {
        if (link_exists(sb, stale[i])) {
            const char *del[] = {"ip", "-n", sb->netns, "link", "delete", stale[i], NULL};
            spawn_check(del, NULL, NULL, NULL);
        }
        free(stale[i]);
    }
}

/* The libvirtd processes in our namespace. New array. */
static size_t netns_daemons(const Sandbox *sb, pid_t **ret)
{
    pid_t *pids = NULL;
    size_t n = 0, k = 0;
    *ret = NULL;
    if (sandbox_netns_pids(sb->netns, &pids, &n, NULL) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char comm[32];
        read_comm(pids[i], comm, sizeof(comm));
        if (strcmp(comm, "libvirtd") == 0 && !pid_ended(pids[i]))
            pids[k++] = pids[i];
    }
    *ret = pids;
    return k;
}

/*
 * A libvirtd in our namespace that does not answer yet: a run that was killed started it and it
 * may still be starting (it holds the pid file, so a second one could not start). Give it the
 * time a start may take, then end it; whatever it left is cleared after our own daemon starts.
 * Returns true when it came up and can be used.
 */
static bool settle_stray_daemons(const Sandbox *sb)
{
    _cleanup_free_ pid_t *pids = NULL;
    if (netns_daemons(sb, &pids) == 0)
        return false;
    for (int waited = 0; waited < STRAY_WAIT_MS && !interrupt_pending(); waited += 50) {
        if (sandbox_is_running(sb, NULL))
            return true;
        _cleanup_free_ pid_t *now = NULL;
        if (netns_daemons(sb, &now) == 0)
            return false;
        sleep_ms(50);
    }
    size_t n = netns_daemons(sb, &pids);
    for (size_t i = 0; i < n; i++) {
        signal_pid(sb, pids[i], SIGTERM);
        if (!wait_gone(pids[i], STOP_TIMEOUT_MS)) {
            signal_pid(sb, pids[i], SIGKILL);
            wait_gone(pids[i], 2000);
        }
    }
    return false;
}

int sandbox_ensure(Sandbox *sb, bool *ret_started, Error *err)
{
    struct stat st;
    bool made_dir = false, made_netns = false;
    LabLock *lock = NULL;
    int r;

    if (ret_started)
        *ret_started = false;
    r = lablock_take(sb->root, sb->lab, true, &lock, NULL, err);
    if (r < 0)
        return r;
    if (sandbox_is_running(sb, NULL)) {
        lablock_release(lock);
        return 0;
    }
    bool had_netns = netns_exists(sb->netns);
    if (had_netns && !netns_is_ours(sb)) {
        lablock_release(lock);
        return error_set(err, -EEXIST,
                         "Network namespace '%s' exists but was not made by kvmlab for lab '%s'; "
                         "rename the lab, or remove it ('ip netns delete %s') if it is a "
                         "leftover",
                         sb->netns, sb->lab, sb->netns);
    }
    if (had_netns && settle_stray_daemons(sb)) {
        lablock_release(lock);
        return 0;
    }
    made_dir = stat(sb->dir, &st) < 0;
    r = write_config(sb, err);
    if (r < 0)
        goto fail;
    if (!had_netns) {
        r = netns_create(sb, &made_netns, err);
        if (r < 0)
            goto fail;
    } else {
        if (netns_marked_pending(sb)) {
            /* an earlier run died right after making it (it is pristine, or it would not be
             * ours): finish the job and own it from now on */
            made_netns = true;
            r = netns_mark(sb, err);
            if (r < 0)
                goto fail;
        }
        /* a run that died after marking it may not have got this far */
        r = netns_lo_up(sb, err);
        if (r < 0)
            goto fail;
    }
    r = start_daemon(sb, err);
    if (r < 0)
        goto fail;
    if (had_netns && !made_netns)
        clear_leftovers(sb);
    if (ret_started)
        *ret_started = true;
    lablock_release(lock);
    return 0;
fail:
    /* undo only what this call made; an existing sandbox keeps its state */
    stop_processes(sb, NULL);
    if (made_netns && netns_delete(sb, NULL) >= 0)
        netns_unmark(sb);
    if (made_dir)
        fs_rm_rf(sb->dir, NULL);
    lablock_release(lock);
    return r;
}

int sandbox_destroy(Sandbox *sb, Error *err)
{
    int ret = 0, r;
    LabLock *lock = NULL;
    r = lablock_take(sb->root, sb->lab, true, &lock, NULL, err);
    if (r < 0)
        return r;

    if (netns_exists(sb->netns) && !netns_is_ours(sb)) {
        /* someone else's namespace of that name: touch nothing in it */
        ret = error_set(err, -EEXIST,
                        "Network namespace '%s' was not made by kvmlab for lab '%s'; left alone",
                        sb->netns, sb->lab);
    } else {
        ret = stop_processes(sb, err);
        if (netns_exists(sb->netns)) {
            r = netns_delete(sb, err);
            if (r < 0 && !ret)
                ret = r;
        }
    }
    r = fs_rm_rf(sb->dir, err);
    if (r < 0 && !ret)
        ret = r;
    lablock_release(lock);
    return ret;
}
