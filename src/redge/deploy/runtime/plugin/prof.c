/* redge QEMU TCG plugin: exact executed instructions per function and bytes loaded from the weight region.
 *
 * Built with the host compiler, no QEMU headers needed (the few plugin API v1 symbols are declared below):
 *     gcc -O2 -shared -fPIC -o libprof.so prof.c
 * Arguments (-plugin ./libprof.so,ARG=VALUE,...):
 *     syms=FILE        one "start size name" line per text symbol (hex start/size, from arm-none-eabi-nm -S)
 *     flash=LO-HI      hex address range of the weight region (loads there are counted as weight bytes)
 *     out=FILE         write the report there (otherwise qemu_plugin_outs, visible with -d plugin)
 *     mem=0            do not instrument memory accesses (faster; instruction counts only)
 * Report: "total <instructions> <weight_bytes> <ram_load_bytes> <store_bytes>" then one line per function with
 *     "fn <name> <instructions> <weight_bytes> <ram_load_bytes> <store_bytes>" (functions never executed omitted;
 *     instructions outside any symbol go to "<other>").
 * Caveat (QEMU 7.2): MVE vector loads are split into per-element accesses; the byte totals are right.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the plugin API v1 subset we use (QEMU 7.2 include/qemu/qemu-plugin.h) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*mem_cb_t)(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *udata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, mem_cb_t cb, enum qemu_plugin_cb_flags flags,
                                      enum qemu_plugin_mem_rw rw, void *udata);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *udata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct { uint64_t start, size; char name[96]; uint64_t insns, wbytes, rbytes, sbytes; } Func;

static Func *funcs;          /* sorted by start; funcs[nfuncs] is "<other>" */
static size_t nfuncs;
static uint64_t flash_lo, flash_hi;
static int want_mem = 1;
static char out_path[512];

static int by_start(const void *a, const void *b) {
    const Func *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static Func *lookup(uint64_t pc) {
    size_t lo = 0, hi = nfuncs;
    while (lo < hi) {                       /* last symbol with start <= pc */
        size_t mid = (lo + hi) / 2;
        if (funcs[mid].start <= pc) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && pc < funcs[lo - 1].start + funcs[lo - 1].size) return &funcs[lo - 1];
    return &funcs[nfuncs];
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    Func *f = udata;
    uint64_t n = 1u << qemu_plugin_mem_size_shift(info);
    (void)vcpu;
    if (qemu_plugin_mem_is_store(info)) f->sbytes += n;
    else if (vaddr >= flash_lo && vaddr < flash_hi) f->wbytes += n;
    else f->rbytes += n;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        Func *f = lookup(qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &f->insns, 1);
        if (want_mem) qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, f);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *udata) {
    uint64_t t[4] = {0, 0, 0, 0};
    FILE *fp = out_path[0] ? fopen(out_path, "w") : NULL;
    char line[256];
    (void)id; (void)udata;
    for (size_t i = 0; i <= nfuncs; i++) {
        t[0] += funcs[i].insns; t[1] += funcs[i].wbytes; t[2] += funcs[i].rbytes; t[3] += funcs[i].sbytes;
    }
    snprintf(line, sizeof line, "total %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t[0], t[1], t[2], t[3]);
    if (fp) fputs(line, fp); else qemu_plugin_outs(line);
    for (size_t i = 0; i <= nfuncs; i++) {
        Func *f = &funcs[i];
        if (!f->insns) continue;
        snprintf(line, sizeof line, "fn %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", f->name, f->insns,
                 f->wbytes, f->rbytes, f->sbytes);
        if (fp) fputs(line, fp); else qemu_plugin_outs(line);
    }
    if (fp) fclose(fp);
}

static int load_syms(const char *path) {
    FILE *fp = fopen(path, "r");
    size_t cap = 1024;
    char name[96];
    unsigned long long start, size;
    if (!fp) return -1;
    funcs = calloc(cap + 1, sizeof *funcs);
    while (funcs && fscanf(fp, "%llx %llx %95s", &start, &size, name) == 3) {
        if (nfuncs == cap) {
            Func *grown = realloc(funcs, (2 * cap + 1) * sizeof *funcs);
            if (!grown) break;
            funcs = grown; cap *= 2;
        }
        memset(&funcs[nfuncs], 0, sizeof *funcs);
        funcs[nfuncs].start = start & ~1ull; funcs[nfuncs].size = size;
        snprintf(funcs[nfuncs].name, sizeof funcs[nfuncs].name, "%s", name);
        nfuncs++;
    }
    fclose(fp);
    if (!funcs) return -1;
    qsort(funcs, nfuncs, sizeof *funcs, by_start);
    memset(&funcs[nfuncs], 0, sizeof *funcs);
    snprintf(funcs[nfuncs].name, sizeof funcs[nfuncs].name, "<other>");
    return 0;
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    const char *syms = NULL;
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "arg=", 4)) a += 4;
        if (!strncmp(a, "syms=", 5)) syms = a + 5;
        else if (!strncmp(a, "flash=", 6)) {
            unsigned long long lo, hi;
            if (sscanf(a + 6, "%llx-%llx", &lo, &hi) != 2) return -1;
            flash_lo = lo; flash_hi = hi;
        } else if (!strncmp(a, "out=", 4)) snprintf(out_path, sizeof out_path, "%s", a + 4);
        else if (!strncmp(a, "mem=", 4)) want_mem = atoi(a + 4);
        else return -1;
    }
    if (syms ? load_syms(syms) : (funcs = calloc(1, sizeof *funcs)) == NULL) return -1;
    if (!syms) snprintf(funcs[0].name, sizeof funcs[0].name, "<other>");
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    return 0;
}
