/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared image store: names, kvmlab's records beside the images, the locks that let labs
 * run at the same time, and import (local files and downloads) into standalone qcow2 files.
 *
 * A record is a small text file, "<name>.record", of key=value lines:
 *   name, kind (path|url|build), source, os, sha256, format (of the source), virtual-size,
 *   imported-at (UTC), source-size and source-mtime (path images), kernel and initrd (built
 *   images: file names in the store), used-by (one line a lab)
 * Unknown keys are ignored, so later versions may add some.
 *
 * Crash safety: a new image is converted into "<name>.qcow2.tmp", synced, then (built images)
 * its kernel and initrd are renamed into place, its record is written (through a temporary file
 * and rename) and the image renamed into place, never over an existing one. An image counts
 * only when both its record and its file are there, so a crash at any point leaves either
 * nothing or a complete image (plus, at worst, a stale record, kernel, initrd or temporary file
 * that the next import of that image overwrites).
 *
 * Locks: "<store>/.lock" (flock) serialises changes to records; "<name>.lock" (flock, removed on
 * release) is held for a whole import or removal of <name>, so two labs importing the same image
 * do it once and the second finds it ready. Order: the image's lock, then the store's.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imagestore-priv.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/imagestore.h"
#include "kvmlab/interrupt.h"

#define NAME_MAX_LEN 200

/* ---- names and paths --------------------------------------------------------------------- */

static const char *kind_to_string(LabImageKind k)
{
    switch (k) {
    case LAB_IMAGE_PATH:
        return "path";
    case LAB_IMAGE_URL:
        return "url";
    case LAB_IMAGE_BUILD:
        return "build";
    }
    return "build";
}

static char *cwd_join(const char *p)
{
    if (p && p[0] == '/')
        return strdup(p);
    _cleanup_free_ char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    return p && *p ? fs_path_join(cwd, p) : strdup(cwd);
}

char *image_path_absolute(const char *p, const char *base)
{
    _cleanup_free_ char *joined = NULL;
    if (p[0] == '/') {
        joined = strdup(p);
    } else {
        _cleanup_free_ char *b = cwd_join(base);
        joined = b ? fs_path_join(b, p) : NULL;
    }
    if (!joined)
        return NULL;
    char *out = malloc(strlen(joined) + 2);
    if (!out)
        return NULL;
    size_t len = 0;
    for (char *save = NULL, *tok = strtok_r(joined, "/", &save); tok;
         tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--; /* the slash before it */
            continue;
        }
        out[len++] = '/';
        memcpy(out + len, tok, strlen(tok));
        len += strlen(tok);
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = 0;
    return out;
}

char *image_store_dir(const char *state_root)
{
    const char *env = getenv("KVMLAB_STATE_DIR");
    const char *root = state_root ? state_root : env && *env ? env : "/var/lib/kvmlab";
    _cleanup_free_ char *abs = cwd_join(root);
    return abs ? fs_path_join(abs, "images") : NULL;
}

/* The readable part of a store name: the source's file name without its image extension
 * (a URL's last path segment), or a build recipe's name, in [a-z0-9._-]; "image" when nothing
 * readable is left. Not the lab's key for the image: labs that name one file differently share
 * it. */
static char *source_label(const LabImage *img)
{
    const char *s = img->source ? img->source : "";
    size_t len = strlen(s);
    if (img->kind != LAB_IMAGE_BUILD) {
        const char *q = strpbrk(s, "?#");
        if (img->kind == LAB_IMAGE_URL && q)
            len = (size_t)(q - s);
        while (len > 0 && s[len - 1] == '/')
            len--;
        const char *slash = memrchr(s, '/', len);
        if (slash) {
            len -= (size_t)(slash + 1 - s);
            s = slash + 1;
        }
        static const char *const exts[] = {".qcow2", ".qcow", ".img", ".raw", ".vmdk", ".bin"};
        for (size_t i = 0; i < sizeof(exts) / sizeof(*exts); i++) {
            size_t l = strlen(exts[i]);
            if (len > l && strncasecmp(s + len - l, exts[i], l) == 0) {
                len -= l;
                break;
            }
        }
    }
    if (len > 40)
        len = 40;
    char *out = strndup(s, len);
    if (!out)
        return NULL;
    for (char *p = out; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
            *p = '-';
    }
    if (!((out[0] >= 'a' && out[0] <= 'z') || (out[0] >= '0' && out[0] <= '9'))) {
        free(out);
        out = strdup("image");
    }
    return out;
}

char *image_store_name(const LabImage *img, const char *base_dir)
{
    const char *kind = kind_to_string(img->kind);
    const char *source = img->source ? img->source : "";
    _cleanup_free_ char *src = img->kind == LAB_IMAGE_PATH && *source
                                       ? image_path_absolute(source, base_dir)
                                       : strdup(source);
    const char *sha = img->sha256 ? img->sha256 : "";
    /* a built image: the recipe's revision too, so a changed recipe builds anew (only for
     * these, so the names of imported images stay what they were) */
    const char *rev = img->kind == LAB_IMAGE_BUILD ? image_recipe_revision(source) : NULL;
    if (!src || !img->name)
        return NULL;
    /* NUL-separated, so no two different inputs hash the same text */
    size_t len = strlen("kvmlab-image-1") + strlen(kind) + strlen(src) + strlen(sha) + 4 +
                 (rev ? strlen(rev) + 1 : 0);
    _cleanup_free_ char *buf = malloc(len);
    if (!buf)
        return NULL;
    char *p = buf;
    p = stpcpy(p, "kvmlab-image-1") + 1;
    p = stpcpy(p, kind) + 1;
    p = stpcpy(p, src) + 1;
    p = stpcpy(p, sha) + 1;
    if (rev)
        stpcpy(p, rev);
    char hex[65];
    if (sha256_hex(buf, len, hex) < 0)
        return NULL;
    char *name = NULL;
    _cleanup_free_ char *label = source_label(img);
    if (!label || asprintf(&name, "%s-%.12s", label, hex) < 0)
        return NULL;
    return name;
}

