/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Built images: a Debian tree made with debootstrap from this host's own apt mirror, turned
 * into an ext4 file system with `mkfs.ext4 -d` (no loop device, no mount on the host) and
 * converted to qcow2. The image's own kernel and initrd are kept beside it, so a node boots
 * them directly (IMAGE_BUILD_CMDLINE) with no boot loader in the image.
 *
 * The store's rules hold (imagestore.c does the bookkeeping): the work happens in a temporary
 * tree "<store>/.build-<name>.XXXXXX" that is always removed, mounts debootstrap may leave in it
 * included; the outputs are temporary files that the store renames into place, the image last.
 *
 * Every file written into the tree is opened with openat2(RESOLVE_IN_ROOT): a symlink in the
 * tree ("etc/machine-id" -> "/etc/machine-id") resolves inside the tree, never to the host's.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <mntent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/spawn.h"

#define GIB (1024ULL * 1024 * 1024)
#define MIB (1024ULL * 1024)

/* generous: debootstrap downloads some 300 MiB and runs every package's scripts */
#define DEBOOTSTRAP_TIMEOUT_MS (3 * 3600 * 1000)
#define CHROOT_TIMEOUT_MS      (10 * 60 * 1000)
#define MKFS_TIMEOUT_MS        (2 * 3600 * 1000)
/* an interrupted step gets this long to end after SIGTERM before SIGKILL */
#define STOP_GRACE_MS 10000

/* ---- recipes ----------------------------------------------------------------------------- */

typedef struct Recipe {
    const char *name;
    const char *suite; /* Debian's code name */
    const char *os;    /* osinfo id */
    /* Raise when what the recipe makes changes (packages, configuration): the store name
     * hashes it, so the next run builds anew instead of using the old image. */
    const char *revision;
    const char *packages; /* debootstrap --include */
} Recipe;

/*
 * python3-cffi-backend: debootstrap does not resolve virtual packages (python3-cryptography
 * needs python3-cffi-backend-api-*), so the provider is named. locales: cloud-init's cc_locale
 * runs update-locale. mount: swapon/swapoff, not in minbase. linux-image-amd64 and
 * initramfs-tools: the image carries its own kernel (initramfs-tools' default MODULES=most
 * finds a virtio, SATA or SCSI root by its label).
 */
static const Recipe recipes[] = {
        {
                .name = "debian-12",
                .suite = "bookworm",
                .os = "debian12",
                .revision = "debian-12/1",
                .packages = "python3-cffi-backend,locales,mount,systemd-sysv,udev,dbus,cloud-init,"
                            "containerd,ifupdown,isc-dhcp-client,iproute2,netbase,kmod,procps,"
                            "sudo,openssh-server,iptables,qemu-guest-agent,linux-image-amd64,"
                            "initramfs-tools,ca-certificates,less",
        },
};

static const Recipe *recipe_find(const char *name)
{
    for (size_t i = 0; name && i < ELEMENTSOF(recipes); i++)
        if (strcmp(recipes[i].name, name) == 0)
            return &recipes[i];
    return NULL;
}

bool image_recipe_known(const char *recipe)
{
    return recipe_find(recipe) != NULL;
}

char *image_recipe_names(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < ELEMENTSOF(recipes); i++)
        fprintf(f, "%s'%s'", i ? ", " : "", recipes[i].name);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

const char *image_recipe_revision(const char *recipe)
{
    const Recipe *r = recipe_find(recipe);
    return r ? r->revision : NULL;
}

const char *image_recipe_os(const char *recipe)
{
    const Recipe *r = recipe_find(recipe);
    return r ? r->os : NULL;
}

/* ---- the host's Debian mirror ------------------------------------------------------------ */

/* Whether the whitespace-separated list @list holds the word @word. */
static bool list_has(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t");
        size_t l = strcspn(p, " \t");
        if (l == wl && strncmp(p, word, l) == 0)
            return true;
        p += l;
    }
    return false;
}

/* A URI debootstrap can fetch from. */
static bool uri_usable(const char *uri, size_t len)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "file:/"};
    for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
        if (len > strlen(schemes[i]) && strncmp(uri, schemes[i], strlen(schemes[i])) == 0)
            return true;
    return false;
}

