/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OS facts from the installed osinfo-db, read through libosinfo: which virtio drivers an OS
 * brings, whether it boots from q35's AHCI. The database is loaded once per process, on the
 * first lookup (0.35-0.5 s for osinfo-db 20221203 on this machine kind: 4.5 MB of XML),
 * and kept; everything else here is pure.
 *
 * An id the database lacks (debian12 in Debian 12's own osinfo-db 20221203) is placed by
 * family and version: the newest release of the same family (the same short-id prefix) not
 * newer than the id, or osinfo's generic linuxNNNN for an id that is clearly a Linux of a
 * family the database does not know. What the database gets wrong is corrected by a small
 * override table, each row with its source.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <osinfo/osinfo.h>

#if defined(__SANITIZE_ADDRESS__)
#define KVMLAB_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KVMLAB_LSAN 1
#endif
#endif
#ifdef KVMLAB_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/fsutil.h"
#include "kvmlab/spectext.h"
#include "kvmlab/storage.h"
#include "kvmlab/text.h"

#define OSINFO_SYSTEM_DIR_DEFAULT "/usr/share/osinfo"

/* Devices as osinfo-db names them (device/pcisig.com/, device/qemu.org/): the legacy and the
 * virtio 1.0 PCI ids of each virtio device, as virt-install matches "virtio.*-block". */
#define DEV_VIRTIO_NET   "http://pcisig.com/pci/1af4/1000"
#define DEV_VIRTIO_BLK   "http://pcisig.com/pci/1af4/1001"
#define DEV_VIRTIO_SCSI  "http://pcisig.com/pci/1af4/1004"
#define DEV_VIRTIO1_NET  "http://pcisig.com/pci/1af4/1041"
#define DEV_VIRTIO1_BLK  "http://pcisig.com/pci/1af4/1042"
#define DEV_VIRTIO1_SCSI "http://pcisig.com/pci/1af4/1048"
#define DEV_CHIPSET_Q35  "http://qemu.org/chipset/x86/q35"

/*
 * Corrections to osinfo-db, applied to the entry the facts come from. Keep this small: a row
 * belongs here only when the database is wrong and the source says so.
 */
typedef struct OsOverride {
    const char *ids[4]; /* osinfo short ids the row applies to, NULL-terminated */
    int virtio1;        /* -1: unchanged; else the corrected fact */
    const char *text;   /* what changed and why, shown in OsFacts.override */
} OsOverride;

static const OsOverride overrides[] = {
        /*
         * osinfo-db 20221203 gives Ubuntu virtio 1.0 only from 17.04 (with the q35 chipset),
         * but 15.10, 16.04 and 16.10 ship Linux 4.2, 4.4 and 4.8 (Ubuntu's release notes), and
         * modern virtio-pci, drivers/virtio/virtio_pci_modern.c, is in Linux since 4.0. Debian 9
         * (Linux 4.9) is listed with virtio 1.0 in the same database.
         */
        {{"ubuntu15.10", "ubuntu16.04", "ubuntu16.10", NULL},
         1,
         "virtio 1.0 drivers, which osinfo-db lists from ubuntu17.04 only: Ubuntu 15.10-16.10 "
         "ship Linux 4.2-4.8, and Linux has had virtio 1.0 PCI drivers since 4.0"},
};

/*
 * Linux distributions absent from osinfo-db 20221203 (osinfo-query os finds none of them):
 * an id starting with one of these, or containing "linux", is clearly a Linux and is placed
 * as osinfo's generic linuxNNNN.
 */
static const char *const linux_prefixes[] = {"kali", "amzn",  "flatcar", "openeuler", "photon",
                                             "mint", "zorin", "deepin",  NULL};

typedef struct OsEntry {
    char *short_id; /* one short id (an OS may have several: centos7.0 and centos7) */
    size_t prefix_len;
    const char *version; /* inside short_id: the trailing dotted number; NULL when none */
    OsinfoOs *os;        /* owned by the loader's database */
} OsEntry;

typedef struct OsDb {
    OsinfoLoader *loader;
    OsEntry *entries;
    size_t n;
    int error;     /* negative errno when loading failed */
    char *message; /* why, when it did */
} OsDb;

static OsDb db;
static pthread_once_t db_once = PTHREAD_ONCE_INIT;
static char *db_version;
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static const char *system_dir(void)
{
    /* libosinfo's own override of its system path */
    const char *d = getenv("OSINFO_SYSTEM_DIR");
    return d && *d ? d : OSINFO_SYSTEM_DIR_DEFAULT;
}

static void version_load(void)
{
    char *path = NULL;
    if (asprintf(&path, "%s/VERSION", system_dir()) < 0)
        return;
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return;
    char buf[64] = "";
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, " \t\r\n")] = '\0';
        if (buf[0])
            db_version = strdup(buf);
    }
    fclose(f);
}

