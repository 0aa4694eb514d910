// q2_holder ID [nodump]: attach segment rw, write a secret, print pid/address, sleep.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/shm.h>
#include <sys/prctl.h>
int main(int c,char**v){ if(c>2) prctl(PR_SET_DUMPABLE,0,0,0,0);
  char*p=shmat(atoi(v[1]),0,0); if(p==(void*)-1){perror("shmat");return 1;}
  strcpy(p,"SECRET-in-segment"); printf("%d %lx\n",getpid(),(unsigned long)p); fflush(stdout); pause(); return 0;}
