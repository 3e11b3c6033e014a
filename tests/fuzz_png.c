/* fuzz_png.c - libFuzzer target: the PNG decoder on arbitrary bytes, in every output mode,
 * with small limits (at most 512x512, 65536 pixels) so that each input runs fast. */
#include <stddef.h>
#include <stdint.h>

#include "../data/png.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes data in the four modes, both sample widths cycling with the mode; must never crash. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    png_limits lim;
    png_info info;
    png_image img;
    lsd_err err;
    int mode;
    lim.max_width = 512;
    lim.max_height = 512;
    lim.max_pixels = 65536;
    png_read_info(data, size, &info, &lim, &err);
    for (mode = 0; mode < 4; mode++) {
        if (png_decode(data, size, (png_out_mode)mode, mode & 1, &lim, &img, &err) == LSD_OK)
            png_image_free(&img);
    }
    return 0;
}