const char *os_db_version(void)
{
    pthread_once(&version_once, version_load);
    return db_version;
}

static const char *version_or_unknown(void)
{
    const char *v = os_db_version();
    return v ? v : "(version unknown)";
}

/* Where the trailing version of a short id starts ("debian11" -> "11", "ubuntu22.04" ->
 * "22.04", "win2k19" -> "19"), or NULL when it has none ("archlinux", "rhel9-unknown"). */
static const char *id_version(const char *id)
{
    size_t len = strlen(id), i = len;
    while (i > 0 && ((id[i - 1] >= '0' && id[i - 1] <= '9') || id[i - 1] == '.'))
        i--;
    while (i < len && id[i] == '.')
        i++;
    if (i == len || i == 0)
        return NULL;
    return id + i;
}

/* Dotted versions compared number by number; a missing part counts as 0 ("7" == "7.0"). */
static int version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        char *ea, *eb;
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
    }
    return 0;
}

static void db_load(void)
{
    GError *gerr = NULL;
    db.loader = osinfo_loader_new();
#ifdef KVMLAB_LSAN
    /* libosinfo 1.10 (Debian 12) loses 19 small blocks (184 bytes) while reading the os/
     * entries, once per process (measured with a program that only loads the database). Not
     * ours to free: LeakSanitizer is told to ignore what the loader allocates, nothing else. */
    __lsan_disable();
#endif
    osinfo_loader_process_default_path(db.loader, &gerr);
#ifdef KVMLAB_LSAN
    __lsan_enable();
#endif
    if (gerr) {
        /* libxml2's messages end in a newline */
        size_t len = strlen(gerr->message);
        while (len > 0 && strchr(" \t\r\n", gerr->message[len - 1]))
            len--;
        db.error = -EIO;
        if (asprintf(&db.message, "Cannot read osinfo-db under '%s': %.*s", system_dir(), (int)len,
                     gerr->message) < 0)
            db.message = NULL;
        g_error_free(gerr);
        return;
    }
    OsinfoOsList *list = osinfo_db_get_os_list(osinfo_loader_get_db(db.loader));
    gint n = osinfo_list_get_length(OSINFO_LIST(list));
    size_t cap = 0;
    for (gint i = 0; i < n; i++) {
        OsinfoOs *os = OSINFO_OS(osinfo_list_get_nth(OSINFO_LIST(list), i));
        GList *ids = osinfo_product_get_short_id_list(OSINFO_PRODUCT(os));
        for (GList *l = ids; l; l = l->next) {
            if (db.n == cap) {
                cap = cap ? 2 * cap : 1024;
                OsEntry *e = reallocarray(db.entries, cap, sizeof(*e));
                if (!e) {
                    g_list_free(ids);
                    g_object_unref(list);
                    db.error = -ENOMEM;
                    return;
                }
                db.entries = e;
            }
            OsEntry *e = &db.entries[db.n];
            if (!(e->short_id = strdup(l->data))) {
                g_list_free(ids);
                g_object_unref(list);
                db.error = -ENOMEM;
                return;
            }
            e->version = id_version(e->short_id);
            e->prefix_len = e->version ? (size_t)(e->version - e->short_id) : strlen(e->short_id);
            e->os = os;
            db.n++;
        }
        g_list_free(ids);
    }
    g_object_unref(list);
    if (db.n == 0) {
        db.error = -ENOENT;
        if (asprintf(&db.message,
                     "osinfo-db has no OS entries under '%s': is the osinfo-db package installed?",
                     system_dir()) < 0)
            db.message = NULL;
    }
}

