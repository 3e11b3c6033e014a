/* test_tensor.c - Tensor allocation, reshape and the fixed-order helpers. */
#include <math.h>
#include <string.h>

#include "../tensor/tensor.h"
#include "harness.h"

int main(void)
{
    Tensor t, u;
    lsd_err err;
    int shape[3] = {2, 3, 4}, bad[2] = {2, -1}, flat[1] = {24}, wrong[1] = {25};
    size_t i;
    test_begin("tensor");

    CHECK(tensor_create(&t, 3, shape, &err) == LSD_OK, "create 2x3x4");
    CHECK(t.size == 24 && t.shape[3] == 1, "size %lu", (unsigned long)t.size);
    for (i = 0; i < t.size; i++) CHECK(t.data[i] == 0, "zero-filled at %lu", (unsigned long)i);
    CHECK(tensor_reshape(&t, 1, flat, &err) == LSD_OK && t.ndim == 1, "reshape to 24");
    CHECK(tensor_reshape(&t, 1, wrong, &err) == LSD_ERR_ARG, "reshape to 25 refused");
    CHECK(strstr(err.msg, "reshape") != NULL, "message names reshape: %s", err.msg);
    CHECK(tensor_create(&u, 2, bad, &err) == LSD_ERR_ARG, "negative dimension refused");
    CHECK(u.data == NULL, "no allocation on failure");
    CHECK(tensor_create(&u, 5, shape, &err) == LSD_ERR_ARG, "5 dimensions refused");

    for (i = 0; i < t.size; i++) t.data[i] = (real)i;
    CHECK(vec_sum(t.data, t.size) == 276.0, "sum 0..23 = 276, got %g", vec_sum(t.data, t.size));
    CHECK(tensor_create4(&u, 1, 2, 3, 4, &err) == LSD_OK, "create4");
    CHECK(tensor_copy(&u, &t, &err) == LSD_OK && u.data[23] == 23, "copy");
    vec_axpy(u.data, (real)2, t.data, u.size);
    CHECK(u.data[5] == 15, "axpy 5 + 2*5 = 15, got %g", (double)u.data[5]);
    vec_scale(u.data, (real)0.5, u.size);
    CHECK(u.data[4] == 6, "scale");
    tensor_fill(&u, (real)-1);
    CHECK(u.data[0] == -1 && u.data[23] == -1, "fill");
    tensor_free(&t);
    tensor_free(&u);
    tensor_free(&u); /* double free of a zeroed tensor is safe */
    CHECK(t.data == NULL, "free zeroes the struct");
    return test_summary();
}
