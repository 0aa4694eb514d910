// q2_probe PID ADDR: try every way to reach the memory at ADDR in PID.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
int main(int c,char**v){int pid=atoi(v[1]); unsigned long a=strtoul(v[2],0,16); char path[256],buf[64]; int fd; ssize_t n;
  printf("probe uid=%d euid=%d\n",getuid(),geteuid());
  snprintf(path,sizeof path,"/proc/%d/maps",pid); fd=open(path,O_RDONLY);
  if(fd<0) printf("  open maps: %s\n",strerror(errno)); else { char b[8192]; n=read(fd,b,sizeof b-1); if(n<0) printf("  read maps: %s\n",strerror(errno)); else {b[n]=0; char*l=strstr(b,"SYSV"); if(l){char*s=l; while(s>b&&s[-1]!='\n')s--; char*e=strchr(l,'\n'); if(e)*e=0; printf("  maps line: %s\n",s);} else printf("  maps: read %zd bytes, no SYSV line\n",n);} close(fd);}
  snprintf(path,sizeof path,"/proc/%d/map_files",pid); DIR*d=opendir(path); char entry[300]="";
  if(!d) printf("  opendir map_files: %s\n",strerror(errno)); else { struct dirent*de; int cnt=0; while((de=readdir(d))){ if(de->d_name[0]=='.')continue; cnt++; if(strtoul(de->d_name,0,16)==a) snprintf(entry,sizeof entry,"%s/%s",path,de->d_name);} closedir(d); printf("  readdir map_files: %d entries, segment entry %s\n",cnt,entry[0]?"found":"not found");}
  if(!entry[0]) { snprintf(entry,sizeof entry,"%s/%lx-%lx",path,a,a+4096); }
  n=readlink(entry,buf,sizeof buf-1); if(n<0) printf("  readlink %s: %s\n",entry,strerror(errno)); else {buf[n]=0; printf("  readlink map_files entry -> %s\n",buf);}
  fd=open(entry,O_RDWR); if(fd<0) printf("  open map_files entry O_RDWR: %s\n",strerror(errno)); else { char*m=mmap(0,4096,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0); printf("  open map_files O_RDWR: OK; mmap: %s%s\n",m==MAP_FAILED?strerror(errno):"OK, reads: ",m==MAP_FAILED?"":m); close(fd);}
  fd=open(entry,O_RDONLY); if(fd<0) printf("  open map_files entry O_RDONLY: %s\n",strerror(errno)); else { printf("  open map_files O_RDONLY: OK\n"); close(fd);}
  snprintf(path,sizeof path,"/proc/%d/mem",pid); fd=open(path,O_RDWR);
  if(fd<0) printf("  open mem O_RDWR: %s\n",strerror(errno)); else { n=pread(fd,buf,17,a); if(n<0) printf("  pread mem: %s\n",strerror(errno)); else {buf[n]=0; printf("  /proc/pid/mem pread: '%s'\n",buf);} n=pwrite(fd,"W",1,a+40); printf("  /proc/pid/mem pwrite: %s\n",n<0?strerror(errno):"OK"); close(fd);}
  struct iovec l={buf,17},r={(void*)a,17}; n=process_vm_readv(pid,&l,1,&r,1,0); if(n<0) printf("  process_vm_readv: %s\n",strerror(errno)); else {buf[n]=0; printf("  process_vm_readv: '%s'\n",buf);}
  if(ptrace(PTRACE_ATTACH,pid,0,0)<0) printf("  ptrace attach: %s\n",strerror(errno)); else { waitpid(pid,0,0); errno=0; long w=ptrace(PTRACE_PEEKDATA,pid,(void*)a,0); printf("  ptrace PEEKDATA: %.8s %s\n",(char*)&w,errno?strerror(errno):""); ptrace(PTRACE_DETACH,pid,0,0);}
  return 0;}
