// The ways around the shim that docs/shim.md ("Every way a program can still miss the shim")
// says remain, and one it says is fine, checked so the table stays true (tests/shim/run.sh,
// case known-ways-around-the-shim). Each mode makes a queue with key 0xb1 and prints
// whether the call succeeded; the case then counts the kernel's queues.
//   bypass msgget    a plain call (built -static for the static case)
//   bypass dlmopen   msgget from a libc loaded with dlmopen(LM_ID_NEWLM)
//   bypass vfork     a vfork child sends; the parent prints whose pid msg_lspid is
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "msgget";
    if (strcmp(mode, "msgget") == 0) {
        printf("msgget: %s\n", msgget(0xb1, IPC_CREAT | 0600) >= 0 ? "ok" : "failed");
    } else if (strcmp(mode, "dlmopen") == 0) {
        void *h = dlmopen(LM_ID_NEWLM, "libc.so.6", RTLD_NOW);
        int (*get)(key_t, int) = h ? (int (*)(key_t, int))dlsym(h, "msgget") : NULL;
        printf("dlmopen'd msgget: %s\n", get && get(0xb1, IPC_CREAT | 0600) >= 0 ? "ok" : "failed");
    } else if (strcmp(mode, "vfork") == 0) {
        int id = msgget(0xb1, IPC_CREAT | 0600);
        struct { long type; char text[8]; } m = {1, "vfork"};
        pid_t p = vfork();
        if (p == 0) {
            msgsnd(id, &m, 6, 0);
            _exit(0);
        }
        waitpid(p, NULL, 0);
        struct msqid_ds ds;
        msgctl(id, IPC_STAT, &ds);
        printf("vfork child's msgsnd: qnum %lu, lspid is %s\n", (unsigned long)ds.msg_qnum,
               ds.msg_lspid == p ? "the child" : "not the child");
    }
    return 0;
}
