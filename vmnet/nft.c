/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure: the lab's nftables table for port forwards, as nft input text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmlab/vmnet.h"

char *vmnet_nft_table_name(const char *lab)
{
    char *s = NULL;
    if (asprintf(&s, "kvmlab-%s", lab) < 0)
        return NULL;
    return s;
}

static void rules_write(FILE *f, const VmnetForwardSet *set)
{
    char ip[IPV4_STRLEN];
    for (size_t i = 0; i < set->n; i++) {
        const VmnetForward *fw = &set->forwards[i];
        /* only traffic for one of the host's own addresses is forwarded, as VMware does */
        fprintf(f, "\t\tfib daddr type local %s dport %u dnat to %s:%u comment \"%s\"\n",
                lab_proto_to_string(fw->proto), fw->host_port, addr_ipv4_format(fw->target_ip, ip),
                fw->target_port, fw->node ? fw->node : "");
    }
}

char *vmnet_nft_table_format(const VmnetForwardSet *set, const char *hash)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "table ip kvmlab-%s {\n", set->lab);
    fprintf(f, "\tcomment \"kvmlab lab=%s hash=%s\"\n", set->lab, hash);
    /* guests reach out under the host's address; as libvirt does, multicast and broadcast
     * stay untouched */
    fputs("\tchain postrouting {\n"
          "\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
          f);
    for (size_t i = 0; i < set->n_masquerade; i++) {
        char net[CIDR_STRLEN];
        addr_cidr_format(&set->masquerade[i], net);
        fprintf(f,
                "\t\tip saddr %s ip daddr != %s ip daddr != { 224.0.0.0/24, 255.255.255.255 } "
                "masquerade\n",
                net, net);
    }
    fputs("\t}\n", f);
    /* from outside the host */
    fputs("\tchain prerouting {\n"
          "\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
          f);
    rules_write(f, set);
    fputs("\t}\n", f);
    /* from the host itself: locally made connections never pass prerouting */
    fputs("\tchain output {\n"
          "\t\ttype nat hook output priority -100; policy accept;\n",
          f);
    rules_write(f, set);
    fputs("\t}\n", f);
    fputs("}\n", f);
    fclose(f);
    return buf;
}

int vmnet_nft_comment_parse(const char *listing, char **ret_lab, char **ret_hash)
{
    const char *c = strstr(listing ? listing : "", "comment \"kvmlab lab=");
    char lab[64], hash[64];
    if (!c || sscanf(c, "comment \"kvmlab lab=%63s hash=%63[0-9a-f]\"", lab, hash) != 2)
        return -ENOENT;
    *ret_lab = strdup(lab);
    *ret_hash = strdup(hash);
    if (!*ret_lab || !*ret_hash) {
        free(*ret_lab);
        free(*ret_hash);
        *ret_lab = *ret_hash = NULL;
        return -ENOMEM;
    }
    return 0;
}
