/*
 * synth.c - procedural street scenes in two rendering styles (see synth.h).
 *
 * A scene is painted back to front into a label map: sky, a skyline of
 * buildings and trees on the horizon, the ground (road in perspective between
 * two sidewalks, verges of vegetation), then poles, people and cars sorted by
 * their distance (the foot of each object), so nearer objects occlude farther
 * ones. Each painted object also writes a per-pixel "shade" (its own brightness
 * factor) and a texture id, which the two renderers use:
 *
 *   source: colour = class colour * shade            (flat, clean)
 *   target: colour = blur(class colour * shade * exposure * colour cast
 *                         * texture * light gradient * vignetting) + noise
 *
 * All randomness comes from a splitmix64 hash of (seed, index, draw number) or
 * of pixel coordinates: integer arithmetic, identical on every platform. The
 * floating-point work is plain + - * / in double (no libm transcendental
 * functions), rounded to 8 bits at the end.
 */
#include "synth.h"

#include <stdlib.h>
#include <string.h>

static const char *const class_names[SYNTH_NUM_CLASSES] = {
    "road", "sidewalk", "building", "vegetation", "sky", "pole", "person", "car"};

/* The display colours: Cityscapes' colours of the same classes. */
static const uint8_t class_colors[SYNTH_NUM_CLASSES][3] = {
    {128, 64, 128}, {244, 35, 232}, {70, 70, 70}, {107, 142, 35},
    {70, 130, 180}, {153, 153, 153}, {220, 20, 60}, {0, 0, 142}};

/* The source style: bright, saturated, flat ("game engine" colours). */
static const double source_colors[SYNTH_NUM_CLASSES][3] = {
    {120, 70, 125}, {235, 60, 220}, {90, 90, 110}, {60, 170, 50},
    {90, 150, 235}, {200, 200, 40}, {230, 30, 50}, {20, 40, 200}};

const char *synth_class_name(int c)
{
    return (c >= 0 && c < SYNTH_NUM_CLASSES) ? class_names[c] : "?";
}

void synth_class_color(int c, uint8_t rgb[3])
{
    if (c < 0 || c >= SYNTH_NUM_CLASSES) {
        rgb[0] = rgb[1] = rgb[2] = 0;
        return;
    }
    memcpy(rgb, class_colors[c], 3);
}

/* ------------------------------------------------------------------ random */

/* splitmix64: a 64-bit mixing function (Steele, Lea, Flood 2014). */
static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The draws of one scene: a counter over a key made of (seed, index). */
typedef struct {
    uint64_t key;
    uint64_t n;
} SceneRand;

