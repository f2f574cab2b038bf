#!/usr/bin/env python3
"""Generate the hwloc 2.x XML topologies used by the worker discovery tests.

    python3 tests/topologies/generate.py [OUTDIR]

The files are committed; rerun this script after changing it and check the
result with `lstopo-no-graphics --input FILE` (and `-v` to see the I/O tree;
lstopo filters I/O by default, `--whole-io` shows everything).

h200-vm-opencl.xml is not generated: it is `lstopo-no-graphics --of xml`
run with Ubuntu 24.04's hwloc 2.10 (OpenCL plugin) on a VM with one NVIDIA
H200, where the OpenCL OS device hangs off the host bridge, not the GPU.

The XML follows what hwloc 2.9 writes (topology version="2.0"): normal
objects carry cpusets and nodesets, NUMA nodes are memory children listed
first, I/O objects (Bridge, PCIDev, OSDev) come after the normal children.
hwloc's minimal XML parser (used when hwloc is built without libxml2)
accepts no comments, so the description of each machine lives here.

OS device info names follow hwloc 2.9's backends:
  CUDA    cudaN       osdev_type 5 (CoProc) GPUModel, CUDAGlobalMemorySize (KiB)
  NVML    nvmlN       osdev_type 1 (GPU)    GPUModel, NVIDIASerial, NVIDIAUUID
  OpenCL  openclPdD   osdev_type 5 (CoProc) GPUModel, OpenCLGlobalMemorySize (KiB)
  RSMI    rsmiN       osdev_type 1 (GPU)    GPUModel, AMDSerial, AMDUUID,
                                            RSMIVRAMSize (KiB)
  DRM     cardN, renderDN  osdev_type 1 (GPU), no subtype and no infos
"""
import hashlib
import os
import sys

OSDEV_BLOCK, OSDEV_GPU, OSDEV_NET, OSDEV_OFED, OSDEV_DMA, OSDEV_COPROC = range(6)
GIB = 1 << 30


def bitmap(bits):
    """hwloc bitmap string: 32-bit words, most significant first."""
    if not bits:
        return "0x0"
    value = 0
    for b in bits:
        value |= 1 << b
    words = []
    while value:
        words.append(value & 0xFFFFFFFF)
        value >>= 32
    return ",".join("0x%08x" % w for w in reversed(words))


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def fake_hex(seed, n):
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def nvidia_uuid(seed):
    h = fake_hex(seed, 32)
    return "GPU-%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Obj:
    def __init__(self, type_, attrs=None, infos=None):
        self.type = type_
        self.attrs = list(attrs or [])   # [(name, value)] after type/cpusets
        self.infos = list(infos or [])   # [(name, value)]
        self.memory = []                 # NUMA nodes attached here
        self.children = []               # normal children
        self.io = []                     # I/O children
        self.pus = set()                 # PU OS indexes (normal objects)
        self.os_index = None

    def add(self, child):
        if child.type == "NUMANode":
            self.memory.append(child)
        elif child.type in ("Bridge", "PCIDev", "OSDev"):
            self.io.append(child)
        else:
            self.children.append(child)
        return child


def cpu_obj(type_, os_index=None, attrs=None, infos=None):
    o = Obj(type_, attrs, infos)
    o.os_index = os_index
    return o


def pu(os_index):
    o = cpu_obj("PU", os_index)
    o.pus = {os_index}
    return o


def core(os_index, pu_indexes):
    c = cpu_obj("Core", os_index)
    for p in pu_indexes:
        c.add(pu(p))
    return c


def numa(os_index, memory_bytes):
    n = cpu_obj("NUMANode", os_index, [("local_memory", str(memory_bytes))])
    return n


def l3(size, children):
    c = cpu_obj("L3Cache", None, [("cache_size", str(size)), ("depth", "3"),
                                 ("cache_linesize", "64"),
                                 ("cache_associativity", "16"), ("cache_type", "0")])
    for ch in children:
        c.add(ch)
    return c