/* A name as `image list` shows it: no path can hide in it. */
static bool name_is_valid(const char *s)
{
    if (!s || !*s || strlen(s) > NAME_MAX_LEN ||
        !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return false;
    return true;
}

/* Text that fits on one record line. */
static bool text_is_line(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static char *store_file(const char *dir, const char *name, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s%s", dir, name, suffix) < 0)
        return NULL;
    return p;
}

/* ---- ImageInfo and records --------------------------------------------------------------- */

void image_info_clear(ImageInfo *i)
{
    if (!i)
        return;
    free(i->name);
    free(i->path);
    free(i->kind);
    free(i->source);
    free(i->os);
    free(i->sha256);
    free(i->format);
    free(i->imported_at);
    free(i->kernel);
    free(i->initrd);
    for (size_t k = 0; k < i->n_users; k++)
        free(i->users[k]);
    free(i->users);
    *i = (ImageInfo){0};
}

void image_info_list_free(ImageInfo *list, size_t n)
{
    for (size_t k = 0; k < n; k++)
        image_info_clear(&list[k]);
    free(list);
}

/* What a record holds beyond ImageInfo: the source file as it was at import. */
typedef struct Record {
    ImageInfo info;
    bool has_source_stat;
    uint64_t source_size;
    char *source_mtime; /* "SEC.NSEC" */
} Record;

static void record_clear(Record *r)
{
    image_info_clear(&r->info);
    free(r->source_mtime);
    *r = (Record){0};
}

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -ENOMEM;
}

static int users_add(ImageInfo *i, const char *lab)
{
    size_t at = 0;
    while (at < i->n_users && strcmp(i->users[at], lab) < 0)
        at++;
    if (at < i->n_users && strcmp(i->users[at], lab) == 0)
        return 0;
    char **n = realloc(i->users, (i->n_users + 1) * sizeof(char *));
    if (!n)
        return -ENOMEM;
    i->users = n;
    char *s = strdup(lab);
    if (!s)
        return -ENOMEM;
    memmove(&i->users[at + 1], &i->users[at], (i->n_users - at) * sizeof(char *));
    i->users[at] = s;
    i->n_users++;
    return 0;
}

static void users_del(ImageInfo *i, const char *lab)
{
    for (size_t k = 0; k < i->n_users; k++)
        if (strcmp(i->users[k], lab) == 0) {
            free(i->users[k]);
            memmove(&i->users[k], &i->users[k + 1], (i->n_users - k - 1) * sizeof(char *));
            i->n_users--;
            return;
        }
}

/* Parse the record text of @path. 0, -ENOMEM, or -EINVAL with @err naming the line. */
static int record_parse(const char *path, char *text, Record *ret, Error *err)
{
    Record rec = {0};
    int r = 0, line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && r == 0;
         l = strtok_r(NULL, "\n", &save)) {
        line++;
        if (*l == '#')
            continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            r = -EINVAL;
            break;
        }
        *eq = 0;
        const char *k = l, *v = eq + 1;
        ImageInfo *i = &rec.info;
        if (strcmp(k, "name") == 0)
            r = set_str(&i->name, v);
        else if (strcmp(k, "kind") == 0)
            r = set_str(&i->kind, v);
        else if (strcmp(k, "source") == 0)
            r = set_str(&i->source, v);
        else if (strcmp(k, "os") == 0)
            r = set_str(&i->os, v);
        else if (strcmp(k, "sha256") == 0)
            r = set_str(&i->sha256, v);
        else if (strcmp(k, "format") == 0)
            r = set_str(&i->format, v);
        else if (strcmp(k, "imported-at") == 0)
            r = set_str(&i->imported_at, v);
        else if (strcmp(k, "kernel") == 0)
            r = name_is_valid(v) ? set_str(&i->kernel, v) : -EINVAL;
        else if (strcmp(k, "initrd") == 0)
            r = name_is_valid(v) ? set_str(&i->initrd, v) : -EINVAL;
        else if (strcmp(k, "virtual-size") == 0)
            r = image_parse_u64(v, &i->virtual_size);
        else if (strcmp(k, "source-size") == 0) {
            r = image_parse_u64(v, &rec.source_size);
            rec.has_source_stat = true;
        } else if (strcmp(k, "source-mtime") == 0)
            r = set_str(&rec.source_mtime, v);
        else if (strcmp(k, "used-by") == 0)
            r = *v ? users_add(i, v) : -EINVAL;
        /* anything else: a later version's key */
    }
    if (r == 0 && (!rec.info.kind || !rec.info.source))
        r = -EINVAL, line = 0;
    if (r < 0) {
        record_clear(&rec);
        if (r == -ENOMEM)
            return error_set(err, r, "Out of memory");
        if (line == 0)
            return error_set(err, r,
                             "The image record '%s' is damaged: it lacks 'kind' or "
                             "'source'",
                             path);
        return error_set(err, r, "The image record '%s' is damaged at line %d", path, line);
    }
    *ret = rec;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static char *record_format(const Record *rec)
{
    const ImageInfo *i = &rec->info;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# kvmlab image record: kvmlab rewrites it, under the store's lock\n");
    fprintf(f, "name=%s\nkind=%s\nsource=%s\n", i->name, i->kind, i->source);
    if (i->os)
        fprintf(f, "os=%s\n", i->os);
    if (i->sha256)
        fprintf(f, "sha256=%s\n", i->sha256);
    if (i->format)
        fprintf(f, "format=%s\n", i->format);
    fprintf(f, "virtual-size=%" PRIu64 "\n", i->virtual_size);
    if (i->imported_at)
        fprintf(f, "imported-at=%s\n", i->imported_at);
    /* file names in the store (ImageInfo holds them as paths once looked up) */
    if (i->kernel)
        fprintf(f, "kernel=%s\n", base_name(i->kernel));
    if (i->initrd)
        fprintf(f, "initrd=%s\n", base_name(i->initrd));
    if (rec->has_source_stat)
        fprintf(f, "source-size=%" PRIu64 "\nsource-mtime=%s\n", rec->source_size,
                rec->source_mtime ? rec->source_mtime : "0.0");
    for (size_t k = 0; k < i->n_users; k++)
        fprintf(f, "used-by=%s\n", i->users[k]);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Read the record of @name in @dir. -ENOENT (without touching @err) when there is none. */
static int record_read(const char *dir, const char *name, Record *ret, Error *err)
{
    _cleanup_free_ char *path = store_file(dir, name, ".record");
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");
    _cleanup_free_ char *text = NULL;
    Error rerr = ERROR_INIT;
    int r = fs_read_all(path, &text, NULL, &rerr);
    if (r == -ENOENT) {
        error_clear(&rerr);
        return -ENOENT;
    }
    if (r < 0) {
        error_set(err, r, "%s", rerr.message);
        error_clear(&rerr);
        return r;
    }
    return record_parse(path, text, ret, err);
}

static int record_write(const char *dir, const Record *rec, Error *err)
{
    _cleanup_free_ char *path = store_file(dir, rec->info.name, ".record");
    _cleanup_free_ char *text = record_format(rec);
    if (!path || !text)
        return error_set(err, -ENOMEM, "Out of memory");
    return fs_write_atomic(path, text, 0644, err);
}

/* ---- locks ------------------------------------------------------------------------------- */

/* flock @fd exclusively; waiting ends early on a pending interrupt (-EINTR). */
static int lock_fd(int fd, bool wait, const char *path, Error *err)
{
    for (;;) {
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0)
            return 0;
        if (errno == EWOULDBLOCK && !wait)
            return -EBUSY;
        if (errno != EINTR)
            return error_set_errno(err, -errno, "Cannot lock '%s'", path);
        if (interrupt_pending())
            return error_set(err, -EINTR, "Interrupted by %s while waiting for the lock '%s'",
                             interrupt_signal_name(), path);
    }
}

