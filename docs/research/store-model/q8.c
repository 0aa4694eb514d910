// q8: robust process-shared mutex in a SysV segment, owners and recoverers attached at different addresses.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sys/shm.h>
#include <sys/wait.h>
static int sid;
static pthread_mutex_t*attach(void*hint){ void*p=shmat(sid,hint,0); if(p==(void*)-1){perror("shmat");exit(1);} return (pthread_mutex_t*)p; }
static void*locker_thread(void*m){ pthread_mutex_lock(m); printf("  thread %d locked, exits without unlocking\n",gettid()); return 0; }
// mode: 0 = SIGKILL while holding; 1 = shmdt then SIGKILL; 2 = exec /bin/true while holding; 3 = a thread locks and exits, process lives
static void scenario(int mode,const char*name){
  printf("== %s\n",name);
  pthread_mutex_t*m0=attach(0);  // init from the parent at its own address, then detach
  pthread_mutexattr_t a; pthread_mutexattr_init(&a); pthread_mutexattr_setpshared(&a,PTHREAD_PROCESS_SHARED); pthread_mutexattr_setrobust(&a,PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(m0,&a); shmdt(m0);
  int pfd[2]; pipe(pfd);
  pid_t A=fork();
  if(A==0){ pthread_mutex_t*m=attach((void*)0x200000000000UL);
    if(mode==3){ pthread_t t; pthread_create(&t,0,locker_thread,m); pthread_join(t,0); printf("  A (pid %d, segment at %p): its thread died holding the lock; A lives on\n",getpid(),(void*)m); fflush(stdout); write(pfd[1],"x",1); pause(); }
    pthread_mutex_lock(m); printf("  A (pid %d) locked the mutex at %p\n",getpid(),(void*)m); fflush(stdout);
    if(mode==1){ shmdt(m); printf("  A detached the segment while holding the lock\n"); fflush(stdout);}
    if(mode==2){ write(pfd[1],"x",1); execl("/bin/sleep","sleep","0.2",(char*)0); }
    write(pfd[1],"x",1); pause(); }
  char c; read(pfd[0],&c,1);
  if(mode!=2 && mode!=3){ kill(A,SIGKILL); waitpid(A,0,0); printf("  A killed with SIGKILL\n"); }
  if(mode==2){ usleep(50000); printf("  A exec'ed /bin/sleep (segment detached by exec; A still alive as pid %d)\n",A); }
  pid_t B=fork();
  if(B==0){ char*pad=malloc(1); (void)pad; pthread_mutex_t*m=attach((void*)0x300000000000UL);
    struct timespec ts; clock_gettime(CLOCK_REALTIME,&ts); ts.tv_sec+=1;
    int r=pthread_mutex_timedlock(m,&ts);
    printf("  B (pid %d, segment at %p) timedlock(1 s): %s\n",getpid(),(void*)m,r==0?"0 (acquired normally)":r==EOWNERDEAD?"EOWNERDEAD":strerror(r));
    if(r==EOWNERDEAD){ pthread_mutex_consistent(m); pthread_mutex_unlock(m); r=pthread_mutex_lock(m); printf("  B: consistent+unlock, lock again: %s\n",r?strerror(r):"0 OK"); pthread_mutex_unlock(m);}
    fflush(stdout); _exit(0);}
  waitpid(B,0,0); if(mode>=2){ kill(A,SIGKILL); waitpid(A,0,0);} close(pfd[0]); close(pfd[1]);
}
int main(){ sid=shmget(IPC_PRIVATE,4096,IPC_CREAT|0600); setvbuf(stdout,0,_IONBF,0);
  scenario(0,"A locks, is SIGKILLed; B attached elsewhere locks");
  scenario(1,"A locks, shmdt()s the segment, is SIGKILLed");
  scenario(2,"A locks, then execve()s");
  scenario(3,"A's thread locks and exits (pthread), process A stays alive");
  shmctl(sid,IPC_RMID,0); return 0;}
