/*
 * A QEMU TCG plugin that counts how often each translation block of guest kernel code runs:
 * an instruction profile of the guest kernel taken from outside (the test kernel has no
 * perf, and TCG has no PMU). At exit it writes one line per block, "vaddr n_insns count"
 * (hex, decimal, decimal), to the file named by the argument out=PATH. Used by
 * `make bench-guest-profile` (mk/bench-guest.mk; docs/kmod.md, "Where the 8-byte pair's
 * time goes"). QEMU's plugin header is not packaged on Debian 12, so the few entry points
 * used are declared here (plugin API version 2, which QEMU 10 still accepts).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#ifndef PLUGIN_VERSION
#define PLUGIN_VERSION 2
#endif

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb)(unsigned int vcpu_index, void *userdata);
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
extern void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, vcpu_udata_cb cb,
                                                 enum qemu_plugin_cb_flags flags, void *userdata);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = PLUGIN_VERSION;

struct ent { uint64_t vaddr; uint64_t n; uint64_t count; };
#define SIZE (1u << 21)
static struct ent *tab;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char out[4096] = "/tmp/tbcount.out";

static void exec_cb(unsigned int vcpu, void *ud) { (void)vcpu; __atomic_fetch_add(&((struct ent *)ud)->count, 1, __ATOMIC_RELAXED); }

static void trans_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    uint64_t va = qemu_plugin_tb_vaddr(tb), n = qemu_plugin_tb_n_insns(tb);
    if (va < 0xffff800000000000ull) return;
    uint64_t h = (va * 0x9E3779B97F4A7C15ull ^ n) & (SIZE - 1);
    pthread_mutex_lock(&lock);
    for (;;) {
        struct ent *e = &tab[h];
        if (e->vaddr == 0) { e->vaddr = va; e->n = n; break; }
        if (e->vaddr == va && e->n == n) break;
        h = (h + 1) & (SIZE - 1);
    }
    pthread_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, exec_cb, QEMU_PLUGIN_CB_NO_REGS, &tab[h]);
}

static void at_exit(qemu_plugin_id_t id, void *ud) {
    (void)id; (void)ud;
    FILE *f = fopen(out, "w");
    if (!f) return;
    for (uint32_t i = 0; i < SIZE; i++)
        if (tab[i].vaddr && tab[i].count)
            fprintf(f, "%llx %llu %llu\n", (unsigned long long)tab[i].vaddr, (unsigned long long)tab[i].n, (unsigned long long)tab[i].count);
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], "out=", 4)) snprintf(out, sizeof out, "%s", argv[i] + 4);
    tab = calloc(SIZE, sizeof *tab);
    if (!tab) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans_cb);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
