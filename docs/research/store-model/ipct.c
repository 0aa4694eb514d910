// ipct: tiny SysV IPC probe. Prints "OK" or the errno name.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
static const char *en(int e){ switch(e){case EACCES:return "EACCES";case EPERM:return "EPERM";case ENOENT:return "ENOENT";case EINVAL:return "EINVAL";case EIDRM:return "EIDRM";case ENOMSG:return "ENOMSG(allowed)";case EAGAIN:return "EAGAIN";default:{static char b[32];snprintf(b,32,"errno%d",e);return b;}}}
#define R(x) do{ if((x)<0){printf("%s\n",en(errno));return 1;} }while(0)
int main(int c,char**v){
  if(c<2){fprintf(stderr,"usage\n");return 2;}
  char*op=v[1];
  if(!strcmp(op,"mkshm")){int id=shmget(strtol(v[2],0,0),4096,IPC_CREAT|IPC_EXCL|strtol(v[3],0,8));R(id);printf("%d\n",id);return 0;}
  if(!strcmp(op,"mkmsg")){int id=msgget(strtol(v[2],0,0),IPC_CREAT|IPC_EXCL|strtol(v[3],0,8));R(id);printf("%d\n",id);return 0;}
  if(!strcmp(op,"shmget")){int id=shmget(strtol(v[2],0,0),0,strtol(v[3],0,8));R(id);printf("OK\n");return 0;}
  if(!strcmp(op,"msgget")){int id=msgget(strtol(v[2],0,0),strtol(v[3],0,8));R(id);printf("OK\n");return 0;}
  if(!strcmp(op,"shmat")){int id=atoi(v[2]);int ro=!strcmp(v[3],"ro");volatile char*p=shmat(id,0,ro?SHM_RDONLY:0);
    if(p==(void*)-1){printf("%s\n",en(errno));return 1;} char x=p[0]; if(!ro)p[1]=x+1; printf("OK\n");return 0;}
  if(!strcmp(op,"msgsnd")){struct{long t;char b[8];}m={1,"x"};R(msgsnd(atoi(v[2]),&m,1,IPC_NOWAIT));printf("OK\n");return 0;}
  if(!strcmp(op,"msgrcv")){struct{long t;char b[8];}m;R(msgrcv(atoi(v[2]),&m,8,999999,IPC_NOWAIT));printf("OK\n");return 0;}
  if(!strcmp(op,"shmstat")){struct shmid_ds d;R(shmctl(atoi(v[2]),IPC_STAT,&d));printf("OK uid=%d gid=%d cuid=%d cgid=%d mode=%o nattch=%lu\n",d.shm_perm.uid,d.shm_perm.gid,d.shm_perm.cuid,d.shm_perm.cgid,d.shm_perm.mode,(unsigned long)d.shm_nattch);return 0;}
  if(!strcmp(op,"msgstat")){struct msqid_ds d;R(msgctl(atoi(v[2]),IPC_STAT,&d));printf("OK uid=%d gid=%d cuid=%d cgid=%d mode=%o\n",d.msg_perm.uid,d.msg_perm.gid,d.msg_perm.cuid,d.msg_perm.cgid,d.msg_perm.mode);return 0;}
  if(!strcmp(op,"shmset")){struct shmid_ds d; memset(&d,0,sizeof d);
    // IPC_SET copies uid,gid,mode only
    d.shm_perm.uid=atoi(v[3]);d.shm_perm.gid=atoi(v[4]);d.shm_perm.mode=strtol(v[5],0,8);R(shmctl(atoi(v[2]),IPC_SET,&d));printf("OK\n");return 0;}
  if(!strcmp(op,"msgset")){struct msqid_ds d; struct msqid_ds e; if(msgctl(atoi(v[2]),IPC_STAT,&e)==0) d=e; else {memset(&d,0,sizeof d); d.msg_qbytes=16384;}
    d.msg_perm.uid=atoi(v[3]);d.msg_perm.gid=atoi(v[4]);d.msg_perm.mode=strtol(v[5],0,8);R(msgctl(atoi(v[2]),IPC_SET,&d));printf("OK\n");return 0;}
  if(!strcmp(op,"shmrm")){R(shmctl(atoi(v[2]),IPC_RMID,0));printf("OK\n");return 0;}
  if(!strcmp(op,"msgrm")){R(msgctl(atoi(v[2]),IPC_RMID,0));printf("OK\n");return 0;}
  fprintf(stderr,"bad op\n");return 2;
}