/* Uniform double in [0, 1). */
static double draw(SceneRand *r)
{
    uint64_t z = mix64(r->key ^ mix64(r->n++));
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform double in [lo, hi). */
static double draw_range(SceneRand *r, double lo, double hi) { return lo + (hi - lo) * draw(r); }

/* Uniform integer in [lo, hi]. */
static int draw_int(SceneRand *r, int lo, int hi)
{
    int v = lo + (int)(draw(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}

/* A hash of a pixel or lattice point to [0, 1). */
static double hash01(uint64_t key, int64_t x, int64_t y, uint64_t salt)
{
    uint64_t z = mix64(key ^ mix64((uint64_t)x * 0x632BE59BD9B4E019ULL ^
                                   mix64((uint64_t)y + salt * 0x8CB92BA72F3D8DD7ULL)));
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Value noise: bilinear interpolation of lattice hashes with cell size `cell`. */
static double value_noise(uint64_t key, double x, double y, double cell, uint64_t salt)
{
    double fx = x / cell, fy = y / cell;
    int64_t ix = (int64_t)fx, iy = (int64_t)fy;
    double tx, ty, a, b, c, d;
    if (fx < 0 && (double)ix != fx) ix--;
    if (fy < 0 && (double)iy != fy) iy--;
    tx = fx - (double)ix;
    ty = fy - (double)iy;
    tx = tx * tx * (3.0 - 2.0 * tx); /* smoothstep */
    ty = ty * ty * (3.0 - 2.0 * ty);
    a = hash01(key, ix, iy, salt);
    b = hash01(key, ix + 1, iy, salt);
    c = hash01(key, ix, iy + 1, salt);
    d = hash01(key, ix + 1, iy + 1, salt);
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
}

/* ------------------------------------------------------------------ layout */

/* Texture ids: how the target renderer textures a painted pixel. */
enum { TEX_FLAT = 0, TEX_ASPHALT, TEX_PAVING, TEX_FACADE, TEX_LEAVES, TEX_SKY, TEX_METAL,
       TEX_CLOTH, TEX_CARBODY, TEX_GLASS };

typedef struct {
    int H, W;
    uint8_t *label;   /* (H, W) */
    double *shade;    /* (H, W) brightness factor of the object painted last */
    uint8_t *tex;     /* (H, W) texture id */
} Canvas;

/* Paints one pixel if it is inside the canvas. */
static void put(Canvas *cv, int x, int y, int cls, double shade, int tex)
{
    size_t i;
    if (x < 0 || y < 0 || x >= cv->W || y >= cv->H) return;
    i = (size_t)y * (size_t)cv->W + (size_t)x;
    cv->label[i] = (uint8_t)cls;
    cv->shade[i] = shade;
    cv->tex[i] = (uint8_t)tex;
}

/* Fills the rectangle [x0, x1) x [y0, y1) (clipped). */
static void rect(Canvas *cv, double x0, double y0, double x1, double y1, int cls, double shade,
                 int tex)
{
    int x, y, xa = (int)(x0 + 0.5), xb = (int)(x1 + 0.5), ya = (int)(y0 + 0.5),
              yb = (int)(y1 + 0.5);
    if (xb <= xa) xb = xa + 1;
    if (yb <= ya) yb = ya + 1;
    for (y = ya; y < yb; y++)
        for (x = xa; x < xb; x++) put(cv, x, y, cls, shade, tex);
}

/* Fills the ellipse centred at (cx, cy) with radii (rx, ry). */
static void ellipse(Canvas *cv, double cx, double cy, double rx, double ry, int cls,
                    double shade, int tex)
{
    int x, y;
    if (rx < 0.5) rx = 0.5;
    if (ry < 0.5) ry = 0.5;
    for (y = (int)(cy - ry) - 1; y <= (int)(cy + ry) + 1; y++)
        for (x = (int)(cx - rx) - 1; x <= (int)(cx + rx) + 1; x++) {
            double dx = ((double)x + 0.5 - cx) / rx, dy = ((double)y + 0.5 - cy) / ry;
            if (dx * dx + dy * dy <= 1.0) put(cv, x, y, cls, shade, tex);
        }
}

/* An object standing on the ground: kind, horizontal centre, foot row, scale. */
typedef struct {
    int cls;
    double x, foot, scale;
    double shade;
} Thing;

static int thing_cmp(const void *a, const void *b)
{
    const Thing *p = (const Thing *)a, *q = (const Thing *)b;
    if (p->foot < q->foot) return -1;
    if (p->foot > q->foot) return 1;
    return (p->x < q->x) ? -1 : (p->x > q->x);
}

/* Paints the whole layout of one scene. */
static void paint_scene(Canvas *cv, SceneRand *r)
{
    int H = cv->H, W = cv->W, x, y, i, nthings = 0;
    double horizon = H * draw_range(r, 0.36, 0.50);
    double vanish_x = W * draw_range(r, 0.35, 0.65);
    double road_half = W * draw_range(r, 0.30, 0.50);   /* road half-width at the bottom row */
    double walk_ratio = draw_range(r, 1.35, 1.7);       /* sidewalk outer edge / road edge */
    double verge_ratio = walk_ratio + draw_range(r, 0.2, 0.6);
    Thing things[16];

    /* sky */
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) put(cv, x, y, SYNTH_SKY, 1.0, TEX_SKY);

    /* skyline: buildings with gaps filled by trees */
    x = -draw_int(r, 0, W / 10);
    while (x < W) {
        int bw = (int)(W * draw_range(r, 0.07, 0.22)) + 2;
        double top = horizon - H * draw_range(r, 0.06, 0.36);
        if (draw(r) < 0.25) {
            double rx = bw * 0.6, ry = (horizon - top) * 0.6;
            rect(cv, x + bw * 0.45, horizon - ry * 0.8, x + bw * 0.55, horizon + 1,
                 SYNTH_VEGETATION, 0.8, TEX_LEAVES);
            ellipse(cv, x + bw * 0.5, horizon - ry, rx, ry, SYNTH_VEGETATION,
                    draw_range(r, 0.85, 1.15), TEX_LEAVES);
        } else {
            rect(cv, x, top, x + bw, horizon + 1, SYNTH_BUILDING, draw_range(r, 0.8, 1.2),
                 TEX_FACADE);
        }
        x += bw;
    }

    /* ground: road in perspective, sidewalks, verges */
    for (y = (int)horizon; y < H; y++) {
        double t = ((double)y + 0.5 - horizon) / ((double)H - horizon); /* 0 far .. 1 near */
        double half = road_half * t + 1.0;
        for (x = 0; x < W; x++) {
            double d = ((double)x + 0.5 - vanish_x);
            double ad = d < 0 ? -d : d;
            if (ad <= half)
                put(cv, x, y, SYNTH_ROAD, 1.0, TEX_ASPHALT);
            else if (ad <= half * walk_ratio)
                put(cv, x, y, SYNTH_SIDEWALK, 1.0, TEX_PAVING);
            else if (ad <= half * verge_ratio)
                put(cv, x, y, SYNTH_VEGETATION, 0.9, TEX_LEAVES);
            else
                put(cv, x, y, SYNTH_SIDEWALK, 0.95, TEX_PAVING);
        }
    }

    /* objects on the ground: poles and people on the sidewalks, cars on the road */
    {
        int npole = draw_int(r, 1, 3), nperson = draw_int(r, 1, 4), ncar = draw_int(r, 1, 4);
        for (i = 0; i < npole + nperson + ncar && nthings < 16; i++) {
            Thing *th = &things[nthings++];
            double t = draw_range(r, 0.08, 1.0), half, side = draw(r) < 0.5 ? -1.0 : 1.0;
            th->foot = horizon + t * ((double)H - horizon);
            th->scale = t;
            half = road_half * t + 1.0;
            th->shade = draw_range(r, 0.85, 1.15);
            if (i < npole) {
                th->cls = SYNTH_POLE;
                th->x = vanish_x + side * half * draw_range(r, 1.05, walk_ratio);
            } else if (i < npole + nperson) {
                th->cls = SYNTH_PERSON;
                th->x = vanish_x + side * half * draw_range(r, 1.05, walk_ratio);
            } else {
                th->cls = SYNTH_CAR;
                th->x = vanish_x + side * half * draw_range(r, 0.05, 0.75);
            }
        }
    }
    qsort(things, (size_t)nthings, sizeof things[0], thing_cmp);
    for (i = 0; i < nthings; i++) {
        const Thing *th = &things[i];
        double s = th->scale * H; /* size of a 1-unit object at this distance */
        if (th->cls == SYNTH_POLE) {
            double w = 0.015 * s + 1.0, h = 1.1 * s;
            rect(cv, th->x - w / 2, th->foot - h, th->x + w / 2, th->foot, SYNTH_POLE,
                 th->shade, TEX_METAL);
            rect(cv, th->x - w / 2, th->foot - h, th->x + w * 3, th->foot - h + w, SYNTH_POLE,
                 th->shade, TEX_METAL);
        } else if (th->cls == SYNTH_PERSON) {
            double h = 0.42 * s + 2.0, w = h * 0.28;
            rect(cv, th->x - w / 2, th->foot - h * 0.82, th->x + w / 2, th->foot, SYNTH_PERSON,
                 th->shade, TEX_CLOTH);
            ellipse(cv, th->x, th->foot - h * 0.9, w * 0.4, h * 0.1, SYNTH_PERSON, th->shade,
                    TEX_FLAT);
        } else {
            double w = 0.55 * s + 3.0, h = w * 0.42;
            rect(cv, th->x - w / 2, th->foot - h * 0.65, th->x + w / 2, th->foot - h * 0.1,
                 SYNTH_CAR, th->shade, TEX_CARBODY);
            rect(cv, th->x - w * 0.32, th->foot - h, th->x + w * 0.3, th->foot - h * 0.62,
                 SYNTH_CAR, th->shade * 0.8, TEX_GLASS);
            ellipse(cv, th->x - w * 0.3, th->foot - h * 0.12, w * 0.1, h * 0.13, SYNTH_CAR,
                    0.3, TEX_FLAT);
            ellipse(cv, th->x + w * 0.3, th->foot - h * 0.12, w * 0.1, h * 0.13, SYNTH_CAR,
                    0.3, TEX_FLAT);
        }
    }
}

/* ---------------------------------------------------------------- renderers */

static uint8_t to_u8(double v)
{
    if (!(v > 0.0)) return 0;
    if (v >= 255.0) return 255;
    return (uint8_t)(v + 0.5);
}

/* The source style: class colour times the object's shade. */
static void render_source(uint8_t *rgb, const Canvas *cv)
{
    size_t i, n = (size_t)cv->H * (size_t)cv->W;
    for (i = 0; i < n; i++) {
        const double *c = source_colors[cv->label[i]];
        rgb[3 * i + 0] = to_u8(c[0] * cv->shade[i]);
        rgb[3 * i + 1] = to_u8(c[1] * cv->shade[i]);
        rgb[3 * i + 2] = to_u8(c[2] * cv->shade[i]);
    }
}

/* How much the target style exaggerates the texture factors below (1: as written). */
#define TEXTURE_CONTRAST 2.0

/* Texture factor (around 1) of a pixel in the target style. */
static double texture(uint64_t key, int tex, int x, int y, int H)
{
    double s = (double)H / 64.0; /* texture scale follows the image size */
    switch (tex) {
    case TEX_ASPHALT:
        return 0.85 + 0.3 * value_noise(key, x, y, 1.5 * s, 1) +
               ((((x + 3 * y) / (int)(4 * s + 1)) % 7 == 0) ? 0.05 : 0.0);
    case TEX_PAVING:
        return ((x % (int)(6 * s + 2) == 0) || (y % (int)(4 * s + 2) == 0)) ? 0.72
                                                                             : 0.95 + 0.1 * value_noise(key, x, y, 2 * s, 2);
    case TEX_FACADE: {
        int wx = (int)(5 * s + 2), wy = (int)(6 * s + 2);
        int win = (x % wx) >= wx / 3 && (y % wy) >= wy / 3;
        return (win ? 0.45 : 1.0) * (0.9 + 0.2 * value_noise(key, x, y, 3 * s, 3));
    }
    case TEX_LEAVES:
        return 0.6 + 0.8 * value_noise(key, x, y, 0.8 * s, 4);
    case TEX_SKY:
        return 0.95 + 0.1 * value_noise(key, x, y, 12 * s, 5);
    case TEX_METAL:
        return 0.9 + 0.2 * value_noise(key, x, y, 2 * s, 6);
    case TEX_CLOTH:
        return 0.8 + 0.4 * value_noise(key, x, y, 1 * s, 7);
    case TEX_CARBODY:
        return 0.9 + 0.25 * value_noise(key, x, y, 4 * s, 8);
    case TEX_GLASS:
        return 0.35;
    default:
        return 1.0;
    }
}

/* The target style: the source palette seen through another camera - exposure and colour
 * cast, a light gradient and vignetting, strong surface textures; the lens blurs the scene
 * (3x3 binomial filter, edges clamped) and the sensor then adds noise. lin: 3*H*W scratch. */
static void render_target(uint8_t *rgb, const Canvas *cv, SceneRand *r, double *lin)
{
    static const double tap[3] = {0.25, 0.5, 0.25};
    int H = cv->H, W = cv->W, x, y, c, dy, dx;
    uint64_t key = r->key ^ 0x5DEECE66DULL;
    double light_l = draw_range(r, 0.55, 1.0), light_r = draw_range(r, 0.55, 1.0);
    double cast[3], exposure, noise_amp;
    cast[0] = draw_range(r, 0.9, 1.1);
    cast[1] = draw_range(r, 0.9, 1.1);
    cast[2] = draw_range(r, 0.9, 1.1);
    exposure = draw_range(r, 0.85, 0.955);
    noise_amp = draw_range(r, 15.0, 35.0);
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            size_t i = (size_t)y * (size_t)W + (size_t)x;
            int cls = cv->label[i];
            double u = ((double)x + 0.5) / W, v = ((double)y + 0.5) / H;
            double light = light_l + (light_r - light_l) * u;
            double vig = 1.0 - 0.35 * ((u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5)) * 4.0;
            double tx = 1.0 + TEXTURE_CONTRAST * (texture(key, cv->tex[i], x, y, H) - 1.0);
            double sky_grad = cls == SYNTH_SKY ? 0.8 + 0.3 * v : 1.0;
            double gain = exposure * cv->shade[i] * tx * sky_grad * light * vig;
            for (c = 0; c < 3; c++) lin[3 * i + c] = source_colors[cls][c] * gain * cast[c];
        }
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++)
            for (c = 0; c < 3; c++) {
                double s = 0.0, n;
                for (dy = -1; dy <= 1; dy++)
                    for (dx = -1; dx <= 1; dx++) {
                        int yy = y + dy < 0 ? 0 : y + dy >= H ? H - 1 : y + dy;
                        int xx = x + dx < 0 ? 0 : x + dx >= W ? W - 1 : x + dx;
                        s += tap[dy + 1] * tap[dx + 1] * lin[3 * ((size_t)yy * W + xx) + c];
                    }
                n = (hash01(key, x, y, 100 + (uint64_t)c) + hash01(key, x, y, 200 + (uint64_t)c) -
                     1.0) * noise_amp;
                rgb[3 * ((size_t)y * W + x) + c] = to_u8(s + n);
            }
}

int synth_render(uint8_t *rgb, uint8_t *label, int H, int W, synth_style style, uint64_t seed,
                 uint64_t index, lsd_err *err)
{
    Canvas cv;
    SceneRand r;
    size_t n;
    double *lin = NULL;
    int rc = LSD_OK;
    if (H < 16 || W < 16 || H > 8192 || W > 8192)
        return lsd_fail(err, LSD_ERR_ARG, "synth: image size %dx%d outside 16..8192", H, W);
    if (style != SYNTH_SOURCE && style != SYNTH_TARGET)
        return lsd_fail(err, LSD_ERR_ARG, "synth: unknown style %d", (int)style);
    n = (size_t)H * (size_t)W;
    cv.H = H;
    cv.W = W;
    cv.label = (uint8_t *)malloc(n);
    cv.shade = (double *)malloc(n * sizeof(double));
    cv.tex = (uint8_t *)malloc(n);
    if (style == SYNTH_TARGET && rgb) lin = (double *)malloc(3 * n * sizeof(double));
    if (!cv.label || !cv.shade || !cv.tex || (style == SYNTH_TARGET && rgb && !lin)) {
        rc = lsd_fail(err, LSD_ERR_NOMEM, "synth: cannot allocate a %dx%d canvas", H, W);
        goto done;
    }
    r.key = mix64(seed) ^ mix64(index * 2 + 1);
    r.n = 0;
    paint_scene(&cv, &r);
    if (label) memcpy(label, cv.label, n);
    if (rgb) {
        if (style == SYNTH_SOURCE)
            render_source(rgb, &cv);
        else
            render_target(rgb, &cv, &r, lin);
    }
done:
    free(cv.label);
    free(cv.shade);
    free(cv.tex);
    free(lin);
    return rc;
}