/* The store's lock, held for record changes only (short). Returns the descriptor. */
static int store_lock(const char *dir, Error *err)
{
    _cleanup_free_ char *path = fs_path_join(dir, ".lock");
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return error_set_errno(err, -errno, "Cannot open the image store's lock '%s'", path);
    int r = lock_fd(fd, true, path, err);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static void store_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

typedef struct ImageLock {
    int fd;
    char *path;
} ImageLock;

/* The lock of image @name: a file that exists only while held (removed while still locked, and
 * a taker checks it locked the file that is still at the path, as lablock.c does). -EBUSY when
 * held elsewhere and !@wait (without touching @err). */
static int image_lock(const char *dir, const char *name, bool wait, ImageLock *ret, Error *err)
{
    _cleanup_free_ char *path = store_file(dir, name, ".lock");
    if (!path)
        return error_set(err, -ENOMEM, "Out of memory");
    for (;;) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return error_set_errno(err, -errno, "Cannot open the lock '%s'", path);
        int r = lock_fd(fd, wait, path, err);
        if (r < 0) {
            close(fd);
            return r;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            ret->fd = fd;
            ret->path = steal_pointer(&path);
            return 0;
        }
        close(fd); /* the previous holder removed it between our open and our lock */
    }
}

static void image_unlock(ImageLock *l)
{
    if (!l->path)
        return;
    unlink(l->path);
    close(l->fd);
    free(l->path);
    *l = (ImageLock){.fd = -1};
}

/* ---- lookup, list, use, remove ----------------------------------------------------------- */

