/* libFuzzer harness for the embedding-file loader (rt_emb_open, rt_emb_row). Each input is opened twice from an
 * exactly-sized heap copy: as it is with the data checksum verified, and with its header CRC recomputed and the data
 * checksum off (mutations then reach the field checks). An accepted file must respect the limits and its stated
 * size; its first and last rows are read, and the row past the end must be refused. */
#include <string.h>

#include "fuzz_common.h"
#include "redge_rt.h"

static void exercise(const rt_emb *e, size_t size) {
    float *row;
    FZ_CHECK(e->rows >= 1 && e->rows <= RT_MAX_PUZZLE_IDS && e->dim >= 1 && e->dim <= RT_MAX_DIM, "shape limits");
    FZ_CHECK(64u + (uint64_t)e->rows * e->stride <= size, "rows inside the file");
    row = malloc((size_t)e->dim * sizeof *row);
    FZ_CHECK(rt_emb_row(e, 0, row) == RT_OK, "first row reads");
    FZ_CHECK(rt_emb_row(e, e->rows - 1, row) == RT_OK, "last row reads");
    FZ_CHECK(rt_emb_row(e, e->rows, row) == RT_ERR_INPUT, "row past the end refused");
    free(row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    rt_emb e;
    memcpy(buf, data, size);
    if (rt_emb_open(&e, buf, size, 1) == RT_OK) exercise(&e, size);
    if (size >= 64) fz_put32(buf + 60, rt_crc32(buf, 60));
    if (rt_emb_open(&e, buf, size, 0) == RT_OK) exercise(&e, size);
    free(buf);
    return 0;
}
