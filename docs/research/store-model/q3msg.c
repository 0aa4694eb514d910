// q3msg: fill one queue with 256 MiB of messages (needs msgmnb/msgmax raised in this ns).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
int main(){ int q=msgget(0x333,IPC_CREAT|0600); static struct{long t;char b[65536];}m; m.t=1; memset(m.b,1,sizeof m.b);
  for(int i=0;i<4096;i++) if(msgsnd(q,&m,sizeof m.b,IPC_NOWAIT)){perror("msgsnd");return 1;}
  struct msqid_ds d; msgctl(q,IPC_STAT,&d); printf("queue %d: %lu messages, %lu bytes\n",q,(unsigned long)d.msg_qnum,(unsigned long)d.__msg_cbytes); return 0;}