/* The complete image @name in @dir into *ret (record plus file). -ENOENT without @err. */
static int lookup_in(const char *dir, const char *name, Record *ret, Error *err)
{
    if (!name_is_valid(name))
        return -ENOENT;
    _cleanup_free_ char *image = store_file(dir, name, ".qcow2");
    if (!image)
        return error_set(err, -ENOMEM, "Out of memory");
    struct stat st;
    if (stat(image, &st) < 0) {
        if (errno == ENOENT)
            return -ENOENT;
        return error_set_errno(err, -errno, "Cannot read '%s'", image);
    }
    Record rec = {0};
    int r = record_read(dir, name, &rec, err);
    if (r < 0)
        return r;
    if (!rec.info.name || strcmp(rec.info.name, name) != 0) {
        /* the file name is the truth: a record copied by hand may say otherwise */
        if (set_str(&rec.info.name, name) < 0) {
            record_clear(&rec);
            return error_set(err, -ENOMEM, "Out of memory");
        }
    }
    rec.info.path = steal_pointer(&image);
    rec.info.file_size = (uint64_t)st.st_blocks * 512;
    /* a built image's kernel and initrd: the record names files of the store */
    char **files[] = {&rec.info.kernel, &rec.info.initrd};
    for (size_t k = 0; k < ELEMENTSOF(files); k++) {
        if (!*files[k])
            continue;
        char *full = fs_path_join(dir, *files[k]);
        if (!full) {
            record_clear(&rec);
            return error_set(err, -ENOMEM, "Out of memory");
        }
        free(*files[k]);
        *files[k] = full;
    }
    *ret = rec;
    return 0;
}

static int no_image(const char *dir, const char *name, Error *err)
{
    return error_set(err, -ENOENT, "No image '%s' in the image store '%s'", name, dir);
}

int image_store_lookup(const char *state_root, const char *name, ImageInfo *ret, Error *err)
{
    _cleanup_free_ char *dir = image_store_dir(state_root);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    Record rec = {0};
    int r = lookup_in(dir, name, &rec, err);
    if (r == -ENOENT)
        return no_image(dir, name, err);
    if (r < 0)
        return r;
    *ret = rec.info;
    rec.info = (ImageInfo){0};
    record_clear(&rec);
    return 0;
}

static int compare_info(const void *a, const void *b)
{
    return strcmp(((const ImageInfo *)a)->name, ((const ImageInfo *)b)->name);
}

int image_store_list(const char *state_root, ImageInfo **ret, size_t *ret_n, Error *err)
{
    _cleanup_free_ char *dir = image_store_dir(state_root);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            *ret = NULL;
            *ret_n = 0;
            return 0;
        }
        return error_set_errno(err, -errno, "Cannot read the image store '%s'", dir);
    }
    ImageInfo *list = NULL;
    size_t n = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 7 || strcmp(de->d_name + len - 7, ".record") != 0)
            continue;
        _cleanup_free_ char *name = strndup(de->d_name, len - 7);
        if (!name) {
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        Record rec = {0};
        r = lookup_in(dir, name, &rec, err);
        if (r == -ENOENT) {
            r = 0; /* not complete: an import runs or crashed */
            continue;
        }
        if (r < 0)
            break;
        ImageInfo *nl = realloc(list, (n + 1) * sizeof(*list));
        if (!nl) {
            record_clear(&rec);
            r = error_set(err, -ENOMEM, "Out of memory");
            break;
        }
        list = nl;
        list[n++] = rec.info;
        rec.info = (ImageInfo){0};
        record_clear(&rec);
    }
    closedir(d);
    if (r < 0) {
        image_info_list_free(list, n);
        return r;
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), compare_info);
    *ret = list;
    *ret_n = n;
    return 0;
}

/* Change the users of @name under the store's lock (held by the caller). */
static int set_use_locked(const char *dir, const char *name, const char *lab, bool use, Error *err)
{
    Record rec = {0};
    int r = lookup_in(dir, name, &rec, err);
    if (r == -ENOENT)
        return use ? no_image(dir, name, err) : 0;
    if (r < 0)
        return r;
    bool had = false;
    for (size_t k = 0; k < rec.info.n_users; k++)
        had = had || strcmp(rec.info.users[k], lab) == 0;
    if (had != use) {
        if (use)
            r = users_add(&rec.info, lab);
        else
            users_del(&rec.info, lab);
        r = r < 0 ? error_set(err, r, "Out of memory") : record_write(dir, &rec, err);
    }
    record_clear(&rec);
    return r;
}

static int lab_is_valid(const char *lab, Error *err)
{
    if (!lab || !*lab || !text_is_line(lab))
        return error_set(err, -EINVAL, "'%s' is not a lab name", lab ? lab : "");
    return 0;
}

int image_store_set_use(const char *state_root, const char *name, const char *lab, bool use,
                        Error *err)
{
    int r = lab_is_valid(lab, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dir = image_store_dir(state_root);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!name_is_valid(name))
        return use ? no_image(dir, name, err) : 0;
    struct stat st;
    if (stat(dir, &st) < 0)
        return use ? no_image(dir, name, err) : 0;
    int fd = store_lock(dir, err);
    if (fd < 0)
        return fd;
    r = set_use_locked(dir, name, lab, use, err);
    store_unlock(fd);
    return r;
}

/* The kernel and initrd of built image @name, or (@tmp) their temporary files. 0 or -ENOMEM. */
static int build_files_remove(const char *dir, const char *name, bool tmp)
{
    static const char *const suffixes[] = {".vmlinuz", ".initrd"};
    for (size_t k = 0; k < ELEMENTSOF(suffixes); k++) {
        _cleanup_free_ char *suffix = NULL;
        if (asprintf(&suffix, "%s%s", suffixes[k], tmp ? ".tmp" : "") < 0)
            return -ENOMEM;
        _cleanup_free_ char *path = store_file(dir, name, suffix);
        if (!path)
            return -ENOMEM;
        unlink(path);
    }
    return 0;
}

