/*
 * checkpoint.c - crash-safe checkpoints, validation and resume (checkpoint.h,
 * docs/checkpoints.md).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "checkpoint.h"

#define CKPT_PREFIX "ckpt-"
#define CKPT_SUFFIX ".safetensors"
#define CKPT_TMP_SUFFIX ".tmp"
#define CKPT_CHUNK 65536

/* ------------------------------------------------------------------ digests */

uint64_t ckpt_fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Hashes t's values in the little-endian form st_writer_save writes them. */
static uint64_t digest_tensor(uint64_t h, const st_out_tensor *t)
{
    unsigned char buf[CKPT_CHUNK];
    size_t es = st_dtype_size(t->dtype), per = CKPT_CHUNK / es, k;
    uint64_t ne = st_out_nelem(t), done = 0;
    while (done < ne) {
        k = (ne - done < (uint64_t)per) ? (size_t)(ne - done) : per;
        st_out_encode(t, done, k, buf);
        h = ckpt_fnv1a64(h, buf, k * es);
        done += k;
    }
    return h;
}

uint64_t ckpt_writer_digest(const st_writer *writer)
{
    uint64_t h = CKPT_FNV_OFFSET;
    int i;
    for (i = 0; i < writer->n; i++) h = digest_tensor(h, &writer->t[i]);
    return h;
}

/* Hashes one tensor-table line: name NUL dtype NUL d0,d1,.. NUL begin NUL end LF. */
static uint64_t digest_entry(uint64_t h, const char *name, st_dtype dt, int ndim,
                             const int64_t *shape, uint64_t begin, uint64_t end)
{
    char num[48];
    int j;
    h = ckpt_fnv1a64(h, name, strlen(name) + 1);
    h = ckpt_fnv1a64(h, st_dtype_name(dt), strlen(st_dtype_name(dt)) + 1);
    for (j = 0; j < ndim; j++) {
        sprintf(num, "%s%lld", j ? "," : "", (long long)shape[j]);
        h = ckpt_fnv1a64(h, num, strlen(num));
    }
    sprintf(num, "%llu", (unsigned long long)begin);
    h = ckpt_fnv1a64(h, "", 1);
    h = ckpt_fnv1a64(h, num, strlen(num) + 1);
    sprintf(num, "%llu\n", (unsigned long long)end);
    h = ckpt_fnv1a64(h, num, strlen(num));
    return h;
}

typedef struct {
    const char *k, *v;
} kv;

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const kv *)a)->k, ((const kv *)b)->k);
}

/* Hashes the metadata entries except "header_digest", sorted by key: key NUL value LF. */
static int digest_meta(uint64_t *h, char **keys, char **vals, int n)
{
    kv *p = (kv *)malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    int i, m = 0;
    if (!p) return -1;
    for (i = 0; i < n; i++)
        if (strcmp(keys[i], "header_digest")) {
            p[m].k = keys[i];
            p[m].v = vals[i];
            m++;
        }
    qsort(p, (size_t)m, sizeof *p, kv_cmp);
    for (i = 0; i < m; i++) {
        *h = ckpt_fnv1a64(*h, p[i].k, strlen(p[i].k) + 1);
        *h = ckpt_fnv1a64(*h, p[i].v, strlen(p[i].v));
        *h = ckpt_fnv1a64(*h, "\n", 1);
    }
    free(p);
    return 0;
}

/* The header digest of what writer would write (tensor table in file order, then metadata). */
static int writer_header_digest(const st_writer *writer, uint64_t *out)
{
    uint64_t h = CKPT_FNV_OFFSET, off = 0;
    int i;
    for (i = 0; i < writer->n; i++) {
        const st_out_tensor *t = &writer->t[i];
        uint64_t bytes = st_out_nelem(t) * st_dtype_size(t->dtype);
        h = digest_entry(h, t->name, t->dtype, t->ndim, t->shape, off, off + bytes);
        off += bytes;
    }
    if (digest_meta(&h, writer->meta_keys, writer->meta_vals, writer->nmeta)) return -1;
    *out = h;
    return 0;
}

/* The header digest of an open file (entries are in file order). */
static int file_header_digest(const st_file *sf, uint64_t *out)
{
    uint64_t h = CKPT_FNV_OFFSET;
    int i;
    for (i = 0; i < sf->n; i++) {
        const st_entry *e = &sf->entries[i];
        h = digest_entry(h, e->name, e->dtype, e->ndim, e->shape, e->begin, e->end);
    }
    if (digest_meta(&h, sf->meta_keys, sf->meta_vals, sf->nmeta)) return -1;
    *out = h;
    return 0;
}