/* The first usable URI of the list @uris, new string in *ret; 0 when none, 1 found, -ENOMEM. */
static int first_usable(const char *uris, char **ret)
{
    for (const char *p = uris; p && *p;) {
        p += strspn(p, " \t");
        size_t l = strcspn(p, " \t");
        if (l && uri_usable(p, l)) {
            *ret = strndup(p, l);
            return *ret ? 1 : -ENOMEM;
        }
        p += l;
    }
    return 0;
}

/* One-line format: "deb [OPTIONS] URI SUITE COMPONENT...". 1 found, 0 not, -ENOMEM. */
static int mirror_from_list(char *text, const char *suite, char **ret)
{
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(l, '#');
        if (hash)
            *hash = 0;
        char *w[4] = {0};
        size_t n = 0;
        char *p = l;
        while (n < 4) {
            p += strspn(p, " \t\r");
            if (!*p)
                break;
            if (n == 1 && *p == '[') {
                /* [arch=amd64 signed-by=...] */
                char *end = strchr(p, ']');
                if (!end)
                    break;
                p = end + 1;
                continue;
            }
            size_t len = strcspn(p, " \t\r");
            w[n++] = p;
            p += len;
            if (*p)
                *p++ = 0;
        }
        if (n < 4 || strcmp(w[0], "deb") != 0 || strcmp(w[2], suite) != 0 ||
            !uri_usable(w[1], strlen(w[1])))
            continue;
        /* w[3] is the first component; the rest of the line the others */
        if (strcmp(w[3], "main") != 0 && !list_has(p, "main"))
            continue;
        *ret = strdup(w[1]);
        return *ret ? 1 : -ENOMEM;
    }
    return 0;
}

typedef struct Stanza {
    char *types, *uris, *suites, *components, *enabled;
} Stanza;

static void stanza_clear(Stanza *s)
{
    free(s->types);
    free(s->uris);
    free(s->suites);
    free(s->components);
    free(s->enabled);
    *s = (Stanza){0};
}

/* 1 when stanza @s names a usable mirror of @suite (into *ret), 0 when not, -ENOMEM. */
static int stanza_mirror(const Stanza *s, const char *suite, char **ret)
{
    if (!s->uris || !s->suites || !list_has(s->suites, suite))
        return 0;
    if (s->types && !list_has(s->types, "deb"))
        return 0;
    if (s->components && !list_has(s->components, "main"))
        return 0;
    if (s->enabled && strncasecmp(s->enabled + strspn(s->enabled, " \t"), "no", 2) == 0)
        return 0;
    return first_usable(s->uris, ret);
}

/* Append continuation or first text @v to field *@f. 0 or -ENOMEM. */
static int field_add(char **f, const char *v)
{
    char *n = NULL;
    if (asprintf(&n, "%s%s%s", *f ? *f : "", *f ? " " : "", v) < 0)
        return -ENOMEM;
    free(*f);
    *f = n;
    return 0;
}

/* deb822: stanzas of "Field: value" lines (continued by lines that start with a blank),
 * separated by empty lines; "#" lines are comments. 1 found, 0 not, -ENOMEM. */