static int db_get(Error *err)
{
    pthread_once(&db_once, db_load);
    if (db.error == -ENOMEM)
        return error_set(err, -ENOMEM, "Out of memory");
    if (db.error)
        return error_set(err, db.error, "%s", db.message ? db.message : "Cannot read osinfo-db");
    return 0;
}

static const OsEntry *find_exact(const char *id)
{
    for (size_t i = 0; i < db.n; i++)
        if (strcmp(db.entries[i].short_id, id) == 0)
            return &db.entries[i];
    return NULL;
}

static bool same_prefix(const OsEntry *e, const char *id, size_t prefix_len)
{
    return e->version && e->prefix_len == prefix_len && strncmp(e->short_id, id, prefix_len) == 0;
}

/* The entry of family @id[0..prefix_len) with the newest version not newer than @version (any
 * version when @version is NULL). *ret_newest_overall tells whether it is the family's newest. */
static const OsEntry *find_family(const char *id, size_t prefix_len, const char *version,
                                  bool *ret_newest_overall)
{
    const OsEntry *best = NULL, *newest = NULL;
    for (size_t i = 0; i < db.n; i++) {
        const OsEntry *e = &db.entries[i];
        if (!same_prefix(e, id, prefix_len))
            continue;
        if (!newest || version_cmp(e->version, newest->version) > 0)
            newest = e;
        if (version && version_cmp(e->version, version) > 0)
            continue;
        if (!best || version_cmp(e->version, best->version) > 0)
            best = e;
    }
    if (ret_newest_overall)
        *ret_newest_overall = best && newest && best->os == newest->os;
    return best;
}

static bool family_exists(const char *id, size_t prefix_len)
{
    for (size_t i = 0; i < db.n; i++)
        if (same_prefix(&db.entries[i], id, prefix_len))
            return true;
    return false;
}

static bool is_clearly_linux(const char *id)
{
    if (strstr(id, "linux"))
        return true;
    for (const char *const *p = linux_prefixes; *p; p++)
        if (strncmp(id, *p, strlen(*p)) == 0)
            return true;
    return false;
}

/* osinfo's generic linuxNNNN for @id: the newest not after a year the id names, else the
 * newest there is. */
static const OsEntry *find_generic_linux(const char *id)
{
    char year[5] = "";
    for (const char *p = id; *p; p++) {
        if (strspn(p, "0123456789") >= 4 && (p[0] == '1' || p[0] == '2') &&
            (p == id || !(p[-1] >= '0' && p[-1] <= '9'))) {
            memcpy(year, p, 4);
            break;
        }
    }
    const OsEntry *e = year[0] ? find_family("linux", 5, year, NULL) : NULL;
    return e ? e : find_family("linux", 5, NULL, NULL);
}

static size_t typo_limit(size_t len)
{
    /* short words are one or two edits from everything: demand more similarity */
    return len <= 3 ? 1 : 2;
}

static const char *primary_id(OsinfoOs *os)
{
    return osinfo_product_get_short_id(OSINFO_PRODUCT(os));
}

/*
 * What the user probably meant by @id, which nothing places: the newest release of a family
 * named without a version ("debian" -> "debian11"); else the closest short id ("winx" ->
 * "winxp") or the id with its family name corrected ("debain12" -> "debian12", which would be
 * placed), whichever takes fewer edits (the short id on a tie). New string or NULL.
 */
