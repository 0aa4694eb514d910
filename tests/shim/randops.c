/* A fixed-seed random sequence of non-blocking message-queue operations through glibc's
 * wrappers. Each operation prints its result (return value, errno, received type and text,
 * the stat fields that do not depend on time or pid), so the output on native queues and
 * on msgq (under LD_PRELOAD) must be identical line for line.
 *
 * Usage: randops [SEED [OPS]]     Build: cc -O2 -o randops randops.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

static uint64_t st;
static uint32_t rnd(uint32_t n)
{
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    return (uint32_t)(st % n);
}

static int ids[8];
static int nids;

static int pick_id(void)
{
    switch (rnd(10)) {
    case 0: return -1;
    case 1: return 12345;
    case 2: return nids ? ids[rnd(nids)] + 32768 : 7;
    default: return nids ? ids[rnd(nids)] : 0;
    }
}

static long pick_type(void)
{
    static const long t[] = { 0, 1, 2, 3, 5, -1, -2, -4, -100, 100 };
    return t[rnd(10)];
}

int main(int argc, char **argv)
{
    st = argc > 1 ? strtoull(argv[1], NULL, 0) : 42;
    st = st * 2654435761u + 1;
    int ops = argc > 2 ? atoi(argv[2]) : 3000;
    static struct {
        long mtype;
        char mtext[9000];
    } m;
    for (int i = 0; i < ops; i++) {
        int op = rnd(100);
        errno = 0;
        if (op < 8) {
            static const int keys[] = { IPC_PRIVATE, 0x100, 0x101, 0x102 };
            static const int flags[] = { 0, IPC_CREAT, IPC_CREAT | IPC_EXCL, 0600, IPC_CREAT | 0600,
                                         IPC_CREAT | 0400, IPC_CREAT | 0222 };
            int key = keys[rnd(4)], flg = flags[rnd(7)];
            int r = msgget(key, flg);
            printf("%d msgget(%#x,%#o) = %d %d\n", i, key, flg, r < 0 ? -1 : 0, r < 0 ? errno : 0);
            if (r >= 0) {
                int seen = 0;
                for (int j = 0; j < nids; j++)
                    seen |= ids[j] == r;
                if (!seen && nids < 8)
                    ids[nids++] = r;
                else if (!seen)
                    ids[rnd(8)] = r;
            }
        } else if (op < 50) {
            int id = pick_id();
            static const size_t sizes[] = { 0, 1, 7, 100, 1000, 4000, 8192, 8193 };
            size_t sz = sizes[rnd(8)];
            long t = rnd(8) == 0 ? (long)rnd(3) - 1 : (long)rnd(5) + 1;
            m.mtype = t;
            for (size_t k = 0; k < sz && k < sizeof m.mtext; k++)
                m.mtext[k] = (char)('a' + (i + k) % 26);
            int r = msgsnd(id, &m, sz, IPC_NOWAIT);
            printf("%d msgsnd(%s,%zu,type %ld) = %d %d\n", i, id == -1 ? "bad" : "q", sz, t, r, r ? errno : 0);
        } else if (op < 85) {
            int id = pick_id();
            static const size_t sizes[] = { 0, 5, 100, 9000 };
            static const int flags[] = { IPC_NOWAIT, IPC_NOWAIT | MSG_NOERROR, IPC_NOWAIT | MSG_EXCEPT,
                                         IPC_NOWAIT | MSG_COPY, MSG_COPY, IPC_NOWAIT | MSG_EXCEPT | MSG_NOERROR };
            size_t sz = sizes[rnd(4)];
            long t = pick_type();
            int flg = flags[rnd(6)];
            if (flg & MSG_COPY)
                t = rnd(4);
            memset(&m, 0, 64);
            ssize_t r = msgrcv(id, &m, sz, t, flg);
            unsigned sum = 0;
            for (ssize_t k = 0; k < r; k++)
                sum = sum * 31 + (unsigned char)m.mtext[k];
            printf("%d msgrcv(%zu,type %ld,%#o) = %zd %d mtype %ld sum %u\n", i, sz, t, flg, r,
                   r < 0 ? errno : 0, r < 0 ? 0 : m.mtype, sum);
        } else if (op < 95) {
            int id = pick_id();
            struct msqid_ds ds;
            memset(&ds, 0, sizeof ds);
            int r = msgctl(id, IPC_STAT, &ds);
            printf("%d IPC_STAT = %d %d", i, r, r ? errno : 0);
            if (r == 0)
                printf(" key %#x mode %o qnum %lu cbytes %lu qbytes %lu", ds.msg_perm.__key,
                       ds.msg_perm.mode, (unsigned long)ds.msg_qnum,
                       (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes);
            printf("\n");
            if (r == 0 && rnd(3) == 0) {
                static const unsigned long qb[] = { 0, 10, 100, 16384, 16385, 100000 };
                ds.msg_qbytes = qb[rnd(6)];
                ds.msg_perm.mode = rnd(2) ? 0600 : 0644;
                r = msgctl(id, IPC_SET, &ds);
                printf("%d IPC_SET qbytes %lu = %d %d\n", i, (unsigned long)ds.msg_qbytes, r, r ? errno : 0);
            }
        } else if (op < 98) {
            int id = pick_id();
            int r = msgctl(id, IPC_RMID, NULL);
            printf("%d IPC_RMID = %d %d\n", i, r, r ? errno : 0);
        } else {
            struct msginfo mi;
            int r = msgctl(0, rnd(2) ? MSG_INFO : IPC_INFO, (struct msqid_ds *)&mi);
            printf("%d INFO = %d pool %d map %d tql %d max %d mnb %d mni %d\n", i, r, mi.msgpool,
                   mi.msgmap, mi.msgtql, mi.msgmax, mi.msgmnb, mi.msgmni);
        }
    }
    return 0;
}