static int mirror_from_sources(const char *text, const char *suite, char **ret)
{
    Stanza s = {0};
    char **cur = NULL; /* the field a continuation line belongs to, NULL: one we ignore */
    int r = 0;
    for (const char *l = text; r == 0 && l && *l;) {
        size_t len = strcspn(l, "\n");
        _cleanup_free_ char *line = strndup(l, len);
        l += len + (l[len] == '\n');
        if (!line) {
            r = -ENOMEM;
            break;
        }
        char *e = line + strlen(line);
        while (e > line && isspace((unsigned char)e[-1]))
            *--e = 0;
        if (line[0] == '#')
            continue;
        if (!line[0]) {
            r = stanza_mirror(&s, suite, ret);
            stanza_clear(&s);
            cur = NULL;
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (cur)
                r = field_add(cur, line + strspn(line, " \t"));
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon) {
            cur = NULL;
            continue;
        }
        *colon = 0;
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        cur = strcasecmp(line, "Types") == 0        ? &s.types
              : strcasecmp(line, "URIs") == 0       ? &s.uris
              : strcasecmp(line, "Suites") == 0     ? &s.suites
              : strcasecmp(line, "Components") == 0 ? &s.components
              : strcasecmp(line, "Enabled") == 0    ? &s.enabled
                                                    : NULL;
        if (cur)
            r = field_add(cur, v);
    }
    if (r == 0)
        r = stanza_mirror(&s, suite, ret);
    stanza_clear(&s);
    return r;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Read @path into *text; 0, 1 when it is missing or unreadable (skipped as apt would warn),
 * -ENOMEM. */
static int read_source(const char *path, char **text)
{
    Error rerr = ERROR_INIT;
    int r = fs_read_all(path, text, NULL, &rerr);
    error_clear(&rerr);
    if (r == -ENOMEM)
        return r;
    return r < 0 ? 1 : 0;
}

int image_build_find_mirror(const char *sources_list, const char *sources_dir, const char *suite,
                            char **ret, Error *err)
{
    /* r: 0 looking on, 1 found, -ENOMEM */
    int r = 0;
    if (sources_list) {
        _cleanup_free_ char *text = NULL;
        r = read_source(sources_list, &text);
        if (r == 1)
            r = 0; /* no such file */
        else if (r == 0)
            r = mirror_from_list(text, suite, ret);
    }
    struct dirent **names = NULL;
    int n = r != 0 || !sources_dir ? 0 : scandir(sources_dir, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        const char *f = names[i]->d_name;
        bool list = ends_with(f, ".list"), deb822 = ends_with(f, ".sources");
        if (r == 0 && f[0] != '.' && (list || deb822)) {
            _cleanup_free_ char *path = fs_path_join(sources_dir, f);
            _cleanup_free_ char *text = NULL;
            r = path ? read_source(path, &text) : -ENOMEM;
            if (r == 1)
                r = 0;
            else if (r == 0)
                r = list ? mirror_from_list(text, suite, ret)
                         : mirror_from_sources(text, suite, ret);
        }
        free(names[i]);
    }
    free(names);
    if (r == -ENOMEM)
        return error_set(err, r, "Out of memory");
    if (r == 0)
        return error_set(err, -ENOENT,
                         "This host's apt sources ('%s', '%s/*.list', '%s/*.sources') name no "
                         "Debian mirror for '%s' (a 'deb' entry with component 'main'); set "
                         "KVMLAB_MIRROR to one, for example 'http://deb.debian.org/debian'",
                         sources_list ? sources_list : "", sources_dir ? sources_dir : "",
                         sources_dir ? sources_dir : "", suite);
    return 0;
}

/* ---- the work tree: mounts, processes, removal ------------------------------------------- */

static bool path_under(const char *p, const char *root)
{
    size_t l = strlen(root);
    return strncmp(p, root, l) == 0 && (p[l] == 0 || p[l] == '/');
}

static int by_depth(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* The mount points at or under @root (getmntent decodes the octal escapes), deepest first. */
static int mounts_under(const char *root, char ***ret, size_t *ret_n)
{
    FILE *f = setmntent("/proc/self/mounts", "re");
    if (!f)
        return -errno;
    char **v = NULL;
    size_t n = 0;
    struct mntent me;
    char buf[8192];
    int r = 0;
    while (getmntent_r(f, &me, buf, sizeof(buf))) {
        if (!path_under(me.mnt_dir, root))
            continue;
        char **nv = realloc(v, (n + 1) * sizeof(*v));
        if (!nv || !(nv[n] = strdup(me.mnt_dir))) {
            v = nv ? nv : v;
            r = -ENOMEM;
            break;
        }
        v = nv;
        n++;
    }
    endmntent(f);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), by_depth);
    *ret = v;
    *ret_n = n;
    return 0;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Detach every mount at or under @root (debootstrap mounts proc and sys in its target and
 * leaves them when it fails). 0, or -EBUSY with @err naming one that stays. */
static int umount_under(const char *root, Error *err)
{
    /* stacked mounts need more than one pass */
    for (int pass = 0; pass < 16; pass++) {
        char **v = NULL;
        size_t n = 0;
        int r = mounts_under(root, &v, &n);
        if (r < 0)
            return error_set_errno(err, r, "Cannot read '/proc/self/mounts'");
        if (n == 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            umount2(v[i], MNT_DETACH | UMOUNT_NOFOLLOW);
        if (pass == 15)
            r = error_set(err, -EBUSY, "Cannot unmount '%s' in the build tree", v[0]);
        strv_free(v, n);
        if (r < 0)
            return r;
    }
    return 0;
}

/* SIGKILL every process whose root directory is in @root: what a package script started in
 * the chroot and left behind (a daemon would keep files of the tree open). Only processes
 * chrooted into our own build tree, so only ours. */
static void kill_chrooted(const char *root)
{
    DIR *d = opendir("/proc");
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
            continue;
        char link[300], target[4096];
        snprintf(link, sizeof(link), "/proc/%s/root", de->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (path_under(target, root))
            kill((pid_t)atoi(de->d_name), SIGKILL);
    }
    closedir(d);
}

static __thread int remove_errno;
static __thread char remove_failed[512];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = flag == FTW_DP || flag == FTW_DNR ? rmdir(path) : unlink(path);
    if (r < 0 && errno != ENOENT && !remove_errno) {
        remove_errno = errno;
        snprintf(remove_failed, sizeof(remove_failed), "%s", path);
    }
    return 0; /* on: remove what can be */
}

int image_build_tree_remove(const char *path, Error *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return error_set_errno(err, -errno, "Cannot read the build tree '%s'", path);
    }
    /* /proc/self/mounts shows canonical paths */
    _cleanup_free_ char *real = realpath(path, NULL);
    if (real) {
        kill_chrooted(real);
        int r = umount_under(real, err);
        if (r < 0)
            return r;
    }
    remove_errno = 0;
    remove_failed[0] = 0;
    if (nftw(path, remove_one, 64, FTW_PHYS | FTW_MOUNT | FTW_DEPTH) < 0 && !remove_errno) {
        remove_errno = errno;
        snprintf(remove_failed, sizeof(remove_failed), "%s", path);
    }
    if (lstat(path, &st) == 0)
        return error_set(err, -(remove_errno ? remove_errno : EBUSY),
                         "Cannot remove the build tree '%s': '%s': %s", path, remove_failed,
                         strerror(remove_errno ? remove_errno : EBUSY));
    return 0;
}