def group(children):
    g = cpu_obj("Group", None, [("kind", "1"), ("subkind", "0")])
    for ch in children:
        g.add(ch)
    return g


def pci_type(cls, vendor, device, subvendor, subdevice, rev):
    return "%04x [%04x:%04x] [%04x:%04x] %02x" % (cls, vendor, device, subvendor,
                                                  subdevice, rev)


def busid(bus, dev=0, fn=0, domain=0):
    return "%04x:%02x:%02x.%01x" % (domain, bus, dev, fn)


def pcidev(bus, dev, fn, cls, vendor, device, sub=(0, 0), rev=0, speed=31.5,
           infos=None, osdevs=()):
    o = Obj("PCIDev", [("pci_busid", busid(bus, dev, fn)),
                       ("pci_type", pci_type(cls, vendor, device, sub[0], sub[1], rev)),
                       ("pci_link_speed", "%f" % speed)], infos)
    o.bus = bus
    for od in osdevs:
        o.add(od)
    return o


def bridge(bus, dev, fn, vendor, device, children, speed=31.5):
    """A PCI-to-PCI bridge (root port, switch upstream or downstream port)."""
    o = Obj("Bridge")
    o.pci = (bus, dev, fn, vendor, device, speed)
    o.bus = bus
    for ch in children:
        o.add(ch)
    return o


def hostbridge(children):
    o = Obj("Bridge")
    o.pci = None
    for ch in children:
        o.add(ch)
    return o


def osdev(name, type_, subtype=None, infos=None):
    attrs = [("name", name)]
    if subtype:
        attrs.append(("subtype", subtype))
    attrs.append(("osdev_type", str(type_)))
    return Obj("OSDev", attrs, infos)


def max_bus(o):
    buses = [getattr(o, "bus", 0)]
    for ch in o.io:
        if ch.type in ("Bridge", "PCIDev"):
            buses.append(max_bus(ch))
    return max(buses)


def finish_bridges(o, depth=0):
    """Fill in bridge_type/depth/bus range attributes from the children."""
    for ch in o.memory + o.children:
        finish_bridges(ch)
    for ch in o.io:
        if ch.type == "Bridge":
            buses = [c.bus for c in ch.io if c.type in ("Bridge", "PCIDev")]
            sec, sub = min(buses), max(max_bus(c) for c in ch.io)
            rng = "0000:[%02x-%02x]" % (sec, sub)
            if ch.pci is None:
                ch.attrs = [("bridge_type", "0-1"), ("depth", "0"), ("bridge_pci", rng)]
                finish_bridges(ch, 1)
            else:
                bus, dev, fn, vendor, device, speed = ch.pci
                ch.attrs = [("bridge_type", "1-1"), ("depth", str(depth)),
                            ("bridge_pci", rng), ("pci_busid", busid(bus, dev, fn)),
                            ("pci_type", pci_type(0x0604, vendor, device, vendor, device, 0)),
                            ("pci_link_speed", "%f" % speed)]
                finish_bridges(ch, depth + 1)
        elif ch.type == "PCIDev":
            finish_bridges(ch, depth)


def compute_sets(o, numas):
    """Bottom-up PU sets, then nodesets from NUMA node locality."""
    for ch in o.children:
        o.pus |= compute_sets(ch, numas)
    for m in o.memory:
        numas.append((m, o))
    return o.pus


