/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qemu-img: what it says a file is (info, JSON read with libfyaml) and conversion to qcow2. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/interrupt.h"
#include "kvmlab/spawn.h"

/* qemu-img info answers in milliseconds; a conversion may take hours on a slow disk */
#define INFO_TIMEOUT_MS    (60 * 1000)
#define CONVERT_TIMEOUT_MS (24 * 3600 * 1000)

void qemu_img_info_clear(QemuImgInfo *i)
{
    if (!i)
        return;
    free(i->format);
    free(i->backing);
    free(i->data_file);
    free(i->create_type);
    for (size_t k = 0; k < i->n_extents; k++)
        free(i->extents[k]);
    free(i->extents);
    *i = (QemuImgInfo){0};
}

static void diag_discard(struct fy_diag *d, void *user, const char *buf, size_t len)
{
    /* a parse failure is reported through Error: libfyaml must not write to our stderr */
    (void)d;
    (void)user;
    (void)buf;
    (void)len;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fy_document *, fy_document_destroy)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fy_diag *, fy_diag_destroy)

/* The scalar at @path under @n, NULL when absent or not a scalar. */
static const char *scalar_at(struct fy_node *n, const char *path)
{
    struct fy_node *v = fy_node_by_path(n, path, (size_t)-1, FYNWF_DONT_FOLLOW);
    return v && fy_node_is_scalar(v) ? fy_node_get_scalar0(v) : NULL;
}

int image_parse_u64(const char *s, uint64_t *ret)
{
    if (!s || !*s || *s == '-')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int u64_at(struct fy_node *n, const char *path, uint64_t *ret)
{
    return image_parse_u64(scalar_at(n, path), ret);
}

static int dup_at(struct fy_node *n, const char *path, char **ret)
{
    const char *s = scalar_at(n, path);
    *ret = NULL;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int qemu_img_info_parse(const char *json, QemuImgInfo *ret, Error *err)
{
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    _cleanup_(fy_diag_destroyp) struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag)
        return error_set(err, -ENOMEM, "Out of memory");
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_JSON_FORCE, .diag = diag};
    _cleanup_(fy_document_destroyp) struct fy_document *doc =
            fy_document_build_from_string(&cfg, json, (size_t)-1);
    struct fy_node *root = doc ? fy_document_root(doc) : NULL;
    if (!root || !fy_node_is_mapping(root))
        return error_set(err, -EINVAL, "qemu-img info gave no JSON object");

    QemuImgInfo i = {0};
    int r = dup_at(root, "/format", &i.format);
    if (r == 0 && !i.format)
        r = -EINVAL;
    if (r == 0)
        r = u64_at(root, "/virtual-size", &i.virtual_size);
    if (r == 0 && u64_at(root, "/actual-size", &i.actual_size) < 0)
        i.actual_size = 0; /* absent for some protocols: not needed to go on */
    if (r == 0)
        r = dup_at(root, "/full-backing-filename", &i.backing);
    if (r == 0 && !i.backing)
        r = dup_at(root, "/backing-filename", &i.backing);
    if (r == 0)
        r = dup_at(root, "/format-specific/data/data-file", &i.data_file);
    if (r == 0 && i.format && strcmp(i.format, "vmdk") == 0) {
        r = dup_at(root, "/format-specific/data/create-type", &i.create_type);
        struct fy_node *ext = fy_node_by_path(root, "/format-specific/data/extents", (size_t)-1, 0);
        if (r == 0 && ext && fy_node_is_sequence(ext)) {
            int n = fy_node_sequence_item_count(ext);
            i.extents = calloc(n > 0 ? (size_t)n : 1, sizeof(char *));
            if (!i.extents)
                r = -ENOMEM;
            for (int k = 0; r == 0 && k < n; k++) {
                struct fy_node *e = fy_node_sequence_get_by_index(ext, k);
                r = dup_at(e, "/filename", &i.extents[i.n_extents]);
                if (r == 0 && !i.extents[i.n_extents])
                    r = -EINVAL;
                if (r == 0)
                    i.n_extents++;
            }
        }
    }
    if (r < 0) {
        qemu_img_info_clear(&i);
        return r == -ENOMEM ? error_set(err, r, "Out of memory")
                            : error_set(err, r, "qemu-img info gave no format or virtual size");
    }
    *ret = i;
    return 0;
}