/* Digest of the bytes [data_start, file_size) of an open file. */
static int file_data_digest(st_file *sf, uint64_t *out, lsd_err *err)
{
    unsigned char *buf = (unsigned char *)malloc(CKPT_CHUNK);
    uint64_t left = sf->file_size - sf->data_start, h = CKPT_FNV_OFFSET;
    int rc = LSD_OK;
    if (!buf) return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory", sf->path);
    if (fseeko(sf->f, (off_t)sf->data_start, SEEK_SET) != 0) {
        free(buf);
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot seek to the data: %s", sf->path,
                        strerror(errno));
    }
    while (left > 0) {
        size_t k = left < CKPT_CHUNK ? (size_t)left : CKPT_CHUNK;
        if (fread(buf, 1, k, sf->f) != k) {
            rc = lsd_fail(err, LSD_ERR_IO, "%s: data section ends early or is unreadable",
                          sf->path);
            break;
        }
        h = ckpt_fnv1a64(h, buf, k);
        left -= k;
    }
    free(buf);
    *out = h;
    return rc;
}

/* ------------------------------------------------------------------ info and metadata */

void ckpt_info_init(CkptInfo *ci)
{
    memset(ci, 0, sizeof *ci);
    ci->lr_f_weight = 1e-5;
    ci->lr_f_bias = 2e-5;
    ci->lr_gd = 1e-4;
    ci->seed = 1337;
    strcpy(ci->method, "lsd");
}

/* Parses a hex digest of 16 digits; returns 0 on success. */
static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int i;
    if (!s || strlen(s) != 16) return -1;
    for (i = 0; i < 16; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return -1;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* Parses a whole decimal integer >= 0; returns 0 on success. */
static int parse_long(const char *s, long *out)
{
    char *end;
    long v;
    if (!s || !*s) return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0) return -1;
    *out = v;
    return 0;
}

/* Fills info from the metadata of a validated file. */
static int info_from_meta(const st_file *sf, CkptInfo *ci, lsd_err *err)
{
    const char *s;
    char *end;
    ckpt_info_init(ci);
    if (parse_long(st_meta(sf, "iteration"), &ci->iteration) ||
        parse_long(st_meta(sf, "epoch"), &ci->epoch) ||
        parse_long(st_meta(sf, "data_index"), &ci->data_index))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata iteration, epoch or data_index "
                        "missing or not a number", sf->path);
#define LR(KEY, FIELD)                                                                     \
    do {                                                                                   \
        s = st_meta(sf, KEY);                                                              \
        if (!s || !*s || (ci->FIELD = strtod(s, &end), *end))                              \
            return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata %s missing or not a number", \
                            sf->path, KEY);                                                \
    } while (0)
    LR("lr_f_weight", lr_f_weight);
    LR("lr_f_bias", lr_f_bias);
    LR("lr_gd", lr_gd);
#undef LR
    s = st_meta(sf, "seed");
    if (!s || !*s || (errno = 0, ci->seed = (uint64_t)strtoull(s, &end, 10), *end || errno))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata seed missing or not a number",
                        sf->path);
    s = st_meta(sf, "method");
    if (!s || strlen(s) >= sizeof ci->method)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata method missing or too long",
                        sf->path);
    strcpy(ci->method, s);
    s = st_meta(sf, "config");
    if (s && strlen(s) < sizeof ci->config) strcpy(ci->config, s);
    ci->recipe = lsd_recipe_paper(); /* checkpoints from before recipes */
    s = st_meta(sf, "recipe");
    if (s && lsd_recipe_parse(&ci->recipe, s, err)) {
        lsd_err_prefix(err, "%s: metadata recipe", sf->path);
        return LSD_ERR_FORMAT;
    }
    return LSD_OK;
}

/* ------------------------------------------------------------------ validation */

/* The checks of ckpt_validate on an open file. */
static int validate_open(st_file *sf, const LsdConfig *expect, lsd_err *err)
{
    const char *s;
    uint64_t want, got;
    LsdConfig c;
    long it, v;
    int64_t step, one = 1;
    int rc;
    s = st_meta(sf, "format");
    if (!s || strcmp(s, CKPT_FORMAT))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: not an lsdseg checkpoint (metadata format "
                        "is not '%s')", sf->path, CKPT_FORMAT);
    s = st_meta(sf, "digest_alg");
    if (!s || strcmp(s, CKPT_DIGEST_ALG))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: digest_alg is not '%s'", sf->path,
                        CKPT_DIGEST_ALG);
    if (parse_hex64(st_meta(sf, "header_digest"), &want))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: header_digest missing or malformed",
                        sf->path);
    if (file_header_digest(sf, &got))
        return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory", sf->path);
    if (got != want)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: header digest mismatch (stored %016llx, "
                        "computed %016llx): the header is damaged", sf->path,
                        (unsigned long long)want, (unsigned long long)got);
    if (parse_hex64(st_meta(sf, "digest"), &want))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: digest missing or malformed", sf->path);
    if ((rc = file_data_digest(sf, &got, err))) return rc;
    if (got != want)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: data digest mismatch (stored %016llx, "
                        "computed %016llx): the tensor data is damaged", sf->path,
                        (unsigned long long)want, (unsigned long long)got);
    if ((rc = lsd_config_from_file(&c, sf, err))) return rc;