static char *did_you_mean(const char *id)
{
    const char *ver = id_version(id);
    size_t plen = ver ? (size_t)(ver - id) : strlen(id);
    const OsEntry *e;

    if (family_exists(id, plen) && (e = find_family(id, plen, NULL, NULL)))
        return strdup(primary_id(e->os));

    /* the closest whole id */
    const char *closest = NULL;
    size_t closest_d = SIZE_MAX;
    for (size_t i = 0; i < db.n; i++) {
        size_t d = text_edit_distance(id, db.entries[i].short_id);
        if (d <= typo_limit(strlen(db.entries[i].short_id)) && d < closest_d) {
            closest = db.entries[i].short_id;
            closest_d = d;
        }
    }

    /* the closest family name */
    const OsEntry *best = NULL;
    size_t best_d = SIZE_MAX;
    _cleanup_free_ char *prefix = strndup(id, plen);
    if (!prefix)
        return NULL;
    for (size_t i = 0; i < db.n; i++) {
        const OsEntry *c = &db.entries[i];
        if (!c->version || c->prefix_len > 64)
            continue;
        char cp[65];
        memcpy(cp, c->short_id, c->prefix_len);
        cp[c->prefix_len] = '\0';
        size_t d = text_edit_distance(prefix, cp);
        if (d <= typo_limit(c->prefix_len) && d < best_d) {
            best = c;
            best_d = d;
        }
    }
    if (closest && closest_d <= best_d)
        return strdup(closest);
    if (!best)
        return NULL;
    const OsEntry *newest = find_family(best->short_id, best->prefix_len, NULL, NULL);
    if (ver) {
        char *cand = NULL;
        if (asprintf(&cand, "%.*s%s", (int)best->prefix_len, best->short_id, ver) < 0)
            return NULL;
        if (find_exact(cand) || find_family(cand, best->prefix_len, ver, NULL))
            return cand;
        free(cand);
    }
    return strdup(primary_id(newest->os));
}

static bool has_device(OsinfoDeviceList *devs, const char *a, const char *b)
{
    gint n = osinfo_list_get_length(OSINFO_LIST(devs));
    for (gint i = 0; i < n; i++) {
        const gchar *id = osinfo_entity_get_id(osinfo_list_get_nth(OSINFO_LIST(devs), i));
        if (strcmp(id, a) == 0 || (b && strcmp(id, b) == 0))
            return true;
    }
    return false;
}

/* The facts of one database entry, overrides applied. */
static int facts_of(OsinfoOs *os, OsFacts *f)
{
    const char *family = osinfo_os_get_family(os);
    const char *distro = osinfo_os_get_distro(os);
    bool is_linux = family && strcmp(family, "linux") == 0;

    f->windows = family && strncmp(family, "win", 3) == 0;
    if (!(f->family = strdup(distro ? distro : family ? family : "unknown")))
        return -ENOMEM;

    /* derives-from and clones followed: centos7.0 lists nothing itself but clones rhel7.7 */
    OsinfoDeviceList *devs = osinfo_os_get_all_devices(os, NULL);
    f->virtio_blk = has_device(devs, DEV_VIRTIO_BLK, DEV_VIRTIO1_BLK);
    f->virtio_scsi = has_device(devs, DEV_VIRTIO_SCSI, DEV_VIRTIO1_SCSI);
    f->virtio_net = has_device(devs, DEV_VIRTIO_NET, DEV_VIRTIO1_NET);
    f->virtio1 = has_device(devs, DEV_VIRTIO1_NET, DEV_VIRTIO1_BLK);
    /*
     * osinfo-db records no AHCI device, only the q35 chipset (from win7, rhel6.0, debian9,
     * ubuntu17.04, fedora23, alpinelinux3.11 on; derived entries inherit it). A Linux whose
     * entry lists virtio-blk drivers runs Linux 2.6.24 (January 2008) or later, or a vendor
     * kernel with virtio backported (RHEL 5.x): ahci binds any controller with the AHCI PCI
     * class, ICH9's included, since before 2.6.20 (December 2006). So such a Linux boots from
     * q35's AHCI even where its entry does not list the chipset (debian5-8, ubuntu before
     * 17.04). Windows before 7 and Linux without virtio stay on pc.
     */
    f->q35 = has_device(devs, DEV_CHIPSET_Q35, NULL) || (is_linux && f->virtio_blk);
    g_object_unref(devs);

    const char *id = primary_id(os);
    for (size_t i = 0; i < ELEMENTSOF(overrides); i++) {
        const OsOverride *o = &overrides[i];
        bool match = false;
        for (const char *const *p = o->ids; *p; p++)
            match = match || strcmp(*p, id) == 0;
        if (!match || o->virtio1 < 0 || f->virtio1 == (o->virtio1 != 0))
            continue;
        f->virtio1 = o->virtio1 != 0;
        free(f->override);
        if (asprintf(&f->override, "%s: %s", id, o->text) < 0) {
            f->override = NULL;
            return -ENOMEM;
        }
    }
    return 0;
}

static bool streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* ---- the facts cache --------------------------------------------------------------------- */

