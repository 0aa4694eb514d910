// q7: identity of the current IPC namespace: NS_GET_ID ioctl, nsfs file handles, per-thread namespaces.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/shm.h>
#include <sys/msg.h>
#define NSIO 0xb7
#define NS_GET_NSTYPE _IO(NSIO,0x3)
#define NS_GET_ID _IOR(NSIO,13,uint64_t)
static void ident(const char*who,const char*path){ struct stat st; stat(path,&st); int fd=open(path,O_RDONLY); uint64_t id=0; int r=ioctl(fd,NS_GET_ID,&id);
  struct {struct file_handle fh; unsigned char b[64];} h; h.fh.handle_bytes=64; int mnt; int hr=name_to_handle_at(AT_FDCWD,path,&h.fh,&mnt,AT_SYMLINK_FOLLOW);
  printf("%-34s %-26s ino %lu  NS_GET_ID: %s%llu  name_to_handle_at: %s",who,path,(unsigned long)st.st_ino,r?strerror(errno):"",(unsigned long long)id,hr?strerror(errno):"");
  if(!hr){printf("type %d bytes %u: ",h.fh.handle_type,h.fh.handle_bytes); for(unsigned i=0;i<h.fh.handle_bytes;i++)printf("%02x",h.b[i]);} printf("\n"); close(fd);}
static void*thr(void*a){ (void)a; ident("thread before unshare","/proc/thread-self/ns/ipc");
  int r=unshare(CLONE_NEWIPC); printf("thread: unshare(CLONE_NEWIPC) in a 2-thread process: %s\n",r?strerror(errno):"OK");
  ident("thread after","/proc/thread-self/ns/ipc"); ident("thread after","/proc/self/ns/ipc");
  int g=msgget(0x42,0); printf("thread: msgget(0x42,0) -> %d (%s)\n",g,g<0?strerror(errno):"found"); return 0;}
int main(){ ident("main","/proc/self/ns/ipc");
  int q=msgget(0x42,IPC_CREAT|0600); printf("main: created queue key 0x42 id %d\n",q);
  pthread_t t; pthread_create(&t,0,thr,0); pthread_join(t,0);
  ident("main after thread unshared","/proc/thread-self/ns/ipc");
  printf("main: msgget(0x42,0) -> %d\n",msgget(0x42,0));
  return 0;}