/* "lab 'a'", "labs 'a' and 'b'", "labs 'a', 'b' and 'c'". New string. */
static char *labs_phrase(char *const *users, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs(n == 1 ? "lab" : "labs", f);
    for (size_t k = 0; k < n; k++)
        fprintf(f, "%s'%s'", k == 0 ? " " : k + 1 == n ? " and " : ", ", users[k]);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int image_store_remove(const char *state_root, const char *name, Error *err)
{
    _cleanup_free_ char *dir = image_store_dir(state_root);
    if (!dir)
        return error_set(err, -ENOMEM, "Out of memory");
    struct stat st;
    if (!name_is_valid(name) || stat(dir, &st) < 0)
        return no_image(dir, name, err);

    ImageLock il = {.fd = -1};
    int r = image_lock(dir, name, false, &il, err);
    if (r == -EBUSY)
        return error_set(err, -EBUSY,
                         "Image '%s' is being imported by another kvmlab; try again later", name);
    if (r < 0)
        return r;
    int fd = store_lock(dir, err);
    if (fd < 0) {
        image_unlock(&il);
        return fd;
    }
    Record rec = {0};
    r = lookup_in(dir, name, &rec, err);
    if (r == -ENOENT) {
        r = no_image(dir, name, err);
    } else if (r == 0 && rec.info.n_users > 0) {
        _cleanup_free_ char *labs = labs_phrase(rec.info.users, rec.info.n_users);
        r = error_set(err, -EBUSY, "Image '%s' is in use by %s; take %s down first ('kvmlab down')",
                      name, labs ? labs : "labs",
                      rec.info.n_users == 1 ? "that lab" : "those labs");
    } else if (r == 0) {
        /* the image first: without it the record no longer counts, whatever happens next */
        _cleanup_free_ char *image = store_file(dir, name, ".qcow2");
        _cleanup_free_ char *record = store_file(dir, name, ".record");
        _cleanup_free_ char *part = store_file(dir, name, ".part");
        _cleanup_free_ char *tmp = store_file(dir, name, ".qcow2.tmp");
        if (!image || !record || !part || !tmp)
            r = error_set(err, -ENOMEM, "Out of memory");
        else if (unlink(image) < 0 && errno != ENOENT)
            r = error_set_errno(err, -errno, "Cannot remove '%s'", image);
        else if (unlink(record) < 0 && errno != ENOENT)
            r = error_set_errno(err, -errno, "Cannot remove '%s'", record);
        if (r == 0) {
            /* what a crashed import of it may have left (no import runs: we hold its lock) */
            unlink(part);
            unlink(tmp);
            /* a built image's kernel and initrd: after the record, which names them */
            if (build_files_remove(dir, name, false) < 0 || build_files_remove(dir, name, true) < 0)
                r = error_set(err, -ENOMEM, "Out of memory");
        }
    }
    record_clear(&rec);
    store_unlock(fd);
    image_unlock(&il);
    return r;
}

/* ---- import ------------------------------------------------------------------------------ */

typedef struct Import {
    const char *dir;
    const char *name;
    const LabImage *img;
    ImageProgressFn progress;
    void *userdata;
    Record rec; /* filled as the import goes */
    /* a build: its kernel and initrd, to be renamed into place before the record */
    char *kernel_tmp;
    char *initrd_tmp;
} Import;

static const char *sniff_phrase(const char *kind)
{
    if (strcmp(kind, "iso9660") == 0)
        return "an ISO 9660 CD image";
    if (strcmp(kind, "tar") == 0 || strcmp(kind, "zip") == 0)
        return "an archive";
    return "a compressed file";
}

/* Refuse what no disk image is, by its first bytes: archives, compressed files, CD images. */
static int check_not_archive(const char *path, const char *kind, Error *err)
{
    if (!kind || strcmp(kind, "qcow2") == 0 || strcmp(kind, "vmdk") == 0 ||
        strcmp(kind, "vmdk-descriptor") == 0)
        return 0;
    return error_set(err, -EINVAL, "'%s' is %s (%s), not a disk image%s", path, sniff_phrase(kind),
                     kind, strcmp(kind, "iso9660") == 0 ? "" : "; unpack it first");
}

static int check_format(const char *path, const QemuImgInfo *qi, uint64_t size, Error *err)
{
    if (strcmp(qi->format, "qcow2") != 0 && strcmp(qi->format, "raw") != 0 &&
        strcmp(qi->format, "vmdk") != 0)
        return error_set(err, -EINVAL,
                         "'%s' is a %s image; kvmlab imports qcow2, raw and vmdk images", path,
                         qi->format);
    /* qemu-img calls any file raw: a disk is whole sectors, a text file or a tarball is not */
    if (strcmp(qi->format, "raw") == 0 && (size == 0 || size % 512 != 0))
        return error_set(err, -EINVAL,
                         "'%s' is not a disk image: its %" PRIu64
                         " bytes are not a whole number of 512-byte sectors",
                         path, size);
    return 0;
}

static char *mtime_string(const struct stat *st)
{
    char *s = NULL;
    if (asprintf(&s, "%lld.%09ld", (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec) < 0)
        return NULL;
    return s;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int verify_sha256(Import *im, const char *file, const char *what_file, char got[65],
                         Error *err)
{
    _cleanup_free_ char *what = NULL;
    if (asprintf(&what, "verifying %s", im->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = sha256_file(file, what, im->progress, im->userdata, got, err);
    if (r < 0)
        return r;
    if (im->img->sha256 && strcmp(got, im->img->sha256) != 0)
        return error_set(err, -EBADMSG,
                         "Image '%s': %s does not match its sha256: expected %s, got %s",
                         im->img->name, what_file, im->img->sha256, got);
    return 0;
}

/* A local file into @tmp: checked, then converted (a backing chain flattened). */
static int import_path(Import *im, const char *src, const char *tmp, Error *err)
{
    struct stat before, after;
    if (stat(src, &before) < 0) {
        if (errno == ENOENT)
            return error_set(err, -ENOENT, "Image '%s': the file '%s' does not exist",
                             im->img->name, src);
        return error_set_errno(err, -errno, "Image '%s': cannot read '%s'", im->img->name, src);
    }
    if (S_ISDIR(before.st_mode))
        return error_set(err, -EISDIR, "Image '%s': '%s' is a directory, not a disk image",
                         im->img->name, src);
    if (!S_ISREG(before.st_mode))
        return error_set(err, -EINVAL, "Image '%s': '%s' is not a regular file", im->img->name,
                         src);

    const char *kind = NULL;
    int r = image_sniff_file(src, &kind, err);
    if (r < 0)
        return r;
    if ((r = check_not_archive(src, kind, err)) < 0)
        return r;

    if (im->img->sha256) {
        char got[65];
        _cleanup_free_ char *what_file = NULL;
        if (asprintf(&what_file, "'%s'", src) < 0)
            return error_set(err, -ENOMEM, "Out of memory");
        if ((r = verify_sha256(im, src, what_file, got, err)) < 0)
            return r;
        if ((r = set_str(&im->rec.info.sha256, got)) < 0)
            return error_set(err, r, "Out of memory");
    }

    QemuImgInfo qi = {0};
    if ((r = qemu_img_info(src, &qi, err)) < 0)
        return r;
    r = qemu_img_info_confined(src, &qi, err);
    if (r == 0)
        r = check_format(src, &qi, (uint64_t)before.st_size, err);
    if (r == 0 && qi.backing) {
        /* flattened: qemu-img convert reads through the chain; a missing link is named here
         * rather than in qemu-img's words */
        _cleanup_free_ char *src_dir = strdup(src);
        char *slash = src_dir ? strrchr(src_dir, '/') : NULL;
        if (slash)
            *slash = 0;
        _cleanup_free_ char *backing = image_path_absolute(qi.backing, src_dir);
        struct stat bst;
        if (!backing)
            r = error_set(err, -ENOMEM, "Out of memory");
        else if (stat(backing, &bst) < 0)
            r = error_set(err, -ENOENT,
                          "Image '%s': '%s' stands on the backing file '%s', which does not "
                          "exist",
                          im->img->name, src, qi.backing);
    }
    if (r == 0)
        r = set_str(&im->rec.info.format, qi.format);
    if (r == 0) {
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "importing %s", im->name) < 0)
            r = error_set(err, -ENOMEM, "Out of memory");
        else
            r = qemu_img_convert(src, qi.format, tmp, qi.actual_size, what, im->progress,
                                 im->userdata, err);
    }
    qemu_img_info_clear(&qi);
    if (r < 0)
        return r;

    /* the copy is a snapshot of the file: it must not have changed while being read */
    if (stat(src, &after) < 0 || !same_file_state(&before, &after))
        return error_set(err, -EAGAIN,
                         "Image '%s': '%s' changed while it was being imported; try again "
                         "when nothing writes to it",
                         im->img->name, src);
    im->rec.has_source_stat = true;
    im->rec.source_size = (uint64_t)before.st_size;
    im->rec.source_mtime = mtime_string(&before);
    if (!im->rec.source_mtime)
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
}

/* A downloaded file must stand alone: it cannot name files of this host for qemu-img to read
 * (a backing file, a qcow2 data file, vmdk extents elsewhere). */
static int check_standalone(const char *url, const char *part, const QemuImgInfo *qi, Error *err)
{
    if (qi->backing)
        return error_set(err, -EINVAL,
                         "The image downloaded from '%s' names a backing file ('%s'); a "
                         "downloaded image must stand alone",
                         url, qi->backing);
    if (qi->data_file)
        return error_set(err, -EINVAL,
                         "The image downloaded from '%s' names an external data file ('%s'); a "
                         "downloaded image must stand alone",
                         url, qi->data_file);
    if (strcmp(qi->format, "vmdk") == 0) {
        bool single = qi->create_type && (strcmp(qi->create_type, "monolithicSparse") == 0 ||
                                          strcmp(qi->create_type, "streamOptimized") == 0);
        for (size_t k = 0; single && k < qi->n_extents; k++)
            single = strcmp(qi->extents[k], part) == 0;
        if (!single)
            return error_set(err, -EINVAL,
                             "The vmdk image downloaded from '%s' (%s) keeps its data in other "
                             "files; only single-file vmdk images (monolithicSparse, "
                             "streamOptimized) can be downloaded",
                             url, qi->create_type ? qi->create_type : "no create type");
    }
    return 0;
}

/* A URL into @tmp: downloaded into <name>.part (resumed), verified, checked, converted. */
static int import_url(Import *im, const char *tmp, Error *err)
{
    const char *url = im->img->source;
    _cleanup_free_ char *part = store_file(im->dir, im->name, ".part");
    _cleanup_free_ char *what = NULL;
    if (!part || asprintf(&what, "downloading %s", im->name) < 0)
        return error_set(err, -ENOMEM, "Out of memory");

    int r = fetch_url(url, part, what, im->progress, im->userdata, NULL, err);
    if (r < 0)
        return r;

    char got[65];
    _cleanup_free_ char *what_file = NULL;
    if (asprintf(&what_file, "the download of '%s'", url) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    r = verify_sha256(im, part, what_file, got, err);
    if (r == -EBADMSG) {
        /* not the file asked for: nothing of it is kept, the next run starts afresh */
        unlink(part);
        error_append(err, "the download was deleted");
    }
    if (r < 0)
        return r;
    if ((r = set_str(&im->rec.info.sha256, got)) < 0)
        return error_set(err, r, "Out of memory");

    /* from here on the file is what was asked for, and what it is will not change: a refusal
     * deletes it, since downloading it again gives the same */
    const char *kind = NULL;
    struct stat st;
    QemuImgInfo qi = {0};
    r = image_sniff_file(part, &kind, err);
    if (r == 0)
        r = check_not_archive(url, kind, err);
    if (r == 0 && kind && strcmp(kind, "vmdk-descriptor") == 0)
        r = error_set(err, -EINVAL,
                      "'%s' is a vmdk descriptor that names other files; only single-file "
                      "images can be downloaded",
                      url);
    if (r == 0 && stat(part, &st) < 0)
        r = error_set_errno(err, -errno, "Cannot read '%s'", part);
    if (r == 0)
        r = qemu_img_info(part, &qi, err);
    if (r == 0)
        r = check_format(url, &qi, (uint64_t)st.st_size, err);
    if (r == 0)
        r = check_standalone(url, part, &qi, err);
    if (r == 0)
        r = set_str(&im->rec.info.format, qi.format);
    if (r < 0) {
        qemu_img_info_clear(&qi);
        if (r != -EINTR && r != -ENOMEM)
            unlink(part);
        return r;
    }
    free(what);
    if (asprintf(&what, "converting %s", im->name) < 0)
        what = NULL;
    r = what ? qemu_img_convert(part, qi.format, tmp, qi.actual_size, what, im->progress,
                                im->userdata, err)
             : error_set(err, -ENOMEM, "Out of memory");
    qemu_img_info_clear(&qi);
    return r;
}

/* A recipe built into @tmp (imagebuild.c), its kernel and initrd beside it. */
static int import_build(Import *im, const char *tmp, Error *err)
{
    const char *recipe = im->img->source;
    im->kernel_tmp = store_file(im->dir, im->name, ".vmlinuz.tmp");
    im->initrd_tmp = store_file(im->dir, im->name, ".initrd.tmp");
    _cleanup_free_ char *kernel = store_file(im->dir, im->name, ".vmlinuz");
    _cleanup_free_ char *initrd = store_file(im->dir, im->name, ".initrd");
    if (!im->kernel_tmp || !im->initrd_tmp || !kernel || !initrd)
        return error_set(err, -ENOMEM, "Out of memory");
    int r = image_build_run(im->dir, im->name, recipe, tmp, im->kernel_tmp, im->initrd_tmp,
                            im->progress, im->userdata, err);
    if (r < 0)
        return r;
    /* the record holds the final names; commit() renames the files to them */
    if ((!im->rec.info.os && set_str(&im->rec.info.os, image_recipe_os(recipe)) < 0) ||
        set_str(&im->rec.info.kernel, kernel) < 0 || set_str(&im->rec.info.initrd, initrd) < 0)
        return error_set(err, -ENOMEM, "Out of memory");
    return 0;
}

static int fsync_path(const char *path, Error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return error_set_errno(err, -errno, "Cannot sync '%s'", path);
    return 0;
}

/* The converted image @tmp becomes image im->name: record first, then the file (see top). */
static int commit(Import *im, const char *tmp, Error *err)
{
    QemuImgInfo qi = {0};
    int r = qemu_img_info(tmp, &qi, err);
    if (r < 0)
        return r;
    if (strcmp(qi.format, "qcow2") != 0 || qi.backing) {
        r = error_set(err, -EIO, "qemu-img made '%s' a %s image%s instead of a standalone qcow2",
                      tmp, qi.format, qi.backing ? " with a backing file" : "");
        qemu_img_info_clear(&qi);
        return r;
    }
    im->rec.info.virtual_size = qi.virtual_size;
    qemu_img_info_clear(&qi);

    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (set_str(&im->rec.info.imported_at, stamp) < 0 || set_str(&im->rec.info.name, im->name))
        return error_set(err, -ENOMEM, "Out of memory");
    if ((r = fsync_path(tmp, err)) < 0)
        return r;

    _cleanup_free_ char *image = store_file(im->dir, im->name, ".qcow2");
    if (!image)
        return error_set(err, -ENOMEM, "Out of memory");
    int fd = store_lock(im->dir, err);
    if (fd < 0)
        return fd;
    /* a built image's kernel and initrd before its record: whatever a record names exists */
    if (im->kernel_tmp && rename(im->kernel_tmp, im->rec.info.kernel) < 0)
        r = error_set_errno(err, -errno, "Cannot rename '%s' to '%s'", im->kernel_tmp,
                            im->rec.info.kernel);
    if (r == 0 && im->initrd_tmp && rename(im->initrd_tmp, im->rec.info.initrd) < 0)
        r = error_set_errno(err, -errno, "Cannot rename '%s' to '%s'", im->initrd_tmp,
                            im->rec.info.initrd);
    if (r == 0)
        r = record_write(im->dir, &im->rec, err);
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, image, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST)
            /* only a hand edit leaves an image without its record: never overwritten, since a
             * lab's overlay may stand on it */
            r = error_set(err, -EEXIST,
                          "'%s' is in the image store without kvmlab's record; remove it by hand "
                          "if no guest uses it, then try again",
                          image);
        else
            r = error_set_errno(err, -errno, "Cannot rename '%s' to '%s'", tmp, image);
        _cleanup_free_ char *record = store_file(im->dir, im->name, ".record");
        if (record)
            unlink(record);
    }
    if (r == 0)
        r = fsync_path(im->dir, err);
    store_unlock(fd);
    return r;
}

int image_store_import(const char *state_root, const LabImage *img, const char *base_dir,
                       ImageProgressFn progress, void *userdata, ImageInfo *ret, Error *err)
{
    int r;
    if (!img || !img->name || !img->source || !*img->source)
        return error_set(err, -EINVAL, "Image '%s' has no source",
                         img && img->name ? img->name : "");
    if (!text_is_line(img->source) || (img->os && !text_is_line(img->os)))
        return error_set(err, -EINVAL, "Image '%s': its source holds control characters",
                         img->name);
    if (img->kind == LAB_IMAGE_BUILD && !image_recipe_known(img->source)) {
        _cleanup_free_ char *known = image_recipe_names();
        return error_set(err, -EINVAL,
                         "Image '%s': unknown build recipe '%s'; the known "
                         "recipes are %s",
                         img->name, img->source, known ? known : "");
    }
    if (img->kind == LAB_IMAGE_URL && !img->sha256)
        return error_set(err, -EINVAL,
                         "Image '%s' comes from a URL and needs 'sha256' to verify the download",
                         img->name);
    if (img->sha256 && (strlen(img->sha256) != 64 || strspn(img->sha256, "0123456789abcdef") != 64))
        return error_set(err, -EINVAL, "Image '%s': sha256 '%s' is not 64 lower-case hex digits",
                         img->name, img->sha256);

    _cleanup_free_ char *dir = image_store_dir(state_root);
    _cleanup_free_ char *name = image_store_name(img, base_dir);
    _cleanup_free_ char *src = img->kind == LAB_IMAGE_PATH
                                       ? image_path_absolute(img->source, base_dir)
                                       : strdup(img->source);
    if (!dir || !name || !src)
        return error_set(err, -ENOMEM, "Out of memory");
    if (!name_is_valid(name))
        return error_set(err, -EINVAL, "'%s' is not a valid image name", img->name);
    if ((r = fs_mkdir_p(dir, 0755, err)) < 0)
        return r;

    ImageLock il = {.fd = -1};
    if ((r = image_lock(dir, name, true, &il, err)) < 0)
        return r;

    Import im = {.dir = dir, .name = name, .img = img, .progress = progress, .userdata = userdata};
    _cleanup_free_ char *tmp = store_file(dir, name, ".qcow2.tmp");
    Record hit = {0};
    r = tmp ? lookup_in(dir, name, &hit, err) : error_set(err, -ENOMEM, "Out of memory");
    if (r == 0) {
        /* a cache hit: the stored copy stays what it is, whatever became of the source */
        struct stat st;
        _cleanup_free_ char *mtime = NULL;
        if (img->kind == LAB_IMAGE_PATH && hit.has_source_stat) {
            bool same = stat(src, &st) == 0 && (uint64_t)st.st_size == hit.source_size &&
                        (mtime = mtime_string(&st)) && hit.source_mtime &&
                        strcmp(mtime, hit.source_mtime) == 0;
            hit.info.source_changed = !same;
        }
        *ret = hit.info;
        hit.info = (ImageInfo){0};
        record_clear(&hit);
        image_unlock(&il);
        return 0;
    }
    if (r != -ENOENT)
        goto done;

    r = set_str(&im.rec.info.kind, kind_to_string(img->kind));
    if (r == 0)
        r = set_str(&im.rec.info.source, src);
    if (r == 0 && img->os)
        r = set_str(&im.rec.info.os, img->os);
    if (r < 0) {
        r = error_set(err, r, "Out of memory");
        goto done;
    }
    unlink(tmp); /* left by a crash */
    if (img->kind == LAB_IMAGE_PATH)
        r = import_path(&im, src, tmp, err);
    else if (img->kind == LAB_IMAGE_URL)
        r = import_url(&im, tmp, err);
    else
        r = import_build(&im, tmp, err);
    if (r == 0)
        r = commit(&im, tmp, err);
    if (r == 0 && img->kind == LAB_IMAGE_URL) {
        _cleanup_free_ char *part = store_file(dir, name, ".part");
        if (part)
            unlink(part);
    }
    if (r == 0) {
        r = lookup_in(dir, name, &hit, err);
        if (r == -ENOENT)
            r = no_image(dir, name, err);
    }
    if (r == 0) {
        *ret = hit.info;
        hit.info = (ImageInfo){0};
    }
done:
    if (r < 0 && tmp)
        unlink(tmp);
    if (r < 0 && im.kernel_tmp) {
        /* a build ran: no complete image of this name exists and we hold its lock, so a
         * kernel or initrd of that name is this failed build's */
        build_files_remove(dir, name, true);
        build_files_remove(dir, name, false);
    }
    free(im.kernel_tmp);
    free(im.initrd_tmp);
    record_clear(&hit);
    record_clear(&im.rec);
    image_unlock(&il);
    return r;
}