/*
 * Loading osinfo-db reads some 1,200 XML files (0.4 s here) to answer a question about one or two
 * ids, on every validate, plan and up. The facts of an id that the database answered are kept
 * in a small file per id under a directory named after what the answer depends on: this file's
 * rules (CACHE_FORMAT, bumped when they change), the database's VERSION and the modification
 * times of libosinfo's system and local directories, so an updated or overridden database is a
 * new directory.
 */
#define CACHE_FORMAT 1

static char *cache_root;

void os_facts_set_cache(const char *dir)
{
    free(cache_root);
    cache_root = dir ? strdup(dir) : NULL;
}

static long long mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static char *cache_file(const char *id)
{
    if (!cache_root)
        return NULL;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._-", *p)))
            return NULL; /* never a path */
    if (id[0] == '.' || strlen(id) > 64)
        return NULL;
    /* what libosinfo reads: its system, local and user directories and the legacy ones, each
     * with its own and its os/ and os/<vendor>/ directories' times (a package update renames
     * files into those), and the database's VERSION */
    const char *local = getenv("OSINFO_LOCAL_DIR");
    const char *user = getenv("OSINFO_USER_DIR");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    _cleanup_free_ char *user_dir = NULL;
    if (user && *user)
        user_dir = strdup(user);
    else if (xdg && *xdg)
        user_dir = fs_path_join(xdg, "osinfo");
    else if (home && *home)
        user_dir = fs_path_join(home, ".config/osinfo");
    const char *data = getenv("OSINFO_DATA_DIR");
    _cleanup_free_ char *data_db = data && *data ? fs_path_join(data, "db") : NULL;
    const char *dirs[] = {system_dir(), local && *local ? local : "/etc/osinfo", user_dir, data_db,
                          "/etc/libosinfo/db"};
    uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, "kvmlab-osinfo-facts");
    h = hash_fnv1a_str(h, version_or_unknown());
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        char buf[64];
        if (!dirs[i])
            continue;
        h = hash_fnv1a_str(h, dirs[i]);
        snprintf(buf, sizeof(buf), "%lld", mtime_ns(dirs[i]));
        h = hash_fnv1a_str(h, buf);
        _cleanup_free_ char *os_dir = fs_path_join(dirs[i], "os");
        DIR *d = os_dir ? opendir(os_dir) : NULL;
        if (!d)
            continue;
        snprintf(buf, sizeof(buf), "%lld", mtime_ns(os_dir));
        h = hash_fnv1a_str(h, buf);
        struct dirent *de;
        while ((de = readdir(d))) {
            _cleanup_free_ char *sub = fs_path_join(os_dir, de->d_name);
            snprintf(buf, sizeof(buf), "%lld", sub ? mtime_ns(sub) : 0);
            h = hash_fnv1a_str(h, de->d_name);
            h = hash_fnv1a_str(h, buf);
        }
        closedir(d);
    }
    char *path = NULL;
    if (asprintf(&path, "%s/f%d-%016llx/%s", cache_root, CACHE_FORMAT, (unsigned long long)h, id) <
        0)
        return NULL;
    return path;
}

static bool cache_read(const char *id, OsFacts *ret)
{
    _cleanup_free_ char *file = cache_file(id);
    _cleanup_free_ char *text = NULL;
    if (!file || fs_read_all(file, &text, NULL, NULL) < 0)
        return false;
    OsFacts f = {0};
    _cleanup_free_ char *w = spec_text_get(text, "windows");
    _cleanup_free_ char *vb = spec_text_get(text, "virtio_blk");
    _cleanup_free_ char *vs = spec_text_get(text, "virtio_scsi");
    _cleanup_free_ char *vn = spec_text_get(text, "virtio_net");
    _cleanup_free_ char *v1 = spec_text_get(text, "virtio1");
    _cleanup_free_ char *q = spec_text_get(text, "q35");
    f.id = strdup(id);
    f.osinfo_id = spec_text_get(text, "osinfo_id");
    f.family = spec_text_get(text, "family");
    f.placed = spec_text_get(text, "placed");
    f.override = spec_text_get(text, "override");
    const char *const flags[] = {w, vb, vs, vn, v1, q};
    bool valid = f.id && f.osinfo_id && f.family;
    for (size_t i = 0; i < sizeof(flags) / sizeof(*flags); i++)
        valid = valid && flags[i] && (streq(flags[i], "0") || streq(flags[i], "1"));
    if (!valid) {
        /* a damaged file is a miss, never facts with virtio turned off */
        os_facts_clear(&f);
        return false;
    }
    f.windows = streq(w, "1");
    f.virtio_blk = streq(vb, "1");
    f.virtio_scsi = streq(vs, "1");
    f.virtio_net = streq(vn, "1");
    f.virtio1 = streq(v1, "1");
    f.q35 = streq(q, "1");
    *ret = f;
    return true;
}