class Machine:
    def __init__(self, hostname, infos=()):
        self.root = cpu_obj("Machine", 0, infos=[
            ("Backend", "Linux"), ("OSName", "Linux"), ("OSRelease", "6.1.0-18-amd64"),
            ("HostName", hostname), ("Architecture", "x86_64")] + list(infos) + [
            ("hwlocVersion", "2.9.0"), ("ProcessName", "lstopo-no-graphics")])
        self.gp = 0

    def write(self, path):
        numas = []
        compute_sets(self.root, numas)
        for m, parent in numas:
            m.pus = set(parent.pus)
        finish_bridges(self.root)
        self.numas = [m for m, _ in numas]
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
               '<topology version="2.0">']
        self._emit(self.root, 1, out)
        out.append("</topology>")
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")

    def _nodeset(self, o):
        return {m.os_index for m in self.numas if m.pus & o.pus}

    def _emit(self, o, level, out):
        self.gp += 1
        ind = "  " * level
        a = ['type="%s"' % o.type]
        if o.os_index is not None:
            a.append('os_index="%u"' % o.os_index)
        if o.type not in ("Bridge", "PCIDev", "OSDev"):
            cs = bitmap(o.pus)
            ns = bitmap({o.os_index} if o.type == "NUMANode" else self._nodeset(o))
            a += ['cpuset="%s"' % cs, 'complete_cpuset="%s"' % cs]
            if o.type == "Machine":
                a.append('allowed_cpuset="%s"' % cs)
            a += ['nodeset="%s"' % ns, 'complete_nodeset="%s"' % ns]
            if o.type == "Machine":
                a.append('allowed_nodeset="%s"' % ns)
        a.append('gp_index="%u"' % self.gp)
        a += ['%s="%s"' % (k, xml_escape(v)) for k, v in o.attrs]
        head = ind + "<object " + " ".join(a)
        inner = o.memory + o.children + o.io
        if not o.infos and not inner:
            out.append(head + "/>")
            return
        out.append(head + ">")
        for k, v in o.infos:
            out.append('%s  <info name="%s" value="%s"/>' % (ind, xml_escape(k), xml_escape(v)))
        for ch in inner:
            self._emit(ch, level + 1, out)
        out.append(ind + "</object>")


# ---------------------------------------------------------------------------
# GPU builders

H100 = "NVIDIA H100 80GB HBM3"
H100_KIB = 81559 * 1024


def nvidia_osdevs(i, drm, model, mem_kib, uuid, sms, opencl=True):
    """The OS devices a GPU gets with the DRM, CUDA, OpenCL and NVML backends."""
    devs = []
    if drm is not None:
        devs.append(osdev("card%u" % drm[0], OSDEV_GPU))
        devs.append(osdev("renderD%u" % drm[1], OSDEV_GPU))
    devs.append(osdev("cuda%u" % i, OSDEV_COPROC, "CUDA", [
        ("Backend", "CUDA"), ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", model),
        ("CUDAGlobalMemorySize", str(mem_kib)), ("CUDAL2CacheSize", "51200"),
        ("CUDAMultiProcessors", str(sms)), ("CUDACoresPerMP", "128"),
        ("CUDASharedMemorySizePerMP", "48")]))
    if opencl:
        devs.append(osdev("opencl0d%u" % i, OSDEV_COPROC, "OpenCL", [
            ("Backend", "OpenCL"), ("OpenCLDeviceType", "GPU"),
            ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", model),
            ("OpenCLPlatformIndex", "0"), ("OpenCLPlatformName", "NVIDIA CUDA"),
            ("OpenCLPlatformDeviceIndex", str(i)), ("OpenCLComputeUnits", str(sms)),
            ("OpenCLGlobalMemorySize", str(mem_kib))]))
    devs.append(osdev("nvml%u" % i, OSDEV_GPU, "NVML", [
        ("Backend", "NVML"), ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", model),
        ("NVIDIASerial", "16549220%05u" % (int(fake_hex(uuid, 4), 16) % 100000)),
        ("NVIDIAUUID", uuid)]))
    return devs


def aspeed_bmc(root_bus, root_dev, card=0):
    """ASPEED AST2600 BMC: its own PCI bridge, then a VGA device with a DRM card."""
    vga = pcidev(root_bus + 2, 0, 0, 0x0300, 0x1a03, 0x2000, (0x1a03, 0x2000), 0x52,
                 speed=0.25, osdevs=[osdev("card%u" % card, OSDEV_GPU)])
    return bridge(root_bus, root_dev, 0, 0x8086, 0x1bbc, [
        bridge(root_bus + 1, 0, 0, 0x1a03, 0x1150, [vga], speed=0.25)], speed=0.25)


