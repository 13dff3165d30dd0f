/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image downloads over real HTTP: busybox httpd (which honours Range requests) serves images
 * in a network namespace made here, reached from a second one through a veth pair; the root
 * namespace is never touched. Proven: a download is checked against its sha256 (the expected
 * value from sha256sum) and stored as the same disk (qemu-img compare), also after a redirect;
 * a wrong checksum is refused and leaves nothing in the store; an HTTP 404 is an error naming
 * the status and the URL; a download interrupted by a real SIGINT keeps its partial file, and
 * the next run fetches only the rest (the server answered 206, and the bytes the server's side
 * of the veth sent match the rest, not the whole file).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"

#define SERVER_IP "192.0.2.1" /* TEST-NET-1, only ever inside our namespaces */
#define CLIENT_IP "192.0.2.2"
#define PORT      "8080"
#define MIB       (1024 * 1024)

static char ns_server[32], ns_client[32];
static char dir[] = "/tmp/kvmlab-imghttp-XXXXXX";
static char www[256], state_root[256], httpd_log[256], image[512];
static char sha[65];
static uint64_t image_size;
static pid_t httpd = -1;
static bool ready;

/* Run @argv in namespace @ns (NULL: here); its exit status, output into *out when asked. */
static int run_in(const char *ns, const char *const *argv, char **out)
{
    return fixture_run(ns, argv, out, 60000);
}

static int must(const char *ns, const char *const *argv)
{
    int st = run_in(ns, argv, NULL);
    if (st != 0)
        fprintf(stderr, "# '%s ...' failed with %d\n", argv[0], st);
    return st == 0 ? 0 : -1;
}

/* Bytes the server's end of the veth has sent, as the kernel counts them. */
static uint64_t server_tx_bytes(void)
{
    char *out = NULL;
    const char *argv[] = {"ip", "-s", "-j", "link", "show", "dev", "kvimg0", NULL};
    assert_int_equal(run_in(ns_server, argv, &out), 0);
    const char *tx = strstr(out, "\"tx\":{\"bytes\":");
    assert_non_null(tx);
    uint64_t v = strtoull(tx + strlen("\"tx\":{\"bytes\":"), NULL, 10);
    free(out);
    return v;
}