#define CFG(KEY, FIELD)                                                                    \
    do {                                                                                   \
        if (parse_long(st_meta(sf, KEY), &v) || v != c.FIELD)                              \
            return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata %s does not match the "      \
                            "tensor shapes (%d)", sf->path, KEY, c.FIELD);                 \
        if (expect && expect->FIELD != c.FIELD)                                            \
            return lsd_fail(err, LSD_ERR_ARG, "%s: configuration differs: %s is %d in the " \
                            "checkpoint, %d in this run", sf->path, KEY, c.FIELD,          \
                            expect->FIELD);                                                \
    } while (0)
    CFG("vgg", vgg);
    CFG("fc", fc);
    CFG("ngf", ngf);
    CFG("ndf", ndf);
    CFG("n_class", n_class);
#undef CFG
    if (parse_long(st_meta(sf, "iteration"), &it))
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: metadata iteration missing", sf->path);
    if ((rc = st_read_i64(sf, "opt.step", &step, 1, 1, &one, err))) return rc;
    if (step != (int64_t)it)
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: opt.step %lld differs from iteration %ld",
                        sf->path, (long long)step, it);
    return LSD_OK;
}

int ckpt_validate(const char *path, const LsdConfig *expect, lsd_err *err)
{
    st_file sf;
    int rc = st_open(&sf, path, err);
    if (rc) return rc;
    rc = validate_open(&sf, expect, err);
    st_close(&sf);
    return rc;
}

/* ckpt_validate, and the iteration in the metadata must be it (the file name's). */
static int validate_named(const char *path, const LsdConfig *expect, long it, lsd_err *err)
{
    st_file sf;
    long got = -1;
    int rc = st_open(&sf, path, err);
    if (rc) return rc;
    rc = validate_open(&sf, expect, err);
    if (!rc && (parse_long(st_meta(&sf, "iteration"), &got) || got != it))
        rc = lsd_fail(err, LSD_ERR_FORMAT, "%s: the file name says iteration %ld, the "
                      "metadata %ld", path, it, got);
    st_close(&sf);
    return rc;
}

/* ------------------------------------------------------------------ directory */

/* Joins dir and name into out (cap bytes); fails if too long. */
static int join(char *out, size_t cap, const char *dir, const char *name, lsd_err *err)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return lsd_fail(err, LSD_ERR_ARG, "%s: path too long", dir);
    return LSD_OK;
}

