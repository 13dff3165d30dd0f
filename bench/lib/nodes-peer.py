#!/usr/bin/env python3
"""What the virt-install peer of bench/nodes.sh needs from each node kvmlab made, read from the
daemon's own XML: one shell-sourceable DIR/NODE/node.env per node (cpus, memory, machine, the
direct-boot kernel, initrd and command line, the root disk's capacity and bus, the seed's bus, the
NICs' networks, MACs and models), and the node names, one a line, on stdout.
    nodes-peer.py DIR LAB NODE...   (DIR/NODE/domain.xml and volume.xml, from virsh dumpxml)"""
import shlex
import sys
import xml.etree.ElementTree as ET

UNITS = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "b": 1 / 1048576, "bytes": 1 / 1048576}


def main():
    top, lab, nodes = sys.argv[1], sys.argv[2], sys.argv[3:]
    for n in nodes:
        d = ET.parse(f"{top}/{n}/domain.xml").getroot()
        v = ET.parse(f"{top}/{n}/volume.xml").getroot()
        mem = d.find("memory")
        os_ = d.find("os")
        disks = d.findall("devices/disk")
        root = [x for x in disks if x.get("device") == "disk"][0]
        seed = [x for x in disks if x.get("device") == "cdrom"]
        nics = []
        for i in d.findall("devices/interface"):
            net = i.find("source").get("network")
            model = i.find("model")
            nics.append(f"{net},{i.find('mac').get('address')},{model.get('type') if model is not None else 'virtio'}")
        env = {
            "TYPE": d.get("type"),
            "CPUS": d.find("vcpu").text,
            "MEMORY": str(int(int(mem.text) * UNITS[mem.get("unit", "KiB")])),
            "MACHINE": os_.find("type").get("machine"),
            "KERNEL": os_.findtext("kernel"),
            "INITRD": os_.findtext("initrd"),
            "CMDLINE": os_.findtext("cmdline"),
            "CAPACITY": v.find("capacity").text,
            "ROOTBUS": root.find("target").get("bus"),
            "SEEDBUS": seed[0].find("target").get("bus") if seed else "",
            "NICS": " ".join(nics),
        }
        with open(f"{top}/{n}/node.env", "w") as f:
            for k, val in env.items():
                f.write(f"{k}={shlex.quote(val or '')}\n")
        print(n)


main()
