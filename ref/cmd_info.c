/* cmd_info.c - 'lsdseg info FILE.safetensors': metadata, tensor table and parameter count. */
#include <stdio.h>
#include <string.h>

#include "../gan/lsd.h"
#include "../tensor/safetensors.h"

int cmd_info(int argc, char **argv);

/* Prints the usage of the command to f. */
static void info_usage(FILE *f)
{
    fprintf(f,
            "usage: lsdseg info FILE.safetensors\n"
            "\n"
            "Validates FILE and prints its metadata, a table of its tensors (name, dtype,\n"
            "shape, element count) and the total parameter count (elements of all tensors).\n"
            "Every dtype of the format is listed: BOOL, U8..U64, I8..I64, F16, BF16, F32,\n"
            "F64, the F8 kinds, F4, F6_E2M3, F6_E3M2 and C64.\n"
            "For an lsdseg model or checkpoint it also prints the network sizes, read from\n"
            "the shapes of its tensors.\n"
            "Exit status 1 if the file cannot be read or is malformed.\n");
}

/* Formats a shape as "(2, 3, 4)" into buf. */
static void format_shape(char *buf, size_t cap, const st_entry *e)
{
    size_t o;
    int i;
    o = (size_t)snprintf(buf, cap, "(");
    for (i = 0; i < e->ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)e->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

int cmd_info(int argc, char **argv)
{
    st_file sf;
    lsd_err err;
    unsigned long long total = 0;
    int i, width = 4, dwidth = 5;
    char name[256], shape[256], val[1024];
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        info_usage(stdout);
        return 0;
    }
    if (argc != 2) {
        info_usage(stderr);
        return 2;
    }
    if (argv[1][0] == '-' && argv[1][1] == '-') {
        fprintf(stderr, "lsdseg info: unknown option '%s' (try --help)\n", argv[1]);
        return 2;
    }
    if (st_open(&sf, argv[1], &err) != LSD_OK) {
        fprintf(stderr, "lsdseg info: %s\n", err.msg);
        return 1;
    }
    printf("file: %s (%llu bytes, header %llu bytes)\n", argv[1],
           (unsigned long long)sf.file_size, (unsigned long long)(sf.data_start - 8));
    printf("metadata: %d key%s\n", sf.nmeta, sf.nmeta == 1 ? "" : "s");
    for (i = 0; i < sf.nmeta; i++) {
        st_printable(sf.meta_keys[i], name, sizeof name);
        st_printable(sf.meta_vals[i], val, sizeof val);
        printf("  %s = %s\n", name, val);
    }
    for (i = 0; i < sf.n; i++) {
        int k;
        st_printable(sf.entries[i].name, name, sizeof name);
        k = (int)strlen(name);
        if (k > width) width = k < 60 ? k : 60;
        k = (int)strlen(st_dtype_name(sf.entries[i].dtype)); /* up to 11: F8_E4M3FNUZ */
        if (k > dwidth) dwidth = k;
    }
    printf("tensors: %d\n", sf.n);
    printf("  %-*s  %-*s  %-24s  %s\n", width, "name", dwidth, "dtype", "shape", "elements");
    for (i = 0; i < sf.n; i++) {
        const st_entry *e = &sf.entries[i];
        st_printable(e->name, name, sizeof name);
        format_shape(shape, sizeof shape, e);
        printf("  %-*s  %-*s  %-24s  %llu\n", width, name, dwidth, st_dtype_name(e->dtype),
               shape, (unsigned long long)e->nelem);
        total += (unsigned long long)e->nelem;
    }
    printf("total parameters: %llu\n", total);
    {
        /* a model file says what network it holds: the sizes follow from five shapes */
        LsdConfig c;
        lsd_err cerr;
        if (lsd_config_from_file(&c, &sf, &cerr) == LSD_OK)
            printf("network: vgg %d, fc %d, ngf %d, ndf %d, classes %d%s\n", c.vgg, c.fc, c.ngf,
                   c.ndf, c.n_class,
                   (c.vgg == 64 && c.fc == 4096 && c.ngf == 64 && c.ndf == 64) ? " (the paper's)"
                                                                              : "");
        else if (st_find(&sf, "F.conv1_1.weight") || st_find(&sf, "G.stage4_upsample.0.weight"))
            printf("network: incomplete (%s)\n", cerr.msg);
    }
    st_close(&sf);
    return 0;
}
