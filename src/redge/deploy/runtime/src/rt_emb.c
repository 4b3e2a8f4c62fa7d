/* redge runtime: the puzzle-embedding file (src/redge/deploy/embeddings.py, version 1), read row by row from
 * memory-mapped flash. Header (64 bytes, little-endian): magic "REDGEEMB", u16 version = 1, u16 header_size = 64,
 * u8 dtype (0 f32, 2 bf16), 3 reserved, u64 rows, u32 dim, u32 row_stride, u64 data_offset = 64, u64 data_size,
 * u32 data_crc32, 8 reserved, u32 header_crc32 of bytes [0, 60). Every field is checked before a row is read. */
#include <string.h>

#include "redge_rt.h"

#define EMB_HDR 64u

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

int rt_emb_open(rt_emb *e, const uint8_t *file, size_t len, int check_crc) {
    uint64_t rows, data_size;
    uint32_t dim, stride, elem;
    if (!e || !file) return RT_ERR_ARG;
    memset(e, 0, sizeof *e);
    if (len < 8 || memcmp(file, "REDGEEMB", 8) != 0) return RT_ERR_MAGIC;
    if (len < EMB_HDR) return RT_ERR_TRUNCATED;
    if (rt_crc32(file, 60) != rd32(file + 60)) return RT_ERR_CRC;
    if ((file[8] | (file[9] << 8)) != 1 || (file[10] | (file[11] << 8)) != EMB_HDR || rd64(file + 32) != EMB_HDR)
        return RT_ERR_FORMAT;
    if (file[12] != 0 && file[12] != 2) return RT_ERR_FORMAT;
    elem = file[12] == 0 ? 4u : 2u;
    rows = rd64(file + 16); dim = rd32(file + 24); stride = rd32(file + 28); data_size = rd64(file + 40);
    if (!rows || rows > RT_MAX_PUZZLE_IDS || !dim || dim > RT_MAX_DIM) return RT_ERR_CONFIG;
    if (stride != dim * elem || data_size != rows * stride) return RT_ERR_FORMAT;
    if (data_size > len - EMB_HDR) return RT_ERR_TRUNCATED;
    if (check_crc && rt_crc32(file + EMB_HDR, (size_t)data_size) != rd32(file + 48)) return RT_ERR_CRC;
    e->data = file + EMB_HDR; e->rows = (uint32_t)rows; e->dim = dim; e->dtype = file[12]; e->stride = stride;
    e->crc = rd32(file + 48);
    return RT_OK;
}

int rt_emb_row(const rt_emb *e, uint32_t id, float *out) {
    const uint8_t *p;
    uint32_t i, u;
    if (!e || !e->data || !out) return RT_ERR_ARG;
    if (id >= e->rows) return RT_ERR_INPUT;
    p = e->data + (size_t)id * e->stride;
    for (i = 0; i < e->dim; i++) {
        u = e->dtype == 0 ? rd32(p + 4 * (size_t)i) : (uint32_t)(p[2 * (size_t)i] | (p[2 * (size_t)i + 1] << 8)) << 16;
        memcpy(&out[i], &u, 4);
    }
    return RT_OK;
}

int rt_emb_check(const rt_emb *e, const rt_model *m) {
    if (!e || !e->data || !m) return RT_ERR_ARG;
    if (e->dim != m->puzzle_emb_ndim) return RT_ERR_SHAPE;
    return m->emb_bound && e->crc != m->emb_crc32 ? RT_ERR_PAIR : RT_OK;
}
