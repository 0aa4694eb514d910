// q6p: aggregate ops/s with P=1 and P=2 processes, each on its OWN key/queue (nothing shared but the namespace).
#define _GNU_SOURCE
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/msg.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static long run(int op,int me){ int q=msgget(0x800+me,IPC_CREAT|0600); struct msqid_ds d; long n=0; double end=now()+1.0;
  while(1){ for(int i=0;i<1000;i++){ if(op==0) syscall(SYS_getppid); else if(op==1) msgget(0x800+me,0); else if(op==2) msgctl(q,IPC_STAT,&d); else for(volatile int k=0;k<50;k++);} n+=1000; if(now()>end) break;} return n;}
int main(){ const char*names[]={"getppid","msgget(own key)","msgctl(own queue,IPC_STAT)","userspace loop (control)"};
  long*res=mmap(0,4096,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_ANONYMOUS,-1,0);
  for(int op=0;op<4;op++){ double r[3];
    for(int P=1;P<=2;P++){ for(int p=0;p<P;p++) if(fork()==0){cpu_set_t c;CPU_ZERO(&c);CPU_SET(p,&c);sched_setaffinity(0,sizeof c,&c);res[p]=run(op,p);_exit(0);} for(int p=0;p<P;p++) wait(0); long t=0; for(int p=0;p<P;p++) t+=res[p]; r[P]=t; }
    printf("%-28s P=1 %6.2f M/s   P=2 %6.2f M/s   ratio %.2fx\n",names[op],r[1]/1e6,r[2]/1e6,r[2]/r[1]); }
  return 0;}