int qemu_img_info(const char *path, QemuImgInfo *ret, Error *err)
{
    /* -U: a file a running guest holds open (a lab disk's content under its overlay) is read
     * all the same; info only reads */
    const char *argv[] = {"qemu-img", "info", "-U", "--output=json", path, NULL};
    SpawnOpts o = {.timeout_ms = INFO_TIMEOUT_MS};
    SpawnResult res = {0};
    int r = spawn_run(argv, &o, &res, err);
    if (r < 0)
        return r;
    if (res.status == 127 && strstr(res.err, "cannot execute")) {
        r = error_set(err, -ENOENT,
                      "Cannot run 'qemu-img' (Debian package qemu-utils) to read '%s'", path);
    } else if (res.status != 0) {
        /* "qemu-img: Could not open 'x': ..." : the sentence after the program's name */
        const char *e = res.err;
        if (strncmp(e, "qemu-img: ", 10) == 0)
            e += 10;
        r = error_set(err, -EINVAL, "'%s' is not a disk image qemu-img can read: %.*s", path,
                      (int)strcspn(e, "\n"), e);
    } else {
        Error perr = ERROR_INIT;
        r = qemu_img_info_parse(res.out, ret, &perr);
        if (r < 0)
            r = error_set(err, r, "Cannot read what qemu-img says about '%s': %s", path,
                          perr.message);
        error_clear(&perr);
    }
    spawn_result_clear(&res);
    return r;
}

/* ---- conversion -------------------------------------------------------------------------- */

typedef struct ConvertJob {
    const char *const *argv;
    int pid_fd; /* write end: the child sends its PID, so an interrupt can stop it */
    SpawnResult res;
    Error err;
    int r;
    atomic_bool done;
} ConvertJob;

/* In the forked child before exec: tell the parent who we are (write and getpid are
 * async-signal-safe, as a child of a threaded process needs). */
