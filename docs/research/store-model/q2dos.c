// q2dos: an unprivileged user fills shmmni; then anyone's shmget(IPC_CREAT) fails.
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/shm.h>
#include <sys/wait.h>
int main(){ if(fork()==0){ setgid(1003); setuid(1003); int n=0; while(shmget(IPC_PRIVATE,4096,0600)>=0) n++; printf("uid 1003 created %d segments, then: %s\n",n,strerror(errno)); fflush(stdout); _exit(0);} wait(0);
  printf("root shmget(IPC_PRIVATE): %s\n",shmget(IPC_PRIVATE,4096,0600)<0?strerror(errno):"OK"); return 0;}
