// q7b: cost of learning the current IPC ns; anything visible without a syscall changes on unshare?
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/shm.h>
#define NS_GET_ID _IOR(0xb7,13,uint64_t)
#define N 100000
static long ts[N];
static inline long now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000L+t.tv_nsec;}
static int cmp(const void*a,const void*b){long x=*(long*)a,y=*(long*)b;return x<y?-1:x>y;}
static long ov;
static void report(const char*name){qsort(ts,N,sizeof(long),cmp); printf("%-60s median %6ld ns  p90 %6ld\n",name,ts[N/2]-ov,ts[N*9/10]-ov);}
#define BENCH(name,body) do{ for(int i=0;i<1000;i++){body;} for(int i=0;i<N;i++){long t0=now(); body; ts[i]=now()-t0;} report(name);}while(0)
static char *slurp(const char*p,size_t*n){static char b[2][65536];static int k;char*x=b[k++&1];int fd=open(p,O_RDONLY);*n=read(fd,x,65536);close(fd);return x;}
int main(){ volatile long sink; char buf[64]; struct stat st;
  BENCH("(timer)",{}); qsort(ts,N,sizeof(long),cmp); ov=ts[N/2];
  BENCH("readlink(/proc/self/ns/ipc)",{sink=readlink("/proc/self/ns/ipc",buf,64);});
  BENCH("readlink(/proc/thread-self/ns/ipc)",{sink=readlink("/proc/thread-self/ns/ipc",buf,64);});
  BENCH("stat(/proc/thread-self/ns/ipc)",{sink=stat("/proc/thread-self/ns/ipc",&st);});
  struct {struct file_handle fh; unsigned char b[64];} h; int mnt;
  BENCH("name_to_handle_at(/proc/thread-self/ns/ipc) -> ns_id",{h.fh.handle_bytes=64; sink=name_to_handle_at(AT_FDCWD,"/proc/thread-self/ns/ipc",&h.fh,&mnt,AT_SYMLINK_FOLLOW);});
  uint64_t id; BENCH("open+ioctl(NS_GET_ID)+close",{int fd=open("/proc/thread-self/ns/ipc",O_RDONLY); ioctl(fd,NS_GET_ID,&id); close(fd);});
  int fd=open("/proc/thread-self/ns/ipc",O_RDONLY); BENCH("ioctl(NS_GET_ID) on an fd kept open (pins the ns!)",{ioctl(fd,NS_GET_ID,&id);}); close(fd);
  int s=shmget(IPC_PRIVATE,4096,0600); char*p=shmat(s,0,0); strcpy(p,"still here");
  size_t n1,n2,a1,a2; char*m1=slurp("/proc/self/maps",&n1); char*x1=slurp("/proc/self/auxv",&a1);
  char m1c[65536],x1c[4096]; memcpy(m1c,m1,n1); memcpy(x1c,x1,a1);
  unsigned long vdso=getauxval(AT_SYSINFO_EHDR);
  if(unshare(CLONE_NEWIPC)){perror("unshare");return 1;}
  char*m2=slurp("/proc/self/maps",&n2); char*x2=slurp("/proc/self/auxv",&a2);
  printf("after unshare(CLONE_NEWIPC): /proc/self/maps %s, auxv %s, vDSO base %s; old segment still mapped and readable: '%s'; shmctl(old id) in new ns: %s\n",
    (n1==n2&&!memcmp(m1c,m2,n1))?"identical":"DIFFERENT", (a1==a2&&!memcmp(x1c,x2,a1))?"identical":"DIFFERENT", vdso==getauxval(AT_SYSINFO_EHDR)?"same":"changed", p,
    shmctl(s,IPC_STAT,(struct shmid_ds*)buf)<0?strerror(errno):"found");
  return 0;}