/* The status busybox httpd -vv logged last for @path ("response:206"), 0 when none. */
static int last_response(const char *path)
{
    char *log = NULL;
    assert_int_equal(fs_read_all(httpd_log, &log, NULL, NULL), 0);
    /* "IP:PORT: url:/c.qcow2" then "IP:PORT: response:206" for the same peer */
    int code = 0;
    char want[256];
    snprintf(want, sizeof(want), "url:%s\n", path);
    for (const char *p = strstr(log, want); p; p = strstr(p + 1, want)) {
        const char *r = strstr(p, "response:");
        if (r)
            code = atoi(r + strlen("response:"));
    }
    free(log);
    return code;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Everything in the store but its permanent lock file. */
static int store_entries_with(const char *prefix)
{
    char images[4300];
    snprintf(images, sizeof(images), "%s/images", state_root);
    DIR *d = opendir(images);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    if (!fixture_is_root())
        return 0;
    int id = (int)(getpid() % 100000);
    snprintf(ns_server, sizeof(ns_server), "kvimg-s%d", id);
    snprintf(ns_client, sizeof(ns_client), "kvimg-c%d", id);
    if (!mkdtemp(dir))
        return -1;
    snprintf(www, sizeof(www), "%s/www", dir);
    snprintf(state_root, sizeof(state_root), "%s/state", dir);
    snprintf(httpd_log, sizeof(httpd_log), "%s/httpd.log", dir);
    snprintf(image, sizeof(image), "%s/disk.qcow2", www);
    if (fs_mkdir_p(www, 0755, NULL) < 0)
        return -1;

    /* an image of 8 MiB of random data (so qcow2 stores every byte): big enough to be cut
     * in the middle at the rate set below */
    char raw[4300];
    snprintf(raw, sizeof(raw), "%s/disk.raw", dir);
    char of[4400];
    snprintf(of, sizeof(of), "of=%s", raw);
    const char *dd[] = {"dd", "if=/dev/urandom", of, "bs=1M", "count=8", "status=none", NULL};
    const char *conv[] = {"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, image, NULL};
    char *out = NULL;
    const char *sum[] = {"sha256sum", image, NULL};
    if (must(NULL, dd) < 0 || must(NULL, conv) < 0 || run_in(NULL, sum, &out) != 0)
        return -1;
    memcpy(sha, out, 64);
    sha[64] = 0;
    free(out);
    image_size = (uint64_t)file_size(image);
    unlink(raw);
    /* one file per case, so each is its own store image (the name hashes the URL) */
    const char *names[] = {"a.qcow2", "b.qcow2", "c.qcow2"};
    for (size_t k = 0; k < 3; k++) {
        char to[4300];
        snprintf(to, sizeof(to), "%s/%s", www, names[k]);
        const char *cp[] = {"cp", image, to, NULL};
        if (must(NULL, cp) < 0)
            return -1;
    }

    /* busybox answers "/r" with a redirect to "/r/", which serves r/index.html: the image */
    char rdir[4300], rindex[4400];
    snprintf(rdir, sizeof(rdir), "%s/r", www);
    snprintf(rindex, sizeof(rindex), "%s/index.html", rdir);
    const char *cpr[] = {"cp", image, rindex, NULL};
    if (fs_mkdir_p(rdir, 0755, NULL) < 0 || must(NULL, cpr) < 0)
        return -1;

    /* two namespaces and a veth pair between them, made inside the server's namespace */
    const char *nsa[] = {"ip", "netns", "add", ns_server, NULL};
    const char *nsb[] = {"ip", "netns", "add", ns_client, NULL};
    if (must(NULL, nsa) < 0 || must(NULL, nsb) < 0)
        return -1;
    const char *veth[] = {"ip",   "link", "add",    "kvimg0", "type",    "veth",
                          "peer", "name", "kvimg1", "netns",  ns_client, NULL};
    const char *a0[] = {"ip", "addr", "add", SERVER_IP "/24", "dev", "kvimg0", NULL};
    const char *a1[] = {"ip", "addr", "add", CLIENT_IP "/24", "dev", "kvimg1", NULL};
    const char *u0[] = {"ip", "link", "set", "kvimg0", "up", NULL};
    const char *u1[] = {"ip", "link", "set", "kvimg1", "up", NULL};
    if (must(ns_server, veth) < 0 || must(ns_server, a0) < 0 || must(ns_client, a1) < 0 ||
        must(ns_server, u0) < 0 || must(ns_client, u1) < 0)
        return -1;

    /* busybox httpd in the server's namespace, its log (-vv: each URL and answer) kept */
    httpd = fork();
    if (httpd < 0)
        return -1;
    if (httpd == 0) {
        int fd = open(httpd_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("ip", "ip", "netns", "exec", ns_server, "busybox", "httpd", "-f", "-vv", "-p",
               SERVER_IP ":" PORT, "-h", www, (char *)NULL);
        _exit(127);
    }
    /* answering once anything at all comes back (curl without -f exits 0 on a 404) */
    const char *probe[] = {"curl", "-s", "-o", "/dev/null", "http://" SERVER_IP ":" PORT "/", NULL};
    for (int i = 0; i < 100; i++) {
        if (run_in(ns_client, probe, NULL) == 0) {
            ready = true;
            return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "# busybox httpd did not answer\n");
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    if (httpd > 0) {
        kill(httpd, SIGTERM);
        waitpid(httpd, NULL, 0);
    }
    if (ns_client[0]) {
        const char *d1[] = {"ip", "netns", "del", ns_client, NULL};
        const char *d2[] = {"ip", "netns", "del", ns_server, NULL};
        run_in(NULL, d1, NULL);
        run_in(NULL, d2, NULL);
    }
    if (strcmp(dir, "/tmp/kvmlab-imghttp-XXXXXX") != 0)
        fs_rm_rf(dir, NULL);
    return 0;
}

/* Import @img and, when @lab is not NULL, record its use as `up` does (storage/pool.c):
 * image_store_import() then image_store_set_use(), *info read again to show the users. */
static int import_as(const char *st, const LabImage *img, const char *base, const char *lab,
                     ImageProgressFn progress, void *userdata, ImageInfo *info, Error *err)
{
    int r = image_store_import(st, img, base, progress, userdata, info, err);
    if (r < 0 || !lab)
        return r;
    bool changed = info->source_changed;
    char *name = strdup(info->name);
    image_info_clear(info);
    r = image_store_set_use(st, name, lab, true, err);
    if (r == 0)
        r = image_store_lookup(st, name, info, err);
    info->source_changed = changed;
    free(name);
    return r;
}

/* ---- a downloader in the client's namespace ---------------------------------------------- */

typedef struct Outcome {
    int r;
    uint64_t first_done; /* what the first progress call said was done */
    uint64_t calls;
    char message[2048];
} Outcome;

static int notify_fd = -1;
static uint64_t notify_at; /* 0: never */
static Outcome progress_seen;

static void child_progress(const char *what, uint64_t done, uint64_t total, void *userdata)
{
    (void)total;
    (void)userdata;
    if (strncmp(what, "downloading", 11) != 0)
        return;
    if (progress_seen.calls++ == 0)
        progress_seen.first_done = done;
    if (notify_at && done >= notify_at) {
        char c = 'x';
        if (write(notify_fd, &c, 1) != 1)
            _exit(3);
        notify_at = 0;
    }
}

/*
 * Import URL @path of the server with checksum @sum in a child that runs in the client's
 * namespace with kvmlab's interrupt handlers. With @interrupt_at, the parent sends it a real
 * SIGINT once it reports that many bytes downloaded.
 */
static Outcome download(const char *path, const char *sum, uint64_t interrupt_at)
{
    int res[2], note[2];
    assert_int_equal(pipe(res), 0);
    assert_int_equal(pipe(note), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(res[0]);
        close(note[0]);
        char nspath[128];
        snprintf(nspath, sizeof(nspath), "/run/netns/%s", ns_client);
        int fd = open(nspath, O_RDONLY);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            _exit(2);
        interrupt_reset();
        interrupt_install();
        notify_fd = note[1];
        notify_at = interrupt_at;
        progress_seen = (Outcome){0};
        char url[256];
        snprintf(url, sizeof(url), "http://" SERVER_IP ":" PORT "%s", path);
        LabImage img = {
                .name = (char *)"web", .kind = LAB_IMAGE_URL, .source = url, .sha256 = (char *)sum};
        ImageInfo info = {0};
        Error err = ERROR_INIT;
        Outcome o = progress_seen;
        o.r = import_as(state_root, &img, NULL, "lab1", child_progress, NULL, &info, &err);
        o.first_done = progress_seen.first_done;
        o.calls = progress_seen.calls;
        snprintf(o.message, sizeof(o.message), "%s", err.message ? err.message : "");
        if (write(res[1], &o, sizeof(o)) != (ssize_t)sizeof(o))
            _exit(3);
        _exit(0);
    }
    close(res[1]);
    close(note[1]);
    Outcome o = {.r = 1};
    struct pollfd p[2] = {{.fd = res[0], .events = POLLIN}, {.fd = note[0], .events = POLLIN}};
    bool got = false;
    for (int waited = 0; !got && waited < 120000; waited += 100) {
        if (poll(p, 2, 100) <= 0)
            continue;
        if (p[1].revents & POLLIN) {
            char c;
            if (read(note[0], &c, 1) == 1)
                kill(pid, SIGINT); /* as ^C would: a real signal to the downloader */
            else
                p[1].fd = -1;
        }
        if (p[0].revents & (POLLIN | POLLHUP))
            got = read(res[0], &o, sizeof(o)) == (ssize_t)sizeof(o);
    }
    if (!got)
        kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(res[0]);
    close(note[0]);
    assert_true(got);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return o;
}

static char *name_of(const char *path, const char *sum)
{
    char url[256];
    snprintf(url, sizeof(url), "http://" SERVER_IP ":" PORT "%s", path);
    LabImage img = {
            .name = (char *)"web", .kind = LAB_IMAGE_URL, .source = url, .sha256 = (char *)sum};
    return image_store_name(&img, NULL);
}

static void test_download_checked(void **state)
{
    (void)state;
    if (!ready)
        skip();
    Outcome o = download("/a.qcow2", sha, 0);
    if (o.r != 0)
        fprintf(stderr, "# %s\n", o.message);
    assert_int_equal(o.r, 0);
    assert_int_equal(last_response("/a.qcow2"), 200);
    char *name = name_of("/a.qcow2", sha);
    ImageInfo info = {0};
    assert_int_equal(image_store_lookup(state_root, name, &info, NULL), 0);
    assert_string_equal(info.sha256, sha);
    assert_string_equal(info.kind, "url");
    assert_int_equal(info.n_users, 1);
    /* the same disk as the one served, and only the image and its record are left */
    const char *cmp[] = {"qemu-img", "compare", image, info.path, NULL};
    assert_int_equal(run_in(NULL, cmp, NULL), 0);
    assert_int_equal(store_entries_with(name), 2);
    image_info_clear(&info);
    free(name);
}

static void test_redirect_followed(void **state)
{
    (void)state;
    if (!ready)
        skip();
    Outcome o = download("/r", sha, 0);
    if (o.r != 0)
        fprintf(stderr, "# %s\n", o.message);
    assert_int_equal(o.r, 0);
    assert_int_equal(last_response("/r"), 302);
    assert_int_equal(last_response("/r/"), 200);
    char *name = name_of("/r", sha);
    ImageInfo info = {0};
    assert_int_equal(image_store_lookup(state_root, name, &info, NULL), 0);
    const char *cmp[] = {"qemu-img", "compare", image, info.path, NULL};
    assert_int_equal(run_in(NULL, cmp, NULL), 0);
    image_info_clear(&info);
    free(name);
}

static void test_wrong_checksum(void **state)
{
    (void)state;
    if (!ready)
        skip();
    char wrong[65];
    memcpy(wrong, sha, sizeof(wrong));
    wrong[63] = wrong[63] == '0' ? '1' : '0';
    Outcome o = download("/b.qcow2", wrong, 0);
    assert_int_equal(o.r, -EBADMSG);
    char want[200];
    snprintf(want, sizeof(want), "expected %s, got %s", wrong, sha);
    assert_non_null(strstr(o.message, want));
    assert_int_equal(last_response("/b.qcow2"), 200);
    /* nothing of it: no image, no record, no partial download, no lock */
    char *name = name_of("/b.qcow2", wrong);
    assert_int_equal(store_entries_with(name), 0);
    free(name);
}

static void test_http_404(void **state)
{
    (void)state;
    if (!ready)
        skip();
    Outcome o = download("/missing.qcow2", sha, 0);
    assert_int_equal(o.r, -ENOENT);
    assert_non_null(strstr(o.message, "HTTP 404"));
    assert_non_null(strstr(o.message, "http://" SERVER_IP ":" PORT "/missing.qcow2"));
    assert_int_equal(last_response("/missing.qcow2"), 404);
    char *name = name_of("/missing.qcow2", sha);
    assert_int_equal(store_entries_with(name), 0);
    free(name);
}

static void test_interrupted_resumes(void **state)
{
    (void)state;
    if (!ready)
        skip();
    /* 16 Mbit/s on the server's side: the 8 MiB image takes about 4 s, so a SIGINT sent once
     * 2 MiB arrived lands in the middle */
    const char *tbf[] = {"tc",   "qdisc",  "add",   "dev",    "kvimg0",  "root",  "tbf",
                         "rate", "16mbit", "burst", "32kbit", "latency", "400ms", NULL};
    assert_int_equal(must(ns_server, tbf), 0);

    char *name = name_of("/c.qcow2", sha);
    char part[4400];
    snprintf(part, sizeof(part), "%s/images/%s.part", state_root, name);
    Outcome o = download("/c.qcow2", sha, 2 * MIB);
    assert_int_equal(o.r, -EINTR);
    assert_non_null(strstr(o.message, "interrupted by SIGINT"));
    off_t kept = file_size(part);
    fprintf(stderr, "# interrupted with %lld of %" PRIu64 " bytes kept\n", (long long)kept,
            image_size);
    assert_true(kept >= 2 * MIB);
    assert_true((uint64_t)kept < image_size);
    /* not an image yet: only the partial file */
    assert_int_equal(store_entries_with(name), 1);

    uint64_t tx0 = server_tx_bytes();
    o = download("/c.qcow2", sha, 0);
    uint64_t sent = server_tx_bytes() - tx0;
    if (o.r != 0)
        fprintf(stderr, "# %s\n", o.message);
    assert_int_equal(o.r, 0);
    uint64_t rest = image_size - (uint64_t)kept;
    fprintf(stderr,
            "# resumed: the server sent %" PRIu64 " bytes for the %" PRIu64
            " missing (the whole file is %" PRIu64 ")\n",
            sent, rest, image_size);
    /* a Range request answered with the rest: 206, and the bytes on the wire are the rest
     * plus TCP/IP and HTTP overhead (5% measured), far from the whole file */
    assert_int_equal(last_response("/c.qcow2"), 206);
    assert_true(sent >= rest);
    assert_true(sent < rest + rest / 10 + 64 * 1024);
    assert_true(sent < image_size);
    /* the progress started where the partial file ended */
    assert_int_equal(o.first_done >= (uint64_t)kept, true);

    ImageInfo info = {0};
    assert_int_equal(image_store_lookup(state_root, name, &info, NULL), 0);
    const char *cmp[] = {"qemu-img", "compare", image, info.path, NULL};
    assert_int_equal(run_in(NULL, cmp, NULL), 0);
    assert_int_equal(store_entries_with(name), 2);
    image_info_clear(&info);
    free(name);
    const char *del[] = {"tc", "qdisc", "del", "dev", "kvimg0", "root", NULL};
    assert_int_equal(must(ns_server, del), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_download_checked),    cmocka_unit_test(test_redirect_followed),
            cmocka_unit_test(test_wrong_checksum),      cmocka_unit_test(test_http_404),
            cmocka_unit_test(test_interrupted_resumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
