// q3b: does a segment still attached by a process that setns()-ed out keep its IPC namespace alive?
// Run under `unshare -i` (N0 = fresh ns). unshare into N1, create segment A (256 MiB, stays attached),
// segment B (256 MiB, touched then detached), a queue with a message; setns back to N0.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/wait.h>
static long shmem(){FILE*f=fopen("/proc/meminfo","r");char l[256];long v=-1;while(fgets(l,sizeof l,f))if(!strncmp(l,"Shmem:",6))v=atol(l+6);fclose(f);return v;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static long ino(const char*p){struct stat s;stat(p,&s);return s.st_ino;}
static void newns_ino(const char*why){fflush(stdout); if(fork()==0){unshare(CLONE_NEWIPC);printf("  fresh ns created now gets inode %ld %s\n",ino("/proc/self/ns/ipc"),why);fflush(stdout);_exit(0);} wait(0);}
int main(int argc,char**argv){ long base=shmem(); int control=argc>1;
  int n0=open("/proc/self/ns/ipc",O_RDONLY); printf("N0 inode %ld, Shmem %ld kB\n",ino("/proc/self/ns/ipc"),base);
  if(unshare(CLONE_NEWIPC)){perror("unshare");return 1;}
  printf("N1 inode %ld\n",ino("/proc/self/ns/ipc"));
  int a=shmget(0x400,256<<20,IPC_CREAT|0600); char*p=shmat(a,0,0); memset(p,7,256<<20); strcpy(p,"data from N1");
  int b=shmget(0x401,256<<20,IPC_CREAT|0600); char*pb=shmat(b,0,0); memset(pb,7,256<<20); shmdt(pb);
  int q=msgget(0x402,IPC_CREAT|0600); struct{long t;char x[8];}m={1,"hi"}; msgsnd(q,&m,8,0);
  printf("in N1: segment A %d attached, segment B %d detached, queue %d; Shmem %ld kB (+%ld)\n",a,b,q,shmem(),shmem()-base);
  if(control){ shmdt(p); if(setns(n0,CLONE_NEWIPC)){perror("setns");return 1;} double t0=now(); long v; while((v=shmem())>base+20000 && now()-t0<3000) ;
    printf("CONTROL: A detached before setns to N0: Shmem +%ld kB after %.1f ms (N1 destroyed with its segments once no process is in it)\n",v-base,now()-t0); return 0;}
  if(setns(n0,CLONE_NEWIPC)){perror("setns");return 1;}
  printf("setns back to N0 (inode %ld): no process is in N1 any more; A is still attached here\n",ino("/proc/self/ns/ipc"));
  usleep(500000);
  printf("  500 ms later: Shmem +%ld kB (A and B both alive => N1 not destroyed)\n",shmem()-base);
  printf("  mapping of A readable: '%s'\n",p);
  shmdt(p); double t0=now(); long v; while((v=shmem())>base+20000 && now()-t0<3000) ;
  printf("shmdt(A): Shmem +%ld kB after %.1f ms (A and B freed: N1 destroyed by the last detach)\n",v-base,now()-t0);
  return 0;}
