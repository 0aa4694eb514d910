// q1x: upgrade a read-only attach with mprotect? attach after IPC_RMID? remap read-only attach?
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
int main(){ setvbuf(stdout,0,_IONBF,0); int id=shmget(IPC_PRIVATE,4096,0644); // created by root; tested by uid 1003 ('other' has r only)
  if(fork()==0){ setgid(1003); setuid(1003);
    char*p=shmat(id,0,SHM_RDONLY); printf("uid 1003, mode 0644: shmat(SHM_RDONLY): %s\n",p==(void*)-1?strerror(errno):"OK");
    printf("  mprotect(PROT_READ|PROT_WRITE) on it: %s\n",mprotect(p,4096,PROT_READ|PROT_WRITE)?strerror(errno):"OK (!)");
    void*q=mremap(p,4096,8192,MREMAP_MAYMOVE); printf("  mremap grow: %s\n",q==MAP_FAILED?strerror(errno):"OK");
    _exit(0);} wait(0);
  char*p=shmat(id,0,0); shmctl(id,IPC_RMID,0); struct shmid_ds d; shmctl(id,IPC_STAT,&d);
  printf("root: after IPC_RMID while attached: mode %o (SHM_DEST=01000), key %d\n",d.shm_perm.mode,d.shm_perm.__key);
  char*q=shmat(id,0,0); printf("root: shmat(id) of the IPC_RMID'ed, still attached segment: %s\n",q==(void*)-1?strerror(errno):"OK (Linux-specific)");
  if(fork()==0){ setgid(1003); setuid(1003); char*r=shmat(id,0,SHM_RDONLY); printf("uid 1003: shmat(SHM_RDONLY) of it: %s\n",r==(void*)-1?strerror(errno):"OK"); _exit(0);} wait(0);
  (void)p; return 0;}