static int send_pid(void *userdata)
{
    int fd = *(const int *)userdata;
    pid_t pid = getpid();
    if (write(fd, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
        return -EIO;
    return 0;
}

static void *convert_thread(void *userdata)
{
    ConvertJob *job = userdata;
    SpawnOpts o = {
            .timeout_ms = CONVERT_TIMEOUT_MS,
            .child_setup = send_pid,
            .child_setup_data = &job->pid_fd,
    };
    job->r = spawn_run(job->argv, &o, &job->res, &job->err);
    atomic_store(&job->done, true);
    return NULL;
}

static uint64_t allocated(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* Bytes process @pid has read ("rchar" of /proc/PID/io); false when unknown. */
static bool bytes_read(pid_t pid, uint64_t *ret)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *r = strstr(buf, "rchar:");
    if (!r)
        return false;
    *ret = strtoull(r + 6, NULL, 10);
    return true;
}

int qemu_img_convert(const char *src, const char *format, const char *dst, uint64_t expected,
                     const char *what, ImageProgressFn progress, void *userdata, Error *err)
{
    const char *argv[] = {"qemu-img", "convert", "-f", format, "-O", "qcow2", src, dst, NULL};
    ConvertJob job = {.argv = argv, .pid_fd = -1};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0)
        return error_set_errno(err, -errno, "Cannot convert '%s'", src);
    job.pid_fd = pfd[1];
    pthread_t t;
    int r = pthread_create(&t, NULL, convert_thread, &job);
    if (r != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return error_set_errno(err, -r, "Cannot convert '%s'", src);
    }

    /* qemu-img's own -p output only arrives when it exits (the spawn seam captures it): what
     * it has read against the source's allocated size is the progress instead (qemu-img reads
     * only allocated data, compressed clusters as they are), else what it has written */
    pid_t child = 0;
    bool stopped = false;
    if (progress)
        progress(what, 0, expected, userdata);
    while (!atomic_load(&job.done)) {
        poll(NULL, 0, 100);
        if (child == 0 && read(pfd[0], &child, sizeof(child)) != (ssize_t)sizeof(child))
            child = 0;
        if (interrupt_pending() && child > 0 && !stopped) {
            kill(child, SIGTERM);
            stopped = true;
        }
        if (progress && !stopped) {
            uint64_t now = 0;
            if (child <= 0 || !bytes_read(child, &now))
                now = allocated(dst);
            /* never 100% before qemu-img is done */
            if (expected && now >= expected)
                now = expected - 1;
            progress(what, now, expected, userdata);
        }
    }
    pthread_join(t, NULL);
    close(pfd[0]);
    close(pfd[1]);

    if (job.r < 0) {
        r = error_set(err, job.r, "%s", job.err.message);
    } else if (interrupt_pending()) {
        r = error_set(err, -EINTR, "Interrupted by %s while converting '%s'",
                      interrupt_signal_name(), src);
    } else if (job.res.status == 127 && strstr(job.res.err, "cannot execute")) {
        r = error_set(err, -ENOENT, "Cannot run 'qemu-img' (Debian package qemu-utils)");
    } else if (job.res.status != 0) {
        const char *e = job.res.err;
        if (strncmp(e, "qemu-img: ", 10) == 0)
            e += 10;
        r = error_set(err, -EIO, "Cannot convert '%s' to qcow2: %.*s", src, (int)strcspn(e, "\n"),
                      e);
    } else {
        r = 0;
        if (progress) {
            uint64_t now = allocated(dst);
            progress(what, expected ? expected : now, expected ? expected : now, userdata);
        }
    }
    error_clear(&job.err);
    spawn_result_clear(&job.res);
    if (r < 0)
        unlink(dst);
    return r;
}

/* @file (relative to @dir unless absolute) resolved, inside @real_dir? */
static bool inside(const char *dir, const char *real_dir, const char *file)
{
    _cleanup_free_ char *full = file[0] == '/' ? strdup(file) : fs_path_join(dir, file);
    char real[PATH_MAX];
    if (!full)
        return false;
    /* a file that is not there stays where its name says (qemu-img reports a missing one) */
    const char *p = realpath(full, real) ? real : full;
    size_t n = strlen(real_dir);
    return strncmp(p, real_dir, n) == 0 && p[n] == '/' && !strchr(p + n + 1, '/');
}

int qemu_img_info_confined(const char *path, const QemuImgInfo *qi, Error *err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return error_set(err, -ENOMEM, "Out of memory");
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (*slash = '\0', *copy ? copy : "/") : ".";
    char real_dir[PATH_MAX];
    if (!realpath(dir, real_dir))
        return error_set_errno(err, -errno, "Cannot resolve the directory of '%s'", path);
    const char *what = NULL, *file = NULL;
    if (qi->backing && !inside(dir, real_dir, qi->backing))
        what = "backing file", file = qi->backing;
    else if (qi->data_file && !inside(dir, real_dir, qi->data_file))
        what = "data file", file = qi->data_file;
    for (size_t i = 0; !what && i < qi->n_extents; i++)
        if (!inside(dir, real_dir, qi->extents[i]))
            what = "extent", file = qi->extents[i];
    if (what)
        return error_set(err, -EPERM,
                         "'%s' (%s) reads the %s '%s' outside its own directory; kvmlab uses "
                         "only disks whose files sit together",
                         path, qi->format ? qi->format : "?", what, file);
    return 0;
}
