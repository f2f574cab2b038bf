/* JSON output of discovered resources. */
#include "resources_print.h"

#include <errno.h>

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    /* Reject overlong forms, surrogates and code points above U+10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

void worker_json_print_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        size_t len = utf8_len(s);
        if (len == 0) {
            fputs("\\ufffd", f);
            s++;
            continue;
        }
        switch (*s) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*s < 0x20 || *s == 0x7f)
                fprintf(f, "\\u%04x", *s);
            else
                fwrite(s, 1, len, f);
        }
        s += len;
    }
    fputc('"', f);
}

static void print_opt_string(FILE *f, const char *s)
{
    if (s)
        worker_json_print_string(f, s);
    else
        fputs("null", f);
}

static void print_ids(FILE *f, const unsigned *ids, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%u", i ? ", " : "", ids[i]);
    fputc(']', f);
}

static void print_labels(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_label_count(r);
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        worker_json_print_string(f, worker_resources_label_key(r, i));
        fputs(": ", f);
        worker_json_print_string(f, worker_resources_label_value(r, i));
    }
    fputc('}', f);
}

static void print_numa(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_numa_count(r);
    fputs("  \"numa\": [", f);
    for (size_t i = 0; i < n; i++) {
        const worker_numa_t *d = worker_resources_numa(r, i);
        fprintf(f, "%s\n    {\"id\": %u, \"memory_bytes\": %llu, \"pus\": ", i ? "," : "",
                d->os_index, (unsigned long long)d->memory_bytes);
        print_ids(f, d->pus, d->npus);
        fputs(", \"cores\": ", f);
        print_ids(f, d->cores, d->ncores);
        fputc('}', f);
    }
    fputs(n ? "\n  ],\n" : "],\n", f);
}

static void print_cores(const worker_resources_t *r, FILE *f)
{
    size_t n = worker_resources_core_count(r);
    fputs("  \"cores_list\": [", f);
    for (size_t i = 0; i < n; i++) {
        const worker_core_t *c = worker_resources_core(r, i);
        fprintf(f, "%s\n    {\"index\": %u, \"numa\": ", i ? "," : "", c->index);
        if (c->numa >= 0)
            fprintf(f, "%d", c->numa);
        else
            fputs("null", f);
        fputs(", \"pus\": ", f);
        print_ids(f, c->pus, c->npus);
        fputc('}', f);
    }
    fputs(n ? "\n  ],\n" : "],\n", f);
}

static void print_gpu(const worker_gpu_t *g, FILE *f)
{
    fprintf(f, "    {\"index\": %u, \"vendor\": \"%s\", \"model\": ", g->index,
            worker_gpu_vendor_name(g->vendor));
    print_opt_string(f, g->model);
    fputs(", \"memory_bytes\": ", f);
    if (g->memory_bytes)
        fprintf(f, "%llu", (unsigned long long)g->memory_bytes);
    else
        fputs("null", f);
    fputs(", \"uuid\": ", f);
    print_opt_string(f, g->uuid);
    fprintf(f, ", \"pci_bus_id\": \"%s\", \"pci_id\": \"%04x:%04x\", \"numa\": ", g->pci_bus_id,
            g->pci_vendor_id, g->pci_device_id);
    if (g->numa >= 0)
        fprintf(f, "%d", g->numa);
    else
        fputs("null", f);
    fprintf(f, ", \"has_driver\": %s, \"locality_group\": %u, \"driver\": ",
            g->has_driver ? "true" : "false", g->locality_group);
    print_opt_string(f, g->driver);
    fputs(", \"driver_version\": ", f);
    print_opt_string(f, g->driver_version);
    fputs(", \"cuda_version\": ", f);
    print_opt_string(f, g->cuda_version);
    fputc('}', f);
}

int worker_resources_print_json(const worker_resources_t *r, FILE *f)
{
    size_t ngpus = worker_resources_gpu_count(r);

    fputs("{\n  \"node\": ", f);
    worker_json_print_string(f, worker_resources_node(r));
    fputs(",\n  \"labels\": ", f);
    print_labels(r, f);
    fprintf(f, ",\n  \"fingerprint\": \"%016llx\",\n",
            (unsigned long long)worker_resources_fingerprint(r));
    fprintf(f,
            "  \"packages\": %u,\n  \"cores\": %zu,\n  \"pus\": %u,\n  \"memory_bytes\": %llu,\n",
            worker_resources_package_count(r), worker_resources_core_count(r),
            worker_resources_pu_count(r), (unsigned long long)worker_resources_memory_bytes(r));
    print_numa(r, f);
    print_cores(r, f);
    fputs("  \"gpus\": [", f);
    for (size_t i = 0; i < ngpus; i++) {
        fputs(i ? ",\n" : "\n", f);
        print_gpu(worker_resources_gpu(r, i), f);
    }
    fputs(ngpus ? "\n  ]\n}\n" : "]\n}\n", f);
    if (fflush(f) != 0 || ferror(f))
        return -EIO;
    return 0;
}