static __thread uint64_t tree_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)flag;
    (void)ftw;
    /* what a 4 KiB-block ext4 needs for it, roughly */
    if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISLNK(st->st_mode))
        tree_bytes += ((uint64_t)st->st_size + 4095) / 4096 * 4096;
    return 0;
}

/* Bytes of the files under @root (its own file system only). */
static uint64_t tree_size(const char *root)
{
    tree_bytes = 0;
    nftw(root, add_size, 64, FTW_PHYS | FTW_MOUNT);
    return tree_bytes;
}

/* ---- steps: children that an interrupt stops --------------------------------------------- */

typedef struct Build {
    const Recipe *recipe;
    const char *name;
    char *tree; /* <store>/.build-<name>.XXXXXX, canonical */
    char *root; /* tree/root: debootstrap's target */
    char *raw;  /* tree/disk.raw: the file system, before conversion */
    int root_fd;
    ImageProgressFn progress;
    void *userdata;
} Build;

typedef struct StepJob {
    const char *const *argv;
    int timeout_ms;
    int pid_fd; /* write end: the child sends its PID */
    SpawnResult res;
    Error err;
    int r;
    atomic_bool done;
} StepJob;

/* In the child: a process group of its own (so an interrupt ends it with all it started), and
 * its PID to the parent; async-signal-safe calls only. */
