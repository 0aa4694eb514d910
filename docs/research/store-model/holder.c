// holder ID: attach rw, write, wait for a line on stdin, then touch the existing mapping again and try to re-attach.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>
#include <sys/shm.h>
static sigjmp_buf jb; static void seg(int s){(void)s;siglongjmp(jb,1);}
int main(int c,char**v){int id=atoi(v[1]); signal(SIGSEGV,seg);
  volatile char*p=shmat(id,0,0); if(p==(void*)-1){printf("holder uid=%d: first shmat: %s\n",getuid(),strerror(errno));return 1;}
  p[0]='A'; printf("holder uid=%d: attached rw at %p, wrote 'A'\n",getuid(),(void*)p); fflush(stdout);
  char line[64]; if(!fgets(line,sizeof line,stdin)) return 1;
  if(sigsetjmp(jb,1)==0){ char x=p[0]; p[0]='B'; printf("holder: after IPC_SET: old mapping read '%c', wrote 'B': OK\n",x);} else printf("holder: old mapping faulted\n");
  void*q=shmat(id,0,0); printf("holder: re-attach rw: %s\n",q==(void*)-1?strerror(errno):"OK");
  q=shmat(id,0,SHM_RDONLY); printf("holder: re-attach ro: %s\n",q==(void*)-1?strerror(errno):"OK");
  fflush(stdout); return 0;}