/* The iteration of a checkpoint file name "ckpt-<digits>.safetensors", or -1. */
static long name_iteration(const char *name)
{
    size_t n = strlen(name), lp = strlen(CKPT_PREFIX), ls = strlen(CKPT_SUFFIX), i;
    long v = 0;
    if (n <= lp + ls || strncmp(name, CKPT_PREFIX, lp) || strcmp(name + n - ls, CKPT_SUFFIX))
        return -1;
    for (i = lp; i < n - ls; i++) {
        if (name[i] < '0' || name[i] > '9' || v > 100000000000L) return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

typedef struct {
    long it;
    char *name;
} cand;

static int cand_cmp_desc(const void *a, const void *b)
{
    long x = ((const cand *)a)->it, y = ((const cand *)b)->it;
    return x < y ? 1 : x > y ? -1 : strcmp(((const cand *)a)->name, ((const cand *)b)->name);
}

static void cands_free(cand *c, int n)
{
    int i;
    for (i = 0; i < n; i++) free(c[i].name);
    free(c);
}

/* The checkpoint files of dir, newest first. A missing directory gives none. */
static int list_ckpts(const char *dir, cand **out, int *nout, lsd_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    cand *c = NULL;
    int n = 0, cap = 0;
    *out = NULL;
    *nout = 0;
    if (!d) {
        if (errno == ENOENT) return LSD_OK;
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot list the directory: %s", dir,
                        strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        long it = name_iteration(e->d_name);
        if (it < 0) continue;
        if (n == cap) {
            int nc = cap ? 2 * cap : 16;
            cand *c2 = (cand *)realloc(c, (size_t)nc * sizeof *c2);
            if (!c2) break;
            c = c2;
            cap = nc;
        }
        c[n].it = it;
        c[n].name = (char *)malloc(strlen(e->d_name) + 1);
        if (!c[n].name) break;
        strcpy(c[n].name, e->d_name);
        n++;
    }
    if (e != NULL) {
        closedir(d);
        cands_free(c, n);
        return lsd_fail(err, LSD_ERR_NOMEM, "%s: out of memory listing checkpoints", dir);
    }
    closedir(d);
    if (n > 1) qsort(c, (size_t)n, sizeof *c, cand_cmp_desc);
    *out = c;
    *nout = n;
    return LSD_OK;
}

int ckpt_clean_stale(const char *dir, int *removed, lsd_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[CKPT_PATH_MAX];
    size_t lp = strlen(CKPT_PREFIX), lt = strlen(CKPT_TMP_SUFFIX);
    int count = 0, rc = LSD_OK;
    if (removed) *removed = 0;
    if (!d) {
        if (errno == ENOENT) return LSD_OK;
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot list the directory: %s", dir,
                        strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= lp + lt || strncmp(e->d_name, CKPT_PREFIX, lp) ||
            strcmp(e->d_name + n - lt, CKPT_TMP_SUFFIX))
            continue;
        if (join(path, sizeof path, dir, e->d_name, err)) continue;
        if (remove(path) == 0) count++;
        else if (errno != ENOENT && !rc)
            rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot remove stale temporary file: %s", path,
                          strerror(errno));
    }
    closedir(d);
    if (removed) *removed = count;
    return rc;
}

/* Appends "path: reason\n" to buf (cap bytes), cutting when full. */
static void append_line(char *buf, size_t cap, const char *path, const char *reason)
{
    size_t n;
    if (!buf || cap == 0) return;
    n = strlen(buf);
    if (n + 1 >= cap) return;
    snprintf(buf + n, cap - n, "%s: %s\n", path, reason);
}

int ckpt_find_latest(const char *dir, const LsdConfig *expect, char *path_out, size_t cap,
                     int *found, char *refused, size_t refused_cap, lsd_err *err)
{
    cand *c;
    int n, i, rc;
    char path[CKPT_PATH_MAX], why[1500];
    lsd_err e;
    *found = 0;
    if (path_out && cap) path_out[0] = '\0';
    if (refused && refused_cap) refused[0] = '\0';
    why[0] = '\0';
    if ((rc = list_ckpts(dir, &c, &n, err))) return rc;
    for (i = 0; i < n; i++) {
        size_t wl = strlen(why);
        if ((rc = join(path, sizeof path, dir, c[i].name, err))) break;
        e.msg[0] = '\0';
        rc = validate_named(path, expect, c[i].it, &e);
        if (!rc) {
            if (!path_out || strlen(path) >= cap) {
                rc = lsd_fail(err, LSD_ERR_ARG, "%s: path buffer too small", path);
                break;
            }
            strcpy(path_out, path);
            *found = 1;
            break;
        }
        append_line(refused, refused_cap, path, e.msg);
        if (wl + 2 < sizeof why) snprintf(why + wl, sizeof why - wl, "%s%s", wl ? "; " : "",
                                          e.msg);
        rc = LSD_OK;
    }
    if (!rc && !*found && n > 0)
        rc = lsd_fail(err, LSD_ERR_FORMAT, "%s: %d checkpoint file%s, none valid (refusing to "
                      "start again at iteration 0; move them away to start afresh): %.900s",
                      dir, n, n == 1 ? "" : "s", why);
    cands_free(c, n);
    return rc;
}

/* ------------------------------------------------------------------ save, load, resume */

/* Removes checkpoints of dir with iteration <= upto beyond the newest keep. */
static int prune(const char *dir, long upto, int keep, lsd_err *err)
{
    cand *c;
    int n, i, kept = 0, rc;
    char path[CKPT_PATH_MAX];
    if ((rc = list_ckpts(dir, &c, &n, err))) return rc;
    for (i = 0; i < n && !rc; i++) {
        if (c[i].it > upto) continue;
        if (kept < keep) {
            kept++;
            continue;
        }
        if ((rc = join(path, sizeof path, dir, c[i].name, err))) break;
        if (remove(path) != 0 && errno != ENOENT)
            rc = lsd_fail(err, LSD_ERR_IO, "%s: cannot remove old checkpoint: %s", path,
                          strerror(errno));
    }
    cands_free(c, n);
    return rc;
}

