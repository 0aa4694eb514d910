#!/usr/bin/perl
# Perl's built-in msgget/msgsnd/msgrcv/msgctl and IPC::Msg. Prints results that do not
# depend on ids, pids or times, so native queues and msgq must print the same lines.
use strict;
use warnings;
use Errno;
use IPC::SysV qw(IPC_PRIVATE IPC_CREAT IPC_EXCL IPC_NOWAIT IPC_RMID IPC_STAT IPC_SET
                 MSG_NOERROR);
use IPC::Msg;
$| = 1;

my %ename = map { my $v = eval "Errno::$_()"; defined $v ? ($v => $_) : () } @Errno::EXPORT_OK;
sub err { return $ename{$! + 0} // "errno " . ($! + 0) }

# Built-ins.
my $id = msgget(0x5151, IPC_CREAT | 0600);
print "builtin: msgget ", (defined $id ? "ok" : err()), "\n";
my $dup = msgget(0x5151, IPC_CREAT | IPC_EXCL | 0600);
print "builtin: msgget IPC_EXCL again -> ", (defined $dup ? "ok" : err()), "\n";
print "builtin: msgget same key -> ", (msgget(0x5151, 0) == $id ? "same id" : "other id"), "\n";
for my $m ([5, "five"], [2, "two"], [9, "nine"], [2, "two again"]) {
    msgsnd($id, pack("l! a*", @$m), IPC_NOWAIT) or print "msgsnd failed: ", err(), "\n";
}
my $buf;
for my $want ([-6, 100, 0], [0, 100, 0], [9, 2, 0], [9, 2, MSG_NOERROR], [0, 100, 0],
              [0, 100, IPC_NOWAIT]) {
    my ($typ, $size, $flg) = @$want;
    if (msgrcv($id, $buf, $size, $typ, $flg)) {
        my ($t, $text) = unpack("l! a*", $buf);
        print "builtin: msgrcv type=$typ size=$size flags=$flg -> $t '$text'\n";
    } else {
        print "builtin: msgrcv type=$typ size=$size flags=$flg -> ", err(), "\n";
    }
}
my $ds;
msgctl($id, IPC_STAT, $ds) or print "IPC_STAT failed: ", err(), "\n";
print "builtin: IPC_STAT returned ", length($ds), " bytes\n";
print "builtin: IPC_RMID -> ", (msgctl($id, IPC_RMID, 0) ? "ok" : err()), "\n";
print "builtin: msgsnd after RMID -> ",
    (msgsnd($id, pack("l! a*", 1, "x"), 0) ? "ok" : err()), "\n";

# IPC::Msg.
my $q = IPC::Msg->new(0x5252, IPC_CREAT | 0640) or die "IPC::Msg->new: $!";
$q->snd(3, "hello") or print "snd: ", err(), "\n";
$q->snd(4, "world!") or print "snd: ", err(), "\n";
my $st = $q->stat;
printf "IPC::Msg: qnum=%d qbytes=%d mode=%o uid=%d cuid=%d lspid_is_me=%s\n",
    $st->qnum, $st->qbytes, $st->mode & 0777, $st->uid, $st->cuid,
    ($st->lspid == $$ ? "yes" : "no");
print "IPC::Msg: set qbytes -> ", ($q->set(qbytes => 1000) ? "ok" : err()), "\n";
print "IPC::Msg: set mode -> ", ($q->set(mode => 0600) ? "ok" : err()), "\n";
$st = $q->stat;
printf "IPC::Msg: after set qbytes=%d mode=%o\n", $st->qbytes, $st->mode & 0777;
my $t = $q->rcv($buf, 100, 4);
print "IPC::Msg: rcv type 4 -> $t '$buf'\n";
$t = $q->rcv($buf, 100);
print "IPC::Msg: rcv any -> $t '$buf'\n";
$t = $q->rcv($buf, 100, 0, IPC_NOWAIT);
print "IPC::Msg: rcv empty -> ", (defined $t ? "ok" : err()), "\n";
$st = $q->stat;
printf "IPC::Msg: qnum=%d lrpid_is_me=%s\n", $st->qnum,
    ($st->lrpid == $$ ? "yes" : "no");
print "IPC::Msg: remove -> ", ($q->remove ? "ok" : err()), "\n";
print "IPC::Msg: stat after remove -> ", (defined $q->stat ? "ok" : err()), "\n";

# A forked child receives what the parent sends.
my $p = IPC::Msg->new(IPC_PRIVATE, IPC_CREAT | 0600);
my $pid = fork();
if ($pid == 0) {
    my $b;
    my $ty = $p->rcv($b, 100, 8);
    print "fork: child got $ty '$b'\n";
    $p->snd(9, "reply");
    exit 0;
}
select(undef, undef, undef, 0.1);
$p->snd(8, "to the child");
$p->rcv($buf, 100, 9);
waitpid($pid, 0);
print "fork: parent got '$buf', child exit ", $? >> 8, "\n";
$p->remove;