static int step_child_setup(void *userdata)
{
    int fd = *(const int *)userdata;
    if (setpgid(0, 0) < 0)
        return -errno;
    pid_t pid = getpid();
    if (write(fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
        return -EIO;
    return 0;
}

static void *step_thread(void *userdata)
{
    StepJob *job = userdata;
    SpawnOpts o = {
            .timeout_ms = job->timeout_ms,
            .child_setup = step_child_setup,
            .child_setup_data = &job->pid_fd,
    };
    job->r = spawn_run(job->argv, &o, &job->res, &job->err);
    atomic_store(&job->done, true);
    return NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef uint64_t (*WatchFn)(const Build *b);

/* The line of a failed child's output that says why: debootstrap's last "E: " line, else the
 * last line of stderr, else of stdout. Borrowed into *ret with its length. */
static void why_line(const SpawnResult *res, const char **ret, int *ret_len)
{
    const char *best = NULL, *last = NULL;
    size_t best_len = 0, last_len = 0;
    const char *texts[] = {res->out, res->err}; /* stderr last: its lines win */
    for (size_t t = 0; t < 2; t++)
        for (const char *l = texts[t]; l && *l;) {
            size_t len = strcspn(l, "\n");
            if (strncmp(l, "E: ", 3) == 0)
                best = l, best_len = len;
            if (len > 0 && len != strspn(l, " \t\r"))
                last = l, last_len = len;
            l += len + (l[len] == '\n');
        }
    if (!best)
        best = last, best_len = last_len;
    *ret = best ? best : "";
    *ret_len = (int)best_len;
}

/*
 * Run @argv (package @package provides it; @doing says what it does in messages, NULL: its
 * name) as step @what of build @b: @watch (may be NULL)
 * tells progress against @total every two seconds; a pending interrupt ends the child's whole
 * process group (SIGTERM, SIGKILL after a grace). 0 when it exited 0; -EINTR, -ETIME, -ENOENT
 * (not installed), -EIO (a failure, quoting why) with @err set.
 */
static int step_run(const Build *b, const char *const *argv, int timeout_ms, const char *package,
                    const char *doing, const char *what, WatchFn watch, uint64_t total, Error *err)
{
    StepJob job = {.argv = argv, .timeout_ms = timeout_ms, .pid_fd = -1};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0)
        return error_set_errno(err, -errno, "Cannot run '%s'", argv[0]);
    job.pid_fd = pfd[1];
    pthread_t t;
    int r = pthread_create(&t, NULL, step_thread, &job);
    if (r != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return error_set_errno(err, -r, "Cannot run '%s'", argv[0]);
    }
    pid_t child = 0;
    long long stop_at = 0, next_watch = 0;
    bool killed = false;
    while (!atomic_load(&job.done)) {
        poll(NULL, 0, 100);
        if (child == 0 && read(pfd[0], &child, sizeof(child)) != (ssize_t)sizeof(child))
            child = 0;
        long long now = now_ms();
        if (interrupt_pending() && child > 0) {
            if (!stop_at) {
                kill(-child, SIGTERM);
                stop_at = now;
            } else if (!killed && now - stop_at > STOP_GRACE_MS) {
                kill(-child, SIGKILL);
                killed = true;
            }
        }
        if (b->progress && !stop_at && now >= next_watch) {
            b->progress(what, watch ? watch(b) : 0, total, b->userdata);
            next_watch = now + 2000;
        }
    }
    pthread_join(t, NULL);
    close(pfd[0]);
    close(pfd[1]);

    if (job.r < 0) {
        /* a timeout kills the child only: its group goes too */
        if (child > 0)
            kill(-child, SIGKILL);
        r = error_set(err, job.r, "%s", job.err.message);
    } else if (interrupt_pending()) {
        r = error_set(err, -EINTR, "Interrupted by %s while building image '%s' (%s)",
                      interrupt_signal_name(), b->name, argv[0]);
    } else if (job.res.status == 127 && strstr(job.res.err, "cannot execute")) {
        r = error_set(err, -ENOENT, "Cannot run '%s' (Debian package %s) to build image '%s'",
                      argv[0], package, b->name);
    } else if (job.res.status != 0) {
        const char *why;
        int len;
        why_line(&job.res, &why, &len);
        r = error_set(err, -EIO, "Cannot build image '%s': %s failed with status %d%s%.*s", b->name,
                      doing ? doing : argv[0], job.res.status, len ? ": " : "", len, why);
    } else {
        r = 0;
        if (b->progress && watch)
            b->progress(what, total ? total : watch(b), total ? total : watch(b), b->userdata);
    }
    error_clear(&job.err);
    spawn_result_clear(&job.res);
    return r;
}

static int check_interrupt(const Build *b, Error *err)
{
    if (!interrupt_pending())
        return 0;
    return error_set(err, -EINTR, "Interrupted by %s while building image '%s'",
                     interrupt_signal_name(), b->name);
}

static uint64_t watch_tree(const Build *b)
{
    return tree_size(b->root);
}

static uint64_t watch_raw(const Build *b)
{
    struct stat st;
    return stat(b->raw, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* ---- files inside the tree --------------------------------------------------------------- */

/* @rel opened inside the tree: symlinks resolve as if the tree were "/", so none leads out. */
static int root_open(const Build *b, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, b->root_fd, rel, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* The directory @dir of the tree (O_PATH, for *at() calls). */
static int root_dir(const Build *b, const char *dir, Error *err)
{
    int fd = root_open(b, dir, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return error_set_errno(err, fd, "Cannot build image '%s': no directory '/%s' in the tree",
                               b->name, dir);
    return fd;
}

/* Write @data as file @dir/@file of the tree (replacing what is there, a symlink included). */
static int root_write(const Build *b, const char *dir, const char *file, const char *data,
                      mode_t mode, Error *err)
{
    _cleanup_close_ int dfd = root_dir(b, dir, err);
    if (dfd < 0)
        return dfd;
    if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
        return error_set_errno(err, -errno, "Cannot build image '%s': cannot replace '/%s/%s'",
                               b->name, dir, file);
    _cleanup_close_ int fd =
            openat(dfd, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    size_t len = strlen(data);
    if (fd < 0 || fchmod(fd, mode) < 0 || (len && write(fd, data, len) != (ssize_t)len))
        return error_set_errno(err, -errno, "Cannot build image '%s': cannot write '/%s/%s'",
                               b->name, dir, file);
    return 0;
}

/* Remove the entries of tree directory @dir whose names start with @prefix ("" every one but
 * @keep); subdirectories stay. A missing directory is fine. */
static int root_unlink_matching(const Build *b, const char *dir, const char *prefix,
                                const char *keep, Error *err)
{
    int fd = root_open(b, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return error_set_errno(err, fd, "Cannot build image '%s': cannot read '/%s'", b->name, dir);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_set_errno(err, -errno, "Cannot read '/%s'", dir);
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d)) && r == 0) {
        if (de->d_type == DT_DIR || strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            (keep && strcmp(de->d_name, keep) == 0))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && errno != EISDIR)
            r = error_set_errno(err, -errno, "Cannot build image '%s': cannot remove '/%s/%s'",
                                b->name, dir, de->d_name);
    }
    closedir(d);
    return r;
}

/* ---- the steps --------------------------------------------------------------------------- */

static int step_debootstrap(const Build *b, const char *mirror, Error *err)
{
    _cleanup_free_ char *include = NULL, *what = NULL, *doing = NULL;
    if (asprintf(&include, "--include=%s", b->recipe->packages) < 0 ||
        asprintf(&what, "debootstrap %s", b->name) < 0 ||
        asprintf(&doing, "debootstrap of '%s' from '%s'", b->recipe->suite, mirror) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    const char *argv[] = {
            "debootstrap", "--variant=minbase", include, b->recipe->suite, b->root, mirror, NULL};
    return step_run(b, argv, DEBOOTSTRAP_TIMEOUT_MS, "debootstrap", doing, what, watch_tree, 0,
                    err);
}

/* Every node made from the image is itself: no machine-id (systemd makes one at first boot),
 * no ssh host keys (cloud-init makes them), no host's name or resolver; cloud-init reads only
 * the NoCloud seed and probes no cloud metadata service. */
static int step_configure(const Build *b, Error *err)
{
    static const char hosts[] = "127.0.0.1\tlocalhost\n"
                                "::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                                "ff02::1\t\tip6-allnodes\n"
                                "ff02::2\t\tip6-allrouters\n";
    _cleanup_free_ char *what = NULL, *fstab = NULL;
    if (asprintf(&what, "configuring %s", b->name) < 0 ||
        asprintf(&fstab, "LABEL=%s / ext4 defaults,errors=remount-ro 0 1\n",
                 IMAGE_BUILD_ROOT_LABEL) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    if (b->progress)
        b->progress(what, tree_size(b->root), 0, b->userdata);
    int r = root_write(b, "etc", "fstab", fstab, 0644, err);
    if (r == 0)
        r = root_write(b, "etc", "hostname", "localhost\n", 0644, err);
    if (r == 0)
        r = root_write(b, "etc", "hosts", hosts, 0644, err);
    if (r == 0)
        r = root_write(b, "etc", "machine-id", "", 0444, err);
    if (r == 0)
        r = root_write(b, "etc/cloud/cloud.cfg.d", "90_kvmlab.cfg",
                       "# kvmlab: nodes get their configuration from a NoCloud seed only\n"
                       "datasource_list: [ NoCloud, None ]\n",
                       0644, err);
    if (r == 0)
        r = root_unlink_matching(b, "var/lib/dbus", "machine-id", NULL, err);
    if (r == 0)
        r = root_unlink_matching(b, "etc/ssh", "ssh_host_", NULL, err);
    if (r == 0)
        r = root_unlink_matching(b, "etc", "resolv.conf", NULL, err);
    if (r < 0)
        return r;

    const char *clean[] = {"chroot", b->root, "apt-get", "clean", NULL};
    if ((r = step_run(b, clean, CHROOT_TIMEOUT_MS, "coreutils", "'apt-get clean' in the tree", what,
                      NULL, 0, err)) < 0)
        return r;
    /* the package lists of the host's mirror: stale in a week, and a node may see another */
    return root_unlink_matching(b, "var/lib/apt/lists", "", "lock", err);
}

/* The newest "@prefix<version>" of /boot in the tree, version in *ret (new string). */
static int boot_newest(const Build *b, const char *prefix, char **ret, Error *err)
{
    int fd = root_open(b, "boot", O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return error_set_errno(err, fd, "Cannot build image '%s': cannot read '/boot'", b->name);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_set_errno(err, -errno, "Cannot read '/boot'");
    }
    char *best = NULL;
    int r = 0;
    struct dirent *de;
    size_t pl = strlen(prefix);
    while ((de = readdir(d)) && r == 0) {
        if (de->d_type != DT_REG || strncmp(de->d_name, prefix, pl) != 0 || !de->d_name[pl])
            continue;
        if (!best || strverscmp(de->d_name + pl, best) > 0) {
            free(best);
            best = strdup(de->d_name + pl);
            if (!best)
                r = error_set(err, -ENOMEM, "Out of memory");
        }
    }
    closedir(d);
    if (r == 0 && !best)
        r = error_set(err, -ENOENT, "Cannot build image '%s': the tree has no '/boot/%s*'", b->name,
                      prefix);
    if (r < 0) {
        free(best);
        return r;
    }
    *ret = best;
    return 0;
}

/* Copy tree file /boot/@file to @dst (mode 0644, synced). */
static int copy_boot_file(const Build *b, const char *file, const char *dst, Error *err)
{
    _cleanup_free_ char *rel = fs_path_join("boot", file);
    if (!rel)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_close_ int in = root_open(b, rel, O_RDONLY | O_NOFOLLOW, 0);
    if (in < 0)
        return error_set_errno(err, in, "Cannot build image '%s': cannot read '/%s'", b->name, rel);
    _cleanup_close_ int out =
            open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0 || fchmod(out, 0644) < 0)
        return error_set_errno(err, -errno, "Cannot write '%s'", dst);
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, -errno, "Cannot read '/%s' of the build tree", rel);
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return error_set_errno(err, -errno, "Cannot write '%s'", dst);
            off += w;
        }
    }
    if (fsync(out) < 0)
        return error_set_errno(err, -errno, "Cannot sync '%s'", dst);
    return 0;
}

/* The image's kernel and initrd (the newest kernel, and the initrd of that version). */
static int step_kernel(const Build *b, const char *kernel, const char *initrd, Error *err)
{
    _cleanup_free_ char *version = NULL, *kfile = NULL, *ifile = NULL;
    int r = boot_newest(b, "vmlinuz-", &version, err);
    if (r < 0)
        return r;
    if (asprintf(&kfile, "vmlinuz-%s", version) < 0 ||
        asprintf(&ifile, "initrd.img-%s", version) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    if ((r = copy_boot_file(b, kfile, kernel, err)) < 0 ||
        (r = copy_boot_file(b, ifile, initrd, err)) < 0)
        return r;
    /* a bzImage says so at 0x202: what QEMU's -kernel boots */
    char magic[4] = {0};
    _cleanup_close_ int fd = open(kernel, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, magic, 4, 0x202) != 4 || memcmp(magic, "HdrS", 4) != 0)
        return error_set(err, -EINVAL,
                         "Cannot build image '%s': '/boot/%s' of the tree is no bzImage kernel",
                         b->name, kfile);
    return 0;
}

/* The tree as an ext4 file system in a sparse raw file, then qcow2. */
static int step_image(const Build *b, const char *tmp, Error *err)
{
    /* nothing may be mounted in the tree: mkfs -d would copy /proc */
    int r = umount_under(b->root, err);
    if (r < 0)
        return r;
    uint64_t tree = tree_size(b->root);
    uint64_t size = tree + tree * 3 / 10 + GIB;
    if (size < 4 * GIB)
        size = 4 * GIB;
    size = (size + MIB - 1) / MIB * MIB;
    _cleanup_close_ int fd = open(b->raw, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        return error_set_errno(err, -errno, "Cannot create '%s'", b->raw);

    _cleanup_free_ char *what = NULL;
    if (asprintf(&what, "making the file system %s", b->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    const char *mkfs[] = {"mkfs.ext4", "-q",    "-F",   "-L", IMAGE_BUILD_ROOT_LABEL,
                          "-d",        b->root, b->raw, NULL};
    if ((r = step_run(b, mkfs, MKFS_TIMEOUT_MS, "e2fsprogs", "mkfs.ext4", what, watch_raw, tree,
                      err)) < 0)
        return r;
    if ((r = check_interrupt(b, err)) < 0)
        return r;

    free(what);
    if (asprintf(&what, "converting %s", b->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return qemu_img_convert(b->raw, "raw", tmp, watch_raw(b), what, b->progress, b->userdata, err);
}

int image_build_run(const char *dir, const char *name, const char *recipe, const char *tmp,
                    const char *kernel_tmp, const char *initrd_tmp, ImageProgressFn progress,
                    void *userdata, Error *err)
{
    Build b = {.name = name, .root_fd = -1, .progress = progress, .userdata = userdata};
    b.recipe = recipe_find(recipe);
    if (!b.recipe) {
        _cleanup_free_ char *known = image_recipe_names();
        return error_set(err, -EINVAL, "Unknown build recipe '%s'; the known recipes are %s",
                         recipe, known ? known : "");
    }
    const char *env = getenv("KVMLAB_MIRROR");
    _cleanup_free_ char *mirror = NULL;
    int r = 0;
    if (env && *env)
        mirror = strdup(env);
    else
        r = image_build_find_mirror("/etc/apt/sources.list", "/etc/apt/sources.list.d",
                                    b.recipe->suite, &mirror, err);
    if (r < 0)
        return r;
    if (!mirror)
        return error_set(err, -ENOMEM, "Out of memory");
    if (geteuid() != 0)
        return error_set(err, -EPERM,
                         "Building image '%s' needs root: debootstrap installs packages as root "
                         "into the new tree",
                         name);

    _cleanup_free_ char *tmpl = NULL;
    if (asprintf(&tmpl, "%s/.build-%s.XXXXXX", dir, name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!mkdtemp(tmpl))
        return error_set_errno(err, -errno, "Cannot create a build directory in '%s'", dir);
    b.tree = realpath(tmpl, NULL);
    if (!b.tree)
        r = error_set_errno(err, -errno, "Cannot resolve '%s'", tmpl);
    else if (!(b.root = fs_path_join(b.tree, "root")) ||
             !(b.raw = fs_path_join(b.tree, "disk.raw")))
        r = error_set(err, -ENOMEM, "Out of memory");
    else if (mkdir(b.root, 0755) < 0)
        r = error_set_errno(err, -errno, "Cannot create '%s'", b.root);

    if (r == 0)
        r = check_interrupt(&b, err);
    if (r == 0)
        r = step_debootstrap(&b, mirror, err);
    if (r == 0 && (b.root_fd = open(b.root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        r = error_set_errno(err, -errno, "Cannot open '%s'", b.root);
    if (r == 0)
        r = check_interrupt(&b, err);
    if (r == 0)
        r = step_configure(&b, err);
    if (r == 0)
        r = step_kernel(&b, kernel_tmp, initrd_tmp, err);
    if (r == 0)
        r = check_interrupt(&b, err);
    if (r == 0)
        r = step_image(&b, tmp, err);

    if (b.root_fd >= 0)
        close(b.root_fd);
    /* always, and the first error stays the one reported */
    Error cerr = ERROR_INIT;
    int c = image_build_tree_remove(b.tree ? b.tree : tmpl, &cerr);
    if (c < 0 && r == 0)
        r = error_set(err, c, "%s", cerr.message);
    else if (c < 0)
        error_append(err, "%s", cerr.message);
    error_clear(&cerr);
    if (r < 0) {
        unlink(tmp);
        unlink(kernel_tmp);
        unlink(initrd_tmp);
    }
    free(b.tree);
    free(b.root);
    free(b.raw);
    return r;
}

int image_store_build(const char *state_root, const LabImage *img, ImageProgressFn progress,
                      void *userdata, ImageInfo *ret, Error *err)
{
    if (!img || img->kind != LAB_IMAGE_BUILD)
        return error_set(err, -EINVAL, "Image '%s' is not a built image",
                         img && img->name ? img->name : "");
    /* the store's frame: name, locks, cache hit, record; it calls image_build_run() */
    return image_store_import(state_root, img, NULL, progress, userdata, ret, err);
}
