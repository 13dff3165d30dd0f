#!/usr/bin/env python3
"""Turn kvmlab's network definitions into plain ones for the virsh side of the benchmarks.

    virsh-xml.py OUTDIR PREFIX < listing

The listing on stdin is kvmlab's definitions (virsh net-dumpxml --inactive, concatenated). Each
gets the name PREFIX-<key> and the bridge PREFIX<i> (libvirt's 15-character limit), loses its
uuid, MAC and kvmlab metadata (so kvmlab never counts it as its own), keeps everything else.
"""
import re
import sys
import xml.etree.ElementTree as ET

DNSMASQ = "http://libvirt.org/schemas/network/dnsmasq/1.0"
ET.register_namespace("dnsmasq", DNSMASQ)

outdir, prefix = sys.argv[1], sys.argv[2]
text = sys.stdin.read()
docs = re.findall(r"<network\b.*?</network>", text, re.S)
for i, doc in enumerate(docs):
    root = ET.fromstring(doc)
    old = root.find("name").text
    key = old.split("-", 1)[1]
    for tag in ("uuid", "mac", "metadata"):
        for el in root.findall(tag):
            root.remove(el)
    name = f"{prefix}-{key}"
    root.find("name").text = name
    br = root.find("bridge")
    if br is not None:
        br.set("name", f"{prefix}{i}")
    ET.ElementTree(root).write(f"{outdir}/{name}.xml", encoding="unicode")
print(len(docs))
