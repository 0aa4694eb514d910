// q3mk: in the current IPC ns create a 256 MiB shm segment (touched), a msg queue with 1 message, a semaphore set.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/sem.h>
int main(){ int s=shmget(0x300,256<<20,IPC_CREAT|0600); char*p=shmat(s,0,0); memset(p,1,256<<20); shmdt(p);
  int q=msgget(0x301,IPC_CREAT|0600); struct{long t;char b[100];}m={1,"hello"}; msgsnd(q,&m,100,0);
  int se=semget(0x302,3,IPC_CREAT|0600); printf("created shm %d msg %d sem %d\n",s,q,se); return 0;}
