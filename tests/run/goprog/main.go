// A Go program making System V message queue calls with the syscall package (raw system
// calls: no C library, so LD_PRELOAD cannot reach it): for the tests of `msgq run`
// (tests/run/run.sh). It prints a transcript that must be the same natively and under
// `msgq run`. Usage: goprog KEY
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

const (
	ipcCreat  = 01000
	ipcExcl   = 02000
	ipcNowait = 04000
	ipcRmid   = 0
	ipcStat   = 2
	msgExcept = 020000
)

type msgbuf struct {
	mtype int64
	text  [256]byte
}

func errname(e syscall.Errno) string {
	switch e {
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.ENOMSG:
		return "ENOMSG"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EINTR:
		return "EINTR"
	case syscall.EIDRM:
		return "EIDRM"
	case syscall.EFAULT:
		return "EFAULT"
	case syscall.E2BIG:
		return "E2BIG"
	}
	return fmt.Sprintf("errno %d", int(e))
}

func show(what string, r uintptr, e syscall.Errno) {
	if e != 0 {
		fmt.Printf("%s: -1 %s\n", what, errname(e))
	} else {
		fmt.Printf("%s: ok\n", what)
	}
}

func msgget(key, flg int) (int, syscall.Errno) {
	r, _, e := syscall.Syscall(syscall.SYS_MSGGET, uintptr(key), uintptr(flg), 0)
	return int(r), e
}

func send(id int, t int64, text string, flg int) syscall.Errno {
	var m msgbuf
	m.mtype = t
	copy(m.text[:], text)
	_, _, e := syscall.Syscall6(syscall.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&m)),
		uintptr(len(text)), uintptr(flg), 0, 0)
	return e
}

func recv(what string, id int, size int, t int64, flg int) {
	var m msgbuf
	r, _, e := syscall.Syscall6(syscall.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(&m)),
		uintptr(size), uintptr(t), uintptr(flg), 0)
	if e != 0 {
		fmt.Printf("%s: -1 %s\n", what, errname(e))
		return
	}
	fmt.Printf("%s: %d type %d '%s'\n", what, int(r), m.mtype, string(m.text[:r]))
}

func stat(id int) ([120]byte, syscall.Errno) {
	var ds [120]byte
	_, _, e := syscall.Syscall(syscall.SYS_MSGCTL, uintptr(id), ipcStat, uintptr(unsafe.Pointer(&ds)))
	return ds, e
}

func main() {
	runtime.LockOSThread()
	key, _ := strconv.ParseInt(os.Args[1], 0, 32)
	id, e := msgget(int(key), ipcCreat|0600)
	show("msgget create", uintptr(id), e)
	_, e = msgget(int(key), ipcCreat|ipcExcl|0600)
	show("msgget excl", 0, e)
	show("send 3 c1", 0, send(id, 3, "c1", 0))
	show("send 1 a1", 0, send(id, 1, "a1", 0))
	show("send 2 b1", 0, send(id, 2, "b1", 0))
	show("send 1 a2", 0, send(id, 1, "a2", 0))
	show("send type 0", 0, send(id, 0, "x", 0))
	ds, e := stat(id)
	show("IPC_STAT", 0, e)
	le := binary.LittleEndian
	fmt.Printf("stat: qnum %d cbytes %d mode %o lspid-is-me %v\n", le.Uint64(ds[80:]),
		le.Uint64(ds[72:]), le.Uint16(ds[20:])&0777, int(le.Uint32(ds[96:])) == os.Getpid())
	recv("recv 0", id, 256, 0, 0)
	recv("recv 1", id, 256, 1, 0)
	recv("recv -2", id, 256, -2, 0)
	recv("recv EXCEPT 1", id, 256, 1, msgExcept)
	recv("recv empty NOWAIT", id, 256, 0, ipcNowait)

	// A blocked receive satisfied by another thread of this process.
	go func() {
		time.Sleep(200 * time.Millisecond)
		send(id, 5, "from a goroutine", 0)
	}()
	recv("blocking recv 5", id, 256, 5, 0)

	// A caught signal sent to the blocked thread: EINTR.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	tid := syscall.Gettid()
	go func() {
		time.Sleep(200 * time.Millisecond)
		syscall.Tgkill(os.Getpid(), tid, syscall.SIGUSR1)
	}()
	recv("recv interrupted", id, 256, 99, 0)
	<-sigs
	fmt.Println("signal received")

	// IPC_RMID ends a blocked receiver with EIDRM.
	go func() {
		time.Sleep(200 * time.Millisecond)
		syscall.Syscall(syscall.SYS_MSGCTL, uintptr(id), ipcRmid, 0)
	}()
	recv("recv removed", id, 256, 42, 0)
	_, e = stat(id)
	show("IPC_STAT removed", 0, e)
}