static void cache_write(const OsFacts *f)
{
    _cleanup_free_ char *file = cache_file(f->id);
    _cleanup_free_ char *text = NULL;
    if (!file ||
        asprintf(&text,
                 "osinfo_id=%s\n%s%s%s%s%s%s%s%s%swindows=%d\nvirtio_blk=%d\n"
                 "virtio_scsi=%d\nvirtio_net=%d\nvirtio1=%d\nq35=%d\n",
                 f->osinfo_id, f->family ? "family=" : "", f->family ? f->family : "",
                 f->family ? "\n" : "", f->placed ? "placed=" : "", f->placed ? f->placed : "",
                 f->placed ? "\n" : "", f->override ? "override=" : "",
                 f->override ? f->override : "", f->override ? "\n" : "", f->windows, f->virtio_blk,
                 f->virtio_scsi, f->virtio_net, f->virtio1, f->q35) < 0)
        return;
    char *slash = strrchr(file, '/');
    *slash = '\0';
    /* a cache that cannot be written costs only the next load */
    if (fs_mkdir_p(file, 0755, NULL) < 0)
        return;
    *slash = '/';
    (void)fs_write_atomic(file, text, 0644, NULL);
}

int os_facts_lookup(const char *id, OsFacts *ret, Error *err)
{
    OsFacts f = {0};
    int r;

    if (!id || !*id)
        return error_set(err, -ENOENT, "An empty os is not an osinfo short id");
    if (cache_read(id, ret))
        return 0;
    if ((r = db_get(err)) < 0)
        return r;

    const OsEntry *e = find_exact(id);
    char *placed = NULL;
    int pr = 0;
    if (!e) {
        const char *ver = id_version(id);
        size_t plen = ver ? (size_t)(ver - id) : strlen(id);
        bool newest = false;
        if (ver && (e = find_family(id, plen, ver, &newest))) {
            pr = newest ? asprintf(&placed, "%s is newer than this osinfo-db (%s): treated as %s",
                                   id, version_or_unknown(), primary_id(e->os))
                        : asprintf(&placed,
                                   "%s is not in this osinfo-db (%s): treated as %s, the release "
                                   "before it",
                                   id, version_or_unknown(), primary_id(e->os));
        } else if (!family_exists(id, plen) && is_clearly_linux(id) &&
                   (e = find_generic_linux(id))) {
            pr = asprintf(&placed,
                          "%s is a Linux this osinfo-db (%s) does not know: treated as osinfo's "
                          "generic %s",
                          id, version_or_unknown(), primary_id(e->os));
        } else {
            _cleanup_free_ char *hint = did_you_mean(id);
            if (hint)
                return error_set(err, -ENOENT,
                                 "os '%s' is not known to osinfo-db %s; did you mean '%s'?", id,
                                 version_or_unknown(), hint);
            return error_set(err, -ENOENT,
                             "os '%s' is not known to osinfo-db %s (see 'osinfo-query os')", id,
                             version_or_unknown());
        }
        if (pr < 0)
            return error_set(err, -ENOMEM, "Out of memory");
    }
    f.placed = placed;
    if (!(f.id = strdup(id)) || !(f.osinfo_id = strdup(primary_id(e->os))) ||
        facts_of(e->os, &f) < 0) {
        os_facts_clear(&f);
        return error_set(err, -ENOMEM, "Out of memory");
    }
    cache_write(&f);
    *ret = f;
    return 0;
}

void os_facts_clear(OsFacts *f)
{
    if (!f)
        return;
    free(f->id);
    free(f->osinfo_id);
    free(f->family);
    free(f->placed);
    free(f->override);
    *f = (OsFacts){0};
}