def cpu_package(pkg, ncores, threads, pu_of, numa_nodes, l3_size, l3_cores,
                model, groups=1):
    """A package with `groups` NUMA domains of ncores/groups cores each.

    pu_of(pkg, core, thread) gives a PU OS index; numa_nodes is a list of
    (os_index, bytes), one per group."""
    p = cpu_obj("Package", pkg, infos=[("CPUVendor", model[0]), ("CPUModel", model[1])])
    per_group = ncores // groups
    groups_objs = []
    for g in range(groups):
        cores = [core(c, [pu_of(pkg, c, t) for t in range(threads)])
                 for c in range(g * per_group, (g + 1) * per_group)]
        caches = [l3(l3_size, cores[i:i + l3_cores]) for i in range(0, len(cores), l3_cores)]
        if groups == 1:
            target = p
            for c in caches:
                p.add(c)
        else:
            target = p.add(group(caches))
        target.add(numa(*numa_nodes[g]))
        groups_objs.append(target)
    return p, groups_objs


# ---------------------------------------------------------------------------
# (a) HGX H100: 2 sockets, 8 GPUs behind 4 PCIe switches, ASPEED BMC.

def hgx_h100():
    m = Machine("hgx-h100-01", [("DMIProductName", "HGX H100 8-GPU")])
    intel = ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8462Y+")
    pu_of = lambda p, c, t: t * 32 + p * 16 + c
    mem = [1081627795456, 1082331758592]
    pkgs = []
    for p in range(2):
        pkg, _ = cpu_package(p, 16, 2, pu_of, [(p, mem[p])], 60 * 1024 * 1024, 16, intel)
        pkgs.append(m.root.add(pkg))
    gpu = 0

    def switch(root_bus, nic):
        nonlocal gpu
        ports = []
        for k in range(2):
            uuid = nvidia_uuid("hgx-h100-gpu%u" % gpu)
            dev = pcidev(root_bus + 3 + k, 0, 0, 0x0302, 0x10de, 0x2330, (0x10de, 0x16c1),
                         0xa1, osdevs=nvidia_osdevs(gpu, (gpu + 1, 129 + gpu), H100,
                                                    H100_KIB, uuid, 132))
            ports.append(bridge(root_bus + 2, k, 0, 0x1000, 0xc030, [dev]))
            gpu += 1
        if nic:
            ib = pcidev(root_bus + 5, 0, 0, 0x0207, 0x15b3, 0x1021, (0x15b3, 0x0041), 0,
                        osdevs=[osdev("ibp%us0" % (root_bus + 5), OSDEV_NET,
                                      infos=[("Address", "00:00:10:49:fe:80:00:00")]),
                                osdev("mlx5_%u" % (gpu // 4), OSDEV_OFED,
                                      infos=[("NodeGUID", "a088:c203:00%02x:1234" % root_bus)])])
            ports.append(bridge(root_bus + 2, 2, 0, 0x1000, 0xc030, [ib]))
        up = bridge(root_bus + 1, 0, 0, 0x1000, 0xc030, ports)
        return hostbridge([bridge(root_bus, 1, 0, 0x8086, 0x352a, [up])])

    sata = pcidev(0x00, 0x17, 0, 0x0106, 0x8086, 0x1bf2, (0x15d9, 0x1c48), 0x11,
                  osdevs=[osdev("sda", OSDEV_BLOCK, infos=[("Size", "937692504"),
                                                          ("SectorSize", "512"),
                                                          ("Model", "SAMSUNG MZ7L3960")])])
    pkgs[0].add(hostbridge([sata, aspeed_bmc(0x00, 0x1c)]))
    pkgs[0].add(switch(0x15, nic=True))
    pkgs[0].add(switch(0x35, nic=False))
    pkgs[1].add(switch(0x95, nic=True))
    pkgs[1].add(switch(0xb5, nic=False))
    return m


# ---------------------------------------------------------------------------
# (b) AMD EPYC, 2 sockets in NPS4 mode: 8 NUMA domains, no GPU.

def epyc_nps4():
    m = Machine("epyc-nps4-01", [("DMIProductName", "AS-2124US-TNRP")])
    amd = ("AuthenticAMD", "AMD EPYC 7313 16-Core Processor")
    pu_of = lambda p, c, t: t * 32 + p * 16 + c
    sizes = [68451041280, 68719476736, 68719476736, 68719476736,
             68719476736, 34359738368, 68719476736, 68719476736]
    groups = []
    for p in range(2):
        nodes = [(p * 4 + g, sizes[p * 4 + g]) for g in range(4)]
        pkg, gs = cpu_package(p, 16, 2, pu_of, nodes, 32 * 1024 * 1024, 2, amd, groups=4)
        m.root.add(pkg)
        groups += gs
    groups[0].add(hostbridge([aspeed_bmc(0x60, 0x03)]))
    nvme = pcidev(0x41, 0, 0, 0x0108, 0x144d, 0xa80a, (0x144d, 0xa801), 0,
                  osdevs=[osdev("nvme0n1", OSDEV_BLOCK, infos=[("Size", "3750738264"),
                                                              ("SectorSize", "512")])])
    groups[1].add(hostbridge([bridge(0x40, 0x01, 1, 0x1022, 0x1483, [nvme])]))
    nic = pcidev(0xc1, 0, 0, 0x0200, 0x15b3, 0x101d, (0x15b3, 0x0016), 0,
                 osdevs=[osdev("enp193s0f0np0", OSDEV_NET,
                               infos=[("Address", "b8:ce:f6:01:02:03")])])
    groups[5].add(hostbridge([bridge(0xc0, 0x01, 1, 0x1022, 0x1483, [nic])]))
    return m


# ---------------------------------------------------------------------------
# (c) AMD GPU node: 1 EPYC socket (NPS4), 2 MI250X OAMs = 4 GCDs with RSMI.

def mi250x():
    m = Machine("mi250x-01", [("DMIProductName", "HPE Cray EX235a")])
    amd = ("AuthenticAMD", "AMD Optimized 3rd Generation EPYC 64C 2.0GHz")
    pu_of = lambda p, c, t: t * 16 + c
    nodes = [(g, 135291469824) for g in range(4)]
    pkg, groups = cpu_package(0, 16, 2, pu_of, nodes, 32 * 1024 * 1024, 2, amd, groups=4)
    m.root.add(pkg)
    gcd = {0x83: 0, 0x84: 1, 0xc3: 2, 0xc4: 3}   # rsmi numbering is bus order

    def oam(root_bus):
        ports = []
        for k in range(2):
            bus = root_bus + 3 + k
            i = gcd[bus]
            infos = [("GPUVendor", "AMD"), ("GPUModel", "AMD Instinct MI250X"),
                     ("AMDSerial", "PCB0%05u" % (4711 + i // 2)),
                     ("AMDUUID", fake_hex("mi250x-gcd%u" % i, 16)),
                     ("XGMIHiveID", "5fa0e1e2b3c4d5e6"),
                     ("RSMIVRAMSize", "67092480"), ("RSMIVisibleVRAMSize", "67092480"),
                     ("RSMIGTTSize", "528383864")]
            dev = pcidev(bus, 0, 0, 0x0380, 0x1002, 0x740c, (0x1002, 0x0b0c), 0x01,
                         osdevs=[osdev("card%u" % i, OSDEV_GPU),
                                 osdev("renderD%u" % (128 + i), OSDEV_GPU),
                                 osdev("rsmi%u" % i, OSDEV_GPU, "RSMI", infos)])
            ports.append(bridge(root_bus + 2, k, 0, 0x1002, 0x14a1, [dev]))
        up = bridge(root_bus + 1, 0, 0, 0x1002, 0x14a0, ports)
        return hostbridge([bridge(root_bus, 1, 1, 0x1022, 0x14ab, [up])])

    groups[0].add(oam(0xc0))   # listed first in the tree, second in bus order
    groups[2].add(oam(0x80))
    return m


# ---------------------------------------------------------------------------
# (d) CPU-only Intel server; the OS reported no NUMA node, so hwloc made
# one covering the machine (attached to the root). Matrox BMC VGA, QAT.

def cpu_only():
    m = Machine("cpu-01", [("DMIProductName", "PowerEdge R250")])
    intel = ("GenuineIntel", "Intel(R) Xeon(R) E-2378 CPU @ 2.60GHz")
    pu_of = lambda p, c, t: c * 2 + t
    pkg = cpu_obj("Package", 0, infos=[("CPUVendor", intel[0]), ("CPUModel", intel[1])])
    pkg.add(l3(16 * 1024 * 1024, [core(c, [pu_of(0, c, t) for t in range(2)])
                                  for c in range(8)]))
    m.root.add(numa(0, 33396969472))
    m.root.add(pkg)
    matrox = pcidev(0x03, 0, 0, 0x0300, 0x102b, 0x0536, (0x1028, 0x0a6b), 0x04, speed=0.25,
                    osdevs=[osdev("card0", OSDEV_GPU)])
    nic = pcidev(0x01, 0, 0, 0x0200, 0x8086, 0x1572, (0x8086, 0x0006), 0x02,
                 osdevs=[osdev("eno1", OSDEV_NET, infos=[("Address", "3c:ec:ef:00:11:22")])])
    qat = pcidev(0x02, 0, 0, 0x0b40, 0x8086, 0x4940, (0x8086, 0x0000), 0x40)
    sata = pcidev(0x00, 0x17, 0, 0x0106, 0x8086, 0x43d2, (0x1028, 0x0a6b), 0x11,
                  osdevs=[osdev("sda", OSDEV_BLOCK, infos=[("Size", "468851544"),
                                                          ("SectorSize", "512")])])
    m.root.add(hostbridge([
        sata,
        bridge(0x00, 0x01, 0, 0x8086, 0x4c01, [nic]),
        bridge(0x00, 0x06, 0, 0x8086, 0x4c09, [qat]),
        bridge(0x00, 0x1c, 0, 0x8086, 0x43bc, [matrox]),
    ]))
    return m


# ---------------------------------------------------------------------------
# (e) Workstation: 2 NVIDIA GPUs, the first (lower bus id) has no driver.
# hwloc was built with libpciaccess here, so PCI devices carry names.

def workstation():
    m = Machine("ws-01", [("DMIProductName", "Precision 7865 Tower")])
    amd = ("AuthenticAMD", "AMD Ryzen Threadripper PRO 5955WX 16-Cores")
    pu_of = lambda p, c, t: c * 2 + t
    pkg, _ = cpu_package(0, 16, 2, pu_of, [(0, 135010574336)], 32 * 1024 * 1024, 8, amd)
    m.root.add(pkg)
    names = lambda v, d: [("PCIVendor", v), ("PCIDevice", d)]
    a4000 = pcidev(0x01, 0, 0, 0x0300, 0x10de, 0x24b0, (0x10de, 0x14ad), 0xa1,
                   infos=names("NVIDIA Corporation", "GA104GL [RTX A4000]"))
    a4000_audio = pcidev(0x01, 0, 1, 0x0403, 0x10de, 0x228b, (0x10de, 0x14ad), 0xa1,
                         infos=names("NVIDIA Corporation", "GA104 High Definition Audio Controller"))
    rtx4090 = pcidev(0x41, 0, 0, 0x0300, 0x10de, 0x2684, (0x1043, 0x889c), 0xa1,
                     infos=names("NVIDIA Corporation", "AD102 [GeForce RTX 4090]"),
                     osdevs=nvidia_osdevs(0, (0, 128), "NVIDIA GeForce RTX 4090",
                                          24564 * 1024, nvidia_uuid("ws-4090"), 128,
                                          opencl=False))
    rtx4090_audio = pcidev(0x41, 0, 1, 0x0403, 0x10de, 0x22ba, (0x1043, 0x889c), 0xa1,
                           infos=names("NVIDIA Corporation", "AD102 High Definition Audio Controller"))
    nic = pcidev(0x45, 0, 0, 0x0200, 0x8086, 0x15f3, (0x1028, 0x0a6d), 0x03,
                 infos=names("Intel Corporation", "Ethernet Controller I225-V"),
                 osdevs=[osdev("enp69s0", OSDEV_NET, infos=[("Address", "a4:bb:6d:00:aa:01")])])
    pkg.add(hostbridge([bridge(0x00, 0x01, 1, 0x1022, 0x1453, [a4000, a4000_audio])]))
    pkg.add(hostbridge([bridge(0x40, 0x01, 1, 0x1022, 0x1453, [rtx4090, rtx4090_audio]),
                        bridge(0x40, 0x03, 1, 0x1022, 0x1453, [nic])]))
    return m


# ---------------------------------------------------------------------------
# (f) Corner cases, on a 2-socket machine whose PCI locality is unknown
# (all I/O hangs off the machine root, as in many VMs):
#   00:04.0 NVIDIA T4 on the root bus, NVML only       -> GPU, NUMA unknown
#   00:05.0 NVIDIA T4 on the root bus, no OS device    -> GPU, no driver
#   01:00.0 Intel Max 1100 with Level Zero ze0 + subdevices ze0.0/ze0.1
#           nested in ze0, and DRM                     -> one GPU
#   02:00.0 AMD MI300X, class 0x1200, RSMI with a hwloc-3-style "KiB"
#           memory size                                -> GPU
#   03:00.0 Habana Gaudi2, class 0x1200                -> not a GPU
#   04:00.0 Xilinx FPGA with an OpenCL Accelerator     -> not a GPU
#   05:00.0 NEC VectorEngine CoProc                    -> not a GPU
#   06:00.0 AMD GPU's HDMI audio function, class 0x0403 -> not a GPU
#   an OpenCL GPU device hwloc hung on the host bridge: two GPUs sit there,
#   so it can't be told whose it is                      -> ignored

def corner_cases():
    m = Machine("corner-01")
    intel = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz")
    pu_of = lambda p, c, t: p * 4 + c
    for p in range(2):
        pkg, _ = cpu_package(p, 4, 1, pu_of, [(p, 16 * GIB)], 8 * 1024 * 1024, 4, intel)
        m.root.add(pkg)
    t4_nvml = osdev("nvml0", OSDEV_GPU, "NVML", [
        ("Backend", "NVML"), ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", "Tesla T4"),
        ("NVIDIAUUID", nvidia_uuid("corner-t4"))])
    t4 = pcidev(0x00, 0x04, 0, 0x0302, 0x10de, 0x1eb8, (0x10de, 0x12a2), 0xa1,
                osdevs=[t4_nvml])
    t4_bare = pcidev(0x00, 0x05, 0, 0x0302, 0x10de, 0x1eb8, (0x10de, 0x12a2), 0xa1)
    ze = osdev("ze0", OSDEV_COPROC, "LevelZero", [
        ("Backend", "LevelZero"), ("LevelZeroDeviceType", "GPU"),
        ("LevelZeroUUID", fake_hex("corner-max1100", 32)),
        ("LevelZeroVendor", "Intel(R) Corporation"),
        ("LevelZeroModel", "Intel(R) Data Center GPU Max 1100"),
        ("LevelZeroHBMSize", str(48 * 1024 * 1024))])
    for k in range(2):
        ze.add(osdev("ze0.%u" % k, OSDEV_COPROC, "LevelZero", [
            ("LevelZeroDeviceType", "GPU"), ("LevelZeroSubdeviceID", str(k)),
            ("LevelZeroHBMSize", str(24 * 1024 * 1024))]))
    pvc = pcidev(0x01, 0, 0, 0x0380, 0x8086, 0x0bda, (0x8086, 0x0000), 0x2f,
                 osdevs=[osdev("card1", OSDEV_GPU), osdev("renderD129", OSDEV_GPU), ze])
    mi300 = pcidev(0x02, 0, 0, 0x1200, 0x1002, 0x74a1, (0x1002, 0x74a1), 0x00,
                   osdevs=[osdev("rsmi0", OSDEV_GPU, "RSMI", [
                       ("GPUVendor", "AMD"), ("GPUModel", "AMD Instinct MI300X"),
                       ("AMDUUID", fake_hex("corner-mi300x", 16)),
                       ("RSMIVRAMSize", "%uKiB" % (192 * 1024 * 1024))])])
    gaudi = pcidev(0x03, 0, 0, 0x1200, 0x1da3, 0x1020, (0x1da3, 0x1020), 0x01)
    fpga = pcidev(0x04, 0, 0, 0x1200, 0x10ee, 0x5020, (0x10ee, 0x000e), 0x00,
                  osdevs=[osdev("opencl1d0", OSDEV_COPROC, "OpenCL", [
                      ("Backend", "OpenCL"), ("OpenCLDeviceType", "Accelerator"),
                      ("GPUVendor", "Xilinx"), ("GPUModel", "xilinx_u250_gen3x16"),
                      ("OpenCLGlobalMemorySize", str(64 * 1024 * 1024))])])
    ve = pcidev(0x05, 0, 0, 0x0b40, 0x1bcf, 0x001c, (0x1bcf, 0x001c), 0x01,
                osdevs=[osdev("ve0", OSDEV_COPROC, "VectorEngine", [
                    ("VectorEngineModel", "1"), ("VectorEngineMemorySize", "50331648")])])
    audio = pcidev(0x06, 0, 1, 0x0403, 0x1002, 0xab28, (0x1002, 0xab28), 0x00)
    orphan = osdev("opencl0d0", OSDEV_COPROC, "OpenCL", [
        ("Backend", "OpenCL"), ("OpenCLDeviceType", "GPU"),
        ("GPUVendor", "NVIDIA Corporation"), ("GPUModel", "Tesla T4 seen by OpenCL"),
        ("OpenCLGlobalMemorySize", "15474112")])
    m.root.add(hostbridge([t4, t4_bare, orphan,
                           bridge(0x00, 0x10, 0, 0x8086, 0x347a, [pvc]),
                           bridge(0x00, 0x11, 0, 0x8086, 0x347a, [mi300]),
                           bridge(0x00, 0x12, 0, 0x8086, 0x347a, [gaudi]),
                           bridge(0x00, 0x13, 0, 0x8086, 0x347a, [fpga]),
                           bridge(0x00, 0x14, 0, 0x8086, 0x347a, [ve]),
                           bridge(0x00, 0x15, 0, 0x8086, 0x347a, [audio])]))
    return m


FIXTURES = {
    "hgx-h100-8gpu": hgx_h100,
    "epyc-2s-nps4": epyc_nps4,
    "mi250x-4gcd": mi250x,
    "cpu-only-1s": cpu_only,
    "workstation-2gpu-nodriver": workstation,
    "corner-cases": corner_cases,
}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, build in FIXTURES.items():
        build().write(os.path.join(outdir, name + ".xml"))
        print(os.path.join(outdir, name + ".xml"))


if __name__ == "__main__":
    main()
