/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure text for the lab's storage: pool and volume XML, canonical spec texts and their hash. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/addr.h"
#include "kvmlab/cleanup.h"
#include "kvmlab/storagepool.h"
#include "kvmlab/text.h"

char *storage_pool_xml(const char *name, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs("<pool type='dir'>\n  <name>", f);
    text_put_xml_escaped(f, name);
    fputs("</name>\n  <target>\n    <path>", f);
    text_put_xml_escaped(f, path);
    fputs("</path>\n    <permissions>\n      <mode>0711</mode>\n    </permissions>\n"
          "  </target>\n</pool>\n",
          f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *storage_volume_xml(const char *name, uint64_t capacity, const char *backing,
                         const char *backing_format)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs("<volume type='file'>\n  <name>", f);
    text_put_xml_escaped(f, name);
    fprintf(f,
            "</name>\n  <capacity unit='bytes'>%" PRIu64 "</capacity>\n"
            "  <allocation unit='bytes'>0</allocation>\n"
            "  <target>\n    <format type='qcow2'/>\n"
            "    <permissions>\n      <mode>0600</mode>\n    </permissions>\n  </target>\n",
            capacity);
    if (backing) {
        fputs("  <backingStore>\n    <path>", f);
        text_put_xml_escaped(f, backing);
        /* recorded in the overlay, so nobody probes the base (a raw file probed is a risk) */
        fputs("</path>\n    <format type='", f);
        text_put_xml_escaped(f, backing_format ? backing_format : "qcow2");
        fputs("'/>\n  </backingStore>\n", f);
    }
    fputs("</volume>\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *storage_pool_spec_text(const char *path)
{
    char *s = NULL;
    return asprintf(&s, "type=dir\npath=%s\n", path) < 0 ? NULL : s;
}

char *storage_volume_spec_text(const char *backing, uint64_t capacity)
{
    char *s = NULL;
    /* capacity changes in place (a grow); format and backing would need a new volume */
    if (capacity)
        return asprintf(&s, "format=qcow2\nbacking=%s\nlive.capacity=%" PRIu64 "\n",
                        backing ? backing : "none", capacity) < 0
                       ? NULL
                       : s;
    return asprintf(&s, "format=qcow2\nbacking=%s\nlive.capacity=image\n",
                    backing ? backing : "none") < 0
                   ? NULL
                   : s;
}

char *storage_image_spec_text(const LabImage *img, const char *store_name)
{
    static const char *const kinds[] = {"build", "path", "url"};
    char *s = NULL;
    return asprintf(&s, "kind=%s\nsource=%s\nsha256=%s\nstore=%s\n", kinds[img->kind],
                    img->source ? img->source : "", img->sha256 ? img->sha256 : "none",
                    store_name) < 0
                   ? NULL
                   : s;
}

char *storage_spec_hash(const char *spec)
{
    char *s = NULL;
    uint64_t h = hash_fnv1a_str(HASH_FNV_INIT, "kvmlab-storage");
    h = hash_fnv1a_str(h, spec ? spec : "");
    return asprintf(&s, "%016" PRIx64, h) < 0 ? NULL : s;
}

char *storage_volume_record(const char *state_root, const char *lab)
{
    char *s = NULL;
    return asprintf(&s, "%s/labs/%s/volumes", state_root, lab) < 0 ? NULL : s;
}