int ckpt_save(const LsdModel *m, const char *dir, const CkptInfo *info, int keep,
              char *path_out, size_t cap, lsd_err *err)
{
    st_writer writer;
    int64_t step;
    char path[CKPT_PATH_MAX], name[64], v[128];
    uint64_t digest, hdig = 0, bytes = 0;
    int rc, i;
    if (keep < 1) keep = CKPT_KEEP_DEFAULT;
    if (info->iteration < 0 || info->iteration != m->step)
        return lsd_fail(err, LSD_ERR_ARG, "checkpoint: iteration %ld differs from the model's "
                        "step %ld", info->iteration, m->step);
    sprintf(name, CKPT_PREFIX "%08ld" CKPT_SUFFIX, info->iteration);
    if ((rc = join(path, sizeof path, dir, name, err))) return rc;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lsd_fail(err, LSD_ERR_IO, "%s: cannot create the checkpoint directory: %s", dir,
                        strerror(errno));
    st_writer_init(&writer);
    rc = lsd_model_write(m, &writer, &step, err);
#define META(KEY, VAL)                                                                     \
    do {                                                                                   \
        if (!rc) rc = st_writer_meta(&writer, KEY, VAL, err);                              \
    } while (0)
#define METAF(KEY, FMT, VAL)                                                               \
    do {                                                                                   \
        sprintf(v, FMT, VAL);                                                              \
        META(KEY, v);                                                                      \
    } while (0)
    META("format", CKPT_FORMAT);
    META("lsdseg_version", LSD_VERSION);
    META("precision", LSD_PRECISION_NAME);
    METAF("iteration", "%ld", info->iteration);
    METAF("lr_f_weight", "%.17g", info->lr_f_weight);
    METAF("lr_f_bias", "%.17g", info->lr_f_bias);
    METAF("lr_gd", "%.17g", info->lr_gd);
    METAF("seed", "%llu", (unsigned long long)info->seed);
    META("method", info->method);
    METAF("epoch", "%ld", info->epoch);
    METAF("data_index", "%ld", info->data_index);
    META("config", info->config);
    lsd_recipe_format(v, sizeof v, &info->recipe);
    META("recipe", v);
    META("digest_alg", CKPT_DIGEST_ALG);
    for (i = 0; i < writer.n; i++)
        bytes += st_out_nelem(&writer.t[i]) * st_dtype_size(writer.t[i].dtype);
    METAF("data_bytes", "%llu", (unsigned long long)bytes);
    digest = ckpt_writer_digest(&writer);
    METAF("digest", "%016llx", (unsigned long long)digest);
    if (!rc && writer_header_digest(&writer, &hdig))
        rc = lsd_fail(err, LSD_ERR_NOMEM, "checkpoint: out of memory");
    METAF("header_digest", "%016llx", (unsigned long long)hdig);
#undef METAF
#undef META
    if (!rc) rc = st_writer_save(&writer, path, err);
    st_writer_free(&writer);
    if (rc) return rc;
    if (path_out && cap) {
        if (strlen(path) >= cap) return lsd_fail(err, LSD_ERR_ARG, "%s: path buffer too small",
                                                 path);
        strcpy(path_out, path);
    }
    return prune(dir, info->iteration, keep, err);
}

int ckpt_load(LsdModel *m, const char *path, CkptInfo *info, lsd_err *err)
{
    st_file sf;
    CkptInfo tmp;
    int rc = st_open(&sf, path, err);
    if (rc) return rc;
    rc = validate_open(&sf, NULL, err);
    if (!rc) rc = info_from_meta(&sf, info ? info : &tmp, err);
    st_close(&sf);
    if (rc) return rc;
    rc = lsd_model_load(m, path, err);
    if (rc) return rc;
    if (m->step != (info ? info : &tmp)->iteration) {
        lsd_model_free(m);
        return lsd_fail(err, LSD_ERR_FORMAT, "%s: changed while being loaded", path);
    }
    return LSD_OK;
}

int ckpt_resume(LsdModel *m, const char *dir, const LsdConfig *expect, CkptInfo *info,
                int *resumed, char *refused, size_t refused_cap, lsd_err *err)
{
    char path[CKPT_PATH_MAX];
    int found = 0, rc;
    *resumed = 0;
    if ((rc = ckpt_clean_stale(dir, NULL, err))) return rc;
    rc = ckpt_find_latest(dir, expect, path, sizeof path, &found, refused, refused_cap, err);
    if (rc || !found) return rc;
    rc = ckpt_load(m, path, info, err);
    if (!rc) *resumed = 1;
    return rc;
}
